"""The answer tree in SQL: the visible path, alternatives, following a branch, subtrees.

Regenerate adds an assistant sibling under the same user message; editing a user message
adds a user sibling under the same parent. Nothing is overwritten, so every earlier answer
stays reachable (1/3, 2/3 ...). The conversation's ``current_leaf_id`` picks the visible
path, which ``thread`` walks *up* from the leaf, so a 10,000-message conversation costs
one indexed lookup per message on the path.

These are plain functions over a connection: the store owns transactions and calls them
inside its own (recovery too, when it re-attaches rescued rows).
"""

from __future__ import annotations

import sqlite3

from chatdesk.core.history.records import StoredMessage, ThreadMessage
from chatdesk.core.history.rows import MSG_COL_COUNT, MSG_COLS, message_kwargs

MAX_DEPTH = 10_000_000  # a guard against a parent cycle in damaged data, never reached

_SUBTREE = """
    WITH RECURSIVE sub(id) AS (
        SELECT ? UNION ALL
        SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id
    )"""


def thread(conn: sqlite3.Connection, conversation_id: int, leaf: int) -> list[ThreadMessage]:
    """The path root → ``leaf``, each message with its place among its alternatives."""
    rows = conn.execute(
        f"""
        WITH RECURSIVE path(id, depth) AS (
            SELECT ?, 0
            UNION ALL
            SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path
                ON m.id = path.id
            WHERE m.parent_id IS NOT NULL AND path.depth < {MAX_DEPTH}
        )
        SELECT {MSG_COLS},
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
    return [ThreadMessage(**message_kwargs(row), sibling_index=row[MSG_COL_COUNT],
                          sibling_count=row[MSG_COL_COUNT + 1]) for row in rows]


def sibling_ids(conn: sqlite3.Connection, message: StoredMessage) -> list[int]:
    """The alternatives at this message's place (itself included), oldest first."""
    if message.parent_id is None:
        rows = conn.execute("SELECT id FROM messages WHERE conversation_id = ? AND "
                            "parent_id IS NULL ORDER BY id", (message.conversation_id,))
    else:
        rows = conn.execute("SELECT id FROM messages WHERE parent_id = ? ORDER BY id",
                            (message.parent_id,))
    return [row[0] for row in rows]


def latest_leaf(conn: sqlite3.Connection, message_id: int) -> int:
    """Follow the most recent child (highest id) down to a leaf."""
    row = conn.execute(
        f"""
        WITH RECURSIVE down(id, depth) AS (
            SELECT ?, 0
            UNION ALL
            SELECT (SELECT c.id FROM messages c WHERE c.parent_id = down.id
                    ORDER BY c.id DESC LIMIT 1), down.depth + 1
            FROM down WHERE down.id IS NOT NULL AND down.depth < {MAX_DEPTH}
        )
        SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1
        """, (message_id,)).fetchone()
    return int(row[0])


def delete_subtree(conn: sqlite3.Connection, message: StoredMessage,
                   current_leaf_id: int | None) -> int | None:
    """Delete a message and everything below it; the leaf the conversation shows next.

    If the visible path ran through it, the view moves to the previous alternative (else
    the next one), or to its parent when it had none; otherwise the leaf stays.
    """
    on_path = current_leaf_id is not None and conn.execute(
        f"{_SUBTREE} SELECT 1 FROM sub WHERE id = ?",
        (message.id, current_leaf_id)).fetchone() is not None
    conn.execute(f"{_SUBTREE} DELETE FROM messages WHERE id IN (SELECT id FROM sub)",
                 (message.id,))
    if not on_path:
        return current_leaf_id
    if message.parent_id is None:
        same_place = "conversation_id = ? AND parent_id IS NULL"
        key: int = message.conversation_id
    else:
        same_place = "parent_id = ?"
        key = message.parent_id
    sibling = conn.execute(
        f"SELECT id FROM messages WHERE {same_place} ORDER BY id < ? DESC, "
        "abs(id - ?) LIMIT 1", (key, message.id, message.id)).fetchone()
    if sibling is not None:
        return latest_leaf(conn, sibling[0])
    return message.parent_id
