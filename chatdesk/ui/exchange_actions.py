"""File > Export conversation…, Export all…, Import…, and the sidebar's Export….

The work runs off the GUI thread on its own connection to the history (SQLite in WAL
mode lets it read while the window writes), so exporting 10,000 messages never freezes
the window. Results and failures come back as signals the window turns into a status
message or the error banner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from chatdesk.core.exchange import (
    FILE_FILTERS,
    FORMAT_LABELS,
    ExchangeError,
    export_all,
    export_conversation,
    format_for_path,
    import_file,
)
from chatdesk.core.exchange.filenames import safe_stem
from chatdesk.core.history import HistoryError, HistoryStore
from chatdesk.core.settings_store import SettingsStore
from chatdesk.threads import run_op
from chatdesk.ui.file_dialogs import remember_folder, remembered_folder

IMPORT_FILTER = "Chats (*.json *.zip);;All files (*)"


class ExchangeActions(QObject):
    exported = Signal(object)  # list[Path] written
    imported = Signal(object)  # ImportResult: the ids created, how many were skipped
    failed = Signal(str, str)  # title, message for the error banner

    def __init__(self, database: Path, parent: QWidget,
                 store: SettingsStore | None = None) -> None:
        super().__init__(parent)
        self.database = database
        self.window = parent
        self.store = store  # remembers the last folders and export format
        self.running = 0  # jobs under way (each reports its own result)

    @property
    def busy(self) -> bool:
        return self.running > 0

    def _run(self, kind: str, work: Callable[[HistoryStore], Any],
             on_success: Callable[[Any], None]) -> None:
        """Run ``work`` on its own history connection off the GUI thread; the outcome goes
        to this job's own callbacks, so overlapping jobs never mix up their results."""
        self.running += 1

        def with_own_connection() -> Any:
            store = HistoryStore.open(self.database)
            try:
                return work(store)
            finally:
                store.close()

        def succeeded(result: Any) -> None:
            self.running -= 1
            on_success(result)

        def failed(error: Exception) -> None:
            self.running -= 1
            if isinstance(error, ExchangeError | HistoryError | OSError):
                self.failed.emit("Import failed" if kind == "import" else "Export failed",
                                 str(error))
            else:
                self.failed.emit("Export or import failed",
                                 f"An unexpected error occurred ({type(error).__name__}: "
                                 f"{error}).")

        run_op(with_own_connection, succeeded, failed, name=kind)

    def _exported(self, result: Any) -> None:
        self.exported.emit(result if isinstance(result, list) else [result])

    # -- intents ------------------------------------------------------------------------
    def last_format(self) -> str:
        """The export format chosen last time (Markdown the first time)."""
        fmt = self.store.settings.last_export_format if self.store else ""
        return fmt if fmt in FORMAT_LABELS else "md"

    def _remember(self, kind: str, chosen: str | Path, fmt: str | None = None) -> None:
        remember_folder(self.store, kind, chosen)
        if fmt is not None and self.store is not None:
            self.store.update(last_export_format=fmt)

    def export_conversation(self, conversation_id: int, title: str) -> None:
        """Ask where (the file type picks the format), then write it in the background."""
        fmt = self.last_format()
        folder = remembered_folder(self.store, "export", Path.home())
        path, chosen = QFileDialog.getSaveFileName(
            self.window, self.tr("Export conversation"),
            str(folder / f"{safe_stem(title)}.{fmt}"), FILE_FILTERS, _filter_of(fmt))
        if not path:
            return
        target = Path(path)
        fmt = format_for_path(target) or _format_of_filter(chosen)
        if fmt is None:
            self.failed.emit("Export failed", f"Unknown file type: {target.name}")
            return
        if target.suffix.lower() != f".{fmt}":
            target = target.with_name(f"{target.name}.{fmt}")
        self._remember("export", target, fmt)
        # The save dialog already asked before replacing an existing file.
        self._run("export", lambda store: export_conversation(store, conversation_id, fmt,
                                                              target, overwrite=True),
                  self._exported)

    def export_all(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.window, self.tr("Export all chats to"),
            str(remembered_folder(self.store, "export", Path.home())))
        if not folder:
            return
        labels = [f"{label} (.{fmt})" for fmt, label in FORMAT_LABELS.items()]
        choice, ok = QInputDialog.getItem(self.window, self.tr("Export all chats"),
                                          self.tr("Format:"), labels,
                                          list(FORMAT_LABELS).index(self.last_format()), False)
        if not ok:
            return
        fmt = list(FORMAT_LABELS)[labels.index(choice)]
        self._remember("export", folder, fmt)
        self._run("export", lambda store: export_all(store, fmt, Path(folder)), self._exported)

    def import_chats(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, self.tr("Import chats (chatdesk JSON or a ChatGPT export)"),
            str(remembered_folder(self.store, "import", Path.home())), IMPORT_FILTER)
        if path:
            self._remember("import", path)
            self._run("import", lambda store: import_file(store, Path(path)), self.imported.emit)


def _filter_of(fmt: str) -> str:
    """The FILE_FILTERS entry for ``fmt``: 'HTML page (*.html *.htm)'."""
    return next((f for f in FILE_FILTERS.split(";;") if f.startswith(FORMAT_LABELS[fmt])), "")


def _format_of_filter(chosen: str) -> str | None:
    """'Markdown (*.md)' -> 'md': the filter the user picked, when the name has no suffix."""
    for fmt in FORMAT_LABELS:
        if f"*.{fmt})" in chosen:
            return fmt
    return None
