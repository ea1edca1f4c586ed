"""A real process streaming an answer into the history is killed with SIGKILL: every piece
it reported as committed is there after reopening, and the answer is 'incomplete'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chatdesk.core.history import HistoryStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
]

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from chatdesk.core.history import HistoryStore

    store = HistoryStore.open(Path(sys.argv[1]))
    pause = float(sys.argv[2])
    conversation = store.create_conversation("killed mid-answer")
    user = store.add_message(conversation.id, "user", "Write forever, please.")
    reply = store.begin_answer(conversation.id, user.id, model="test.gguf",
                               sampling={"temperature": 0.7})
    print(f"ids {conversation.id} {reply.id}", flush=True)
    i = 0
    while True:
        store.append_answer_text(reply.id, f"piece {i}; ")
        print(f"committed {i}", flush=True)
        i += 1
        if pause:
            time.sleep(pause)
""")


def kill_after(path: Path, lines: int, pause: float) -> tuple[int, int, int]:
    """Run the child until it reported ``lines`` commits, SIGKILL it; (conv, msg, last)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(pause)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        header = child.stdout.readline().split()
        assert header[:1] == ["ids"], [*header, child.stderr.read()]
        conversation_id, message_id = int(header[1]), int(header[2])
        last = -1
        for _ in range(lines):
            line = child.stdout.readline()
            assert line.startswith("committed "), line
            last = int(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return conversation_id, message_id, last


@pytest.mark.parametrize(("lines", "pause"), [(5, 0.02), (400, 0.0)],
                         ids=["paced-like-the-ui", "flat-out"])
def test_a_killed_writer_keeps_every_committed_piece(tmp_path, lines, pause):
    path = tmp_path / "history.sqlite3"
    conversation_id, message_id, last = kill_after(path, lines, pause)
    assert last == lines - 1
    with HistoryStore.open(path) as store:  # the full integrity check runs here too
        message = store.message(message_id)
        assert message is not None and message.state == "incomplete"
        expected = "".join(f"piece {i}; " for i in range(last + 1))
        # the child may have committed a few more after its last line was read
        assert message.content.startswith(expected), message.content[:200]
        extra = message.content[len(expected):]
        assert extra == "".join(f"piece {i}; " for i in range(last + 1, last + 1 +
                                                             extra.count("piece ")))
        thread = store.thread(conversation_id)
        assert [m.role for m in thread] == ["user", "assistant"]
        assert thread[-1].id == message_id and thread[-1].state == "incomplete"
        assert [h.message_id for h in store.search(f"piece {last};")] == [message_id]
        store.check_search_index()
        # and the history goes on as normal
        reply = store.begin_answer(conversation_id, thread[0].id, model="m", sampling={})
        store.finish_answer(reply.id, content="a fresh answer", state="complete",
                            stop_reason="eos", stats={})
        assert store.thread(conversation_id)[-1].sibling_count == 2
