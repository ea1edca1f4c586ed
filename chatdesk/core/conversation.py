"""One exchange in a stored conversation, the same for the window and the headless CLI.

The window's ChatSession and ``chatdesk chat`` both go through these functions, so a
question is stored, a prompt is built and a streamed answer is kept in exactly one way:
the answer row is begun before the first token, its text is appended in batches (so a
crash keeps the partial answer, marked incomplete on the next start) and it is finished
with its statistics and energy.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdesk.core.documents.grounding import NO_GROUNDING, Grounding, with_passages
from chatdesk.core.events import ChatMessage, GenerationResult, StopReason
from chatdesk.core.figures import AnswerStats
from chatdesk.core.history import (
    Conversation,
    FileRef,
    HistoryStore,
    NewMessage,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.token_records import TokenTrace

TITLE_CHARS = 48
API_ORIGIN = "api"  # settings["origin"] of a conversation that came through chatdesk's API
API_TITLE_PREFIX = "API: "


def title_from(text: str) -> str:
    """A conversation's first title: its first message on one line, cut with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + "…"


def prompt_messages(thread: Sequence[ThreadMessage], parent_id: int,
                    system_prompt: str) -> list[ChatMessage]:
    """What the engine is given to answer ``parent_id``: the path up to it, with the
    conversation's system prompt first (stored system rows are not sent twice)."""
    end = next(i for i, message in enumerate(thread) if message.id == parent_id)
    messages = [m.to_chat_message() for m in thread[:end + 1] if m.role != "system"]
    if system_prompt.strip():
        messages.insert(0, ChatMessage("system", system_prompt.strip()))
    return messages


@dataclass(frozen=True)
class Question:
    """A stored user message and the conversation it is in (created when it was new)."""

    conversation_id: int
    message: StoredMessage


def store_question(history: HistoryStore, text: str, *, conversation_id: int | None,
                   system_prompt: str, sampling: SamplingParams, model: str,
                   editing_id: int | None = None) -> Question:
    """Store what the user typed: a new conversation when there is none, an edit as a new
    branch beside the edited message, else a message under the current leaf."""
    if conversation_id is None:
        conversation = history.create_conversation(
            title_from(text), system_prompt=system_prompt,
            settings={"sampling": sampling.to_dict()}, model=model)
        conversation_id = conversation.id
    if editing_id is not None:
        message = history.edit_message(editing_id, text)
    else:
        message = history.add_message(conversation_id, "user", text)
    return Question(conversation_id, message)


class AnswerRecorder:
    """Writes one streaming answer to the history.

    ``add`` only buffers; ``flush`` writes the buffer in one transaction. The caller
    decides how often to flush (the window: a few times a second; the CLI: at the end), so
    the cost of the history never lands on each token.
    """

    def __init__(self, history: HistoryStore, conversation_id: int, parent_id: int, *,
                 model: str, sampling: SamplingParams,
                 continuing: StoredMessage | None = None) -> None:
        """``continuing``: a stored answer to write on ("continue anyway"): its text is
        kept and the new text is appended to the same message, not to a new one."""
        self.history = history
        self.conversation_id = conversation_id
        self.head = ""  # text the answer starts with that the engine did not write
        self._branch: Callable[[TokenTrace], TokenTrace | None] | None = None
        if continuing is None:
            self.answer_id = history.begin_answer(conversation_id, parent_id, model=model,
                                                  sampling=sampling.to_dict()).id
            self.prefix = ""
        else:
            self.answer_id = history.resume_answer(continuing.id).id
            self.prefix = continuing.content
            self._branch = _continued_trace(history.token_trace(continuing.id))
        self._unsaved: list[str] = []
        self.text = self.prefix  # everything so far, saved or not
        self.finished = False

    def start_branch(self, head: str, trace: Callable[[TokenTrace], TokenTrace]) -> None:
        """This answer continues ``head`` (an earlier answer's first tokens and a token
        the user forced): it is stored in front of the engine's text, and ``trace`` turns
        the engine's token trace into the whole answer's."""
        self.head = head
        self._branch = trace
        self.add(head)

    def add(self, piece: str) -> None:
        self._unsaved.append(piece)
        self.text += piece

    def flush(self) -> None:
        if self._unsaved and not self.finished:
            self.history.append_answer_text(self.answer_id, "".join(self._unsaved))
        self._unsaved.clear()

    def finish(self, result: GenerationResult,
               energy: dict[str, Any] | None = None) -> StoredMessage:
        """The engine returned (by EOS, a stop string, the limit or the user's Stop: the
        stop reason tells which). A continued answer keeps the figures of its last part."""
        self._unsaved.clear()
        self.finished = True
        trace = result.trace
        if trace is not None and self._branch is not None:
            trace = self._branch(trace)
        if trace:
            self.history.set_token_trace(self.answer_id, trace)
        return self.history.finish_answer(
            self.answer_id, content=self.prefix + self.head + result.text, state="complete",
            stop_reason=result.stop_reason.value, stats=AnswerStats.from_result(result).to_dict(),
            energy=energy)

    def fail(self) -> StoredMessage | None:
        """The engine failed mid-answer: keep what was streamed, marked as an error."""
        return self._close("error", None)

    def interrupt(self) -> StoredMessage | None:
        """The app is closing or the answer was abandoned: keep the text, incomplete."""
        return self._close("incomplete", StopReason.USER_STOP.value)

    def _close(self, state: str, stop_reason: str | None) -> StoredMessage | None:
        if self.finished:
            return None
        self.finished = True
        self._unsaved.clear()
        return self.history.finish_answer(self.answer_id, content=self.text, state=state,
                                          stop_reason=stop_reason, stats={})


def _continued_trace(earlier: TokenTrace | None) -> Callable[[TokenTrace], TokenTrace | None]:
    """A continued answer's trace is its earlier tokens and then the new ones; without an
    earlier trace none is kept (half an answer's tokens would mislead the token view)."""
    def whole(later: TokenTrace) -> TokenTrace | None:
        if earlier is None:
            return None
        return dataclasses.replace(earlier, tokens=earlier.tokens + later.tokens,
                                   extra={**earlier.extra,
                                          "continued_at": len(earlier.tokens)})
    return whole


def record_exchange(history: HistoryStore, messages: Sequence[ChatMessage],
                    result: GenerationResult, *, energy: dict[str, Any] | None, model: str,
                    sampling: SamplingParams, origin: str = API_ORIGIN) -> Conversation:
    """Keep a whole exchange that arrived at once (an API request) as a new conversation,
    marked with its origin (``settings["origin"]`` and a title prefix): the messages sent,
    then the answer with the same statistics and energy a window answer keeps."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns = [m for m in messages if m.role != "system"]
    asked = next((m.content for m in reversed(turns) if m.role == "user"), "")
    rows = [NewMessage(i, i - 1 if i else None, m.role, m.content)
            for i, m in enumerate(turns)]
    rows.append(NewMessage(len(turns), len(turns) - 1 if turns else None, "assistant",
                           result.text, model=model, sampling=sampling.to_dict(),
                           stats=AnswerStats.from_result(result).to_dict(), energy=energy,
                           state="complete", stop_reason=result.stop_reason.value))
    return history.import_conversation(
        API_TITLE_PREFIX + title_from(asked), rows, system_prompt=system,
        settings={"sampling": sampling.to_dict(), "origin": origin}, model=model)


@contextlib.contextmanager
def headless_exchange(database: Path | None, text: str, *, system_prompt: str,
                      sampling: SamplingParams, model: str, files: Sequence[FileRef] = (),
                      grounding: Grounding = NO_GROUNDING
                      ) -> Iterator[tuple[list[ChatMessage], AnswerRecorder | None]]:
    """One question asked from the command line (`chatdesk chat`, local or --server): the
    prompt to send and the recorder of its answer, in a new conversation. ``database``
    None (--no-save) stores nothing and gives no recorder. ``files`` (attached) and
    ``grounding`` (their passages for this question) are kept with the question and the
    answer, as the window keeps them. Raises HistoryError when the history cannot be
    opened or written."""
    if database is None:
        messages = [ChatMessage("user", text)]
        if system_prompt.strip():
            messages.insert(0, ChatMessage("system", system_prompt.strip()))
        yield with_passages(messages, grounding), None
        return
    with HistoryStore.open(database) as history:
        with history.transaction():
            question = store_question(history, text, conversation_id=None,
                                      system_prompt=system_prompt, sampling=sampling,
                                      model=model)
            history.add_message_files(question.message.id, files)
        messages = prompt_messages(history.thread(question.conversation_id),
                                   question.message.id, system_prompt)
        recorder = AnswerRecorder(history, question.conversation_id, question.message.id,
                                  model=model, sampling=sampling)
        if grounding.passages:
            history.set_message_sources(recorder.answer_id, grounding.passages)
        yield with_passages(messages, grounding), recorder
