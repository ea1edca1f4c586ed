"""What the CLI prints cannot drive the terminal, and a closed pipe is no error (issue 18,
defect 7). An imported title set the terminal's title through `chatdesk list`, and
`chatdesk list --json | head` printed a BrokenPipeError traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatdesk.core.history import HistoryStore, NewMessage

HOSTILE_TITLE = "\x1b]0;pwned\x07\x1b[2J\x9b31mred\x90dcs\x9c\x08\x7f ok\ttab"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CHATDESK_DATA_DIR"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _history(root: Path, conversations: int) -> Path:
    with HistoryStore.open(root / "chatdesk.sqlite3") as store, store.transaction():
        store.import_conversation(HOSTILE_TITLE, [NewMessage(1, None, "user", "hi")])
        for i in range(conversations - 1):
            store.import_conversation(f"chat {i}", [NewMessage(1, None, "user", "q")])
    return root


def test_list_prints_no_control_characters(tmp_path: Path):
    data = _history(tmp_path / "data", 1)
    table = subprocess.run([sys.executable, "-m", "chatdesk", "list", "--data-dir", str(data)],
                           capture_output=True, text=True, encoding="utf-8", env=_env(),
                           timeout=120)
    assert table.returncode == 0, table.stderr
    assert not CONTROL.search(table.stdout), repr(table.stdout)
    assert "pwned" in table.stdout and "ok" in table.stdout  # the text itself is shown
    as_json = subprocess.run(
        [sys.executable, "-m", "chatdesk", "list", "--json", "--data-dir", str(data)],
        capture_output=True, text=True, encoding="utf-8", env=_env(), timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    assert not CONTROL.search(as_json.stdout.replace("\n", "")), repr(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["title"] == HOSTILE_TITLE  # escaped, not lost


@pytest.mark.parametrize("args", [["list", "--json"], ["list"], ["models", "list", "--json"]])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str]):
    """`... | head -1`: the reader leaves after one line; no traceback, exit 0 or 141."""
    data = _history(tmp_path / "data", 3000)  # far more output than a pipe buffer holds
    process = subprocess.Popen(
        [sys.executable, "-m", "chatdesk", *args, "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # what `head -1` does once it has its line
    stderr = process.stderr.read().decode("utf-8", errors="replace")
    code = process.wait(timeout=120)
    assert first
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert code in (0, 141)
