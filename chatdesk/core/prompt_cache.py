"""A conversation's KV cache kept between sessions: on disk, and the recent ones in memory.

Re-opening a long conversation (after a restart, a model reload or a switch to another
chat) would otherwise evaluate every earlier turn again before the first token. The engine
saves llama.cpp's state of its one sequence here, with the exact tokens it holds, and
restores it when the conversation continues.

Why it is safe: a state is only offered back under the same *fingerprint* (model file,
context settings, template, system prompt, llama.cpp build), and it carries its tokens, so
the engine reuses only the prefix those tokens share with the new prompt; an edited or
branched conversation (or a reused id) loses nothing but speed. Files are written
atomically and checked (magic, format, lengths, CRC) before use; a corrupt, truncated or
foreign file is ignored with a log line. Disk use is bounded, least recently used first.

Qt-free, and not thread-safe by design: only the engine thread uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import re
import struct
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from chatdesk.core.atomic import atomic_writer

log = logging.getLogger(__name__)

MAGIC = b"CDKVSTAT"
FORMAT_VERSION = 1
SUFFIX = ".kvstate"
MIB = 1 << 20
DEFAULT_DISK_BYTES = 2048 * MIB
# magic, format, fingerprint (64 hex), token count, data bytes, crc32 of tokens + data
_HEADER = struct.Struct("<8sI64sIQI")
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def default_memory_bytes() -> int:
    """How much RAM the recent states may take: 1 GiB, or less on a small machine."""
    return min(1024 * MIB, psutil.virtual_memory().total // 16)


def fingerprint(fields: Mapping[str, Any]) -> str:
    """A stable digest of everything a saved state depends on (sha256, hex)."""
    text = json.dumps(dict(fields), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SavedState:
    """One conversation's KV state: llama.cpp's bytes for sequence 0 and its tokens."""

    fingerprint: str
    tokens: tuple[int, ...]
    data: bytes | memoryview  # a memoryview: the pages of its file, mapped (see get)

    @property
    def size(self) -> int:
        return len(self.data) + 4 * len(self.tokens)


class PromptCache:
    """Saved states by conversation key: a bounded LRU in memory over a bounded LRU on disk.

    ``max_bytes`` 0 switches the disk cache off (the memory one still serves switches).
    """

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_DISK_BYTES,
                 memory_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max(0, int(max_bytes))
        self.memory_bytes = default_memory_bytes() if memory_bytes is None else memory_bytes
        self._memory: OrderedDict[str, SavedState] = OrderedDict()

    # -- reading ------------------------------------------------------------------------
    def get(self, key: str, wanted: str) -> SavedState | None:
        """``key``'s state when it was saved under the fingerprint ``wanted``, else None.

        A state from disk is a view of the file's mapped pages, not a copy: a restart's
        first answer waits for this read, and copying ~45 MB into fresh memory costs more
        than checking it. It is not kept in memory: the engine holds it live now, and
        saves it again (into memory) when it leaves the conversation."""
        state = self._memory.get(key)
        if state is not None:
            if state.fingerprint == wanted:
                self._memory.move_to_end(key)
                return state
            del self._memory[key]  # stale: model, template, context or system prompt changed
        return self._read(key, wanted)

    def _read(self, key: str, wanted: str) -> SavedState | None:
        path = self.path_for(key)
        try:
            with path.open("rb") as handle:
                header = handle.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    log.warning("prompt cache: %s is truncated (header); ignored", path.name)
                    return None
                magic, version, stored, n_tokens, n_data, crc = _HEADER.unpack(header)
                if magic != MAGIC:
                    log.warning("prompt cache: %s is not a chatdesk state file; ignored",
                                path.name)
                    return None
                if version != FORMAT_VERSION:
                    log.info("prompt cache: %s has format %d, not %d; ignored", path.name,
                             version, FORMAT_VERSION)
                    return None
                if stored.decode("ascii", "replace") != wanted:
                    log.info("prompt cache: %s was saved for another model, context, "
                             "template or system prompt; ignored", path.name)
                    return None
                if os.fstat(handle.fileno()).st_size != _HEADER.size + 4 * n_tokens + n_data:
                    log.warning("prompt cache: %s is truncated or too long; ignored",
                                path.name)
                    return None
                # Copy-on-write: writable for ctypes, yet nothing ever reaches the file.
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("prompt cache: cannot read %s (%s); ignored", path.name, exc)
            return None
        view = memoryview(mapping)
        token_bytes = view[_HEADER.size:_HEADER.size + 4 * n_tokens]
        data = view[_HEADER.size + 4 * n_tokens:]
        if zlib.crc32(data, zlib.crc32(token_bytes)) != crc:
            log.warning("prompt cache: %s is corrupt (checksum); ignored", path.name)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: evicted last
        tokens = struct.unpack(f"<{n_tokens}i", token_bytes)
        return SavedState(wanted, tokens, data)

    # -- writing ------------------------------------------------------------------------
    def put(self, key: str, state: SavedState) -> bool:
        """Keep ``state`` in memory (when it fits) and on disk; True when it was written.
        A full or read-only disk costs the cache, never the conversation: it is logged."""
        self._remember(key, state)
        if not self.max_bytes:
            return False
        if state.size + _HEADER.size > self.max_bytes:
            log.info("prompt cache: a state of %d bytes exceeds the cache (%d); not saved",
                     state.size, self.max_bytes)
            return False
        token_bytes = struct.pack(f"<{len(state.tokens)}i", *state.tokens)
        crc = zlib.crc32(state.data, zlib.crc32(token_bytes))
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, state.fingerprint.encode("ascii"),
                              len(state.tokens), len(state.data), crc)
        path = self.path_for(key)
        try:
            self._evict(state.size + _HEADER.size, keep=path)
            with atomic_writer(path) as handle:
                handle.write(header)
                handle.write(token_bytes)
                handle.write(state.data)
        except OSError as exc:
            log.warning("prompt cache: cannot write %s (%s); not saved", path, exc)
            return False
        return True

    def _remember(self, key: str, state: SavedState) -> None:
        self._memory.pop(key, None)
        if state.size > self.memory_bytes:
            return
        self._memory[key] = state
        total = sum(s.size for s in self._memory.values())
        while total > self.memory_bytes:
            _, oldest = self._memory.popitem(last=False)
            total -= oldest.size

    def forget_memory(self) -> None:
        """Drop the in-memory states (as a restart would); the files stay."""
        self._memory.clear()

    def discard(self, key: str) -> None:
        self._memory.pop(key, None)
        try:
            self.path_for(key).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("prompt cache: cannot remove the state of %s (%s)", key, exc)

    # -- disk bound -----------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The state files, least recently used first."""
        try:
            found = [p for p in self.directory.iterdir() if p.name.endswith(SUFFIX)]
        except FileNotFoundError:
            return []
        stamped = []
        for path in found:
            try:
                stamped.append((path.stat().st_mtime_ns, path))
            except FileNotFoundError:
                continue
        return [path for _, path in sorted(stamped)]

    def disk_bytes(self) -> int:
        total = 0
        for path in self.files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _evict(self, incoming: int, keep: Path) -> None:
        """Remove the least recently used files until ``incoming`` more bytes fit."""
        files = [p for p in self.files() if p != keep]
        sizes = {}
        for path in files:
            try:
                sizes[path] = path.stat().st_size
            except FileNotFoundError:
                continue
        total = sum(sizes.values())
        for path in files:
            if total + incoming <= self.max_bytes:
                break
            if path in sizes:
                path.unlink(missing_ok=True)
                total -= sizes[path]
                log.info("prompt cache: evicted %s (%d bytes)", path.name, sizes[path])

    def path_for(self, key: str) -> Path:
        """The file of ``key``: the key itself when it is a safe name, else its digest."""
        name = key if _SAFE_KEY.fullmatch(key) else hashlib.sha256(
            key.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{name}{SUFFIX}"
