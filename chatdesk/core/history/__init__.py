"""Conversation history: SQLite (WAL, FTS5), messages as a tree, written as answers stream.

The package, bottom to top (an arrow only runs down this list, so there is no cycle):

* ``search``: typed text to a safe full-text query; marked snippets.
* ``schema``: the DDL, the migrations, the column layouts recovery reads.
* ``records``: the frozen records the store hands out, and its errors.
* ``rows``: records to SQLite rows and back.
* ``sqlite_errors``: which sqlite3 errors mean damage, a busy lock or a read-only file.
* ``connection``: opening the file for writing, or read-only when it cannot be written.
* ``writers``: which process streams an answer, so a dead one's becomes 'incomplete'.
* ``tree``, ``totals``: the answer tree and the sums, as SQL over a connection.
* ``store``: ``HistoryStore``, the one connection; owns transactions.
* ``recovery``: ``recover()`` for a damaged file; it uses the store, never the reverse.

Import the public names from here; ``recover`` from ``chatdesk.core.history.recovery``.
docs/history.md documents the schema, the JSON keys the totals read, and the search syntax.
"""

from chatdesk.core.history.records import (
    Conversation,
    DamagedDatabaseError,
    DatabaseBusyError,
    FileRef,
    HistoryError,
    NewMessage,
    NotFoundError,
    ReadOnlyHistoryError,
    SearchHit,
    SourceRef,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.history.schema import SCHEMA_VERSION
from chatdesk.core.history.search import SNIPPET_END, SNIPPET_START
from chatdesk.core.history.store import BUSY_TIMEOUT_MS, HistoryStore

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "SNIPPET_END",
    "SNIPPET_START",
    "Conversation",
    "DamagedDatabaseError",
    "DatabaseBusyError",
    "FileRef",
    "HistoryError",
    "HistoryStore",
    "NewMessage",
    "NotFoundError",
    "ReadOnlyHistoryError",
    "SearchHit",
    "SourceRef",
    "StoredMessage",
    "ThreadMessage",
]
