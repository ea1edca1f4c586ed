"""Rename a conversation: a text prompt wide enough to read a title and its own name.

``QInputDialog.getText`` opens at its minimum size (about 250 px here): a long title
scrolled out of sight, and window managers cut the dialog's name to "Renam… ation".
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit, QWidget

from chatdesk.ui.placement import place_centered

MIN_WIDTH = 460
TITLE_BAR_ROOM = 160  # the window manager's icon and buttons beside the title


def rename_dialog(parent: QWidget | None, old_title: str) -> QInputDialog:
    """The prompt, filled with ``old_title`` (selected), sized and centred on ``parent``."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(dialog.tr("Rename conversation"))
    dialog.setLabelText(dialog.tr("New title:"))
    dialog.setInputMode(QInputDialog.InputMode.TextInput)
    dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
    dialog.setTextValue(old_title)
    metrics = dialog.fontMetrics()
    width = max(MIN_WIDTH,
                metrics.horizontalAdvance(dialog.windowTitle()) + TITLE_BAR_ROOM,
                min(metrics.horizontalAdvance(old_title) + 80, 720))
    dialog.setMinimumWidth(width)
    dialog.resize(width, dialog.sizeHint().height())
    place_centered(dialog, parent.window() if parent is not None else None)
    return dialog


def ask_new_title(parent: QWidget | None, old_title: str) -> str | None:
    """The new title the user typed (stripped), or None when cancelled or blank."""
    dialog = rename_dialog(parent, old_title)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.textValue().strip() or None
    finally:
        dialog.deleteLater()
