"""The empty chat's first-run card: one recommended download, one click, then one switch.

Shown while only the bundled models are installed (core/recommend.only_bundled_models).
It names the best catalog model for this machine with its size and download time, starts
the download through the app's DownloadManager (the user keeps chatting with the small
model meanwhile), shows its progress, and then offers "Switch to <model>". Offline it says
so in one sentence and offers nothing. Which model to load on a switch is the window's
business: the card only emits ``switch_requested(path)``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.catalog import Catalog
from chatdesk.core.fit import FitVerdict, MemoryInfo
from chatdesk.core.recommend import (
    Reachability,
    Recommendation,
    Suggestion,
    first_run_suggestion,
    format_duration,
)
from chatdesk.core.units import format_bytes
from chatdesk.download_manager import DownloadManager, JobState, JobUpdate
from chatdesk.threads import run_op
from chatdesk.ui.models_dialog import describe_progress


def describe(recommendation: Recommendation) -> str:
    """'Qwen2.5 3B Instruct (3B parameters, up to 2.0 GiB) fits this machine. The download
    takes about 4 min, assuming 10 MB/s (80 Mbit/s).'"""
    entry = recommendation.entry
    size = format_bytes(recommendation.size_bytes)
    size = size if recommendation.size_exact else f"up to {size}"
    fit = ("fits this machine" if recommendation.verdict is FitVerdict.FITS
           else "fits this machine, just: close other programs before you load it")
    return (f"<b>{entry.name}</b> ({entry.parameters} parameters, {size}) {fit}. "
            f"The download takes {format_duration(recommendation.download_s)}, "
            f"{recommendation.speed_note()}. You can keep chatting meanwhile.")


class FirstRunCard(QFrame):
    """See the module docstring. Call :meth:`check` (or :meth:`set_suggestion`)."""

    switch_requested = Signal(str)  # the downloaded model's path
    checked = Signal()  # the background check has answered and the card shows it
    dismissed = Signal()  # "Not now"

    def __init__(self, downloads: DownloadManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.downloads = downloads
        self.suggestion: Suggestion | None = None
        self.job_id: int | None = None
        self.installed_path: str | None = None
        self.failed = False  # the check itself failed: the card has nothing to say

        self.title = QLabel(self.tr("<b>A better model for this machine</b>"))
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.download_button = QPushButton(self.tr("Download"))
        self.download_button.setAccessibleName(self.tr("Download the recommended model"))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName(self.tr("Download progress"))
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.switch_button = QPushButton()
        self.dismiss_button = QPushButton(self.tr("Not now"))
        self.dismiss_button.setFlat(True)
        self.dismiss_button.setAccessibleName(self.tr("Hide this suggestion"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.switch_button)
        buttons.addStretch(1)
        buttons.addWidget(self.dismiss_button)
        layout.addLayout(buttons)
        for widget in (self.title, self.download_button, self.progress, self.status,
                       self.switch_button, self.dismiss_button):
            widget.hide()

        self.download_button.clicked.connect(self.start_download)
        self.switch_button.clicked.connect(self._switch)
        self.dismiss_button.clicked.connect(self.dismissed)
        self.downloads.update.connect(self._on_update)

    # -- what to show ---------------------------------------------------------------------
    @property
    def in_progress(self) -> bool:
        """A download was started from here and not yet switched to (or given up)."""
        return self.job_id is not None or self.installed_path is not None

    def check(self, catalog: Catalog, models_dir: Path, *, memory: MemoryInfo | None = None,
              reachability: Reachability | None = None) -> None:
        """Work out the suggestion off the GUI thread (it may wait on the network for a
        second or two), then show it. ``memory`` and ``reachability`` replace this
        machine's readings (tests)."""
        self.text.setText(self.tr("Looking for a model that suits this machine…"))
        run_op(lambda: first_run_suggestion(catalog, models_dir, memory=memory,
                                            reachability=reachability),
               self._on_checked, self._on_checked, name="first-run-check")

    @Slot(object)
    def _on_checked(self, result: object) -> None:
        if isinstance(result, Suggestion):
            self.set_suggestion(result)
        else:  # the check itself failed: say nothing rather than something wrong
            self.failed = True
            self.hide()
        self.checked.emit()

    def set_suggestion(self, suggestion: Suggestion) -> None:
        self.suggestion = suggestion
        recommendation = suggestion.recommendation
        self.title.setVisible(recommendation is not None)
        self.download_button.setVisible(recommendation is not None)
        self.dismiss_button.setVisible(recommendation is not None)
        self.progress.hide()
        self.status.hide()
        self.switch_button.hide()
        if recommendation is None:  # offline, nothing fits, or all installed: one sentence
            self.text.setText(suggestion.reason)
            return
        self.text.setText(describe(recommendation))
        self.download_button.setText(self.tr("Download"))
        self.download_button.setEnabled(True)

    # -- downloading ----------------------------------------------------------------------
    @Slot()
    def start_download(self) -> None:
        if self.suggestion is None or self.suggestion.recommendation is None:
            return
        entry = self.suggestion.recommendation.entry
        self.download_button.hide()
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(self.tr("Starting the download…"))
        self.status.show()
        job = self.downloads.enqueue(entry.name, entry.repo_id, entry.filename,
                                     revision=entry.revision, sha256=entry.sha256,
                                     catalog_id=entry.id)
        self.job_id = job.job_id

    @Slot(object)
    def _on_update(self, update: JobUpdate) -> None:
        if update.job.job_id != self.job_id:
            return
        sample = update.progress
        if sample is not None and sample.total:
            self.progress.setValue(int(1000 * sample.downloaded / sample.total))
        if update.state is JobState.DONE and update.path:
            self.installed_path = update.path
            self.job_id = None
            self.progress.setValue(1000)
            self.progress.hide()
            self.status.hide()
            self.switch_button.setText(self.tr("Switch to {0}").format(update.job.label))
            self.switch_button.show()
            return
        if update.state in (JobState.FAILED, JobState.CANCELLED):
            self.progress.hide()
            self.status.setText(update.message)
            self.download_button.setText(self.tr("Try again") if update.state
                                         is JobState.FAILED else self.tr("Download"))
            self.download_button.show()
            self.job_id = None
            return
        self.status.setText(describe_progress(update))

    @Slot()
    def _switch(self) -> None:
        if self.installed_path:
            path, self.installed_path = self.installed_path, None
            self.switch_requested.emit(path)
