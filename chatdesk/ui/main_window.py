"""The main window: conversations on the left, the chat in the middle, model, sampling and
live stats on the right.

Layout, menus and wiring only. What happens to a conversation is decided by the
ChatSession (chatdesk/session/): the window turns the user's intents into session calls
and the session's signals into what the widgets show.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
    QSplitter,
)

from chatdesk.core.events import ModelInfo, TokenChunk
from chatdesk.core.exchange import ImportResult
from chatdesk.core.figures import answer_title
from chatdesk.core.gpu_memory import GpuMemory
from chatdesk.core.history import SNIPPET_END, SNIPPET_START, ThreadMessage
from chatdesk.core.model_store import installed_models
from chatdesk.core.paths import AppPaths
from chatdesk.core.settings import Settings
from chatdesk.session import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    ChatSession,
    SessionState,
)
from chatdesk.ui.chat import MessageItem
from chatdesk.ui.chat.items import document_fields, message_item
from chatdesk.ui.chat_column import ChatColumn
from chatdesk.ui.context_meter import ContextMeter
from chatdesk.ui.conversation_list import ConversationList
from chatdesk.ui.documents_actions import DocumentActions
from chatdesk.ui.exchange_actions import ExchangeActions
from chatdesk.ui.file_dialogs import choose_model_file
from chatdesk.ui.first_run_actions import FirstRunActions
from chatdesk.ui.menus import build_menus
from chatdesk.ui.servers_tab import remote_choices
from chatdesk.ui.side_panel import SidePanel, SidePanelFit
from chatdesk.ui.status_line import StatusLine
from chatdesk.ui.theme import apply_theme
from chatdesk.ui.window_dialogs import WindowDialogs

if TYPE_CHECKING:
    from chatdesk.ui.api_control import ApiControl

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    closing = Signal()  # app.py shuts everything down, in order, when this fires

    def __init__(self, session: ChatSession, paths: AppPaths) -> None:
        super().__init__()
        self.session = session
        self.paths = paths
        self.api_control: ApiControl | None = None  # the Server menu (app.build_window)
        self.gpu_memory: GpuMemory | None = None  # read by the stats panel on a GPU backend
        self.setWindowTitle("chatdesk")
        self.resize(1280, 800)
        self.exchange = ExchangeActions(paths.database, self, session.store)
        self.exchange.exported.connect(self._exported)
        self.exchange.imported.connect(self._imported)
        self.exchange.failed.connect(self.error_banner_show)
        self.first_run = FirstRunActions(self)  # app.main: first_run.offer()
        self.dialogs = WindowDialogs(self)  # Models, tokens, Under the hood, costs
        self._build_widgets()
        build_menus(self)
        self._connect_session()
        self._restore_window_state()
        self.refresh_conversations()
        self.refresh_models()
        last = self.settings.last_conversation_id
        if last is None or not session.open_conversation(last):
            self._show_chat_settings()
        self._update_controls()

    @property
    def settings(self) -> Settings:
        return self.session.store.settings

    # -- construction -------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.sidebar = ConversationList()
        column = ChatColumn()
        self.error_banner, self.chat_view = column.error_banner, column.chat_view
        self.edit_label, self.input_box = column.edit_label, column.input_box
        self.send_button, self.stop_button = column.send_button, column.stop_button
        self.empty_hint = column.empty_hint
        self.chat_column = column
        self.context_meter = ContextMeter(self.session, self.input_box, column)
        column.layout().addWidget(self.context_meter)  # under the box: what a send takes
        self.right_panel = SidePanel(self.session.store)
        self.sampling_panel = self.right_panel.sampling_panel
        self.stats_panel = self.right_panel.stats_panel
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(column)
        self.splitter.addWidget(self.right_panel)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 700, 340])
        self.setCentralWidget(self.splitter)
        self.status = StatusLine(self.statusBar())
        self.panel_fit = SidePanelFit(self, self.right_panel, self.session.store)
        self.documents = DocumentActions(self, column)

        self.input_box.submitted.connect(self.send_message)
        self.send_button.clicked.connect(self.send_typed)
        self.stop_button.clicked.connect(self.session.stop)
        view = self.chat_view
        view.copy_requested.connect(self.copy_message)
        view.delete_requested.connect(self.delete_message)
        view.regenerate_requested.connect(self.session.regenerate)
        view.tokens_requested.connect(self.dialogs.show_tokens)
        view.edit_requested.connect(self.begin_edit)
        view.sibling_requested.connect(self.session.switch_sibling)
        view.continue_requested.connect(self.continue_answer)
        side = self.sidebar
        side.new_requested.connect(self.new_chat)
        side.conversation_selected.connect(self.session.open_conversation)
        side.rename_requested.connect(self.session.rename)
        side.pin_requested.connect(self.session.set_pinned)
        side.delete_requested.connect(self.delete_conversation)
        side.search_requested.connect(self.search)
        side.hit_activated.connect(self.open_hit)
        side.export_requested.connect(self.export_conversation)
        panel = self.sampling_panel
        panel.sampling_changed.connect(self.session.set_sampling)
        panel.system_prompt_changed.connect(self.session.set_system_prompt)
        panel.model_chosen.connect(self.load_model)
        panel.reload_requested.connect(self.session.reload_model)

    def _connect_session(self) -> None:
        session = self.session
        session.state_changed.connect(self._on_state)
        session.model_progress.connect(self.status.load_progress)
        session.model_loaded.connect(self._on_loaded)
        session.conversation_opened.connect(self._on_conversation_opened)
        session.thread_reset.connect(self._show_thread)
        session.thread_trimmed.connect(self._trim_view)
        session.message_added.connect(self._on_message_added)
        session.answer_started.connect(self._on_answer_started)
        session.answer_text.connect(self._on_text)
        session.answer_done.connect(self._on_answer_done)
        session.answer_failed.connect(self._on_answer_failed)
        session.answer_interrupted.connect(self._on_answer_interrupted)
        session.conversations_changed.connect(self.refresh_conversations)
        session.sampling_applied.connect(self.sampling_panel.set_sampling)
        session.error.connect(self.error_banner_show)
        self.stats_panel.follow(session)

    # -- session signals ------------------------------------------------------------------
    @Slot(object)
    def _on_state(self, state: SessionState) -> None:
        if state is SessionState.LOADING:
            self.status.loading()
        elif state is SessionState.NO_MODEL:
            self.status.no_model()
        self._update_controls()

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self.status.loaded(info)
        self.refresh_models()
        if info.backend != "CPU" and self.gpu_memory is None:
            gpu = GpuMemory()
            if gpu.available:
                self.gpu_memory = gpu
                self.stats_panel.vram_reader = gpu.read
        self._update_controls()
        self.input_box.setFocus()

    @Slot(object)
    def _on_conversation_opened(self, conversation_id: int | None) -> None:
        self.cancel_edit()
        self._show_chat_settings()
        if conversation_id is None:
            self.status.speed(None)
            self.input_box.setFocus()
        if self.dialogs.cost_view is not None:
            self.dialogs.cost_view.refresh(conversation_id)

    def _show_chat_settings(self) -> None:
        self.sampling_panel.set_sampling(self.session.sampling)
        self.sampling_panel.set_system_prompt(self.session.system_prompt)

    @Slot(object)
    def _show_thread(self, thread: list[ThreadMessage]) -> None:
        self.chat_view.set_messages([self._item(m) for m in thread if m.role != "system"])
        self.empty_hint.setVisible(not thread)
        self.first_run.refresh()
        self._update_controls()

    def _item(self, message: ThreadMessage) -> MessageItem:
        session = self.session
        return message_item(message, session.catalog, session.files_for(message.id),
                            session.sources_for(message.id))

    def dragEnterEvent(self, event) -> None:
        self.documents.drag_enter(event)

    def dropEvent(self, event) -> None:
        self.documents.drop(event)

    @Slot(int)
    def _trim_view(self, keep_id: int) -> None:
        self.chat_view.truncate_after(keep_id)

    @Slot(object)
    def _on_message_added(self, message: ThreadMessage) -> None:
        self.chat_view.append_message(self._item(message))
        self.empty_hint.hide()
        self.first_run.refresh()

    @Slot(object)
    def _on_answer_started(self, started: AnswerStarted) -> None:
        title = answer_title(started.model, self.session.catalog)
        # A continued answer replaces its own row and streams on after its text so far.
        self.chat_view.begin_stream(MessageItem(
            id=started.answer_id, role="assistant", text=started.text, title=title,
            **document_fields((), self.session.sources_for(started.answer_id))),
            after=started.after)
        self.status.speed(0)

    @Slot(object)
    def _on_text(self, chunk: TokenChunk) -> None:
        self.chat_view.append_stream(chunk.text)
        if chunk.elapsed_s > 0.2:
            self.status.speed((chunk.tokens_so_far - 1) / chunk.elapsed_s)

    @Slot(object)
    def _on_answer_done(self, done: AnswerFinished) -> None:
        self.chat_view.end_stream(self._item(done.message))
        self.status.speed(done.result.generation_tokens_per_s)
        costs = self.dialogs.cost_view
        if costs is not None:
            if done.energy_report is not None:
                costs.set_answer(done.energy_report, list(done.token_rates))
            costs.refresh(self.session.conversation_id)
        self._update_controls()

    @Slot(object)
    def _on_answer_failed(self, failed: AnswerFailed) -> None:
        title = answer_title(failed.model, self.session.catalog)
        self.chat_view.end_stream(MessageItem(
            id=failed.answer_id, role="assistant", text="", title=title,
            note=self.tr("(no answer: {0})").format(failed.title), incomplete=True))
        self._update_controls()

    @Slot(int)
    def _on_answer_interrupted(self, answer_id: int) -> None:
        self.chat_view.end_stream(MessageItem(id=answer_id, role="assistant", text="",
                                              title="", incomplete=True))

    @Slot(str, str)
    def error_banner_show(self, title: str, message: str) -> None:
        self.error_banner.show_error(title, message)

    def _update_controls(self) -> None:
        session = self.session
        ready, busy = session.ready, session.busy
        self.send_button.setEnabled(ready and not busy)
        self.send_action.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy)
        self.regenerate_action.setEnabled(ready and not busy and bool(session.thread))

    # -- user intents -------------------------------------------------------------------
    def send_typed(self) -> None:
        self.send_message(self.input_box.toPlainText())

    @Slot(str)
    def send_message(self, text: str) -> None:
        if not text.strip() or not self.session.ready or self.session.busy:
            return
        self.error_banner.hide()
        self.input_box.clear()
        self.edit_label.hide()
        self.session.send(text)

    @Slot(int)
    def continue_answer(self, message_id: int) -> None:
        """"Continue anyway" under an answer that stopped early."""
        if self.session.continue_answer(message_id):
            self.error_banner.hide()

    @Slot(int)
    def begin_edit(self, message_id: int) -> None:
        """Put a user message back in the box; sending makes it a new branch."""
        text = self.session.begin_edit(message_id)
        if text is None:
            return
        self.input_box.setPlainText(text)
        self.input_box.setFocus()
        self.edit_label.setText(self.tr("Editing a message: sending replaces what followed "
                                        "it (the old answers stay as alternatives). Esc "
                                        "cancels."))
        self.edit_label.show()

    def cancel_edit(self) -> None:
        if self.session.editing_id is not None:
            self.session.cancel_edit()
            self.input_box.clear()
        self.edit_label.hide()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.session.editing_id is not None \
                and not self.session.busy:
            self.cancel_edit()
            return
        super().keyPressEvent(event)

    @Slot()
    def new_chat(self) -> None:
        self.session.new_chat()

    def load_model(self, path: str | None) -> None:
        """Load ``path`` (None: the bundled default model) in the background."""
        self.session.load_model(path)

    @Slot()
    def choose_model_file(self) -> None:
        path = choose_model_file(self, self.session.store, self.tr("Open a GGUF model"),
                                 self.paths.models_dir)  # where the last one was chosen
        if path:
            self.load_model(path)

    def refresh_models(self) -> None:
        paths = [model.path for model in installed_models(self.paths.models_dir)]
        model = self.session.model
        self.sampling_panel.set_models(paths, model.path if model else None,
                                       remote_choices(self.session.store.settings.servers))

    def refresh_conversations(self) -> None:
        self.sidebar.set_conversations(self.session.history.list_conversations(),
                                       self.session.conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete with an Undo button in the status bar."""
        self.session.delete_conversation(conversation_id)
        self.status.offer_undo(lambda: self.session.restore_conversation(conversation_id))

    @Slot()
    def undo_delete(self) -> None:
        self.status.undo()

    @Slot(str)
    def search(self, query: str) -> None:
        hits = self.session.history.search(query) if query else []
        self.sidebar.show_hits(hits, query, SNIPPET_START, SNIPPET_END)
        if not query:  # the search was cleared: so is what it marked in the chat
            self.chat_view.clear_highlight()

    @Slot(int, int)
    def open_hit(self, conversation_id: int, message_id: int) -> None:
        self.session.open_hit(conversation_id, message_id)
        self.chat_view.scroll_to_message(message_id, self.sidebar.search_box.text().strip())

    @Slot(int)
    def copy_message(self, message_id: int) -> None:
        message = self.session.history.message(message_id)
        if message is not None:
            QGuiApplication.clipboard().setText(message.content)
            self.statusBar().showMessage(self.tr("Copied."), 2000)

    @Slot()
    def copy_last_answer(self) -> None:
        answers = [m for m in self.session.thread if m.role == "assistant" and m.content]
        if answers:
            self.copy_message(answers[-1].id)

    @Slot(int)
    def delete_message(self, message_id: int) -> None:
        if self.session.busy:
            return
        answer = QMessageBox.question(self, self.tr("Delete message"),
                                      self.tr("Delete this message and everything after it?"))
        if answer == QMessageBox.StandardButton.Yes:
            self.session.delete_message(message_id)

    @Slot(int)
    def export_conversation(self, conversation_id: int) -> None:
        conversation = self.session.history.get_conversation(conversation_id)
        if conversation is not None:
            self.session.save_streamed_text()  # a streaming answer is exported so far
            self.exchange.export_conversation(conversation_id, conversation.title)

    @Slot()
    def export_current(self) -> None:
        if self.session.conversation_id is not None:
            self.export_conversation(self.session.conversation_id)

    @Slot(object)
    def _exported(self, paths: list[Path]) -> None:
        where = paths[0] if len(paths) == 1 else f"{len(paths)} files in {paths[0].parent}" \
            if paths else "nothing to export"
        self.statusBar().showMessage(self.tr("Exported: {0}").format(where), 8000)

    @Slot(object)
    def _imported(self, result: ImportResult) -> None:
        self.statusBar().showMessage(result.summary(), 8000)
        self.session.imported(list(result))

    @Slot()
    def toggle_right_panel(self) -> None:
        self.panel_fit.toggle()

    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        self.session.store.update(theme=theme)

    # -- window state -------------------------------------------------------------------
    def _restore_window_state(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if len(self.settings.splitter_sizes) == 3:
            self.splitter.setSizes(list(self.settings.splitter_sizes))
        self.panel_fit.fit()

    def save_window_state(self) -> None:
        self.session.store.update(
            window_geometry=bytes(self.saveGeometry().toBase64().data()).decode(),
            splitter_sizes=tuple(self.splitter.sizes()))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_window_state()
        self.closing.emit()
        super().closeEvent(event)
