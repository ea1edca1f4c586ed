"""Under an answer that stopped early: why, in words, and one click to continue the SAME
answer (the fake engine; the real models are in tests/integration/test_real_continue.py)."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt
from window_driver import ask, wait_answered

from chatdesk.app import build_window
from chatdesk.core.events import ChatMessage
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost

PIECES = [f" w{i}" for i in range(8)]
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def make_window(qtbot, app_paths, model_file):
    windows: list[MainWindow] = []

    def make(engine: FakeEngine, settings: Settings | None = None) -> MainWindow:
        window = build_window(EngineHost(engine, app_paths.models_dir), app_paths,
                              settings or Settings())
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.load_model(str(model_file))
        qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.session.host.is_running()


def click_continue(qtbot, window: MainWindow, answer_id: int) -> None:
    view = window.chat_view
    rect = view.target_rect(answer_id, "continue")
    assert rect is not None, "no Continue anyway button under the answer"
    assert view.tooltip_at(rect.center())  # it says what it will do
    qtbot.mouseClick(view.viewport(), LEFT, pos=rect.center())


def test_a_loop_is_said_and_continue_anyway_writes_on_in_the_same_answer(qtbot,
                                                                        make_window):
    engine = FakeEngine(pieces=PIECES, repetition_after_tokens=3)
    window = make_window(engine)
    ask(qtbot, window, "Sing")
    answer = window.session.thread[-1]
    assert answer.stop_reason == "repetition" and answer.content == " w0 w1 w2"
    shown = window.chat_view.plain_text()
    assert "stopped: it began repeating itself" in shown
    assert "Continue anyway" in shown
    assert engine.loop_guard_calls == [True]

    click_continue(qtbot, window, answer.id)
    wait_answered(qtbot, window)

    # The engine got the partial answer as the last, unfinished assistant turn, with the
    # loop guard off for this part only.
    messages, _params, _id = engine.chat_calls[-1]
    assert messages[-2:] == (ChatMessage("user", "Sing"), ChatMessage("assistant", " w0 w1 w2"))
    assert engine.loop_guard_calls == [True, False]
    # One answer, longer: the same stored message, no new alternative.
    thread = window.session.history.thread(window.session.conversation_id)
    assert [m.role for m in thread] == ["user", "assistant"]
    continued = thread[-1]
    assert continued.id == answer.id and continued.sibling_count == 1
    assert continued.content == " w0 w1 w2" + "".join(PIECES)
    assert continued.stop_reason == "eos" and continued.state == "complete"
    assert [m.id for m in window.chat_view.messages()] == [thread[0].id, answer.id]
    shown = window.chat_view.plain_text()
    assert "w0 w1 w2 w0 w1" in shown  # what was shown is what was kept
    assert "repeating itself" not in shown and "Continue anyway" not in shown
    assert window.chat_view.target_rect(answer.id, "continue") is None
    # With the guard on again, the next question is guarded as before.
    ask(qtbot, window, "Again")
    assert engine.loop_guard_calls == [True, False, True]


def test_the_token_limit_is_said_and_continue_keeps_the_loop_guard(qtbot, make_window):
    engine = FakeEngine(pieces=PIECES)
    window = make_window(engine)
    window.session.set_sampling(SamplingParams(max_tokens=4))
    engine.pieces = PIECES[:4]  # the fake engine ends at the end of its pieces...
    ask(qtbot, window, "Count")
    session = window.session
    answer = session.thread[-1]
    # ...so make it a token-limit stop the way the history stores one.
    session.history.finish_answer(answer.id, content=answer.content, state="complete",
                                  stop_reason="length", stats=answer.stats or {})
    session.reload_thread()
    assert "stopped at the token limit" in window.chat_view.plain_text()

    engine.pieces = [" more", " words"]
    click_continue(qtbot, window, answer.id)
    wait_answered(qtbot, window)
    assert engine.loop_guard_calls == [True, True]
    assert session.history.message(answer.id).content == " w0 w1 w2 w3 more words"


def test_stop_is_said_and_only_the_last_answer_offers_continue(qtbot, make_window):
    engine = FakeEngine(pieces=PIECES, repetition_after_tokens=2)
    window = make_window(engine)
    ask(qtbot, window, "One")
    first = window.session.thread[-1]
    assert window.chat_view.target_rect(first.id, "continue") is not None
    ask(qtbot, window, "Two")
    second = window.session.thread[-1]
    # The first answer is followed by a question now: its words stay, its button goes.
    assert window.chat_view.target_rect(first.id, "continue") is None
    assert window.chat_view.target_rect(second.id, "continue") is not None
    assert window.chat_view.plain_text().count("stopped: it began repeating itself") == 2
    assert not window.session.continue_answer(first.id)  # nor can it be asked for
    assert len(engine.chat_calls) == 2


def test_an_answer_that_ended_by_itself_offers_nothing(qtbot, make_window):
    window = make_window(FakeEngine(pieces=PIECES))
    ask(qtbot, window, "Hello")
    answer = window.session.thread[-1]
    assert answer.stop_reason == "eos"
    assert window.chat_view.target_rect(answer.id, "continue") is None
    assert "stopped" not in window.chat_view.plain_text()
    assert not window.session.continue_answer(answer.id)
