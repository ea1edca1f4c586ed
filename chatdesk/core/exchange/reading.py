"""Read an import file safely: zip bombs refused, big JSON streamed, never read whole.

A 1 MB zip expanding to 1 GiB took 9 s and 2.1 GB of memory and imported; a 4 MB one
(4 GiB) ended in a MemoryError traceback; a real 237 MB conversations.json peaked at
960 MB. So: a zip member is refused when it would expand past ``MAX_EXPANDED_BYTES`` or
by more than ``MAX_RATIO`` (the sizes the archive declares are checked before reading,
and zipfile never yields more than the declared size: the CRC check catches a liar); and a
JSON list (ChatGPT's export) is parsed one item at a time with ijson, so memory holds one
conversation's JSON plus what is kept of the earlier ones, not the whole file.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from chatdesk.core.exchange.common import ExchangeError

MAX_EXPANDED_BYTES = 2 << 30  # a real 237 MB export held years of chats
MAX_RATIO = 250  # exports compress 5-20x (repetitive ones ~150x); bombs ~1000x
RATIO_FLOOR_BYTES = 1 << 20  # tiny repetitive files may compress well: no ratio check
MAX_DOCUMENT_BYTES = 1 << 30  # one chatdesk conversation (a JSON object) is read whole
MAX_DEPTH = 512  # no real export nests this deep; ijson's cost grows with depth
_PEEK = 64


class _Counted:
    """A binary stream that refuses to yield more than ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int, name: str, prefix: bytes = b"") -> None:
        self.stream, self.limit, self.name = stream, limit, name
        self.prefix = prefix
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data, self.prefix = self.prefix, b""
        if 0 <= size < len(data):
            data, self.prefix = data[:size], data[size:]
        elif size < 0 or not data:
            data += self.stream.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise ExchangeError(f"{self.name} is larger than the {_size(self.limit)} an "
                                "import may be; nothing was imported.")
        return data


def _size(count: int) -> str:
    return f"{count / (1 << 30):.0f} GiB" if count >= 1 << 30 else f"{count >> 20} MiB"


@contextlib.contextmanager
def open_import(path: Path) -> Iterator[tuple[_Counted, str]]:
    """The JSON to import as a counted binary stream (BOM skipped), and a name for it."""
    name = path.name
    try:
        with contextlib.ExitStack() as stack:
            if zipfile.is_zipfile(path):
                archive = stack.enter_context(zipfile.ZipFile(path))
                member = _conversations_member(archive, name)
                name = f"{name}/{member.filename}"
                raw: IO[bytes] = stack.enter_context(archive.open(member))
                limit = member.file_size
            else:
                raw = stack.enter_context(path.open("rb"))
                limit = MAX_EXPANDED_BYTES * 4  # a plain file is streamed, never read whole
            head = raw.read(_PEEK)
            if head.startswith(b"\xef\xbb\xbf"):
                head = head[3:]
            yield _Counted(raw, limit, name, head), name
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExchangeError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}.") \
            from exc


def _conversations_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    inner = [info for info in archive.infolist()
             if info.filename.rsplit("/", 1)[-1] == "conversations.json"]
    if not inner:
        raise ExchangeError(f"{name} is a zip file without a conversations.json.")
    member = inner[0]
    if member.file_size > MAX_EXPANDED_BYTES:
        raise ExchangeError(
            f"{name}: its conversations.json would expand to {_size(member.file_size)}, more "
            f"than the {_size(MAX_EXPANDED_BYTES)} an import may be; nothing was imported.")
    ratio = member.file_size // max(1, member.compress_size)
    if member.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
        raise ExchangeError(
            f"{name}: its conversations.json would expand {ratio:,} times (from "
            f"{member.compress_size:,} to {member.file_size:,} bytes), which no real export "
            "does (a zip bomb?); nothing was imported.")
    return member


def first_char(stream: _Counted) -> bytes:
    """The first non-blank byte, without consuming it (it is pushed back)."""
    while True:
        chunk = stream.read(_PEEK)
        stripped = chunk.lstrip()
        if stripped:
            stream.prefix = stripped + stream.prefix
            stream.count -= len(stripped)
            return stripped[:1]
        if not chunk:
            return b""


def read_document(stream: _Counted, name: str) -> Any:
    """A JSON value read whole (our own one-conversation format), up to a size limit."""
    stream.limit = min(stream.limit, MAX_DOCUMENT_BYTES)
    chunks = []
    while chunk := stream.read(1 << 20):  # counted: past the limit it stops, not the memory
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExchangeError(f"{name} is not UTF-8 text, so not a chat export.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExchangeError(f"{name} is not valid JSON (line {exc.lineno}, column "
                            f"{exc.colno}: {exc.msg}); was it cut short?") from exc
    except RecursionError as exc:
        raise ExchangeError(f"{name} is nested too deeply to be a chat export.") from exc


def stream_items(stream: _Counted, name: str) -> Iterator[Any]:
    """The items of a top-level JSON list, one at a time (ijson's events, our builder:
    ijson's own ``items()`` slows down quadratically with nesting depth)."""
    builder: ijson.ObjectBuilder | None = None
    depth = 0
    try:
        for event, value in ijson.basic_parse(stream, use_float=True):
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ExchangeError(f"{name} is nested too deeply to be a chat export.")
                if depth == 1:
                    continue  # the list itself
                if depth == 2:
                    builder = ijson.ObjectBuilder()
            elif event in ("end_map", "end_array"):
                depth -= 1
                if depth == 0:
                    return
            if builder is None:
                yield value  # a plain value in the list
                continue
            builder.event(event, value)
            if depth == 1:
                yield builder.value
                builder = None
    except ijson.JSONError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExchangeError(f"{name} is not valid JSON ({first}); was it cut short?") from exc
    except UnicodeDecodeError as exc:
        raise ExchangeError(f"{name} is not UTF-8 text, so not a chat export.") from exc
