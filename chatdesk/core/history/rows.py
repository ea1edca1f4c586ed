"""Between records and SQLite rows: column lists, JSON columns in and out, row mappers.

One place for this so that the store and the tree queries build the same records from
the same columns.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatdesk.core.history.records import Conversation, StoredMessage
from chatdesk.core.history.schema import CONVERSATION_COLUMNS, MESSAGE_COLUMNS

CONV_COLS = ", ".join(CONVERSATION_COLUMNS)
MSG_COLS = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS if c != "writer")
MSG_COL_COUNT = len(MESSAGE_COLUMNS) - 1  # what MSG_COLS selects


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


def dump_json(value: dict[str, Any] | None) -> str | None:
    """A dict as the compact, finite JSON a ``*_json`` column holds (None stays NULL)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected a dict, got {type(value).__name__}")
    normal = json.loads(json.dumps(value, default=_json_default))
    return json.dumps(_finite(normal), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def load_json(text: str | None) -> dict[str, Any] | None:
    """A ``*_json`` column back as a dict; anything that is not a JSON object is None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def conversation_from_row(row: Sequence[Any]) -> Conversation:
    return Conversation(id=row[0], title=row[1], created_at=row[2], updated_at=row[3],
                        pinned=bool(row[4]), deleted_at=row[5], system_prompt=row[6],
                        settings=load_json(row[7]) or {}, model=row[8],
                        current_leaf_id=row[9])


def message_kwargs(row: Sequence[Any]) -> dict[str, Any]:
    """The StoredMessage fields of a row that starts with MSG_COLS."""
    return {"id": row[0], "conversation_id": row[1], "parent_id": row[2], "role": row[3],
            "content": row[4], "created_at": row[5], "model": row[6],
            "sampling": load_json(row[7]), "stats": load_json(row[8]),
            "energy": load_json(row[9]), "state": row[10], "stop_reason": row[11]}


def message_from_row(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(**message_kwargs(row))
