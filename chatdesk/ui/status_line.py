"""The status bar: the model (or its loading progress), the chat template, live tokens/s,
and the Undo button of a deleted chat."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from chatdesk.core.events import LoadProgress, ModelInfo
from chatdesk.core.figures import describe_model

UNDO_MS = 15_000  # how long "Undo delete" stays


class StatusLine:
    """Owns the status bar's widgets; the window tells it what happened."""

    def __init__(self, status: QStatusBar) -> None:
        tr = status.tr
        self.model_label = QLabel(tr("No model loaded"))
        self.model_label.setAccessibleName(tr("Model"))
        self.template_label = QLabel()
        self.template_label.setAccessibleName(tr("Chat template"))
        self.speed_label = QLabel()
        self.speed_label.setAccessibleName(tr("Tokens per second"))
        self.undo_button = QPushButton(tr("Undo delete"))
        self.undo_button.hide()
        self.undo_button.clicked.connect(self.undo)
        self._undo: Callable[[], None] | None = None
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setAccessibleName(tr("Model loading progress"))
        self.progress.hide()
        for label in (self.template_label, self.speed_label):
            label.setContentsMargins(12, 0, 12, 0)
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.undo_button)
        status.addPermanentWidget(self.template_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.progress)
        self._tr = tr

    def loading(self) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.model_label.setText(self._tr("Loading model…"))

    def load_progress(self, progress: LoadProgress) -> None:
        self.model_label.setText(progress.stage + "…")
        if progress.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round(progress.fraction * 100))

    def loaded(self, info: ModelInfo) -> None:
        self.progress.hide()
        self.model_label.setText(describe_model(info))
        self.template_label.setText(self._tr("Template: {0}").format(info.chat_template_name))
        self.template_label.setToolTip(info.chat_template_source)

    def no_model(self) -> None:
        self.progress.hide()
        self.model_label.setText(self._tr("No model loaded"))

    def speed(self, tokens_per_s: float | None) -> None:
        """Live or final decode speed; None clears it, 0 means 'thinking' (no token yet)."""
        if tokens_per_s is None:
            self.speed_label.clear()
        elif tokens_per_s == 0:
            self.speed_label.setText(self._tr("thinking…"))
        else:
            self.speed_label.setText(self._tr("{0:.1f} tok/s").format(tokens_per_s))

    def offer_undo(self, undo: Callable[[], None], for_ms: int = UNDO_MS) -> None:
        """Show "Undo delete" for a while; clicking it (or ``undo()``) runs ``undo`` once."""
        self._undo = undo
        self.undo_button.show()
        QTimer.singleShot(for_ms, self.undo_button.hide)

    def undo(self) -> None:
        undo, self._undo = self._undo, None
        self.undo_button.hide()
        if undo is not None:
            undo()
