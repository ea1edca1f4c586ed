"""The Models menu in the main window: the dialog opens, a catalog model's template hint
reaches the engine, and closing the window stops the download thread."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt

from chatdesk.app import build_window
from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.model_store import record_catalog_id
from chatdesk.core.settings import Settings
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost

ENTRY = CatalogEntry(
    id="tiny-chat", name="Tiny Chat", repo_id="org/Tiny-GGUF", filename="tiny.gguf",
    revision="main", size_bytes=None, sha256=None, parameters="0.1B",
    quantization="Q4_K_M", context_length=2048, ram_required_bytes=10**8, license="mit",
    description="A test model.", chat_template_hint="chatml", default_sampling={})


def make(qtbot, app_paths) -> MainWindow:
    window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths, Settings(),
                        Catalog(entries=(ENTRY,), problems=()))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_ctrl_m_opens_the_dialog_and_closing_the_window_ends_the_downloader(qtbot, app_paths):
    window = make(qtbot, app_paths)
    window.activateWindow()  # window shortcuts fire only in the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    assert window.models_action.shortcut().toString() == "Ctrl+M"
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.dialogs.models_dialog is not None
                    and window.dialogs.models_dialog.isVisible(), timeout=2000)
    dialog = window.dialogs.models_dialog
    assert dialog.catalog_table.rowCount() == 1
    assert dialog.catalog_table.item(0, 0).text() == "Tiny Chat"
    assert window.dialogs.show_models() is dialog  # one dialog, raised again
    downloads = window.dialogs.downloads
    assert downloads is not None
    window.close()
    assert not downloads.is_running()
    assert not window.session.host.is_running()


def test_a_catalog_model_loads_with_its_template_hint(qtbot, app_paths, model_file: Path):
    window = make(qtbot, app_paths)
    installed = app_paths.models_dir / "tiny.gguf"
    installed.write_bytes(model_file.read_bytes())
    record_catalog_id(app_paths.models_dir, "tiny.gguf", "tiny-chat")
    assert window.session.load_options(str(installed)).template_hint == "chatml"
    assert window.session.load_options(str(model_file)).template_hint is None
    window.close()


def test_a_catalog_models_recommended_sampling_applies_to_a_new_chat(qtbot, app_paths,
                                                                      tmp_path):
    """Issue 10: a catalog model's default_sampling is used when it loads and the chat has
    no sampling of its own; a stored conversation keeps its own."""
    entry = dataclasses.replace(ENTRY, default_sampling={"temperature": 0.25, "top_k": 20})
    window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths,
                          Settings(), Catalog(entries=(entry,), problems=()))
    qtbot.addWidget(window)
    model = app_paths.models_dir / entry.filename
    model.write_bytes(b"GGUF")
    window.load_model(str(model))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)

    assert window.session.sampling.temperature == pytest.approx(0.25)
    assert window.session.sampling.top_k == 20
    assert window.sampling_panel.sampling().temperature == pytest.approx(0.25)
    assert Settings().sampling.temperature != pytest.approx(0.25)  # not the user's default
    window.close()
