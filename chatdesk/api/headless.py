"""``chatdesk serve``: the API without a window, on the same engine thread and server.

The setup is the GUI's minus the widgets: a QCoreApplication runs the main thread's event
loop, the EngineHost loads the model (the bundled one unless --model), and the ApiServer
serves once it has loaded. The socket is bound first, so a port in use fails before the
model's load. Ctrl+C or SIGTERM ends the loop; the server stops, then the engine.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Slot

from chatdesk.api.address import is_loopback
from chatdesk.api.history_keeper import HistoryKeeper
from chatdesk.api.server import ApiServer, ServeOptions
from chatdesk.core.engine import LoadOptions
from chatdesk.core.events import ErrorEvent, ModelInfo
from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

EXIT_FAILED, EXIT_USAGE = 1, 2


class _Headless(QObject):
    """Receives the engine thread's load signals on the main thread."""

    def __init__(self, host: EngineHost, server: ApiServer) -> None:
        super().__init__()
        self.host = host
        self.server = server
        self.exit_code = 0
        host.worker.loaded.connect(self.loaded)
        host.worker.load_failed.connect(self.load_failed)
        server.ended.connect(self.server_ended)

    @Slot(object)
    def loaded(self, info: ModelInfo) -> None:
        address = self.server.start()
        print(f"chatdesk: serving {Path(info.path).stem} at {address}/v1 "
              "(Ctrl+C stops)", flush=True)

    @Slot(object)
    def load_failed(self, error: ErrorEvent) -> None:
        print(f"chatdesk: {error.title}: {error.message}", file=sys.stderr, flush=True)
        self.exit_code = EXIT_FAILED
        QCoreApplication.quit()

    @Slot(str)
    def server_ended(self, reason: str) -> None:
        if reason:
            print(f"chatdesk: the server stopped: {reason}", file=sys.stderr, flush=True)
            self.exit_code = EXIT_FAILED
            QCoreApplication.quit()


def run_serve_command(args: argparse.Namespace) -> int:
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.core.engine import LlamaEngine
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths
    from chatdesk.core.settings import load_settings

    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "")
        if not key:
            print(f"chatdesk: the environment variable {args.api_key_env} is empty or not "
                  "set", file=sys.stderr)
            return EXIT_USAGE
    paths = resolve_paths(args.data_dir).ensure()
    setup_logging(paths.logs_dir)
    settings = load_settings(paths.settings_file)
    model = str(Path(args.model).expanduser().resolve()) if args.model else None
    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    host = EngineHost(LlamaEngine(), paths.models_dir,
                      meter=EnergyMeter(tdp_watts=settings.tdp_watts))
    keeper = HistoryKeeper(paths.database, lambda: settings)
    server = ApiServer(host, ServeOptions(args.host, args.port, key), on_answer=keeper,
                       cleanup=keeper.close)
    try:
        # Bind now, serve once the model is in: a busy port fails before a long load.
        server.bind_early()
    except OSError as exc:
        host.shutdown()
        print(f"chatdesk: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    if not is_loopback(args.host):
        print(f"chatdesk: warning: listening on {args.host}, reachable from other machines"
              + ("" if key else " by anyone (no --api-key-env)"), file=sys.stderr)
    headless = _Headless(host, server)
    _quit_on_signals(app)
    host.load(model, LoadOptions(context_length=args.context or settings.context_length,
                                 gpu_layers=settings.gpu_layers, threads=settings.threads))
    try:
        app.exec()
    finally:
        server.stop()
        host.shutdown()
    return headless.exit_code


def _quit_on_signals(app: QCoreApplication) -> None:
    """Ctrl+C and SIGTERM end the event loop; a timer lets Python run the handler while
    Qt's loop waits."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: app.quit())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)
