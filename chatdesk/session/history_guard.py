"""A user action the history refuses becomes a message in the window, not a traceback."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from chatdesk.core.history import HistoryError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class ReportsErrors(Protocol):
    """What the decorator needs of the session: its ``error`` signal (title, message)."""

    error: Any


S = TypeVar("S", bound=ReportsErrors)


def reports_history_errors(method: Callable[Concatenate[S, P], R]
                           ) -> Callable[Concatenate[S, P], R | None]:
    """A user action the history refuses (read-only, busy, damaged) becomes a message in
    the window, never a traceback out of a Qt slot; nothing else changes."""

    @functools.wraps(method)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(self, *args, **kwargs)
        except HistoryError as exc:
            log.warning("%s refused by the history: %s", method.__name__, exc)
            self.error.emit("The history could not be changed", str(exc))
            return None

    return wrapper
