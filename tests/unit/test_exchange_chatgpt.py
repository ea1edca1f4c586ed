"""Importing ChatGPT's conversations.json: the current branch, visible text only.

The fixture mimics a real data export: a null root node, a hidden system message, edited
and regenerated branches, a browsing tool call and its result, code-interpreter input,
empty parts, an image with a caption, model slugs, and text in several scripts.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from test_exchange_formats import history  # noqa: F401

from chatdesk.core.exchange import ExchangeError, import_file

T0 = 1_700_000_000.0


def _node(node_id: str, parent: str | None, children: list[str], role: str | None = None,
          parts: list[Any] | None = None, content_type: str = "text", t: float = 0.0,
          **metadata: Any) -> dict[str, Any]:
    message = None
    if role is not None:
        content: dict[str, Any] = {"content_type": content_type}
        if content_type in ("text", "multimodal_text"):
            content["parts"] = parts if parts is not None else []
        else:
            content["text"] = "".join(p for p in parts or [] if isinstance(p, str))
        message = {"id": node_id, "author": {"role": role, "name": None, "metadata": {}},
                   "create_time": T0 + t if t else None, "update_time": None,
                   "content": content, "status": "finished_successfully",
                   "end_turn": True, "weight": 1.0, "metadata": metadata,
                   "recipient": "all"}
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def fixture_conversations() -> list[dict[str, Any]]:
    branchy = {
        "root": _node("root", None, ["sys"]),
        "sys": _node("sys", "root", ["u1", "u1-edit"], "system", [""],
                     is_visually_hidden_from_conversation=True),
        # the first question, edited later (u1-edit is the current branch)
        "u1": _node("u1", "sys", ["a-old"], "user", ["Old question"], t=1),
        "a-old": _node("a-old", "u1", [], "assistant", ["Old answer"], t=2),
        "u1-edit": _node("u1-edit", "sys", ["a1", "a1-regen"], "user",
                         ["Wie spät ist es in 東京? 🕐"], t=3),
        "a1": _node("a1", "u1-edit", [], "assistant", ["First try (not current)"], t=4,
                    model_slug="gpt-4o"),
        "a1-regen": _node("a1-regen", "u1-edit", ["search"], "assistant",
                          ["Let me check."], t=5, model_slug="gpt-4o"),
        "search": _node("search", "a1-regen", ["tool"], "assistant",
                        ['search("time in Tokyo")'], content_type="code", t=6,
                        model_slug="gpt-4o"),
        "tool": _node("tool", "search", ["empty"], "tool", ["Tokyo: 21:00 JST"],
                      content_type="tether_browsing_display", t=7),
        "empty": _node("empty", "tool", ["a2"], "assistant", [""], t=8, model_slug="gpt-4o"),
        "a2": _node("a2", "empty", ["u2"], "assistant",
                    ["In Tokyo it is **21:00**.\n\n```python\nprint('こんにちは')\n```"],
                    t=9, model_slug="gpt-4o"),
        "u2": _node("u2", "a2", ["a3"], "user",
                    [{"content_type": "image_asset_pointer", "asset_pointer": "file-x"},
                     "What is in this picture? שלום"], content_type="multimodal_text", t=10),
        "a3": _node("a3", "u2", ["u3"], "assistant", ["A cat 🐈 on e\u0301cole steps."],
                    t=11, model_slug="gpt-4o-mini"),
        "u3": _node("u3", "a3", ["a4"], "user", [{"content_type": "image_asset_pointer"}],
                    content_type="multimodal_text", t=12),  # an image only: no text
        "a4": _node("a4", "u3", [], "assistant", ["Another cat."], t=13,
                    model_slug="gpt-4o-mini"),
    }
    return [
        {"title": "Time in Tokyo ⏰", "create_time": T0, "update_time": T0 + 100,
         "mapping": branchy, "current_node": "a4", "conversation_id": "c-1",
         "default_model_slug": "gpt-4o", "moderation_results": [], "is_archived": False},
        {"title": "Only a system prompt", "create_time": T0 + 200, "update_time": T0 + 200,
         "mapping": {"r": _node("r", None, ["s"]),
                     "s": _node("s", "r", [], "system", ["You are ChatGPT."])},
         "current_node": "s"},
        {"title": None, "create_time": T0 + 300, "update_time": T0 + 301,
         "mapping": {"r": _node("r", None, ["u"]),
                     "u": _node("u", "r", ["a"], "user", ["hi"], t=301),
                     "a": _node("a", "u", [], "assistant", ["hello"], t=302)},
         "current_node": "gone"},  # a stale current_node: fall back to the latest leaf
    ]


def write_fixture(tmp_path: Path, name: str = "conversations.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(fixture_conversations(), ensure_ascii=False), encoding="utf-8")
    return path


def test_the_current_branch_with_visible_text_only(history, tmp_path):  # noqa: F811
    ids = import_file(history, write_fixture(tmp_path))
    assert len(ids) == 2  # the system-only conversation has nothing visible
    thread = history.thread(ids[0])
    assert [(m.role, m.content) for m in thread] == [
        ("user", "Wie spät ist es in 東京? 🕐"),
        ("assistant", "Let me check."),
        ("assistant", "In Tokyo it is **21:00**.\n\n```python\nprint('こんにちは')\n```"),
        ("user", "What is in this picture? שלום"),
        ("assistant", "A cat 🐈 on e\u0301cole steps."),
        ("assistant", "Another cat."),
    ]
    everything = " ".join(m.content for m in history.messages(ids[0]))
    for skipped in ("Old question", "First try", "search(", "Tokyo: 21:00", "ChatGPT"):
        assert skipped not in everything


def test_titles_times_and_models_are_kept(history, tmp_path):  # noqa: F811
    first, untitled = import_file(history, write_fixture(tmp_path))
    conv = history.get_conversation(first)
    assert conv.title == "Time in Tokyo ⏰"
    assert conv.created_at == T0 and conv.updated_at == T0 + 100
    assert conv.model == "gpt-4o"
    thread = history.thread(first)
    assert [m.created_at for m in thread] == [T0 + t for t in (3, 5, 9, 10, 11, 13)]
    assert [m.model for m in thread] == [None, "gpt-4o", "gpt-4o", None, "gpt-4o-mini",
                                         "gpt-4o-mini"]
    other = history.get_conversation(untitled)
    assert other.title == "Untitled"
    assert [m.content for m in history.thread(untitled)] == ["hi", "hello"]


def test_the_export_zip_works_too(history, tmp_path):  # noqa: F811
    json_path = write_fixture(tmp_path)
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("chat.html", "<html></html>")
        zf.write(json_path, "conversations.json")
    assert len(import_file(history, archive)) == 2


@pytest.mark.parametrize("broken", [
    lambda c: c[0].update(mapping=[]),
    lambda c: c[0]["mapping"]["a4"].update(parent=42),
    lambda c: c[0]["mapping"]["a4"].update(parent="missing-node"),
    lambda c: c[0]["mapping"]["root"].update(parent="a4"),  # a loop
    lambda c: c.append("not a conversation"),
])
def test_a_broken_export_imports_nothing(history, tmp_path, broken):  # noqa: F811
    conversations = fixture_conversations()
    broken(conversations)
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations), encoding="utf-8")
    with pytest.raises(ExchangeError):
        import_file(history, path)
    assert history.list_conversations(include_deleted=True) == []


def test_an_export_with_nothing_visible_is_an_error(history, tmp_path):  # noqa: F811
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(fixture_conversations()[1:2]), encoding="utf-8")
    with pytest.raises(ExchangeError, match="visible text"):
        import_file(history, path)
