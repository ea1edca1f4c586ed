"""What the history store hands out and raises: frozen records and the error classes.

Kept apart from the store so that exports, the UI and recovery can name these types
without pulling in SQLite code, and so that every module of the package can share them
without importing each other.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chatdesk.core.events import ChatMessage
from chatdesk.core.history.search import snippet_parts

MessageState = Literal["complete", "streaming", "incomplete", "error"]
DamageKind = Literal["not_a_database", "corrupt", "newer_version", "foreign", "unreadable"]


# -- errors ------------------------------------------------------------------------------
class HistoryError(Exception):
    """Base of what the history store raises on purpose."""


class NotFoundError(HistoryError, LookupError):
    """No conversation or message with that id (perhaps deleted meanwhile)."""


class DatabaseBusyError(HistoryError):
    """Another connection held the write lock longer than BUSY_TIMEOUT_MS; try again."""


class ReadOnlyHistoryError(HistoryError):
    """A write to a history opened read-only (its file or folder is not writable).

    ``str(error)`` is the sentence for the user; reading keeps working.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(f"The history is read-only ({path}): changes cannot be saved.")
        self.path = path


class DamagedDatabaseError(HistoryError):
    """The history file cannot be used; ``reason`` says why in words for the user.

    ``kind`` tells the UI what to offer: 'newer_version' means "update chatdesk" (recovering
    would throw away a newer app's data model), every other kind means ``recover()``.
    """

    def __init__(self, path: Path, reason: str, kind: DamageKind = "corrupt") -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.kind = kind


# -- what comes out ----------------------------------------------------------------------
@dataclass(frozen=True)
class FileRef:
    """A file attached to a message, kept once by its content hash in the data folder."""

    sha256: str
    name: str
    size: int
    kind: str  # "pdf" | "docx" | "html" | "text"
    pages: int = 0  # 0: a file without pages
    tokens: int = 0  # its whole text, estimated (core/documents/chunking.py)


@dataclass(frozen=True)
class SourceRef:
    """A passage an answer was given: exactly what "Sources" shows under it."""

    file: str  # the attachment's name, or "folder/path" for a knowledge folder's file
    page: int  # 0: a file without pages
    text: str
    sha256: str = ""  # the document it came from
    ordinal: int = -1  # its first passage in the documents index (-1: unknown)
    whole: bool = False  # the document (or page) was given whole, not retrieved


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    pinned: bool
    deleted_at: float | None
    system_prompt: str
    settings: dict[str, Any]
    model: str | None
    current_leaf_id: int | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    created_at: float
    model: str | None
    sampling: dict[str, Any] | None
    stats: dict[str, Any] | None
    energy: dict[str, Any] | None
    state: str
    stop_reason: str | None

    def to_chat_message(self) -> ChatMessage:
        """What the engine needs of this message to build a prompt."""
        return ChatMessage(role=self.role, content=self.content)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ThreadMessage(StoredMessage):
    """A message on the visible path, with its place among its alternatives (0-based)."""

    sibling_index: int = 0
    sibling_count: int = 1


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    conversation_id: int
    conversation_title: str
    role: str
    created_at: float
    snippet: str  # one line; matches wrapped in SNIPPET_START ... SNIPPET_END

    def snippet_parts(self) -> list[tuple[str, bool]]:
        return snippet_parts(self.snippet)


@dataclass(frozen=True)
class NewMessage:
    """One message for ``import_conversation``; ``key``/``parent_key`` are the caller's ids."""

    key: Hashable
    parent_key: Hashable | None
    role: str
    content: str
    created_at: float | None = None
    model: str | None = None
    sampling: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None
    state: str = "complete"
    stop_reason: str | None = None

