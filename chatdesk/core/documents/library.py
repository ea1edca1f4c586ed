"""The documents of one data folder: the attachment store and the index beside the
history (``attachments/`` and ``documents.sqlite3``), and the two things the window and
the CLI do with them: attach files, and ground a question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chatdesk.core.documents.attachments import AttachmentStore, attach_file, ensure_indexed
from chatdesk.core.documents.grounding import NO_GROUNDING, Grounding, ground
from chatdesk.core.documents.index import DocumentIndex
from chatdesk.core.documents.reading import UnreadableDocument
from chatdesk.core.history.records import FileRef

INDEX_NAME = "documents.sqlite3"
ATTACHMENTS_DIR = "attachments"


@dataclass(frozen=True)
class Attached:
    """The outcome of attaching several files: those kept and why the others were not."""

    files: tuple[FileRef, ...]
    refused: tuple[str, ...]  # one line each: "scan.pdf: no text to read: OCR is ..."


class DocumentLibrary:
    """Paths and operations; it holds no connection (each thread opens its own index)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.store = AttachmentStore(self.data_dir / ATTACHMENTS_DIR)
        self.index_path = self.data_dir / INDEX_NAME

    def open_index(self) -> DocumentIndex:
        return DocumentIndex.open(self.index_path)

    def attach(self, paths: Sequence[Path], index: DocumentIndex | None = None) -> Attached:
        """Read, keep and index each file; a file that cannot be read is refused with its
        reason and the others are still attached."""
        own = index is None
        index = index or self.open_index()
        files: list[FileRef] = []
        refused: list[str] = []
        try:
            for path in paths:
                try:
                    files.append(attach_file(Path(path), self.store, index))
                except UnreadableDocument as exc:
                    refused.append(str(exc))
        finally:
            if own:
                index.close()
        return Attached(tuple(files), tuple(refused))

    def ground(self, index: DocumentIndex, question: str, files: Sequence[FileRef],
               folders: Sequence[str], context_length: int) -> Grounding:
        """The passages for ``question``; a file whose kept bytes are gone is left out
        (its name is still on the message)."""
        if not files and not folders:
            return NO_GROUNDING
        usable = []
        for file in files:
            try:
                ensure_indexed(file, self.store, index)
                usable.append(file)
            except UnreadableDocument:
                continue
        return ground(index, question, usable, folders, context_length)
