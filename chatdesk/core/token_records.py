"""What was known about each generated token: its id, its text, its probability and the
alternatives the model gave most weight to.

These records are small and plain on purpose: they cross the worker boundary inside a
GenerationResult, are stored with the answer in the history (so the token view works on
old answers), and are printed by ``chatdesk generate --json``. The numbers come from
core/token_probs.py, which reads them from llama.cpp's logits as the answer streams.

Probabilities are the model's own (a softmax over the raw logits, temperature 1), not
the sampler's: they say what the model thought, before the sampling settings reshaped it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TOP_ALTERNATIVES = 5  # what the app keeps per token (the token view's hover list)
MAX_TOP_LOGPROBS = 20  # what `chatdesk generate --top-logprobs` may ask for


@dataclass(frozen=True)
class TokenAlternative:
    token: int
    text: str
    logprob: float

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class TokenRecord:
    """One generated token. ``text`` is what it added to the answer (a token that ends
    inside a UTF-8 character adds "" and the next one the whole character); ``top`` holds
    the most likely tokens at that step, the chosen one among them when it was likely."""

    token: int
    text: str
    logprob: float
    top: tuple[TokenAlternative, ...] = ()

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class TokenTrace:
    """Every token of one answer, and what is needed to explain a step again later: the
    seed the sampler really used (None when it drew none: greedy) and the prompt's size."""

    tokens: tuple[TokenRecord, ...] = ()
    seed: int | None = None
    prompt_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    def to_json(self) -> dict[str, Any]:
        """Compact: [id, text, logprob, [[id, text, logprob], ...]] per token."""
        return {
            "version": 1,
            "seed": self.seed,
            "prompt_tokens": self.prompt_tokens,
            "tokens": [[t.token, t.text, round(t.logprob, 6),
                        [[a.token, a.text, round(a.logprob, 6)] for a in t.top]]
                       for t in self.tokens],
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenTrace:
        """Tolerant: a damaged or foreign value gives an empty trace, never an exception."""
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            return cls()
        tokens: list[TokenRecord] = []
        try:
            for token, text, logprob, top in data["tokens"]:
                tokens.append(TokenRecord(int(token), str(text), float(logprob), tuple(
                    TokenAlternative(int(a), str(b), float(c)) for a, b, c in top)))
        except (TypeError, ValueError):
            return cls()
        seed = data.get("seed")
        prompt = data.get("prompt_tokens")
        extra = data.get("extra")
        return cls(tuple(tokens), seed if isinstance(seed, int) else None,
                   prompt if isinstance(prompt, int) else 0,
                   extra if isinstance(extra, dict) else {})

    def branched(self, step: int, forced: TokenAlternative,
                 rest: Sequence[TokenRecord], seed: int | None) -> TokenTrace:
        """The trace of an answer that kept this one's first ``step`` tokens, then had
        ``forced`` put in at ``step`` (with this step's alternatives), then went on as
        ``rest``."""
        head = self.tokens[:step]
        at = self.tokens[step]
        forced_record = TokenRecord(forced.token, forced.text, forced.logprob, at.top)
        return TokenTrace((*head, forced_record, *rest), seed, self.prompt_tokens,
                          {"branched_at": step})
