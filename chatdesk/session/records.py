"""What ChatSession's signals carry, and its state: plain records the widgets read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from chatdesk.core.conversation import AnswerRecorder
from chatdesk.core.events import GenerationResult, PromptCount
from chatdesk.core.history import ThreadMessage


class SessionState(str, enum.Enum):
    NO_MODEL = "no_model"  # nothing loaded (yet, or the load failed)
    LOADING = "loading"
    IDLE = "idle"  # a model is loaded and nothing runs
    WAITING = "waiting"  # an answer was asked for; no token yet (prompt evaluation)
    STREAMING = "streaming"
    STOPPING = "stopping"  # Stop was pressed (or the chat left); the engine is winding down


@dataclass(frozen=True)
class AnswerStarted:
    answer_id: int
    model: str  # the model file, for the answer's heading
    text: str = ""  # a continued answer's text so far (the new text is appended to it)
    after: int | None = None  # continuing: the question it answers (its row is replaced)


@dataclass(frozen=True)
class AnswerFinished:
    """A visible answer ended: the stored message (with its statistics and energy)."""

    message: ThreadMessage
    result: GenerationResult
    energy_report: Any  # EnergyReport or None
    token_rates: tuple[tuple[float, float], ...]  # (s, tok/s) while it streamed


@dataclass(frozen=True)
class AnswerFailed:
    answer_id: int
    model: str
    title: str


@dataclass(frozen=True)
class ContextCount:
    """What sending the draft now would take of the context (the meter at the input box)."""

    count: PromptCount
    dropped: tuple[str, ...]  # the texts of the oldest messages that would be left out
    document_tokens: int = 0  # what the documents' passages take of it (estimated)


@dataclass(frozen=True)
class StepFailed:
    """A step of an answer could not be explained (no local model, a changed prompt)."""

    answer_id: int
    step: int
    message: str


@dataclass
class RunningAnswer:
    """The answer being generated now (at most one per session)."""

    request_id: int
    recorder: AnswerRecorder
    model: str
    visible: bool = True  # False once the user left its conversation
    streamed: bool = False
    token_rates: list[tuple[float, float]] = field(default_factory=list)
