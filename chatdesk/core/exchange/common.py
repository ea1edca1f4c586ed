"""What every export format shares: the error type, one snapshot of a conversation, and
the small formatting helpers (dates, headings, fences) so md, txt, html and pdf say the
same. The figures' words come from ``chatdesk.core.figures``, as in the window."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from chatdesk.core.catalog import Catalog, load_catalog
from chatdesk.core.figures import (
    answer_title,
    count_of,
    energy_line,
    format_co2,
    format_money,
    format_wh,
    model_file_name,
    sampling_summary,
    stats_line,
)
from chatdesk.core.history import (
    Conversation,
    FileRef,
    HistoryError,
    HistoryStore,
    SourceRef,
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
    model_names: dict[str, str] = field(default_factory=dict)  # stored model -> its name
    files: dict[int, tuple[FileRef, ...]] = field(default_factory=dict)  # message id ->
    sources: dict[int, tuple[SourceRef, ...]] = field(default_factory=dict)  # message id ->

    @property
    def has_alternatives(self) -> bool:
        return self.message_count > len(self.thread)

    def model_name(self, model: str | None) -> str:
        """The name people know a stored model by (never a file path)."""
        if not model:
            return ""
        return self.model_names.get(model) or answer_title(model)


def load_export_data(history: HistoryStore, conversation_id: int,
                     catalog: Catalog | None = None) -> ExportData:
    """Read what the readable formats need; a missing conversation is an ExchangeError.

    Models are named from ``catalog`` (default: the packaged one, or $CHATDESK_CATALOG)."""
    conversation = history.get_conversation(conversation_id)
    if conversation is None:
        raise ExchangeError(f"There is no conversation {conversation_id}.")
    try:
        thread = history.thread(conversation_id)
        count = history.message_count(conversation_id)
        totals = history.totals(conversation_id)
    except HistoryError as exc:
        raise ExchangeError(f"Conversation {conversation_id} cannot be read: {exc}") from exc
    models = {m.model for m in thread if m.model} | ({conversation.model}
                                                   if conversation.model else set())
    if catalog is None and models:
        catalog = load_catalog()
    names = {model: answer_title(model, catalog) for model in models}
    ids = [m.id for m in thread]
    return ExportData(conversation, thread, count, totals, model_names=names,
                      files=history.message_files(ids), sources=history.message_sources(ids))


def document_lines(data: ExportData, message: ThreadMessage) -> list[str]:
    """What the readable formats say of a message's documents: "Attached: a.pdf (3
    pages)" and each source the answer was given ("[1] a.pdf, page 2: “…”")."""
    lines = []
    files = data.files.get(message.id, ())
    if files:
        lines.append("Attached: " + ", ".join(
            f"{f.name} ({count_of(f.pages, 'page')})" if f.pages else f.name for f in files))
    for number, source in enumerate(data.sources.get(message.id, ()), start=1):
        text = " ".join(source.text.split())
        text = text if len(text) <= SOURCE_QUOTE_CHARS else \
            text[:SOURCE_QUOTE_CHARS - 1].rstrip() + "…"
        place = f"{source.file}, page {source.page}" if source.page else source.file
        lines.append(f"Source [{number}] {place}: “{text}”")
    return lines


SOURCE_QUOTE_CHARS = 160  # how much of a source's passage the readable exports quote


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


def _fmt(value: float, digits: int = 2) -> str:
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def message_figures(message: StoredMessage) -> str:
    """An answer's figures in the window's words ('' when it has none), with its state."""
    parts = [line for line in (stats_line(message.stats, message.stop_reason),
                               energy_line(message.energy)) if line]
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
        parts.append(format_wh(float(totals.get("wh") or 0.0)))
        cost = float(totals.get("cost") or 0.0)
        if cost:
            parts.append(format_money(cost, totals.get("currency")))
        co2 = float(totals.get("co2_g") or 0.0)
        if co2:
            parts.append(format_co2(co2))
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
    models: list[str] = []
    for model in [m.model for m in data.thread if m.model] or [conv.model]:
        named = model_with_file(data, model)
        if named and named not in models:
            models.append(named)
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


def model_with_file(data: ExportData, model: str | None) -> str:
    """'Gemma 3 270M (gemma-3-270m-q4_k_m.gguf)': the name, and the file when it says more."""
    name = data.model_name(model)
    file = model_file_name(model) if model else None
    if not file or name in (file, file.rsplit(".", 1)[0]):
        return name
    return f"{name} ({file})"


def role_heading(data: ExportData, message: ThreadMessage) -> str:
    """'Assistant · model · time · 2/3' — who, with what, when, which alternative."""
    parts = [ROLE_LABELS.get(message.role, message.role)]
    if message.role == "assistant" and message.model:
        parts.append(data.model_name(message.model))
    parts.append(format_time(message.created_at))
    if message.sibling_count > 1:
        parts.append(f"alternative {message.sibling_index + 1}/{message.sibling_count}")
    return " · ".join(parts)
