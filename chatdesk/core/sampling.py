"""Sampling parameters, validated before they reach llama.cpp.

llama.cpp accepts nonsense (a negative top-p, a 0 repeat penalty) and silently does something
odd; we refuse it with a message that names the field, so the UI and CLI can show it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from chatdesk.core.token_records import MAX_TOP_LOGPROBS

MAX_SEED = 2**32 - 2  # 2**32-1 is llama.cpp's LLAMA_DEFAULT_SEED ("random")


class InvalidParameterError(ValueError):
    """A sampling or load parameter is out of range; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class SamplingParams:
    """What the user controls per answer. ``seed=None`` means a new random seed each time."""

    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    max_tokens: int = 512
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_eos: bool = False  # keep going past end-of-generation, as benchmarks need
    # How many of the likeliest tokens to record at each step, with each token's own
    # probability (core/token_probs.py); 0 records nothing. Not a sampling control: it
    # changes no answer, only what is kept about it.
    top_logprobs: int = 0

    def validated(self) -> SamplingParams:
        """Return self if every field is in range, else raise InvalidParameterError."""
        _check_range("temperature", self.temperature, 0.0, 5.0)
        _check_int_range("top_k", self.top_k, 0, 100_000)
        _check_range("top_p", self.top_p, 0.0, 1.0)
        if self.top_p == 0.0:
            raise InvalidParameterError("top_p", "must be greater than 0 (1.0 turns it off)")
        _check_range("min_p", self.min_p, 0.0, 1.0)
        _check_range("repeat_penalty", self.repeat_penalty, 0.0, 5.0)
        if self.repeat_penalty == 0.0:
            raise InvalidParameterError("repeat_penalty", "must be greater than 0 (1.0 is off)")
        _check_int_range("repeat_last_n", self.repeat_last_n, 0, 1_000_000)
        _check_range("presence_penalty", self.presence_penalty, -2.0, 2.0)
        _check_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)
        if self.seed is not None:
            _check_int_range("seed", self.seed, 0, MAX_SEED)
        _check_int_range("max_tokens", self.max_tokens, 1, 1_000_000)
        _check_int_range("top_logprobs", self.top_logprobs, 0, MAX_TOP_LOGPROBS)
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) for s in self.stop):
            raise InvalidParameterError("stop", "must be a tuple of strings")
        if any(s == "" for s in self.stop):
            raise InvalidParameterError("stop", "stop strings must not be empty")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        """Build from stored JSON; unknown keys are ignored so old files keep loading."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "stop" in values:
            values["stop"] = tuple(values["stop"])
        return cls(**values)


GREEDY = SamplingParams(temperature=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                        seed=0)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if not _is_number(value) or value != value:  # NaN != NaN
        raise InvalidParameterError(name, f"must be a number, got {value!r}")
    if not low <= float(value) <= high:  # type: ignore[arg-type]
        raise InvalidParameterError(name, f"must be between {low:g} and {high:g}, got {value!r}")


def _check_int_range(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise InvalidParameterError(name, f"must be between {low} and {high}, got {value!r}")
