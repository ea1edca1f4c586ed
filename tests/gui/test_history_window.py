"""The window over a real SQLite history (fake engine): conversations persist, answers
have alternatives, edits branch, search jumps to a message, settings follow the chat."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fake_engine import FakeEngine
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from window_driver import ask, type_and_enter, wait_answered

from chatdesk.app import build_window
from chatdesk.core.exchange import import_file, render
from chatdesk.core.history import HistoryStore, NewMessage
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings, load_settings
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost

ANSWER = "Paris is the capital of France."


@pytest.fixture
def open_window(qtbot, app_paths, model_file):
    windows: list[MainWindow] = []

    def make(engine: FakeEngine | None = None) -> MainWindow:
        settings = load_settings(app_paths.settings_file)
        window = build_window(EngineHost(engine or FakeEngine(), app_paths.models_dir),
                            app_paths, settings)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        window.load_model(str(model_file))
        qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
        return window

    yield make
    for window in windows:
        window.close()
        window.session.history.close()


def test_a_chat_is_kept_and_reopened_in_a_new_window(qtbot, open_window, app_paths):
    window = open_window()
    ask(qtbot, window, "What is the capital of France?")
    conversation_id = window.session.conversation_id
    assert conversation_id is not None
    assert len(window.sidebar.conversation_items()) == 1
    assert window.sidebar.conversation_items()[0].text() == "What is the capital of France?"
    window.close()
    window.session.history.close()

    store = HistoryStore.open(app_paths.database)
    thread = store.thread(conversation_id)
    assert [(m.role, m.content) for m in thread] == [
        ("user", "What is the capital of France?"), ("assistant", ANSWER)]
    assert thread[1].state == "complete" and thread[1].stats["generated_tokens"] > 0
    store.close()

    again = open_window()  # the last conversation comes back
    assert again.session.conversation_id == conversation_id
    assert ANSWER in again.chat_view.plain_text()
    assert "tok/s" in again.chat_view.plain_text()  # the stored figures are shown


def test_an_empty_chat_says_what_to_do_and_goes_once_there_are_messages(qtbot,
                                                                        open_window):
    window = open_window()
    assert window.empty_hint.isVisible() and "Manage models" in window.empty_hint.text()
    ask(qtbot, window, "Hello")
    assert not window.empty_hint.isVisible()
    window.new_chat()
    assert window.empty_hint.isVisible()


def test_regenerate_keeps_alternatives_to_flip_between(qtbot, open_window):
    engine = FakeEngine()
    window = open_window(engine)
    ask(qtbot, window, "Say something")
    first = window.session.thread[-1]
    engine.pieces = ["Another ", "answer."]
    window.session.regenerate(first.id)
    wait_answered(qtbot, window)
    last = window.session.thread[-1]
    assert last.content == "Another answer." and last.id != first.id
    assert (last.sibling_index, last.sibling_count) == (1, 2)
    window.session.switch_sibling(last.id, 0)
    assert window.session.thread[-1].id == first.id
    assert ANSWER in window.chat_view.plain_text()
    assert "Another answer." not in window.chat_view.plain_text()


def test_edit_and_resend_branches_and_keeps_the_old_answer(qtbot, open_window):
    engine = FakeEngine()
    window = open_window(engine)
    ask(qtbot, window, "Capital of France?")
    question = window.session.thread[0]
    window.begin_edit(question.id)
    assert window.input_box.toPlainText() == "Capital of France?"
    assert window.edit_label.isVisible()
    window.input_box.clear()
    engine.pieces = ["Berlin."]
    ask(qtbot, window, "Capital of Germany?")
    assert [m.content for m in window.session.thread] == ["Capital of Germany?", "Berlin."]
    assert window.session.thread[0].sibling_count == 2
    window.session.switch_sibling(window.session.thread[0].id, 0)
    assert [m.content for m in window.session.thread] == ["Capital of France?", ANSWER]


def test_search_jumps_to_the_message(qtbot, open_window):
    window = open_window()
    ask(qtbot, window, "Tell me about lighthouses")
    window.new_chat()
    ask(qtbot, window, "Something else entirely")
    assert len(window.sidebar.conversation_items()) == 2
    window.search("lighthouses")
    assert window.sidebar.hits.count() == 1
    hit = window.sidebar.hits.item(0)
    with qtbot.waitSignal(window.sidebar.hit_activated):
        window.sidebar.hits.itemClicked.emit(hit)
    assert window.session.thread[0].content == "Tell me about lighthouses"


def test_rename_pin_delete_and_undo(qtbot, open_window):
    window = open_window()
    ask(qtbot, window, "First chat")
    first = window.session.conversation_id
    window.new_chat()
    ask(qtbot, window, "Second chat")
    window.session.rename(first, "Renamed")
    window.session.set_pinned(first, True)
    top = window.sidebar.conversation_items()[0]
    assert top.text() == "Renamed" and not top.icon().isNull()  # a pin icon, not an emoji
    assert window.sidebar.headers() == ["Pinned", "Today"]
    window.delete_conversation(first)
    assert len(window.sidebar.conversation_items()) == 1
    assert window.status.undo_button.isVisible()
    window.undo_delete()
    assert len(window.sidebar.conversation_items()) == 2


def test_sampling_and_system_prompt_follow_the_conversation(qtbot, open_window):
    engine = FakeEngine()
    window = open_window(engine)
    window.sampling_panel.knobs["temperature"].box.setValue(0.15)
    window.sampling_panel.set_system_prompt("")
    qtbot.keyClicks(window.sampling_panel.system_prompt, "Be brief.")
    ask(qtbot, window, "One")
    first = window.session.conversation_id
    messages, params, _request = engine.chat_calls[-1]
    assert params.temperature == pytest.approx(0.15)
    assert messages[0].role == "system" and messages[0].content == "Be brief."
    window.new_chat()
    window.sampling_panel.knobs["temperature"].box.setValue(1.2)
    ask(qtbot, window, "Two")
    window.session.open_conversation(first)
    assert window.sampling_panel.sampling().temperature == pytest.approx(0.15)
    assert window.sampling_panel.system_prompt.toPlainText() == "Be brief."


def test_copy_last_answer_and_delete_a_message(qtbot, open_window, monkeypatch):
    window = open_window()
    ask(qtbot, window, "Hello")
    window.copy_last_answer()
    assert QGuiApplication.clipboard().text() == ANSWER
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.delete_message(window.session.thread[-1].id)
    assert [m.role for m in window.session.thread] == ["user"]


def test_closing_mid_answer_keeps_the_partial_answer_marked_incomplete(
        qtbot, open_window, app_paths):
    window = open_window(FakeEngine(pieces=[f" w{i}" for i in range(300)],
                                    token_delay_s=0.02))
    type_and_enter(qtbot, window, "Count")
    qtbot.waitUntil(lambda: " w3" in window.chat_view.plain_text(), timeout=3000)
    conversation_id = window.session.conversation_id
    window.close()
    store = window.session.history
    answer = store.thread(conversation_id)[-1]
    assert answer.state == "incomplete" and answer.content.startswith(" w0 w1 w2")


def test_window_geometry_and_panel_visibility_persist(qtbot, open_window, app_paths):
    window = open_window()
    window.resize(1100, 700)
    window.toggle_right_panel()
    assert not window.right_panel.isVisible()
    window.close()
    settings = load_settings(app_paths.settings_file)
    assert settings.window_geometry and not settings.right_panel_visible
    assert len(settings.splitter_sizes) == 3
    again = open_window()
    assert not again.right_panel.isVisible()


def test_defaults_for_new_chats_come_from_settings(qtbot, open_window, app_paths):
    from chatdesk.core.settings import save_settings

    custom = dataclasses.replace(SamplingParams(), temperature=0.33)
    save_settings(app_paths.settings_file, Settings(sampling=custom))
    window = open_window()
    assert window.sampling_panel.sampling().temperature == pytest.approx(0.33)


def test_the_sidebar_shows_when_a_chat_was_used_and_survives_absurd_times(
        qtbot, open_window, app_paths):
    """Issue 18.5: a row with a time out of range (written by hand or by an old import)
    still lists; its tooltip says the time is unknown, a normal one gives the date."""
    import sqlite3

    from chatdesk.core.history import NewMessage

    with HistoryStore.open(app_paths.database) as store:
        odd = store.import_conversation("Odd", [NewMessage(1, None, "user", "q")])
        store.import_conversation("Normal", [NewMessage(1, None, "user", "q")],
                                  created_at=1_700_000_000, updated_at=1_700_000_000)
    conn = sqlite3.connect(app_paths.database)
    with conn:
        conn.execute("UPDATE conversations SET updated_at = 1e20, created_at = -9e999 "
                     "WHERE id = ?", (odd.id,))
    conn.close()
    window = open_window()
    tips = {window.sidebar.list.item(row).text(): window.sidebar.list.item(row).toolTip()
            for row in range(window.sidebar.list.count())}
    assert tips["Odd"] == "Odd\nLast used: unknown time"
    assert tips["Normal"].startswith("Normal\nLast used: 2023-11-")


def test_a_chat_imported_with_partial_statistics_opens_and_shows_dashes(qtbot, open_window,
                                                                       tmp_path):
    """The JSON import accepts any mapping as ``stats``: the window must still open it."""
    window = open_window()
    history = window.session.history
    source = history.import_conversation("Partial", [
        NewMessage(0, None, "user", "Q"),
        NewMessage(1, 0, "assistant", "A", model="m.gguf", stats={"generated_tokens": 1})])
    document = json.loads(render(history, source.id, "json"))
    document["messages"][1]["stats"] = {"generated_tokens": 5}  # the rest is missing
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    (imported,) = import_file(history, path)

    assert window.session.open_conversation(imported)
    text = window.chat_view.plain_text()
    assert "5 tokens" in text and "– tok/s" in text
    (item,) = [i for i in window.chat_view.messages() if i.role == "assistant"]
    assert "first token – s" in item.tooltip
