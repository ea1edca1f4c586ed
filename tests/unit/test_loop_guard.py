"""The loop guard: fires on degenerate repetition, never on legitimate repetition."""

from __future__ import annotations

import random
import re

import pytest
from loop_texts import LEGITIMATE, LOOPS, TASK_BLOCK

from chatdesk.core.loop_guard import CONFIRM_TOKENS, MIN_REPEATS, MIN_SPAN, LoopGuard


def word_tokens(text: str) -> list[int]:
    """A stand-in for a BPE tokenizer: words with their leading space, punctuation runs,
    whitespace runs; the same piece always gets the same id."""
    vocabulary: dict[str, int] = {}
    pieces = re.findall(r" ?\w+| ?[^\w\s]+|\s+", text)
    return [vocabulary.setdefault(piece, len(vocabulary)) for piece in pieces]


def first_fire(tokens: list[int], guard: LoopGuard | None = None) -> int | None:
    """The index of the token at which the guard fires, or None."""
    guard = guard or LoopGuard()
    for index, token in enumerate(tokens):
        if guard.feed(token):
            return index
    return None


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_legitimate_repetition_never_fires(name: str) -> None:
    tokens = word_tokens(LEGITIMATE[name])
    assert len(tokens) > MIN_SPAN
    assert first_fire(tokens) is None


def test_legitimate_texts_one_after_another_never_fire() -> None:
    assert first_fire(word_tokens("\n\n".join(LEGITIMATE.values()))) is None


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_degenerate_loops_fire(name: str) -> None:
    assert first_fire(word_tokens(LOOPS[name])) is not None


def test_fires_once_a_third_copy_of_a_block_has_begun() -> None:
    block = word_tokens(TASK_BLOCK)
    assert len(block) > CONFIRM_TOKENS and len(block) * MIN_REPEATS >= MIN_SPAN
    # An intro, then the block over and over: the guard fires on the CONFIRM_TOKENS-th
    # token of the third copy, not before and not later.
    intro = [10_000 + i for i in range(7)]
    guard = LoopGuard()
    fired = first_fire(intro + block * 10, guard)
    assert fired == len(intro) + MIN_REPEATS * len(block) + CONFIRM_TOKENS - 1
    assert guard.period == len(block)


def test_a_third_copy_that_turns_away_early_does_not_fire() -> None:
    block = word_tokens(TASK_BLOCK)
    turn = block[:CONFIRM_TOKENS - 1] + [30_000 + i for i in range(60)]
    assert first_fire(block * 2 + turn) is None


def test_two_copies_of_a_long_block_do_not_fire() -> None:
    block = word_tokens(TASK_BLOCK)
    tail = [20_000 + i for i in range(50)]  # then something new
    assert first_fire(block * 2 + tail) is None


def test_a_short_motif_needs_min_span_tokens() -> None:
    guard = LoopGuard()
    fired = first_fire([1, 2] * 100, guard)
    assert fired == MIN_SPAN - 1
    assert guard.period == 2


def test_a_repeated_token_fires_with_period_one() -> None:
    guard = LoopGuard()
    assert first_fire([5] * 200, guard) == MIN_SPAN - 1
    assert guard.period == 1


def test_a_period_longer_than_the_window_is_not_tracked() -> None:
    block = list(range(40))
    assert first_fire(block * 5, LoopGuard(max_period=39)) is None
    assert first_fire(block * 5, LoopGuard(max_period=40)) is not None


def test_memory_stays_within_the_window() -> None:
    """O(window), not O(text): 50,000 varied tokens leave at most max_period in memory."""
    rng = random.Random(7)
    guard = LoopGuard(max_period=128)
    for _ in range(50_000):
        guard.feed(rng.randrange(3000))
    assert len(guard._window) == 128
    assert sum(len(p) for p in guard._positions.values()) == 128
    assert len(guard._runs) <= 128


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LoopGuard(min_repeats=1)
    with pytest.raises(ValueError):
        LoopGuard(max_period=0)
    with pytest.raises(ValueError):
        LoopGuard(confirm_tokens=0)
