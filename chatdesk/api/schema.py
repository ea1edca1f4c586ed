"""What a client may send, checked before anything is queued on the engine.

Pydantic turns a wrong type into a 422; the checks pydantic cannot express (an empty
message list, ``n`` other than 1, too many stop strings, a sampling value out of the range
chatdesk accepts) become a 400. Either way the body is OpenAI's
``{"error": {"message", "type", "code", "param"}}``, so every OpenAI client shows it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chatdesk.core.events import ChatMessage
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

MAX_STOP_STRINGS = 4  # OpenAI's own limit


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.code, self.param)


def error_body(message: str, kind: str, code: str | None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


class _Request(BaseModel):
    # Clients send fields we do not use (user, logprobs, metadata...): ignored, as OpenAI-
    # compatible servers do, rather than refused.
    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    # llama.cpp's extras, as llama-server names them
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    ignore_eos: bool = False

    def sampling(self, defaults: SamplingParams, context_length: int) -> SamplingParams:
        """The request's sampling over the defaults; max_tokens is capped by the context."""
        if self.n != 1:
            raise ApiError(400, "Only n=1 is supported.", code="unsupported_value",
                           param="n")
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > MAX_STOP_STRINGS:
            raise ApiError(400, f"At most {MAX_STOP_STRINGS} stop strings are allowed.",
                           code="invalid_value", param="stop")
        given = {name: getattr(self, name) for name in (
            "temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "top_k",
            "min_p", "repeat_penalty")}
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        requested = self.requested_max_tokens()
        changes["max_tokens"] = context_length if requested is None else min(
            requested, context_length)
        changes["stop"] = tuple(stop)
        changes["ignore_eos"] = self.ignore_eos
        try:
            return dataclasses.replace(defaults, **changes).validated()
        except InvalidParameterError as exc:
            raise ApiError(400, str(exc), code="invalid_value", param=exc.field) from exc

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


class StreamOptions(BaseModel):
    include_usage: bool = False


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def to_chat_message(self) -> ChatMessage:
        text = (self.content if isinstance(self.content, str)
                else "".join(part.text for part in self.content or []))
        return ChatMessage("system" if self.role == "developer" else self.role, text)


class ChatCompletionRequest(_Request):
    messages: list[Message]
    max_completion_tokens: int | None = None  # the newer name of max_tokens

    def chat_messages(self) -> list[ChatMessage]:
        if not self.messages:
            raise ApiError(400, "messages must not be empty.", code="invalid_value",
                           param="messages")
        return [message.to_chat_message() for message in self.messages]

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None \
            else self.max_tokens


class CompletionRequest(_Request):
    prompt: str | list[str]

    def prompt_text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise ApiError(400, "Give one prompt (a string, or a list of one string).",
                               code="unsupported_value", param="prompt")
            return self.prompt[0]
        return self.prompt


_Request.model_rebuild()
ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
