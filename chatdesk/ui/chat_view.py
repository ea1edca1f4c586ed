"""The conversation, shown as a document that streamed text is appended to.

Text arrives per token (up to hundreds per second); it is buffered and appended to the end
of the document at most ~30 times a second, never re-rendering what is already there.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

FLUSH_INTERVAL_MS = 33

_ROLE_STYLE = {
    "user": ("You", "#2b6cb0"),
    "assistant": ("Assistant", "#2f855a"),
    "system": ("System", "#718096"),
}


class ChatView(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setAccessibleName(self.tr("Conversation"))
        self.document().setDocumentMargin(12)
        self._pending = ""
        self._streaming = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)

    # -- whole messages -----------------------------------------------------------------
    def add_message(self, role: str, text: str, title: str | None = None) -> None:
        self._insert_header(role, title)
        self._append_plain(text)

    def clear_conversation(self) -> None:
        self.end_answer(None)
        self.clear()

    # -- a streamed answer --------------------------------------------------------------
    def begin_answer(self, title: str) -> None:
        self._insert_header("assistant", title)
        self._streaming = True
        self._flush_timer.start()

    def append_stream(self, text: str) -> None:
        """Buffer streamed text; the timer appends it to the document."""
        self._pending += text

    def flush(self) -> None:
        if self._pending:
            text, self._pending = self._pending, ""
            self._append_plain(text)

    def end_answer(self, note: str | None) -> None:
        """Stop streaming; ``note`` (stats, "stopped") goes under the answer in grey."""
        self._flush_timer.stop()
        self.flush()
        if self._streaming and note:
            self._append_html(f'<br><span style="color:#718096; font-size:small">'
                              f"{html.escape(note)}</span>")
        self._streaming = False

    @property
    def streaming(self) -> bool:
        return self._streaming

    # -- document plumbing --------------------------------------------------------------
    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_header(self, role: str, title: str | None) -> None:
        label, color = _ROLE_STYLE.get(role, (role, "#4a5568"))
        gap = "" if self.document().isEmpty() else "<br><br>"
        self._append_html(f'{gap}<b style="color:{color}">{html.escape(title or label)}</b><br>')

    def _append_html(self, fragment: str) -> None:
        follow = self._at_bottom()
        self._end_cursor().insertHtml(fragment)
        if follow:
            self._scroll_to_bottom()

    def _append_plain(self, text: str) -> None:
        follow = self._at_bottom()
        cursor = self._end_cursor()
        cursor.setCharFormat(QTextCharFormat())  # plain text, not the header's bold colour
        cursor.insertText(text)
        if follow:
            self._scroll_to_bottom()

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def plain_text(self) -> str:
        return self.toPlainText()
