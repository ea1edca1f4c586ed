"""Regression: PySide6 6.12.0 crashes delivering queued ``Signal(object)`` across threads.

With 6.12.0 the child process dies with "Fatal Python error: none_dealloc: deallocating
None" (or bool_dealloc, the same refcount bug) a few thousand signals in; the worker's
token stream is exactly this pattern. It runs in a child process so that a crash fails
this test instead of killing pytest. pyproject.toml pins PySide6 below 6.12 because of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6 import QtCore

CHILD = Path(__file__).with_name("cross_thread_signals_child.py")


def test_queued_object_signals_from_a_worker_thread_all_arrive_in_order():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True,
                          timeout=120, env=env)

    report = (f"PySide6 {QtCore.__version__}, exit code {proc.returncode}\n"
              f"stdout:\n{proc.stdout}\nstderr (tail):\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, report
    assert proc.stdout.strip() == ("received 40000 of 40000, 0 out of order, "
                                   "0 in the wrong thread, batch ends in order: True"), report
    assert "Fatal Python error" not in proc.stderr, report
