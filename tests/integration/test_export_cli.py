"""`python -m chatdesk export|import|list` in subprocesses, on a history made here.

No model needed: the history is written through HistoryStore, then the child processes
get --data-dir (or CHATDESK_DATA_DIR) pointing at it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from unprivileged import UNPRIVILEGED, made_read_only, needs_posix_permissions

from chatdesk.core.history import HistoryStore, NewMessage

RUN_TIMEOUT_S = 120
TITLE = "CLI: export/import ✓ 日本"


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
         **popen: Any) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if k != "CHATDESK_DATA_DIR"}
    child_env.update(env or {})
    child_env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run([sys.executable, "-m", "chatdesk", *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=RUN_TIMEOUT_S, env=child_env,
                          cwd=cwd, **popen)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir holding two conversations; the first has a regenerated answer."""
    root = tmp_path / "data"
    with HistoryStore.open(root / "chatdesk.sqlite3") as store:
        store.import_conversation(TITLE, [
            NewMessage(1, None, "user", "Hello 👋 <b>"),
            NewMessage(2, 1, "assistant", "First answer", model="m"),
            NewMessage(3, 1, "assistant", "```py\nprint('hi')\n```", model="m",
                       stats={"generated_tokens": 7}),
        ], current_key=3, created_at=1_700_000_000, updated_at=1_700_000_100)
        store.import_conversation("Second", [NewMessage(1, None, "user", "Only a question")],
                                  created_at=1_700_000_200, updated_at=1_700_000_200)
    return root


def _ids(data_dir: Path) -> list[int]:
    result = _run("list", "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)]


def test_list_as_table_and_json(data_dir):
    table = _run("list", "--data-dir", str(data_dir))
    assert table.returncode == 0, table.stderr
    assert TITLE in table.stdout and "Second" in table.stdout
    rows = json.loads(_run("list", "--json", "--data-dir", str(data_dir)).stdout)
    assert [(r["title"], r["messages"]) for r in rows] == [("Second", 1), (TITLE, 3)]
    assert rows[1]["updated_at"] == 1_700_000_100


def test_list_honours_the_environment_variable_and_an_empty_data_dir(data_dir, tmp_path):
    result = _run("list", "--json", env={"CHATDESK_DATA_DIR": str(data_dir)})
    assert len(json.loads(result.stdout)) == 2
    empty = _run("list", "--json", "--data-dir", str(tmp_path / "nothing"))
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    assert not (tmp_path / "nothing").exists()  # listing creates no history


@pytest.mark.parametrize("fmt", ["md", "json", "html", "pdf", "txt"])
def test_export_one_conversation_in_each_format(data_dir, tmp_path, fmt):
    conversation_id = _ids(data_dir)[1]
    out = tmp_path / "out"
    out.mkdir()
    result = _run("export", str(conversation_id), "--format", fmt, "--out", str(out),
                  "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.parent == out and path.name == f"CLI_ export_import ✓ 日本.{fmt}"
    data = path.read_bytes()
    if fmt == "pdf":
        assert data.startswith(b"%PDF") and len(data) > 2_000
    else:
        text = data.decode("utf-8")
        assert "print" in text and "hi" in text and "Hello 👋" in text
        assert ("First answer" in text) == (fmt == "json")  # the alternative: JSON only


def test_export_never_overwrites_and_defaults_to_the_current_folder(data_dir, tmp_path):
    conversation_id = str(_ids(data_dir)[1])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    names = []
    for _ in range(2):
        result = _run("export", conversation_id, "--format", "md", "--data-dir",
                      str(data_dir), cwd=cwd)
        assert result.returncode == 0, result.stderr
        names.append(Path(result.stdout.strip()).name)
    assert names == ["CLI_ export_import ✓ 日本.md", "CLI_ export_import ✓ 日本 (2).md"]


def test_export_all_then_import_everything_back(data_dir, tmp_path):
    out = tmp_path / "all"
    result = _run("export", "--all", "--format", "json", "--out", str(out),
                  "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(p.name for p in paths) == sorted(["Second.json",
                                                    "CLI_ export_import ✓ 日本.json"])
    fresh = tmp_path / "fresh"
    created = []
    for path in paths:
        imported = _run("import", str(path), "--data-dir", str(fresh))
        assert imported.returncode == 0, imported.stderr
        created += [int(line) for line in imported.stdout.split()]
    assert len(created) == 2
    with HistoryStore.open(fresh / "chatdesk.sqlite3") as store:
        titles = {store.get_conversation(i).title: store.message_count(i) for i in created}
    assert titles == {TITLE: 3, "Second": 1}


def test_importing_the_same_file_twice_skips_it_and_says_so(data_dir, tmp_path):
    exported = _run("export", "--all", "--format", "json", "--out", str(tmp_path / "all"),
                    "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    path = Path(exported.stdout.splitlines()[0])
    fresh = tmp_path / "fresh"
    first = _run("import", str(path), "--data-dir", str(fresh))
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.split()) == 1
    assert first.stderr.strip() == "Imported 1 conversation."
    second = _run("import", str(path), "--data-dir", str(fresh))
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == []  # stdout holds only new ids: none
    assert second.stderr.strip() == "Skipped 1 conversation already imported."
    assert len(_ids(fresh)) == 1


def test_import_a_chatgpt_export(data_dir, tmp_path):
    mapping = {
        "root": {"id": "root", "message": None, "parent": None, "children": ["u"]},
        "u": {"id": "u", "parent": "root", "children": ["a"],
              "message": {"author": {"role": "user"}, "create_time": 1_700_000_000.0,
                          "content": {"content_type": "text", "parts": ["Hi from the cloud"]}}},
        "a": {"id": "a", "parent": "u", "children": [],
              "message": {"author": {"role": "assistant"}, "create_time": 1_700_000_001.0,
                          "content": {"content_type": "text", "parts": ["Welcome home"]}}},
    }
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([{"title": "From ChatGPT", "create_time": 1_700_000_000.0,
                                 "update_time": 1_700_000_001.0, "mapping": mapping,
                                 "current_node": "a"}]), encoding="utf-8")
    result = _run("import", str(path), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    [new_id] = [int(x) for x in result.stdout.split()]
    assert new_id in _ids(data_dir)


@pytest.mark.parametrize(("args", "message"), [
    (["export", "999", "--format", "md"], "no conversation 999"),
    (["export", "--all", "--format", "md"], "--all needs --out"),
    (["export", "1", "--all", "--format", "md", "--out", "x"], "not both"),
    (["import", "{missing}"], "Cannot read"),
    (["import", "{garbage}"], "not valid JSON"),
])
def test_errors_are_one_line_on_stderr_with_a_nonzero_exit(data_dir, tmp_path, args,
                                                          message):
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"format": "chatdesk-conversation", "messa', encoding="utf-8")
    args = [a.format(missing=tmp_path / "missing.json", garbage=garbage) for a in args]
    before = _ids(data_dir)
    result = _run(*args, "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert _ids(data_dir) == before  # nothing was imported half-way


def test_export_from_a_missing_history_is_an_error(tmp_path):
    result = _run("export", "1", "--format", "md", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 1 and "there is no history" in result.stderr


def _strict_json(text: str) -> object:
    """json.loads that refuses NaN/Infinity, which are not JSON (other tools choke on them)."""
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_an_imported_absurd_time_never_breaks_the_listing(data_dir, tmp_path):
    """Issue 18.5: `import` of a chat dated 1e20 broke `list` for good (OverflowError)."""
    path = tmp_path / "future.json"
    path.write_text(json.dumps({
        "format": "chatdesk-conversation", "version": 1,
        "conversation": {"title": "From the far future", "created_at": 1e20,
                         "updated_at": -1e20, "current_message": 1},
        "messages": [{"id": 1, "parent": None, "role": "user", "content": "hi",
                      "created_at": 1e20}]}), encoding="utf-8")
    imported = _run("import", str(path), "--data-dir", str(data_dir))
    assert imported.returncode == 0, imported.stderr
    table = _run("list", "--data-dir", str(data_dir))
    assert table.returncode == 0, table.stderr
    assert "From the far future" in table.stdout and "Second" in table.stdout
    rows = _strict_json(_run("list", "--json", "--data-dir", str(data_dir)).stdout)
    assert "From the far future" in [row["title"] for row in rows]


def test_an_absurd_time_already_stored_never_breaks_list_or_export(data_dir, tmp_path):
    """A database written before the import check (or by hand) may hold any REAL."""
    first, second = _ids(data_dir)
    conn = sqlite3.connect(data_dir / "chatdesk.sqlite3")
    with conn:
        conn.execute("UPDATE conversations SET updated_at = 1e20, created_at = -1e20 "
                     "WHERE id = ?", (first,))
        conn.execute("UPDATE conversations SET updated_at = 9e999 WHERE id = ?", (second,))
        conn.execute("UPDATE messages SET created_at = -9e999")
    conn.close()
    table = _run("list", "--data-dir", str(data_dir))
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("unknown time") == 2 and TITLE in table.stdout
    result = _run("list", "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in _strict_json(result.stdout)}
    assert rows[first]["updated_at"] is None and rows[second]["updated_at"] is None
    out = tmp_path / "out"
    exported = _run("export", "--all", "--format", "md", "--out", str(out),
                    "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    assert "unknown time" in (out / "Second.md").read_text(encoding="utf-8")


@needs_posix_permissions
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_history_lists_and_exports_and_refuses_an_import(data_dir, tmp_path,
                                                                     what):
    """Issue 18.8: list, export and import all failed with 'attempt to write a readonly
    database'. The children meet permissions as a user does (tests run as root)."""
    database = data_dir / "chatdesk.sqlite3"
    before = database.read_bytes()
    first = _ids(data_dir)[1]
    out = tmp_path / "out"
    out.mkdir()
    document = tmp_path / "chat.json"
    document.write_text(json.dumps({
        "format": "chatdesk-conversation", "version": 1, "conversation": {"title": "new"},
        "messages": [{"id": 1, "parent": None, "role": "user", "content": "q"}]}),
        encoding="utf-8")
    with made_read_only(database if what == "file" else data_dir):
        table = _run("list", "--data-dir", str(data_dir), **UNPRIVILEGED)
        rows = _run("list", "--json", "--data-dir", str(data_dir), **UNPRIVILEGED)
        exported = _run("export", str(first), "--format", "md", "--out", str(out),
                        "--data-dir", str(data_dir), **UNPRIVILEGED)
        imported = _run("import", str(document), "--data-dir", str(data_dir),
                        **UNPRIVILEGED)
    assert table.returncode == 0, table.stderr
    assert TITLE in table.stdout and "Second" in table.stdout
    assert [r["title"] for r in json.loads(rows.stdout)] == ["Second", TITLE]
    assert exported.returncode == 0, exported.stderr
    assert "First answer" not in Path(exported.stdout.strip()).read_text(encoding="utf-8")
    assert imported.returncode != 0 and imported.stdout == ""
    lines = imported.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in imported.stderr, imported.stderr
    assert f"The history is read-only ({database}): changes cannot be saved." in lines[0]
    assert database.read_bytes() == before
