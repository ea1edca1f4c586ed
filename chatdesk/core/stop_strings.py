"""Hold back streamed text that might be the start of a stop string.

Without this, a stop string such as "\\nUser:" arriving over three tokens would be shown
("\\nUs") before we knew it was a stop, and then had to be taken back.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopStringFilter:
    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to show now, whether a stop string was hit)."""
        if not self.stops:
            return text, False
        self._pending += text
        hits = [i for i in (self._pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            safe = self._pending[: min(hits)]
            self._pending = ""
            return safe, True
        hold = self._partial_match_length()
        cut = len(self._pending) - hold
        safe, self._pending = self._pending[:cut], self._pending[cut:]
        return safe, False

    def flush(self) -> str:
        """The held-back text, when generation ended for another reason."""
        rest, self._pending = self._pending, ""
        return rest

    def _partial_match_length(self) -> int:
        """Length of the longest tail of the pending text that begins some stop string."""
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:k]):
                    best = k
                    break
        return best
