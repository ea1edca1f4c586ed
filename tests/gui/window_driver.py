"""Driving the main window as a user would: type, press Enter, wait for the answer.

Imported by name (the tests folders have no __init__.py), shared by the window tests."""

from __future__ import annotations

from PySide6.QtCore import Qt

from chatdesk.ui.main_window import MainWindow


def type_and_enter(qtbot, window: MainWindow, text: str) -> None:
    """Type ``text`` into the message box and press Enter."""
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def wait_answered(qtbot, window: MainWindow, timeout: int = 3000) -> None:
    """Until the answer has ended and the view has stopped streaming."""
    qtbot.waitUntil(lambda: not window.session.busy and not window.chat_view.streaming,
                    timeout=timeout)


def ask(qtbot, window: MainWindow, text: str) -> None:
    """Send a message and wait for its whole answer."""
    type_and_enter(qtbot, window, text)
    wait_answered(qtbot, window)
