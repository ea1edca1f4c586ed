"""The Help menu: a shortcuts sheet read from the real actions, Getting started, the log
folder; and the first-start hint's words about the built-in model."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import QDialog, QTextBrowser

from chatdesk.app import build_window
from chatdesk.core.settings import Settings
from chatdesk.ui import help as help_windows
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost


@pytest.fixture
def window(qtbot, app_paths) -> MainWindow:
    window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths,
                          Settings())
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()
    window.session.history.close()


def help_actions(window: MainWindow) -> dict[str, object]:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return {help_windows._plain(a.text()): a for a in menu.actions() if a.text()}


def test_the_shortcuts_sheet_lists_every_action_shortcut_as_it_really_is(qtbot, window):
    actions = help_actions(window)
    assert set(actions) == {"Keyboard shortcuts", "Getting started", "Open log folder",
                            "About chatdesk"}
    assert window.shortcuts_action.shortcut() == QKeySequence("Ctrl+/")
    rows = help_windows.shortcut_rows(window)
    keys = {what: key for _where, key, what in rows}
    assert keys["New chat"] == "Ctrl+N" and keys["Keyboard shortcuts"] == "Ctrl+/"
    assert keys["Side panel"] == "Ctrl+Shift+P" and keys["Regenerate last answer"] == "Ctrl+R"
    every = [a for a in window.findChildren(type(window.new_chat_action))
             if not a.shortcut().isEmpty()]
    assert len(rows) == len(every)  # every action with a shortcut, none typed by hand

    window.new_chat_action.setShortcut("Ctrl+Alt+N")  # the sheet follows the action
    actions["Keyboard shortcuts"].trigger()
    dialog = window.findChild(QDialog, "shortcuts")
    qtbot.addWidget(dialog)
    sheet = dialog.findChild(QTextBrowser).toPlainText()
    assert "Ctrl+Alt+N" in sheet and "New chat" in sheet and "Shift+Enter" in sheet
    assert "Ctrl+N" not in sheet.split()


def test_getting_started_opens_a_short_guide(qtbot, window):
    dialog = help_windows.show_getting_started(window)
    qtbot.addWidget(dialog)
    assert dialog.isVisible() and dialog.windowTitle() == "Getting started"
    assert "Manage models" in help_windows.GETTING_STARTED


def test_open_log_folder_opens_the_logs_dir(qtbot, window, app_paths, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    help_actions(window)["Open log folder"].trigger()
    assert [url.toLocalFile() for url in opened] == [str(app_paths.logs_dir)]

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no file manager
    assert not help_windows.open_log_folder(window)
    assert str(app_paths.logs_dir) in window.statusBar().currentMessage()


def test_the_first_start_hint_names_the_small_chat_model_and_where_better_ones_are(window):
    hint = window.empty_hint.text()
    assert "SmolLM2" in hint and "base model" not in hint
    assert "Models › Manage models" in hint and "Ctrl+M" in hint
    assert len(hint) < 400  # short
