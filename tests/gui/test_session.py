"""ChatSession without any widget: driven with the fake engine, checked by its signals and
by what the real SQLite history holds (read back through a second connection, as a
restarted app would)."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QObject

from chatdesk.core.engine import PromptTooLongError
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.core.settings_store import SettingsStore
from chatdesk.session import SAVE_STREAM_MS, ChatSession, SessionState
from chatdesk.worker import EngineHost

ANSWER = "Paris is the capital of France."
SLOW = [f" w{i}" for i in range(300)]  # 0.02 s each: 6 s unless stopped


class Signals(QObject):
    """Records every session signal, in order, by name."""

    NAMES = ("state_changed", "thread_reset", "thread_trimmed", "message_added",
             "answer_started", "answer_text", "answer_done", "answer_failed",
             "answer_interrupted", "conversations_changed", "error", "model_loaded")

    def __init__(self, session: ChatSession) -> None:
        super().__init__()
        self.events: list[tuple[str, tuple]] = []
        for name in self.NAMES:
            getattr(session, name).connect(
                lambda *args, _name=name: self.events.append((_name, args)))

    def names(self, *, text: bool = False) -> list[str]:
        return [n for n, _ in self.events if text or n != "answer_text"]

    def of(self, name: str) -> list[tuple]:
        return [args for n, args in self.events if n == name]

    def states(self) -> list[SessionState]:
        return [args[0] for args in self.of("state_changed")]


@pytest.fixture
def make_session(qtbot, app_paths, model_file):
    made: list[tuple[ChatSession, EngineHost, HistoryStore]] = []

    def make(engine: FakeEngine | None = None) -> tuple[ChatSession, Signals, FakeEngine]:
        engine = engine or FakeEngine()
        host = EngineHost(engine, app_paths.models_dir)
        history = HistoryStore.open(app_paths.database)
        session = ChatSession(host, history, SettingsStore(app_paths.settings_file,
                                                           Settings()),
                              None, app_paths.models_dir)
        signals = Signals(session)
        made.append((session, host, history))
        session.load_model(str(model_file))
        qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=2000)
        return session, signals, engine

    yield make
    for session, host, history in made:
        session.close()
        assert host.shutdown(5000)
        history.close()


def idle(qtbot, session: ChatSession, timeout: int = 3000) -> None:
    qtbot.waitUntil(lambda: not session.busy, timeout=timeout)


def reopened(app_paths) -> HistoryStore:
    """The history as another process (or the next start) sees it."""
    return HistoryStore.open(app_paths.database, check_integrity=False)


def test_send_stores_the_exchange_and_signals_each_step(qtbot, make_session, app_paths):
    session, signals, _engine = make_session()
    assert signals.states() == [SessionState.LOADING, SessionState.IDLE]
    assert session.send("What is the capital of France?")
    idle(qtbot, session)

    first_send = signals.names().index("message_added")
    assert signals.names()[first_send:first_send + 3] == [
        "message_added", "conversations_changed", "state_changed"]
    assert signals.states() == [SessionState.LOADING, SessionState.IDLE, SessionState.WAITING,
                                SessionState.STREAMING, SessionState.IDLE]
    (done,) = [args[0] for args in signals.of("answer_done")]
    assert done.message.content == ANSWER and done.result.stop_reason is StopReason.EOS
    assert "".join(a[0].text for a in signals.of("answer_text")) == ANSWER
    assert signals.of("thread_reset") == []  # nothing re-read or reset to show one answer
    with reopened(app_paths) as store:
        thread = store.thread(session.conversation_id)
    assert [(m.role, m.content, m.state) for m in thread] == [
        ("user", "What is the capital of France?", "complete"),
        ("assistant", ANSWER, "complete")]
    assert thread[1].stats["generated_tokens"] == 7
    assert session.thread == thread


def test_nothing_is_sent_while_busy_or_without_a_model(qtbot, make_session):
    session, _signals, engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    assert session.send("first")
    assert not session.send("second")  # one answer at a time
    assert not session.send("   ")
    session.stop()
    idle(qtbot, session)
    assert len(engine.chat_calls) == 1


def test_stop_keeps_the_partial_answer(qtbot, make_session, app_paths):
    session, signals, _engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    session.send("Count")
    qtbot.waitUntil(lambda: len(signals.of("answer_text")) >= 3, timeout=2000)
    session.stop()
    assert session.state is SessionState.STOPPING
    idle(qtbot, session)

    (done,) = [args[0] for args in signals.of("answer_done")]
    assert done.result.stop_reason is StopReason.USER_STOP
    streamed = "".join(a[0].text for a in signals.of("answer_text"))
    with reopened(app_paths) as store:
        answer = store.thread(session.conversation_id)[-1]
    assert answer.content == streamed and answer.content.startswith(" w0 w1 w2")
    assert answer.stop_reason == "user_stop"
    assert session.state is SessionState.IDLE


def test_regenerate_trims_to_the_question_and_keeps_the_old_answer(qtbot, make_session):
    session, signals, engine = make_session()
    session.send("Hello")
    idle(qtbot, session)
    first = session.thread[-1]
    engine.pieces = ["Another", " answer"]
    session.regenerate(first.id)
    idle(qtbot, session)

    question = session.thread[0]
    assert signals.of("thread_trimmed") == [(question.id,)]
    assert [m.content for m in session.thread] == ["Hello", "Another answer"]
    assert (session.thread[-1].sibling_index, session.thread[-1].sibling_count) == (1, 2)
    assert session.history.sibling_ids(first.id) == [first.id, session.thread[-1].id]
    # the engine saw the question only, not the old answer
    assert engine.chat_calls[-1][0] == (ChatMessage("user", "Hello"),)


def test_edit_and_resend_branches_from_the_edited_question(qtbot, make_session):
    session, signals, engine = make_session()
    session.send("Hello")
    idle(qtbot, session)
    session.send("And then?")
    idle(qtbot, session)
    question = session.thread[0]

    assert session.begin_edit(question.id) == "Hello"
    session.send("Hi there")
    idle(qtbot, session)

    assert [m.content for m in session.thread] == ["Hi there", ANSWER]
    assert (session.thread[0].sibling_index, session.thread[0].sibling_count) == (1, 2)
    assert signals.of("thread_reset")[-1] == ([],)  # the edited root: nothing kept above it
    assert engine.chat_calls[-1][0] == (ChatMessage("user", "Hi there"),)
    session.switch_sibling(session.thread[0].id, 0)
    assert [m.content for m in session.thread] == ["Hello", ANSWER, "And then?", ANSWER]


def test_switching_model_mid_answer_keeps_the_answer_and_loads_the_new_one(
        qtbot, make_session, model_file, app_paths):
    session, signals, engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    session.send("Count")
    qtbot.waitUntil(lambda: len(signals.of("answer_text")) >= 2, timeout=2000)
    other = model_file.with_name("other.gguf")
    other.write_bytes(b"GGUF")
    session.load_model(str(other))
    qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=3000)

    assert session.model is not None and session.model.path == str(other)
    (done,) = [args[0] for args in signals.of("answer_done")]
    assert done.result.stop_reason is StopReason.USER_STOP
    with reopened(app_paths) as store:
        answer = store.thread(session.conversation_id)[-1]
    assert answer.content.startswith(" w0") and answer.model == str(model_file)
    engine.pieces, engine.token_delay_s = ["OK"], 0.0
    assert session.send("Still there?")
    idle(qtbot, session)
    assert session.thread[-1].content == "OK" and session.thread[-1].model == str(other)


def test_an_engine_failure_keeps_what_streamed_and_says_why(qtbot, make_session, app_paths):
    engine = FakeEngine(chat_error=PromptTooLongError("The message needs 9000 tokens."),
                        error_after_tokens=2)
    session, signals, _engine = make_session(engine)
    session.send("A very long message")
    idle(qtbot, session)

    assert signals.of("error") == [("The message is too long",
                                    "The message needs 9000 tokens.")]
    (failed,) = [args[0] for args in signals.of("answer_failed")]
    assert failed.title == "The message is too long"
    with reopened(app_paths) as store:
        answer = store.thread(session.conversation_id)[-1]
    assert answer.state == "error" and answer.content == "Paris is"
    assert session.state is SessionState.IDLE and session.send("Shorter?") is True


def test_a_streaming_answer_is_on_disk_before_it_ends(qtbot, make_session, app_paths):
    """Crash safety: another connection sees the partial answer while it streams."""
    session, _signals, _engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    session.send("Count")
    qtbot.wait(3 * SAVE_STREAM_MS)
    assert session.state is SessionState.STREAMING
    with reopened(app_paths) as store:
        partial = store.thread(session.conversation_id)[-1]
    assert partial.state == "streaming" and partial.content.startswith(" w0 w1")
    session.stop()
    idle(qtbot, session)


def test_leaving_a_chat_mid_answer_stores_it_but_shows_nothing(qtbot, make_session,
                                                              app_paths):
    session, signals, _engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    session.send("Count")
    qtbot.waitUntil(lambda: len(signals.of("answer_text")) >= 2, timeout=2000)
    left = session.conversation_id
    session.new_chat()
    idle(qtbot, session)

    assert signals.of("answer_done") == []
    assert session.conversation_id is None and session.thread == []
    with reopened(app_paths) as store:
        answer = store.thread(left)[-1]
    assert answer.content.startswith(" w0") and answer.stop_reason == "user_stop"


def test_close_mid_answer_marks_it_incomplete(qtbot, make_session, app_paths):
    session, signals, _engine = make_session(FakeEngine(pieces=SLOW, token_delay_s=0.02))
    session.send("Count")
    qtbot.waitUntil(lambda: len(signals.of("answer_text")) >= 3, timeout=2000)
    streamed = "".join(a[0].text for a in signals.of("answer_text"))
    session.close()

    (interrupted,) = signals.of("answer_interrupted")
    with reopened(app_paths) as store:
        answer = store.message(interrupted[0])
    assert answer is not None and answer.state == "incomplete"
    assert answer.content == streamed


def test_a_read_only_history_refuses_with_a_message_not_a_traceback(qtbot, app_paths,
                                                                    model_file):
    HistoryStore.open(app_paths.database).close()  # an existing history...
    history = HistoryStore.open(app_paths.database, read_only=True)  # ...opened read-only
    host = EngineHost(FakeEngine(), app_paths.models_dir)
    session = ChatSession(host, history, SettingsStore(app_paths.settings_file), None,
                          app_paths.models_dir)
    signals = Signals(session)
    try:
        session.load_model(str(model_file))
        qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=2000)
        assert session.send("Hello") is None
        (error,) = signals.of("error")
        assert error[0] == "The history could not be changed" and "read-only" in error[1]
        assert not session.busy and session.conversation_id is None
    finally:
        session.close()
        assert host.shutdown(5000)
        history.close()


@pytest.mark.parametrize("on", [True, False])
def test_the_loop_guard_setting_reaches_the_engine(qtbot, app_paths, model_file, on):
    engine = FakeEngine()
    host = EngineHost(engine, app_paths.models_dir)
    history = HistoryStore.open(app_paths.database)
    session = ChatSession(host, history, SettingsStore(app_paths.settings_file,
                                                       Settings(loop_guard=on)),
                          None, app_paths.models_dir)
    try:
        session.load_model(str(model_file))
        qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=2000)
        session.send("Hello")
        idle(qtbot, session)
        assert engine.loop_guard_calls == [on]
    finally:
        session.close()
        assert host.shutdown(5000)
        history.close()
