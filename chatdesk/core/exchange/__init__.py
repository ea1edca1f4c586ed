"""Export conversations (Markdown, JSON, HTML, PDF, plain text) and import them back.

The API the window and the CLI share, Qt-free. A format this layer cannot write itself
(PDF needs Qt's text layout) comes from a renderer the program registers at start
(``register_renderer``; ``chatdesk.pdf_render`` is the PDF one), so core never imports
upward. Readable formats show the visible thread; JSON holds the whole tree. Files are
named from titles made safe for every OS, written atomically, and never overwrite an
existing file unless told to.

Threads: each call reads through the ``HistoryStore`` it is given, which belongs to the
thread that opened it; to keep the UI responsive run exports in a worker with its own
``HistoryStore.open(path)`` (docs/history.md).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatdesk.core.exchange import chatgpt, documents, json_format
from chatdesk.core.exchange.common import ExchangeError, ExportData, load_export_data
from chatdesk.core.exchange.duplicates import ImportResult, fingerprint, split_new
from chatdesk.core.exchange.filenames import filename_for, safe_stem, write_new_file
from chatdesk.core.exchange.html import render_html
from chatdesk.core.exchange.markdown import render_markdown
from chatdesk.core.exchange.reading import first_char, open_import, read_document, stream_items
from chatdesk.core.exchange.text import render_text
from chatdesk.core.history import HistoryError, HistoryStore

__all__ = [
    "FILE_FILTERS",
    "FORMATS",
    "FORMAT_LABELS",
    "ExchangeError",
    "ImportResult",
    "export_all",
    "export_conversation",
    "filename_for",
    "format_for_path",
    "import_file",
    "register_renderer",
    "render",
    "safe_stem",
]

FORMATS = ("md", "json", "html", "pdf", "txt")
FORMAT_LABELS = {"md": "Markdown", "json": "chatdesk JSON (lossless)", "html": "HTML page",
                 "pdf": "PDF", "txt": "Plain text"}
_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".html": "html",
             ".htm": "html", ".pdf": "pdf", ".txt": "txt", ".text": "txt"}
# For QFileDialog: "Markdown (*.md);;..." in FORMATS order.
FILE_FILTERS = ";;".join(
    f"{FORMAT_LABELS[fmt]} (" + " ".join(f"*{s}" for s, f in _SUFFIXES.items() if f == fmt)
    + ")" for fmt in FORMATS)
Renderer = Callable[[ExportData], bytes]
_RENDERERS: dict[str, Renderer] = {
    "md": lambda data: render_markdown(data).encode("utf-8"),
    "html": lambda data: render_html(data).encode("utf-8"),
    "txt": lambda data: render_text(data).encode("utf-8"),
}


def register_renderer(fmt: str, renderer: Renderer) -> None:
    """Let ``renderer`` write ``fmt`` (one of FORMATS) from now on in this process."""
    _check_format(fmt)
    _RENDERERS[fmt] = renderer


def format_for_path(path: str | Path) -> str | None:
    """The export format a file name's suffix asks for ('notes.MD' → 'md'), else None."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExchangeError(f"Unknown export format {fmt!r}; choose one of "
                            f"{', '.join(FORMATS)}.")
    return fmt


def _renderer(fmt: str) -> Renderer:
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ExchangeError(f"{FORMAT_LABELS[fmt]} export is not available in this program "
                            "(the chatdesk app and CLI provide it).")
    return renderer


def render(history: HistoryStore, conversation_id: int, fmt: str) -> bytes:
    """One conversation in one format, as the bytes of the file."""
    _check_format(fmt)
    if fmt == "json":
        conversation = history.get_conversation(conversation_id)
        if conversation is None:
            raise ExchangeError(f"There is no conversation {conversation_id}.")
        try:
            messages = history.messages(conversation_id)
        except HistoryError as exc:
            raise ExchangeError(f"Conversation {conversation_id} cannot be read: {exc}") \
                from exc
        document = json_format.conversation_document(
            conversation, messages, time.time(), documents.export_fields(history, messages))
        return json_format.dumps(document).encode("utf-8")
    return _renderer(fmt)(load_export_data(history, conversation_id))


def _write(out: Path, data: bytes, overwrite: bool) -> Path:
    try:
        return write_new_file(out, data, overwrite=overwrite)
    except OSError as exc:
        raise ExchangeError(f"Cannot write {out}: {exc.strerror or exc}.") from exc


def export_conversation(history: HistoryStore, conversation_id: int, fmt: str, out: Path,
                        *, overwrite: bool = False) -> Path:
    """Write one conversation; returns the file written.

    ``out`` is a file path, or an existing folder (the name then comes from the title).
    An existing file is kept and ' (2)' etc. is added, unless ``overwrite`` (say, after a
    save dialog asked the user) — the write is atomic either way.
    """
    out = Path(out)
    data = render(history, conversation_id, fmt)
    if out.is_dir():
        conversation = history.get_conversation(conversation_id)
        title = conversation.title if conversation else ""
        out = out / filename_for(title, fmt)
    return _write(out, data, overwrite)


def export_all(history: HistoryStore, fmt: str, out_dir: Path) -> list[Path]:
    """One file per conversation (deleted ones left out) into ``out_dir``; never overwrites.

    Two chats titled alike become 'Title.md' and 'Title (2).md'.
    """
    if _check_format(fmt) != "json":
        _renderer(fmt)  # say it before creating the folder
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExchangeError(f"{out_dir} is not a folder.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExchangeError(f"Cannot create the folder {out_dir}: {exc.strerror}.") from exc
    written = []
    for conversation in history.list_conversations():
        data = render(history, conversation.id, fmt)
        written.append(_write(out_dir / filename_for(conversation.title, fmt), data, False))
    return written


# -- import -------------------------------------------------------------------------------
def parse_file(path: Path) -> list[dict[str, Any]]:
    """Every conversation a file holds, validated, as ``import_conversation`` arguments.

    A ChatGPT export (a JSON list, maybe in a zip) is streamed one conversation at a time;
    zip members that would expand too far are refused first (reading.py).
    """
    path = Path(path)
    with open_import(path) as (stream, name):
        start = first_char(stream)
        if not start:
            raise ExchangeError(f"{name} is empty.")
        if start == b"[":
            items = stream_items(stream, name)
            first = next(items, None)
            if chatgpt.looks_like_chatgpt([first]):
                return chatgpt.parse_export(itertools.chain([first], items), path.name)
        else:
            value = read_document(stream, name)
            if json_format.is_ours(value):
                return [json_format.parse_document(value, path.name)]
    raise ExchangeError(f"{path.name} is neither a chatdesk export nor a ChatGPT "
                        "conversations.json.")


def import_file(history: HistoryStore, path: Path) -> ImportResult:
    """Import our JSON or a ChatGPT export; the new conversations' ids, in the file's order,
    and how many were skipped because they were already imported (``ImportResult``).

    All or nothing: the file is validated completely first, then every new conversation
    is created inside one transaction, so an error leaves the history as it was.
    """
    conversations = parse_file(path)
    ids: list[int] = []
    try:
        with history.transaction():  # all of them or none
            prints = [fingerprint(kwargs) for kwargs in conversations]
            fresh, skipped = split_new(conversations, prints,
                                       history.imported_fingerprints(prints))
            for kwargs, print_ in fresh:
                kept = kwargs.pop("documents", None)
                conversation = history.import_conversation(**kwargs, fingerprint=print_)
                documents.restore(history, conversation.id,
                                  [m.key for m in kwargs["messages"]], kept or {})
                ids.append(conversation.id)
    except (HistoryError, sqlite3.Error, ValueError, TypeError) as exc:
        raise ExchangeError(f"Nothing was imported from {Path(path).name}: {exc}") from exc
    return ImportResult(tuple(ids), skipped)
