"""`chatdesk` on the command line (issue 17, bug 10): --help lists the commands, and an
unknown command or option is an error with a hint and exit status 2, never a window that
silently opens and ignores it. Run as a user would: `python -m chatdesk` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatdesk.cli import CLI_COMMANDS, command_summaries
from chatdesk.launcher import window_argument_problem

# A window that opened by mistake would wait for ever: the timeout turns that into a
# failure. (Nothing here asserts how fast the answer is.)
RUN_TIMEOUT_S = 60


def chatdesk(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CHATDESK_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "chatdesk", *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=RUN_TIMEOUT_S, env=env)


def test_help_lists_every_command_with_one_line(tmp_path):
    result = chatdesk("--help", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name, summary in command_summaries():
        line = next((x for x in lines if x.startswith(f"  {name} ")), None)
        assert line is not None, f"{name} is missing from --help"
        assert summary.split()[0] in line  # its summary starts on the same line
    assert "--model" in result.stdout and "--data-dir" in result.stdout  # the window's
    assert not (tmp_path / "logs").exists()  # help started nothing


def test_every_routed_command_is_in_the_parser_and_back():
    assert sorted(CLI_COMMANDS) == sorted(name for name, _ in command_summaries())


@pytest.mark.parametrize(("args", "message"), [
    (["lsit"], "chatdesk: unknown command 'lsit'; did you mean 'list'?"),
    (["exprot", "1"], "chatdesk: unknown command 'exprot'; did you mean 'export'?"),
    (["chta", "--json", "hi"], "chatdesk: unknown command 'chta'"),
    (["--modle", "x.gguf"], "chatdesk: unknown option '--modle'; did you mean '--model'?"),
    (["-platform", "offscreen", "--bogus"], "chatdesk: unknown option '--bogus'"),
    (["list", "--jsn"], "chatdesk list: unknown option '--jsn'; did you mean '--json'?"),
    (["models", "lst"], "chatdesk models: unknown command 'lst'; did you mean 'list'?"),
    (["export", "1", "--format", "docx"],
     "chatdesk export: unknown --format value 'docx' (one of: md, json, html, pdf, txt)"),
])
def test_unknown_commands_and_options_are_errors_with_a_hint(tmp_path, args, message):
    result = chatdesk(*args, data_dir=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    first, *rest = result.stderr.splitlines()
    assert first.startswith(message), first  # "chta": "did you mean 'chat'?" once chat exists
    assert rest and rest[-1].startswith("(see: chatdesk") and rest[-1].endswith("--help)")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "chatdesk.sqlite3").exists()  # no window, no history opened


def test_qt_options_and_a_model_file_still_open_the_window(tmp_path):
    model = tmp_path / "some model.GGUF"
    assert window_argument_problem(["-platform", "offscreen", "--style=fusion", "-reverse",
                                    "--model", "a.gguf", "-qwindowtitle", "x"]) is None
    assert window_argument_problem([str(model)]) is None  # a file manager's "Open with"
    assert window_argument_problem(["notes.txt"]) is not None
