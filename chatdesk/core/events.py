"""Plain frozen dataclasses that cross the worker/UI boundary.

The worker's queued signals carry only these: never a Qt object, never the ``Llama``
instance. They are also what the CLI, the bench and the tests consume.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

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

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_eval_tokens / self.prompt_eval_s if self.prompt_eval_s > 0 else 0.0

    @property
    def generation_tokens_per_s(self) -> float:
        """Decode speed: n tokens span n-1 intervals after the first (which is prompt eval)."""
        if self.generated_tokens < 2 or self.generation_s <= 0:
            return 0.0
        return (self.generated_tokens - 1) / self.generation_s


@dataclass(frozen=True)
class AnswerEnergy:
    """What one answer cost in energy; sent just before its GenerationResult."""

    request_id: int
    report: Any  # chatdesk.core.energy.EnergyReport (kept untyped: events stays import-free)


@dataclass(frozen=True)
class ErrorEvent:
    """A failure the UI shows as a message, not a traceback."""

    request_id: int
    title: str
    message: str
