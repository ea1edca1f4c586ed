"""Issue 17's layout: everyday controls up front, the rest under remembered expanders; a
narrow window folds the side panel away; the sidebar groups chats by date; icons."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from chatdesk.app import build_window
from chatdesk.core.settings import load_settings
from chatdesk.ui import icons
from chatdesk.ui.chat_column import ChatColumn
from chatdesk.ui.conversation_list import ConversationList
from chatdesk.ui.main_window import MainWindow
from chatdesk.ui.side_panel import COLLAPSE_BELOW
from chatdesk.ui.theme import apply_theme
from chatdesk.worker import EngineHost


@pytest.fixture
def open_window(qtbot, app_paths):
    windows: list[MainWindow] = []

    def make(width: int = 1400, height: int = 900) -> MainWindow:
        window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths,
                              load_settings(app_paths.settings_file))
        qtbot.addWidget(window)
        windows.append(window)
        window.resize(width, height)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for window in windows:
        window.close()
        window.session.history.close()


def test_everyday_controls_show_and_the_rest_waits_under_a_remembered_advanced(
        qtbot, open_window, app_paths):
    window = open_window()
    panel = window.sampling_panel
    everyday = [panel.model_combo, panel.preset_combo, panel.knobs["temperature"],
                panel.knobs["max_tokens"], panel.system_prompt]
    advanced = [panel.context_box, panel.gpu_box, panel.threads_box, panel.knobs["top_k"],
                panel.knobs["min_p"], panel.seed_box, panel.stop_edit]
    assert all(w.isVisible() for w in everyday)
    assert not any(w.isVisible() for w in advanced)
    assert not panel.error_label.isVisible()  # no empty red row either

    qtbot.mouseClick(panel.advanced.button, Qt.MouseButton.LeftButton)
    assert all(w.isVisible() for w in advanced)
    assert load_settings(app_paths.settings_file).sampling_advanced_open
    window.close()

    again = open_window()
    assert again.sampling_panel.stop_edit.isVisible()  # remembered for this user
    qtbot.mouseClick(again.sampling_panel.advanced.button, Qt.MouseButton.LeftButton)
    assert not again.sampling_panel.stop_edit.isVisible()
    assert not load_settings(app_paths.settings_file).sampling_advanced_open


def test_live_stats_are_compact_until_asked_and_remember_it(qtbot, open_window, app_paths):
    window = open_window()
    stats = window.stats_panel
    compact = ["speed", "process", "energy", "cost"]
    more = ["ttft", "prompt", "context", "system", "vram", "cpu", "power"]
    assert stats.chart.isVisible()
    assert all(stats.labels[key].isVisible() for key in compact)
    assert not any(stats.labels[key].isVisible() for key in more)
    qtbot.mouseClick(stats.more.button, Qt.MouseButton.LeftButton)
    assert all(stats.labels[key].isVisible() for key in more)
    assert load_settings(app_paths.settings_file).stats_more_open
    window.close()
    assert open_window().stats_panel.labels["cpu"].isVisible()


def chat_width(window: MainWindow) -> int:
    return window.splitter.widget(1).width()


def test_a_narrow_window_folds_the_side_panel_and_it_comes_back(qtbot, open_window,
                                                                 app_paths):
    window = open_window(800, 600)
    qtbot.waitUntil(lambda: window.right_panel.isHidden())
    assert chat_width(window) > 0.6 * 800  # the chat gets most of the width
    assert not window.panel_action.isChecked()
    assert load_settings(app_paths.settings_file).right_panel_visible  # not the user's doing

    window.panel_action.trigger()  # on demand (View > Side panel, Ctrl+Shift+P)
    assert window.right_panel.isVisible() and window.panel_action.isChecked()
    window.resize(820, 600)  # a resize while narrow does not take it away again
    qtbot.waitUntil(lambda: window.width() == 820)
    assert window.right_panel.isVisible()
    assert chat_width(window) > 0  # the chat column is squeezed, never gone

    window.resize(800, 600)
    window.resize(COLLAPSE_BELOW + 300, 800)  # wide again: it stays
    qtbot.waitUntil(lambda: window.width() == COLLAPSE_BELOW + 300)
    assert window.right_panel.isVisible()
    window.resize(800, 600)  # narrow: folded by itself...
    qtbot.waitUntil(lambda: window.right_panel.isHidden())
    window.resize(COLLAPSE_BELOW + 300, 800)  # ...and back by itself when wide again
    qtbot.waitUntil(lambda: window.right_panel.isVisible())
    assert window.panel_action.isChecked()

    window.toggle_right_panel()  # the user hides it: it stays hidden at any width
    window.resize(800, 600)
    window.resize(COLLAPSE_BELOW + 400, 800)
    qtbot.waitUntil(lambda: window.width() == COLLAPSE_BELOW + 400)
    assert window.right_panel.isHidden()
    assert not load_settings(app_paths.settings_file).right_panel_visible


def test_the_shortcut_brings_the_panel_back_in_a_narrow_window(qtbot, open_window):
    window = open_window(800, 600)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    qtbot.waitUntil(lambda: window.right_panel.isHidden())
    qtbot.keyClick(window, Qt.Key.Key_P,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.right_panel.isVisible()


@dataclass(frozen=True)
class Chat:
    id: int
    title: str
    updated_at: float
    pinned: bool = False


def test_the_sidebar_groups_chats_by_date_under_headers_nobody_can_select(qtbot):
    day = 86_400
    now = time.time()
    sidebar = ConversationList()
    qtbot.addWidget(sidebar)
    sidebar.show()
    sidebar.set_conversations([Chat(1, "Pinned", now - 90 * day, pinned=True),
                               Chat(2, "Now", now), Chat(3, "Yesterday's", now - day),
                               Chat(4, "This week", now - 4 * day),
                               Chat(5, "Last year", now - 365 * day)], current_id=2)
    assert sidebar.headers() == ["Pinned", "Today", "Yesterday", "Previous 7 days", "Older"]
    assert [i.text() for i in sidebar.conversation_items()] == [
        "Pinned", "Now", "Yesterday's", "This week", "Last year"]
    header = sidebar.list.item(0)
    assert header.flags() == Qt.ItemFlag.NoItemFlags
    assert sidebar.list.item(1).data(Qt.ItemDataRole.UserRole) == 1
    # the arrow keys go from chat to chat, over the headers
    sidebar.list.setFocus()
    with qtbot.waitSignal(sidebar.conversation_selected) as selected:
        qtbot.keyClick(sidebar.list, Qt.Key.Key_Down)
    assert selected.args == [3]
    assert sidebar.list.currentItem().text() == "Yesterday's"
    # clicking a header selects nothing
    with qtbot.assertNotEmitted(sidebar.conversation_selected):
        qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=sidebar.list.visualItemRect(header).center())
    assert sidebar.current_id() == 3
    # only chats get a context menu: a header's right-click does nothing
    assert sidebar._item(3) is not None and sidebar._item(999) is None


def ink(icon_name: str) -> QColor:
    """The colour of an opaque pixel of an icon drawn at 24 px."""
    image = icons.icon(icon_name).pixmap(24, 24).toImage()
    pixels = [image.pixelColor(x, y) for x in range(24) for y in range(24)]
    solid = [p for p in pixels if p.alpha() > 200]
    assert len(solid) > 8, f"{icon_name} draws nothing"
    return solid[0]


def test_every_icon_draws_in_the_themes_text_colour(qtbot):
    app = QApplication.instance()
    try:
        apply_theme(app, "dark")
        for name in icons.GLYPHS:
            assert ink(name).lightness() > 180, name  # light ink on a dark window
        apply_theme(app, "light")
        for name in icons.GLYPHS:
            assert ink(name).lightness() < 80, name
    finally:
        apply_theme(app, "light")


def test_the_window_uses_icons_not_emoji(qtbot, open_window):
    window = open_window()
    for button in (window.send_button, window.stop_button, window.sidebar.new_button):
        assert not button.icon().isNull()
    for action in (window.new_chat_action, window.regenerate_action, window.copy_last_action,
                   window.search_action, window.models_action):
        assert not action.icon().isNull()
    assert window.send_button.text() == "Send"  # the words stay, for clarity and a11y


def test_without_the_icon_font_the_window_still_works(qtbot, monkeypatch):
    monkeypatch.setattr(icons, "_qtawesome", lambda: None)
    assert icons.icon("send").isNull()
    column = ChatColumn()
    qtbot.addWidget(column)
    assert column.send_button.icon().isNull() and column.send_button.text() == "Send"
