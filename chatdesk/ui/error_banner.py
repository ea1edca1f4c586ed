"""An inline, dismissible error message: no modal dialog blocks the chat (or a test)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class ErrorBanner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background: #fde8e8; border: 1px solid #f5a3a3;"
                           " border-radius: 4px; } QLabel { color: #9b1c1c; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setAccessibleName(self.tr("Error message"))
        close = QPushButton(self.tr("Dismiss"), self)
        close.setAccessibleName(self.tr("Dismiss error"))
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_error(self, title: str, message: str) -> None:
        self.label.setText(f"<b>{title}</b><br>{message}")
        self.show()

    def text(self) -> str:
        return self.label.text()
