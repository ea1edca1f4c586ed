"""main(): QApplication, the main window, the engine thread, and their shutdown order."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chatdesk import __version__
from chatdesk.core.logs import setup_logging
from chatdesk.core.paths import AppPaths, resolve_paths
from chatdesk.core.settings import load_settings

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from chatdesk.core.catalog import Catalog
    from chatdesk.core.history import HistoryStore
    from chatdesk.core.settings import Settings
    from chatdesk.ui.main_window import MainWindow
    from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)


class PrintVersions(argparse.Action):
    """--version: chatdesk's and llama-cpp-python's versions and the backend, then exit,
    before anything imports Qt (so it works without a display)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print chatdesk's version, "
                         "llama-cpp-python's and the backend, then exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from chatdesk.core.runtime_info import runtime_info

        print("\n".join(runtime_info().lines()))
        parser.exit()


# What QGuiApplication/QApplication read from the command line (Qt 6), with one dash or
# two, "-style fusion" or "-style=fusion".
QT_OPTIONS_WITH_VALUE = frozenset({
    "platform", "platformpluginpath", "platformtheme", "plugin", "qmljsdebugger",
    "qwindowgeometry", "qwindowicon", "qwindowtitle", "style", "stylesheet", "session",
    "display", "geometry", "name", "title", "visual"})
QT_FLAGS = frozenset({"reverse", "widgetcount", "nograb", "dograb", "sync"})


def without_qt_options(args: Sequence[str]) -> list[str]:
    """``args`` less Qt's own options and their values, which Qt reads itself: so that in
    ``-platform offscreen`` the word "offscreen" is never taken for a model file."""
    kept: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        name, has_value, _value = token.lstrip("-").partition("=")
        if token.startswith("-") and len(token) > 1 and name in QT_OPTIONS_WITH_VALUE:
            index += 0 if has_value else 1
        elif not (token.startswith("-") and name in QT_FLAGS):
            kept.append(token)
    return kept


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    # Qt reads its own options (-platform offscreen...): they never reach our parser.
    args, _rest = gui_parser().parse_known_args(without_qt_options(argv))
    return args


def gui_parser() -> argparse.ArgumentParser:
    """The window's options (the launcher checks what is left over, and prints --help)."""
    parser = argparse.ArgumentParser(prog="chatdesk", description="Chat with local models.")
    parser.add_argument("file", nargs="?", help="a .gguf file to open (what the desktop "
                        "entry passes); same as --model")
    parser.add_argument("--data-dir", help="keep models, history, settings and logs here "
                        "(default: $CHATDESK_DATA_DIR, else the platform's user dirs)")
    parser.add_argument("--model", help="a .gguf file to load instead of the last one used")
    parser.add_argument("--catalog", help="a models.json catalog to use instead of the "
                        "packaged one (default: $CHATDESK_CATALOG)")
    parser.add_argument("--version", action=PrintVersions)
    return parser


def startup_model(args: argparse.Namespace, paths: AppPaths, last_model: str | None) -> str | None:
    """The model to load at start: --model (or a file argument), else the last one if it
    still exists, else None (the bundled offline model)."""
    from pathlib import Path

    chosen = args.model or args.file
    if chosen:
        return str(Path(chosen).expanduser().resolve())
    if last_model and Path(last_model).is_file():
        return last_model
    return None


def no_display_reason() -> str | None:
    """On Linux without X11 or Wayland, Qt aborts with a plugin error; say it plainly."""
    import os

    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("chatdesk: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it "
            "in a desktop session, or headless with QT_QPA_PLATFORM=offscreen.")


def open_history_or_recover(path: Path) -> HistoryStore | None:
    """Open the history; a damaged file gets one plain question, never a traceback or a
    crash loop: recover (keep a copy, start fresh, rescue what can be read) or quit."""
    from PySide6.QtWidgets import QMessageBox

    from chatdesk.core.history import DamagedDatabaseError, HistoryStore, ReadOnlyHistoryError
    from chatdesk.core.history.recovery import recover

    try:
        store = HistoryStore.open(path)
    except DamagedDatabaseError as damaged:
        log.error("history damaged: %s", damaged)
        advice = {
            "newer_version": "Update chatdesk to open this history; it was left untouched.",
            "foreign": "This file belongs to another program and was left untouched. Move it "
                       "away, or start chatdesk with --data-dir pointing elsewhere.",
            "unreadable": "Check the file's permissions; it was left untouched.",
        }
        if damaged.kind in advice:
            QMessageBox.critical(None, "chatdesk", f"{damaged.reason}\n\n{advice[damaged.kind]}")
            return None
        box = QMessageBox(QMessageBox.Icon.Warning, "chatdesk",
                          f"The chat history cannot be opened: {damaged.reason}")
        box.setInformativeText("Recover keeps a copy of the damaged file, starts a fresh "
                               "history and rescues every conversation that can still be "
                               "read.")
        recover_button = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is not recover_button:
            return None
        try:
            report = recover(path)
        except OSError as exc:
            log.error("history recovery failed: %s", exc)
            QMessageBox.critical(None, "chatdesk", f"The history could not be recovered: "
                                 f"{exc.strerror or exc}. Nothing was deleted.")
            return None
        log.warning("history recovered: %s", report)
        QMessageBox.information(
            None, "chatdesk", f"Rescued {report.conversations_rescued} conversations and "
            f"{report.messages_rescued} messages. The damaged file was kept as "
            f"{report.backup_path}.")
        return HistoryStore.open(path)
    if store.read_only:  # the file or its folder is not writable: say so once, up front
        notice = str(ReadOnlyHistoryError(path))
        log.warning("%s", notice)
        QMessageBox.warning(None, "chatdesk", f"{notice} Your chats can still be read, "
                            "searched and exported.")
    return store


def build_window(host: EngineHost, paths: AppPaths, settings: Settings,
                 catalog: Catalog | None = None,
                 history: HistoryStore | None = None) -> MainWindow:
    """The session and the window on an engine host: the one way the app (and the GUI
    tests) put them together. Closing the window shuts everything down (``shutdown``)."""
    from chatdesk.core.history import HistoryStore
    from chatdesk.core.settings_store import SettingsStore
    from chatdesk.session import ChatSession
    from chatdesk.ui.api_control import ApiControl
    from chatdesk.ui.main_window import MainWindow

    history = history if history is not None else HistoryStore.open(paths.database)
    session = ChatSession(host, history, SettingsStore(paths.settings_file, settings), catalog,
                          paths.models_dir)
    window = MainWindow(session, paths)
    window.api_control = ApiControl(window)
    window.closing.connect(lambda: shutdown(window))
    return window


def shutdown(window: MainWindow) -> None:
    """The one shutdown order: keep the running answer's text (marked incomplete), stop
    the API server, end the downloads, stop the engine and free the model, then release
    the GPU reader. Safe to call twice."""
    window.session.close()
    if window.api_control is not None:
        window.api_control.stop()  # its requests end before the engine does
    if window.dialogs.downloads is not None:
        window.dialogs.downloads.shutdown()
    window.session.host.shutdown()
    if window.gpu_memory is not None:
        window.gpu_memory.close()
        window.gpu_memory = None
    log.info("shut down")


def quit_on_signals(app: QApplication) -> None:
    """SIGTERM and SIGINT (a logout, ``kill``, Ctrl+C in a terminal) close the app the
    normal way, so the streaming answer is saved, not lost. Python only runs a signal
    handler between bytecodes, so a timer wakes the interpreter while Qt's loop runs."""
    import signal

    from PySide6.QtCore import QTimer

    def close_all(_signum: int, _frame: object) -> None:
        log.warning("signal %d: closing", _signum)
        for widget in app.topLevelWidgets():
            widget.close()
        app.quit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, close_all)
    timer = QTimer(app)
    timer.setObjectName("chatdesk-signal-wakeup")
    timer.timeout.connect(lambda: None)
    timer.start(200)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    paths = resolve_paths(args.data_dir).ensure()
    log_file = setup_logging(paths.logs_dir)
    log.info("chatdesk %s starting; data in %s; log %s", __version__, paths.models_dir.parent,
             log_file)

    reason = no_display_reason()
    if reason:
        print(reason, file=sys.stderr)
        log.error(reason)
        return 1

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from chatdesk.core.catalog import catalog_path, load_catalog
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.core.engine import LlamaEngine
    from chatdesk.core.engine_switch import EngineSwitch
    from chatdesk.core.prompt_cache import MIB, PromptCache
    from chatdesk.pdf_render import register as register_pdf_export
    from chatdesk.selftest import selftest_from_env
    from chatdesk.ui.app_icon import app_icon
    from chatdesk.ui.theme import apply_theme
    from chatdesk.worker import EngineHost

    register_pdf_export()  # core's exchange layer writes PDF through Qt, registered here
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("chatdesk")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("chatdesk")  # Wayland and docks match the window to chatdesk.desktop
    app.setWindowIcon(app_icon())
    settings = load_settings(paths.settings_file)
    apply_theme(app, settings.theme)
    history = open_history_or_recover(paths.database)
    if history is None:
        return 1
    cache = PromptCache(paths.prompt_cache_dir, settings.prompt_cache_mb * MIB)
    host = EngineHost(EngineSwitch(LlamaEngine(prompt_cache=cache)), paths.models_dir,
                      meter=EnergyMeter(tdp_watts=settings.tdp_watts))
    window = build_window(host, paths, settings, load_catalog(catalog_path(args.catalog)),
                          history)
    quit_on_signals(app)
    window.show()
    selftest_from_env(window, host)  # CHATDESK_SELFTEST: answer one message, print it, quit
    window.load_model(startup_model(args, paths, settings.last_model))
    window.first_run.offer()  # only here: its check runs on a thread and may use the network
    quit_after_ms = os.environ.get("CHATDESK_QUIT_AFTER_START_MS", "")
    if quit_after_ms.isdigit():  # tests: start for real, then quit the normal way
        QTimer.singleShot(int(quit_after_ms), app.quit)
    try:
        return app.exec()
    finally:
        shutdown(window)
        history.close()
