"""The session's side of "under the hood": an answer's stored tokens, a branch at one
token, and a step's logits read again on the engine thread (issue 14)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from chatdesk.core.conversation import prompt_messages
from chatdesk.core.history import HistoryError, StoredMessage
from chatdesk.core.sampling_chain import read_step_logits
from chatdesk.core.token_records import TokenTrace
from chatdesk.session.history_guard import reports_history_errors
from chatdesk.session.records import SessionState, StepFailed

log = logging.getLogger(__name__)


class StepRelay(QObject):
    """Brings an engine-thread job's result to the GUI thread (a queued signal)."""

    ready = Signal(object)


class TokenActions:
    """ChatSession's token-view methods (a mixin: they use the session's history, thread,
    engine host and state)."""

    def token_trace(self, answer_id: int) -> TokenTrace | None:
        """The answer's tokens with their probabilities (None: none were recorded)."""
        try:
            return self.history.token_trace(answer_id)
        except HistoryError as exc:
            log.warning("could not read the tokens of answer %d: %s", answer_id, exc)
            return None

    def _answer_in_thread(self, answer_id: int
                          ) -> tuple[StoredMessage, TokenTrace] | None:
        message = self.history.message(answer_id)
        trace = self.token_trace(answer_id)
        if (message is None or message.role != "assistant" or trace is None
                or all(m.id != message.parent_id for m in self.thread)):
            return None
        return message, trace

    @reports_history_errors
    def branch_at_token(self, answer_id: int, step: int, token: int) -> bool:
        """A new alternative answer that keeps the first ``step`` tokens of this one, has
        ``token`` (one of the alternatives recorded at that step) forced in there, and
        goes on from it. It joins the answer's alternatives (‹ n/m ›)."""
        found = self._answer_in_thread(answer_id)
        if found is None or self.busy or not self.ready:
            return False
        message, trace = found
        if not 0 <= step < len(trace.tokens):
            return False
        forced = next((a for a in trace.tokens[step].top if a.token == token), None)
        if forced is None or message.parent_id is None:
            return False
        head = ("".join(t.text for t in trace.tokens[:step]) + forced.text).lstrip()
        self._trim_to(message.parent_id)
        self._start_answer(message.parent_id, branch=(head, lambda new: trace.branched(
            step, forced, new.tokens, new.seed)))
        return True

    def request_step(self, answer_id: int, step: int) -> bool:
        """Read, on the engine thread, what explaining token ``step`` of this answer
        needs (its logits there); ``step_ready`` brings StepLogits or StepFailed."""
        found = self._answer_in_thread(answer_id)
        if found is None or self.model is None or self.state is SessionState.LOADING:
            return False
        message, trace = found
        assert message.parent_id is not None
        messages = prompt_messages(self.thread, message.parent_id, self.system_prompt)
        engine, relay, max_tokens = self.host.engine, self._relay, self.sampling.max_tokens

        def job() -> None:
            try:
                result: object = read_step_logits(engine, messages, trace, step, answer_id,
                                                  max_tokens)
            except Exception as exc:  # a server's model, a template error: said, not raised
                log.info("step %d of answer %d not explained: %s", step, answer_id, exc)
                result = StepFailed(answer_id, step, str(exc) if not isinstance(
                    exc, AttributeError) else "Only a model running here can show this.")
            relay.ready.emit(result)

        self.host.call(job)
        return True
