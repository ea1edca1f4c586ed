"""File names from conversation titles, safe on every OS, and writes that never clobber.

A title is anything a user or a model typed: slashes, colons, emoji, a bidi override, a
Windows device name ("CON"), 5,000 characters. The name we make from it must be creatable on
Windows, macOS and Linux alike (an export folder may be synced between them), and writing
it must neither overwrite an existing file silently nor leave a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from pathlib import Path

from chatdesk.core.atomic import atomic_writer

FALLBACK_NAME = "conversation"
MAX_STEM_CHARS = 100
MAX_NAME_BYTES = 200  # ext4/APFS allow 255 bytes; leave room for " (999)" and the suffix
_FORBIDDEN = re.compile(r'[/\\:*?"<>|]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # can disguise a suffix
_SPACES = re.compile(r"\s+")
_RESERVED = ({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
             | {f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789¹²³"})


def is_reserved(name: str) -> bool:
    """Windows device names, whatever the case or extension ('con', 'Aux.txt', 'COM1.a.b')."""
    return name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED


def _trim_to_bytes(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
    # Do not leave a base letter without its accent, or half an emoji ZWJ sequence.
    while cut and (unicodedata.combining(cut[-1]) or cut[-1] in "\u200d\ufe0f\ufe0e"):
        cut = cut[:-1]
    return cut


def safe_stem(title: str) -> str:
    """A title made safe as a file name stem on Windows, macOS and Linux."""
    text = unicodedata.normalize("NFC", title or "")
    text = _BIDI.sub("", _CONTROL.sub(" ", text))
    text = _SPACES.sub(" ", _FORBIDDEN.sub("_", text)).strip()
    text = text.lstrip(".")  # a leading dot hides the file on Unix
    text = _trim_to_bytes(text[:MAX_STEM_CHARS], MAX_NAME_BYTES).rstrip(". ")
    if not text:
        return FALLBACK_NAME
    if is_reserved(text):  # 'CON .txt' is CON too: mark the device name itself
        head, dot, rest = text.partition(".")
        text = f"{head.rstrip(' ')}_{dot}{rest}"
    return text


def filename_for(title: str, fmt: str) -> str:
    """'Title.fmt' for a conversation title and an export format ('md', 'json' ...)."""
    return f"{safe_stem(title)}.{fmt}"


def candidates(path: Path) -> list[Path]:
    """path, then 'name (2).ext', 'name (3).ext' ... (the first 9,999 choices)."""
    stem, suffix = path.stem, path.suffix
    return [path] + [path.with_name(f"{stem} ({n}){suffix}") for n in range(2, 10_000)]


def write_new_file(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` atomically at ``path``, or at 'path (2)' etc. if it exists.

    The name is claimed with an exclusive create first (so two exports racing for
    'Notes.md' get two files), then the content replaces the empty placeholder atomically:
    a reader sees nothing, or the whole file. ``overwrite=True`` (after the user said so in
    a save dialog) replaces ``path`` itself, still atomically. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        with atomic_writer(path) as handle:
            handle.write(data)
        return path
    for candidate in candidates(path):
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        try:
            with atomic_writer(candidate) as handle:
                handle.write(data)
        except BaseException:
            with contextlib.suppress(OSError):
                candidate.unlink()
            raise
        return candidate
    raise FileExistsError(f"{path} and 9,998 numbered variants of it already exist")
