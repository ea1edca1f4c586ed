"""uvicorn on its own thread, serving the model the engine thread has loaded.

The same object serves for the GUI's toggle and for ``chatdesk serve``. The socket is
bound here, on the caller's thread, before the server thread starts: a port in use is a
plain ``OSError`` to show at once (uvicorn itself would log and exit the process), and
port 0 gives a free port, which the tests use.

The server thread is a ``ThreadHost`` (the one way chatdesk runs long-lived work off the
GUI thread); its slot runs uvicorn until ``stop`` asks it to end. Requests go to the
engine thread through :class:`EngineQueue`; the server's own event loop only waits.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from PySide6.QtCore import QObject, Signal, Slot

from chatdesk.api.address import bind
from chatdesk.api.engine_queue import Activity, EngineQueue
from chatdesk.api.guard import DEFAULT_MAX_BODY_BYTES
from chatdesk.api.routes import OnAnswer, create_app
from chatdesk.core.sampling import SamplingParams
from chatdesk.threads import ThreadHost
from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
GRACEFUL_S = 2  # open connections get this long to finish once the server stops


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class _ServeLoop(QObject):
    """Lives in the server thread; ``run`` blocks there until uvicorn has stopped."""

    ended = Signal(str)  # "" when it stopped as asked, else why it failed

    def __init__(self, server: uvicorn.Server, sock: socket.socket,
                 cleanup: Callable[[], None] | None) -> None:
        super().__init__()
        self._server = server
        self._socket = sock
        self._cleanup = cleanup

    @Slot()
    def run(self) -> None:
        reason = ""
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # uvicorn exits with SystemExit when startup fails
            log.error("the API server failed", exc_info=exc)
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._socket.close()
            if self._cleanup is not None:
                self._cleanup()  # in this thread: the history keeper's store lives here
        self.ended.emit(reason)


class ApiServer(QObject):
    """Start and stop serving; ``activity`` reports running and queued requests."""

    activity = Signal(object)  # Activity (emitted from the server or the engine thread)
    ended = Signal(str)  # the server thread stopped ("" as asked, else why)
    _run_requested = Signal()

    def __init__(self, host: EngineHost, options: ServeOptions, *,
                 defaults: Callable[[], SamplingParams] = SamplingParams,
                 on_answer: OnAnswer | None = None,
                 cleanup: Callable[[], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self.queue = EngineQueue(host, on_activity=self.activity.emit)
        self._defaults = defaults
        self._on_answer = on_answer
        self._cleanup = cleanup
        self._server: uvicorn.Server | None = None
        self._thread: ThreadHost[_ServeLoop] | None = None
        self._socket: socket.socket | None = None
        self.address = ""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_running()

    def bind_early(self) -> None:
        """Bind now and serve later (``start``): clients that connect in between wait."""
        if self._socket is None:
            self._socket = bind(self.options.host, self.options.port)

    def start(self) -> str:
        """Bind (unless ``bind_early`` did) and start serving; returns the base URL.
        Raises OSError (one line for the user) when the address cannot be bound."""
        if self.running:
            return self.address
        self.bind_early()
        sock, self._socket = self._socket, None
        assert sock is not None
        app = create_app(self.queue, api_key=self.options.api_key,
                         max_body_bytes=self.options.max_body_bytes,
                         defaults=self._defaults, on_answer=self._on_answer)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                ws="none", timeout_graceful_shutdown=GRACEFUL_S,
                                server_header=False)
        self._server = uvicorn.Server(config)
        runner = _ServeLoop(self._server, sock, self._cleanup)
        runner.ended.connect(self.ended)
        self._thread = ThreadHost(runner, "chatdesk-api")
        self._run_requested.connect(runner.run)
        self._run_requested.emit()
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.address = f"http://{shown}:{port}"
        log.info("API serving at %s%s", self.address,
                 "" if self.options.api_key else " (no key)")
        return self.address

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop every request, close the server and join its thread; True once ended."""
        if self._socket is not None:  # bound early, never started
            self._socket.close()
            self._socket = None
        if self._thread is None:
            return True
        self.queue.cancel_all()
        if self._server is not None:
            self._server.should_exit = True
        ended = self._thread.shutdown(timeout_ms)
        if ended:
            self._run_requested.disconnect()
            self._thread = None
            self._server = None
            log.info("API server stopped")
        return ended

    def current_activity(self) -> Activity:
        return self.queue.activity()
