"""Nothing is lost when the app dies mid-answer: a real chatdesk window, with the real
model, is killed with SIGKILL while it streams; the history keeps the partial answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from real_model import COUNTING_PROMPT

from chatdesk.core.history import HistoryStore

pytestmark = pytest.mark.integration

# The child is the real window (the same classes app.main() builds), driven like a user:
# it types the prompt, presses Enter, and reports every chunk of text it receives.
CHILD = r"""
import sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from chatdesk.core.engine import LlamaEngine
from chatdesk.core.paths import resolve_paths
from chatdesk.core.settings import Settings
from chatdesk.core.sampling import SamplingParams
from chatdesk.app import build_window
from chatdesk.worker import EngineHost

paths = resolve_paths(sys.argv[1]).ensure()
app = QApplication([])
window = build_window(EngineHost(LlamaEngine(), paths.models_dir), paths,
                      Settings(sampling=SamplingParams(temperature=0, max_tokens=4000)))
window.show()
window.load_model(sys.argv[2])
window.session.host.worker.text.connect(lambda chunk: print("chunk", flush=True))

def send():
    if window.session.model is None:
        QTimer.singleShot(50, send)
        return
    QTest.keyClicks(window.input_box, sys.argv[3])
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    print("sent", window.session.conversation_id, flush=True)

QTimer.singleShot(0, send)
app.exec()
"""


def test_sigkill_mid_answer_keeps_the_partial_answer_marked_incomplete(
        tmp_path: Path, model_path: Path, subprocess_env: dict[str, str]):
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), str(model_path), COUNTING_PROMPT],
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        conversation_id = None
        chunks = 0
        deadline = time.monotonic() + 120
        assert child.stdout is not None
        while chunks < 60 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            if line.startswith("sent"):
                conversation_id = int(line.split()[1])
            elif line.startswith("chunk"):
                chunks += 1
        assert conversation_id is not None and chunks >= 60, "the answer never streamed"
        time.sleep(1.0)  # more than the window's save interval: text is in the history now
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    store = HistoryStore.open(data / "chatdesk.sqlite3")
    try:
        thread = store.thread(conversation_id)
        assert [m.role for m in thread] == ["user", "assistant"]
        question, answer = thread
        assert question.content == COUNTING_PROMPT
        assert answer.state == "incomplete"  # the writer died: marked on this open
        assert len(answer.content) > 20, answer.content  # the streamed text survived
    finally:
        store.close()
