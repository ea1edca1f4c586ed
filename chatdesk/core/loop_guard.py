"""Stop an answer that has fallen into a loop: one span of tokens, over and over.

Small models (and any model at a low temperature) sometimes fall into a cycle and would
repeat it until the token limit: pages of the same five lines. The engine feeds every
sampled token id to a :class:`LoopGuard`, which fires once the end of the answer is one
span written ``min_repeats`` times in a row and begun once more (its first
``confirm_tokens`` tokens, or all of a shorter span), covering at least ``min_span`` tokens.

Legitimate repetition is not periodic at the token level: table rows, list items with a
shared prefix ("- Step 1: …", "- Step 2: …") and similar code lines differ somewhere in
each repeat, which ends the run; a chorus sung twice is followed by something else, not by
a third chorus; a short repeated motif (a table's ``|---|---|`` rule, "la la la") stays
under ``min_span``. The third copy need not be complete: Gemma 3 270M's loops span two
blocks of five lines (about 140 tokens), and waiting for three whole copies would let it
fill most of a 512-token answer first.

Cost per token: one step for each earlier occurrence of the same token within the last
``max_period`` tokens, and memory for that window: never the whole answer.
"""

from __future__ import annotations

from collections import deque

MAX_PERIOD = 256  # the longest repeated span detected, in tokens (a long paragraph)
MIN_REPEATS = 2  # whole copies of the span in a row...
CONFIRM_TOKENS = 16  # ...and this many tokens of one more (all of it, if it is shorter)
MIN_SPAN = 64  # together at least this many tokens, so short motifs never fire


class LoopGuard:
    """Detects the end of a token stream repeating itself; one guard per answer."""

    def __init__(self, *, max_period: int = MAX_PERIOD, min_repeats: int = MIN_REPEATS,
                 confirm_tokens: int = CONFIRM_TOKENS, min_span: int = MIN_SPAN) -> None:
        if max_period < 1 or min_repeats < 2 or confirm_tokens < 1 or min_span < 1:
            raise ValueError("max_period, confirm_tokens and min_span must be at least 1, "
                             "min_repeats at least 2")
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.confirm_tokens = confirm_tokens
        self.min_span = min_span
        self.period: int | None = None  # the repeated span's length, once fired
        self._count = 0  # tokens fed so far; the next token's position
        self._window: deque[int] = deque()  # the last max_period tokens
        self._positions: dict[int, deque[int]] = {}  # token -> its positions in the window
        # period -> (position of the last token that matched the one a period earlier,
        #            how many consecutive tokens matched up to it)
        self._runs: dict[int, tuple[int, int]] = {}

    def feed(self, token: int) -> bool:
        """Add the next token; True when the answer now ends in a degenerate loop."""
        position = self._count
        self._count += 1
        fired: int | None = None  # the shortest period that qualifies
        positions = self._positions.get(token)
        if positions is None:
            positions = self._positions[token] = deque()
        for earlier in positions:
            period = position - earlier
            last, run = self._runs.get(period, (-1, 0))
            run = run + 1 if last == position - 1 else 1
            self._runs[period] = (position, run)
            # The last run + period tokens repeat with this period.
            span = run + period
            needed = self.min_repeats * period + min(period, self.confirm_tokens)
            if span >= needed and span >= self.min_span and (fired is None or period < fired):
                fired = period
        positions.append(position)
        self._window.append(token)
        if len(self._window) > self.max_period:
            old = self._window.popleft()
            old_positions = self._positions[old]
            old_positions.popleft()
            if not old_positions:
                del self._positions[old]
        if fired is None:
            return False
        self.period = fired
        return True
