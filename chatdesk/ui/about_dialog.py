"""Help > About: what this chatdesk is and where it keeps things.

It names the llama.cpp build and backend (the first question on any bug report) and the
data and log folders (where the history and the log to attach are), as selectable text.
"""

from __future__ import annotations

from html import escape

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from chatdesk.core.paths import AppPaths
from chatdesk.core.runtime_info import runtime_info
from chatdesk.ui.app_icon import app_icon

ICON_PX = 96


class AboutDialog(QDialog):
    def __init__(self, paths: AppPaths, backend_in_use: str | None = None,
                 parent: QWidget | None = None) -> None:
        """``backend_in_use``: the loaded model's backend; without one, the build's."""
        super().__init__(parent)
        self.setWindowTitle(self.tr("About chatdesk"))
        info = runtime_info()
        backend = backend_in_use or info.backend
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(ICON_PX, ICON_PX))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        rows = [(self.tr("llama.cpp"), f"llama-cpp-python {info.llama_cpp}"),
                (self.tr("Backend"), backend),
                (self.tr("Qt"), f"PySide6 {pyside_version}"),
                (self.tr("Data"), str(paths.models_dir.parent)),
                (self.tr("Logs"), str(paths.logs_dir))]
        self.text = QLabel(
            f"<h2>chatdesk {escape(info.chatdesk)}</h2>"
            f"<p>{escape(self.tr('Local language models on your desktop.'))}</p><table>"
            + "".join(f"<tr><td><b>{escape(name)}</b>&nbsp;&nbsp;</td><td>{escape(value)}</td>"
                      f"</tr>" for name, value in rows) + "</table>")
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addWidget(icon)
        body.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
