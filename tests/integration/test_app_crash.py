"""Nothing is lost when the app dies mid-answer: a real chatdesk window, with the real
model, is killed while it streams. SIGKILL may lose at most the last save interval of
text; SIGTERM and SIGINT (a logout, ``kill``, Ctrl+C) close the app normally and lose
nothing. The saved text is compared with what really streamed before the signal."""

from __future__ import annotations

import json
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
import json
import sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from chatdesk.core.engine import LlamaEngine
from chatdesk.core.paths import resolve_paths
from chatdesk.core.settings import Settings
from chatdesk.core.sampling import SamplingParams
from chatdesk.app import build_window, quit_on_signals, shutdown
from chatdesk.worker import EngineHost

paths = resolve_paths(sys.argv[1]).ensure()
app = QApplication([])
window = build_window(EngineHost(LlamaEngine(), paths.models_dir), paths,
                      Settings(sampling=SamplingParams(temperature=0, max_tokens=4000)))
window.show()
window.load_model(sys.argv[2])
window.session.host.worker.text.connect(
    lambda chunk: print("chunk", json.dumps(chunk.text), flush=True))

def send():
    if window.session.model is None:
        QTimer.singleShot(50, send)
        return
    QTest.keyClicks(window.input_box, sys.argv[3])
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    print("sent", window.session.conversation_id, flush=True)

QTimer.singleShot(0, send)
quit_on_signals(app)
app.exec()
shutdown(window)
"""


SAVE_SLACK_S = 0.8  # the window's 0.4 s save interval, plus scheduling slack


def stream_then_signal(tmp_path: Path, model_path: Path, env: dict[str, str], signum: int,
                       wait_after_s: float) -> tuple[int, str, str, str, int, str]:
    """Start the real app, let it stream 60 chunks, wait, send ``signum``; return the
    conversation id, the text streamed SAVE_SLACK_S before the signal, the text streamed
    before the signal, all text streamed, the exit code and the child's stderr."""
    data = tmp_path / "data"
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data), str(model_path), COUNTING_PROMPT],
            env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            conversation_id = None
            pieces: list[tuple[float, str]] = []  # (when it arrived here, its text)
            deadline = time.monotonic() + 120
            assert child.stdout is not None
            while len(pieces) < 60 and time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:
                    break
                if line.startswith("sent"):
                    conversation_id = int(line.split()[1])
                elif line.startswith("chunk "):
                    pieces.append((time.monotonic(), json.loads(line[len("chunk "):])))
            assert conversation_id is not None and len(pieces) >= 60, \
                f"the answer never streamed: {stderr_path.read_text()[-2000:]}"
            time.sleep(wait_after_s)
            # Chunks that arrived while we slept streamed before the signal too (their
            # arrival time is taken as now: later than they were, so the check is lenient).
            os.set_blocking(child.stdout.fileno(), False)
            now = time.monotonic()
            pieces += [(now, json.loads(line[len("chunk "):]))
                       for line in child.stdout.readlines() if line.startswith("chunk ")]
            signalled_at = time.monotonic()
            os.kill(child.pid, signum)
            before = "".join(text for _, text in pieces)
            settled = "".join(text for at, text in pieces
                              if at < signalled_at - SAVE_SLACK_S)
            os.set_blocking(child.stdout.fileno(), True)
            out, _ = child.communicate(timeout=60)
            rest = [json.loads(line[len("chunk "):]) for line in out.splitlines()
                    if line.startswith("chunk ")]
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return conversation_id, settled, before, before + "".join(rest), child.returncode, \
        stderr_path.read_text()


def saved_answer(tmp_path: Path, conversation_id: int):
    store = HistoryStore.open(tmp_path / "data" / "chatdesk.sqlite3")
    try:
        thread = store.thread(conversation_id)
    finally:
        store.close()
    assert [m.role for m in thread] == ["user", "assistant"]
    assert thread[0].content == COUNTING_PROMPT
    return thread[1]


def test_sigkill_mid_answer_keeps_the_partial_answer_marked_incomplete(
        tmp_path: Path, model_path: Path, subprocess_env: dict[str, str]):
    # 1 s: well over the 0.4 s save interval, so the text streamed 0.4 s before the kill
    # must be on disk; only the last interval may be lost.
    conversation_id, settled, _before, streamed, code, stderr = stream_then_signal(
        tmp_path, model_path, subprocess_env, signal.SIGKILL, wait_after_s=1.0)
    assert code == -signal.SIGKILL
    assert "Traceback" not in stderr, stderr
    answer = saved_answer(tmp_path, conversation_id)
    assert answer.state == "incomplete"  # the writer died: marked on this open
    assert streamed.startswith(answer.content)  # exactly what streamed, nothing else
    assert len(settled) > 20
    assert answer.content.startswith(settled), "more than the last save interval was lost"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_save_everything_streamed(
        tmp_path: Path, model_path: Path, subprocess_env: dict[str, str], signum: int):
    conversation_id, _settled, before, streamed, code, stderr = stream_then_signal(
        tmp_path, model_path, subprocess_env, signum, wait_after_s=0.1)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    answer = saved_answer(tmp_path, conversation_id)
    assert answer.state == "incomplete"
    assert streamed.startswith(answer.content)
    assert answer.content.startswith(before)  # nothing that streamed before it was lost
