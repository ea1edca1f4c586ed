"""The history database's schema and its migrations (``PRAGMA user_version``).

Migration *n* (``MIGRATIONS[n - 1]``) takes a database from version n-1 to n; each runs in
its own write transaction together with the ``user_version`` bump, so a crash mid-upgrade
leaves the old version intact. Adding a version means appending one function here, adding a
test, and (if a table gains columns) extending ``RAW_COLUMNS`` so recovery can still read
pages of either version. docs/history.md describes the schema in words.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

ROLES = ("system", "user", "assistant")
STATES = ("complete", "streaming", "incomplete", "error")
FINAL_STATES = ("complete", "incomplete", "error")

_JSON_OR_NULL = "CHECK ({0} IS NULL OR json_valid({0}))"

_V1 = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL DEFAULT 'New chat',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
        deleted_at REAL,
        system_prompt TEXT NOT NULL DEFAULT '',
        settings_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings_json)),
        model TEXT,
        current_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
    )
    """,
    # parent_id has no ON DELETE CASCADE on purpose: a cascade through a 10,000-deep chain
    # nests one trigger level per generation; subtrees are deleted in one statement instead.
    f"""
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id),
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        model TEXT,
        sampling_json TEXT {_JSON_OR_NULL.format("sampling_json")},
        stats_json TEXT {_JSON_OR_NULL.format("stats_json")},
        energy_json TEXT {_JSON_OR_NULL.format("energy_json")},
        state TEXT NOT NULL DEFAULT 'complete'
            CHECK (state IN ('complete', 'streaming', 'incomplete', 'error')),
        stop_reason TEXT,
        writer TEXT
    )
    """,
    "CREATE INDEX messages_by_parent ON messages(parent_id)",
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, parent_id, id)",
    "CREATE INDEX messages_by_time ON messages(created_at)",
    "CREATE INDEX messages_streaming ON messages(id) WHERE state = 'streaming'",
    # the foreign key from current_leaf_id: without it, deleting N messages scans every
    # conversation N times
    "CREATE INDEX conversations_by_leaf ON conversations(current_leaf_id)",
    "CREATE INDEX conversations_by_activity ON conversations(pinned, updated_at)"
    " WHERE deleted_at IS NULL",
    # Answers still streaming are left out of the index: they change several times a second
    # and would be re-tokenized each time. They are indexed when they finish (or when the
    # next open turns them 'incomplete'). The view keeps 'rebuild'/'integrity-check' honest.
    "CREATE VIEW messages_searchable AS"
    " SELECT id, content FROM messages WHERE state <> 'streaming'",
    # trigram: substring matching in every script (CJK has no spaces for unicode61 to split
    # on), case-insensitive. Terms shorter than 3 characters are matched with LIKE instead.
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages_searchable', content_rowid='id', tokenize='trigram')",
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    WHEN new.state <> 'streaming' BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    WHEN old.state <> 'streaming' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END
    """,
    # One trigger, two statements: the old row must leave the index before the new one
    # enters (two triggers would fire in an order SQLite does not promise).
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, state ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            SELECT 'delete', old.id, old.content WHERE old.state <> 'streaming';
        INSERT INTO messages_fts(rowid, content)
            SELECT new.id, new.content WHERE new.state <> 'streaming';
    END
    """,
]


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    """The first schema: conversations, the message tree, full-text search."""
    for statement in _V1:
        conn.execute(statement)


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    """Where imported conversations came from: a fingerprint of their content, so that
    importing the same file again skips them (issue 17, bug 9). A table of its own keeps
    the conversations' row layout (and recovery's page scan) as it was."""
    conn.execute("""
        CREATE TABLE conversation_sources (
            conversation_id INTEGER PRIMARY KEY
                REFERENCES conversations(id) ON DELETE CASCADE,
            fingerprint TEXT NOT NULL,
            imported_at REAL NOT NULL
        )
    """)
    conn.execute("CREATE INDEX conversation_sources_by_fingerprint "
                 "ON conversation_sources(fingerprint)")


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    """Chat with your documents (issue 13): the files attached to a question (kept by
    content hash in the data folder's attachments/) and the passages an answer was given.
    Tables of their own, deleted with their message, so the messages' row layout (and
    recovery's page scan) stays as it was."""
    conn.execute("""
        CREATE TABLE message_files (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            kind TEXT NOT NULL,
            pages INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (message_id, position)
        )
    """)
    conn.execute("CREATE INDEX message_files_by_hash ON message_files(sha256)")
    conn.execute("""
        CREATE TABLE message_sources (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            file TEXT NOT NULL,
            page INTEGER NOT NULL DEFAULT 0,
            text TEXT NOT NULL,
            sha256 TEXT NOT NULL DEFAULT '',
            ordinal INTEGER NOT NULL DEFAULT -1,
            whole INTEGER NOT NULL DEFAULT 0 CHECK (whole IN (0, 1)),
            PRIMARY KEY (message_id, position)
        )
    """)


def _migrate_to_v4(conn: sqlite3.Connection) -> None:
    """Each answer's tokens with their probabilities and alternatives (issue 14: the token
    view works on old answers). A table of its own: the messages' row layout (and
    recovery's page scan) stays as it was, an answer without a trace simply has no row,
    and deleting a message deletes its trace with it."""
    conn.execute("""
        CREATE TABLE message_tokens (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            trace_json TEXT NOT NULL CHECK (json_valid(trace_json))
        )
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_to_v1, _migrate_to_v2, _migrate_to_v3, _migrate_to_v4]
SCHEMA_VERSION = len(MIGRATIONS)

CONVERSATION_COLUMNS = ("id", "title", "created_at", "updated_at", "pinned", "deleted_at",
                        "system_prompt", "settings_json", "model", "current_leaf_id")
MESSAGE_COLUMNS = ("id", "conversation_id", "parent_id", "role", "content", "created_at",
                   "model", "sampling_json", "stats_json", "energy_json", "state",
                   "stop_reason", "writer")

# Column order as stored in each table's records, for recovery's page scan (which cannot
# ask SQLite). A migration that adds columns appends them here; records written before it
# are shorter, which the scan accepts. tests/unit/test_history_recovery.py checks these
# against the real schema.
RAW_COLUMNS = {"conversations": CONVERSATION_COLUMNS, "messages": MESSAGE_COLUMNS}
RAW_MIN_COLUMNS = {"conversations": 10, "messages": 13}  # the version 1 layouts
