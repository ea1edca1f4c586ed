"""What every export format shares: the error type, one snapshot of a conversation, and
the small formatting helpers (dates, figures, fences) so md, txt and html say the same."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from chatdesk.core.history import (
    Conversation,
    HistoryError,
    HistoryStore,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.timestamps import format_timestamp

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System"}
ALTERNATIVES_NOTE = ("This file holds the visible thread only; alternatives (regenerated "
                     "answers, edited questions) are in the JSON export.")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


class ExchangeError(Exception):
    """An export or import failed; ``str(error)`` is a sentence to show the user."""


@dataclass(frozen=True)
class ExportData:
    """One conversation as the readable formats show it: the visible thread and figures."""

    conversation: Conversation
    thread: list[ThreadMessage]
    message_count: int  # the whole tree, alternatives included
    totals: dict[str, Any]
    exported_at: float = field(default_factory=time.time)

    @property
    def has_alternatives(self) -> bool:
        return self.message_count > len(self.thread)


def load_export_data(history: HistoryStore, conversation_id: int) -> ExportData:
    """Read what the readable formats need; a missing conversation is an ExchangeError."""
    conversation = history.get_conversation(conversation_id)
    if conversation is None:
        raise ExchangeError(f"There is no conversation {conversation_id}.")
    try:
        thread = history.thread(conversation_id)
        count = history.message_count(conversation_id)
        totals = history.totals(conversation_id)
    except HistoryError as exc:
        raise ExchangeError(f"Conversation {conversation_id} cannot be read: {exc}") from exc
    return ExportData(conversation, thread, count, totals)


# -- text helpers -------------------------------------------------------------------------
def clean_text(value: str) -> str:
    """Lone surrogates (legal in JSON's \\ud800, not in UTF-8 or SQLite) become U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value


def clean_value(value: Any) -> Any:
    """``clean_text`` through nested dicts and lists (sampling, stats, energy)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def fence_for(text: str, char: str = "`") -> str:
    """A fence longer than any run of ``char`` inside ``text`` (at least three)."""
    longest = max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def close_open_fence(text: str) -> str:
    """Close a code fence left open (an answer cut mid-block), or it swallows the rest."""
    open_fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        run, rest = match.group(1), match.group(2)
        if open_fence is None:
            if run[0] == "`" and "`" in rest:
                continue  # not a fence: a backtick fence's info string has no backticks
            open_fence = run
        elif run[0] == open_fence[0] and len(run) >= len(open_fence) and not rest.strip():
            open_fence = None
    if open_fence is None:
        return text
    return text + ("" if text.endswith("\n") else "\n") + open_fence


def format_time(ts: float | None) -> str:
    """Local time with its UTC offset, to the minute: unambiguous and readable."""
    return format_timestamp(ts, "%Y-%m-%d %H:%M %z")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float, digits: int = 2) -> str:
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def sampling_summary(sampling: dict[str, Any] | None) -> str:
    """'temperature 0.7, top_k 40, ...' for the header; empty when there is none."""
    if not sampling:
        return ""
    parts = []
    for key, value in sampling.items():
        if value is None or value == [] or value == ():
            continue
        parts.append(f"{key} {value!r}" if isinstance(value, (str, list)) else f"{key} {value}")
    return ", ".join(parts)


def message_figures(message: StoredMessage) -> str:
    """One line of an answer's statistics and energy ('' when it has none)."""
    parts: list[str] = []
    stats = message.stats or {}
    energy = message.energy or {}
    tokens = _num(stats.get("generated_tokens"))
    if tokens is not None:
        parts.append(f"{int(tokens):,} tokens")
    speed = _num(stats.get("tokens_per_s"))
    if speed is not None:
        parts.append(f"{_fmt(speed, 1)} tok/s")
    seconds = _num(stats.get("total_s"))
    if seconds is not None:
        parts.append(f"{_fmt(seconds, 2)} s")
    wh = _num(energy.get("wh"))
    joules = _num(energy.get("joules"))
    if wh is None and joules is not None:
        wh = joules / 3600
    if wh is not None:
        parts.append(f"{_fmt(wh, 4)} Wh")
    cost = _num(energy.get("cost"))
    if cost is not None:
        currency = energy.get("currency")
        parts.append(f"{_fmt(cost, 5)} {currency}" if isinstance(currency, str)
                     else f"cost {_fmt(cost, 5)}")
    co2 = _num(energy.get("co2_g"))
    if co2 is not None:
        parts.append(f"{_fmt(co2, 3)} g CO2")
    source = energy.get("source")
    if isinstance(source, str) and parts:
        parts.append(f"energy: {source}")
    if message.state in ("incomplete", "error"):
        parts.append(message.state + (f" ({message.stop_reason})" if message.stop_reason
                                      else ""))
    return " · ".join(parts)


def totals_summary(totals: dict[str, Any]) -> str:
    """The header's totals line: answers, tokens, time, energy, cost, CO2."""
    answers = int(totals.get("answers") or 0)
    parts = [f"{answers:,} answer{'s' if answers != 1 else ''}",
             f"{int(totals.get('generated_tokens') or 0):,} tokens generated",
             f"{_fmt(float(totals.get('generation_s') or 0.0), 1)} s generating"]
    if totals.get("answers_with_energy"):
        parts.append(f"{_fmt(float(totals.get('wh') or 0.0), 4)} Wh")
        cost = float(totals.get("cost") or 0.0)
        if cost:
            parts.append(f"{_fmt(cost, 5)} {totals.get('currency') or ''}".rstrip())
        co2 = float(totals.get("co2_g") or 0.0)
        if co2:
            parts.append(f"{_fmt(co2, 3)} g CO2")
    return ", ".join(parts) + " (whole conversation, alternatives included)"


def last_sampling(data: ExportData) -> dict[str, Any] | None:
    """The sampling of the last answer shown, else the conversation's saved one."""
    for message in reversed(data.thread):
        if message.role == "assistant" and message.sampling:
            return message.sampling
    saved = data.conversation.settings.get("sampling")
    return saved if isinstance(saved, dict) else None


def header_fields(data: ExportData) -> list[tuple[str, str]]:
    """(label, value) pairs of the metadata header, in order, for md/txt/html alike."""
    conv = data.conversation
    models = []
    for message in data.thread:
        if message.model and message.model not in models:
            models.append(message.model)
    if not models and conv.model:
        models.append(conv.model)
    fields = [("Model", ", ".join(models) or "unknown"),
              ("Created", format_time(conv.created_at)),
              ("Updated", format_time(conv.updated_at)),
              ("Exported", format_time(data.exported_at))]
    sampling = sampling_summary(last_sampling(data))
    if sampling:
        fields.append(("Sampling", sampling + " (last answer)"))
    shown = len(data.thread)
    fields.append(("Messages", f"{shown:,} shown of {data.message_count:,}"))
    fields.append(("Totals", totals_summary(data.totals)))
    return fields


def role_heading(message: ThreadMessage) -> str:
    """'Assistant · model · time · 2/3' — who, with what, when, which alternative."""
    parts = [ROLE_LABELS.get(message.role, message.role)]
    if message.role == "assistant" and message.model:
        parts.append(message.model)
    parts.append(format_time(message.created_at))
    if message.sibling_count > 1:
        parts.append(f"alternative {message.sibling_index + 1}/{message.sibling_count}")
    return " · ".join(parts)
