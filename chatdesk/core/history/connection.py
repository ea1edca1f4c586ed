"""Opening the SQLite file: for writing, or for reading only when this user cannot write.

A history on a read-only disk, in a folder shared read-only, or owned by another user
must still list and export (issue 18.8). ``mode=ro`` reads it without writing a byte;
a WAL database in a folder nobody may write needs ``immutable=1`` as well, because
SQLite shares the WAL index through a -shm file beside it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from chatdesk.core.history.sqlite_errors import is_read_only

log = logging.getLogger(__name__)


def writable(path: Path) -> bool:
    """Whether this user may write the database file and create files beside it (SQLite
    needs its folder for the -wal, -shm or -journal file)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def connect(path: Path, read_only: bool, timeout: float) -> sqlite3.Connection:
    """A connection for writing (creating the folder), or one that can only read."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(str(path), isolation_level=None, timeout=timeout)
    uri = path.absolute().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if not is_read_only(exc):
            raise
    # A WAL database in a folder this user cannot write: there is no -shm file to share
    # the WAL index through, and none can be made. Read the file as immutable instead;
    # what a -wal left by a crash holds is then not seen.
    if Path(f"{path}-wal").exists():
        log.warning("history %s: read as immutable; the changes in its -wal file are not "
                    "shown", path)
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                           timeout=timeout)
