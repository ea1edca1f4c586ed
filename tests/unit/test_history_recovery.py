"""Damaged history files: one clear DamagedDatabaseError, then recover() keeps the file,
starts fresh and rescues what can be read (through SQLite, else page by page)."""

from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatdesk.core.history import DamagedDatabaseError, HistoryStore
from chatdesk.core.history.recovery import RecoveryReport, recover, scan_pages
from chatdesk.core.history.schema import RAW_COLUMNS

PAGE = 4096


@dataclass
class Original:
    """What was written before the damage, to check that rescued rows are exact."""

    conversations: dict[int, str]  # id -> title
    messages: dict[int, tuple]  # id -> (conversation_id, parent_id, role, content, state)


def build(path: Path, conversations: int = 8, exchanges: int = 25, seed: int = 1,
          streaming: bool = False) -> Original:
    """A history with varied message sizes, some long enough to need overflow pages."""
    rng = random.Random(seed)
    original = Original({}, {})
    with HistoryStore.open(path) as store:
        for c in range(conversations):
            conversation = store.create_conversation(f"Chat {c} ✨")
            original.conversations[conversation.id] = conversation.title
            for e in range(exchanges):
                user = store.add_message(conversation.id, "user",
                                         f"question {c}.{e} " + "q" * rng.randint(5, 200))
                reply = store.begin_answer(conversation.id, user.id, model="m.gguf",
                                           sampling={"seed": e})
                text = f"answer {c}.{e} 你好 🎉 " + "a" * rng.choice((20, 300, 5000))
                store.finish_answer(reply.id, content=text, state="complete",
                                    stop_reason="eos", stats={"generated_tokens": e},
                                    energy={"joules": 1.5})
                for message in (store.message(user.id), store.message(reply.id)):
                    original.messages[message.id] = (message.conversation_id,
                                                      message.parent_id, message.role,
                                                      message.content, message.state)
            if streaming and c == 0:
                last = store.add_message(conversation.id, "user", "one more")
                reply = store.begin_answer(conversation.id, last.id, model="m", sampling={})
                store.append_answer_text(reply.id, "cut short")
                original.messages[last.id] = (conversation.id, last.parent_id, "user",
                                              "one more", "complete")
                original.messages[reply.id] = (conversation.id, last.id, "assistant",
                                               "cut short", "incomplete")
    return original


def table_pages(path: Path, table: str, kind: str = "leaf") -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno",
            (table, kind))]
    except sqlite3.OperationalError as exc:  # an SQLite built without dbstat
        pytest.skip(f"dbstat is not available: {exc}")
    finally:
        conn.close()


def root_page(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                            (table,)).fetchone()[0]
    finally:
        conn.close()


def overwrite_page(path: Path, number: int, seed: int = 7) -> None:
    data = bytearray(path.read_bytes())
    data[(number - 1) * PAGE:number * PAGE] = random.Random(seed).randbytes(PAGE)
    path.write_bytes(bytes(data))


def damaged_once(path: Path) -> DamagedDatabaseError:
    """Opening fails with a plain reason and leaves the damaged file byte for byte alone."""
    before = path.read_bytes()
    with pytest.raises(DamagedDatabaseError) as caught:
        HistoryStore.open(path)
    assert caught.value.path == path and caught.value.reason
    assert "Traceback" not in caught.value.reason
    assert path.read_bytes() == before
    return caught.value


def check_rescued(path: Path, report: RecoveryReport, original: Original) -> dict[int, tuple]:
    """The fresh store works, and every rescued message is exactly what was written."""
    with HistoryStore.open(path) as store:
        store.check_search_index()
        rescued: dict[int, tuple] = {}
        for conversation in store.list_conversations(include_deleted=True):
            assert conversation.title in (original.conversations.get(conversation.id),
                                          f"Recovered conversation {conversation.id}")
            for message in store.messages(conversation.id):
                conversation_id, parent, role, content, state = original.messages[message.id]
                assert (message.conversation_id, message.role, message.content,
                        message.state) == (conversation_id, role, content, state)
                assert message.parent_id in (parent, None)
                rescued[message.id] = original.messages[message.id]
            thread = store.thread(conversation.id)
            assert thread or not store.messages(conversation.id)
        assert len(rescued) == report.messages_rescued
        # the new database takes new chats
        new = store.create_conversation("after recovery")
        store.add_message(new.id, "user", "works again")
        assert store.search("works again")[0].conversation_id == new.id
    return rescued


def test_random_bytes(tmp_path):
    path = tmp_path / "history.sqlite3"
    garbage = random.Random(3).randbytes(50_000)
    path.write_bytes(garbage)
    error = damaged_once(path)
    assert error.kind == "not_a_database" and "not a chatdesk history" in error.reason
    report = recover(path)
    assert report.backup_path is not None and report.backup_path.read_bytes() == garbage
    assert report.backup_path.name.startswith("history.sqlite3.damaged-")
    assert report.messages_rescued == 0 and report.conversations_rescued == 0
    assert report.method == "none"
    check_rescued(path, report, Original({}, {}))
    assert "Rescued 0 conversation(s)" in report.summary()


def test_a_text_file(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_text("These are my notes, not a database.\n" * 100, encoding="utf-8")
    assert damaged_once(path).kind == "not_a_database"
    report = recover(path)
    assert report.backup_path.read_text(encoding="utf-8").startswith("These are my notes")
    assert report.messages_rescued == 0
    check_rescued(path, report, Original({}, {}))


def test_a_truncated_database(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 6 // 10 + 123])  # cut mid-page
    damaged_once(path)
    report = recover(path)
    rescued = check_rescued(path, report, original)
    assert 0 < len(rescued) < len(original.messages)
    assert report.conversations_rescued >= 1
    print(f"\ntruncated to 60%: {len(rescued)}/{len(original.messages)} messages rescued "
          f"({report.method})")


def test_a_message_page_overwritten_with_garbage(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path)
    leaves = table_pages(path, "messages")
    overwrite_page(path, leaves[len(leaves) // 2])
    assert damaged_once(path).kind == "corrupt"
    report = recover(path)
    rescued = check_rescued(path, report, original)
    lost = len(original.messages) - len(rescued)
    assert 0 < lost <= 30, lost  # only the rows of that one page (and their answers' links)
    assert report.conversations_rescued == len(original.conversations)


def test_the_header_page_overwritten_is_read_page_by_page(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path)
    overwrite_page(path, 1)
    assert damaged_once(path).kind == "not_a_database"
    report = recover(path)
    assert report.method == "pages"
    rescued = check_rescued(path, report, original)
    assert len(rescued) == len(original.messages)  # page 1 holds only the schema
    assert report.conversations_rescued == len(original.conversations)


def test_the_messages_root_page_overwritten(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path)
    overwrite_page(path, root_page(path, "messages"))
    damaged_once(path)
    report = recover(path)
    assert report.method == "sqlite+pages"
    rescued = check_rescued(path, report, original)
    assert len(rescued) == len(original.messages)  # the leaves were all intact


def test_lost_conversations_get_placeholders(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path, conversations=3, exchanges=10)
    overwrite_page(path, root_page(path, "conversations"))  # the whole (one-page) table
    damaged_once(path)
    report = recover(path)
    assert report.conversations_rescued == 0
    assert any("Recovered conversation" in note for note in report.notes)
    rescued = check_rescued(path, report, original)
    assert len(rescued) == len(original.messages)
    with HistoryStore.open(path) as store:
        titles = sorted(c.title for c in store.list_conversations())
        assert titles[:3] == [f"Recovered conversation {i}" for i in (1, 2, 3)]
        assert len(store.thread(1)) == 20  # the tree survived with the ids


def test_rows_only_in_the_wal_are_rescued_and_streaming_becomes_incomplete(tmp_path):
    path = tmp_path / "history.sqlite3"
    build(path, conversations=2, exchanges=3)
    store = HistoryStore.open(path)
    store._conn.execute("PRAGMA wal_autocheckpoint = 0")
    conversation = store.create_conversation("only in the WAL")
    user = store.add_message(conversation.id, "user", "wal question")
    reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.append_answer_text(reply.id, "wal partial answer")
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    snapshot, snapshot_wal = path.read_bytes(), wal.read_bytes()
    store._conn.close()  # as if killed: no checkpoint
    path.write_bytes(snapshot)
    wal.write_bytes(snapshot_wal)
    overwrite_page(path, 1)
    report = recover(path)
    assert Path(f"{report.backup_path}-wal") in report.moved_files
    with HistoryStore.open(path) as fresh:
        titles = [c.title for c in fresh.list_conversations()]
        assert "only in the WAL" in titles
        rescued = fresh.message(reply.id)
        assert rescued.content == "wal partial answer" and rescued.state == "incomplete"


def test_deleted_conversations_do_not_come_back(tmp_path):
    path = tmp_path / "history.sqlite3"
    build(path, conversations=4, exchanges=15)
    with HistoryStore.open(path) as store:
        store.delete_conversation(2)
        store.delete_conversation(3)
        assert store.purge_deleted() == 2
    raw = path.read_bytes()
    assert b"question 1.3" not in raw  # secure_delete: not even on free pages
    overwrite_page(path, 1)
    report = recover(path)
    with HistoryStore.open(path) as store:
        ids = sorted(c.id for c in store.list_conversations())
        assert ids == [1, 4]
        assert store.search("question 1.") == []
    assert report.conversations_rescued == 2


def test_open_damage_found_mid_session_is_a_damaged_error_too(tmp_path):
    path = tmp_path / "history.sqlite3"
    build(path)
    overwrite_page(path, table_pages(path, "messages")[3])
    with HistoryStore.open(path, check_integrity=False) as store:  # skip the check
        with pytest.raises(DamagedDatabaseError) as caught:
            for conversation in store.list_conversations():
                store.thread(conversation.id)
                store.messages(conversation.id)
        assert caught.value.kind == "corrupt"


def test_recover_without_a_file_and_with_a_name_taken(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite3"
    report = recover(path)
    assert report.backup_path is None and report.moved_files == ()
    with HistoryStore.open(path) as store:
        assert store.list_conversations() == []
    monkeypatch.setattr("time.strftime", lambda *_: "20250101-000000")
    path.write_bytes(b"garbage one" * 100)
    first = recover(path)
    path.unlink()
    path.write_bytes(b"garbage two" * 100)
    second = recover(path)
    assert first.backup_path != second.backup_path
    assert first.backup_path.read_bytes().startswith(b"garbage one")
    assert second.backup_path.read_bytes().startswith(b"garbage two")


def test_recover_of_a_healthy_database_keeps_everything(tmp_path):
    path = tmp_path / "history.sqlite3"
    original = build(path, conversations=3, exchanges=5, streaming=True)
    report = recover(path)
    assert report.method == "sqlite"
    rescued = check_rescued(path, report, original)
    assert len(rescued) == len(original.messages)
    assert report.conversations_rescued == 3


def test_the_page_scan_knows_the_real_column_order(tmp_path):
    """RAW_COLUMNS must follow the schema: a migration adding columns must extend it."""
    path = tmp_path / "history.sqlite3"
    HistoryStore.open(path).close()
    conn = sqlite3.connect(path)
    try:
        for table, columns in RAW_COLUMNS.items():
            actual = tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
            assert actual == columns
    finally:
        conn.close()


def test_page_scan_of_garbage_finds_nothing():
    rng = random.Random(11)
    for size in (0, 100, 4096 * 3, 65536 + 17):
        assert scan_pages(rng.randbytes(size)) == ({}, {})
    assert scan_pages(b"SQLite format 3\x00" + os.urandom(8000)) == ({}, {})


@pytest.mark.parametrize("page_size", [1024, 8192, 65536])
def test_the_page_size_is_found_without_the_header(tmp_path, page_size):
    path = tmp_path / "history.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA page_size = {page_size}")
    raw.execute("PRAGMA journal_mode = WAL")  # writes the header with that page size
    raw.close()
    original = build(path, conversations=6, exchanges=40, seed=page_size)
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA page_size").fetchone()[0] == page_size
    finally:
        raw.close()
    data = bytearray(path.read_bytes())
    data[:page_size] = random.Random(5).randbytes(page_size)
    path.write_bytes(bytes(data))
    report = recover(path)
    assert report.method == "pages"
    rescued = check_rescued(path, report, original)
    assert len(rescued) == len(original.messages)
