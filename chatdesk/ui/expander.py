"""A titled section that folds away: the "Advanced" settings and the extra live figures.

The window remembers each one's state in the settings (``toggled`` tells it when the user
opens or closes one); ``set_open`` restores it without being mistaken for a click.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget

from chatdesk.ui.icons import icon


class Expander(QWidget):
    toggled = Signal(bool)  # the user opened (True) or closed (False) the section

    def __init__(self, title: str, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content = content
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setAutoRaise(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.button.setAccessibleName(title)
        self.button.toggled.connect(self._show)
        self.button.clicked.connect(self.toggled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(content)
        self._show(False)

    def is_open(self) -> bool:
        return self.button.isChecked()

    def set_open(self, open_: bool) -> None:
        """Open or close without emitting ``toggled`` (restoring a saved state)."""
        self.button.setChecked(open_)
        self._show(open_)

    def _show(self, open_: bool) -> None:
        self.content.setVisible(open_)
        self.button.setIcon(icon("collapse" if open_ else "expand"))
        if icon("expand").isNull():  # no icon font: the arrow is part of the title
            self.button.setArrowType(Qt.ArrowType.DownArrow if open_
                                     else Qt.ArrowType.RightArrow)
