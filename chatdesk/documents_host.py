"""The window's side of "chat with your documents": files waiting to be sent with the
next message, knowledge folders indexed in the background, and the GUI thread's own
connection to the documents index (questions are grounded on it: an FTS5 query takes
milliseconds).

Reading files and indexing folders never run on the GUI thread: both go through
``threads.run_op``. A folder's progress comes back through a Qt signal (queued to the GUI
thread), at most ``PROGRESS_HZ`` times a second, and a cancel is a flag the indexer reads
between files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from chatdesk.core.documents.grounding import Grounding
from chatdesk.core.documents.index import DocumentIndex, FolderProgress, FolderReport
from chatdesk.core.documents.library import Attached, DocumentLibrary
from chatdesk.core.documents.reading import UnreadableDocument
from chatdesk.core.history.records import FileRef, SourceRef
from chatdesk.threads import run_op

log = logging.getLogger(__name__)

PROGRESS_HZ = 10


class _Relay(QObject):
    """Emitted on the indexing thread, delivered on the GUI thread (it lives there)."""

    progress = Signal(object)  # FolderProgress


class DocumentsHost(QObject):
    pending_changed = Signal(object)  # tuple[FileRef, ...]: files for the next message
    attaching_changed = Signal(bool)  # files are being read
    refused = Signal(str)  # one line per file that could not be attached
    folder_progress = Signal(object)  # FolderProgress
    folders_indexed = Signal(object)  # list[FolderReport] (cancelled ones say so)
    indexing_failed = Signal(str)

    def __init__(self, library: DocumentLibrary, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.pending: list[FileRef] = []
        self._index: DocumentIndex | None = None
        self._attaching = 0
        self._cancel: threading.Event | None = None  # set: the folder job should stop
        self._relay = _Relay(self)
        self._relay.progress.connect(self.folder_progress)

    @property
    def index(self) -> DocumentIndex:
        """The GUI thread's connection (opened on first use)."""
        if self._index is None:
            self._index = self.library.open_index()
        return self._index

    def close(self) -> None:
        self.cancel_indexing()
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- attaching ------------------------------------------------------------------------
    @property
    def attaching(self) -> bool:
        return self._attaching > 0

    def attach(self, paths: Sequence[Path]) -> None:
        """Read ``paths`` in the background; they join ``pending`` (or are refused)."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        self._attaching += 1
        self.attaching_changed.emit(True)
        library = self.library
        run_op(lambda: library.attach(paths), self._attached, self._attach_failed,
               name="attach")

    def _attached(self, attached: Attached) -> None:
        self._done_attaching()
        known = {f.sha256 for f in self.pending}
        added = [f for f in attached.files if f.sha256 not in known]
        if added:
            self.pending.extend(added)
            self.pending_changed.emit(tuple(self.pending))
        if attached.refused:
            self.refused.emit("\n".join(attached.refused))

    def _attach_failed(self, error: Exception) -> None:
        self._done_attaching()
        log.error("attaching failed: %s", error, exc_info=error)
        self.refused.emit(f"the files could not be attached: {error}")

    def _done_attaching(self) -> None:
        self._attaching -= 1
        if not self._attaching:
            self.attaching_changed.emit(False)

    def remove_pending(self, sha256: str) -> None:
        self.pending = [f for f in self.pending if f.sha256 != sha256]
        self.pending_changed.emit(tuple(self.pending))

    def take_pending(self) -> list[FileRef]:
        """The files to send with a message (and none are left waiting)."""
        files, self.pending = self.pending, []
        if files:
            self.pending_changed.emit(())
        return files

    # -- using them -----------------------------------------------------------------------
    def ground(self, question: str, files: Sequence[FileRef], folders: Sequence[str],
               context_length: int) -> Grounding:
        return self.library.ground(self.index, question, files, folders, context_length)

    def open_copy(self, file: FileRef) -> Path:
        """A copy of an attachment under its name, to open with the desktop's program.
        Raises UnreadableDocument when its bytes are gone."""
        if not self.library.store.has(file.sha256):
            raise UnreadableDocument(f"{file.name}: the attached file is missing from the "
                                     "data folder")
        return self.library.store.open_copy(file.sha256, file.name)

    def in_context(self, source: SourceRef, around: int = 1) -> tuple[str, str, str]:
        """(before, passage, after): a source with the passages around it in its document,
        for "show it in context"."""
        if not source.sha256 or source.ordinal < 0:
            return "", source.text, ""
        index = self.index
        last = source.ordinal
        if source.whole:  # a page given whole: the passages of that page
            last = max((c.ordinal for c in index.chunks(source.sha256)
                        if c.page == source.page), default=source.ordinal)
        before = [index.chunk(source.sha256, source.ordinal - n) for n in range(around, 0, -1)]
        after = [index.chunk(source.sha256, last + n) for n in range(1, around + 1)]
        return ("\n\n".join(c.text for c in before if c is not None), source.text,
                "\n\n".join(c.text for c in after if c is not None))

    def free_unreferenced(self, referenced: set[str]) -> int:
        freed = self.library.store.free_unreferenced(referenced)
        if freed:
            log.info("freed %d attachment(s) no message uses", freed)
        return freed

    # -- knowledge folders ----------------------------------------------------------------
    @property
    def indexing(self) -> bool:
        return self._cancel is not None

    def index_folders(self, folders: Sequence[str]) -> bool:
        """Bring ``folders`` up to date in the background (False: a job already runs)."""
        if self._cancel is not None or not folders:
            return False
        cancel = threading.Event()
        self._cancel = cancel
        library, relay = self.library, self._relay
        folders = list(folders)

        def work() -> list[FolderReport]:
            last = [0.0]

            def progress(step: FolderProgress) -> None:
                now = time.monotonic()
                if now - last[0] >= 1 / PROGRESS_HZ or (step.total and step.done == step.total):
                    last[0] = now
                    relay.progress.emit(step)

            reports = []
            with library.open_index() as index:
                for folder in folders:
                    try:
                        report = index.index_folder(folder, progress=progress,
                                                    cancelled=cancel.is_set)
                    except UnreadableDocument as exc:
                        report = FolderReport(folder, 0, 0, 0, 0, ((folder, str(exc)),), 0,
                                              0.0)
                    reports.append(report)
                    if report.cancelled:
                        break
            return reports

        run_op(work, self._indexed, self._index_failed, name="index-folders")
        return True

    def cancel_indexing(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _indexed(self, reports: list[FolderReport]) -> None:
        self._cancel = None
        self.folders_indexed.emit(reports)

    def _index_failed(self, error: Exception) -> None:
        self._cancel = None
        log.error("indexing failed: %s", error, exc_info=error)
        self.indexing_failed.emit(str(error))

    def forget_folder(self, folder: str) -> None:
        self.index.forget_folder(folder)
