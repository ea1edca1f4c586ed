"""The session's side of the prompt cache and the context meter, with the fake engine:
which conversation each answer names, when saves are asked for, where they run, and that
a save never holds up an answer already waiting."""

from __future__ import annotations

import threading

import pytest
from fake_engine import FakeEngine

from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.core.settings_store import SettingsStore
from chatdesk.session import IDLE_SAVE_MS, ChatSession, ContextCount, SessionState
from chatdesk.worker import EngineHost


@pytest.fixture
def session(qtbot, app_paths, model_file):
    engine = FakeEngine()
    host = EngineHost(engine, app_paths.models_dir)
    history = HistoryStore.open(app_paths.database)
    made = ChatSession(host, history, SettingsStore(app_paths.settings_file, Settings()),
                       None, app_paths.models_dir)
    made.load_model(str(model_file))
    qtbot.waitUntil(lambda: made.state is SessionState.IDLE, timeout=2000)
    yield made
    made.close()
    assert host.shutdown(5000)
    history.close()


def engine_of(session: ChatSession) -> FakeEngine:
    return session.host.worker._engine  # type: ignore[return-value]


def answered(qtbot, session: ChatSession, text: str) -> None:
    assert session.send(text)
    qtbot.waitUntil(lambda: not session.busy, timeout=3000)


def test_each_answer_names_its_conversation(qtbot, session: ChatSession):
    answered(qtbot, session, "first chat")
    first = session.conversation_id
    session.new_chat()
    answered(qtbot, session, "second chat")
    assert engine_of(session).conversations == [str(first), str(session.conversation_id)]


def test_leaving_a_conversation_saves_it_on_the_engine_thread(qtbot, session: ChatSession):
    answered(qtbot, session, "hello")
    first = str(session.conversation_id)
    session.new_chat()  # leaving: saved now, not after the idle delay
    engine = engine_of(session)
    qtbot.waitUntil(lambda: first in engine.saves, timeout=1000)
    assert threading.main_thread().name not in engine.threads_used


def test_an_idle_moment_after_an_answer_saves_it(qtbot, session: ChatSession):
    answered(qtbot, session, "hello")
    engine = engine_of(session)
    assert engine.saves == []
    qtbot.waitUntil(lambda: engine.saves == [str(session.conversation_id)],
                    timeout=IDLE_SAVE_MS + 3000)


def test_a_new_question_cancels_the_idle_save(qtbot, session: ChatSession):
    answered(qtbot, session, "one")
    answered(qtbot, session, "two")  # well within IDLE_SAVE_MS of the first answer's end
    engine = engine_of(session)
    qtbot.wait(IDLE_SAVE_MS // 2)
    assert engine.saves == []  # the first answer's save never ran; the second's is pending


def test_a_save_gives_way_to_an_answer_waiting_behind_it(qtbot, session: ChatSession):
    engine = engine_of(session)
    engine.token_delay_s = 0.05
    assert session.send("a slow answer")  # the engine thread is busy with it
    session.host.save_state("queued-save")  # queued behind the answer...
    session.host.generate([], session.sampling)  # ...and an answer queued behind the save
    qtbot.waitUntil(lambda: len(engine.chat_calls) == 2, timeout=5000)
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    qtbot.wait(600)  # the second answer ends too
    assert "queued-save" not in engine.saves
    session.host.save_state("idle-save")  # nothing waits now: it runs
    qtbot.waitUntil(lambda: "idle-save" in engine.saves, timeout=2000)


def test_the_context_count_comes_back_for_the_latest_draft(qtbot, session: ChatSession):
    answered(qtbot, session, "a question")
    counts: list[ContextCount] = []
    session.context_counted.connect(counts.append)
    session.count_context("one")
    session.count_context("one two three four")  # typed while the first count runs
    qtbot.waitUntil(lambda: bool(counts), timeout=2000)
    qtbot.wait(100)
    assert len(counts) == 1
    engine = engine_of(session)
    # the fake counts words + 4 per message: question, answer, and the latest draft
    expected = sum(len(m.content.split()) + 4 for m in session.conversation()) + 4 + 4
    assert counts[0].count.prompt_tokens == expected
    assert threading.main_thread().name not in engine.threads_used
