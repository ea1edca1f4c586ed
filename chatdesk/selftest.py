"""CHATDESK_SELFTEST: the real app answers one message headlessly, prints it, and quits.

A frozen bundle cannot be driven by pytest-qt from outside, so the packaging test starts
it with ``QT_QPA_PLATFORM=offscreen CHATDESK_SELFTEST="your message"``. The app opens its
window as usual, waits for the model, sends the message through the window
(``MainWindow.send_message``), and when the engine reports the answer prints one JSON line
to stdout, closes the window (its normal shutdown path) and exits 0. A failed load or
answer prints the error and exits 1; no answer within SELFTEST_TIMEOUT_S exits 3.

It listens to the engine worker's signals (not the window's internals), so it keeps
working when the window is rebuilt around another controller.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication, QWidget

from chatdesk.core.events import AnswerDone, ErrorEvent, ModelInfo
from chatdesk.worker import EngineHost

SELFTEST_ENV = "CHATDESK_SELFTEST"
SELFTEST_TIMEOUT_S = 300
EXIT_FAILED, EXIT_TIMED_OUT = 1, 3

log = logging.getLogger(__name__)


class ChatWindow(Protocol):
    def send_message(self, text: str) -> None: ...
    def close(self) -> bool: ...


class SelfTest(QObject):
    def __init__(self, window: ChatWindow, host: EngineHost, message: str) -> None:
        super().__init__(window if isinstance(window, QWidget) else None)
        self._window = window
        self._message = message
        self._sent = False
        self._done = False
        host.worker.loaded.connect(self._on_loaded)
        host.worker.done.connect(self._on_done)
        host.worker.load_failed.connect(self._on_failed)
        host.worker.answer_failed.connect(self._on_failed)
        QTimer.singleShot(SELFTEST_TIMEOUT_S * 1000, self._on_timeout)

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        if not self._sent:
            self._sent = True
            log.info("selftest: %s loaded, sending one message", info.path)
            # After the window's own slot for `loaded` has run (connected before ours).
            QTimer.singleShot(0, lambda: self._window.send_message(self._message))

    @Slot(object)
    def _on_done(self, done: AnswerDone) -> None:
        result = done.result
        self._report({"answer": result.text, "tokens": result.generated_tokens,
                      "stop_reason": result.stop_reason.value}, 0)

    @Slot(object)
    def _on_failed(self, error: ErrorEvent) -> None:
        self._report({"error": error.title, "message": error.message}, EXIT_FAILED)

    def _on_timeout(self) -> None:
        self._report({"error": f"no answer within {SELFTEST_TIMEOUT_S} s"}, EXIT_TIMED_OUT)

    def _report(self, outcome: dict[str, object], code: int) -> None:
        if self._done:
            return
        self._done = True
        print(json.dumps(outcome), flush=True)
        # Let the window's own slots for this signal store the answer first, then leave
        # through the normal close path (settings saved, engine shut down in order).
        QTimer.singleShot(0, lambda: self._quit(code))

    def _quit(self, code: int) -> None:
        self._window.close()
        QApplication.exit(code)


def selftest_from_env(window: ChatWindow, host: EngineHost) -> SelfTest | None:
    """Start the self-test when $CHATDESK_SELFTEST holds a message; call it before the
    first model load so the `loaded` signal is not missed."""
    message = os.environ.get(SELFTEST_ENV, "").strip()
    if not message:
        return None
    print(f"chatdesk: self-test, sending {message!r}", file=sys.stderr)
    return SelfTest(window, host, message)
