"""Streamed text handed to the window at most a frame's pace, not once per token.

A fast local model (a GPU, a tiny model) makes hundreds of tokens a second. One cross-thread
signal per token wakes the GUI thread as often, and on a 2-core machine every wake-up
takes a core from llama.cpp's threads in the middle of a decode. The window repaints at
most ~60 times a second anyway, so the worker joins the pieces that arrive within
``interval_s`` into one chunk. The first piece goes out at once (time to first token is
what the user feels), and ``flush`` hands over the rest before the answer's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL_S = 0.025  # 40 chunks a second at most: smooth to read, light to draw


@dataclass(frozen=True)
class PacedText:
    """Text joined from one or more pieces, with the counts as of its last piece."""

    text: str
    tokens_so_far: int
    context_used: int
    first_piece_at: float  # when the answer's first piece arrived (perf_counter)
    last_piece_at: float  # when this chunk's last piece arrived


class TextPacer:
    """Joins streamed pieces so that ``emit`` runs at most once per ``interval_s``."""

    def __init__(self, emit: Callable[[PacedText], None],
                 interval_s: float = DEFAULT_INTERVAL_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._emit = emit
        self._interval = interval_s
        self._clock = clock
        self._pending: list[str] = []
        self._tokens = self._context = 0
        self._first_at: float | None = None
        self._last_piece_at = 0.0
        self._emitted_at = float("-inf")

    def feed(self, piece: str, tokens_so_far: int, context_used: int) -> None:
        now = self._clock()
        if self._first_at is None:
            self._first_at = now
        self._pending.append(piece)
        self._tokens, self._context, self._last_piece_at = tokens_so_far, context_used, now
        if now - self._emitted_at >= self._interval:
            self._send(now)

    def flush(self) -> None:
        """Hand over whatever is still held (the answer has ended)."""
        if self._pending:
            self._send(self._clock())

    def _send(self, now: float) -> None:
        assert self._first_at is not None
        text, self._pending = "".join(self._pending), []
        self._emitted_at = now
        self._emit(PacedText(text, self._tokens, self._context, self._first_at,
                             self._last_piece_at))
