"""The response bodies, in OpenAI's shapes, and the ``usage`` that carries the energy.

``usage`` keeps OpenAI's three counts and adds what no other local server reports:
``energy_joules`` (what the machine used for this answer, from start of prompt
evaluation to the last token), ``energy_source`` (where that figure came from: ``rapl``,
``nvml``, ``powermetrics`` or ``estimate``, '+'-joined when several add up) and
``time_to_first_token_s``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from chatdesk.core.energy import EnergyReport
from chatdesk.core.events import GenerationResult, StopReason

FINISH_REASONS = {
    StopReason.EOS: "stop",
    StopReason.STOP_STRING: "stop",
    StopReason.USER_STOP: "stop",
    StopReason.LENGTH: "length",
    StopReason.CONTEXT_FULL: "length",
}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def finish_reason(result: GenerationResult) -> str:
    return FINISH_REASONS[result.stop_reason]


def usage(result: GenerationResult, energy: EnergyReport | None) -> dict[str, Any]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.generated_tokens,
        "total_tokens": result.prompt_tokens + result.generated_tokens,
        "energy_joules": energy.joules if energy is not None else None,
        "energy_source": energy.source if energy is not None else None,
        "time_to_first_token_s": result.ttft_s,
    }


class Reply:
    """One response's id, time and model, and the bodies built from them."""

    def __init__(self, model: str, chat: bool) -> None:
        self.chat = chat
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        self.model = model

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": None}

    def whole(self, result: GenerationResult, energy: EnergyReport | None) -> dict[str, Any]:
        """The non-streamed response."""
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0, "message": {"role": "assistant", "content": result.text},
                "logprobs": None, "finish_reason": finish_reason(result)}
            body = self._head("chat.completion")
        else:
            choice = {"index": 0, "text": result.text, "logprobs": None,
                      "finish_reason": finish_reason(result)}
            body = self._head("text_completion")
        return {**body, "choices": [choice], "usage": usage(result, energy)}

    def chunk(self, text: str | None = None, *, first: bool = False,
              finish: str | None = None) -> dict[str, Any]:
        """A streamed piece (``first``: the chat's opening chunk with the role)."""
        if not self.chat:
            return {**self._head("text_completion"), "choices": [
                {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}]}
        delta: dict[str, Any] = {}
        if first:
            delta = {"role": "assistant", "content": ""}
        elif text is not None:
            delta = {"content": text}
        return {**self._head("chat.completion.chunk"), "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def usage_chunk(self, result: GenerationResult,
                    energy: EnergyReport | None) -> dict[str, Any]:
        """The last streamed chunk when ``stream_options.include_usage`` asked for it."""
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(kind), "choices": [], "usage": usage(result, energy)}
