"""File dialogs that open where the user last was (issue 17): the folder per purpose
("export", "import", "model") and the last export format live in the settings, saved
through ``SettingsStore.update`` like every other setting."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from chatdesk.core.settings_store import SettingsStore


def remembered_folder(store: SettingsStore | None, kind: str, default: Path) -> Path:
    """The folder the ``kind`` dialog was last pointed at, if it still exists."""
    folder = store.settings.file_dialog_folders.get(kind, "") if store else ""
    return Path(folder) if folder and Path(folder).is_dir() else default


def remember_folder(store: SettingsStore | None, kind: str, chosen: str | Path) -> None:
    """Keep the folder of ``chosen`` (a file, or a folder itself) for the next dialog."""
    if store is None or not str(chosen):
        return
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    store.update(file_dialog_folders={**store.settings.file_dialog_folders,
                                      kind: str(folder)})


def choose_model_file(parent: QWidget, store: SettingsStore | None, caption: str,
                      default: Path) -> str | None:
    """Ask for a .gguf, starting where the last one was chosen; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(
        parent, caption, str(remembered_folder(store, "model", default)),
        parent.tr("GGUF models (*.gguf)"))
    if not path:
        return None
    remember_folder(store, "model", path)
    return path
