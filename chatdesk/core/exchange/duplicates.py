"""Importing the same chat twice: a fingerprint of each conversation's content, and what
an import did ("Imported 1 conversation; skipped 1 already imported").

The fingerprint covers what makes a chat *that* chat: the system prompt and every message
(its place in the tree, role, text and time), not the title, which the user may have
changed since. Two imports of one file, or of a chatdesk export and a later export of
the same chat that gained no messages, give the same fingerprint. It is stored with the
conversation (history table ``conversation_sources``), so a chat the user deleted can be
imported again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chatdesk.core.figures import count_of


def fingerprint(conversation: dict[str, Any]) -> str:
    """A stable digest of one ``import_conversation`` argument set's content."""
    messages = conversation.get("messages") or []
    place = {message.key: index for index, message in enumerate(messages)}
    content = {
        "system_prompt": conversation.get("system_prompt") or "",
        "messages": [[place.get(m.parent_key) if m.parent_key is not None else None,
                      m.role, m.content, m.created_at] for m in messages],
    }
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ImportResult:
    """The new conversations' ids (iterating gives them) and how many were skipped."""

    ids: tuple[int, ...]
    skipped: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> int:
        return self.ids[index]

    def summary(self) -> str:
        """One sentence for the status bar and the CLI."""
        return import_summary(len(self.ids), self.skipped)


def import_summary(imported: int, skipped: int) -> str:
    """'Imported 2 conversations.', 'Skipped 1 conversation already imported.', or both."""
    parts = []
    if imported or not skipped:
        parts.append(f"Imported {count_of(imported, 'conversation')}")
    if skipped:
        parts.append(f"skipped {count_of(skipped, 'conversation')} already imported")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def split_new(conversations: Sequence[dict[str, Any]], prints: Sequence[str],
              known: set[str]) -> tuple[list[tuple[dict[str, Any], str]], int]:
    """The conversations to import with their fingerprints, and how many to skip: those
    already in the history (``known``), and repeats within the file itself."""
    seen = set(known)
    fresh: list[tuple[dict[str, Any], str]] = []
    for conversation, print_ in zip(conversations, prints, strict=True):
        if print_ not in seen:
            seen.add(print_)
            fresh.append((conversation, print_))
    return fresh, len(conversations) - len(fresh)
