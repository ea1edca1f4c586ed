"""Which sqlite3 errors mean a damaged file, a busy lock or a read-only file, and the
decorator that turns them into the store's own errors.

Damage found mid-session must surface as the same DamagedDatabaseError as damage found at
open, never as a raw sqlite3 error from whichever query hit it.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from chatdesk.core.history.records import (
    DamagedDatabaseError,
    DamageKind,
    DatabaseBusyError,
    ReadOnlyHistoryError,
)

_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

P = ParamSpec("P")
R = TypeVar("R")


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


def is_busy(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message
                                                          or "busy" in message)


def is_read_only(exc: sqlite3.Error) -> bool:
    """SQLite refused a write because the file, its folder or its mount is read-only."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_READONLY:
        return True
    return "readonly database" in str(exc).lower()


def damage_reason(kind: DamageKind, exc: BaseException) -> str:
    if kind == "not_a_database":
        return f"The file is not a chatdesk history database (SQLite says: {exc})."
    return f"The history database is damaged (SQLite says: {exc})."


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """A store method whose sqlite3 damage and busy errors become the store's errors.

    The first argument is the store; its ``path`` names the file in the error.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            path = getattr(args[0], "path", None) if args else None
            path = path if isinstance(path, Path) else Path("?")
            kind = classify_error(exc)
            if kind is not None:
                raise DamagedDatabaseError(path, damage_reason(kind, exc), kind) from exc
            if is_busy(exc):
                raise DatabaseBusyError(f"{path}: the history is busy ({exc})") from exc
            if is_read_only(exc):  # e.g. the file was made read-only while open
                raise ReadOnlyHistoryError(path) from exc
            raise

    return wrapper
