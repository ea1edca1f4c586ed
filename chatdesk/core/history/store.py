"""The history store: one SQLite connection (WAL, FTS5), conversations and messages,
answers written as they stream.

Why it is shaped like this:

* **A tree, not a list** (chatdesk.core.history.tree): regenerating or editing adds a
  sibling, nothing is overwritten, and ``thread()`` walks up from the current leaf.
* **Streaming answers are committed as they grow** (``append_answer_text``), so killing the
  app mid-answer keeps the text; the next ``open()`` marks it 'incomplete'.
* **Damage is a state, not a crash.** Any sign of a damaged file surfaces as one
  ``DamagedDatabaseError`` with a plain reason; ``chatdesk.core.history.recovery.recover``
  moves the file aside (kept), starts a fresh database and rescues what can be read.

Threads: a ``HistoryStore`` belongs to the thread that opened it (sqlite3 refuses use from
another thread). The GUI thread owns one; a worker that needs the history opens its own
store on the same file. WAL lets readers and the one writer proceed together, writes take
the lock up front (``BEGIN IMMEDIATE``) and wait up to ``BUSY_TIMEOUT_MS`` for each other.

docs/history.md documents the schema, the JSON keys the totals read, and the search syntax.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import EllipsisType
from typing import Any

from chatdesk.core.history import tree
from chatdesk.core.history.connection import connect, writable
from chatdesk.core.history.documents import DocumentLinks
from chatdesk.core.history.importing import ConversationImports
from chatdesk.core.history.records import (
    Conversation,
    DamagedDatabaseError,
    DatabaseBusyError,
    NotFoundError,
    ReadOnlyHistoryError,
    SearchHit,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.history.rows import (
    CONV_COLS,
    MSG_COLS,
    conversation_from_row,
    dump_json,
    enum_value,
    message_from_row,
)
from chatdesk.core.history.schema import FINAL_STATES, MIGRATIONS, ROLES, SCHEMA_VERSION, STATES
from chatdesk.core.history.search import make_snippet, parse_query
from chatdesk.core.history.sqlite_errors import (
    classify_error,
    damage_reason,
    guarded,
    is_busy,
    is_read_only,
)
from chatdesk.core.history.totals import sum_answers, sum_answers_by_day
from chatdesk.core.history.writers import writer_alive, writer_id
from chatdesk.core.timestamps import usable_timestamp
from chatdesk.core.token_records import TokenTrace

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


# -- the store ---------------------------------------------------------------------------
class HistoryStore(DocumentLinks, ConversationImports):
    """One connection to the history database; use it from the thread that opened it."""

    def __init__(self, path: Path, conn: sqlite3.Connection,
                 clock: Callable[[], float] = time.time, *, read_only: bool = False) -> None:
        """Use ``HistoryStore.open``; this only wraps an already configured connection."""
        self.path = path
        self.read_only = read_only  # opened for reading only: every write raises
        self._conn = conn
        self._clock = clock
        self._closed = False

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r})"

    # -- opening and closing ------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, read_only: bool | None = None, check_integrity: bool = True,
             clock: Callable[[], float] = time.time) -> HistoryStore:
        """Open (creating and migrating as needed) the history at ``path``.

        ``read_only``: by default a history this user cannot write (the file or its
        folder; or SQLite finds it cannot, e.g. on a read-only mount) is opened for
        reading, so listing and exporting still work; ``True`` forces that, ``False``
        refuses it. A read-only store creates and migrates nothing, and every write
        raises ReadOnlyHistoryError. ``read_only`` tells which one this is.

        Raises DamagedDatabaseError once, with a plain reason, when the file is not a
        database, is damaged (``PRAGMA quick_check`` reads every page, so damage is found
        here rather than in the middle of a chat), or was written by a newer chatdesk.
        """
        path = Path(path)
        if read_only is not None:
            return cls._open(path, read_only, check_integrity, clock)
        if path.exists() and not writable(path):
            return cls._open(path, True, check_integrity, clock)
        try:
            return cls._open(path, False, check_integrity, clock)
        except ReadOnlyHistoryError:
            log.warning("history %s: SQLite cannot write it; opening it read-only", path)
            return cls._open(path, True, check_integrity, clock)

    @classmethod
    def _open(cls, path: Path, read_only: bool, check_integrity: bool,
              clock: Callable[[], float]) -> HistoryStore:
        try:
            conn = connect(path, read_only, BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise DamagedDatabaseError(path, f"The history database cannot be opened: {exc}.",
                                       "unreadable") from exc
        store = cls(path, conn, clock, read_only=read_only)
        try:
            store._prepare(check_integrity)
        except BaseException as exc:
            conn.close()
            if not isinstance(exc, sqlite3.Error):
                raise
            kind = classify_error(exc)
            if kind is not None:
                raise DamagedDatabaseError(path, damage_reason(kind, exc), kind) from exc
            if is_busy(exc):
                raise DatabaseBusyError(f"{path}: the history is locked by another program "
                                        f"({exc})") from exc
            if is_read_only(exc):
                raise ReadOnlyHistoryError(path) from exc
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
        if not self.read_only:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("history %s: journal mode is %s, not WAL", self.path, mode)
        conn.execute("PRAGMA foreign_keys = ON")
        if not self.read_only:
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
        if self.read_only:
            if version < SCHEMA_VERSION:
                raise DamagedDatabaseError(
                    self.path, f"The history is read-only, and it needs an upgrade (schema "
                    f"version {version} to {SCHEMA_VERSION}) that cannot be saved. Make it "
                    "writable and open it once.", "unreadable")
            return  # answers left 'streaming' stay so: marking them would be a write
        self._migrate()
        self.mark_interrupted_answers()

    @guarded
    def mark_interrupted_answers(self) -> int:
        """Answers left 'streaming' by a process that is gone become 'incomplete'.

        Run by ``open``. Answers still streaming in a live process (this one's GUI store
        while a worker or an export opens its own store, or another running instance) are
        left alone, or their next appends would be refused.
        """
        with self._write() as conn:
            rows = conn.execute("SELECT id, writer FROM messages "
                                "WHERE state = 'streaming'").fetchall()
            dead = [(row[0],) for row in rows if not writer_alive(row[1])]
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
        if not self.read_only:
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
        if self.read_only:
            raise ReadOnlyHistoryError(self.path)
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

    def _given_time(self, value: float | None, now: float | None = None) -> float:
        """An imported time if it is a real one, else ``now``: a time such as 1e20 or NaN
        once made every later listing raise, so none is ever stored."""
        seconds = usable_timestamp(value)
        if seconds is None:
            if value is not None:
                log.warning("history: an imported time %r is out of range; using now", value)
            return self._now() if now is None else now
        return seconds

    # -- conversations -------------------------------------------------------------------
    @guarded
    def create_conversation(self, title: str = "New chat", *, system_prompt: str = "",
                            settings: dict[str, Any] | None = None,
                            model: str | None = None) -> Conversation:
        now = self._now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, system_prompt, "
                "settings_json, model) VALUES (?, ?, ?, ?, ?, ?)",
                (title, now, now, system_prompt, dump_json(settings or {}), model))
            conversation_id = int(cursor.lastrowid or 0)
        return self._require_conversation(conversation_id)

    @guarded
    def list_conversations(self, *, include_deleted: bool = False) -> list[Conversation]:
        """Pinned first, then the most recently updated (new messages update a chat)."""
        where = "" if include_deleted else "WHERE deleted_at IS NULL"
        rows = self._conn.execute(
            f"SELECT {CONV_COLS} FROM conversations {where} "
            "ORDER BY pinned DESC, updated_at DESC, id DESC").fetchall()
        return [conversation_from_row(row) for row in rows]

    @guarded
    def get_conversation(self, conversation_id: int) -> Conversation | None:
        """Deleted (not yet purged) conversations are returned too, with ``deleted_at``."""
        row = self._conn.execute(f"SELECT {CONV_COLS} FROM conversations WHERE id = ?",
                                 (conversation_id,)).fetchone()
        return None if row is None else conversation_from_row(row)

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

    @guarded
    def rename(self, conversation_id: int, title: str) -> None:
        self._update_conversation(conversation_id, "title = ?", (title,))

    @guarded
    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, "pinned = ?", (1 if pinned else 0,))

    @guarded
    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: hidden from the list and search until restored or purged."""
        self._update_conversation(conversation_id, "deleted_at = ?", (self._now(),))

    @guarded
    def restore_conversation(self, conversation_id: int) -> None:
        """Undo a delete (until ``purge_deleted`` removes it for good)."""
        self._update_conversation(conversation_id, "deleted_at = NULL", ())

    @guarded
    def purge_deleted(self, older_than_s: float = 0) -> int:
        """Really delete conversations deleted at least ``older_than_s`` ago; how many."""
        cutoff = self._now() - older_than_s
        with self._write() as conn:
            return conn.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL "
                                "AND deleted_at <= ?", (cutoff,)).rowcount

    @guarded
    def update_conversation_settings(self, conversation_id: int, *,
                                     system_prompt: str | None = None,
                                     settings: dict[str, Any] | None = None,
                                     model: str | None = None) -> None:
        """Change what is given (None leaves a field as it is)."""
        sets: list[str] = []
        params: list[Any] = []
        for column, value in (("system_prompt", system_prompt),
                              ("settings_json", dump_json(settings)), ("model", model)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if not sets:
            self._require_conversation(conversation_id)
            return
        self._update_conversation(conversation_id, ", ".join(sets), tuple(params))

    @guarded
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
             self._given_time(created_at), model,
             dump_json(sampling), dump_json(stats), dump_json(energy), state,
             enum_value(stop_reason)))
        return int(cursor.lastrowid or 0)

    @guarded
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

    @guarded
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

    @guarded
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

    @guarded
    def resume_answer(self, message_id: int) -> StoredMessage:
        """Make a finished answer 'streaming' again, its text kept, so that a continuation
        ("continue anyway") is appended to the same message, as safely as a new answer."""
        with self._write() as conn:
            row = conn.execute("SELECT conversation_id, role FROM messages WHERE id = ?",
                               (message_id,)).fetchone()
            if row is None or row[1] != "assistant":
                raise NotFoundError(f"no answer {message_id}")
            conn.execute("UPDATE messages SET state = 'streaming', writer = ? WHERE id = ?",
                         (writer_id(), message_id))
            self._touch(conn, row[0], message_id)
        return self._require_message(message_id)

    @guarded
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

    @guarded
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
                         (content, state, enum_value(stop_reason), dump_json(stats),
                          dump_json(energy), message_id))
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                         (self._now(), row[0]))
        return self._require_message(message_id)

    @guarded
    def set_energy(self, message_id: int, energy: dict[str, Any]) -> None:
        """Energy figures can arrive after the answer (the sampler settles a moment later)."""
        with self._write() as conn:
            if conn.execute("UPDATE messages SET energy_json = ? WHERE id = ?",
                            (dump_json(energy), message_id)).rowcount == 0:
                raise NotFoundError(f"no message {message_id}")

    @guarded
    def set_token_trace(self, message_id: int, trace: TokenTrace) -> None:
        """Keep an answer's tokens (core/token_records.py); replaces an earlier trace."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM messages WHERE id = ?",
                            (message_id,)).fetchone() is None:
                raise NotFoundError(f"no message {message_id}")
            conn.execute("INSERT OR REPLACE INTO message_tokens(message_id, trace_json) "
                         "VALUES (?, ?)", (message_id, dump_json(trace.to_json())))

    @guarded
    def token_trace(self, message_id: int) -> TokenTrace | None:
        """An answer's tokens, or None when none were kept (an old or a server's answer)."""
        row = self._conn.execute("SELECT trace_json FROM message_tokens WHERE message_id = ?",
                                 (message_id,)).fetchone()
        if row is None:
            return None
        try:
            trace = TokenTrace.from_json(json.loads(row[0]))
        except ValueError:
            return None
        return trace if trace else None

    @guarded
    def message(self, message_id: int) -> StoredMessage | None:
        row = self._conn.execute(f"SELECT {MSG_COLS} FROM messages m WHERE m.id = ?",
                                 (message_id,)).fetchone()
        return None if row is None else message_from_row(row)

    def _require_message(self, message_id: int) -> StoredMessage:
        found = self.message(message_id)
        if found is None:
            raise NotFoundError(f"no message {message_id}")
        return found

    @guarded
    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of the conversation (the whole tree) in creation order: export."""
        rows = self._conn.execute(f"SELECT {MSG_COLS} FROM messages m "
                                  "WHERE m.conversation_id = ? ORDER BY m.id",
                                  (conversation_id,)).fetchall()
        return [message_from_row(row) for row in rows]

    # -- the tree (chatdesk.core.history.tree holds the SQL) -----------------------------
    @guarded
    def thread(self, conversation_id: int) -> list[ThreadMessage]:
        """The visible path, root to current leaf, walked up from the leaf by index."""
        with self._read() as conn:
            leaf = self._require_conversation(conversation_id).current_leaf_id
            if leaf is None:
                return []
            return tree.thread(conn, conversation_id, leaf)

    @guarded
    def sibling_ids(self, message_id: int) -> list[int]:
        """The alternatives at this message's place (itself included), oldest first."""
        return tree.sibling_ids(self._conn, self._require_message(message_id))

    @guarded
    def switch_to_sibling(self, message_id: int) -> None:
        """Show ``message_id``'s branch, down its most recent replies to a leaf.

        Works for any message (a search hit too), not only for a sibling on the path.
        """
        with self._write() as conn:
            message = self._require_message(message_id)
            leaf = tree.latest_leaf(conn, message_id)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                         (leaf, message.conversation_id))

    @guarded
    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything below it.

        If the visible path ran through it, the view moves to the previous alternative
        (else the next one), or to its parent when it had none.
        """
        with self._write() as conn:
            message = self._require_message(message_id)
            conversation = self._require_conversation(message.conversation_id)
            leaf = tree.delete_subtree(conn, message, conversation.current_leaf_id)
            self._touch(conn, message.conversation_id, leaf)

    # -- search and totals ---------------------------------------------------------------
    @guarded
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages containing every term of ``query``, newest first, deleted chats left out.

        Any text is a valid query; see chatdesk.core.history.search for how it
        is read.
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

    @guarded
    def totals(self, conversation_id: int | None = None, since: float | None = None,
               until: float | None = None) -> dict[str, Any]:
        """Sums over assistant messages: tokens, energy (J, Wh), cost, CO2.

        One conversation (deleted or not), or every conversation not deleted; ``since`` and
        ``until`` (unix seconds) bound the answers' creation time, e.g. today or a month.
        Keys: answers, generated_tokens, prompt_tokens, generation_s, joules, wh, cost,
        co2_g, answers_with_energy, currency (when all answers share one), currencies.
        """
        return sum_answers(self._conn, conversation_id, since, until)

    @guarded
    def totals_by_day(self, since: float | None = None, until: float | None = None, *,
                      conversation_id: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``totals`` per local calendar day ('YYYY-MM-DD'), oldest first: the cost chart."""
        return sum_answers_by_day(self._conn, conversation_id, since, until)

    # -- maintenance ---------------------------------------------------------------------
    @guarded
    def check_search_index(self) -> None:
        """Raise DamagedDatabaseError if the search index disagrees with the messages."""
        with self._write() as conn:
            conn.execute("INSERT INTO messages_fts(messages_fts, rank) "
                         "VALUES ('integrity-check', 1)")

