"""Recovering from a damaged history file: keep it, start fresh, rescue what can be read.

Two ways of reading, because damage comes in two shapes:

* **Through SQLite** (a copy of the damaged file, never the kept original): when the
  schema is readable, rows are read in id ranges; a range that hits a bad page is split
  until the bad rows are isolated and skipped, so one broken page costs only its rows.
* **Page by page**, when SQLite gave up somewhere (the header or a table's root page
  overwritten, the file cut short): every table-leaf page of the file (and of its WAL) is
  parsed by hand following the documented file format (sqlite.org/fileformat.html), and
  records shaped like our rows (``schema.RAW_COLUMNS``, values checked) are kept.
  Free-list pages are skipped and the store writes with ``secure_delete``, so deleted chats
  do not come back.

Rescued rows keep their ids, so answers stay attached to their questions; a message whose
parent was lost becomes the start of a branch, and one whose conversation was lost gets a
placeholder conversation. Recovery reads the whole file: run it off the GUI thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdesk.core.history.schema import RAW_COLUMNS, RAW_MIN_COLUMNS, ROLES, STATES
from chatdesk.core.history.store import HistoryStore
from chatdesk.core.history.tree import latest_leaf

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm", "-journal")
RANGE = 1024  # ids per read through SQLite before splitting a failing range
GUESS_WINDOW = 4 << 20  # bytes read to guess the page size when the header is gone
MAX_FAILED_READS = 200_000  # give up splitting beyond this; the page scan takes over
_HEADER = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_TABLE_LEAF = 0x0D
_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)

Row = dict[str, Any]


@dataclass(frozen=True)
class RecoveryReport:
    database_path: Path  # the fresh database, in the damaged one's place
    backup_path: Path | None  # the damaged file, kept; None when there was no file
    moved_files: tuple[Path, ...]  # the backup and its -wal/-shm, as moved
    conversations_rescued: int
    messages_rescued: int
    method: str  # 'none', 'sqlite', 'pages' or 'sqlite+pages'
    notes: tuple[str, ...]  # plain sentences for the user or the log

    def summary(self) -> str:
        """What to tell the user, in one paragraph."""
        lines = [f"Rescued {self.conversations_rescued} conversation(s) and "
                 f"{self.messages_rescued} message(s) into a fresh history."]
        if self.backup_path is not None:
            lines.append(f"The damaged file was kept as {self.backup_path}.")
        lines.extend(self.notes)
        return " ".join(lines)


def recover(path: Path) -> RecoveryReport:
    """Move the damaged history aside (kept), create a fresh one, rescue rows into it.

    Never raises for what it finds in the damaged file; it raises OSError only when the
    file cannot be moved or the fresh database cannot be created. No store may have the
    file open meanwhile.
    """
    path = Path(path)
    moved = _move_aside(path)
    backup = moved[0] if moved else None
    notes: list[str] = []
    conversations: dict[int, Row] = {}
    messages: dict[int, Row] = {}
    method = "none"
    if backup is not None:
        try:
            conversations, messages, method = _rescue(backup, notes)
        except Exception as exc:  # a bug here must not stop the user from starting fresh
            log.exception("history recovery: reading %s failed", backup)
            notes.append(f"Reading the damaged file stopped early ({exc}).")
    store = HistoryStore.open(path)
    try:
        saved_conversations, saved_messages = _insert(store, conversations, messages, notes)
    finally:
        store.close()
    report = RecoveryReport(database_path=path, backup_path=backup, moved_files=moved,
                            conversations_rescued=saved_conversations,
                            messages_rescued=saved_messages, method=method, notes=tuple(notes))
    log.warning("history recovery: %s", report.summary())
    return report


def _move_aside(path: Path) -> tuple[Path, ...]:
    """Rename the file and its side files to '<name>.damaged-<time>' (never overwriting)."""
    if not path.exists():
        for suffix in SIDE_FILES:  # stale side files would be applied to the fresh file
            side = Path(f"{path}{suffix}")
            if side.exists():
                side.unlink()
        return ()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    counter = 1
    while any(Path(f"{backup}{s}").exists() for s in ("", *SIDE_FILES)):
        backup = path.with_name(f"{path.name}.damaged-{stamp}-{counter}")
        counter += 1
    os.replace(path, backup)
    moved = [backup]
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            target = Path(f"{backup}{suffix}")
            os.replace(side, target)
            moved.append(target)
    return tuple(moved)


def _rescue(backup: Path, notes: list[str]) -> tuple[dict[int, Row], dict[int, Row], str]:
    """Read rows from the kept file: through SQLite on a copy, then page by page if needed."""
    with tempfile.TemporaryDirectory(prefix="chatdesk-recover-") as tmp:
        copy = Path(tmp) / "damaged.sqlite3"
        shutil.copyfile(backup, copy)
        wal = Path(f"{backup}-wal")
        if wal.exists():
            shutil.copyfile(wal, Path(f"{copy}-wal"))
        conversations, messages, complete = _read_with_sqlite(copy, notes)
    if complete:
        return conversations, messages, "sqlite"
    read_with_sqlite = len(conversations) + len(messages)
    data = backup.read_bytes()
    wal_data = wal.read_bytes() if wal.exists() else b""
    found_conversations, found_messages = scan_pages(data, wal_data)
    added = 0
    for source, target in ((found_conversations, conversations), (found_messages, messages)):
        for row_id, row in source.items():
            if row_id not in target:
                target[row_id] = row
                added += 1
    if added:
        notes.append(f"{added} row(s) were read page by page, past the damage.")
    if read_with_sqlite:
        return conversations, messages, "sqlite+pages" if added else "sqlite"
    return conversations, messages, "pages" if added else "none"


# -- through SQLite ----------------------------------------------------------------------
def _read_with_sqlite(copy: Path, notes: list[str]
                      ) -> tuple[dict[int, Row], dict[int, Row], bool]:
    """Rows by id range; ``complete`` is False when any read failed."""
    results: dict[str, dict[int, Row]] = {"conversations": {}, "messages": {}}
    try:
        conn = sqlite3.connect(str(copy), isolation_level=None)
    except sqlite3.Error as exc:
        notes.append(f"SQLite could not open the damaged file ({exc}).")
        return {}, {}, False
    complete = True
    try:
        try:
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.DatabaseError as exc:
            notes.append(f"SQLite could not read the damaged file ({exc}).")
            return {}, {}, False
        for table, columns in RAW_COLUMNS.items():
            try:
                existing = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as exc:
                notes.append(f"The {table} table could not be found ({exc}).")
                complete = False
                continue
            if "id" not in existing:
                complete = False
                continue
            chosen = [c for c in columns if c in existing]
            rows, table_complete = _read_table(conn, table, chosen)
            complete = complete and table_complete
            for row in rows:
                cleaned = _clean(table, row)
                if cleaned is not None:
                    results[table][cleaned["id"]] = cleaned
    finally:
        conn.close()
    return results["conversations"], results["messages"], complete


def _read_table(conn: sqlite3.Connection, table: str, columns: list[str]
                ) -> tuple[list[Row], bool]:
    select = f"SELECT {', '.join(columns)} FROM {table}"
    try:
        rows = conn.execute(f"{select} ORDER BY id").fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows], True
    except sqlite3.DatabaseError:
        pass
    top = 0
    for query, params in ((f"SELECT max(id) FROM {table}", ()),
                          ("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))):
        with contextlib.suppress(sqlite3.DatabaseError, TypeError, ValueError):
            value = conn.execute(query, params).fetchone()
            if value is not None and value[0] is not None:
                top = max(top, int(value[0]))
    found: list[Row] = []
    failures = 0
    ranges = [(low, min(low + RANGE - 1, top)) for low in range(1, top + 1, RANGE)]
    ranges.reverse()  # popped from the end: lowest ids first
    while ranges:
        low, high = ranges.pop()
        try:
            rows = conn.execute(f"{select} WHERE id BETWEEN ? AND ? ORDER BY id",
                                (low, high)).fetchall()
        except sqlite3.DatabaseError:
            failures += 1
            if low < high and failures < MAX_FAILED_READS:
                middle = (low + high) // 2
                ranges += [(middle + 1, high), (low, middle)]
            continue
        found.extend(dict(zip(columns, row, strict=True)) for row in rows)
    return found, False


# -- page by page ------------------------------------------------------------------------
def scan_pages(data: bytes, wal: bytes = b"") -> tuple[dict[int, Row], dict[int, Row]]:
    """Conversation and message rows found in the table-leaf pages of a database image."""
    header_ok = data[:16] == _HEADER
    page_size, reserved = _header_page_size(data) if header_ok else (0, 0)
    wal_pages = _wal_pages(wal)
    if not page_size:
        wal_size = _wal_page_size(wal)
        page_size = wal_size or _guess_page_size(data)
    free = _free_pages(data, page_size) if header_ok else set()
    pages = {number: page for number, page in _pages(data, page_size)}
    pages.update(wal_pages.get(page_size, {}))
    conversations: dict[int, Row] = {}
    messages: dict[int, Row] = {}
    for number, page in pages.items():
        if number in free:
            continue
        for rowid, values in _leaf_records(page, number, page_size - reserved, pages):
            for table, target in (("messages", messages), ("conversations", conversations)):
                columns = RAW_COLUMNS[table]
                if not _fits(table, values):
                    continue
                row = dict(zip(columns, values, strict=False))
                row["id"] = rowid
                cleaned = _clean(table, row)
                if cleaned is not None:
                    target[rowid] = cleaned
                    break
    return conversations, messages


def _fits(table: str, values: list[Any]) -> bool:
    return (RAW_MIN_COLUMNS[table] <= len(values) <= len(RAW_COLUMNS[table])
            and values[0] is None)


def _header_page_size(data: bytes) -> tuple[int, int]:
    if len(data) < 100:
        return 0, 0
    size = struct.unpack_from(">H", data, 16)[0]
    size = 65536 if size == 1 else size
    if size < 512 or size & (size - 1):
        return 0, 0
    return size, data[20]


def _guess_page_size(data: bytes) -> int:
    """With the header gone: the page size under which the same stretch of the file
    yields the most records (a too-large size still finds leaves at its boundaries, but
    skips the pages in between; a too-small one cuts pages apart)."""
    window = data[:GUESS_WINDOW]
    best, best_count = 4096, 0
    for size in _PAGE_SIZES:
        count = sum(1 for number, page in _pages(window, size)
                    for _ in _leaf_records(page, number, size, {}))
        if count > best_count:
            best, best_count = size, count
    return best


def _pages(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    for index in range(0, len(data), size):
        page = data[index:index + size]
        if len(page) < size:
            page = page + bytes(size - len(page))  # a file cut short: keep what is there
        yield index // size + 1, page


def _wal_page_size(wal: bytes) -> int:
    if len(wal) < 32 or struct.unpack_from(">I", wal, 0)[0] not in _WAL_MAGIC:
        return 0
    size = struct.unpack_from(">I", wal, 8)[0]
    return size if size >= 512 and not size & (size - 1) else 0


def _wal_pages(wal: bytes) -> dict[int, dict[int, bytes]]:
    """Page images from WAL frames of the current generation; later frames win."""
    size = _wal_page_size(wal)
    if not size:
        return {}
    salts = wal[16:24]
    pages: dict[int, bytes] = {}
    for offset in range(32, len(wal) - 24 - size + 1, 24 + size):
        if wal[offset + 8:offset + 16] != salts:
            break
        number = struct.unpack_from(">I", wal, offset)[0]
        if number:
            pages[number] = wal[offset + 24:offset + 24 + size]
    return {size: pages}


def _free_pages(data: bytes, size: int) -> set[int]:
    """Pages on the free list (their old contents must not be resurrected)."""
    free: set[int] = set()
    total = len(data) // size
    trunk = struct.unpack_from(">I", data, 32)[0] if len(data) >= 40 else 0
    while 0 < trunk <= total and trunk not in free:
        free.add(trunk)
        page = data[(trunk - 1) * size:trunk * size]
        following, count = struct.unpack_from(">II", page, 0)
        for index in range(min(count, (size - 8) // 4)):
            free.add(struct.unpack_from(">I", page, 8 + 4 * index)[0])
        trunk = following
    return free


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for index in range(8):
        byte = buf[pos + index]
        result = (result << 7) | (byte & 0x7F)
        if byte < 0x80:
            return result, pos + index + 1
    return (result << 8) | buf[pos + 8], pos + 9


def _leaf_records(page: bytes, number: int, usable: int, pages: dict[int, bytes]
                  ) -> Iterator[tuple[int, list[Any]]]:
    """(rowid, values) of each readable cell of a table-leaf page; others yield nothing."""
    start = 100 if number == 1 else 0
    if len(page) < start + 8 or page[start] != _TABLE_LEAF:
        return
    cells = struct.unpack_from(">H", page, start + 3)[0]
    if start + 8 + 2 * cells > len(page):
        return
    for index in range(cells):
        pointer = struct.unpack_from(">H", page, start + 8 + 2 * index)[0]
        try:
            rowid, payload = _cell(page, pointer, usable, pages)
            if payload is not None and 0 < rowid < 2**62:
                yield rowid, _record(payload)
        except (IndexError, ValueError, struct.error, UnicodeDecodeError):
            continue


def _cell(page: bytes, pointer: int, usable: int, pages: dict[int, bytes]
          ) -> tuple[int, bytes | None]:
    if not 0 < pointer < len(page):
        raise ValueError("cell pointer outside the page")
    length, pos = _varint(page, pointer)
    rowid, pos = _varint(page, pos)
    most_local = usable - 35
    if length <= most_local:
        local = length
    else:
        least = (usable - 12) * 32 // 255 - 23
        local = least + (length - least) % (usable - 4)
        if local > most_local:
            local = least
    payload = bytearray(page[pos:pos + local])
    if len(payload) < local:
        raise ValueError("cell runs past the page")
    if local < length:
        overflow = struct.unpack_from(">I", page, pos + local)[0]
        seen: set[int] = set()
        while len(payload) < length:
            next_page = pages.get(overflow)
            if next_page is None or overflow in seen:
                return rowid, None  # the rest of this row is lost
            seen.add(overflow)
            overflow = struct.unpack_from(">I", next_page, 0)[0]
            payload += next_page[4:usable][:length - len(payload)]
    return rowid, bytes(payload)


def _record(payload: bytes) -> list[Any]:
    header_size, pos = _varint(payload, 0)
    if not 0 < header_size <= len(payload):
        raise ValueError("bad record header")
    types: list[int] = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    body = header_size
    values: list[Any] = []
    for serial in types:
        if serial == 0:
            values.append(None)
            continue
        if serial in (8, 9):
            values.append(serial - 8)
            continue
        if serial in (10, 11):
            raise ValueError("reserved serial type")
        if serial <= 6:
            size = (0, 1, 2, 3, 4, 6, 8)[serial]
            chunk = payload[body:body + size]
            if len(chunk) < size:
                raise ValueError("record cut short")
            values.append(int.from_bytes(chunk, "big", signed=True))
        elif serial == 7:
            size = 8
            values.append(struct.unpack_from(">d", payload, body)[0])
        else:
            size = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            chunk = payload[body:body + size]
            if len(chunk) < size:
                raise ValueError("record cut short")
            values.append(bytes(chunk) if serial % 2 == 0 else chunk.decode("utf-8"))
        body += size
    return values


# -- checking and saving rows ------------------------------------------------------------
def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 1e11)


def _json_object(value: Any) -> str | None:
    """Figures that no longer parse are dropped; the message's text is what matters."""
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    try:
        return json.dumps(parsed, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return None


def _clean(table: str, row: Row) -> Row | None:
    """The row if every value has the type and range the schema promises, else None."""
    try:
        if not isinstance(row.get("id"), int) or row["id"] <= 0:
            return None
        if table == "conversations":
            return _clean_conversation(row)
        return _clean_message(row)
    except (ValueError, TypeError):
        return None


def _optional(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ValueError("wrong type")
    return value


def _clean_conversation(row: Row) -> Row | None:
    if not isinstance(row.get("title"), str) or not _number(row.get("created_at")):
        return None
    updated = row.get("updated_at", row["created_at"])
    deleted = row.get("deleted_at")
    if not _number(updated) or (deleted is not None and not _number(deleted)):
        return None
    if row.get("pinned", 0) not in (0, 1):
        return None
    settings = row.get("settings_json", "{}")
    return {"id": row["id"], "title": row["title"], "created_at": float(row["created_at"]),
            "updated_at": float(updated), "pinned": int(row.get("pinned", 0)),
            "deleted_at": None if deleted is None else float(deleted),
            "system_prompt": _optional(row.get("system_prompt", ""), str) or "",
            "settings_json": _json_object(settings) or "{}",
            "model": _optional(row.get("model"), str),
            "current_leaf_id": _optional(row.get("current_leaf_id"), int)}


def _clean_message(row: Row) -> Row | None:
    if row.get("role") not in ROLES or row.get("state", "complete") not in STATES:
        return None
    if not isinstance(row.get("content"), str) or not _number(row.get("created_at")):
        return None
    conversation = row.get("conversation_id")
    if not isinstance(conversation, int) or conversation <= 0:
        return None
    cleaned = {"id": row["id"], "conversation_id": conversation,
               "parent_id": _optional(row.get("parent_id"), int), "role": row["role"],
               "content": row["content"], "created_at": float(row["created_at"]),
               "model": _optional(row.get("model"), str),
               "state": row.get("state", "complete"),
               "stop_reason": _optional(row.get("stop_reason"), str)}
    for column in ("sampling_json", "stats_json", "energy_json"):
        value = row.get(column)
        cleaned[column] = None if value is None else _json_object(value)
    if cleaned["state"] == "streaming":
        cleaned["state"] = "incomplete"
    return cleaned


def _insert(store: HistoryStore, conversations: dict[int, Row], messages: dict[int, Row],
            notes: list[str]) -> tuple[int, int]:
    """Write the rescued rows into the fresh store in one transaction, ids kept."""
    placeholders = 0
    for message in messages.values():
        cid = message["conversation_id"]
        if cid not in conversations:
            conversations[cid] = {
                "id": cid, "title": f"Recovered conversation {cid}",
                "created_at": message["created_at"], "updated_at": message["created_at"],
                "pinned": 0, "deleted_at": None, "system_prompt": "", "settings_json": "{}",
                "model": None, "current_leaf_id": None, "placeholder": True}
            placeholders += 1
    saved_conversations = saved_messages = 0
    saved_ids: dict[int, int] = {}  # message id -> conversation id
    with store._write() as conn:
        for row in sorted(conversations.values(), key=lambda r: r["id"]):
            try:
                conn.execute(
                    "INSERT INTO conversations (id, title, created_at, updated_at, pinned, "
                    "deleted_at, system_prompt, settings_json, model) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"], row["title"], row["created_at"], row["updated_at"],
                     row["pinned"], row["deleted_at"], row["system_prompt"],
                     row["settings_json"], row["model"]))
            except (sqlite3.Error, UnicodeError, ValueError, TypeError):
                continue
            saved_conversations += 0 if row.get("placeholder") else 1
        for row in sorted(messages.values(), key=lambda r: r["id"]):
            parent = row["parent_id"]
            if saved_ids.get(parent) != row["conversation_id"]:
                parent = None  # lost, or not before it: this message starts a branch
            try:
                conn.execute(
                    "INSERT INTO messages (id, conversation_id, parent_id, role, content, "
                    "created_at, model, sampling_json, stats_json, energy_json, state, "
                    "stop_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"], row["conversation_id"], parent, row["role"], row["content"],
                     row["created_at"], row["model"], row["sampling_json"],
                     row["stats_json"], row["energy_json"], row["state"],
                     row["stop_reason"]))
            except (sqlite3.Error, UnicodeError, ValueError, TypeError):
                continue
            saved_ids[row["id"]] = row["conversation_id"]
            saved_messages += 1
        for row in conversations.values():
            leaf = row.get("current_leaf_id")
            if saved_ids.get(leaf) != row["id"]:
                latest = conn.execute("SELECT max(id) FROM messages WHERE conversation_id = ?",
                                      (row["id"],)).fetchone()[0]
                leaf = None if latest is None else latest_leaf(conn, latest)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                         (leaf, row["id"]))
    if placeholders:
        notes.append(f"{placeholders} conversation(s) lost their title and settings; their "
                     "messages are under 'Recovered conversation N'.")
    return saved_conversations, saved_messages
