"""ChatSession, the conversation controller between the window and the threads.

``controller`` holds the request lifecycle; ``documents`` and ``tokens`` are its
document and under-the-hood methods; ``records`` what its signals carry.
"""

from chatdesk.session.controller import IDLE_SAVE_MS, SAVE_STREAM_MS, ChatSession
from chatdesk.session.records import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    ContextCount,
    SessionState,
    StepFailed,
)

__all__ = ["IDLE_SAVE_MS", "SAVE_STREAM_MS", "AnswerFailed", "AnswerFinished", "AnswerStarted",
           "ChatSession", "ContextCount", "SessionState", "StepFailed"]
