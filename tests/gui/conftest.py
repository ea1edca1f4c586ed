"""GUI tests: pytest-qt, offscreen, a fake engine, and no thread or timer left behind."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import threading
import time
import traceback
import weakref
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QThread, QTimer

from chatdesk.core.paths import AppPaths

# How long threads get to end after a test; test_leak_fixture.py shortens it.
GRACE_S = float(os.environ.get("CHATDESK_TEST_THREAD_GRACE_S", "2"))


def _alive(obj, check) -> bool:
    try:
        return bool(check(obj))
    except RuntimeError:  # the C++ object is gone: it cannot be running
        return False


@pytest.fixture(autouse=True)
def no_leaked_threads(qtbot, monkeypatch):
    """Fail the test if a QThread it started is still running at teardown, a QTimer it
    started is still active, or a Python thread it started is still alive (after ~2 s).

    QThread.start and QTimer.start are wrapped to remember who started what (napari's
    dangling-thread fixtures do the same). Leaked QThreads are then stopped, so that the
    next test is not hit by "QThread: Destroyed while thread is still running".
    """
    qthreads: weakref.WeakKeyDictionary[QThread, str] = weakref.WeakKeyDictionary()
    qtimers: weakref.WeakKeyDictionary[QTimer, str] = weakref.WeakKeyDictionary()
    thread_start, timer_start = QThread.start, QTimer.start

    def tracked_thread_start(self, *args, **kwargs):
        qthreads[self] = "".join(traceback.format_stack(limit=6)[:-1])
        return thread_start(self, *args, **kwargs)

    def tracked_timer_start(self, *args, **kwargs):
        qtimers[self] = "".join(traceback.format_stack(limit=6)[:-1])
        return timer_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", tracked_thread_start)
    monkeypatch.setattr(QTimer, "start", tracked_timer_start)
    before = set(threading.enumerate())
    yield

    def leaked_qthreads():
        return [(t, where) for t, where in list(qthreads.items())
                if _alive(t, QThread.isRunning)]

    def leaked_pythreads():
        return [t for t in threading.enumerate()
                if t not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)]  # a QThread seen from Python

    deadline = time.monotonic() + GRACE_S
    while (leaked_qthreads() or leaked_pythreads()) and time.monotonic() < deadline:
        qtbot.wait(20)
    problems = []
    for thread, where in leaked_qthreads():
        problems.append(f"QThread {thread.objectName()!r} still running; started at:\n{where}")
        thread.quit()
        if not thread.wait(5000):
            thread.terminate()
            thread.wait(5000)
    for thread in leaked_pythreads():
        problems.append(f"Python thread {thread.name!r} still alive")
    for timer, where in list(qtimers.items()):
        if _alive(timer, QTimer.isActive) and not _alive(timer, QTimer.isSingleShot):
            problems.append(f"QTimer {timer.objectName()!r} still active; started at:\n{where}")
            timer.stop()
    if problems:
        pytest.fail("left running after the test:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def app_paths(tmp_path) -> AppPaths:
    root = tmp_path / "data"
    return AppPaths(models_dir=root / "models", database=root / "chatdesk.sqlite3",
                    settings_file=root / "settings.json", logs_dir=root / "logs").ensure()


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def model_file(tmp_path) -> Path:
    """A path for the fake engine to 'load' (it never reads it)."""
    path = tmp_path / "fake-model.gguf"
    path.write_bytes(b"GGUF")
    return path
