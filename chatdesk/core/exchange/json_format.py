"""chatdesk's own JSON format: lossless, versioned, documented in docs/export-format.md.

It holds the whole message tree (parent links, so regenerated answers and edited questions
survive), each message's sampling, statistics, energy, model, state and times, and the
conversation's settings and system prompt. Reading validates everything *before* anything
is written, so a file that is not what it claims imports nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from typing import Any

from chatdesk import __version__
from chatdesk.core.exchange.common import ExchangeError, clean_text, clean_value
from chatdesk.core.exchange.documents import parse_fields
from chatdesk.core.history import Conversation, NewMessage, StoredMessage
from chatdesk.core.history.schema import ROLES, STATES

FORMAT_NAME = "chatdesk-conversation"
FORMAT_VERSION = 1


def conversation_document(conversation: Conversation, messages: list[StoredMessage],
                          exported_at: float,
                          documents: tuple[dict[int, dict[str, Any]], dict[str, str]]
                          | None = None) -> dict[str, Any]:
    """The JSON object for one conversation (every message of the tree, oldest first);
    ``documents``: the messages' files and sources and the files' bytes (exchange/
    documents.py)."""
    fields, attachments = documents or ({}, {})
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": exported_at,
        "exported_by": f"chatdesk {__version__}",
        "conversation": {
            "source_id": conversation.id,
            "title": conversation.title,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "pinned": conversation.pinned,
            "model": conversation.model,
            "system_prompt": conversation.system_prompt,
            "settings": conversation.settings,
            "current_message": conversation.current_leaf_id,
        },
        "messages": [{
            "id": m.id,
            "parent": m.parent_id,
            "role": m.role,
            "content": m.content,
            "created_at": m.created_at,
            "model": m.model,
            "state": m.state,
            "stop_reason": m.stop_reason,
            "sampling": m.sampling,
            "stats": m.stats,
            "energy": m.energy,
            **fields.get(m.id, {}),
        } for m in messages],
    }
    if attachments:
        document["attachments"] = attachments
    return document


def dumps(document: dict[str, Any]) -> str:
    """UTF-8 text as written (emoji, CJK unescaped); NUL and friends as \\u0000."""
    return json.dumps(document, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def is_ours(value: Any) -> bool:
    """Whether a parsed JSON value claims to be our format (then it must also be valid)."""
    return isinstance(value, dict) and value.get("format") == FORMAT_NAME


# -- reading ------------------------------------------------------------------------------
class _Checker:
    """Type checks that name the place in the file: 'messages[3].role: ...'."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ExchangeError:
        return ExchangeError(f"{self.source} is not a valid chatdesk export: {where}: "
                             f"{problem}.")

    def text(self, obj: dict[str, Any], key: str, where: str, *, default: Any = ...,
             nullable: bool = False) -> Any:
        value = obj.get(key, default)
        if value is ...:
            raise self.fail(where, f"'{key}' is missing")
        if value is None and (nullable or default is None):
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"'{key}' must be text")
        return clean_text(value)

    def number(self, obj: dict[str, Any], key: str, where: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise self.fail(where, f"'{key}' must be a number of seconds")
        return float(value)

    def mapping(self, obj: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, f"'{key}' must be an object or null")
        return clean_value(value)


def parse_document(document: Any, source: str) -> dict[str, Any]:
    """Validate one of our documents; the keyword arguments for ``import_conversation``."""
    check = _Checker(source)
    if not is_ours(document):
        raise check.fail("top level", f"'format' is not '{FORMAT_NAME}'")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise check.fail("top level", "'version' must be a whole number from 1")
    if version > FORMAT_VERSION:
        raise ExchangeError(f"{source} was written by a newer chatdesk (format version "
                            f"{version}; this version reads up to {FORMAT_VERSION}). Update "
                            "chatdesk to import it.")
    conv = document.get("conversation")
    if not isinstance(conv, dict):
        raise check.fail("conversation", "must be an object")
    raw_messages = document.get("messages")
    if not isinstance(raw_messages, list):
        raise check.fail("messages", "must be a list")
    pinned = conv.get("pinned", False)
    if not isinstance(pinned, bool):
        raise check.fail("conversation", "'pinned' must be true or false")
    result: dict[str, Any] = {
        "title": check.text(conv, "title", "conversation", default="Imported conversation"),
        "created_at": check.number(conv, "created_at", "conversation"),
        "updated_at": check.number(conv, "updated_at", "conversation"),
        "pinned": pinned,
        "model": check.text(conv, "model", "conversation", default=None),
        "system_prompt": check.text(conv, "system_prompt", "conversation", default=""),
        "settings": check.mapping(conv, "settings", "conversation") or {},
    }
    messages: dict[Hashable, NewMessage] = {}
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        if not isinstance(raw, dict):
            raise check.fail(where, "must be an object")
        key, parent = raw.get("id"), raw.get("parent")
        for name, value in (("id", key), ("parent", parent)):
            if (value is None and name == "id") or isinstance(value, (bool, float, dict, list)):
                raise check.fail(where, f"'{name}' must be a number or text")
        assert key is not None
        if key in messages:
            raise check.fail(where, f"the id {key!r} appears twice")
        role = raw.get("role")
        if role not in ROLES:
            raise check.fail(where, f"'role' must be one of {', '.join(ROLES)}")
        state = raw.get("state", "complete")
        if state not in STATES:
            raise check.fail(where, f"'state' must be one of {', '.join(STATES)}")
        messages[key] = NewMessage(
            key=key, parent_key=parent, role=role,
            content=check.text(raw, "content", where),
            created_at=check.number(raw, "created_at", where),
            model=check.text(raw, "model", where, default=None),
            sampling=check.mapping(raw, "sampling", where),
            stats=check.mapping(raw, "stats", where),
            energy=check.mapping(raw, "energy", where),
            state=state, stop_reason=check.text(raw, "stop_reason", where, default=None))
    result["messages"] = _parents_first(messages, check)
    current = conv.get("current_message")
    if current is not None and current not in messages:
        raise check.fail("conversation", f"'current_message' {current!r} is not a message")
    result["current_key"] = current
    result["documents"] = parse_fields(document, raw_messages, check.fail)
    return result


def _parents_first(messages: dict[Hashable, NewMessage], check: _Checker) -> list[NewMessage]:
    """Order so that each parent comes before its children; refuse loops and orphans."""
    children: dict[Hashable, list[NewMessage]] = {}
    roots: list[NewMessage] = []
    for message in messages.values():
        if message.parent_key is None:
            roots.append(message)
        elif message.parent_key not in messages:
            raise check.fail(f"message {message.key!r}",
                             f"its parent {message.parent_key!r} is not in the file")
        else:
            children.setdefault(message.parent_key, []).append(message)
    ordered: list[NewMessage] = []
    stack = list(reversed(roots))
    while stack:  # iterative: a 10,000-message chain must not hit the recursion limit
        message = stack.pop()
        ordered.append(message)
        stack.extend(reversed(children.get(message.key, [])))
    if len(ordered) != len(messages):
        raise check.fail("messages", "some messages are their own ancestors (a loop)")
    # Keep creation order among siblings and overall where possible: ids sort as given.
    position = {message.key: i for i, message in enumerate(messages.values())}
    if all(position[m.parent_key] < position[m.key] for m in messages.values()
           if m.parent_key is not None):
        return list(messages.values())
    return ordered
