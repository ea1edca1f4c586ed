"""Our JSON format: the round trip keeps everything but ids; bad files import nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_exchange_formats import history, make_rich_conversation  # noqa: F401

from chatdesk.core.exchange import ExchangeError, export_conversation, import_file, render
from chatdesk.core.exchange.json_format import FORMAT_NAME, FORMAT_VERSION
from chatdesk.core.history import HistoryStore, NewMessage


def _without_ids(document: dict[str, Any]) -> dict[str, Any]:
    """The document with message ids replaced by their position (ids differ per store)."""
    position = {m["id"]: i for i, m in enumerate(document["messages"])}
    conversation = dict(document["conversation"])
    conversation.pop("source_id")
    conversation["current_message"] = position.get(conversation["current_message"])
    messages = [dict(m, id=position[m["id"]],
                     parent=None if m["parent"] is None else position[m["parent"]])
                for m in document["messages"]]
    rest = {k: v for k, v in document.items() if k not in ("exported_at", "conversation",
                                                            "messages")}
    return {**rest, "conversation": conversation, "messages": messages}


def _snapshot(store: HistoryStore, conversation_id: int) -> dict[str, Any]:
    return _without_ids(json.loads(render(store, conversation_id, "json")))


def _conversation_count(store: HistoryStore) -> int:
    return len(store.list_conversations(include_deleted=True))


def test_round_trip_gives_the_same_conversation(history, tmp_path):  # noqa: F811
    cid = make_rich_conversation(history)
    history.set_pinned(cid, True)
    path = export_conversation(history, cid, "json", tmp_path / "chat.json")
    with HistoryStore.open(tmp_path / "other.sqlite3") as other:
        [new_id] = import_file(other, path)
        assert _snapshot(other, new_id) == _snapshot(history, cid)
        # The visible thread (current branch, alternatives counts) is the same too.
        before = [(m.role, m.content, m.sibling_index, m.sibling_count)
                  for m in history.thread(cid)]
        after = [(m.role, m.content, m.sibling_index, m.sibling_count)
                 for m in other.thread(new_id)]
        assert after == before and len(after) == 4
        assert other.totals(new_id) == history.totals(cid)


def test_the_document_holds_the_tree_sampling_stats_energy_and_settings(history):  # noqa: F811
    cid = make_rich_conversation(history)
    doc = json.loads(render(history, cid, "json"))
    assert doc["format"] == FORMAT_NAME and doc["version"] == FORMAT_VERSION
    conv = doc["conversation"]
    assert conv["system_prompt"].startswith("You are terse.")
    assert conv["settings"]["context"] == 2048 and conv["model"] == "gemma-3-270m"
    assert conv["created_at"] == 1_699_999_999.0 and conv["updated_at"] == 1_700_000_070.0
    assert len(doc["messages"]) == 7
    roots = [m for m in doc["messages"] if m["parent"] is None]
    assert len(roots) == 2  # the first question and its edit
    answer = doc["messages"][1]
    assert answer["sampling"]["seed"] == 42 and answer["stats"]["tokens_per_s"] == 13.6
    assert answer["energy"]["source"] == "rapl" and answer["model"] == "gemma-3-270m"
    assert answer["created_at"] == 1_700_000_010.5
    assert doc["messages"][2]["state"] == "incomplete"
    assert doc["messages"][2]["stop_reason"] == "user"


def test_unicode_oddities_survive_the_round_trip(history, tmp_path):  # noqa: F811
    odd = "NUL\u0000 \u0001 \u007f \u2028 \u2029 \ufeff \U0001f600 \u05d0\u0301 \ufffe"
    cid = history.import_conversation(odd, [NewMessage(1, None, "user", odd),
                                            NewMessage(2, 1, "assistant", odd * 3)],
                                      system_prompt=odd).id
    path = export_conversation(history, cid, "json", tmp_path / "odd.json")
    raw = path.read_text(encoding="utf-8")
    assert "\\u0000" in raw and "\U0001f600" in raw  # NUL escaped, emoji as itself
    [new_id] = import_file(history, path)
    assert history.get_conversation(new_id).title == odd
    assert [m.content for m in history.messages(new_id)] == [odd, odd * 3]


def test_lone_surrogates_in_a_file_become_replacement_characters(history, tmp_path):  # noqa: F811
    path = tmp_path / "s.json"
    path.write_text(json.dumps({
        "format": FORMAT_NAME, "version": 1, "conversation": {"title": "bad \ud800 half"},
        "messages": [{"id": 1, "parent": None, "role": "user",
                      "content": "pair \ud83d\ude00 lone \udc00"}]}), encoding="utf-8")
    [cid] = import_file(history, path)
    assert history.get_conversation(cid).title == "bad \ufffd half"
    assert history.messages(cid)[0].content == "pair \U0001f600 lone \ufffd"


def _valid_document() -> dict[str, Any]:
    return {"format": FORMAT_NAME, "version": 1,
            "conversation": {"title": "ok", "current_message": 2},
            "messages": [{"id": 1, "parent": None, "role": "user", "content": "q"},
                         {"id": 2, "parent": 1, "role": "assistant", "content": "a"}]}


def test_a_minimal_hand_written_document_imports(history, tmp_path):  # noqa: F811
    path = tmp_path / "min.json"
    path.write_text(json.dumps(_valid_document()), encoding="utf-8")
    [cid] = import_file(history, path)
    assert [m.content for m in history.thread(cid)] == ["q", "a"]


def test_children_listed_before_parents_are_reordered(history, tmp_path):  # noqa: F811
    doc = _valid_document()
    doc["messages"].reverse()
    path = tmp_path / "rev.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    [cid] = import_file(history, path)
    assert [m.content for m in history.thread(cid)] == ["q", "a"]


def _broken(mutate) -> dict[str, Any]:
    doc = _valid_document()
    mutate(doc)
    return doc


BAD_DOCUMENTS = {
    "wrong version type": _broken(lambda d: d.update(version="1")),
    "newer version": _broken(lambda d: d.update(version=FORMAT_VERSION + 1)),
    "no messages list": _broken(lambda d: d.update(messages={"1": "x"})),
    "conversation not an object": _broken(lambda d: d.update(conversation=[])),
    "bad role": _broken(lambda d: d["messages"][1].update(role="tool")),
    "bad state": _broken(lambda d: d["messages"][1].update(state="done")),
    "content not text": _broken(lambda d: d["messages"][1].update(content=42)),
    "missing content": _broken(lambda d: d["messages"][1].pop("content")),
    "duplicate id": _broken(lambda d: d["messages"][1].update(id=1)),
    "orphan": _broken(lambda d: d["messages"][1].update(parent=99)),
    "loop": _broken(lambda d: (d["messages"][0].update(parent=2))),
    "stats not an object": _broken(lambda d: d["messages"][1].update(stats=[1, 2])),
    "time not a number": _broken(lambda d: d["messages"][1].update(created_at="yesterday")),
    "pinned not bool": _broken(lambda d: d["conversation"].update(pinned="yes")),
    "unknown current": _broken(lambda d: d["conversation"].update(current_message=7)),
}


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_a_document_with_a_wrong_shape_imports_nothing(history, tmp_path, name):  # noqa: F811
    make_rich_conversation(history)
    before = _conversation_count(history)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(BAD_DOCUMENTS[name]), encoding="utf-8")
    with pytest.raises(ExchangeError) as caught:
        import_file(history, path)
    assert "bad.json" in str(caught.value)
    assert _conversation_count(history) == before


@pytest.mark.parametrize("content", [
    b"", b"   \n", b"not json at all", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'{"a": 1}',
    b'"just a string"', b"[]", b"[" * 100_000,
])
def test_files_that_are_not_exports_import_nothing(history, tmp_path, content):  # noqa: F811
    path = tmp_path / "weird.json"
    path.write_bytes(content)
    with pytest.raises(ExchangeError):
        import_file(history, path)
    assert _conversation_count(history) == 0


def test_a_truncated_export_imports_nothing(history, tmp_path):  # noqa: F811
    cid = make_rich_conversation(history)
    data = render(history, cid, "json")
    before = _conversation_count(history)
    for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
        path = tmp_path / f"cut{cut}.json"
        path.write_bytes(data[:cut])
        with pytest.raises(ExchangeError, match="not valid JSON"):
            import_file(history, path)
    assert _conversation_count(history) == before


def test_a_missing_file_is_a_clear_error(history, tmp_path):  # noqa: F811
    with pytest.raises(ExchangeError, match="Cannot read"):
        import_file(history, tmp_path / "nope.json")


def test_a_failure_while_writing_rolls_back_every_conversation(history, tmp_path,  # noqa: F811
                                                               monkeypatch):
    """A multi-conversation file (ChatGPT) is one transaction: the second failing undoes
    the first."""
    from test_exchange_chatgpt import write_fixture

    path = write_fixture(tmp_path)
    real = HistoryStore.import_conversation
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("disk on fire")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(HistoryStore, "import_conversation", flaky)
    with pytest.raises(ExchangeError, match="Nothing was imported"):
        import_file(history, path)
    assert len(calls) == 2
    assert _conversation_count(history) == 0
    monkeypatch.setattr(HistoryStore, "import_conversation", real)
    assert len(import_file(history, path)) >= 2  # and the store still works


def test_exported_json_is_readable_by_anyone(history, tmp_path):  # noqa: F811
    cid = make_rich_conversation(history)
    path = export_conversation(history, cid, "json", Path(tmp_path))
    assert path.suffix == ".json"
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON, UTF-8, no NaN
