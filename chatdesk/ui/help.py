"""The Help menu's windows: keyboard shortcuts, Getting started, the log folder, About.

The shortcuts sheet is read from the window's QActions when it opens, so it lists exactly
the shortcuts that work, and a new or changed shortcut needs no second edit here.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMenu,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

# The window is typed ``Any``: help sits below main_window and never imports it.
MainWindow = Any

# Keys of single widgets (no QAction stands behind them); listed after the menus' own.
WIDGET_KEYS = (("Message box", "Enter", "Send"),
               ("Message box", "Shift+Enter", "New line"),
               ("Message box", "Esc", "Cancel editing a message"))

GETTING_STARTED = (
    "<h3>Getting started</h3><ol>"
    "<li><b>Ask.</b> Type in the box at the bottom and press Enter. Esc stops the answer."
    "</li><li><b>Pick a model.</b> The built-in model is tiny and works offline. "
    "<b>Models › Manage models</b> (Ctrl+M) downloads or imports stronger ones; they "
    "stay on this computer.</li>"
    "<li><b>Tune.</b> The side panel holds the model, temperature, answer length and a "
    "system prompt; <i>Advanced</i> has the rest. Ctrl+Shift+P shows or hides it.</li>"
    "<li><b>Find and keep.</b> Ctrl+F searches every chat. Right-click a chat to pin, "
    "rename, export or delete it.</li>"
    "<li><b>See the cost.</b> Under each answer: its speed and energy. <b>Costs › Energy "
    "and cost</b> (Ctrl+E) adds up the rest.</li></ol>")


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(menu, shortcut, what it does) for every menu action that has a shortcut."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{where} › {_plain(action.text())}")
            elif not action.shortcut().isEmpty():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                rows.append((where, keys, _plain(action.text())))

    bar = window.menuBar() if hasattr(window, "menuBar") else None
    if bar is not None:
        for top in bar.actions():
            if top.menu() is not None:
                walk(top.menu(), _plain(top.text()))
    return rows


def _plain(text: str) -> str:
    """A menu text without its mnemonic marker and trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def shortcuts_html(window: QWidget) -> str:
    rows = [*shortcut_rows(window), *((w, k, d) for w, k, d in WIDGET_KEYS)]
    cells = "".join(f"<tr><td style='padding-right: 18px'><b>{html.escape(keys)}</b></td>"
                    f"<td style='padding-right: 18px'>{html.escape(what)}</td>"
                    f"<td style='color: gray'>{html.escape(where)}</td></tr>"
                    for where, keys, what in rows)
    return f"<table cellspacing='0' cellpadding='4'>{cells}</table>"


def show_shortcuts(window: QWidget) -> QDialog:
    dialog = QDialog(window)
    dialog.setWindowTitle(dialog.tr("Keyboard shortcuts"))
    dialog.setObjectName("shortcuts")
    layout = QVBoxLayout(dialog)
    sheet = QTextBrowser()
    sheet.setHtml(shortcuts_html(window))
    sheet.setAccessibleName(dialog.tr("Keyboard shortcuts"))
    layout.addWidget(sheet)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(520, 520)
    dialog.show()
    return dialog


def show_getting_started(window: QWidget) -> QDialog:
    dialog = QDialog(window)
    dialog.setWindowTitle(dialog.tr("Getting started"))
    layout = QVBoxLayout(dialog)
    text = QLabel(dialog.tr(GETTING_STARTED))
    text.setWordWrap(True)
    layout.addWidget(text)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
    buttons.accepted.connect(dialog.accept)
    layout.addWidget(buttons)
    dialog.resize(520, dialog.sizeHint().height())
    dialog.show()
    return dialog


def open_log_folder(window: MainWindow) -> bool:
    """Open the log folder in the system's file manager; say so when that fails."""
    folder = window.paths.logs_dir
    folder.mkdir(parents=True, exist_ok=True)
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        return True
    window.statusBar().showMessage(
        window.tr("Could not open a file manager. The logs are in {0}").format(folder), 15000)
    return False


def show_about(window: MainWindow) -> None:
    """The About dialog: icon, versions, the backend in use, the data and log folders."""
    from chatdesk.ui.about_dialog import AboutDialog

    model = window.session.model
    AboutDialog(window.paths, model.backend if model else None, window).exec()
