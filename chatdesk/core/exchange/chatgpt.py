"""The ``conversations.json`` of a ChatGPT data export: each conversation's current branch.

The file is a list of conversations; each has a ``mapping`` of nodes
``{id, message, parent, children}`` forming a tree (every regenerate or edit branches) and a
``current_node``, the leaf the user last saw. We walk from ``current_node`` up through the
parents to the root, which gives exactly the visible thread, then keep the messages a person
saw: user and assistant text. System and tool nodes, hidden nodes, and nodes whose content
is not text (code-interpreter input, browsing results, images only, empty parts) are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chatdesk.core.exchange.common import ExchangeError, clean_text
from chatdesk.core.history import NewMessage

TEXT_CONTENT_TYPES = ("text", "multimodal_text")
KEPT_ROLES = ("user", "assistant")


def looks_like_chatgpt(value: Any) -> bool:
    """A list whose first item is a conversation with a ``mapping`` (the export's shape)."""
    return (isinstance(value, list) and bool(value) and isinstance(value[0], dict)
            and "mapping" in value[0])


def _time(value: Any) -> float | None:
    """Unix seconds; newer exports sometimes write ISO text instead."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _visible_text(message: dict[str, Any]) -> str | None:
    """The text a person saw in this message, or None when there is none to show."""
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        return None
    content = message.get("content")
    if not isinstance(content, dict) or content.get("content_type") not in TEXT_CONTENT_TYPES:
        return None
    parts = content.get("parts")
    if not isinstance(parts, list):
        return None
    texts = [part for part in parts if isinstance(part, str) and part.strip()]
    return clean_text("\n\n".join(texts)) if texts else None


def _branch(mapping: dict[str, Any], current: Any, where: str) -> list[dict[str, Any]]:
    """The nodes from the root to ``current`` (or, without it, to the latest leaf)."""
    if not isinstance(current, str) or current not in mapping:
        current = _latest_leaf(mapping)
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    node_id: Any = current
    while node_id is not None:
        if node_id in seen:
            raise ExchangeError(f"{where}: its messages form a loop.")
        seen.add(node_id)
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            raise ExchangeError(f"{where}: message {node_id!r} is referred to but missing.")
        path.append(node)
        node_id = node.get("parent")
        if node_id is not None and not isinstance(node_id, str):
            raise ExchangeError(f"{where}: a message's 'parent' is not an id.")
    path.reverse()
    return path


def _latest_leaf(mapping: dict[str, Any]) -> str | None:
    """Without a usable current_node: from the root, always the last child."""
    roots = [key for key, node in mapping.items()
             if isinstance(node, dict) and node.get("parent") in (None, "")]
    if not roots:
        return None
    node_id, seen = roots[0], set()
    while node_id not in seen:
        seen.add(node_id)
        children = [c for c in (mapping[node_id].get("children") or [])
                    if isinstance(c, str) and isinstance(mapping.get(c), dict)]
        if not children:
            break
        node_id = children[-1]
    return node_id


def parse_conversation(raw: Any, index: int) -> dict[str, Any] | None:
    """``import_conversation`` arguments for one conversation; None if nothing is visible."""
    if not isinstance(raw, dict):
        raise ExchangeError(f"conversations.json item {index + 1} is not a conversation.")
    title = raw.get("title")
    title = clean_text(title) if isinstance(title, str) and title.strip() else "Untitled"
    where = f"Conversation {index + 1} ({title!r})"
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise ExchangeError(f"{where} has no 'mapping' of messages.")
    created = _time(raw.get("create_time"))
    messages: list[NewMessage] = []
    models: list[str] = []
    for node in _branch(mapping, raw.get("current_node"), where):
        message = node.get("message")
        if not isinstance(message, dict):
            continue  # the empty root node
        author = message.get("author")
        role = author.get("role") if isinstance(author, dict) else None
        if role not in KEPT_ROLES:
            continue
        text = _visible_text(message)
        if text is None:
            continue
        metadata = message.get("metadata")
        model = metadata.get("model_slug") if isinstance(metadata, dict) else None
        model = model if isinstance(model, str) and role == "assistant" else None
        if model:
            models.append(model)
        messages.append(NewMessage(
            key=len(messages), parent_key=len(messages) - 1 if messages else None,
            role=role, content=text, model=model,
            created_at=_time(message.get("create_time")) or created))
    if not messages:
        return None
    default_model = raw.get("default_model_slug")
    return {"title": title, "messages": messages, "created_at": created,
            "updated_at": _time(raw.get("update_time")) or created,
            "model": default_model if isinstance(default_model, str) else
            (models[-1] if models else None)}


def parse_export(value: Iterable[Any], source: str) -> list[dict[str, Any]]:
    """Every conversation with visible text, validated before anything is written.

    ``value`` may be a stream of conversations (reading.stream_items): each is reduced to
    its visible thread as it arrives, so the raw JSON of only one is held at a time.
    """
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes, dict)):
        raise ExchangeError(f"{source} is not a ChatGPT conversations.json (expected a list "
                            "of conversations).")
    found: list[dict[str, Any]] = []
    count = 0
    for i, raw in enumerate(value):
        count = i + 1
        item = parse_conversation(raw, i)
        if item is not None:
            found.append(item)
    if not count:
        raise ExchangeError(f"{source} contains no conversations.")
    if not found:
        raise ExchangeError(f"{source}: none of its {count} conversations has any "
                            "visible text to import.")
    return found
