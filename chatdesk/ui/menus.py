"""The main window's menu bar: every action, its shortcut and the slot it calls.

Kept apart from the window so the window's file is about layout and wiring only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from chatdesk.ui.help import open_log_folder, show_about, show_getting_started, show_shortcuts
from chatdesk.ui.icons import icon

# The window is typed ``Any`` here: menus sits below main_window and never imports it.
MainWindow = Any


def add_action(window: MainWindow, menu: QMenu, text: str, slot: Callable[..., object],
               shortcut: QKeySequence | str | None = None, tip: str = "",
               icon_name: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    if icon_name:
        action.setIcon(icon(icon_name))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(w: MainWindow) -> None:
    """Create the menus; the actions the window enables and disables become attributes."""
    bar = w.menuBar()
    tr = w.tr
    file_menu = bar.addMenu(tr("&File"))
    w.open_action = add_action(w, file_menu, tr("&Open model…"), w.choose_model_file,
                               QKeySequence.StandardKey.Open, icon_name="open")
    file_menu.addSeparator()
    w.export_action = add_action(w, file_menu, tr("&Export conversation…"), w.export_current,
                                 "Ctrl+Shift+E", icon_name="export")
    add_action(w, file_menu, tr("Export &all…"), w.exchange.export_all)
    add_action(w, file_menu, tr("&Import chats…"), w.exchange.import_chats, "Ctrl+I",
               icon_name="import")
    file_menu.addSeparator()
    add_action(w, file_menu, tr("&Quit"), w.close, QKeySequence.StandardKey.Quit,
               icon_name="quit")

    chat = bar.addMenu(tr("&Chat"))
    session = w.session
    w.new_chat_action = add_action(w, chat, tr("&New chat"), w.new_chat, "Ctrl+N",
                                   icon_name="new_chat")
    w.search_action = add_action(w, chat, tr("&Search all chats"), w.sidebar.focus_search,
                                 "Ctrl+F", icon_name="search")
    w.send_action = add_action(w, chat, tr("&Send"), w.send_typed, "Ctrl+Return",
                               icon_name="send")
    w.stop_action = add_action(w, chat, tr("S&top generating"), session.stop,
                               QKeySequence(Qt.Key.Key_Escape), icon_name="stop")
    w.copy_last_action = add_action(w, chat, tr("&Copy last answer"), w.copy_last_answer,
                                    "Ctrl+Shift+C", icon_name="copy")
    w.regenerate_action = add_action(w, chat, tr("&Regenerate last answer"),
                                     session.regenerate_last, "Ctrl+R", icon_name="regenerate")

    documents = bar.addMenu(tr("&Documents"))
    add_action(w, documents, tr("&Attach files…"), w.documents.choose_files, "Ctrl+Shift+A",
               tip=tr("Files for the next message: PDF, DOCX, HTML, text"),
               icon_name="attach")
    add_action(w, documents, tr("Chat with a &folder…"), w.documents.add_folder,
               icon_name="folder")
    add_action(w, documents, tr("&Knowledge folders…"), w.documents.edit_folders)
    add_action(w, documents, tr("&Index folders now"), session.index_folders)

    models = bar.addMenu(tr("&Models"))
    dialogs = w.dialogs
    w.models_action = add_action(w, models, tr("&Manage models…"), dialogs.show_models,
                                 "Ctrl+M", icon_name="models")
    add_action(w, models, tr("&Import a .gguf file…"),
               lambda: dialogs.show_models().choose_import())
    models.addSeparator()
    w.hood_action = add_action(w, models, tr("&Under the hood…"), dialogs.show_hood,
                               "Ctrl+Shift+U", icon_name="hood",
                               tip=tr("The model card, the arithmetic of one token and "
                                      "the cost at scale"))

    costs = bar.addMenu(tr("C&osts"))
    w.costs_action = add_action(w, costs, tr("&Energy and cost…"), dialogs.show_costs,
                                "Ctrl+E", icon_name="energy")
    add_action(w, costs, tr("Energy &settings…"), dialogs.edit_energy_settings,
               icon_name="settings")

    view = bar.addMenu(tr("&View"))
    w.panel_action = add_action(w, view, tr("&Side panel"), w.toggle_right_panel,
                                "Ctrl+Shift+P", icon_name="panel")
    w.panel_action.setCheckable(True)
    w.panel_action.setChecked(not w.right_panel.isHidden())
    w.panel_fit.shown_changed.connect(w.panel_action.setChecked)
    themes = view.addMenu(tr("&Theme"))
    group = QActionGroup(w)
    for key, label in (("system", tr("Follow the system")), ("light", tr("Light")),
                       ("dark", tr("Dark"))):
        action = add_action(w, themes, label, lambda _=False, k=key: w.set_theme(k))
        action.setCheckable(True)
        action.setChecked(w.settings.theme == key)
        group.addAction(action)

    help_menu = bar.addMenu(tr("&Help"))
    w.shortcuts_action = add_action(w, help_menu, tr("&Keyboard shortcuts"),
                                    lambda: show_shortcuts(w), "Ctrl+/",
                                    icon_name="keyboard")
    add_action(w, help_menu, tr("&Getting started"), lambda: show_getting_started(w),
               icon_name="help")
    add_action(w, help_menu, tr("Open &log folder"), lambda: open_log_folder(w),
               icon_name="logs")
    help_menu.addSeparator()
    add_action(w, help_menu, tr("&About chatdesk"), lambda: show_about(w),
               icon_name="about")
