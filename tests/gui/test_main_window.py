"""The main window against a fake engine: loading, sending, streaming, stopping, errors."""

from __future__ import annotations

import threading

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from window_driver import type_and_enter, wait_answered

from chatdesk.app import build_window
from chatdesk.core.engine import ModelLoadError, PromptTooLongError
from chatdesk.core.events import ChatMessage
from chatdesk.core.figures import describe_model
from chatdesk.core.settings import Settings, load_settings
from chatdesk.session import SessionState
from chatdesk.ui.chat.view import FLUSH_INTERVAL_MS
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost

ANSWER = "Paris is the capital of France."
SLOW_PIECES = [f" w{i}" for i in range(300)]  # 0.02 s each: 6 s unless stopped


@pytest.fixture
def make_window(qtbot, app_paths, model_file):
    windows: list[MainWindow] = []

    def make(engine: FakeEngine | None = None, *, load: bool = True,
             settings: Settings | None = None) -> MainWindow:
        engine = engine or FakeEngine()
        window = build_window(EngineHost(engine, app_paths.models_dir), app_paths,
                            settings or Settings())
        window.engine = engine  # for the tests' convenience
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        if load:
            window.load_model(str(model_file))
            qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.session.host.is_running()


def activate(qtbot, window: MainWindow) -> None:
    """Window shortcuts (Esc, Ctrl+N) only fire in the active window."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)


def test_window_shows_at_once_while_the_model_loads(qtbot, make_window, model_file):
    gate = threading.Event()  # the load stays at "Loading weights" until the test says so
    engine = FakeEngine(load_delay_s=0.2, load_gate=gate,
                        progress_steps=[("Reading the model file", None), ("Loading weights", 0.5)])
    window = make_window(engine, load=False)
    window.load_model(str(model_file))

    # the window is up and the event loop runs while the model loads
    assert window.isVisible()
    assert window.status.progress.isVisible()
    assert not window.send_button.isEnabled()
    assert not window.send_action.isEnabled()
    assert window.status.model_label.text() == "Loading model…"
    qtbot.waitUntil(lambda: window.status.model_label.text() == "Loading weights…", timeout=2000)
    assert window.status.progress.maximum() == 100 and window.status.progress.value() == 50
    assert window.session.model is None

    # Enter while loading sends nothing
    type_and_enter(qtbot, window, "too early")
    assert window.session.conversation() == []
    assert engine.chat_calls == []

    gate.set()
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    assert not window.status.progress.isVisible()
    assert window.send_button.isEnabled()
    assert not window.stop_button.isEnabled()
    window.close()


def test_escape_cancels_a_load(qtbot, make_window, model_file):
    window = make_window(FakeEngine(load_gate=threading.Event()), load=False)
    activate(qtbot, window)
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.status.progress.value() == 100, timeout=2000)  # stage "Ready"

    qtbot.keyClick(window.input_box, Qt.Key.Key_Escape)
    qtbot.waitUntil(window.error_banner.isVisible, timeout=1000)
    assert "Loading was cancelled." in window.error_banner.text()
    assert window.session.model is None and window.session.state is not SessionState.LOADING
    assert not window.status.progress.isVisible()
    window.close()


def test_status_line_describes_the_loaded_model(make_window):
    window = make_window()
    info = window.session.model
    assert window.status.model_label.text() == describe_model(info)
    assert "Fake Model" in window.status.model_label.text()
    assert "fakearch 270M Q4_K_M" in window.status.model_label.text()
    assert "CPU (2 threads)" in window.status.model_label.text()
    assert "context 4096/32768" in window.status.model_label.text()
    assert window.status.template_label.text() == "Template: transcript"
    assert window.status.template_label.toolTip() == info.chat_template_source
    assert "no chat template" in window.status.template_label.toolTip()
    window.close()


def test_status_line_shows_a_gpu_backend(make_window):
    engine = FakeEngine(info_changes={"backend": "CUDA", "gpu_layers_offloaded": 19,
                                      "chat_template_name": "gguf",
                                      "chat_template_source": "the model file's own"})
    window = make_window(engine)
    assert "CUDA (19/19 layers on GPU)" in window.status.model_label.text()
    assert window.status.template_label.text() == "Template: gguf"
    assert window.status.template_label.toolTip() == "the model file's own"
    window.close()


def test_enter_sends_and_the_answer_streams_in(qtbot, make_window):
    window = make_window()
    type_and_enter(qtbot, window, "What is the capital of France?")

    # the worker's signals are queued: nothing of the answer arrived before the loop turns
    assert window.input_box.toPlainText() == ""
    assert window.session.active_request is not None
    assert window.stop_button.isEnabled() and not window.send_button.isEnabled()
    wait_answered(qtbot, window)

    text = window.chat_view.plain_text()
    assert "What is the capital of France?" in text
    assert ANSWER in text
    assert text.index("What is the capital of France?") < text.index(ANSWER)
    assert "tok/s" in text.split(ANSWER, 1)[1]  # the note under the answer
    assert "7 tokens" in text
    assert window.session.conversation() == [ChatMessage("user", "What is the capital of France?"),
                                   ChatMessage("assistant", ANSWER)]
    assert window.status.speed_label.text().endswith("tok/s")
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()

    # the second turn sends the whole conversation
    type_and_enter(qtbot, window, "And Italy?")
    wait_answered(qtbot, window)
    messages = window.engine.chat_calls[-1][0]
    assert [m.content for m in messages] == ["What is the capital of France?", ANSWER,
                                             "And Italy?"]
    window.close()


def test_the_system_prompt_goes_first(qtbot, make_window):
    window = make_window(settings=Settings(system_prompt="  Answer briefly.  "))
    type_and_enter(qtbot, window, "Hi")
    wait_answered(qtbot, window)
    messages = window.engine.chat_calls[-1][0]
    assert messages == (ChatMessage("system", "Answer briefly."), ChatMessage("user", "Hi"))
    assert window.session.conversation()[0] == ChatMessage("user", "Hi")  # not part of the chat
    window.close()


def test_shift_enter_inserts_a_newline_and_does_not_send(qtbot, make_window):
    window = make_window()
    qtbot.keyClicks(window.input_box, "line one")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input_box, "line two")
    qtbot.wait(20)

    assert window.input_box.toPlainText() == "line one\nline two"
    assert window.session.conversation() == []
    assert window.session.active_request is None
    assert window.engine.chat_calls == []

    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    wait_answered(qtbot, window)
    assert window.session.conversation()[0] == ChatMessage("user", "line one\nline two")
    window.close()


def test_enter_on_an_empty_box_sends_nothing(qtbot, make_window):
    window = make_window()
    qtbot.keyClicks(window.input_box, "   ")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.wait(20)
    assert window.session.conversation() == []
    assert window.engine.chat_calls == []
    window.close()


@pytest.mark.parametrize("target", ["window", "input_box", "chat_view"])
def test_escape_stops_a_slow_answer(qtbot, make_window, target):
    window = make_window(FakeEngine(pieces=SLOW_PIECES, token_delay_s=0.02))
    activate(qtbot, window)
    type_and_enter(qtbot, window, "Count for me")
    qtbot.waitUntil(lambda: " w2" in window.chat_view.plain_text(), timeout=2000)
    assert window.stop_button.isEnabled()
    assert not window.send_button.isEnabled()

    widget = window if target == "window" else getattr(window, target)
    qtbot.keyClick(widget, Qt.Key.Key_Escape)
    wait_answered(qtbot, window, timeout=1000)

    text = window.chat_view.plain_text()
    assert "stopped by you" in text
    user, answer = window.session.conversation()
    assert user == ChatMessage("user", "Count for me")
    assert answer.role == "assistant"
    assert answer.content.startswith(" w0 w1 w2")
    assert len(answer.content.split()) < len(SLOW_PIECES)
    assert answer.content.strip() in text  # what was shown is what was kept
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()
    window.close()


def test_stop_button_stops_a_slow_answer(qtbot, make_window):
    window = make_window(FakeEngine(pieces=SLOW_PIECES, token_delay_s=0.02))
    type_and_enter(qtbot, window, "Count for me")
    qtbot.waitUntil(lambda: window.chat_view.plain_text().count(" w") >= 2, timeout=2000)
    qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    wait_answered(qtbot, window, timeout=1000)
    assert "stopped by you" in window.chat_view.plain_text()
    window.close()


def test_ctrl_n_starts_a_new_chat(qtbot, make_window):
    window = make_window()
    activate(qtbot, window)
    type_and_enter(qtbot, window, "What is the capital of France?")
    wait_answered(qtbot, window)
    assert ANSWER in window.chat_view.plain_text()

    qtbot.keyClick(window.input_box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)

    assert window.session.conversation() == []
    assert window.chat_view.plain_text() == ""
    assert window.status.speed_label.text() == ""
    type_and_enter(qtbot, window, "Hello again")
    wait_answered(qtbot, window)
    assert window.engine.chat_calls[-1][0] == (ChatMessage("user", "Hello again"),)
    window.close()


def test_ctrl_n_during_an_answer_leaves_nothing_of_it_in_the_new_chat(qtbot, make_window):
    window = make_window(FakeEngine(pieces=SLOW_PIECES, token_delay_s=0.02))
    activate(qtbot, window)
    type_and_enter(qtbot, window, "Count for me")
    qtbot.waitUntil(lambda: " w2" in window.chat_view.plain_text(), timeout=2000)

    qtbot.keyClick(window.input_box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.session.active_request is None, timeout=1000)
    qtbot.wait(3 * FLUSH_INTERVAL_MS)  # any late chunk would have been shown by now

    assert window.session.conversation() == []
    assert window.chat_view.plain_text() == ""
    assert window.send_button.isEnabled()

    window.engine.pieces = ["Hi", "!"]
    window.engine.token_delay_s = 0.0
    type_and_enter(qtbot, window, "Hello again")
    wait_answered(qtbot, window)
    assert " w" not in window.chat_view.plain_text()
    assert window.session.conversation() == [ChatMessage("user", "Hello again"),
                                   ChatMessage("assistant", "Hi!")]
    window.close()


def test_a_load_failure_shows_the_error_banner(qtbot, make_window, model_file):
    engine = FakeEngine(load_error=ModelLoadError("This file is not a model llama.cpp knows."))
    window = make_window(engine, load=False)
    assert not window.error_banner.isVisible()
    window.load_model(str(model_file))
    qtbot.waitUntil(window.error_banner.isVisible, timeout=2000)

    assert "The model could not be loaded" in window.error_banner.text()
    assert "This file is not a model llama.cpp knows." in window.error_banner.text()
    assert window.session.model is None and window.session.state is not SessionState.LOADING
    assert window.status.model_label.text() == "No model loaded"
    assert not window.status.progress.isVisible()
    assert not window.send_button.isEnabled()

    # the user can dismiss it, and the window still works: load another model
    qtbot.mouseClick(window.error_banner.findChild(QPushButton),
                     Qt.MouseButton.LeftButton)
    assert not window.error_banner.isVisible()
    engine.load_error = None
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    assert window.send_button.isEnabled()
    window.close()


def test_a_generation_error_shows_the_error_banner(qtbot, make_window):
    engine = FakeEngine(chat_error=PromptTooLongError("The message needs 9000 tokens."),
                        error_after_tokens=2)
    window = make_window(engine)
    type_and_enter(qtbot, window, "A very long message")
    qtbot.waitUntil(window.error_banner.isVisible, timeout=2000)
    wait_answered(qtbot, window)

    assert "The message is too long" in window.error_banner.text()
    assert "The message needs 9000 tokens." in window.error_banner.text()
    assert "(no answer: The message is too long)" in window.chat_view.plain_text()
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()

    # the next message hides the banner and gets an answer
    engine.chat_error = None
    type_and_enter(qtbot, window, "Shorter")
    wait_answered(qtbot, window)
    assert not window.error_banner.isVisible()
    assert ANSWER in window.chat_view.plain_text()
    window.close()


def test_settings_remember_the_last_model(make_window, app_paths, model_file):
    assert not app_paths.settings_file.exists()
    window = make_window()
    assert app_paths.settings_file.is_file()
    assert load_settings(app_paths.settings_file).last_model == str(model_file)
    assert window.settings.last_model == str(model_file)
    window.close()


def test_closing_the_window_shuts_the_engine_thread_down(qtbot, make_window):
    window = make_window()
    host, engine = window.session.host, window.engine
    assert host.is_running()
    window.close()
    assert not host.is_running()
    assert host.thread.isFinished()
    assert engine.close_calls == 1


def test_closing_the_window_while_answering(qtbot, make_window):
    window = make_window(FakeEngine(pieces=SLOW_PIECES, token_delay_s=0.02))
    type_and_enter(qtbot, window, "Count for me")
    qtbot.waitUntil(lambda: " w1" in window.chat_view.plain_text(), timeout=2000)
    window.close()
    assert not window.session.host.is_running()
    assert window.engine.close_calls == 1
    assert not window.chat_view.streaming


