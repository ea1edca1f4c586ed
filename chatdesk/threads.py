"""The one way chatdesk runs work off the GUI thread.

- ``ThreadHost``: a long-lived QThread that owns one worker QObject (the engine, the
  downloads). Requests reach the worker as queued signals; results come back the same way.
- ``run_op``: a one-off job (an export, an import, a Hub search, copying a model) on a
  short-lived Python thread, with success and failure callbacks given per call and run on
  the GUI thread (Anki's ``aqt.operations.QueryOp`` is the model). Two overlapping jobs
  never share state, so an import that overlaps an export reports its own result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

W = TypeVar("W", bound=QObject)
T = TypeVar("T")


class ThreadHost(Generic[W]):
    """Starts ``worker`` in its own named QThread and joins it on ``shutdown``."""

    def __init__(self, worker: W, name: str) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def shutdown(self, timeout_ms: int, ask_to_quit: Callable[[], None] | None = None) -> bool:
        """Ask the worker to finish (``ask_to_quit`` queues its close slot, which ends the
        thread's loop; without it the loop is quit directly), then wait for the thread."""
        if not self.thread.isRunning():
            return True
        if ask_to_quit is not None:
            ask_to_quit()
        else:
            self.thread.quit()
        ended = bool(self.thread.wait(timeout_ms))
        if not ended:
            log.error("thread %s did not stop within %d ms", self.thread.objectName(),
                      timeout_ms)
        return ended


class _Op(QObject):
    """Carries one job's outcome back to the GUI thread; lives until it has delivered."""

    done = Signal(object, object)  # result, exception

    def __init__(self, on_success: Callable[[Any], None],
                 on_failure: Callable[[Exception], None] | None) -> None:
        super().__init__()
        self._on_success = on_success
        self._on_failure = on_failure
        self.done.connect(self._deliver)

    @Slot(object, object)
    def _deliver(self, result: Any, error: Exception | None) -> None:
        _running.discard(self)
        if error is None:
            self._on_success(result)
        elif self._on_failure is not None:
            self._on_failure(error)
        else:
            log.error("background job failed: %s", error, exc_info=error)


_running: set[_Op] = set()  # keeps each _Op alive until its result is delivered


def run_op(work: Callable[[], T], on_success: Callable[[T], None],
           on_failure: Callable[[Exception], None] | None = None, *, name: str) -> None:
    """Run ``work()`` on a new thread; then call ``on_success(result)`` or
    ``on_failure(exception)`` on the thread that called ``run_op`` (the GUI thread)."""
    op = _Op(on_success, on_failure)
    _running.add(op)

    def run() -> None:
        try:
            result: Any = work()
        except Exception as exc:  # handed to on_failure, which shows it as a message
            op.done.emit(None, exc)
        else:
            op.done.emit(result, None)

    threading.Thread(target=run, name=f"chatdesk-{name}", daemon=True).start()
