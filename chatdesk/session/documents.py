"""The session's side of chatting with documents (issue 13): what each question is
given, the files and sources of the shown messages, knowledge folders, and freeing the
attachments no message uses any more."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from chatdesk.core.documents.grounding import NO_GROUNDING, Grounding
from chatdesk.core.history import FileRef, HistoryError, SourceRef, ThreadMessage
from chatdesk.session.history_guard import reports_history_errors

log = logging.getLogger(__name__)


class DocumentActions:
    """ChatSession's document methods (a mixin: they use the session's documents host,
    history, settings and model)."""

    def _grounding(self, thread: list[ThreadMessage], question: str,
                   more: list[FileRef] | tuple[FileRef, ...] = ()) -> Grounding:
        """The passages ``question`` is given: from every file attached in ``thread`` (and
        ``more``), and the folders switched on for this conversation."""
        files = [f for m in thread for f in self.files.get(m.id, ())] + list(more)
        if (not files and not self.folders) or self.model is None:
            return NO_GROUNDING
        try:
            return self.documents.ground(question, files, self.folders,
                                         self.model.context_length)
        except Exception as exc:  # the index is damaged or locked: answer without it, say so
            log.error("documents could not be searched: %s", exc, exc_info=exc)
            self.error.emit("The documents could not be searched", str(exc))
            return NO_GROUNDING

    def attach(self, paths: list[Path]) -> None:
        """Read files for the next message, in the background (``documents`` tells)."""
        self.documents.attach(paths)

    def files_for(self, message_id: int) -> tuple[FileRef, ...]:
        return self.files.get(message_id, ())

    def sources_for(self, message_id: int) -> tuple[SourceRef, ...]:
        return self.sources.get(message_id, ())

    @reports_history_errors
    def set_folder_enabled(self, folder: str, enabled: bool) -> None:
        """Switch a knowledge folder on or off for this conversation."""
        folders = [f for f in self.folders if f != folder]
        if enabled:
            folders.append(folder)
        self.folders = tuple(folders)
        self._save_conversation_settings(folders=folders)
        self.prompt_changed.emit()

    def add_knowledge_folder(self, folder: str) -> None:
        """A folder to chat with: remembered, switched on here, indexed now."""
        folder = str(Path(folder).expanduser().resolve())
        known = self.store.settings.knowledge_folders
        if folder not in known:
            self.store.update(knowledge_folders=(*known, folder))
        self.set_folder_enabled(folder, True)
        self.index_folders()

    def remove_knowledge_folder(self, folder: str) -> None:
        self.store.update(knowledge_folders=tuple(
            f for f in self.store.settings.knowledge_folders if f != folder))
        if folder in self.folders:
            self.set_folder_enabled(folder, False)
        if not self.documents.indexing:
            self.documents.forget_folder(folder)

    def index_folders(self) -> bool:
        """Bring every knowledge folder up to date in the background (incremental)."""
        return self.documents.index_folders(self.store.settings.knowledge_folders)

    def _free_unused_files(self) -> None:
        try:
            self.documents.free_unreferenced(self.history.attachment_hashes())
        except (HistoryError, OSError) as exc:
            log.warning("could not free unused attachments: %s", exc)

    def _purge_deleted(self) -> None:
        """Conversations deleted in this session (their Undo is gone with the window) are
        deleted for good, and the attached files no other message uses are freed."""
        deleted, self._deleted = self._deleted, set()
        if not deleted:
            return
        try:
            self.history.purge_conversations(sorted(deleted))
        except HistoryError as exc:
            log.warning("could not purge deleted conversations: %s", exc)
            return
        self._free_unused_files()


def stored_folders(settings: dict[str, Any] | None) -> tuple[str, ...]:
    folders = (settings or {}).get("folders")
    if not isinstance(folders, list):
        return ()
    return tuple(f for f in folders if isinstance(f, str))
