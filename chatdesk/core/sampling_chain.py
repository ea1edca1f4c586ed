"""One sampling step explained: the candidates at each stage of llama.cpp's sampler chain.

It reproduces, in numpy, the chain llama-cpp-python 0.3 builds in ``Llama._init_sampler``
(checked in its vendored llama.cpp, src/llama-sampler.cpp), in its real order:

    penalties (repeat, frequency, presence) → top-k → top-p → min-p → temperature → draw

Temperature comes *last* there: top-p and min-p choose among the probabilities at
temperature 1, and temperature only reshapes what they kept. A temperature of 0 is
greedy: after the penalties, the largest logit wins and nothing is drawn.

The draw is reproduced too: llama.cpp's ``dist`` sampler seeds a ``std::mt19937`` once
per answer and takes one ``uniform_real_distribution<double>`` value (two 32-bit outputs)
per token, then walks the kept candidates in their current order until the running sum
reaches that fraction. With the seed the answer used, step *n* is the (2n, 2n+1)-th
outputs, so the chosen token can be recomputed — the tests check it against the real one.

The penalties see the tokens the sampler accepted: the answer's own earlier tokens (the
last ``repeat_last_n``), never the prompt's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chatdesk.core.sampling import SamplingParams

SHOWN = 8  # candidates shown per stage


@dataclass(frozen=True)
class Candidate:
    token: int
    text: str
    probability: float  # at this stage, among the candidates still kept


@dataclass(frozen=True)
class Stage:
    name: str  # 'raw', 'penalties', 'filters', 'temperature'
    kept: int  # how many candidates are left
    top: tuple[Candidate, ...]  # the likeliest, most likely first


@dataclass(frozen=True)
class StepExplanation:
    stages: tuple[Stage, ...]
    chosen: int  # the token this chain picks
    chosen_text: str
    greedy: bool  # temperature 0: the largest logit, no draw
    draw: float | None  # the uniform fraction drawn (None when greedy)


class MT19937:
    """The 32-bit Mersenne Twister as ``std::mt19937`` (seeded with one integer)."""

    def __init__(self, seed: int) -> None:
        self._state = [0] * 624
        self._state[0] = seed & 0xFFFFFFFF
        for i in range(1, 624):
            previous = self._state[i - 1]
            self._state[i] = (1812433253 * (previous ^ (previous >> 30)) + i) & 0xFFFFFFFF
        self._index = 624

    def _twist(self) -> None:
        state = self._state
        for i in range(624):
            y = (state[i] & 0x80000000) | (state[(i + 1) % 624] & 0x7FFFFFFF)
            state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self._index = 0

    def next(self) -> int:
        if self._index >= 624:
            self._twist()
        y = self._state[self._index]
        self._index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)

    def canonical_double(self) -> float:
        """``std::generate_canonical<double, 53>`` (libstdc++): two outputs, low first."""
        total = float(self.next()) + float(self.next()) * 4294967296.0
        value = total / 18446744073709551616.0
        return value if value < 1.0 else float(np.nextafter(1.0, 0.0))


def draw_at(seed: int, step: int) -> float:
    """The uniform fraction llama.cpp's dist sampler drew for token ``step`` (0-based)."""
    rng = MT19937(seed)
    for _ in range(2 * step):
        rng.next()
    return rng.canonical_double()


def _softmax_f32(logits: np.ndarray) -> np.ndarray:
    """llama.cpp's softmax: float32, the sum accumulated in order."""
    shifted = np.exp((logits - logits.max()).astype(np.float32))
    return shifted / np.cumsum(shifted, dtype=np.float32)[-1]


def apply_penalties(logits: np.ndarray, history: Sequence[int],
                    params: SamplingParams) -> np.ndarray:
    out = logits.astype(np.float32).copy()
    disabled = params.repeat_last_n == 0 or (params.repeat_penalty == 1.0 and
                                             params.frequency_penalty == 0.0 and
                                             params.presence_penalty == 0.0)
    if disabled:
        return out
    window = list(history)[-params.repeat_last_n:] if params.repeat_last_n > 0 else []
    repeat = np.float32(params.repeat_penalty)
    for token, count in Counter(window).items():
        value = out[token]
        value = value * repeat if value <= 0 else value / repeat
        out[token] = (value - np.float32(count) * np.float32(params.frequency_penalty)
                      - np.float32(params.presence_penalty))
    return out


def _filters(logits: np.ndarray, params: SamplingParams) -> tuple[np.ndarray, bool]:
    """The candidate ids top-k, top-p and min-p keep, in llama.cpp's order (sorted by
    logit once any of them sorted, else by id); and whether they are sorted."""
    ids = np.arange(len(logits))
    is_sorted = False

    def sort(selection: np.ndarray) -> np.ndarray:
        return selection[np.lexsort((selection, -logits[selection]))]

    if params.top_k > 0:
        ids = sort(ids)[:min(params.top_k, len(ids))]
        is_sorted = True
    if params.top_p < 1.0:
        if not is_sorted:
            ids = sort(ids)
            is_sorted = True
        probs = _softmax_f32(logits[ids])
        cumulative = np.cumsum(probs, dtype=np.float32)
        reached = np.flatnonzero(cumulative >= np.float32(params.top_p))
        ids = ids[:int(reached[0]) + 1] if len(reached) else ids
    if params.min_p > 0.0:
        threshold = np.float32(logits[ids].max() + np.log(np.float32(params.min_p)))
        keep = logits[ids] >= threshold
        keep[np.argmax(logits[ids])] = True
        ids = ids[keep]
    return ids, is_sorted


def _stage(name: str, ids: np.ndarray, probs: np.ndarray,
           name_of: Callable[[int], str]) -> Stage:
    order = np.lexsort((ids, -probs))[:SHOWN]
    return Stage(name, len(ids), tuple(Candidate(int(ids[i]), name_of(int(ids[i])),
                                                 float(probs[i])) for i in order))


def explain_step(logits: np.ndarray, params: SamplingParams, history: Sequence[int],
                 seed: int | None, step: int,
                 name_of: Callable[[int], str] = str) -> StepExplanation:
    """The chain at answer token ``step``: ``logits`` are the model's raw logits there,
    ``history`` the answer's tokens before it, ``seed`` the seed the answer was drawn
    with (None: greedy answers need none)."""
    vocab = np.arange(len(logits))
    raw = logits.astype(np.float32)
    stages = [_stage("raw", vocab, _softmax_f32(raw), name_of)]
    penalised = apply_penalties(raw, history, params)
    stages.append(_stage("penalties", vocab, _softmax_f32(penalised), name_of))
    if params.temperature <= 0.0:
        chosen = int(np.argmax(penalised))
        return StepExplanation(tuple(stages), chosen, name_of(chosen), True, None)
    ids, _sorted = _filters(penalised, params)
    kept = penalised[ids]
    stages.append(_stage("filters", ids, _softmax_f32(kept), name_of))
    tempered = (kept / np.float32(params.temperature)).astype(np.float32)
    weights = np.exp((tempered - tempered.max()).astype(np.float32)).astype(np.float64)
    stages.append(_stage("temperature", ids, weights / weights.sum(), name_of))
    if seed is None:
        raise ValueError("a step drawn at a temperature above 0 needs the answer's seed")
    fraction = draw_at(seed, step)
    running = np.cumsum(weights)
    at = int(np.searchsorted(running, running[-1] * fraction, side="left"))
    chosen = int(ids[min(at, len(ids) - 1)])
    return StepExplanation(tuple(stages), chosen, name_of(chosen), False, fraction)


@dataclass(frozen=True)
class StepLogits:
    """What explaining one step of a stored answer needs, read once on the engine thread;
    the chain itself is then recomputed for any sampling values without the model."""

    answer_id: int
    step: int
    logits: np.ndarray
    history: tuple[int, ...]  # the answer's tokens before the step
    seed: int | None
    chosen: int  # the token the answer really has there
    names: dict[int, str]  # token texts of the likely candidates

    def name(self, token: int) -> str:
        return self.names.get(token, f"#{token}")


NAMED = 256  # candidates whose text is looked up


def read_step_logits(engine: Any, messages: Sequence[Any], trace: Any, step: int,
                     answer_id: int, max_tokens: int) -> StepLogits:
    """On the engine thread: the prompt the answer was given (rebuilt from the stored
    conversation through the same template), the answer's tokens before ``step``, and
    the model's logits after them."""
    tokens = [t.token for t in trace.tokens]
    if not 0 <= step < len(tokens):
        raise ValueError(f"the answer has no token {step}")
    prompt = engine.prepare_chat(list(messages), max_tokens)
    logits = engine.logits_after(prompt.tokens + tokens[:step])
    likely = np.argsort(-logits)[:NAMED]
    wanted = {int(t) for t in likely} | set(tokens[:step + 1])
    return StepLogits(answer_id, step, logits, tuple(tokens[:step]), trace.seed, tokens[step],
                      {t: engine.token_text(t) for t in wanted})
