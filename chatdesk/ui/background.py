"""Run slow work (exports, imports, a Hub search, copying a model) off the GUI thread.

A plain Python thread per job, ended when the job is: the result (or the exception) comes
back through the given signal, which Qt queues to the receiver's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import SignalInstance


def run_in_background(work: Callable[[], Any], done: SignalInstance, name: str) -> None:
    """Call ``work()`` on a new thread and emit its result, or the exception it raised."""

    def run() -> None:
        try:
            result: Any = work()
        except Exception as exc:  # handed to the GUI, which shows it as a message
            result = exc
        done.emit(result)

    threading.Thread(target=run, name=f"chatdesk-{name}", daemon=True).start()
