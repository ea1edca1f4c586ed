"""The window's wiring for documents: the paperclip, drops and pastes, the chips under the
box, opening an attachment, showing a source in its document, knowledge folders and
their indexing progress. Kept apart so the window's file stays layout and wiring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from chatdesk.core.documents.index import FolderReport
from chatdesk.core.documents.reading import UnreadableDocument
from chatdesk.ui.documents import (
    FoldersDialog,
    IndexingStatus,
    SourceDialog,
    choose_attachments,
    choose_folder,
    dropped_files,
    open_file,
)

MainWindow = Any  # below main_window: never imports it


class DocumentActions(QObject):
    def __init__(self, window: MainWindow, column: Any) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        documents = self.session.documents
        self.bar = column.attachment_bar
        self.indexing = IndexingStatus(window.statusBar(), documents.cancel_indexing)
        self.source_dialog: SourceDialog | None = None
        column.attach_button.clicked.connect(self.choose_files)
        column.input_box.files_pasted.connect(self.attach)
        self.bar.removed.connect(documents.remove_pending)
        documents.pending_changed.connect(self.bar.set_files)
        documents.attaching_changed.connect(self.bar.set_reading)
        documents.refused.connect(self._refused)
        documents.folder_progress.connect(self.indexing.progress)
        documents.folders_indexed.connect(self._indexed)
        documents.indexing_failed.connect(
            lambda message: window.error_banner_show(self.tr("Indexing failed"), message))
        window.chat_view.file_activated.connect(self.open_attachment)
        window.chat_view.source_activated.connect(self.show_source)
        window.setAcceptDrops(True)

    # -- attaching --------------------------------------------------------------------------
    @Slot()
    def choose_files(self) -> None:
        self.attach(choose_attachments(self.window, self.session.store))

    def attach(self, paths: Sequence[Path]) -> None:
        if paths:
            self.session.attach(list(paths))

    def _refused(self, lines: str) -> None:
        self.window.error_banner_show(self.tr("Some files were not attached"), lines)

    def drag_enter(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and dropped_files(event.mimeData().urls()):
            event.acceptProposedAction()

    def drop(self, event: QDropEvent) -> None:
        files = dropped_files(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if files:
            event.acceptProposedAction()
            self.attach(files)

    # -- chips under messages ------------------------------------------------------------------
    @Slot(int, int)
    def open_attachment(self, message_id: int, number: int) -> None:
        files = self.session.files_for(message_id)
        if not 0 <= number < len(files):
            return
        try:
            open_file(self.session.documents.open_copy(files[number]))
        except (UnreadableDocument, OSError) as exc:
            self.window.error_banner_show(self.tr("The file cannot be opened"), str(exc))

    @Slot(int, int)
    def show_source(self, message_id: int, number: int) -> SourceDialog | None:
        sources = self.session.sources_for(message_id)
        if not 0 <= number < len(sources):
            return None
        source = sources[number]
        try:
            context = self.session.documents.in_context(source)
        except Exception:  # the index was rebuilt without it: the passage alone still shows
            context = ("", source.text, "")
        if self.source_dialog is not None:
            self.source_dialog.close()
        self.source_dialog = SourceDialog(source, number + 1, context, self.window)
        self.source_dialog.show()
        return self.source_dialog

    # -- knowledge folders ------------------------------------------------------------------
    @Slot()
    def add_folder(self) -> None:
        folder = choose_folder(self.window, self.session.store)
        if folder:
            self.session.add_knowledge_folder(folder)

    @Slot()
    def edit_folders(self) -> None:
        session = self.session
        dialog = FoldersDialog(session.store.settings.knowledge_folders, session.folders,
                               session.documents.index.folder_stats, self.window)
        if not dialog.exec():
            return
        for folder in dialog.removed:
            session.remove_knowledge_folder(folder)
        for folder in dialog.added:
            session.add_knowledge_folder(folder)
        enabled = dialog.enabled()
        for folder in dialog.folders():
            if (folder in enabled) != (folder in session.folders):
                session.set_folder_enabled(folder, folder in enabled)
        if dialog.reindex:
            session.index_folders()

    def _indexed(self, reports: list[FolderReport]) -> None:
        self.window.statusBar().showMessage(self.indexing.finished(reports), 8000)
        self.session.prompt_changed.emit()  # the folders' passages may change the count
