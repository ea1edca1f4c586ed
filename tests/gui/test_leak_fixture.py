"""The conftest's leak check can fail: run leaking tests in a child pytest and look."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

LEAKY_TESTS = '''
import threading
import time

from PySide6.QtCore import QThread, QTimer

kept = []


def test_leaks_a_qthread():
    thread = QThread()
    thread.setObjectName("leaky-qthread")
    thread.start()
    kept.append(thread)


def test_leaks_a_python_thread():
    threading.Thread(target=threading.Event().wait, args=(10,), name="leaky-thread",
                     daemon=True).start()


def test_leaks_a_timer():
    timer = QTimer()
    timer.setObjectName("leaky-timer")
    timer.start(1000)
    kept.append(timer)


def test_threads_that_end_in_time_are_fine():
    thread = QThread()
    thread.start()
    thread.quit()
    assert thread.wait(2000)
    threading.Thread(target=time.sleep, args=(0.05,)).start()  # ends within the grace time
'''


def test_leaked_threads_and_timers_fail_the_test(tmp_path):
    for name in ("conftest.py", "fake_engine.py"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS, encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHATDESK_TEST_THREAD_GRACE_S": "0.2"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "qt_api=pyside6",
         "-rE", "-q", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    out = proc.stdout + proc.stderr

    assert proc.returncode == 1, out
    assert "4 passed, 3 errors" in out, out
    for test, leak in [("test_leaks_a_qthread", "QThread 'leaky-qthread' still running"),
                       ("test_leaks_a_python_thread", "Python thread 'leaky-thread' still alive"),
                       ("test_leaks_a_timer", "QTimer 'leaky-timer' still active")]:
        assert f"ERROR test_leaky.py::{test}" in out, out
        assert leak in out, out
    assert "test_threads_that_end_in_time_are_fine" not in out.split("short test summary")[-1]
