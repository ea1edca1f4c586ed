"""The context meter under the input box: what sending the draft would take of the
context, live as the user types, which older messages would be left out, and how much of
the last prompt came from the KV cache.

Counting tokenizes with the loaded model, so it runs on the engine thread
(``ChatSession.count_context``); typing only restarts a short timer here, and one count
at a time is in flight. Words come from core/figures.py.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

from chatdesk.core.figures import (
    context_figure,
    documents_figure,
    dropped_turns_text,
    prompt_cache_text,
)
from chatdesk.session import AnswerFinished, ChatSession, ContextCount

COUNT_DELAY_MS = 250  # after the last keystroke


class ContextMeter(QLabel):
    def __init__(self, session: ChatSession, input_box: QPlainTextEdit,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.input_box = input_box
        self.setObjectName("context-meter")
        self.setAccessibleName(self.tr("Context used"))
        self.setStyleSheet("color: palette(placeholder-text)")
        self.setWordWrap(True)  # a long line wraps; it never widens the chat column
        self.setMinimumWidth(1)
        self._cache_line = ""
        self._warning = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COUNT_DELAY_MS)
        self._timer.timeout.connect(self.count_now)
        input_box.textChanged.connect(self.schedule)
        for signal in (session.thread_reset, session.message_added, session.model_loaded,
                       session.conversation_opened, session.prompt_changed,
                       session.documents.pending_changed):
            signal.connect(self.schedule)
        session.answer_done.connect(self._on_answer_done)
        session.context_counted.connect(self._on_counted)

    def schedule(self, *_changed: object) -> None:
        """Count again once the user pauses (whatever changed: draft, thread, model)."""
        self._timer.start()

    @Slot()
    def count_now(self) -> None:
        self._timer.stop()
        self.session.count_context(self.input_box.toPlainText())

    @Slot(object)
    def _on_answer_done(self, done: AnswerFinished) -> None:
        self._cache_line = prompt_cache_text(done.result.prompt_tokens,
                                             done.result.prompt_eval_tokens)
        self._timer.start()

    @Slot(object)
    def _on_counted(self, counted: ContextCount) -> None:
        count = counted.count
        parts = [context_figure(count.prompt_tokens, count.context_length)]
        if counted.document_tokens:
            parts.append(documents_figure(counted.document_tokens))
        dropped = dropped_turns_text(counted.dropped, count.too_long)
        self._warning = bool(dropped)
        if dropped:
            parts.append(dropped)
        if self._cache_line:
            parts.append(self._cache_line)
        self.setText(" · ".join(parts))
        self.setToolTip(self.tr(
            "Tokens the conversation, the system prompt and your draft take of the model's "
            "context ({0} kept free for the answer). Older messages are left out when it "
            "is full. 'From cache' tokens were not evaluated again.").format(
                count.answer_room))
        self.setStyleSheet("color: #b7791f" if self._warning
                           else "color: palette(placeholder-text)")
