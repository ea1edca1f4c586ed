"""The context meter under the input box, with the fake engine: live while typing, the
dropped-turns warning, and the last prompt's cache figures after an answer."""

from __future__ import annotations

import dataclasses

import pytest
from fake_engine import FakeEngine
from window_driver import type_and_enter, wait_answered

from chatdesk.app import build_window
from chatdesk.core.events import PromptCount
from chatdesk.core.settings import Settings
from chatdesk.ui.context_meter import COUNT_DELAY_MS
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost


class DroppingEngine(FakeEngine):
    """Counts like the fake, but says the oldest two messages would be left out."""

    def count_prompt(self, messages, max_tokens) -> PromptCount:
        return dataclasses.replace(super().count_prompt(messages, max_tokens),
                                   dropped_messages=2)


@pytest.fixture
def window(qtbot, app_paths, model_file, request) -> MainWindow:
    engine = getattr(request, "param", None) or FakeEngine()
    made = build_window(EngineHost(engine, app_paths.models_dir), app_paths, Settings())
    made.engine = engine
    qtbot.addWidget(made)
    made.show()
    made.load_model(str(model_file))
    qtbot.waitUntil(lambda: made.session.model is not None, timeout=2000)
    yield made
    made.close()


def test_the_meter_follows_the_draft(qtbot, window: MainWindow):
    meter = window.context_meter
    qtbot.waitUntil(lambda: "tokens" in meter.text(), timeout=2000)
    empty = meter.text()
    assert empty.startswith("0 / 4,096 tokens")
    window.input_box.setPlainText("one two three")
    qtbot.wait(COUNT_DELAY_MS // 2)
    assert meter.text() == empty  # debounced: nothing counted mid-typing
    qtbot.waitUntil(lambda: meter.text() != empty, timeout=2000)
    assert meter.text().startswith("7 / 4,096 tokens")  # the fake: 3 words + 4
    assert "main" not in " ".join(window.engine.threads_used).lower()  # counted elsewhere


def test_after_an_answer_it_shows_what_came_from_the_cache(qtbot, window: MainWindow):
    type_and_enter(qtbot, window, "What is the capital of France?")
    wait_answered(qtbot, window)
    meter = window.context_meter
    qtbot.waitUntil(lambda: "last prompt:" in meter.text(), timeout=3000)
    assert "0 tokens from cache, 10 evaluated" in meter.text()  # the fake evaluates all


@pytest.mark.parametrize("window", [DroppingEngine()], indirect=True)
def test_it_says_which_older_turns_will_be_dropped(qtbot, window: MainWindow):
    type_and_enter(qtbot, window, "The first question, long ago")
    wait_answered(qtbot, window)
    window.input_box.setPlainText("a new question")
    meter = window.context_meter
    qtbot.waitUntil(lambda: "left out" in meter.text(), timeout=3000)
    assert "the 2 oldest messages (from “The first question, long ago”)" in meter.text()
