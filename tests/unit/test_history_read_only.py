"""A history the user cannot write (a read-only file or folder) still opens for reading;
every write says plainly that changes cannot be saved (issue 18, defect 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from unprivileged import UNPRIVILEGED, made_read_only, needs_posix_permissions

from chatdesk.core.history import (
    DamagedDatabaseError,
    HistoryStore,
    NewMessage,
    ReadOnlyHistoryError,
)

RUN_TIMEOUT_S = 60


def build(path: Path) -> int:
    with HistoryStore.open(path) as store:
        conversation = store.import_conversation("Kept", [
            NewMessage(1, None, "user", "What is the capital of France?"),
            NewMessage(2, 1, "assistant", "Paris.", stats={"generated_tokens": 2}),
            NewMessage(3, 1, "assistant", "It is Paris.")], current_key=2)
    return conversation.id


def writes(store: HistoryStore, cid: int) -> dict[str, object]:
    """Every kind of write the store offers, as callables."""
    leaf = store.thread(cid)[-1].id
    return {
        "create_conversation": lambda: store.create_conversation("new"),
        "rename": lambda: store.rename(cid, "x"),
        "set_pinned": lambda: store.set_pinned(cid, True),
        "delete_conversation": lambda: store.delete_conversation(cid),
        "restore_conversation": lambda: store.restore_conversation(cid),
        "purge_deleted": lambda: store.purge_deleted(),
        "update_conversation_settings": lambda: store.update_conversation_settings(
            cid, system_prompt="be brief"),
        "add_message": lambda: store.add_message(cid, "user", "more"),
        "edit_message": lambda: store.edit_message(leaf, "changed"),
        "begin_answer": lambda: store.begin_answer(cid, leaf, model="m", sampling={}),
        "append_answer_text": lambda: store.append_answer_text(leaf, "more"),
        "finish_answer": lambda: store.finish_answer(leaf, content="c", state="complete",
                                                     stop_reason=None, stats={}),
        "set_energy": lambda: store.set_energy(leaf, {"joules": 1.0}),
        "switch_to_sibling": lambda: store.switch_to_sibling(leaf),
        "delete_message": lambda: store.delete_message(leaf),
        "import_conversation": lambda: store.import_conversation(
            "imported", [NewMessage(1, None, "user", "q")]),
        "mark_interrupted_answers": lambda: store.mark_interrupted_answers(),
    }


def test_an_explicit_read_only_store_reads_everything_and_refuses_every_write(tmp_path):
    path = tmp_path / "chatdesk.sqlite3"
    cid = build(path)
    before = path.read_bytes()
    with HistoryStore.open(path, read_only=True) as store:
        assert store.read_only
        assert [c.title for c in store.list_conversations()] == ["Kept"]
        assert [m.content for m in store.thread(cid)] == ["What is the capital of France?",
                                                          "Paris."]
        assert store.message_count(cid) == 3
        assert store.search("capital")[0].conversation_id == cid
        assert store.totals(cid)["generated_tokens"] == 2
        for name, write in writes(store, cid).items():
            with pytest.raises(ReadOnlyHistoryError) as raised:
                write()
            assert str(raised.value) == (f"The history is read-only ({path}): changes "
                                         "cannot be saved."), name
        with pytest.raises(ReadOnlyHistoryError), store.transaction():
            pass
        assert [m.content for m in store.thread(cid)][-1] == "Paris."  # nothing changed
    assert path.read_bytes() == before


def test_a_writable_store_says_so(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        assert not store.read_only


def test_a_missing_file_cannot_be_opened_read_only(tmp_path):
    with pytest.raises(DamagedDatabaseError) as raised:
        HistoryStore.open(tmp_path / "none" / "h.sqlite3", read_only=True)
    assert raised.value.kind == "unreadable"
    assert not (tmp_path / "none").exists()  # read-only creates nothing


_CHILD = """
import json, sys
from pathlib import Path
from chatdesk.core.history import HistoryStore, HistoryError
with HistoryStore.open(Path(sys.argv[1])) as store:
    titles = [c.title for c in store.list_conversations()]
    try:
        store.create_conversation("new")
        error = None
    except HistoryError as exc:
        error = str(exc)
    print(json.dumps({"read_only": store.read_only, "titles": titles, "error": error}))
"""


@needs_posix_permissions
@pytest.mark.parametrize("what", ["file", "folder", "both"])
def test_a_history_this_user_cannot_write_opens_read_only_by_itself(tmp_path, what):
    """In a child that meets permissions as a user does: the store sees the file or the
    folder is not writable, opens read-only, and says so on a write (the WAL database in
    a read-only folder has no -shm to share: it is read as immutable)."""
    folder = tmp_path / "data"
    path = folder / "chatdesk.sqlite3"
    build(path)
    assert not Path(f"{path}-wal").exists()  # closed cleanly: nothing beside it
    targets = {"file": [path], "folder": [folder], "both": [path, folder]}[what]
    with made_read_only(targets[0]), made_read_only(targets[-1]):
        result = subprocess.run([sys.executable, "-c", _CHILD, str(path)],
                                capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                **UNPRIVILEGED)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"read_only": True, "titles": ["Kept"],
                      "error": f"The history is read-only ({path}): changes cannot be "
                               "saved."}
