"""Conversation history: SQLite (WAL, FTS5), messages as a tree, written as answers stream.

Why it is shaped like this:

* **A tree, not a list.** Regenerate adds an assistant sibling under the same user
  message; editing a user message adds a user sibling under the same parent. Nothing is
  overwritten, so every earlier answer stays reachable (1/3, 2/3 ...). The conversation's
  ``current_leaf_id`` picks the visible path, which ``thread()`` walks *up* from the leaf,
  so a 10,000-message conversation costs one indexed lookup per message on the path.
* **Streaming answers are committed as they grow** (``append_answer_text``), so killing the
  app mid-answer keeps the text; the next ``open()`` marks it 'incomplete'.
* **Damage is a state, not a crash.** Any sign of a damaged file surfaces as one
  ``DamagedDatabaseError`` with a plain reason; ``recover()`` moves the file aside (kept),
  starts a fresh database and rescues what can be read.

Threads: a ``HistoryStore`` belongs to the thread that opened it (sqlite3 refuses use from
another thread). The GUI thread owns one; a worker that needs the history opens its own
store on the same file. WAL lets readers and the one writer proceed together, writes take
the lock up front (``BEGIN IMMEDIATE``) and wait up to ``BUSY_TIMEOUT_MS`` for each other.

docs/history.md documents the schema, the JSON keys the totals read, and the search syntax.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import psutil

from chatdesk.core.events import ChatMessage, GenerationResult
from chatdesk.core.history_schema import (
    CONVERSATION_COLUMNS,
    FINAL_STATES,
    MESSAGE_COLUMNS,
    MIGRATIONS,
    ROLES,
    SCHEMA_VERSION,
    STATES,
)
from chatdesk.core.history_search import (
    SNIPPET_END,
    SNIPPET_START,
    make_snippet,
    parse_query,
    snippet_parts,
)

if TYPE_CHECKING:
    from chatdesk.core.history_recovery import RecoveryReport

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "SNIPPET_END",
    "SNIPPET_START",
    "Conversation",
    "DamagedDatabaseError",
    "DatabaseBusyError",
    "HistoryError",
    "HistoryStore",
    "NewMessage",
    "NotFoundError",
    "SearchHit",
    "StoredMessage",
    "ThreadMessage",
    "recover",
    "stats_from_result",
]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
MessageState = Literal["complete", "streaming", "incomplete", "error"]
DamageKind = Literal["not_a_database", "corrupt", "newer_version", "foreign", "unreadable"]

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CONV_COLS = ", ".join(CONVERSATION_COLUMNS)
_MSG_COLS = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS if c != "writer")
_MAX_DEPTH = 10_000_000  # a guard against a parent cycle in damaged data, never reached


# -- errors ------------------------------------------------------------------------------
class HistoryError(Exception):
    """Base of what the history store raises on purpose."""


class NotFoundError(HistoryError, LookupError):
    """No conversation or message with that id (perhaps deleted meanwhile)."""


class DatabaseBusyError(HistoryError):
    """Another connection held the write lock longer than BUSY_TIMEOUT_MS; try again."""


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


# -- helpers -----------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the history")


def _finite(value: Any) -> Any:
    """NaN and infinities become null: SQLite's JSON functions reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dump(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected a dict, got {type(value).__name__}")
    normal = json.loads(json.dumps(value, default=_json_default))
    return json.dumps(_finite(normal), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _conversation(row: Sequence[Any]) -> Conversation:
    return Conversation(id=row[0], title=row[1], created_at=row[2], updated_at=row[3],
                        pinned=bool(row[4]), deleted_at=row[5], system_prompt=row[6],
                        settings=_load(row[7]) or {}, model=row[8], current_leaf_id=row[9])


def _message_kwargs(row: Sequence[Any]) -> dict[str, Any]:
    return {"id": row[0], "conversation_id": row[1], "parent_id": row[2], "role": row[3],
            "content": row[4], "created_at": row[5], "model": row[6],
            "sampling": _load(row[7]), "stats": _load(row[8]), "energy": _load(row[9]),
            "state": row[10], "stop_reason": row[11]}


def _message(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(**_message_kwargs(row))


def stats_from_result(result: GenerationResult) -> dict[str, Any]:
    """The per-message statistics dict (the keys docs/history.md lists) of one answer."""
    return {
        "prompt_tokens": result.prompt_tokens,
        "prompt_eval_tokens": result.prompt_eval_tokens,
        "prompt_eval_s": result.prompt_eval_s,
        "generated_tokens": result.generated_tokens,
        "generation_s": result.generation_s,
        "ttft_s": result.ttft_s,
        "total_s": result.total_s,
        "tokens_per_s": result.generation_tokens_per_s,
        "prompt_tokens_per_s": result.prompt_tokens_per_s,
        "dropped_turns": result.dropped_turns,
        "context_used": result.context_used,
        "context_length": result.context_length,
    }


def classify_error(exc: BaseException) -> DamageKind | None:
    """Which kind of damage an sqlite3 error means, or None when it is not damage."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    message = str(exc).lower()
    if code is not None:
        code &= 0xFF  # extended codes carry the primary code in the low byte
    if code == _SQLITE_NOTADB or "not a database" in message:
        return "not_a_database"
    if code == _SQLITE_CORRUPT or "malformed" in message or "corrupt" in message:
        return "corrupt"
    return None


def _is_busy(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message
                                                          or "busy" in message)


def _damage_reason(kind: DamageKind, exc: BaseException) -> str:
    if kind == "not_a_database":
        return f"The file is not a chatdesk history database (SQLite says: {exc})."
    return f"The history database is damaged (SQLite says: {exc})."


@functools.cache
def writer_id() -> str:
    """This process, as 'pid:start time', stamped on the answers it streams."""
    pid = os.getpid()
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    return f"{pid}:{started!r}"


def _writer_alive(writer: str | None) -> bool:
    """Whether the process that began a streaming answer still runs (so it may finish it).

    The start time guards against a recycled pid. An unreadable stamp counts as dead.
    """
    if not writer:
        return False
    if writer == writer_id():
        return True
    try:
        pid_text, started_text = writer.split(":", 1)
        process = psutil.Process(int(pid_text))
        return abs(process.create_time() - float(started_text)) < 1.0
    except (ValueError, psutil.Error):
        return False


P = ParamSpec("P")
R = TypeVar("R")


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Damage found mid-session surfaces as DamagedDatabaseError, like damage found at open."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            store = args[0]
            path = store.path if isinstance(store, HistoryStore) else Path("?")
            kind = classify_error(exc)
            if kind is not None:
                raise DamagedDatabaseError(path, _damage_reason(kind, exc), kind) from exc
            if _is_busy(exc):
                raise DatabaseBusyError(f"{path}: the history is busy ({exc})") from exc
            raise

    return wrapper


# -- the store ---------------------------------------------------------------------------
class HistoryStore:
    """One connection to the history database; use it from the thread that opened it."""

    def __init__(self, path: Path, conn: sqlite3.Connection,
                 clock: Callable[[], float] = time.time) -> None:
        """Use ``HistoryStore.open``; this only wraps an already configured connection."""
        self.path = path
        self._conn = conn
        self._clock = clock
        self._closed = False

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r})"

    # -- opening and closing ------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, check_integrity: bool = True,
             clock: Callable[[], float] = time.time) -> HistoryStore:
        """Open (creating and migrating as needed) the history at ``path``.

        Raises DamagedDatabaseError once, with a plain reason, when the file is not a
        database, is damaged (``PRAGMA quick_check`` reads every page, so damage is found
        here rather than in the middle of a chat), or was written by a newer chatdesk.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise DamagedDatabaseError(path, f"The history database cannot be opened: {exc}.",
                                       "unreadable") from exc
        store = cls(path, conn, clock)
        try:
            store._prepare(check_integrity)
        except BaseException as exc:
            conn.close()
            if not isinstance(exc, sqlite3.Error):
                raise
            kind = classify_error(exc)
            if kind is not None:
                raise DamagedDatabaseError(path, _damage_reason(kind, exc), kind) from exc
            if _is_busy(exc):
                raise DatabaseBusyError(f"{path}: the history is locked by another program "
                                        f"({exc})") from exc
            raise DamagedDatabaseError(path, f"The history database cannot be read: {exc}.",
                                       "unreadable") from exc
        return store

    def _prepare(self, check_integrity: bool) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # reads the header
        if version > SCHEMA_VERSION:
            raise DamagedDatabaseError(
                self.path,
                f"The history was written by a newer version of chatdesk (schema version "
                f"{version}; this version understands up to {SCHEMA_VERSION}). Update "
                "chatdesk to open it.", "newer_version")
        if version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise DamagedDatabaseError(
                    self.path, "The file is an SQLite database, but not a chatdesk history.",
                    "foreign")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("history %s: journal mode is %s, not WAL", self.path, mode)
        conn.execute("PRAGMA foreign_keys = ON")
        # NORMAL in WAL mode: a commit survives the process being killed (what
        # append_answer_text promises); only a power cut may lose the last few, never
        # consistency. FULL would fsync on the GUI thread several times a second.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA secure_delete = ON")  # deleted chats leave no readable trace
        conn.execute("PRAGMA journal_size_limit = 16777216")
        if check_integrity and version > 0:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DamagedDatabaseError(
                    self.path, "The history database is damaged (SQLite's check says: "
                    + "; ".join(problems) + ").", "corrupt")
        self._migrate()
        self.mark_interrupted_answers()

    @_guarded
    def mark_interrupted_answers(self) -> int:
        """Answers left 'streaming' by a process that is gone become 'incomplete'.

        Run by ``open``. Answers still streaming in a live process (this one's GUI store
        while a worker or an export opens its own store, or another running instance) are
        left alone, or their next appends would be refused.
        """
        with self._write() as conn:
            rows = conn.execute("SELECT id, writer FROM messages "
                                "WHERE state = 'streaming'").fetchall()
            dead = [(row[0],) for row in rows if not _writer_alive(row[1])]
            conn.executemany("UPDATE messages SET state = 'incomplete', writer = NULL "
                             "WHERE id = ?", dead)
        if dead:
            log.info("history: %d answer(s) cut short by an exit are now 'incomplete'",
                     len(dead))
        return len(dead)

    def _migrate(self) -> None:
        """Run each missing migration in its own transaction, re-checking under the lock."""
        while True:
            with self._write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    return
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            log.info("history: migrated %s to schema version %d", self.path, version + 1)

    def close(self) -> None:
        """Close the connection (the last one to close checkpoints the WAL). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (no upgrade deadlock)."""
        if self._conn.in_transaction:  # nested: the outer transaction commits
            yield self._conn
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes as one: all of them, or (if the block raises) none.

        An import of many conversations uses it so that a bad one leaves nothing behind;
        the store's own writes inside it join this transaction.
        """
        with self._write():
            yield

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one snapshot, even while another connection writes."""
        if self._conn.in_transaction:
            yield self._conn
            return
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")

    def _now(self) -> float:
        return float(self._clock())

    # -- conversations -------------------------------------------------------------------
    @_guarded
    def create_conversation(self, title: str = "New chat", *, system_prompt: str = "",
                            settings: dict[str, Any] | None = None,
                            model: str | None = None) -> Conversation:
        now = self._now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, system_prompt, "
                "settings_json, model) VALUES (?, ?, ?, ?, ?, ?)",
                (title, now, now, system_prompt, _dump(settings or {}), model))
            conversation_id = int(cursor.lastrowid or 0)
        return self._require_conversation(conversation_id)

    @_guarded
    def list_conversations(self, *, include_deleted: bool = False) -> list[Conversation]:
        """Pinned first, then the most recently updated (new messages update a chat)."""
        where = "" if include_deleted else "WHERE deleted_at IS NULL"
        rows = self._conn.execute(
            f"SELECT {_CONV_COLS} FROM conversations {where} "
            "ORDER BY pinned DESC, updated_at DESC, id DESC").fetchall()
        return [_conversation(row) for row in rows]

    @_guarded
    def get_conversation(self, conversation_id: int) -> Conversation | None:
        """Deleted (not yet purged) conversations are returned too, with ``deleted_at``."""
        row = self._conn.execute(f"SELECT {_CONV_COLS} FROM conversations WHERE id = ?",
                                 (conversation_id,)).fetchone()
        return None if row is None else _conversation(row)

    def _require_conversation(self, conversation_id: int) -> Conversation:
        conversation = self.get_conversation(conversation_id)
        if conversation is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        return conversation

    def _update_conversation(self, conversation_id: int, sql: str, params: tuple[Any, ...]
                             ) -> None:
        with self._write() as conn:
            if conn.execute(f"UPDATE conversations SET {sql} WHERE id = ?",
                            (*params, conversation_id)).rowcount == 0:
                raise NotFoundError(f"no conversation {conversation_id}")

    @_guarded
    def rename(self, conversation_id: int, title: str) -> None:
        self._update_conversation(conversation_id, "title = ?", (title,))

    @_guarded
    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, "pinned = ?", (1 if pinned else 0,))

    @_guarded
    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: hidden from the list and search until restored or purged."""
        self._update_conversation(conversation_id, "deleted_at = ?", (self._now(),))

    @_guarded
    def restore_conversation(self, conversation_id: int) -> None:
        """Undo a delete (until ``purge_deleted`` removes it for good)."""
        self._update_conversation(conversation_id, "deleted_at = NULL", ())

    @_guarded
    def purge_deleted(self, older_than_s: float = 0) -> int:
        """Really delete conversations deleted at least ``older_than_s`` ago; how many."""
        cutoff = self._now() - older_than_s
        with self._write() as conn:
            return conn.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL "
                                "AND deleted_at <= ?", (cutoff,)).rowcount

    @_guarded
    def update_conversation_settings(self, conversation_id: int, *,
                                     system_prompt: str | None = None,
                                     settings: dict[str, Any] | None = None,
                                     model: str | None = None) -> None:
        """Change what is given (None leaves a field as it is)."""
        sets: list[str] = []
        params: list[Any] = []
        for column, value in (("system_prompt", system_prompt),
                              ("settings_json", _dump(settings)), ("model", model)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if not sets:
            self._require_conversation(conversation_id)
            return
        self._update_conversation(conversation_id, ", ".join(sets), tuple(params))

    @_guarded
    def message_count(self, conversation_id: int) -> int:
        """Every message of the conversation, alternatives included."""
        return int(self._conn.execute("SELECT count(*) FROM messages WHERE conversation_id = ?",
                                      (conversation_id,)).fetchone()[0])

    # -- messages ------------------------------------------------------------------------
    def _touch(self, conn: sqlite3.Connection, conversation_id: int, leaf_id: int | None
               ) -> None:
        conn.execute("UPDATE conversations SET current_leaf_id = ?, updated_at = ? "
                     "WHERE id = ?", (leaf_id, self._now(), conversation_id))

    def _check_parent(self, conn: sqlite3.Connection, conversation_id: int,
                      parent_id: int | None) -> None:
        if parent_id is None:
            return
        row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?",
                           (parent_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no message {parent_id}")
        if row[0] != conversation_id:
            raise ValueError(f"message {parent_id} belongs to conversation {row[0]}, "
                             f"not {conversation_id}")

    def _insert_message(self, conn: sqlite3.Connection, conversation_id: int,
                        parent_id: int | None, role: str, content: str, *,
                        created_at: float | None = None, model: str | None = None,
                        sampling: dict[str, Any] | None = None,
                        stats: dict[str, Any] | None = None,
                        energy: dict[str, Any] | None = None, state: str = "complete",
                        stop_reason: str | None = None) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        if not isinstance(content, str):
            raise TypeError(f"content must be text, got {type(content).__name__}")
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, created_at, "
            "model, sampling_json, stats_json, energy_json, state, stop_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, parent_id, role, content,
             self._now() if created_at is None else float(created_at), model,
             _dump(sampling), _dump(stats), _dump(energy), state, _enum_value(stop_reason)))
        return int(cursor.lastrowid or 0)

    @_guarded
    def add_message(self, conversation_id: int, role: str, content: str, *,
                    parent_id: int | EllipsisType | None = ..., model: str | None = None,
                    sampling: dict[str, Any] | None = None) -> StoredMessage:
        """Add a message under ``parent_id`` (default: the current leaf; None: a new root).

        The new message becomes the current leaf.
        """
        with self._write() as conn:
            conversation = self._require_conversation(conversation_id)
            parent = conversation.current_leaf_id if parent_id is ... else parent_id
            self._check_parent(conn, conversation_id, parent)
            message_id = self._insert_message(conn, conversation_id, parent, role, content,
                                              model=model, sampling=sampling)
            self._touch(conn, conversation_id, message_id)
        return self._require_message(message_id)

    @_guarded
    def edit_message(self, message_id: int, content: str) -> StoredMessage:
        """An edit is a new sibling (same parent, same role) that becomes current.

        The original and whatever followed it stay reachable as alternatives.
        """
        with self._write() as conn:
            old = self._require_message(message_id)
            new_id = self._insert_message(conn, old.conversation_id, old.parent_id, old.role,
                                          content, model=old.model, sampling=old.sampling)
            self._touch(conn, old.conversation_id, new_id)
        return self._require_message(new_id)

    @_guarded
    def begin_answer(self, conversation_id: int, parent_id: int, *, model: str,
                     sampling: dict[str, Any]) -> StoredMessage:
        """An empty 'streaming' assistant message under ``parent_id``; the current leaf.

        Regenerating is simply another ``begin_answer`` under the same user message.
        """
        with self._write() as conn:
            self._require_conversation(conversation_id)
            self._check_parent(conn, conversation_id, parent_id)
            message_id = self._insert_message(conn, conversation_id, parent_id, "assistant",
                                              "", model=model, sampling=sampling,
                                              state="streaming")
            conn.execute("UPDATE messages SET writer = ? WHERE id = ?",
                         (writer_id(), message_id))
            self._touch(conn, conversation_id, message_id)
        return self._require_message(message_id)

    @_guarded
    def append_answer_text(self, message_id: int, text: str) -> bool:
        """Append to a streaming answer and commit, so a crash keeps it.

        Returns False (and changes nothing) when the message is gone or already finished:
        a late batch of tokens after a delete must not take the UI down.
        """
        if not text:
            return self._conn.execute("SELECT 1 FROM messages WHERE id = ? AND state = "
                                      "'streaming'", (message_id,)).fetchone() is not None
        with self._write() as conn:
            return conn.execute("UPDATE messages SET content = content || ? "
                                "WHERE id = ? AND state = 'streaming'",
                                (text, message_id)).rowcount == 1

    @_guarded
    def finish_answer(self, message_id: int, *, content: str, state: str,
                      stop_reason: str | None, stats: dict[str, Any],
                      energy: dict[str, Any] | None = None) -> StoredMessage:
        """Store the final text (it replaces what was appended), state and statistics."""
        if state not in FINAL_STATES:
            raise ValueError(f"state must be one of {FINAL_STATES}, got {state!r}")
        with self._write() as conn:
            row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?",
                               (message_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no message {message_id}")
            conn.execute("UPDATE messages SET content = ?, state = ?, stop_reason = ?, "
                         "stats_json = ?, energy_json = coalesce(?, energy_json), "
                         "writer = NULL WHERE id = ?",
                         (content, state, _enum_value(stop_reason), _dump(stats),
                          _dump(energy), message_id))
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                         (self._now(), row[0]))
        return self._require_message(message_id)

    @_guarded
    def set_energy(self, message_id: int, energy: dict[str, Any]) -> None:
        """Energy figures can arrive after the answer (the sampler settles a moment later)."""
        with self._write() as conn:
            if conn.execute("UPDATE messages SET energy_json = ? WHERE id = ?",
                            (_dump(energy), message_id)).rowcount == 0:
                raise NotFoundError(f"no message {message_id}")

    @_guarded
    def message(self, message_id: int) -> StoredMessage | None:
        row = self._conn.execute(f"SELECT {_MSG_COLS} FROM messages m WHERE m.id = ?",
                                 (message_id,)).fetchone()
        return None if row is None else _message(row)

    def _require_message(self, message_id: int) -> StoredMessage:
        found = self.message(message_id)
        if found is None:
            raise NotFoundError(f"no message {message_id}")
        return found

    @_guarded
    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of the conversation (the whole tree) in creation order: export."""
        rows = self._conn.execute(f"SELECT {_MSG_COLS} FROM messages m "
                                  "WHERE m.conversation_id = ? ORDER BY m.id",
                                  (conversation_id,)).fetchall()
        return [_message(row) for row in rows]

    # -- the tree ------------------------------------------------------------------------
    @_guarded
    def thread(self, conversation_id: int) -> list[ThreadMessage]:
        """The visible path, root to current leaf, walked up from the leaf by index."""
        with self._read() as conn:
            leaf = self._require_conversation(conversation_id).current_leaf_id
            if leaf is None:
                return []
            rows = conn.execute(
                f"""
                WITH RECURSIVE path(id, depth) AS (
                    SELECT ?, 0
                    UNION ALL
                    SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path
                        ON m.id = path.id
                    WHERE m.parent_id IS NOT NULL AND path.depth < {_MAX_DEPTH}
                )
                SELECT {_MSG_COLS},
                    CASE WHEN m.parent_id IS NULL THEN
                        (SELECT count(*) FROM messages s WHERE s.conversation_id =
                            m.conversation_id AND s.parent_id IS NULL AND s.id < m.id)
                    ELSE (SELECT count(*) FROM messages s WHERE s.parent_id = m.parent_id
                            AND s.id < m.id) END,
                    CASE WHEN m.parent_id IS NULL THEN
                        (SELECT count(*) FROM messages s WHERE s.conversation_id =
                            m.conversation_id AND s.parent_id IS NULL)
                    ELSE (SELECT count(*) FROM messages s WHERE s.parent_id = m.parent_id)
                    END
                FROM path JOIN messages m ON m.id = path.id
                WHERE m.conversation_id = ?
                ORDER BY path.depth DESC
                """, (leaf, conversation_id)).fetchall()
        return [ThreadMessage(**_message_kwargs(row), sibling_index=row[12],
                              sibling_count=row[13]) for row in rows]

    @_guarded
    def sibling_ids(self, message_id: int) -> list[int]:
        """The alternatives at this message's place (itself included), oldest first."""
        message = self._require_message(message_id)
        if message.parent_id is None:
            rows = self._conn.execute("SELECT id FROM messages WHERE conversation_id = ? AND "
                                      "parent_id IS NULL ORDER BY id",
                                      (message.conversation_id,))
        else:
            rows = self._conn.execute("SELECT id FROM messages WHERE parent_id = ? "
                                      "ORDER BY id", (message.parent_id,))
        return [row[0] for row in rows]

    def _latest_leaf(self, conn: sqlite3.Connection, message_id: int) -> int:
        """Follow the most recent child (highest id) down to a leaf."""
        row = conn.execute(
            f"""
            WITH RECURSIVE down(id, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT (SELECT c.id FROM messages c WHERE c.parent_id = down.id
                        ORDER BY c.id DESC LIMIT 1), down.depth + 1
                FROM down WHERE down.id IS NOT NULL AND down.depth < {_MAX_DEPTH}
            )
            SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1
            """, (message_id,)).fetchone()
        return int(row[0])

    @_guarded
    def switch_to_sibling(self, message_id: int) -> None:
        """Show ``message_id``'s branch, down its most recent replies to a leaf.

        Works for any message (a search hit too), not only for a sibling on the path.
        """
        with self._write() as conn:
            message = self._require_message(message_id)
            leaf = self._latest_leaf(conn, message_id)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                         (leaf, message.conversation_id))

    @_guarded
    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything below it.

        If the visible path ran through it, the view moves to the previous alternative
        (else the next one), or to its parent when it had none.
        """
        with self._write() as conn:
            message = self._require_message(message_id)
            conversation = self._require_conversation(message.conversation_id)
            subtree = """
                WITH RECURSIVE sub(id) AS (
                    SELECT ? UNION ALL
                    SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id
                )"""
            on_path = conversation.current_leaf_id is not None and conn.execute(
                f"{subtree} SELECT 1 FROM sub WHERE id = ?",
                (message_id, conversation.current_leaf_id)).fetchone() is not None
            conn.execute(f"{subtree} DELETE FROM messages WHERE id IN (SELECT id FROM sub)",
                         (message_id,))
            leaf = conversation.current_leaf_id
            if on_path:
                if message.parent_id is None:
                    same_place = "conversation_id = ? AND parent_id IS NULL"
                    key: int = message.conversation_id
                else:
                    same_place = "parent_id = ?"
                    key = message.parent_id
                sibling = conn.execute(
                    f"SELECT id FROM messages WHERE {same_place} ORDER BY id < ? DESC, "
                    "abs(id - ?) LIMIT 1", (key, message_id, message_id)).fetchone()
                if sibling is not None:
                    leaf = self._latest_leaf(conn, sibling[0])
                else:
                    leaf = message.parent_id
            self._touch(conn, message.conversation_id, leaf)

    # -- importing -----------------------------------------------------------------------
    @_guarded
    def import_conversation(self, title: str, messages: Sequence[NewMessage], *,
                            created_at: float | None = None, updated_at: float | None = None,
                            pinned: bool = False, system_prompt: str = "",
                            settings: dict[str, Any] | None = None, model: str | None = None,
                            current_key: Hashable | None = None) -> Conversation:
        """Create a whole conversation in one transaction: all of it or, on error, nothing.

        Parents must come before their children. The current leaf is ``current_key``'s
        message (default: the last message given), followed down to a leaf.
        """
        now = self._now()
        ids: dict[Hashable, int] = {}
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, pinned, "
                "system_prompt, settings_json, model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, now if created_at is None else float(created_at),
                 now if updated_at is None else float(updated_at), 1 if pinned else 0,
                 system_prompt, _dump(settings or {}), model))
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
                leaf = self._latest_leaf(conn, start)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                         (leaf, conversation_id))
        return self._require_conversation(conversation_id)

    # -- search and totals ---------------------------------------------------------------
    @_guarded
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages containing every term of ``query``, newest first, deleted chats left out.

        Any text is a valid query; see history_search for how it is read.
        """
        parsed = parse_query(query)
        if not parsed.terms or limit <= 0:
            return []
        where = ["c.deleted_at IS NULL"]
        params: list[Any] = []
        if parsed.fts is not None:
            source = ("messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                      "JOIN conversations c ON c.id = m.conversation_id")
            where.append("messages_fts MATCH ?")
            params.append(parsed.fts)
        else:
            source = "messages m JOIN conversations c ON c.id = m.conversation_id"
            where.append("m.state <> 'streaming'")
        for pattern in parsed.like:
            where.append("m.content LIKE ? ESCAPE '\\'")
            params.append(pattern)
        rows = self._conn.execute(
            f"SELECT m.id, m.conversation_id, c.title, m.role, m.created_at, m.content "
            f"FROM {source} WHERE {' AND '.join(where)} "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT ?", (*params, limit)).fetchall()
        return [SearchHit(message_id=row[0], conversation_id=row[1], conversation_title=row[2],
                          role=row[3], created_at=row[4],
                          snippet=make_snippet(row[5], parsed.terms)) for row in rows]

    _TOTALS_SELECT = """
        SELECT count(*),
            coalesce(sum(json_extract(m.stats_json, '$.generated_tokens')), 0),
            coalesce(sum(json_extract(m.stats_json, '$.prompt_tokens')), 0),
            coalesce(sum(json_extract(m.stats_json, '$.generation_s')), 0.0),
            coalesce(sum(json_extract(m.energy_json, '$.joules')), 0.0),
            coalesce(sum(coalesce(json_extract(m.energy_json, '$.wh'),
                                  json_extract(m.energy_json, '$.joules') / 3600.0)), 0.0),
            coalesce(sum(json_extract(m.energy_json, '$.cost')), 0.0),
            coalesce(sum(json_extract(m.energy_json, '$.co2_g')), 0.0),
            count(m.energy_json),
            group_concat(DISTINCT json_extract(m.energy_json, '$.currency'))
        """

    def _totals_where(self, conversation_id: int | None, since: float | None,
                      until: float | None) -> tuple[str, list[Any]]:
        where = ["m.role = 'assistant'"]
        params: list[Any] = []
        if conversation_id is None:
            where.append("c.deleted_at IS NULL")
        else:
            where.append("m.conversation_id = ?")
            params.append(conversation_id)
        if since is not None:
            where.append("m.created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("m.created_at < ?")
            params.append(until)
        return " AND ".join(where), params

    @staticmethod
    def _totals_dict(row: Sequence[Any]) -> dict[str, Any]:
        currencies = sorted(set((row[9] or "").split(",")) - {""})
        return {"answers": row[0], "generated_tokens": int(row[1]), "prompt_tokens": int(row[2]),
                "generation_s": float(row[3]), "joules": float(row[4]), "wh": float(row[5]),
                "cost": float(row[6]), "co2_g": float(row[7]), "answers_with_energy": row[8],
                "currency": currencies[0] if len(currencies) == 1 else None,
                "currencies": currencies}

    @_guarded
    def totals(self, conversation_id: int | None = None, since: float | None = None,
               until: float | None = None) -> dict[str, Any]:
        """Sums over assistant messages: tokens, energy (J, Wh), cost, CO2.

        One conversation (deleted or not), or every conversation not deleted; ``since`` and
        ``until`` (unix seconds) bound the answers' creation time, e.g. today or a month.
        Keys: answers, generated_tokens, prompt_tokens, generation_s, joules, wh, cost,
        co2_g, answers_with_energy, currency (when all answers share one), currencies.
        """
        where, params = self._totals_where(conversation_id, since, until)
        row = self._conn.execute(
            f"{self._TOTALS_SELECT} FROM messages m JOIN conversations c "
            f"ON c.id = m.conversation_id WHERE {where}", params).fetchone()
        return self._totals_dict(row)

    @_guarded
    def totals_by_day(self, since: float | None = None, until: float | None = None, *,
                      conversation_id: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``totals`` per local calendar day ('YYYY-MM-DD'), oldest first: the cost chart."""
        where, params = self._totals_where(conversation_id, since, until)
        rows = self._conn.execute(
            f"{self._TOTALS_SELECT}, date(m.created_at, 'unixepoch', 'localtime') AS day "
            f"FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE {where} GROUP BY day ORDER BY day", params).fetchall()
        return [(row[10], self._totals_dict(row)) for row in rows]

    # -- maintenance ---------------------------------------------------------------------
    @_guarded
    def check_search_index(self) -> None:
        """Raise DamagedDatabaseError if the search index disagrees with the messages."""
        with self._write() as conn:
            conn.execute("INSERT INTO messages_fts(messages_fts, rank) "
                         "VALUES ('integrity-check', 1)")


def recover(path: Path) -> RecoveryReport:
    """Move a damaged history aside, start a fresh one and rescue what can be read.

    See history_recovery.recover.
    """
    from chatdesk.core.history_recovery import recover as _recover

    return _recover(path)
