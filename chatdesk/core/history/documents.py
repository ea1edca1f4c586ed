"""What the history keeps of "chat with your documents": the files attached to each
question (by content hash; the bytes live in the data folder's attachments/) and the
passages each answer was given. A mixin of ``HistoryStore``: the rows go with their
message (ON DELETE CASCADE), so deleting a conversation forgets its files' links, and
``attachment_hashes`` is the reference count the attachment store frees files by.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from chatdesk.core.history.records import FileRef, SourceRef
from chatdesk.core.history.sqlite_errors import guarded

T = TypeVar("T")


class DocumentLinks:
    """Attachments and sources of messages (``HistoryStore`` inherits this)."""

    _conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]

    @guarded
    def add_message_files(self, message_id: int, files: Sequence[FileRef]) -> None:
        """Attach ``files`` to a message (after the ones it has)."""
        if not files:
            return
        with self._write() as conn:
            start = conn.execute("SELECT coalesce(max(position) + 1, 0) FROM message_files "
                                 "WHERE message_id = ?", (message_id,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO message_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(message_id, start + i, f.sha256, f.name, f.size, f.kind, f.pages, f.tokens)
                 for i, f in enumerate(files)])

    @guarded
    def set_message_sources(self, message_id: int, sources: Sequence[SourceRef]) -> None:
        """The passages an answer was given (replacing any it had)."""
        with self._write() as conn:
            conn.execute("DELETE FROM message_sources WHERE message_id = ?", (message_id,))
            conn.executemany(
                "INSERT INTO message_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(message_id, i, s.file, s.page, s.text, s.sha256, s.ordinal, int(s.whole))
                 for i, s in enumerate(sources)])

    @guarded
    def message_files(self, message_ids: Iterable[int]) -> dict[int, tuple[FileRef, ...]]:
        """The files of each message that has any."""
        return self._by_message("sha256, name, size, kind, pages, tokens", "message_files",
                                message_ids, lambda row: FileRef(*row))

    @guarded
    def message_sources(self, message_ids: Iterable[int]) -> dict[int, tuple[SourceRef, ...]]:
        """The passages each answer that had any was given, in the order given."""
        return self._by_message("file, page, text, sha256, ordinal, whole", "message_sources",
                                message_ids, lambda row: SourceRef(*row[:5], bool(row[5])))

    def _by_message(self, columns: str, table: str, message_ids: Iterable[int],
                    make: Callable[[tuple], T]) -> dict[int, tuple[T, ...]]:
        """Rows of a per-message table, in position order, grouped by message id."""
        found: dict[int, list[T]] = {}
        for chunk in _chunks(list(message_ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                    f"SELECT message_id, {columns} FROM {table} "
                    f"WHERE message_id IN ({marks}) ORDER BY message_id, position", chunk):
                found.setdefault(row[0], []).append(make(row[1:]))
        return {key: tuple(value) for key, value in found.items()}

    @guarded
    def purge_conversations(self, conversation_ids: Sequence[int]) -> int:
        """Really delete these conversations if they are (soft-)deleted; how many."""
        with self._write() as conn:
            return sum(conn.execute("DELETE FROM conversations WHERE id = ? AND "
                                    "deleted_at IS NOT NULL", (cid,)).rowcount
                       for cid in conversation_ids)

    @guarded
    def attachment_hashes(self) -> set[str]:
        """Every file some message still refers to (a soft-deleted conversation's too:
        it can be restored)."""
        return {row[0] for row in self._conn.execute(
            "SELECT DISTINCT sha256 FROM message_files")}


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
