"""Sums over assistant answers (tokens, energy, cost, CO2), whole or per local day.

The cost view, the stats panel and the exports read these; they are SQL over the JSON
columns (the keys docs/history.md lists), so a million answers sum without loading one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

_SELECT = """
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


def _where(conversation_id: int | None, since: float | None, until: float | None
           ) -> tuple[str, list[Any]]:
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


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    currencies = sorted(set((row[9] or "").split(",")) - {""})
    return {"answers": row[0], "generated_tokens": int(row[1]), "prompt_tokens": int(row[2]),
            "generation_s": float(row[3]), "joules": float(row[4]), "wh": float(row[5]),
            "cost": float(row[6]), "co2_g": float(row[7]), "answers_with_energy": row[8],
            "currency": currencies[0] if len(currencies) == 1 else None,
            "currencies": currencies}


def sum_answers(conn: sqlite3.Connection, conversation_id: int | None, since: float | None,
           until: float | None) -> dict[str, Any]:
    """See HistoryStore.totals."""
    where, params = _where(conversation_id, since, until)
    row = conn.execute(f"{_SELECT} FROM messages m JOIN conversations c "
                       f"ON c.id = m.conversation_id WHERE {where}", params).fetchone()
    return _as_dict(row)


def sum_answers_by_day(conn: sqlite3.Connection, conversation_id: int | None, since: float | None,
                  until: float | None) -> list[tuple[str, dict[str, Any]]]:
    """See HistoryStore.totals_by_day."""
    where, params = _where(conversation_id, since, until)
    rows = conn.execute(
        f"{_SELECT}, date(m.created_at, 'unixepoch', 'localtime') AS day "
        f"FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        f"WHERE {where} GROUP BY day ORDER BY day", params).fetchall()
    return [(row[10], _as_dict(row)) for row in rows]
