"""Importing a whole conversation into the history in one transaction, and finding what
was imported before (by a fingerprint of its content), so importing the same export twice
adds nothing. A mixin of ``HistoryStore``, which provides the connection and the message
writer these methods share with the rest of the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from chatdesk.core.history import tree
from chatdesk.core.history.records import Conversation, NewMessage
from chatdesk.core.history.rows import dump_json
from chatdesk.core.history.sqlite_errors import guarded


class ConversationImports:
    """``import_conversation`` and ``imported_fingerprints`` (``HistoryStore`` inherits this)."""

    _conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _now: Callable[[], float]
    _given_time: Callable[..., float]
    _insert_message: Callable[..., int]
    _require_conversation: Callable[[int], Conversation]

    @guarded
    def import_conversation(self, title: str, messages: Sequence[NewMessage], *,
                            created_at: float | None = None, updated_at: float | None = None,
                            pinned: bool = False, system_prompt: str = "",
                            settings: dict[str, Any] | None = None, model: str | None = None,
                            current_key: Hashable | None = None,
                            fingerprint: str | None = None) -> Conversation:
        """Create a whole conversation in one transaction: all of it or, on error, nothing.

        Parents must come before their children. The current leaf is ``current_key``'s
        message (default: the last message given), followed down to a leaf.
        ``fingerprint`` (of the imported content) lets ``imported_fingerprints`` find it.
        """
        now = self._now()
        ids: dict[Hashable, int] = {}
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, pinned, "
                "system_prompt, settings_json, model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, self._given_time(created_at, now),
                 self._given_time(updated_at, now), 1 if pinned else 0,
                 system_prompt, dump_json(settings or {}), model))
            conversation_id = int(cursor.lastrowid or 0)
            for item in messages:
                if item.key in ids:
                    raise ValueError(f"message key {item.key!r} appears twice")
                if item.parent_key is not None and item.parent_key not in ids:
                    raise ValueError(f"message {item.key!r}: its parent {item.parent_key!r} "
                                     "must come before it")
                state = "incomplete" if item.state == "streaming" else item.state
                ids[item.key] = self._insert_message(
                    conn, conversation_id,
                    None if item.parent_key is None else ids[item.parent_key], item.role,
                    item.content, created_at=item.created_at, model=item.model,
                    sampling=item.sampling, stats=item.stats, energy=item.energy,
                    state=state, stop_reason=item.stop_reason)
            if current_key is not None and current_key not in ids:
                raise ValueError(f"current_key {current_key!r} is not one of the messages")
            leaf = None
            if ids:
                start = ids[current_key] if current_key is not None else ids[messages[-1].key]
                leaf = tree.latest_leaf(conn, start)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                         (leaf, conversation_id))
            if fingerprint is not None:
                conn.execute("INSERT INTO conversation_sources (conversation_id, fingerprint, "
                             "imported_at) VALUES (?, ?, ?)",
                             (conversation_id, fingerprint, now))
        return self._require_conversation(conversation_id)

    @guarded
    def imported_fingerprints(self, fingerprints: Sequence[str]) -> set[str]:
        """Those of ``fingerprints`` already imported into a conversation not deleted
        (a chat the user deleted may be imported again)."""
        found: set[str] = set()
        unique = sorted(set(fingerprints))
        for start in range(0, len(unique), 500):  # SQLite's limit on bound parameters
            chunk = unique[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(row[0] for row in self._conn.execute(
                "SELECT s.fingerprint FROM conversation_sources s JOIN conversations c "
                f"ON c.id = s.conversation_id WHERE c.deleted_at IS NULL "
                f"AND s.fingerprint IN ({marks})", chunk))
        return found
