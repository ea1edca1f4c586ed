"""Plain frozen dataclasses that cross the worker/UI boundary.

The worker's queued signals carry only these: never a Qt object, never the ``Llama``
instance. They are also what the CLI, the bench and the tests consume.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from chatdesk.core.token_records import TokenTrace
from chatdesk.core.units import decode_rate, prompt_rate

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


class StopReason(str, enum.Enum):
    EOS = "eos"  # the model said it was done
    LENGTH = "length"  # max_tokens reached
    STOP_STRING = "stop_string"  # one of the user's stop strings appeared
    USER_STOP = "user_stop"  # the user pressed Stop / Esc
    CONTEXT_FULL = "context_full"  # the context window filled up mid-answer
    REPETITION = "repetition"  # the loop guard saw the answer repeat one span over and over


@dataclass(frozen=True)
class ModelInfo:
    """What actually loaded, as llama.cpp reports it."""

    path: str
    name: str
    architecture: str
    parameters: int
    quantization: str
    trained_context: int
    context_length: int
    backend: str  # "CUDA", "Metal", "Vulkan", ... or "CPU"
    gpu_layers_offloaded: int
    total_layers: int
    threads: int
    chat_template_name: str  # "gguf" when the file's own template is used
    chat_template_source: str  # human words for the UI: where the template came from
    file_size: int


@dataclass(frozen=True)
class LoadProgress:
    stage: str
    fraction: float | None  # None: indeterminate


@dataclass(frozen=True)
class TokenChunk:
    """New answer text, already valid UTF-8 (never half a character)."""

    request_id: int
    text: str
    tokens_so_far: int
    elapsed_s: float
    context_used: int = 0  # prompt + answer so far, as the model's context holds them


@dataclass(frozen=True)
class GenerationResult:
    request_id: int
    text: str
    stop_reason: StopReason
    prompt_tokens: int  # the whole rendered prompt
    prompt_eval_tokens: int  # what had to be evaluated (the rest came from the KV cache)
    prompt_eval_s: float
    generated_tokens: int  # every token sampled, the end-of-generation token included
    generation_s: float  # first token to last token
    ttft_s: float  # request to first token: includes prompt eval
    total_s: float
    dropped_turns: int  # older turns left out because the conversation outgrew the context
    context_used: int
    context_length: int
    # Who wrote it and where each figure came from. A local answer keeps the defaults; a
    # remote one says its server, which figures are the server's own (``server``: its
    # usage and timings, e.g. tokens_per_s) and anything to tell the user once (``notes``).
    engine: str = "llama.cpp"  # "llama.cpp" or "remote"
    server: str | None = None  # the base URL of the server that wrote it
    sources: dict[str, str] = field(default_factory=dict)  # figure -> where it came from
    server_figures: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # Each token with its probability and top alternatives, when the request asked for
    # them (SamplingParams.top_logprobs); None otherwise, and for a server's answer.
    trace: TokenTrace | None = None

    @property
    def prompt_tokens_per_s(self) -> float:
        return prompt_rate(self.prompt_eval_tokens, self.prompt_eval_s)

    @property
    def generation_tokens_per_s(self) -> float:
        """Decode speed (figures.decode_rate says how it is counted)."""
        return decode_rate(self.generated_tokens, self.generation_s)


@dataclass(frozen=True)
class AnswerDone:
    """The one end-of-answer event: the result and, when a meter ran, its energy."""

    request_id: int
    result: GenerationResult
    energy: Any = None  # chatdesk.core.energy.EnergyReport (untyped: events stays import-free)


@dataclass(frozen=True)
class ErrorEvent:
    """A failure the UI shows as a message, not a traceback. ``request_id`` is the load's
    or the answer's: they arrive on different signals, so the ids never mix."""

    request_id: int
    title: str
    message: str


@dataclass(frozen=True)
class PromptCount:
    """What a prompt would take of the context, counted by the model's own tokenizer on
    the rendered prompt (the context meter at the input box shows it)."""

    prompt_tokens: int  # as it would be sent: older turns already dropped to fit
    context_length: int
    answer_room: int  # kept free for the answer
    dropped_messages: int  # the oldest messages (after the system prompt) left out
    too_long: bool = False  # even the last message alone leaves no room to answer
    request_id: int = 0
