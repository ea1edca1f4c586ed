"""The widgets of "chat with your documents": the files waiting under the message box,
the file and folder pickers, a source shown in its document, the knowledge folders, and
the indexing progress in the status bar. Widgets only: ``ChatSession`` (and its
``documents``) decide and store."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStatusBar,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.documents.grounding import where
from chatdesk.core.documents.index import FolderProgress, FolderReport
from chatdesk.core.documents.reading import SUPPORTED_SUFFIXES
from chatdesk.core.figures import count_of, file_chip
from chatdesk.core.history import FileRef, SourceRef
from chatdesk.core.settings_store import SettingsStore
from chatdesk.ui.file_dialogs import remember_folder, remembered_folder


def choose_attachments(parent: QWidget, store: SettingsStore | None) -> list[Path]:
    patterns = " ".join(f"*{suffix}" for suffix in sorted(SUPPORTED_SUFFIXES))
    paths, _ = QFileDialog.getOpenFileNames(
        parent, parent.tr("Attach files"), str(remembered_folder(store, "attach", Path.home())),
        parent.tr("Documents ({0});;All files (*)").format(patterns))
    if paths:
        remember_folder(store, "attach", paths[0])
    return [Path(p) for p in paths]


def choose_folder(parent: QWidget, store: SettingsStore | None) -> str | None:
    folder = QFileDialog.getExistingDirectory(
        parent, parent.tr("Chat with a folder"),
        str(remembered_folder(store, "knowledge", Path.home())))
    if not folder:
        return None
    remember_folder(store, "knowledge", folder)
    return folder


def dropped_files(urls: Sequence[QUrl]) -> list[Path]:
    """The local files among dropped or pasted URLs (folders and web links are not)."""
    return [Path(url.toLocalFile()) for url in urls
            if url.isLocalFile() and Path(url.toLocalFile()).is_file()]


def open_file(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class AttachmentBar(QWidget):
    """The files that go with the next message, each with a button that takes it off."""

    removed = Signal(str)  # sha256

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachment-bar")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.reading = QLabel(self.tr("Reading files…"))
        self.reading.setStyleSheet("color: palette(placeholder-text)")
        self.reading.hide()
        self._layout.addWidget(self.reading)
        self._layout.addStretch(1)
        self.chips: list[QToolButton] = []
        self.hide()

    def set_files(self, files: Sequence[FileRef]) -> None:
        for chip in self.chips:
            chip.deleteLater()
        self.chips = []
        for position, file in enumerate(files):
            chip = QToolButton(self)
            chip.setText(file_chip(file.name, file.pages) + "  ✕")
            chip.setToolTip(self.tr("{0} ({1} tokens). Click to take it off this message.")
                            .format(file.name, f"{file.tokens:,}"))
            chip.setAccessibleName(self.tr("Attached: {0}").format(file.name))
            chip.setAutoRaise(True)
            chip.clicked.connect(lambda _=False, sha=file.sha256: self.removed.emit(sha))
            self._layout.insertWidget(position, chip)
            self.chips.append(chip)
        self._update_visible()

    def set_reading(self, reading: bool) -> None:
        self.reading.setVisible(reading)
        self._update_visible()

    def _update_visible(self) -> None:
        self.setVisible(bool(self.chips) or not self.reading.isHidden())


class SourceDialog(QDialog):
    """A source with the passages around it in its document; the passage is marked."""

    def __init__(self, source: SourceRef, number: int, context: tuple[str, str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("source-dialog")
        self.setWindowTitle(self.tr("Source [{0}]: {1}").format(number, where(source)))
        self.resize(640, 480)
        layout = QVBoxLayout(self)
        how = (self.tr("The model was given this page whole.") if source.whole
               else self.tr("The model was given the marked passage."))
        layout.addWidget(QLabel(f"<b>{html.escape(where(source))}</b> · {how}"))
        self.text = QTextBrowser(self)
        before, passage, after = context
        parts = []
        if before:
            parts.append(f"<p style='color: gray; white-space: pre-wrap'>"
                         f"{html.escape(before)}</p>")
        parts.append(f"<a name='passage'></a><p style='background: rgba(255, 214, 0, 0.35); "
                     f"white-space: pre-wrap'>{html.escape(passage)}</p>")
        if after:
            parts.append(f"<p style='color: gray; white-space: pre-wrap'>"
                         f"{html.escape(after)}</p>")
        self.text.setHtml("".join(parts))
        self.text.scrollToAnchor("passage")
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class FoldersDialog(QDialog):
    """Knowledge folders: which this conversation uses, add, remove, index again."""

    def __init__(self, folders: Sequence[str], enabled: Sequence[str],
                 stats: Callable[[str], tuple[int, int]], parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("folders-dialog")
        self.setWindowTitle(self.tr("Knowledge folders"))
        self.resize(560, 320)
        self.added: list[str] = []
        self.removed: list[str] = []
        self._stats = stats
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr(
            "Folders chatdesk can answer from. Ticked ones are used in this conversation; "
            "they are indexed in the background and kept up to date when files change.")))
        self.list = QListWidget(self)
        for folder in folders:
            self._add_item(folder, folder in enabled)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton(self.tr("Add folder…"), self)
        self.remove_button = QPushButton(self.tr("Remove"), self)
        self.reindex_button = QPushButton(self.tr("Index now"), self)
        for button in (self.add_button, self.remove_button, self.reindex_button):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.add_button.clicked.connect(self._choose)
        self.remove_button.clicked.connect(self._remove)
        self.reindex = False
        self.reindex_button.clicked.connect(self._reindex)

    def _add_item(self, folder: str, checked: bool) -> None:
        indexed, failed = self._stats(folder)
        label = f"{folder}  ({count_of(indexed, 'file')} indexed"
        label += f", {failed} unreadable)" if failed else ")"
        item = QListWidgetItem(label)
        item.setData(Qt.ItemDataRole.UserRole, folder)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.addItem(item)

    def _choose(self) -> None:
        folder = choose_folder(self, None)
        if folder and folder not in self.folders():
            self.added.append(folder)
            self._add_item(folder, True)

    def _remove(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.removed.append(item.data(Qt.ItemDataRole.UserRole))
            self.list.takeItem(self.list.row(item))

    def _reindex(self) -> None:
        self.reindex = True
        self.accept()

    def folders(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]

    def enabled(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]


class IndexingStatus:
    """"Indexing notes: 1,200 / 2,000 files" with a bar and Cancel, in the status bar."""

    def __init__(self, status: QStatusBar, cancel: Callable[[], None]) -> None:
        tr = status.tr
        self._tr = tr
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setObjectName("indexing-progress")
        self.bar.setMaximumWidth(160)
        self.bar.setAccessibleName(tr("Folder indexing progress"))
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.clicked.connect(cancel)
        for widget in (self.label, self.bar, self.cancel_button):
            status.addPermanentWidget(widget)
            widget.hide()

    def progress(self, step: FolderProgress) -> None:
        name = Path(step.folder).name or step.folder
        if step.total:
            self.bar.setRange(0, step.total)
            self.bar.setValue(step.done)
            self.label.setText(self._tr("Indexing {0}: {1:,} / {2:,} files").format(
                name, step.done, step.total))
        else:
            self.bar.setRange(0, 0)
            self.label.setText(self._tr("Looking for files in {0}…").format(name))
        for widget in (self.label, self.bar, self.cancel_button):
            widget.show()

    def finished(self, reports: Sequence[FolderReport]) -> str:
        """Hide; the words for what was done (for the status bar's message)."""
        for widget in (self.label, self.bar, self.cancel_button):
            widget.hide()
        if any(r.cancelled for r in reports):
            return self._tr("Indexing cancelled (what was read is kept)")
        files = sum(r.files for r in reports)
        failed = sum(len(r.failed) for r in reports)
        words = self._tr("Folders indexed: {0}").format(count_of(files, "file"))
        if failed:
            words += self._tr(", {0} unreadable").format(failed)
        return words
