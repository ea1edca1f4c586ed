"""The files of a download: which names and revisions are safe, the partial file with its
sidecar, hashing as bytes arrive, and durable writes (fsync). No network here: the Hub
and the byte loop are core/downloads.py."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HASH_BLOCK = 4 * 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(Exception):
    """A download failed; ``str(error)`` is one line a user can act on."""


class DownloadCancelled(DownloadError):
    """The cancel event was set; the partial file is kept so the next call resumes."""


_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\?#%]")


def repo_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be a file (or revision) in a Hub repository, or None.

    It becomes part of the URL the token is sent to: ``..`` or a leading ``/`` would move
    the request elsewhere on the server (``--file ../../x.gguf`` did), and backslashes,
    empty or ``.`` parts, ``?``, ``#`` and ``%`` have no place in a repository path. The
    catalog refuses the same (core/catalog.py).
    """
    if not path:
        return "it is empty"
    if path.startswith("/"):
        return "it is an absolute path"
    if _UNSAFE_CHARS.search(path):
        return "it holds a backslash, a control character, '?', '#' or '%'"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "it has an empty, '.' or '..' part"
    return None


def is_safe_repo_path(path: str) -> bool:
    return repo_path_problem(path) is None


def is_valid_repo_id(repo_id: str) -> bool:
    return bool(_REPO_ID.match(repo_id)) and ".." not in repo_id and "--" not in repo_id


def check_request(repo_id: str, filename: str, revision: str) -> None:
    """Refuse, before any request, what would change the URL the token is sent to."""
    if not is_valid_repo_id(repo_id):
        raise DownloadError(f"invalid repository id {repo_id!r} (expected owner/name)")
    problem = repo_path_problem(filename)
    if problem:
        raise DownloadError(f"invalid file name {filename!r}: {problem}")
    problem = repo_path_problem(revision)
    if problem:
        raise DownloadError(f"invalid revision {revision!r}: {problem}")


def target_name(filename: str) -> str:
    """The file's name in models_dir: the last path part, which must be a plain name."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name in (".", "..") or name.startswith(".") or "\x00" in name:
        raise DownloadError(f"invalid file name {filename!r}")
    return name


def normalise_sha256(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip().lower()
    if not SHA256.fullmatch(cleaned):
        raise DownloadError(f"not a sha256 (64 hex digits): {value!r}")
    return cleaned


def usable_partial(part: Path, sidecar: Path, state: dict[str, Any]) -> int:
    """Bytes of a partial we can resume from; a partial for another file is dropped."""
    if not part.exists():
        discard(sidecar)
        return 0
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    keys = ("repo_id", "filename", "etag", "size")
    size = part.stat().st_size
    if (not isinstance(saved, dict) or any(saved.get(k) != state[k] for k in keys)
            or (state["size"] is not None and size > state["size"])):
        log.info("dropping a stale partial download %s", part)
        discard(part, sidecar)
        return 0
    return size


def new_digest(kind: str, size: int | None) -> Any:
    if kind == "git-sha1":
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {size}\0".encode())
        return digest
    return hashlib.sha256()


class PartialFile:
    """The partial file and a running hash of exactly the bytes it holds.

    The hash is carried across retries so the end needs no second read; whenever the file
    and the hash could disagree (a failed write, a restart at 0) it is rebuilt from disk.
    """

    def __init__(self, path: Path, kind: str, size: int | None,
                 cancel: threading.Event) -> None:
        self.path, self.kind, self.size, self.cancel = path, kind, size, cancel
        self.digest = new_digest(kind, size)
        self.length = 0

    def sync(self) -> int:
        """Make the hash cover the file as it is on disk; returns the file's length."""
        on_disk = self.path.stat().st_size if self.path.exists() else 0
        if on_disk != self.length:
            self.digest, self.length = new_digest(self.kind, self.size), 0
            hash_prefix(self.path, on_disk, self.digest, self.cancel)
            self.length = on_disk
        return self.length

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.digest, self.length = new_digest(self.kind, self.size), 0

    @contextlib.contextmanager
    def appender(self) -> Iterator[Callable[[bytes], None]]:
        """Yield a ``write(chunk)`` that appends and hashes; a full disk is a DownloadError."""
        try:
            with self.path.open("ab") as out:
                def write(chunk: bytes) -> None:
                    out.write(chunk)
                    self.digest.update(chunk)
                    self.length += len(chunk)

                yield write
        except OSError as error:
            if isinstance(error, (ConnectionError, TimeoutError)):
                raise
            self.length = -1  # unknown: the next sync() re-reads the file
            raise DownloadError(f"cannot write {self.path}: {error.strerror or error}") \
                from error

    def hexdigest(self) -> str:
        return str(self.digest.hexdigest())


def hash_prefix(path: Path, length: int, digest: Any, cancel: threading.Event) -> None:
    """Feed the first ``length`` bytes of ``path`` into ``digest``; cancellable per block."""
    if not length:
        return
    with path.open("rb") as source:
        remaining = length
        while remaining:
            if cancel.is_set():
                raise DownloadCancelled("download cancelled; run it again to resume")
            block = source.read(min(HASH_BLOCK, remaining))
            if not block:
                raise DownloadError(f"{path} shrank while being read")
            digest.update(block)
            remaining -= len(block)


def file_digest(path: Path, kind: str, cancel: threading.Event) -> str:
    digest = new_digest(kind, path.stat().st_size)
    hash_prefix(path, path.stat().st_size, digest, cancel)
    return str(digest.hexdigest())


def discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def fsync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); directories cannot be opened on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
