"""The middle column: error banner, the conversation (or the first-start hint and the
first-run card), the edit notice, and the message box with Send and Stop. Widgets only;
the window wires them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from chatdesk.ui.chat import MessageView
from chatdesk.ui.documents import AttachmentBar
from chatdesk.ui.error_banner import ErrorBanner
from chatdesk.ui.icons import icon
from chatdesk.ui.input_box import InputBox

# Shown in an empty chat. The offline default (SmolLM2 135M Instruct) follows a chat but
# knows few facts: say so plainly, and where the stronger models are.
EMPTY_HINT = (
    "<h3>Ask anything.</h3>Enter sends, Shift+Enter starts a new line, Esc stops the "
    "answer.<br><br>The built-in model (SmolLM2 135M) is tiny: it works offline and "
    "can chat, but it gets facts wrong. For better answers, get a stronger model in "
    "<b>Models › Manage models</b> (Ctrl+M).")
CARD_MAX_WIDTH = 620  # px: the card's sentences stay readable lines in a wide window


class ChatColumn(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.error_banner = ErrorBanner(self)
        self.chat_view = MessageView(self)
        self.chat_view.setAccessibleName(self.tr("Conversation"))
        self.edit_label = QLabel()
        self.edit_label.setStyleSheet("color: #b7791f")
        self.edit_label.setWordWrap(True)
        self.edit_label.hide()
        self.input_box = InputBox(self)
        self.send_button = QPushButton(icon("send"), self.tr("Send"), self)
        self.send_button.setAccessibleName(self.tr("Send message"))
        self.send_button.setToolTip(self.tr("Send (Enter or Ctrl+Enter)"))
        self.stop_button = QPushButton(icon("stop"), self.tr("Stop"), self)
        self.stop_button.setAccessibleName(self.tr("Stop generating"))
        self.stop_button.setToolTip(self.tr("Stop the answer (Esc)"))
        self.attach_button = QToolButton(self)
        self.attach_button.setIcon(icon("attach"))
        if self.attach_button.icon().isNull():
            self.attach_button.setText("📎")
        self.attach_button.setAccessibleName(self.tr("Attach files"))
        self.attach_button.setToolTip(self.tr("Attach files (PDF, DOCX, HTML, text): or "
                                              "drop them on the window, or paste them"))
        self.attachment_bar = AttachmentBar(self)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.input_box, 1)
        row.addLayout(buttons)
        self.empty_hint = QLabel(self.tr(EMPTY_HINT))
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setContentsMargins(40, 20, 40, 20)
        self.empty_hint.setStyleSheet("color: palette(placeholder-text)")
        # The first-run card (ui/first_run_card.py) goes here, under the hint, centred and
        # no wider than a comfortable line: see ``place_card``.
        self.card_row = QHBoxLayout()
        self.card_row.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error_banner)
        layout.addWidget(self.empty_hint)
        layout.addLayout(self.card_row)
        layout.addWidget(self.chat_view, 1)
        layout.addWidget(self.edit_label)
        layout.addWidget(self.attachment_bar)
        layout.addLayout(row)

    def place_card(self, card: QWidget) -> None:
        """Put the first-run card under the empty chat's hint."""
        card.setMaximumWidth(CARD_MAX_WIDTH)
        self.card_row.addStretch(1)
        self.card_row.addWidget(card, 100)
        self.card_row.addStretch(1)
