"""Read each generated token's probability and its top alternatives from llama.cpp.

Why it is cheap enough to leave on for every answer (the bench's ``logprobs_overhead``):
the logits row llama.cpp already holds for the last token is read in place (no copy),
and per token we do one max, one exp-and-sum (the softmax's normaliser) and pick the top
k among the few logits near the maximum, instead of sorting or arg-partitioning the whole
vocabulary (262,144 entries for Gemma 3: a full argpartition costs more than the exp).

Qt-free; runs on the engine thread inside the generation loop.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chatdesk.core.llama_runtime import cached_prefix
from chatdesk.core.token_records import TokenAlternative, TokenRecord, TokenTrace

# Logit gaps below the maximum searched for the top k, narrowest first: a token more than
# 16 below the best has a probability under e^-16 (1e-7) of the best one's.
_GAPS = (4.0, 8.0, 16.0)
_MANY = 512  # more candidates than this: arg-partition them rather than sort them


def logits_row(llama: Any) -> np.ndarray:
    """The logits llama.cpp computed for the last decoded token, as a view (no copy)."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(int(llama._n_vocab),))


def logits_after(llama: Any, tokens: list[int]) -> np.ndarray:
    """The raw logits the model gives after ``tokens`` (a copy): what it saw when it chose
    the next token. The KV cache keeps its longest common prefix with ``tokens`` and only
    the rest is evaluated, so explaining step n of the last answer costs n tokens at most.
    The next answer reuses what is left, as it always does (Llama.generate matches the
    prefix).
    """
    if not tokens:
        raise ValueError("no tokens to continue")
    keep = cached_prefix(llama, tokens)
    llama.n_tokens = keep
    llama.eval(tokens[keep:])  # removes what the cache held past ``keep`` first
    return logits_row(llama).copy()


def top_ids(logits: np.ndarray, k: int, best: float) -> np.ndarray:
    """The ids of the ``k`` largest logits, largest first (ties: the lower id first)."""
    for gap in _GAPS:
        candidates = np.flatnonzero(logits >= best - gap)
        if len(candidates) >= k:
            break
    else:
        candidates = np.arange(len(logits))
    if len(candidates) > _MANY:
        candidates = candidates[np.argpartition(-logits[candidates], k - 1)[:k]]
    order = np.lexsort((candidates, -logits[candidates]))
    return candidates[order[:k]]


def log_normaliser(logits: np.ndarray, scratch: np.ndarray) -> tuple[float, float]:
    """(max logit, log of the softmax's denominator), in float64 like a careful softmax."""
    best = float(logits.max())
    np.subtract(logits, best, out=scratch)
    np.exp(scratch, out=scratch)
    return best, best + float(np.log(scratch.sum(dtype=np.float64)))


class TokenProbe:
    """Records every token of one generation with its top-``k`` alternatives.

    ``take`` is called once per token, right after the sampler chose it and before the
    next decode overwrites the logits. Token texts of the alternatives are looked up once
    per distinct token (``piece``).
    """

    def __init__(self, llama: Any, k: int, piece: Any, seed: int | None,
                 prompt_tokens: int) -> None:
        self._llama = llama
        self._k = max(1, int(k))
        self._piece = piece  # token id -> bytes
        self._seed = seed
        self._prompt_tokens = prompt_tokens
        self._scratch = np.empty(int(llama._n_vocab), dtype=np.float32)
        self._steps: list[tuple[int, float, np.ndarray, np.ndarray]] = []
        self._texts: list[str] = []

    @classmethod
    def for_generation(cls, llama: Any, params: Any, seed: int,
                       prompt_tokens: int) -> TokenProbe | None:
        """The probe a generation with ``params`` (SamplingParams) asks for, or None when
        it asks for no alternatives. The seed is kept only when the sampler draws with it
        (temperature above 0): a greedy answer needs none to be explained."""
        if not params.top_logprobs:
            return None
        return cls(llama, params.top_logprobs, piece_reader(llama._model.vocab),
                   seed if params.temperature > 0 else None, prompt_tokens)

    def take(self, token: int) -> None:
        logits = logits_row(self._llama)
        best, log_z = log_normaliser(logits, self._scratch)
        ids = top_ids(logits, self._k, best)
        self._steps.append((token, float(logits[token]) - log_z, ids,
                            logits[ids].astype(np.float64) - log_z))

    def text(self, piece_text: str) -> None:
        """What the last token added to the answer's text (the engine's own decoding)."""
        self._texts.append(piece_text)

    def trace(self) -> TokenTrace:
        names: dict[int, str] = {}

        def name(token: int) -> str:
            if token not in names:
                names[token] = bytes(self._piece(token)).decode("utf-8", errors="replace")
            return names[token]

        records = []
        for i, (token, logprob, ids, logprobs) in enumerate(self._steps):
            text = self._texts[i] if i < len(self._texts) else name(token)
            top = tuple(TokenAlternative(int(t), name(int(t)), float(p))
                        for t, p in zip(ids, logprobs, strict=True))
            records.append(TokenRecord(int(token), text, logprob, top))
        return TokenTrace(tuple(records), self._seed, self._prompt_tokens)


def piece_reader(vocab: Any) -> Any:
    """token id -> its bytes, through llama.cpp's detokenizer (specials rendered)."""
    import llama_cpp

    def piece(token: int) -> bytes:
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, True)
            if n >= 0:
                return buffer.raw[:n]
            size = -n

    return piece
