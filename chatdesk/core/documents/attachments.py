"""Attachments kept with the history: each file's bytes once, by content hash, in the
data folder (``attachments/ab/abcdef…``), so the same PDF attached to ten messages takes
its room once, and a conversation still answers from it after the original is moved or
deleted. The history's ``message_files`` rows are the reference count: a file no message
refers to any more is freed (``free_unreferenced``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from chatdesk.core.atomic import atomic_writer
from chatdesk.core.documents.index import DocumentIndex, sha256_of
from chatdesk.core.documents.reading import (
    MAX_FILE_BYTES,
    UnreadableDocument,
    kind_of,
    parse_document,
    read_bytes,
)
from chatdesk.core.history.records import FileRef

_HASH = re.compile(r"[0-9a-f]{64}")


class AttachmentStore:
    """The folder of attached files' bytes, named by their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _HASH.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Keep ``data`` (once); its sha256."""
        sha = sha256_of(data)
        target = self.path(sha)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(target) as out:
                out.write(data)
        return sha

    def read(self, sha256: str, name: str = "") -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except OSError:
            raise UnreadableDocument(f"{name or sha256[:12]}: the attached file is missing "
                                     f"from the data folder ({self.root})") from None

    def open_copy(self, sha256: str, name: str) -> Path:
        """A copy of an attachment under its own name (what "open the file" opens: the
        desktop chooses a program by the name's extension)."""
        safe = Path(name).name or "attachment"
        target = self.root / "open" / sha256[:16] / safe
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = self.path(sha256)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        return target

    def free_unreferenced(self, referenced: set[str]) -> int:
        """Delete the files no message refers to any more; how many."""
        freed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for blob in folder.iterdir():
                if _HASH.fullmatch(blob.name) and blob.name not in referenced:
                    with contextlib.suppress(OSError):
                        blob.unlink()
                        freed += 1
        opened = self.root / "open"
        if opened.is_dir():
            for folder in opened.iterdir():
                if not any(sha.startswith(folder.name) for sha in referenced):
                    shutil.rmtree(folder, ignore_errors=True)
        return freed


def attach_file(path: Path, store: AttachmentStore, index: DocumentIndex,
                limit: int = MAX_FILE_BYTES) -> FileRef:
    """Read a file the user attached, keep its bytes and index its passages. Raises
    UnreadableDocument (one line) for anything that cannot be given to the model; then
    nothing is kept."""
    path = Path(path).expanduser()
    kind = kind_of(path)
    if kind is None:
        raise UnreadableDocument(f"{path.name}: chatdesk cannot read {path.suffix or 'this'} "
                                 "files (PDF, DOCX, HTML and text files it can)")
    data = read_bytes(path, limit)
    return attach_bytes(path.name, data, store, index)


def attach_bytes(name: str, data: bytes, store: AttachmentStore, index: DocumentIndex,
                 kind: str | None = None) -> FileRef:
    """Like ``attach_file`` for bytes already in hand (a pasted file, an import)."""
    kind = kind or kind_of(Path(name)) or "text"
    sha = sha256_of(data)
    info = index.document(sha)
    if info is None:
        document = parse_document(name, data, kind)
        store.put(data)
        info = index.add_document(sha, document, attached=True)
    else:  # already indexed (a folder's file, or attached before): keep the bytes
        store.put(data)
        index.mark_attached(sha)
    return FileRef(sha, name, len(data), kind, info.pages, info.tokens)


def ensure_indexed(file: FileRef, store: AttachmentStore, index: DocumentIndex) -> None:
    """Index an attachment again from its kept bytes (the index was rebuilt, or the
    conversation was imported)."""
    if index.document(file.sha256) is None:
        data = store.read(file.sha256, file.name)
        index.add_document(file.sha256, parse_document(file.name, data, file.kind),
                           attached=True)
