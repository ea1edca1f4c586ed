"""The main window: conversation, message box, Stop, and a status line about the model.

The window never waits on the model: it sends requests to the EngineHost and reacts to
its signals. It appears at once; the model loads behind it with visible progress.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatdesk import __version__
from chatdesk.core.catalog import Catalog
from chatdesk.core.engine import LoadOptions
from chatdesk.core.events import (
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    LoadProgress,
    ModelInfo,
    StopReason,
    TokenChunk,
)
from chatdesk.core.model_store import catalog_id_for
from chatdesk.core.paths import AppPaths
from chatdesk.core.settings import Settings, save_settings
from chatdesk.download_manager import DownloadManager
from chatdesk.ui.chat_view import ChatView
from chatdesk.ui.error_banner import ErrorBanner
from chatdesk.ui.input_box import InputBox
from chatdesk.ui.models_dialog import ModelsDialog
from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

_STOP_NOTES = {
    StopReason.EOS: "",
    StopReason.LENGTH: "reached the max tokens limit",
    StopReason.STOP_STRING: "",
    StopReason.USER_STOP: "stopped by you",
    StopReason.CONTEXT_FULL: "the context window is full",
}


def describe_result(result: GenerationResult) -> str:
    """The grey line under an answer: its cost in tokens and time."""
    parts = [
        f"{result.generated_tokens} tokens",
        f"{result.generation_tokens_per_s:.1f} tok/s",
        f"first token {result.ttft_s:.2f} s",
        f"prompt {result.prompt_eval_tokens}/{result.prompt_tokens} tokens evaluated"
        f" ({result.prompt_tokens_per_s:.0f} tok/s)",
        f"context {result.context_used}/{result.context_length}",
    ]
    note = _STOP_NOTES[result.stop_reason]
    if note:
        parts.append(note)
    if result.dropped_turns:
        parts.append(f"{result.dropped_turns} older messages left out to fit the context")
    return " · ".join(parts)


def describe_model(info: ModelInfo) -> str:
    params = (f"{info.parameters / 1e9:.1f}B" if info.parameters >= 1e9
              else f"{info.parameters / 1e6:.0f}M")
    offload = (f"{info.gpu_layers_offloaded}/{info.total_layers} layers on GPU"
               if info.backend != "CPU" else f"{info.threads} threads")
    return (f"{info.name} · {info.architecture} {params} {info.quantization} · "
            f"{info.backend} ({offload}) · context {info.context_length}"
            f"/{info.trained_context}")


class MainWindow(QMainWindow):
    def __init__(self, host: EngineHost, paths: AppPaths, settings: Settings,
                 catalog: Catalog | None = None) -> None:
        super().__init__()
        self.host = host
        self.paths = paths
        self.settings = settings
        self.catalog = catalog if catalog is not None else Catalog(entries=(), problems=())
        self.downloads: DownloadManager | None = None  # started when the Models dialog opens
        self.models_dialog: ModelsDialog | None = None
        self.conversation: list[ChatMessage] = []
        self.model: ModelInfo | None = None
        self.loading = False
        self.active_request: int | None = None
        self._discard_answer = False  # the running answer belongs to a chat the user left
        self.setWindowTitle("chatdesk")
        self.resize(960, 720)
        self._build_widgets()
        self._build_menus()
        self._connect_worker()
        self._update_controls()

    # -- construction -------------------------------------------------------------------
    def _build_widgets(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.error_banner = ErrorBanner(central)
        self.chat_view = ChatView(central)
        self.input_box = InputBox(central)
        self.send_button = QPushButton(self.tr("Send"), central)
        self.send_button.setAccessibleName(self.tr("Send message"))
        self.stop_button = QPushButton(self.tr("Stop"), central)
        self.stop_button.setAccessibleName(self.tr("Stop generating"))
        self.stop_button.setToolTip(self.tr("Stop the answer (Esc)"))
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.addWidget(self.input_box, 1)
        row.addLayout(buttons)
        layout.addWidget(self.error_banner)
        layout.addWidget(self.chat_view, 1)
        layout.addLayout(row)
        self.setCentralWidget(central)

        self.model_label = QLabel(self.tr("No model loaded"))
        self.model_label.setAccessibleName(self.tr("Model"))
        self.template_label = QLabel()
        self.template_label.setAccessibleName(self.tr("Chat template"))
        self.speed_label = QLabel()
        self.speed_label.setAccessibleName(self.tr("Tokens per second"))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setAccessibleName(self.tr("Model loading progress"))
        self.progress.hide()
        for label in (self.template_label, self.speed_label):
            label.setContentsMargins(12, 0, 12, 0)
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.template_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.progress)

        self.input_box.submitted.connect(self.send_message)
        self.send_button.clicked.connect(
            lambda: self.send_message(self.input_box.toPlainText().strip()))
        self.stop_button.clicked.connect(self.stop_generation)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        self.open_action = QAction(self.tr("&Open model…"), self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.choose_model_file)
        file_menu.addAction(self.open_action)
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        chat_menu = self.menuBar().addMenu(self.tr("&Chat"))
        self.new_chat_action = QAction(self.tr("&New chat"), self)
        self.new_chat_action.setShortcut(QKeySequence("Ctrl+N"))
        self.new_chat_action.triggered.connect(self.new_chat)
        chat_menu.addAction(self.new_chat_action)
        self.send_action = QAction(self.tr("&Send"), self)
        self.send_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.send_action.triggered.connect(
            lambda: self.send_message(self.input_box.toPlainText().strip()))
        chat_menu.addAction(self.send_action)
        self.stop_action = QAction(self.tr("S&top generating"), self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_action.triggered.connect(self.stop_generation)
        chat_menu.addAction(self.stop_action)

        models_menu = self.menuBar().addMenu(self.tr("&Models"))
        self.models_action = QAction(self.tr("&Manage models…"), self)
        self.models_action.setShortcut(QKeySequence("Ctrl+M"))
        self.models_action.triggered.connect(self.show_models)
        models_menu.addAction(self.models_action)
        import_action = QAction(self.tr("&Import a .gguf file…"), self)
        import_action.triggered.connect(lambda: self.show_models().choose_import())
        models_menu.addAction(import_action)

        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        about = QAction(self.tr("&About chatdesk"), self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _connect_worker(self) -> None:
        worker = self.host.worker
        worker.progress.connect(self._on_progress)
        worker.loaded.connect(self._on_loaded)
        worker.text.connect(self._on_text)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

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

    @Slot()
    def show_models(self) -> ModelsDialog:
        """Open (or raise) the Models dialog; downloads outlive it until the app closes."""
        if self.downloads is None:
            self.downloads = DownloadManager(self.paths.models_dir, self)
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.catalog, self.paths.models_dir,
                                              self.downloads, self)
            self.models_dialog.load_requested.connect(self.load_model)
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    # -- user intents -------------------------------------------------------------------
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

    @Slot()
    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open a GGUF model"),
                                              str(self.paths.models_dir),
                                              self.tr("GGUF models (*.gguf)"))
        if path:
            self.load_model(path)

    @Slot(str)
    def send_message(self, text: str) -> None:
        if not text or self.model is None or self.active_request is not None:
            return
        self.error_banner.hide()
        self.input_box.clear()
        self.conversation.append(ChatMessage("user", text))
        self.chat_view.add_message("user", text)
        messages = list(self.conversation)
        if self.settings.system_prompt.strip():
            messages.insert(0, ChatMessage("system", self.settings.system_prompt.strip()))
        self.active_request = self.host.generate(messages, self.settings.sampling)
        self.chat_view.begin_answer(self.model.name)
        self.speed_label.setText(self.tr("thinking…"))
        self._update_controls()

    @Slot()
    def stop_generation(self) -> None:
        if self.active_request is not None:
            self.host.stop()
        elif self.loading:
            self.host.cancel_load()

    @Slot()
    def new_chat(self) -> None:
        self.stop_generation()
        # An answer still running belongs to the old chat: let it end, but keep none of it.
        self._discard_answer = self.active_request is not None
        self.conversation.clear()
        self.chat_view.clear_conversation()
        self.speed_label.clear()

    @Slot()
    def show_about(self) -> None:
        import llama_cpp
        import PySide6

        backend = self.model.backend if self.model else "no model loaded"
        QMessageBox.about(self, self.tr("About chatdesk"), self.tr(
            "<b>chatdesk {0}</b><br>Local language models on your desktop.<br><br>"
            "Backend: {1}<br>llama-cpp-python {2}<br>PySide6 {3}<br><br>"
            "Data: {4}<br>Log: {5}").format(
                __version__, backend, llama_cpp.__version__, PySide6.__version__,
                self.paths.models_dir.parent, self.paths.logs_dir))

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
        self._update_controls()
        self.input_box.setFocus()

    @Slot(object)
    def _on_text(self, chunk: TokenChunk) -> None:
        if chunk.request_id != self.active_request or self._discard_answer:
            return
        self.chat_view.append_stream(chunk.text)
        if chunk.elapsed_s > 0.2:
            rate = (chunk.tokens_so_far - 1) / chunk.elapsed_s
            self.speed_label.setText(self.tr("{0:.1f} tok/s").format(rate))

    @Slot(object)
    def _on_finished(self, result: GenerationResult) -> None:
        if result.request_id != self.active_request:
            return
        self.active_request = None
        if self._discard_answer:
            self._discard_answer = False
            self._update_controls()
            return
        self.conversation.append(ChatMessage("assistant", result.text))
        self.chat_view.end_answer(describe_result(result))
        self.speed_label.setText(self.tr("{0:.1f} tok/s").format(
            result.generation_tokens_per_s))
        self._update_controls()

    @Slot(object)
    def _on_failed(self, error: ErrorEvent) -> None:
        if error.request_id and error.request_id == self.active_request:
            self.active_request = None
            if self._discard_answer:
                self._discard_answer = False
                self._update_controls()
                return
            self.chat_view.end_answer(self.tr("(no answer: {0})").format(error.title))
        elif error.request_id == 0:  # a load failed
            self.loading = False
            self.progress.hide()
            self.model_label.setText(self.tr("No model loaded"))
        self.error_banner.show_error(error.title, error.message)
        self._update_controls()

    # -- state --------------------------------------------------------------------------
    def _update_controls(self) -> None:
        generating = self.active_request is not None
        ready = self.model is not None and not self.loading
        self.send_button.setEnabled(ready and not generating)
        self.send_action.setEnabled(ready and not generating)
        self.stop_button.setEnabled(generating)

    def _save_settings(self) -> None:
        try:
            save_settings(self.paths.settings_file, self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.chat_view.end_answer(None)
        self._save_settings()
        if self.downloads is not None:
            self.downloads.shutdown()
        self.host.shutdown()
        super().closeEvent(event)
