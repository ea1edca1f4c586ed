"""`chatdesk chat --attach FILE…`: the same reading, keeping and grounding as the window,
for one question from the command line. With --no-save nothing is kept: the files are
read into a throw-away index."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from chatdesk.core.documents.grounding import Grounding
from chatdesk.core.documents.library import DocumentLibrary
from chatdesk.core.documents.reading import UnreadableDocument
from chatdesk.core.history.records import FileRef


def attach_for_chat(data_dir: Path, paths: Sequence[str | Path], question: str,
                    context_length: int, *, keep: bool,
                    folders: Sequence[str] = ()) -> tuple[tuple[FileRef, ...], Grounding]:
    """The files (kept in the data folder when ``keep``) and what ``question`` is given of
    them. Raises UnreadableDocument naming every file that cannot be read: a headless
    answer that silently left a file out would look grounded when it is not."""
    if keep:
        return _attach(DocumentLibrary(data_dir), paths, question, context_length, folders)
    with tempfile.TemporaryDirectory(prefix="chatdesk-attach-") as scratch:
        return _attach(DocumentLibrary(Path(scratch)), paths, question, context_length, ())


def _attach(library: DocumentLibrary, paths: Sequence[str | Path], question: str,
            context_length: int, folders: Sequence[str]
            ) -> tuple[tuple[FileRef, ...], Grounding]:
    with library.open_index() as index:
        attached = library.attach([Path(p) for p in paths], index)
        if attached.refused:
            raise UnreadableDocument("; ".join(attached.refused))
        grounding = library.ground(index, question, attached.files, folders, context_length)
    return attached.files, grounding
