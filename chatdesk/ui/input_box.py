"""The message box: Enter (or Ctrl+Enter) sends, Shift+Enter starts a new line. Files
pasted into it (copied in a file manager) are attached rather than pasted as text."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class InputBox(QPlainTextEdit):
    submitted = Signal(str)
    files_pasted = Signal(object)  # list[Path]: local files pasted or dropped here

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(self.tr("Message the model (Enter sends, Shift+Enter: new line)"))
        self.setAccessibleName(self.tr("Message"))
        self.setTabChangesFocus(True)
        self.setMaximumHeight(120)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return bool(_local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = _local_files(source)
        if files:
            self.files_pasted.emit(files)
        else:
            super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        is_enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if is_enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            text = self.toPlainText().strip()
            if text:
                self.submitted.emit(text)
            return
        super().keyPressEvent(event)


def _local_files(source: QMimeData) -> list[Path]:
    if not source.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in source.urls()
            if url.isLocalFile() and Path(url.toLocalFile()).is_file()]
