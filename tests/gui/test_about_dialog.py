"""Help > About and the app icon: versions, backend, folders, and the icon at every size."""

from __future__ import annotations

import llama_cpp
from PySide6.QtWidgets import QLabel

from chatdesk import __version__
from chatdesk.core.assets import ICON_SIZES
from chatdesk.core.llama_runtime import detect_backend
from chatdesk.ui.about_dialog import ICON_PX, AboutDialog
from chatdesk.ui.app_icon import app_icon


def test_app_icon_has_every_size():
    icon = app_icon()
    assert not icon.isNull()
    sizes = {(size.width(), size.height()) for size in icon.availableSizes()}
    assert sizes == {(size, size) for size in ICON_SIZES}


def test_about_names_versions_backend_and_folders(qtbot, app_paths):
    dialog = AboutDialog(app_paths)
    qtbot.addWidget(dialog)
    text = dialog.text.text()
    for expected in (f"chatdesk {__version__}", f"llama-cpp-python {llama_cpp.__version__}",
                     detect_backend(), str(app_paths.models_dir.parent),
                     str(app_paths.logs_dir)):
        assert expected in text, expected
    pixmaps = [label.pixmap() for label in dialog.findChildren(QLabel)
               if not label.pixmap().isNull()]
    assert [(p.width(), p.height()) for p in pixmaps] == [(ICON_PX, ICON_PX)]


def test_about_shows_the_loaded_models_backend(qtbot, app_paths):
    dialog = AboutDialog(app_paths, backend_in_use="CUDA")
    qtbot.addWidget(dialog)
    assert "<td>CUDA</td>" in dialog.text.text()
