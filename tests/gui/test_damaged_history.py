"""A damaged history at start-up gets one plain question and a recovery, never a
traceback or a crash loop."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from chatdesk.app import open_history_or_recover
from chatdesk.core.history import HistoryStore


def answer_dialogs(texts: list[str], choice: str) -> QTimer:
    """Press ``choice`` (or OK) on each modal box as it appears; record what they said."""
    timer = QTimer()
    timer.setInterval(20)

    def press() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            texts.append(box.text())
            buttons = {b.text().replace("&", ""): b for b in box.findChildren(QPushButton)}
            (buttons.get(choice) or buttons.get("OK") or next(iter(buttons.values()))).click()

    timer.timeout.connect(press)
    timer.start()
    return timer


def make_damaged(path: Path) -> None:
    store = HistoryStore.open(path)
    conversation = store.create_conversation("Keep me")
    store.add_message(conversation.id, "user", "a message worth rescuing")
    store.close()
    data = bytearray(path.read_bytes())
    data[:100] = b"\xff" * 100  # the header page is garbage now
    path.write_bytes(bytes(data))


def test_recover_keeps_a_copy_and_rescues_what_it_can(qtbot, tmp_path: Path):
    path = tmp_path / "chatdesk.sqlite3"
    make_damaged(path)
    texts: list[str] = []
    timer = answer_dialogs(texts, "Recover")
    store = open_history_or_recover(path)
    timer.stop()
    assert store is not None
    assert "cannot be opened" in texts[0]
    assert texts[1].startswith("Rescued")
    assert list(tmp_path.glob("chatdesk.sqlite3.damaged-*"))  # the damaged file is kept
    conversations = store.list_conversations()
    assert [c.title for c in conversations] == ["Keep me"]  # a garbage header loses nothing
    assert [m.content for m in store.thread(conversations[0].id)] == [
        "a message worth rescuing"]
    store.create_conversation("new life")  # the fresh history works
    store.close()


def test_quit_leaves_the_damaged_file_alone(qtbot, tmp_path: Path):
    path = tmp_path / "chatdesk.sqlite3"
    make_damaged(path)
    before = path.read_bytes()
    texts: list[str] = []
    timer = answer_dialogs(texts, "Quit")
    assert open_history_or_recover(path) is None
    timer.stop()
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.damaged-*"))


def test_another_programs_database_is_never_recovered_over(qtbot, tmp_path: Path):
    import sqlite3

    path = tmp_path / "chatdesk.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    before = path.read_bytes()
    texts: list[str] = []
    timer = answer_dialogs(texts, "OK")
    assert open_history_or_recover(path) is None
    timer.stop()
    assert path.read_bytes() == before
    assert len(texts) == 1 and "left untouched" in texts[0], texts


def test_a_read_only_history_opens_for_reading_and_says_so_once(qtbot, tmp_path: Path,
                                                                 monkeypatch):
    """Issue 18.8. Tests run as root, which writes through any file mode, so os.access
    is told what a user without write permission would hear (the CLI tests use a child
    process without that override)."""
    import os

    path = tmp_path / "chatdesk.sqlite3"
    with HistoryStore.open(path) as store:
        store.create_conversation("Readable")
    before = path.read_bytes()
    real_access = os.access

    def access(target, mode, *args, **kwargs):
        if mode & os.W_OK and Path(target) in (path, tmp_path):
            return False
        return real_access(target, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    texts: list[str] = []
    timer = answer_dialogs(texts, "OK")
    store = open_history_or_recover(path)
    timer.stop()
    assert store is not None and store.read_only
    assert [c.title for c in store.list_conversations()] == ["Readable"]
    store.close()
    assert texts == [f"The history is read-only ({path}): changes cannot be saved. Your "
                     "chats can still be read, searched and exported."]
    assert path.read_bytes() == before
