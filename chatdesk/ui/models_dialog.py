"""The Models dialog: the curated catalog with a fit check, downloads, installed models,
import of a local .gguf, and a search of Hugging Face for other GGUF repositories.

Everything slow (downloads, the Hub search, copying an imported file) runs off the GUI
thread; this dialog only shows state and sends intents.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.downloads import HubOffline, PartialDownload, partial_downloads
from chatdesk.core.fit import FitVerdict, MemoryInfo, check_fit, current_memory
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.model_size import CACHE_NAME, HubSizes, cache_key, estimated_size_bytes
from chatdesk.core.model_store import (
    InstalledModel,
    catalog_entry_for,
    find_installed_copy,
    import_model,
    installed_copy,
    installed_models,
    remove_model,
)
from chatdesk.core.units import format_bytes
from chatdesk.download_manager import DownloadManager, JobState, JobUpdate
from chatdesk.threads import run_op

log = logging.getLogger(__name__)

FIT_COLORS = {FitVerdict.FITS: "#2f855a", FitVerdict.TIGHT: "#b7791f",
              FitVerdict.TOO_BIG: "#c53030"}
ACTIVE_STATES = (JobState.QUEUED, JobState.DOWNLOADING, JobState.VERIFYING)
BUTTON_COLUMN = 7


def describe_progress(update: JobUpdate) -> str:
    """'120 MB of 400 MB · 8.1 MB/s · 35 s left' — what a user wants to know."""
    if update.state is JobState.QUEUED:
        return "waiting in the queue"
    if update.state is JobState.VERIFYING:
        return "verifying the sha256…"
    if update.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
        return update.message
    sample = update.progress
    if sample is None:
        return "connecting…"
    text = format_bytes(sample.downloaded)
    if sample.total:
        text += f" of {format_bytes(sample.total)}"
    if sample.bytes_per_s > 0:
        text += f" · {format_bytes(sample.bytes_per_s)}/s"
    if sample.eta_s is not None:
        minutes, seconds = divmod(int(sample.eta_s), 60)
        text += f" · {minutes} min {seconds:02d} s left" if minutes else f" · {seconds} s left"
    return text


class DownloadRow(QWidget):
    """One download: name, progress bar, Cancel (or Retry once it failed or was
    cancelled), and below them the speed and time left, or the reason it stopped,
    wrapped in full: a message cut mid-word helps no one."""

    cancel_requested = Signal(int)
    retry_requested = Signal(int)

    def __init__(self, update: JobUpdate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id = update.job.job_id
        self._fraction = 0  # of 1000, kept so a failed bar stops where it was
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        top = QHBoxLayout()
        self.name = QLabel(update.job.label)
        self.name.setMinimumWidth(200)
        self.bar = QProgressBar()
        self.bar.setAccessibleName(self.tr("Download progress of {0}").format(update.job.label))
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel = QPushButton(self.tr("Cancel"))
        self.cancel.setAccessibleName(self.tr("Cancel download of {0}").format(update.job.label))
        self.cancel.clicked.connect(lambda: self.cancel_requested.emit(self.job_id))
        self.retry = QPushButton(self.tr("Retry"))
        self.retry.setAccessibleName(self.tr("Retry download of {0}").format(update.job.label))
        self.retry.clicked.connect(lambda: self.retry_requested.emit(self.job_id))
        for widget in (self.name, self.bar, self.cancel, self.retry):
            top.addWidget(widget)
        top.setStretch(1, 1)
        layout.addLayout(top)
        layout.addWidget(self.status)
        self.show_update(update)

    def show_update(self, update: JobUpdate) -> None:
        sample = update.progress
        if sample is not None and sample.total:
            self._fraction = min(1000, int(1000 * sample.downloaded / sample.total))
        if update.state is JobState.DONE:
            self._fraction = 1000
        if update.state in ACTIVE_STATES and not (sample is not None and sample.total) \
                and update.state is not JobState.VERIFYING:
            self.bar.setRange(0, 0)  # busy: connecting, or a size the server did not say
        else:
            self.bar.setRange(0, 1000)  # a failed or cancelled bar stops where it was
            self.bar.setValue(self._fraction)
        text = describe_progress(update)
        self.status.setText(text)
        self.status.setToolTip(text)
        color = "#c53030" if update.state is JobState.FAILED else ""
        self.status.setStyleSheet(f"color: {color}" if color else "")
        active = update.state in ACTIVE_STATES
        self.cancel.setVisible(active)
        self.cancel.setEnabled(active)
        self.retry.setVisible(update.state in (JobState.FAILED, JobState.CANCELLED))


class ModelsDialog(QDialog):
    """Non-modal: downloads keep going while the user chats."""

    load_requested = Signal(str)  # a model file to load

    def __init__(self, catalog: Catalog, models_dir: Path, downloads: DownloadManager,
                 parent: QWidget | None = None, memory: MemoryInfo | None = None,
                 current_model: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Models"))
        self.resize(1040, 600)
        self.catalog = catalog
        self.models_dir = models_dir
        self.downloads = downloads
        self.memory = memory or current_memory()
        self.current_model = current_model
        # Sizes the Hub reported, kept in the data folder (next to models/).
        self.hub_sizes = HubSizes(models_dir.parent / CACHE_NAME)
        self.download_rows: dict[int, DownloadRow] = {}
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_catalog_tab(), self.tr("Catalog"))
        self.tabs.addTab(self._build_installed_tab(), self.tr("Installed"))
        self.tabs.addTab(self._build_search_tab(), self.tr("Search Hugging Face"))
        self.tabs.addTab(self._build_downloads_tab(), self.tr("Downloads"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        downloads.update.connect(self._on_download_update)
        for update in downloads.last.values():
            self._on_download_update(update)
        self.refresh()
        self.fetch_hub_sizes()

    # -- catalog ------------------------------------------------------------------------
    def _build_catalog_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        memory = self.memory
        vram = (f", {format_bytes(memory.free_vram)} free VRAM"
                if memory.free_vram is not None else "")
        self.memory_label = QLabel(self.tr("This machine: {0} RAM available of {1}{2}.").format(
            format_bytes(memory.available_ram), format_bytes(memory.total_ram), vram))
        headers = [self.tr(h) for h in ("Name", "Parameters", "Quantization", "Size",
                                        "License", "Fit", "Memory", "")]
        self.catalog_table = QTableWidget(len(self.catalog.entries), len(headers))
        self.catalog_table.setAccessibleName(self.tr("Model catalog"))
        self.catalog_table.setHorizontalHeaderLabels(headers)
        self.catalog_table.verticalHeader().hide()
        self.catalog_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.catalog_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.catalog_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.catalog_buttons: dict[str, QPushButton] = {}
        for row, entry in enumerate(self.catalog.entries):
            self._fill_catalog_row(row, entry)
        self.catalog_table.resizeColumnsToContents()
        self.catalog_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        # Column sizing ignores cell widgets: size the button column from its widest label.
        probe = QPushButton(self.tr("Download"))
        self.catalog_table.setColumnWidth(BUTTON_COLUMN, probe.sizeHint().width() + 12)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setMinimumHeight(60)
        self.catalog_table.currentCellChanged.connect(
            lambda row, *_: self._describe(row))
        if self.catalog.entries:
            self.catalog_table.selectRow(0)
            self._describe(0)
        layout.addWidget(self.memory_label)
        layout.addWidget(self.catalog_table, 1)
        layout.addWidget(self.description)
        if self.catalog.problems:
            problems = QLabel(self.tr("Some catalog entries were skipped: {0}").format(
                "; ".join(self.catalog.problems)))
            problems.setWordWrap(True)
            problems.setStyleSheet("color: #b7791f")
            layout.addWidget(problems)
        return page

    def fit_of(self, entry: CatalogEntry) -> FitVerdict:
        return check_fit(entry.ram_required_bytes, self.memory)

    def size_text(self, entry: CatalogEntry) -> str:
        """The catalog's size, else the Hub's (cached), else "≈" an estimate."""
        known = entry.size_bytes or self.hub_sizes.get(
            cache_key(entry.repo_id, entry.filename, entry.revision))
        if known:
            return format_bytes(known)
        estimate = estimated_size_bytes(entry.parameters, entry.quantization)
        return f"≈ {format_bytes(estimate)}" if estimate else self.tr("unknown")

    def memory_text(self, entry: CatalogEntry) -> str:
        """The numbers behind the fit badge: 'needs 1.0 GiB, 8.0 GiB available'."""
        text = self.tr("needs {0}, {1} available").format(
            format_bytes(entry.ram_required_bytes), format_bytes(self.memory.available_ram))
        if self.memory.free_vram is not None:
            text += self.tr(" + {0} VRAM").format(format_bytes(self.memory.free_vram))
        return text

    def _fill_catalog_row(self, row: int, entry: CatalogEntry) -> None:
        values = [entry.name, entry.parameters, entry.quantization, self.size_text(entry),
                  entry.license]
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(entry.description)
            self.catalog_table.setItem(row, column, item)
        verdict = self.fit_of(entry)
        fit = QTableWidgetItem(verdict.value)
        fit.setForeground(QColor(FIT_COLORS[verdict]))
        numbers = self.memory_text(entry)
        fit.setToolTip(numbers)
        self.catalog_table.setItem(row, 5, fit)
        memory = QTableWidgetItem(numbers)
        memory.setForeground(QColor(FIT_COLORS[verdict]))
        self.catalog_table.setItem(row, 6, memory)
        button = QPushButton()
        button.clicked.connect(lambda _=False, e=entry: self._catalog_action(e))
        self.catalog_buttons[entry.id] = button
        self.catalog_table.setCellWidget(row, BUTTON_COLUMN, button)

    def fetch_hub_sizes(self) -> None:
        """Ask the Hub (off the GUI thread) for the sizes neither the catalog nor the cache
        knows; offline, the estimates stay and nothing is said."""
        missing = [e for e in self.catalog.entries if not e.size_bytes and self.hub_sizes.get(
            cache_key(e.repo_id, e.filename, e.revision)) is None]
        if missing:
            run_op(lambda: hub_sizes_of(missing), self._hub_sizes_arrived,
                   lambda error: log.info("sizes from the Hub: %s", error), name="hub-sizes")

    @Slot(object)
    def _hub_sizes_arrived(self, found: object) -> None:
        if not isinstance(found, dict) or not found:
            return
        self.hub_sizes.update(found)
        for row, entry in enumerate(self.catalog.entries):
            item = self.catalog_table.item(row, 3)
            if item is not None:
                item.setText(self.size_text(entry))

    def _describe(self, row: int) -> None:
        if 0 <= row < len(self.catalog.entries):
            entry = self.catalog.entries[row]
            self.description.setText(f"<b>{entry.name}</b> — {entry.description}")

    def _installed_path(self, entry: CatalogEntry) -> Path | None:
        copy = installed_copy(entry, installed_models(self.models_dir))
        return copy.path if copy else None

    def _job_for(self, entry: CatalogEntry) -> JobUpdate | None:
        for update in self.downloads.last.values():
            if update.job.catalog_id == entry.id and update.state in ACTIVE_STATES:
                return update
        return None

    def _catalog_action(self, entry: CatalogEntry) -> None:
        installed = self._installed_path(entry)
        running = self._job_for(entry)
        if installed is not None:
            self.load_requested.emit(str(installed))
        elif running is not None:
            self.downloads.cancel(running.job.job_id)
        else:
            if self.fit_of(entry) is FitVerdict.TOO_BIG:
                answer = QMessageBox.question(
                    self, self.tr("Too big for this machine?"),
                    self.tr("{0} needs about {1} of memory and this machine has {2} "
                            "available. Download it anyway?").format(
                        entry.name, format_bytes(entry.ram_required_bytes),
                        format_bytes(self.memory.available_ram)))
                if answer != QMessageBox.StandardButton.Yes:
                    return
            self.start_catalog_download(entry)

    def start_catalog_download(self, entry: CatalogEntry) -> None:
        self.downloads.enqueue(entry.name, entry.repo_id, entry.filename,
                               revision=entry.revision, sha256=entry.sha256,
                               catalog_id=entry.id)
        self.tabs.setCurrentIndex(3)

    def _refresh_catalog_buttons(self) -> None:
        for entry in self.catalog.entries:
            button = self.catalog_buttons[entry.id]
            if self._installed_path(entry) is not None:
                button.setText(self.tr("Load"))
            elif self._job_for(entry) is not None:
                button.setText(self.tr("Cancel"))
            else:
                button.setText(self.tr("Download"))
            button.setAccessibleName(f"{button.text()} {entry.name}")

    # -- installed ----------------------------------------------------------------------
    def _build_installed_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.installed_table = QTableWidget(0, 4)
        self.installed_table.setAccessibleName(self.tr("Installed models"))
        self.installed_table.setHorizontalHeaderLabels(
            [self.tr("File"), self.tr("Size on disk"), self.tr("From the catalog"), ""])
        self.installed_table.verticalHeader().hide()
        self.installed_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.installed_table.setSelectionBehavior(
            QAbstractItemView.SelectionBehavior.SelectRows)
        self.installed_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        self.load_button = QPushButton(self.tr("Load"))
        self.delete_button = QPushButton(self.tr("Delete…"))
        self.reveal_button = QPushButton(self.tr("Show in file manager"))
        self.import_button = QPushButton(self.tr("Import .gguf…"))
        self.load_button.clicked.connect(self._load_selected)
        self.delete_button.clicked.connect(self._delete_selected)
        self.reveal_button.clicked.connect(self._reveal)
        self.import_button.clicked.connect(self.choose_import)
        for button in (self.load_button, self.delete_button, self.reveal_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        self.import_status = QLabel()
        layout.addWidget(self.installed_table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.import_status)
        return page

    def _refresh_installed(self) -> None:
        models = installed_models(self.models_dir)
        self.installed: list[InstalledModel] = models
        self.installed_table.setRowCount(len(models))
        for row, model in enumerate(models):
            entry = catalog_entry_for(self.catalog, self.models_dir, model.path.name,
                                      model.catalog_id)
            loaded = self.is_loaded(model.path)
            for column, value in enumerate((model.path.name, format_bytes(model.size_bytes),
                                            entry.name if entry else "",
                                            self.tr("● loaded") if loaded else "")):
                item = QTableWidgetItem(value)
                if loaded:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.installed_table.setItem(row, column, item)
        has_rows = bool(models)
        for button in (self.load_button, self.delete_button):
            button.setEnabled(has_rows)

    def set_current_model(self, path: str | None) -> None:
        """The model the window has loaded, marked in Installed."""
        self.current_model = path
        self._refresh_installed()

    def is_loaded(self, path: Path) -> bool:
        if not self.current_model:
            return False
        try:
            return Path(self.current_model).resolve() == path.resolve()
        except OSError:
            return False

    def _selected_installed(self) -> InstalledModel | None:
        row = self.installed_table.currentRow()
        if 0 <= row < len(self.installed):
            return self.installed[row]
        return None

    def _load_selected(self) -> None:
        model = self._selected_installed()
        if model is not None:
            self.load_requested.emit(str(model.path))

    def _delete_selected(self) -> None:
        model = self._selected_installed()
        if model is None:
            return
        answer = QMessageBox.question(
            self, self.tr("Delete model"),
            self.tr("Delete {0} ({1}) from disk?").format(model.path.name,
                                                          format_bytes(model.size_bytes)))
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_model(model)

    def delete_model(self, model: InstalledModel) -> None:
        try:
            remove_model(self.models_dir, model.path.name)
        except (OSError, ValueError) as exc:
            self.import_status.setText(str(exc))
        self.refresh()

    def _reveal(self) -> None:
        model = self._selected_installed()
        folder = model.path.parent if model else self.models_dir
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Import a GGUF model"), "",
                                              self.tr("GGUF models (*.gguf)"))
        if path:
            self.import_file(Path(path))

    def import_file(self, source: Path) -> None:
        """Check the header and copy in the background (a model is gigabytes)."""
        self.import_button.setEnabled(False)
        self._importing = str(source)
        self.import_status.setText(self.tr("Importing {0}…").format(source.name))
        def work() -> tuple[bool, Path]:
            existing = find_installed_copy(source, self.models_dir)
            if existing is not None:
                return True, existing  # same size and sha256: nothing to copy
            return False, import_model(source, self.models_dir)

        run_op(work, self._import_finished, self._import_finished, name="import-model")

    @Slot(object)
    def _import_finished(self, result: object) -> None:
        self.import_button.setEnabled(True)
        if isinstance(result, InvalidModelFileError | OSError | ValueError):
            self.import_status.setText(self.tr("Not imported: {0}").format(result))
        elif isinstance(result, Exception):
            log.error("import failed: %r", result)
            self.import_status.setText(self.tr("Not imported: {0}").format(result))
        else:
            existing, path = result  # type: ignore[misc]
            if existing:
                self.import_status.setText(self.tr(
                    "{0} is already installed as {1}: nothing was copied.").format(
                    Path(self._importing).name, path.name))
            else:
                self.import_status.setText(self.tr("Imported {0}.").format(path.name))
        self.refresh()

    # -- search -------------------------------------------------------------------------
    def _build_search_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        row = QHBoxLayout()
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText(self.tr("Search Hugging Face for GGUF models, "
                                                   "e.g. 'qwen 1.5b instruct'"))
        self.search_box.setAccessibleName(self.tr("Search text"))
        self.search_box.returnPressed.connect(self.search)
        self.search_button = QPushButton(self.tr("Search"))
        self.search_button.clicked.connect(self.search)
        row.addWidget(self.search_box, 1)
        row.addWidget(self.search_button)
        self.search_status = QLabel()
        self.search_status.setWordWrap(True)
        lists = QHBoxLayout()
        self.search_results = QListWidget()
        self.search_results.setAccessibleName(self.tr("Repositories found"))
        self.search_results.currentItemChanged.connect(self._list_repo_files)
        self.repo_files = QListWidget()
        self.repo_files.setAccessibleName(self.tr("GGUF files in the repository"))
        lists.addWidget(self.search_results, 1)
        lists.addWidget(self.repo_files, 1)
        self.download_file_button = QPushButton(self.tr("Download selected file"))
        self.download_file_button.clicked.connect(self._download_repo_file)
        self.download_file_button.setEnabled(False)  # until a file is selected
        self.repo_files.currentItemChanged.connect(self._update_download_file_button)
        self.search_results.currentItemChanged.connect(self._update_download_file_button)
        layout.addLayout(row)
        layout.addWidget(self.search_status)
        layout.addLayout(lists, 1)
        layout.addWidget(self.download_file_button)
        return page

    def _update_download_file_button(self, *_changed: object) -> None:
        self.download_file_button.setEnabled(self.search_results.currentItem() is not None
                                             and self.repo_files.currentItem() is not None)

    def search(self) -> None:
        text = self.search_box.text().strip()
        if not text:
            return
        self.search_status.setText(self.tr("Searching…"))
        self.search_results.clear()
        self.repo_files.clear()
        run_op(lambda: search_gguf_repos(text), self._show_search_results,
               self._show_search_results, name="hub-search")

    @Slot(object)
    def _show_search_results(self, result: object) -> None:
        if isinstance(result, Exception):
            self.search_status.setText(hub_error_message(result))
            return
        repos = list(result)  # type: ignore[call-overload]
        self.search_status.setText(self.tr("{0} repositories found.").format(len(repos)))
        for repo_id in repos:
            self.search_results.addItem(QListWidgetItem(repo_id))

    def _list_repo_files(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        self.repo_files.clear()
        if item is None:
            return
        repo_id = item.text()
        run_op(lambda: (repo_id, gguf_files_in(repo_id)), self._show_repo_files,
               self._show_repo_files, name="hub-files")

    @Slot(object)
    def _show_repo_files(self, result: object) -> None:
        if isinstance(result, Exception):
            self.search_status.setText(hub_error_message(result))
            return
        repo_id, files = result  # type: ignore[misc]
        current = self.search_results.currentItem()
        if current is None or current.text() != repo_id:
            return  # the user moved on
        for name in files:
            self.repo_files.addItem(QListWidgetItem(name))

    def _download_repo_file(self) -> None:
        repo, file = self.search_results.currentItem(), self.repo_files.currentItem()
        if repo is not None and file is not None:
            self.downloads.enqueue(file.text(), repo.text(), file.text())
            self.tabs.setCurrentIndex(3)

    # -- downloads ----------------------------------------------------------------------
    def _build_downloads_tab(self) -> QWidget:
        page = QWidget()
        self.downloads_layout = QVBoxLayout(page)
        self.no_downloads = QLabel(self.tr("No downloads yet. Pick a model in the Catalog."))
        self.downloads_layout.addWidget(self.no_downloads)
        self.partials_label = QLabel()
        self.partials_label.setWordWrap(True)
        self.resume_button = QPushButton(self.tr("Resume unfinished downloads"))
        self.resume_button.clicked.connect(self.resume_partials)
        self.downloads_layout.addWidget(self.partials_label)
        self.downloads_layout.addWidget(self.resume_button)
        self.downloads_layout.addStretch(1)
        return page

    def _unfinished(self) -> list[PartialDownload]:
        running = {u.job.filename for u in self.downloads.last.values()
                   if u.state in ACTIVE_STATES}
        return [p for p in partial_downloads(self.models_dir) if p.filename not in running]

    def resume_partials(self) -> None:
        for partial in self._unfinished():
            entry = catalog_entry_for(self.catalog, self.models_dir, partial.filename)
            self.downloads.enqueue(entry.name if entry else partial.name, partial.repo_id,
                                   partial.filename, revision=partial.revision,
                                   sha256=entry.sha256 if entry else None,
                                   catalog_id=entry.id if entry else None)
        self.refresh()

    @Slot(object)
    def _on_download_update(self, update: JobUpdate) -> None:
        row = self.download_rows.get(update.job.job_id)
        if row is None:
            row = DownloadRow(update)
            row.cancel_requested.connect(self.downloads.cancel)
            row.retry_requested.connect(self.downloads.retry)
            self.download_rows[update.job.job_id] = row
            self.downloads_layout.insertWidget(0, row)
            self.no_downloads.hide()
        row.show_update(update)
        if update.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED):
            self.refresh()

    def refresh(self) -> None:
        self._refresh_installed()
        self._refresh_catalog_buttons()
        unfinished = self._unfinished()
        self.partials_label.setText(self.tr("Unfinished: {0}").format(", ".join(
            f"{p.name} ({format_bytes(p.downloaded)}"
            + (f" of {format_bytes(p.total)})" if p.total else ")") for p in unfinished))
            if unfinished else "")
        self.resume_button.setVisible(bool(unfinished))


def hub_sizes_of(entries: list[CatalogEntry]) -> dict[str, int]:
    """The Hub's size for each entry it answers for (one HEAD each, after one quick
    reachability check; an entry that fails is left out)."""
    from chatdesk.core.downloads import DownloadError, check_hub_reachable, remote_file_size

    check_hub_reachable()
    found: dict[str, int] = {}
    for entry in entries:
        try:
            size = remote_file_size(entry.repo_id, entry.filename, entry.revision)
        except (DownloadError, OSError) as error:
            log.info("no size for %s from the Hub: %s", entry.filename, error)
            continue
        if size:
            found[cache_key(entry.repo_id, entry.filename, entry.revision)] = size
    return found


def search_gguf_repos(text: str, limit: int = 50) -> list[str]:
    """Repository ids on the Hub (or a mirror at HF_ENDPOINT) matching text, with GGUF files."""
    from huggingface_hub import HfApi

    from chatdesk.core.download_files import is_valid_repo_id
    from chatdesk.core.downloads import check_hub_reachable, current_endpoint, quiet_hub

    endpoint = current_endpoint()
    check_hub_reachable(endpoint)  # "offline" at once, not after ~23 s of retries
    quiet_hub()  # no telemetry request, as for downloads
    api = HfApi(endpoint=endpoint)
    return [m.id for m in api.list_models(search=text, filter="gguf", limit=limit)
            if is_valid_repo_id(m.id)]  # a search answer is data from the network


def gguf_files_in(repo_id: str) -> list[str]:
    from huggingface_hub import HfApi

    from chatdesk.core.download_files import is_safe_repo_path
    from chatdesk.core.downloads import check_hub_reachable, current_endpoint, quiet_hub

    endpoint = current_endpoint()
    check_hub_reachable(endpoint)
    quiet_hub()
    api = HfApi(endpoint=endpoint)
    return sorted(f for f in api.list_repo_files(repo_id)
                  if f.lower().endswith(".gguf") and is_safe_repo_path(f))


def hub_error_message(error: BaseException) -> str:
    """A sentence for the user, never a traceback: most failures here mean 'offline'."""
    if isinstance(error, HubOffline):
        return (f"You're offline: Hugging Face cannot be reached ({error.why}). The catalog "
                "and your installed models still work.")
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    name = type(error).__name__
    if any(word in name for word in ("Connect", "Timeout", "Network", "Offline")) or \
            "connect" in text.lower():
        return ("Hugging Face cannot be reached (offline?). The catalog and your installed "
                "models still work.")
    return f"The search failed: {text}"
