"""Importing the same chat twice (issue 17, bug 9): repeats are skipped and said so, with
the plural right; a chat that differs, or one the user deleted, is imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_exchange_chatgpt import fixture_conversations, write_fixture
from test_exchange_formats import history, make_rich_conversation  # noqa: F401

from chatdesk.core.exchange import export_conversation, import_file
from chatdesk.core.exchange.duplicates import import_summary
from chatdesk.core.figures import count_of
from chatdesk.core.history import HistoryStore


def _count(store: HistoryStore) -> int:
    return len(store.list_conversations())


@pytest.mark.parametrize(("imported", "skipped", "text"), [
    (1, 0, "Imported 1 conversation."),
    (2, 0, "Imported 2 conversations."),
    (0, 0, "Imported 0 conversations."),
    (0, 1, "Skipped 1 conversation already imported."),
    (0, 3, "Skipped 3 conversations already imported."),
    (1, 2, "Imported 1 conversation; skipped 2 conversations already imported."),
])
def test_the_summary_gets_its_plurals_right(imported, skipped, text):
    assert import_summary(imported, skipped) == text


def test_count_of():
    assert [count_of(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert count_of(2, "copy", "copies") == "2 copies"


def test_the_same_chatdesk_export_imported_twice_is_skipped_the_second_time(
        history, tmp_path):  # noqa: F811
    path = export_conversation(history, make_rich_conversation(history), "json",
                               tmp_path / "chat.json")
    with HistoryStore.open(tmp_path / "other.sqlite3") as other:
        first = import_file(other, path)
        assert len(first) == 1 and first.skipped == 0
        assert first.summary() == "Imported 1 conversation."
        other.rename(first.ids[0], "Renamed since")  # still the same chat
        second = import_file(other, path)
        assert list(second) == [] and second.skipped == 1
        assert second.summary() == "Skipped 1 conversation already imported."
        assert _count(other) == 1


def test_a_chatgpt_export_imported_twice_adds_nothing_the_second_time(
        history, tmp_path):  # noqa: F811
    path = write_fixture(tmp_path)
    first = import_file(history, path)
    assert len(first) == 2 and first.summary() == "Imported 2 conversations."
    before = _count(history)
    second = import_file(history, path)
    assert len(second) == 0 and second.skipped == 2
    assert second.summary() == "Skipped 2 conversations already imported."
    assert _count(history) == before


def test_a_grown_export_imports_only_the_new_chat(history, tmp_path):  # noqa: F811
    """An export taken later holds the old chats and a new one: only the new one comes."""
    conversations = fixture_conversations()
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations[:1]), encoding="utf-8")
    assert len(import_file(history, path)) == 1
    path.write_text(json.dumps(conversations), encoding="utf-8")
    later = import_file(history, path)
    assert len(later) == 1 and later.skipped == 1
    assert later.summary() == "Imported 1 conversation; skipped 1 conversation already " \
                              "imported."


def test_a_changed_chat_and_a_deleted_one_are_imported_again(history, tmp_path):  # noqa: F811
    conversations = fixture_conversations()
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations[:1]), encoding="utf-8")
    (first,) = import_file(history, path)
    history.delete_conversation(first)  # the user deleted it: importing brings it back
    assert len(import_file(history, path)) == 1
    mapping = conversations[0]["mapping"]
    node = mapping["u1-edit"]  # the question on the current branch
    node["message"]["content"]["parts"] = ["A different question"]
    path.write_text(json.dumps(conversations[:1]), encoding="utf-8")
    changed = import_file(history, path)
    assert len(changed) == 1 and changed.skipped == 0


def test_a_file_holding_one_chat_twice_imports_it_once(history, tmp_path):  # noqa: F811
    conversations = fixture_conversations()
    path = Path(tmp_path / "conversations.json")
    path.write_text(json.dumps([conversations[0], conversations[0]]), encoding="utf-8")
    result = import_file(history, path)
    assert len(result) == 1 and result.skipped == 1
