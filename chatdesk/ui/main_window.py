"""The main window: conversations on the left, the chat in the middle, model, sampling and
live stats on the right.

The window never waits on the model: it sends requests to the EngineHost and reacts to
its signals. Every message goes to the history as it happens; a streamed answer is
written a few times a second while it streams, so a crash keeps the partial answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.catalog import Catalog
from chatdesk.core.energy.record import energy_record
from chatdesk.core.engine import LoadOptions
from chatdesk.core.events import (
    AnswerEnergy,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    LoadProgress,
    ModelInfo,
    StopReason,
    TokenChunk,
)
from chatdesk.core.gpu_memory import GpuMemory
from chatdesk.core.history import (
    SNIPPET_END,
    SNIPPET_START,
    HistoryStore,
    ThreadMessage,
    stats_from_result,
)
from chatdesk.core.model_store import catalog_id_for, installed_models
from chatdesk.core.paths import AppPaths
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings, save_settings
from chatdesk.download_manager import DownloadManager
from chatdesk.ui.conversation_list import ConversationList
from chatdesk.ui.cost_view import CostView
from chatdesk.ui.energy_settings import edit_energy_settings
from chatdesk.ui.error_banner import ErrorBanner
from chatdesk.ui.exchange_actions import ExchangeActions
from chatdesk.ui.input_box import InputBox
from chatdesk.ui.message_view import MessageItem, MessageView
from chatdesk.ui.models_dialog import ModelsDialog
from chatdesk.ui.sampling_panel import SamplingPanel
from chatdesk.ui.stats_panel import StatsPanel
from chatdesk.ui.theme import apply_theme
from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

SAVE_STREAM_MS = 400  # how often a streaming answer's new text is written to the history
TITLE_CHARS = 48

_STOP_NOTES = {
    StopReason.EOS.value: "",
    StopReason.LENGTH.value: "reached the max tokens limit",
    StopReason.STOP_STRING.value: "",
    StopReason.USER_STOP.value: "stopped by you",
    StopReason.CONTEXT_FULL.value: "the context window is full",
}


def describe_stats(stats: dict | None, stop_reason: str | None) -> str:
    """The grey line under an answer: its cost in tokens and time (from the history's
    statistics dict, so live and stored answers read the same)."""
    if not stats:
        return ""
    parts = [
        f"{stats['generated_tokens']} tokens",
        f"{stats['tokens_per_s']:.1f} tok/s",
        f"first token {stats['ttft_s']:.2f} s",
        f"prompt {stats['prompt_eval_tokens']}/{stats['prompt_tokens']} tokens evaluated"
        f" ({stats['prompt_tokens_per_s']:.0f} tok/s)",
        f"context {stats['context_used']}/{stats['context_length']}",
    ]
    note = _STOP_NOTES.get(stop_reason or "", "")
    if note:
        parts.append(note)
    if stats.get("dropped_turns"):
        parts.append(f"{stats['dropped_turns']} older messages left out to fit the context")
    return " · ".join(parts)


def describe_energy(energy: dict | None) -> str:
    """'0.92 J (0.00026 Wh) · 30.1 W · 0.092 J/token · 5.3e-08 EUR · 0.00012 g CO2 ·
    estimated' — every figure with where it came from."""
    if not energy:
        return ""
    how = "measured by " + energy["source"] if energy.get("measured") else "estimated"
    per_token = energy.get("joules_per_token")
    parts = [f"{energy['joules']:.3g} J ({energy['wh']:.2g} Wh)",
             f"{energy['avg_watts']:.1f} W"]
    if per_token is not None:
        parts.append(f"{per_token:.2g} J/token")
    parts += [f"{energy['cost']:.2g} {energy['currency']}", f"{energy['co2_g']:.2g} g CO2",
              how]
    return " · ".join(parts)


def describe_model(info: ModelInfo) -> str:
    params = (f"{info.parameters / 1e9:.1f}B" if info.parameters >= 1e9
              else f"{info.parameters / 1e6:.0f}M")
    offload = (f"{info.gpu_layers_offloaded}/{info.total_layers} layers on GPU"
               if info.backend != "CPU" else f"{info.threads} threads")
    return (f"{info.name} · {info.architecture} {params} {info.quantization} · "
            f"{info.backend} ({offload}) · context {info.context_length}"
            f"/{info.trained_context}")


def answer_title(model_path: str) -> str:
    """An answer is headed by the model's file name: live and stored answers alike."""
    return Path(model_path).stem


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + "…"


class MainWindow(QMainWindow):
    def __init__(self, host: EngineHost, paths: AppPaths, settings: Settings,
                 catalog: Catalog | None = None, history: HistoryStore | None = None) -> None:
        super().__init__()
        self.host = host
        self.paths = paths
        self.settings = settings
        self.catalog = catalog if catalog is not None else Catalog(entries=(), problems=())
        self.history = history if history is not None else HistoryStore.open(paths.database)
        self.downloads: DownloadManager | None = None  # started when the Models dialog opens
        self.models_dialog: ModelsDialog | None = None
        self.model: ModelInfo | None = None
        self.loading = False
        self.conversation_id: int | None = None
        self.thread: list[ThreadMessage] = []
        self.sampling: SamplingParams = settings.sampling
        self.system_prompt = settings.system_prompt
        self.active_request: int | None = None
        self.answer_id: int | None = None  # the history row of the streaming answer
        self._unsaved = ""  # streamed text not yet written to the history
        self._discard_answer = False  # the running answer belongs to a chat the user left
        self.editing_id: int | None = None  # a user message being edited and resent
        self._deleted_id: int | None = None  # for Undo
        self._energy: AnswerEnergy | None = None  # of the running answer, until it finishes
        self.gpu_memory: GpuMemory | None = None  # read by the stats panel on a GPU backend
        self.cost_view: CostView | None = None  # opened from Costs > Energy and cost
        self._token_rates: list[tuple[float, float]] = []  # (s, tok/s) of the running answer
        self._last_answer_energy: tuple[object, list[tuple[float, float]]] | None = None
        self.setWindowTitle("chatdesk")
        self.resize(1280, 800)
        self.exchange = ExchangeActions(paths.database, self)
        self.exchange.exported.connect(self._exported)
        self.exchange.imported.connect(self._imported)
        self.exchange.failed.connect(self.error_banner_show)
        self._build_widgets()
        self._build_menus()
        self._connect_worker()
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(SAVE_STREAM_MS)
        self._save_timer.timeout.connect(self._save_streamed_text)
        self._restore_window_state()
        self.refresh_conversations()
        self.refresh_models()
        last = settings.last_conversation_id
        if last is not None and self.history.get_conversation(last) is not None:
            self.open_conversation(last)
        else:
            self.sampling_panel.set_sampling(self.sampling)
            self.sampling_panel.set_system_prompt(self.system_prompt)
        self._update_controls()

    # -- construction -------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.sidebar = ConversationList()
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(4, 4, 4, 4)
        self.error_banner = ErrorBanner(center)
        self.chat_view = MessageView(center)
        self.chat_view.setAccessibleName(self.tr("Conversation"))
        self.edit_label = QLabel()
        self.edit_label.setStyleSheet("color: #b7791f")
        self.edit_label.hide()
        self.input_box = InputBox(center)
        self.send_button = QPushButton(self.tr("Send"), center)
        self.send_button.setAccessibleName(self.tr("Send message"))
        self.send_button.setToolTip(self.tr("Send (Enter or Ctrl+Enter)"))
        self.stop_button = QPushButton(self.tr("Stop"), center)
        self.stop_button.setAccessibleName(self.tr("Stop generating"))
        self.stop_button.setToolTip(self.tr("Stop the answer (Esc)"))
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.addWidget(self.input_box, 1)
        row.addLayout(buttons)
        self.empty_hint = QLabel(self.tr(
            "<h3>Ask anything.</h3>Enter sends, Shift+Enter starts a new line, Esc stops the "
            "answer.<br><br>The model that comes with chatdesk (Gemma 3 270M, a small base "
            "model) works offline from the first start but is weak at facts and "
            "instructions. For real answers, pick a chat model in <b>Models › Manage "
            "models</b> (Ctrl+M)."))
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setContentsMargins(40, 20, 40, 20)
        self.empty_hint.setStyleSheet("color: palette(placeholder-text)")
        layout.addWidget(self.error_banner)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.chat_view, 1)
        layout.addWidget(self.edit_label)
        layout.addLayout(row)

        self.right_panel = QWidget()
        right = QVBoxLayout(self.right_panel)
        right.setContentsMargins(0, 0, 0, 0)
        self.sampling_panel = SamplingPanel()
        self.stats_panel = StatsPanel()
        right.addWidget(self.sampling_panel, 1)
        right.addWidget(self.stats_panel)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.right_panel)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 700, 340])
        self.setCentralWidget(self.splitter)

        self.model_label = QLabel(self.tr("No model loaded"))
        self.model_label.setAccessibleName(self.tr("Model"))
        self.template_label = QLabel()
        self.template_label.setAccessibleName(self.tr("Chat template"))
        self.speed_label = QLabel()
        self.speed_label.setAccessibleName(self.tr("Tokens per second"))
        self.undo_button = QPushButton(self.tr("Undo delete"))
        self.undo_button.hide()
        self.undo_button.clicked.connect(self.undo_delete)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setAccessibleName(self.tr("Model loading progress"))
        self.progress.hide()
        for label in (self.template_label, self.speed_label):
            label.setContentsMargins(12, 0, 12, 0)
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.undo_button)
        status.addPermanentWidget(self.template_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.progress)

        self.input_box.submitted.connect(self.send_message)
        self.send_button.clicked.connect(self._send_typed)
        self.stop_button.clicked.connect(self.stop_generation)
        view = self.chat_view
        view.copy_requested.connect(self.copy_message)
        view.delete_requested.connect(self.delete_message)
        view.regenerate_requested.connect(self.regenerate)
        view.edit_requested.connect(self.begin_edit)
        view.sibling_requested.connect(self.switch_sibling)
        side = self.sidebar
        side.new_requested.connect(self.new_chat)
        side.conversation_selected.connect(self.open_conversation)
        side.rename_requested.connect(self.rename_conversation)
        side.pin_requested.connect(self.pin_conversation)
        side.delete_requested.connect(self.delete_conversation)
        side.search_requested.connect(self.search)
        side.hit_activated.connect(self.open_hit)
        side.export_requested.connect(self.export_conversation)
        panel = self.sampling_panel
        panel.sampling_changed.connect(self._sampling_changed)
        panel.system_prompt_changed.connect(self._system_prompt_changed)
        panel.model_chosen.connect(self.load_model)
        panel.reload_requested.connect(self.reload_model)
        panel.preset_saved.connect(self._preset_saved)
        panel.preset_deleted.connect(self._preset_deleted)
        panel.set_presets({name: SamplingParams.from_dict(values)
                           for name, values in self.settings.presets.items()})
        panel.set_load_options(self.settings.context_length, self.settings.gpu_layers,
                               self.settings.threads)

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        self.open_action = self._action(file_menu, self.tr("&Open model…"),
                                        self.choose_model_file, QKeySequence.StandardKey.Open)
        file_menu.addSeparator()
        self.export_action = self._action(file_menu, self.tr("&Export conversation…"),
                                          self.export_current, "Ctrl+Shift+E")
        self._action(file_menu, self.tr("Export &all…"), self.exchange.export_all)
        self._action(file_menu, self.tr("&Import chats…"), self.exchange.import_chats,
                     "Ctrl+I")
        file_menu.addSeparator()
        self._action(file_menu, self.tr("&Quit"), self.close, QKeySequence.StandardKey.Quit)

        chat = bar.addMenu(self.tr("&Chat"))
        self.new_chat_action = self._action(chat, self.tr("&New chat"), self.new_chat, "Ctrl+N")
        self.search_action = self._action(chat, self.tr("&Search all chats"),
                                          self.sidebar.focus_search, "Ctrl+F")
        self.send_action = self._action(chat, self.tr("&Send"), self._send_typed,
                                        "Ctrl+Return")
        self.stop_action = self._action(chat, self.tr("S&top generating"),
                                        self.stop_generation, QKeySequence(Qt.Key.Key_Escape))
        self.copy_last_action = self._action(chat, self.tr("&Copy last answer"),
                                             self.copy_last_answer, "Ctrl+Shift+C")
        self.regenerate_action = self._action(chat, self.tr("&Regenerate last answer"),
                                              self.regenerate_last, "Ctrl+R")

        models = bar.addMenu(self.tr("&Models"))
        self.models_action = self._action(models, self.tr("&Manage models…"),
                                          self.show_models, "Ctrl+M")
        self._action(models, self.tr("&Import a .gguf file…"),
                     lambda: self.show_models().choose_import())

        costs = bar.addMenu(self.tr("C&osts"))
        self.costs_action = self._action(costs, self.tr("&Energy and cost…"),
                                         self.show_costs, "Ctrl+E")
        self._action(costs, self.tr("Energy &settings…"), self.edit_energy_settings)

        view = bar.addMenu(self.tr("&View"))
        self.panel_action = self._action(view, self.tr("&Side panel"),
                                         self.toggle_right_panel, "Ctrl+Shift+P")
        self.panel_action.setCheckable(True)
        self.panel_action.setChecked(self.settings.right_panel_visible)
        themes = view.addMenu(self.tr("&Theme"))
        group = QActionGroup(self)
        for key, label in (("system", self.tr("Follow the system")),
                           ("light", self.tr("Light")), ("dark", self.tr("Dark"))):
            action = self._action(themes, label, lambda _=False, k=key: self.set_theme(k))
            action.setCheckable(True)
            action.setChecked(self.settings.theme == key)
            group.addAction(action)

        help_menu = bar.addMenu(self.tr("&Help"))
        self._action(help_menu, self.tr("&About chatdesk"), self.show_about)

    def _connect_worker(self) -> None:
        worker = self.host.worker
        worker.progress.connect(self._on_progress)
        worker.loaded.connect(self._on_loaded)
        worker.text.connect(self._on_text)
        worker.energy.connect(self._on_energy)
        worker.finished.connect(self._on_finished)
        if worker.meter is not None:
            self.stats_panel.power_reader = worker.meter.sample_now
            self.stats_panel.power_source = ("measured" if worker.meter.measured
                                             else "estimated")
            reasons = worker.meter.unavailable_reasons()  # e.g. RAPL root-only, with its fix
            self.stats_panel.labels["power"].setToolTip(
                "\n".join([f"Source: {worker.meter.source}", *reasons]))
        worker.failed.connect(self._on_failed)

    # -- models -------------------------------------------------------------------------
    def load_options(self, path: str | None = None) -> LoadOptions:
        """The user's load settings, plus the catalog's template hint for a catalog model."""
        hint = None
        if path is not None:
            catalog_id = catalog_id_for(self.paths.models_dir, Path(path).name)
            entry = (self.catalog.get(catalog_id) if catalog_id
                     else self.catalog.by_filename(Path(path).name))
            hint = entry.chat_template_hint if entry else None
        return LoadOptions(context_length=self.settings.context_length,
                           gpu_layers=self.settings.gpu_layers, threads=self.settings.threads,
                           template_hint=hint)

    def load_model(self, path: str | None) -> None:
        """Load ``path`` (None: the bundled default model) in the background."""
        if self.active_request is not None:
            self.host.stop()
        self.loading = True
        self.model = None
        self.progress.setRange(0, 0)
        self.progress.show()
        self.model_label.setText(self.tr("Loading model…"))
        self._update_controls()
        self.host.load(path, self.load_options(path))

    @Slot(int, object, object)
    def reload_model(self, context_length: int, gpu_layers: int | None,
                     threads: int | None) -> None:
        self.settings = replace(self.settings, context_length=context_length,
                                gpu_layers=gpu_layers, threads=threads)
        self._save_settings()
        self.load_model(self.settings.last_model)

    def refresh_models(self) -> None:
        paths = [model.path for model in installed_models(self.paths.models_dir)]
        self.sampling_panel.set_models(paths, self.model.path if self.model else None)

    @Slot()
    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open a GGUF model"),
                                              str(self.paths.models_dir),
                                              self.tr("GGUF models (*.gguf)"))
        if path:
            self.load_model(path)

    @Slot()
    def show_models(self) -> ModelsDialog:
        """Open (or raise) the Models dialog; downloads outlive it until the app closes."""
        if self.downloads is None:
            self.downloads = DownloadManager(self.paths.models_dir, self)
            self.downloads.update.connect(lambda _update: self.refresh_models())
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.catalog, self.paths.models_dir,
                                              self.downloads, self)
            self.models_dialog.load_requested.connect(self.load_model)
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    # -- conversations ------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        self.sidebar.set_conversations(self.history.list_conversations(), self.conversation_id)

    @Slot(int)
    def open_conversation(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id and self.thread:
            return
        self._leave_running_answer()
        conversation = self.history.get_conversation(conversation_id)
        if conversation is None:
            return
        self.conversation_id = conversation_id
        self.settings = replace(self.settings, last_conversation_id=conversation_id)
        stored = conversation.settings.get("sampling") if conversation.settings else None
        self.sampling = (SamplingParams.from_dict(stored) if stored else self.settings.sampling)
        self.system_prompt = conversation.system_prompt
        self.sampling_panel.set_sampling(self.sampling)
        self.sampling_panel.set_system_prompt(self.system_prompt)
        self.cancel_edit()
        self.reload_thread()
        self.refresh_conversations()
        if self.cost_view is not None:
            self.cost_view.refresh(conversation_id)
        self._update_controls()

    def reload_thread(self) -> None:
        self.thread = self.history.thread(self.conversation_id) if self.conversation_id else []
        self.chat_view.set_messages([self._item(m) for m in self.thread
                                     if m.role != "system"])
        self.empty_hint.setVisible(not self.thread)

    def _item(self, message: ThreadMessage) -> MessageItem:
        title = (self.tr("You") if message.role == "user"
                 else answer_title(message.model) if message.model else self.tr("Assistant"))
        note = describe_stats(message.stats, message.stop_reason)
        energy = describe_energy(message.energy)
        if energy:
            note = f"{note}\n{energy}" if note else energy
        if message.state == "error":
            note = self.tr("(the answer failed)")
        return MessageItem(id=message.id, role=message.role, text=message.content,
                           title=title, note=note,
                           incomplete=message.state in ("incomplete", "streaming"),
                           sibling_index=message.sibling_index,
                           sibling_count=message.sibling_count, tooltip=note)

    @Slot()
    def new_chat(self) -> None:
        self._leave_running_answer()
        self.conversation_id = None
        self.thread = []
        self.chat_view.clear()
        self.empty_hint.show()
        self.speed_label.clear()
        self.cancel_edit()
        self.sampling = self.settings.sampling
        self.system_prompt = self.settings.system_prompt
        self.sampling_panel.set_sampling(self.sampling)
        self.sampling_panel.set_system_prompt(self.system_prompt)
        self.refresh_conversations()
        self.input_box.setFocus()
        self._update_controls()

    def _leave_running_answer(self) -> None:
        """The answer being written belongs to the chat we are leaving: stop it; what it
        produced is still saved, but not shown in the next chat."""
        if self.active_request is not None:
            self.host.stop()
            self._discard_answer = True

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self.history.rename(conversation_id, title)
        self.refresh_conversations()

    def pin_conversation(self, conversation_id: int, pinned: bool) -> None:
        self.history.set_pinned(conversation_id, pinned)
        self.refresh_conversations()

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete with an Undo button in the status bar."""
        if conversation_id == self.conversation_id:
            self.new_chat()
        self.history.delete_conversation(conversation_id)
        self._deleted_id = conversation_id
        self.undo_button.show()
        QTimer.singleShot(15_000, self.undo_button.hide)
        self.refresh_conversations()

    @Slot()
    def undo_delete(self) -> None:
        if self._deleted_id is not None:
            self.history.restore_conversation(self._deleted_id)
            self._deleted_id = None
        self.undo_button.hide()
        self.refresh_conversations()

    @Slot(str)
    def search(self, query: str) -> None:
        hits = self.history.search(query) if query else []
        self.sidebar.show_hits(hits, query, SNIPPET_START, SNIPPET_END)

    @Slot(int, int)
    def open_hit(self, conversation_id: int, message_id: int) -> None:
        self.history.switch_to_sibling(message_id)  # the hit's branch becomes visible
        if conversation_id == self.conversation_id:
            self.reload_thread()
        else:
            self.open_conversation(conversation_id)
        self.chat_view.scroll_to_message(message_id, self.sidebar.search_box.text().strip())

    @Slot(int)
    def export_conversation(self, conversation_id: int) -> None:
        conversation = self.history.get_conversation(conversation_id)
        if conversation is not None:
            self._save_streamed_text()  # an answer streaming right now is exported so far
            self.exchange.export_conversation(conversation_id, conversation.title)

    @Slot()
    def export_current(self) -> None:
        if self.conversation_id is not None:
            self.export_conversation(self.conversation_id)

    @Slot(object)
    def _exported(self, paths: list[Path]) -> None:
        where = paths[0] if len(paths) == 1 else f"{len(paths)} files in {paths[0].parent}" \
            if paths else "nothing to export"
        self.statusBar().showMessage(self.tr("Exported: {0}").format(where), 8000)

    @Slot(object)
    def _imported(self, ids: list[int]) -> None:
        self.refresh_conversations()
        self.statusBar().showMessage(self.tr("Imported {0} conversations.").format(len(ids)),
                                     8000)
        if ids:
            self.open_conversation(ids[0])

    # -- sending and answers ------------------------------------------------------------
    def _send_typed(self) -> None:
        self.send_message(self.input_box.toPlainText().strip())

    @Slot(str)
    def send_message(self, text: str) -> None:
        if not text or self.model is None or self.active_request is not None:
            return
        self.error_banner.hide()
        self.input_box.clear()
        if self.conversation_id is None:
            conversation = self.history.create_conversation(
                title_from(text), system_prompt=self.system_prompt,
                settings={"sampling": self.sampling.to_dict()}, model=self.model.path)
            self.conversation_id = conversation.id
            self.settings = replace(self.settings, last_conversation_id=conversation.id)
        if self.editing_id is not None:
            user = self.history.edit_message(self.editing_id, text)
            self.cancel_edit()
        else:
            user = self.history.add_message(self.conversation_id, "user", text)
        self.reload_thread()
        self.refresh_conversations()
        self._start_answer(user.id)

    def _start_answer(self, parent_id: int) -> None:
        assert self.model is not None and self.conversation_id is not None
        path = self.thread[: next(i for i, m in enumerate(self.thread) if m.id == parent_id) + 1]
        messages = [m.to_chat_message() for m in path if m.role != "system"]
        if self.system_prompt.strip():
            messages.insert(0, ChatMessage("system", self.system_prompt.strip()))
        answer = self.history.begin_answer(self.conversation_id, parent_id,
                                           model=self.model.path,
                                           sampling=self.sampling.to_dict())
        self.answer_id = answer.id
        self._unsaved = ""
        self.active_request = self.host.generate(messages, self.sampling)
        self.chat_view.begin_stream(MessageItem(id=answer.id, role="assistant", text="",
                                                title=answer_title(self.model.path)))
        self.stats_panel.start_answer(self.model.context_length)
        self._token_rates = []
        self.speed_label.setText(self.tr("thinking…"))
        self._save_timer.start()
        self._update_controls()

    @Slot()
    def stop_generation(self) -> None:
        if self.active_request is not None:
            self.host.stop()
        elif self.loading:
            self.host.cancel_load()

    def _save_streamed_text(self) -> None:
        if self._unsaved and self.answer_id is not None:
            self.history.append_answer_text(self.answer_id, self._unsaved)
            self._unsaved = ""

    @Slot(int)
    def regenerate(self, message_id: int) -> None:
        """Another answer to the same question; the earlier ones stay as alternatives."""
        message = self.history.message(message_id)
        if message is None or self.active_request is not None or self.model is None:
            return
        parent = message.parent_id if message.role == "assistant" else message.id
        if parent is None or all(m.id != parent for m in self.thread):
            return
        self._start_answer(parent)  # begin_answer makes the new answer the current leaf

    @Slot()
    def regenerate_last(self) -> None:
        answers = [m for m in self.thread if m.role == "assistant"]
        if answers:
            self.regenerate(answers[-1].id)

    @Slot(int)
    def begin_edit(self, message_id: int) -> None:
        """Put a user message back in the box; sending makes it a new branch."""
        message = self.history.message(message_id)
        if message is None or message.role != "user" or self.active_request is not None:
            return
        self.editing_id = message_id
        self.input_box.setPlainText(message.content)
        self.input_box.setFocus()
        self.edit_label.setText(self.tr("Editing a message: sending replaces what followed "
                                        "it (the old answers stay as alternatives). Esc "
                                        "cancels."))
        self.edit_label.show()

    def cancel_edit(self) -> None:
        if self.editing_id is not None:
            self.editing_id = None
            self.input_box.clear()
        self.edit_label.hide()

    @Slot(int, int)
    def switch_sibling(self, message_id: int, index: int) -> None:
        siblings = self.history.sibling_ids(message_id)
        if 0 <= index < len(siblings) and self.active_request is None:
            self.history.switch_to_sibling(siblings[index])
            self.reload_thread()

    @Slot(int)
    def copy_message(self, message_id: int) -> None:
        message = self.history.message(message_id)
        if message is not None:
            QGuiApplication.clipboard().setText(message.content)
            self.statusBar().showMessage(self.tr("Copied."), 2000)

    @Slot()
    def copy_last_answer(self) -> None:
        answers = [m for m in self.thread if m.role == "assistant" and m.content]
        if answers:
            self.copy_message(answers[-1].id)

    @Slot(int)
    def delete_message(self, message_id: int) -> None:
        if self.active_request is not None:
            return
        answer = QMessageBox.question(self, self.tr("Delete message"),
                                      self.tr("Delete this message and everything after it?"))
        if answer == QMessageBox.StandardButton.Yes:
            self.history.delete_message(message_id)
            self.reload_thread()

    # -- panel intents ------------------------------------------------------------------
    @Slot(object)
    def _sampling_changed(self, params: SamplingParams) -> None:
        self.sampling = params
        if self.conversation_id is not None:
            self.history.update_conversation_settings(
                self.conversation_id, settings={"sampling": params.to_dict()})
        else:
            self.settings = replace(self.settings, sampling=params)

    @Slot(str)
    def _system_prompt_changed(self, text: str) -> None:
        self.system_prompt = text
        if self.conversation_id is not None:
            self.history.update_conversation_settings(self.conversation_id, system_prompt=text)
        else:
            self.settings = replace(self.settings, system_prompt=text)

    def _preset_saved(self, name: str, params: SamplingParams) -> None:
        presets = dict(self.settings.presets)
        presets[name] = params.to_dict()
        self.settings = replace(self.settings, presets=presets)
        self._save_settings()

    def _preset_deleted(self, name: str) -> None:
        presets = {k: v for k, v in self.settings.presets.items() if k != name}
        self.settings = replace(self.settings, presets=presets)
        self._save_settings()

    @Slot()
    def show_costs(self) -> CostView:
        """Open (or raise) the energy and cost window."""
        if self.cost_view is None:
            self.cost_view = CostView(self.history, self.settings, self)
            self.cost_view.edit_settings_requested.connect(self.edit_energy_settings)
            if self._last_answer_energy is not None:
                self.cost_view.set_answer(*self._last_answer_energy)
        self.cost_view.refresh(self.conversation_id)
        self.cost_view.show()
        self.cost_view.raise_()
        return self.cost_view

    @Slot()
    def edit_energy_settings(self) -> None:
        meter = self.host.worker.meter
        changed = edit_energy_settings(self, self.settings, meter=meter)
        if changed is None:
            return
        tdp_changed = changed.tdp_watts != self.settings.tdp_watts
        self.settings = changed
        self._save_settings()
        if self.cost_view is not None:
            self.cost_view.set_settings(changed)
        if tdp_changed:  # the meter picks its estimate model once, when the app starts
            self.statusBar().showMessage(self.tr("The new CPU TDP applies after a restart."),
                                         5000)

    @Slot()
    def toggle_right_panel(self) -> None:
        visible = not self.right_panel.isVisible()
        self.right_panel.setVisible(visible)
        self.panel_action.setChecked(visible)
        self.settings = replace(self.settings, right_panel_visible=visible)

    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        self.settings = replace(self.settings, theme=theme)
        self._save_settings()

    @Slot()
    def show_about(self) -> None:
        from chatdesk.ui.about_dialog import AboutDialog

        AboutDialog(self.paths, self.model.backend if self.model else None, self).exec()

    # -- worker signals -----------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, progress: LoadProgress) -> None:
        self.model_label.setText(progress.stage + "…")
        if progress.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round(progress.fraction * 100))

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self.loading = False
        self.model = info
        self.progress.hide()
        self.model_label.setText(describe_model(info))
        self.template_label.setText(self.tr("Template: {0}").format(info.chat_template_name))
        self.template_label.setToolTip(info.chat_template_source)
        self.settings = replace(self.settings, last_model=info.path)
        self._save_settings()
        self.refresh_models()
        if info.backend != "CPU" and self.gpu_memory is None:
            gpu = GpuMemory()
            if gpu.available:
                self.gpu_memory = gpu
                self.stats_panel.vram_reader = gpu.read
        self._update_controls()
        self.input_box.setFocus()

    @Slot(object)
    def _on_text(self, chunk: TokenChunk) -> None:
        if chunk.request_id != self.active_request:
            return
        self._unsaved += chunk.text
        self.stats_panel.on_tokens(chunk.tokens_so_far, chunk.elapsed_s, chunk.context_used)
        if chunk.elapsed_s > 0 and chunk.tokens_so_far > 1:
            self._token_rates.append((chunk.elapsed_s,
                                      (chunk.tokens_so_far - 1) / chunk.elapsed_s))
        if self._discard_answer:
            return
        self.chat_view.append_stream(chunk.text)
        if chunk.elapsed_s > 0.2:
            rate = (chunk.tokens_so_far - 1) / chunk.elapsed_s
            self.speed_label.setText(self.tr("{0:.1f} tok/s").format(rate))

    def _end_answer(self) -> int | None:
        self._save_timer.stop()
        answer_id, self.answer_id, self.active_request = self.answer_id, None, None
        self._unsaved = ""
        return answer_id

    @Slot(object)
    def _on_energy(self, event: AnswerEnergy) -> None:
        if event.request_id == self.active_request:
            self._energy = event

    @Slot(object)
    def _on_finished(self, result: GenerationResult) -> None:
        if result.request_id != self.active_request:
            return
        answer_id = self._end_answer()
        assert answer_id is not None
        energy = None
        if self._energy is not None and self._energy.request_id == result.request_id:
            energy = energy_record(self._energy.report, result.generated_tokens,
                                   self.settings.price(), self.settings.grid_g_per_kwh)
            self._last_answer_energy = (self._energy.report, list(self._token_rates))
            if self.cost_view is not None:
                self.cost_view.set_answer(*self._last_answer_energy)
        self._energy = None
        stored = self.history.finish_answer(
            answer_id, content=result.text, state="complete",
            stop_reason=result.stop_reason.value, stats=stats_from_result(result),
            energy=energy)
        self.stats_panel.finish_answer(result, energy)
        if self._discard_answer:
            self._discard_answer = False
            self.chat_view.end_stream(MessageItem(id=answer_id, role="assistant", text="",
                                                  title=""))
        else:
            self.thread = self.history.thread(stored.conversation_id)
            final = next((self._item(m) for m in self.thread if m.id == answer_id), None)
            if final is not None:
                self.chat_view.end_stream(final)
            self.speed_label.setText(self.tr("{0:.1f} tok/s").format(
                result.generation_tokens_per_s))
        self.refresh_conversations()
        if self.cost_view is not None:
            self.cost_view.refresh(self.conversation_id)
        self._update_controls()

    @Slot(object)
    def _on_failed(self, error: ErrorEvent) -> None:
        if error.request_id and error.request_id == self.active_request:
            answer_id = self._end_answer()
            self.stats_panel.finish_answer(None)
            if answer_id is not None:
                partial = self.history.message(answer_id)
                self.history.finish_answer(answer_id, content=partial.content if partial else "",
                                           state="error", stop_reason=None, stats={})
            if self._discard_answer:
                self._discard_answer = False
                self.chat_view.end_stream(MessageItem(id=answer_id or 0, role="assistant",
                                                      text="", title=""))
                self._update_controls()
                return
            self.chat_view.end_stream(MessageItem(
                id=answer_id or 0, role="assistant", text="",
                title=answer_title(self.model.path) if self.model else "",
                note=self.tr("(no answer: {0})").format(error.title), incomplete=True))
        elif error.request_id == 0:  # a load failed
            self.loading = False
            self.progress.hide()
            self.model_label.setText(self.tr("No model loaded"))
        self.error_banner.show_error(error.title, error.message)
        self._update_controls()

    @Slot(str, str)
    def error_banner_show(self, title: str, message: str) -> None:
        self.error_banner.show_error(title, message)

    # -- state --------------------------------------------------------------------------
    @property
    def conversation(self) -> list[ChatMessage]:
        """The visible conversation as the engine sees it (the system prompt aside)."""
        return [m.to_chat_message() for m in self.thread if m.role != "system"]

    def _update_controls(self) -> None:
        generating = self.active_request is not None
        ready = self.model is not None and not self.loading
        self.send_button.setEnabled(ready and not generating)
        self.send_action.setEnabled(ready and not generating)
        self.stop_button.setEnabled(generating)
        self.regenerate_action.setEnabled(ready and not generating and bool(self.thread))

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.editing_id is not None \
                and self.active_request is None:
            self.cancel_edit()
            return
        super().keyPressEvent(event)

    def _close_running_answer(self) -> None:
        """Closing mid-answer: keep what was written, marked incomplete (a late 'finished'
        from the stopped worker is then ignored: its request is no longer active)."""
        if self.answer_id is None:
            return
        self._save_streamed_text()
        answer_id = self._end_answer()
        partial = self.history.message(answer_id) if answer_id is not None else None
        if partial is not None:
            self.history.finish_answer(partial.id, content=partial.content, state="incomplete",
                                       stop_reason=StopReason.USER_STOP.value, stats={})
        self.chat_view.end_stream(MessageItem(id=answer_id or 0, role="assistant", text="",
                                              title="", incomplete=True))

    def _restore_window_state(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if len(self.settings.splitter_sizes) == 3:
            self.splitter.setSizes(list(self.settings.splitter_sizes))
        self.right_panel.setVisible(self.settings.right_panel_visible)

    def _save_settings(self) -> None:
        try:
            save_settings(self.paths.settings_file, self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_streamed_text()
        self.settings = replace(
            self.settings,
            window_geometry=bytes(self.saveGeometry().toBase64().data()).decode(),
            splitter_sizes=tuple(self.splitter.sizes()),
            sampling=self.settings.sampling, last_conversation_id=self.conversation_id)
        self._save_settings()
        if self.downloads is not None:
            self.downloads.shutdown()
        self.host.shutdown()
        self._close_running_answer()
        if self.gpu_memory is not None:
            self.gpu_memory.close()
        super().closeEvent(event)
        log.info("window closed at %s", time.strftime("%H:%M:%S"))
