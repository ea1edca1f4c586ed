"""The conversation history store on a real SQLite file: schema, CRUD, the message tree,
streaming answers, totals, threads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from chatdesk.core.events import GenerationResult, StopReason
from chatdesk.core.figures import AnswerStats
from chatdesk.core.history import (
    Conversation,
    DamagedDatabaseError,
    DatabaseBusyError,
    HistoryStore,
    NewMessage,
    NotFoundError,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.history import schema as history_schema
from chatdesk.core.history.schema import SCHEMA_VERSION
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.token_records import TokenAlternative, TokenRecord, TokenTrace


class Clock:
    """A clock the test moves by hand, so ordering and purging do not depend on timing."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 1.0  # every call is a distinct, later instant
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Path, clock: Clock):
    opened = HistoryStore.open(db, clock=clock)
    yield opened
    opened.close()


def texts(thread: list[ThreadMessage]) -> list[str]:
    return [m.content for m in thread]


def chat(store: HistoryStore, conversation: Conversation, question: str, answer: str
         ) -> tuple[StoredMessage, StoredMessage]:
    """A user message and a finished answer under the current leaf."""
    user = store.add_message(conversation.id, "user", question)
    reply = store.begin_answer(conversation.id, user.id, model="m.gguf", sampling={})
    reply = store.finish_answer(reply.id, content=answer, state="complete", stop_reason="eos",
                                stats={"generated_tokens": len(answer.split())})
    return user, reply


# -- schema and opening ------------------------------------------------------------------
def test_new_database_gets_the_schema_version_wal_and_foreign_keys(store, db):
    assert store.schema_version == SCHEMA_VERSION == len(history_schema.MIGRATIONS)
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


def test_reopening_is_idempotent_and_keeps_data(db, clock):
    with HistoryStore.open(db, clock=clock) as first:
        conversation = first.create_conversation("kept")
        first.add_message(conversation.id, "user", "hello")
    with HistoryStore.open(db, clock=clock) as second:
        assert second.schema_version == SCHEMA_VERSION
        assert [c.title for c in second.list_conversations()] == ["kept"]
        assert texts(second.thread(conversation.id)) == ["hello"]
    with HistoryStore.open(db, clock=clock) as third:
        assert third.message_count(conversation.id) == 1


def test_a_newer_schema_version_is_refused_with_a_clear_reason(db):
    HistoryStore.open(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    raw.close()
    with pytest.raises(DamagedDatabaseError) as caught:
        HistoryStore.open(db)
    assert caught.value.kind == "newer_version"
    assert caught.value.path == db
    assert "newer version of chatdesk" in caught.value.reason
    assert str(SCHEMA_VERSION + 3) in caught.value.reason


def test_a_foreign_sqlite_database_is_not_taken_over(db):
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(DamagedDatabaseError) as caught:
        HistoryStore.open(db)
    assert caught.value.kind == "foreign"
    raw = sqlite3.connect(db)
    try:  # untouched: no chatdesk tables were added
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        assert names == {"photos"}
    finally:
        raw.close()


def test_a_second_migration_is_one_function(db, monkeypatch):
    """The mechanism: an old database is brought up step by step, each step committed."""
    HistoryStore.open(db).close()

    def to_v2(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE conversations ADD COLUMN folder TEXT")

    following = SCHEMA_VERSION + 1  # the next version after the real ones
    monkeypatch.setattr("chatdesk.core.history.store.MIGRATIONS",
                        [*history_schema.MIGRATIONS, to_v2])
    monkeypatch.setattr("chatdesk.core.history.store.SCHEMA_VERSION", following)
    with HistoryStore.open(db) as store:
        assert store.schema_version == following
        columns = {r[1] for r in store._conn.execute("PRAGMA table_info(conversations)")}
        assert "folder" in columns
    with HistoryStore.open(db) as again:  # not applied twice
        assert again.schema_version == following


def test_a_failing_migration_leaves_the_old_version(db, monkeypatch):
    HistoryStore.open(db).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE conversations ADD COLUMN half TEXT")
        raise RuntimeError("boom")

    monkeypatch.setattr("chatdesk.core.history.store.MIGRATIONS",
                        [*history_schema.MIGRATIONS, broken])
    monkeypatch.setattr("chatdesk.core.history.store.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError):
        HistoryStore.open(db)
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for r in raw.execute("PRAGMA table_info(conversations)")}
        assert "half" not in columns
    finally:
        raw.close()


def test_a_version_1_history_gains_the_import_sources_table_and_keeps_its_chats(db,
                                                                               monkeypatch):
    """Migration 2 (issue 17): conversation_sources, for skipping repeated imports."""
    monkeypatch.setattr("chatdesk.core.history.store.MIGRATIONS",
                        history_schema.MIGRATIONS[:1])
    monkeypatch.setattr("chatdesk.core.history.store.SCHEMA_VERSION", 1)
    with HistoryStore.open(db) as old:
        kept = old.create_conversation("Before the upgrade").id
    monkeypatch.undo()  # up to version 2 only: later migrations have tests of their own
    monkeypatch.setattr("chatdesk.core.history.store.MIGRATIONS",
                        history_schema.MIGRATIONS[:2])
    monkeypatch.setattr("chatdesk.core.history.store.SCHEMA_VERSION", 2)
    with HistoryStore.open(db) as store:
        assert store.schema_version == 2
        tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master")}
        assert "conversation_sources" in tables
        assert store.get_conversation(kept).title == "Before the upgrade"
        new = store.import_conversation("Imported", [NewMessage(1, None, "user", "hi")],
                                        fingerprint="sha256:abc")
        assert store.imported_fingerprints(["sha256:abc", "sha256:def"]) == {"sha256:abc"}
        store.delete_conversation(new.id)  # in the trash: may be imported again
        assert store.imported_fingerprints(["sha256:abc"]) == set()


# -- conversations -----------------------------------------------------------------------
def test_create_get_rename_and_settings(store):
    created = store.create_conversation("First", system_prompt="Be brief.",
                                        settings={"sampling": SamplingParams().to_dict()},
                                        model="gemma.gguf")
    assert isinstance(created, Conversation)
    assert created.title == "First" and created.system_prompt == "Be brief."
    assert created.settings["sampling"]["temperature"] == 0.7
    assert created.model == "gemma.gguf" and not created.pinned and not created.deleted
    store.rename(created.id, "Renamed ✨")
    store.update_conversation_settings(created.id, system_prompt="Be long.",
                                       settings={"context_length": 2048})
    again = store.get_conversation(created.id)
    assert again is not None
    assert again.title == "Renamed ✨" and again.system_prompt == "Be long."
    assert again.settings == {"context_length": 2048} and again.model == "gemma.gguf"
    store.update_conversation_settings(created.id, model="other.gguf")
    assert store.get_conversation(created.id).system_prompt == "Be long."  # untouched
    assert store.get_conversation(created.id).model == "other.gguf"
    assert store.get_conversation(9999) is None
    with pytest.raises(NotFoundError):
        store.rename(9999, "x")


def test_pinned_first_then_most_recently_updated(store):
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    c = store.create_conversation("c")
    assert [x.title for x in store.list_conversations()] == ["c", "b", "a"]
    store.add_message(a.id, "user", "a is active again")
    assert [x.title for x in store.list_conversations()] == ["a", "c", "b"]
    store.set_pinned(b.id, True)
    assert [x.title for x in store.list_conversations()] == ["b", "a", "c"]
    assert store.list_conversations()[0].pinned
    store.add_message(c.id, "user", "c now")
    assert [x.title for x in store.list_conversations()] == ["b", "c", "a"]
    store.set_pinned(b.id, False)
    assert [x.title for x in store.list_conversations()] == ["c", "a", "b"]


def test_soft_delete_restore_and_purge(store, clock):
    keep = store.create_conversation("keep")
    gone = store.create_conversation("gone")
    chat(store, gone, "secret question", "secret answer")
    store.delete_conversation(gone.id)
    assert [c.title for c in store.list_conversations()] == ["keep"]
    assert store.get_conversation(gone.id).deleted
    assert store.search("secret") == []
    assert [c.title for c in store.list_conversations(include_deleted=True)] == ["gone", "keep"]
    store.restore_conversation(gone.id)
    assert {c.title for c in store.list_conversations()} == {"keep", "gone"}
    assert len(store.search("secret")) == 2
    store.delete_conversation(gone.id)
    assert store.purge_deleted(older_than_s=3600) == 0  # deleted just now: kept for undo
    clock.now += 7200
    assert store.purge_deleted(older_than_s=3600) == 1
    assert store.get_conversation(gone.id) is None
    assert store._conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert store.purge_deleted() == 0
    assert store.get_conversation(keep.id) is not None
    store.check_search_index()


# -- the message tree --------------------------------------------------------------------
def test_messages_chain_under_the_current_leaf(store):
    conversation = store.create_conversation()
    user, reply = chat(store, conversation, "What is 2+2?", "4")
    assert reply.parent_id == user.id and user.parent_id is None
    thread = store.thread(conversation.id)
    assert texts(thread) == ["What is 2+2?", "4"]
    assert [(m.role, m.sibling_index, m.sibling_count) for m in thread] == [
        ("user", 0, 1), ("assistant", 0, 1)]
    assert thread[0].to_chat_message().role == "user"
    assert store.get_conversation(conversation.id).current_leaf_id == reply.id


def test_regenerate_keeps_alternatives_and_switching_follows_the_branch(store):
    conversation = store.create_conversation()
    user, first = chat(store, conversation, "Tell a joke", "joke one")
    second = store.begin_answer(conversation.id, user.id, model="m", sampling={"seed": 2})
    store.finish_answer(second.id, content="joke two", state="complete", stop_reason="eos",
                        stats={})
    thread = store.thread(conversation.id)
    assert texts(thread) == ["Tell a joke", "joke two"]
    assert (thread[1].sibling_index, thread[1].sibling_count) == (1, 2)  # "2/2"
    assert store.sibling_ids(second.id) == [first.id, second.id]
    store.switch_to_sibling(first.id)
    thread = store.thread(conversation.id)
    assert texts(thread) == ["Tell a joke", "joke one"]
    assert (thread[1].sibling_index, thread[1].sibling_count) == (0, 2)  # "1/2"
    # continuing under the first answer, then flipping away and back, returns there
    chat(store, conversation, "another", "joke three")
    store.switch_to_sibling(second.id)
    assert texts(store.thread(conversation.id)) == ["Tell a joke", "joke two"]
    store.switch_to_sibling(first.id)
    assert texts(store.thread(conversation.id)) == ["Tell a joke", "joke one", "another",
                                                     "joke three"]


def test_editing_a_user_message_starts_a_branch_and_keeps_the_old_one(store):
    conversation = store.create_conversation()
    q1, a1 = chat(store, conversation, "first question", "first answer")
    q2, _ = chat(store, conversation, "second question", "second answer")
    edited = store.edit_message(q1.id, "first question, edited")
    assert edited.parent_id is None and edited.role == "user"
    reply = store.begin_answer(conversation.id, edited.id, model="m", sampling={})
    store.finish_answer(reply.id, content="answer to the edit", state="complete",
                        stop_reason="eos", stats={})
    thread = store.thread(conversation.id)
    assert texts(thread) == ["first question, edited", "answer to the edit"]
    assert (thread[0].sibling_index, thread[0].sibling_count) == (1, 2)
    store.switch_to_sibling(q1.id)  # the old question, with everything that followed
    assert texts(store.thread(conversation.id)) == ["first question", "first answer",
                                                     "second question", "second answer"]
    # an edit deeper down: a new sibling under the same parent (the first answer)
    deeper = store.add_message(conversation.id, "user", "second, edited", parent_id=a1.id)
    assert deeper.parent_id == q2.parent_id == a1.id
    thread = store.thread(conversation.id)
    assert texts(thread) == ["first question", "first answer", "second, edited"]
    assert (thread[2].sibling_index, thread[2].sibling_count) == (1, 2)
    assert store.message_count(conversation.id) == 7


def test_delete_a_subtree_moves_the_view_to_a_remaining_alternative(store):
    conversation = store.create_conversation()
    user, first = chat(store, conversation, "q", "answer one")
    second = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.finish_answer(second.id, content="answer two", state="complete",
                        stop_reason="eos", stats={})
    follow, _ = chat(store, conversation, "follow-up", "follow-up answer")
    store.delete_message(second.id)  # and the follow-up below it
    assert store.message(second.id) is None and store.message(follow.id) is None
    thread = store.thread(conversation.id)
    assert texts(thread) == ["q", "answer one"]
    assert thread[1].sibling_count == 1
    store.delete_message(first.id)
    assert texts(store.thread(conversation.id)) == ["q"]  # no alternative left: the parent
    store.delete_message(user.id)
    assert store.thread(conversation.id) == []
    assert store.get_conversation(conversation.id).current_leaf_id is None
    store.check_search_index()


def test_deleting_an_alternative_off_the_path_leaves_the_view_alone(store):
    conversation = store.create_conversation()
    user, first = chat(store, conversation, "q", "one")
    second = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.delete_message(first.id)
    assert store.get_conversation(conversation.id).current_leaf_id == second.id


def test_deleting_a_10000_deep_chain_needs_no_deep_recursion(store):
    conversation = store.create_conversation()
    items = [NewMessage(key=i, parent_key=i - 1 if i else None,
                        role="user" if i % 2 == 0 else "assistant", content=f"m{i}")
             for i in range(10_000)]
    imported = store.import_conversation("deep", items)
    first = store.thread(imported.id)[0]
    store.delete_message(first.id)
    assert store.message_count(imported.id) == 0
    assert store.thread(imported.id) == []
    assert store.thread(conversation.id) == []


def test_parents_must_belong_to_the_same_conversation(store):
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    message = store.add_message(a.id, "user", "in a")
    with pytest.raises(ValueError, match="belongs to conversation"):
        store.add_message(b.id, "user", "in b", parent_id=message.id)
    with pytest.raises(ValueError, match="belongs to conversation"):
        store.begin_answer(b.id, message.id, model="m", sampling={})
    with pytest.raises(NotFoundError):
        store.add_message(a.id, "user", "x", parent_id=424242)
    with pytest.raises(ValueError, match="role"):
        store.add_message(a.id, "robot", "x")
    assert store.message_count(b.id) == 0


def test_an_explicit_none_parent_starts_a_new_root(store):
    conversation = store.create_conversation()
    first = store.add_message(conversation.id, "user", "one")
    store.add_message(conversation.id, "assistant", "reply")
    root = store.add_message(conversation.id, "user", "two", parent_id=None)
    thread = store.thread(conversation.id)
    assert [m.id for m in thread] == [root.id]
    assert (thread[0].sibling_index, thread[0].sibling_count) == (1, 2)
    assert store.sibling_ids(root.id) == [first.id, root.id]


# -- streaming answers ---------------------------------------------------------------------
def test_streaming_append_then_finish(store):
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "count")
    sampling = SamplingParams(temperature=0.2, seed=7).to_dict()
    reply = store.begin_answer(conversation.id, user.id, model="gemma.gguf", sampling=sampling)
    assert reply.state == "streaming" and reply.content == "" and reply.role == "assistant"
    assert store.get_conversation(conversation.id).current_leaf_id == reply.id
    for piece in ("one, ", "two, ", "three"):
        assert store.append_answer_text(reply.id, piece) is True
    assert store.message(reply.id).content == "one, two, three"
    assert store.thread(conversation.id)[-1].state == "streaming"
    result = GenerationResult(request_id=1, text="one, two, three", stop_reason=StopReason.EOS,
                              prompt_tokens=10, prompt_eval_tokens=10, prompt_eval_s=0.1,
                              generated_tokens=6, generation_s=0.5, ttft_s=0.12, total_s=0.62,
                              dropped_turns=0, context_used=16, context_length=2048)
    finished = store.finish_answer(reply.id, content=result.text, state="complete",
                                   stop_reason=result.stop_reason,
                                   stats=AnswerStats.from_result(result).to_dict(),
                                   energy={"joules": 7.2, "source": "estimate"})
    assert finished.state == "complete" and finished.stop_reason == "eos"
    assert finished.stats["generated_tokens"] == 6
    assert finished.stats["tokens_per_s"] == pytest.approx(10.0)
    assert finished.sampling["seed"] == 7 and finished.model == "gemma.gguf"
    assert finished.energy == {"joules": 7.2, "source": "estimate"}
    assert store.append_answer_text(reply.id, "late tokens") is False  # finished: ignored
    assert store.message(reply.id).content == "one, two, three"
    with pytest.raises(ValueError):
        store.finish_answer(reply.id, content="", state="streaming", stop_reason=None, stats={})


def test_finish_replaces_text_and_energy_can_come_later(store):
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "q")
    reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.append_answer_text(reply.id, "partial tex")
    done = store.finish_answer(reply.id, content="partial text, stopped", state="incomplete",
                               stop_reason=StopReason.USER_STOP,
                               stats={"ratio": float("nan"), "inf": float("inf")})
    assert done.content == "partial text, stopped" and done.state == "incomplete"
    assert done.stop_reason == "user_stop"
    assert done.stats == {"ratio": None, "inf": None}  # SQLite's JSON cannot hold NaN
    assert done.energy is None
    store.set_energy(reply.id, {"joules": 3.6, "co2_g": 0.5})
    assert store.message(reply.id).energy == {"joules": 3.6, "co2_g": 0.5}
    with pytest.raises(NotFoundError):
        store.set_energy(99999, {})
    with pytest.raises(NotFoundError):
        store.finish_answer(99999, content="", state="error", stop_reason=None, stats={})


def test_appending_to_a_deleted_answer_is_harmless(store):
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "q")
    reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.delete_message(reply.id)
    assert store.append_answer_text(reply.id, "more") is False


def test_open_turns_streaming_answers_into_incomplete_keeping_the_text(db, clock, monkeypatch):
    # Stamp the answer as written by a process that is gone: pid 1 exists, but it did not
    # start at time 0, so a recycled pid does not pass for the writer either.
    monkeypatch.setattr("chatdesk.core.history.store.writer_id", lambda: "1:0.0")
    first = HistoryStore.open(db, clock=clock)
    conversation = first.create_conversation()
    user = first.add_message(conversation.id, "user", "write a poem")
    reply = first.begin_answer(conversation.id, user.id, model="m", sampling={})
    first.append_answer_text(reply.id, "Roses are red, ")
    first.append_answer_text(reply.id, "violets are")
    first._conn.close()  # no orderly finish: as if the app had been killed
    monkeypatch.undo()
    with HistoryStore.open(db, clock=clock) as second:
        message = second.message(reply.id)
        assert message.state == "incomplete"
        assert message.content == "Roses are red, violets are"
        assert second.thread(conversation.id)[-1].state == "incomplete"
        assert [h.message_id for h in second.search("violets")] == [reply.id]
        assert second.append_answer_text(reply.id, "more") is False
        second.check_search_index()


def test_a_second_store_does_not_interrupt_a_live_answer(store, db):
    """A worker or an export opening its own store while the GUI's answer streams."""
    conversation = store.create_conversation()
    user = store.add_message(conversation.id, "user", "q")
    reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    store.append_answer_text(reply.id, "still ")
    with HistoryStore.open(db) as other:
        assert other.message(reply.id).state == "streaming"
        assert other.mark_interrupted_answers() == 0
    assert store.append_answer_text(reply.id, "going") is True
    done = store.finish_answer(reply.id, content="still going", state="complete",
                               stop_reason="eos", stats={})
    assert done.content == "still going"
    assert store._conn.execute("SELECT writer FROM messages WHERE id = ?",
                               (reply.id,)).fetchone()[0] is None


# -- importing -----------------------------------------------------------------------------
def test_import_conversation_is_all_or_nothing(store):
    items = [
        NewMessage("u1", None, "user", "hi", created_at=100.0),
        NewMessage("a1", "u1", "assistant", "hello", created_at=101.0, model="m",
                   stats={"generated_tokens": 3}, energy={"joules": 1.0}),
        NewMessage("a2", "u1", "assistant", "hey", created_at=102.0, state="streaming"),
    ]
    imported = store.import_conversation("Imported", items, created_at=100.0,
                                         updated_at=102.0, current_key="a1")
    assert imported.created_at == 100.0 and imported.updated_at == 102.0
    thread = store.thread(imported.id)
    assert texts(thread) == ["hi", "hello"]
    assert thread[1].created_at == 101.0 and thread[1].sibling_count == 2
    assert store.messages(imported.id)[2].state == "incomplete"
    before = len(store.list_conversations())
    with pytest.raises(ValueError, match="must come before"):
        store.import_conversation("broken", [NewMessage("x", "missing", "user", "orphan")])
    with pytest.raises(ValueError, match="role"):
        store.import_conversation("broken", [NewMessage("x", None, "alien", "?")])
    assert len(store.list_conversations()) == before  # nothing half-imported


# -- totals --------------------------------------------------------------------------------
def test_totals_per_conversation_per_period_and_per_day(store, clock):
    day = 86_400.0
    clock.now = 1_700_000_000.0
    a = store.create_conversation("a")
    b = store.create_conversation("b")

    def answer(conversation: Conversation, tokens: int, energy: dict | None) -> None:
        user = store.add_message(conversation.id, "user", "q")
        reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
        store.finish_answer(reply.id, content="a", state="complete", stop_reason="eos",
                            stats={"generated_tokens": tokens, "prompt_tokens": 5},
                            energy=energy)

    answer(a, 10, {"joules": 3600.0, "cost": 0.25, "co2_g": 0.475, "currency": "EUR"})
    answer(a, 20, {"joules": 1800.0, "wh": 0.5, "cost": 0.125, "co2_g": 0.2,
                   "currency": "EUR"})
    answer(b, 5, None)
    midnight = clock.now + 10
    clock.now += day
    answer(b, 7, {"joules": 36.0, "cost": 0.01, "co2_g": 0.0, "currency": "USD"})

    all_totals = store.totals()
    assert all_totals["answers"] == 4
    assert all_totals["generated_tokens"] == 42 and all_totals["prompt_tokens"] == 20
    assert all_totals["joules"] == pytest.approx(5436.0)
    assert all_totals["wh"] == pytest.approx(1.0 + 0.5 + 0.01)
    assert all_totals["cost"] == pytest.approx(0.385)
    assert all_totals["co2_g"] == pytest.approx(0.675)
    assert all_totals["answers_with_energy"] == 3
    assert all_totals["currency"] is None and all_totals["currencies"] == ["EUR", "USD"]
    only_a = store.totals(a.id)
    assert only_a["generated_tokens"] == 30 and only_a["currency"] == "EUR"
    assert store.totals(since=midnight)["generated_tokens"] == 7
    assert store.totals(until=midnight)["generated_tokens"] == 35
    days = store.totals_by_day()
    assert len(days) == 2 and [d[1]["generated_tokens"] for d in days] == [35, 7]
    assert days[0][0] < days[1][0]
    store.delete_conversation(a.id)
    assert store.totals()["generated_tokens"] == 12  # deleted chats leave the totals
    assert store.totals(a.id)["generated_tokens"] == 30  # but can still be asked for
    empty = store.totals(since=clock.now + 10 * day)
    assert empty["answers"] == 0 and empty["joules"] == 0.0


# -- threads -------------------------------------------------------------------------------
def test_a_store_belongs_to_its_thread_and_a_worker_opens_its_own(store, db):
    conversation = store.create_conversation("shared")
    errors: list[BaseException] = []

    def misuse() -> None:
        try:
            store.list_conversations()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=misuse)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)

    def worker() -> None:
        with HistoryStore.open(db) as own:
            for i in range(50):
                own.add_message(conversation.id, "user", f"from worker {i}")

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for w in workers:
        w.start()
    for i in range(50):  # the GUI thread keeps writing meanwhile
        store.add_message(conversation.id, "assistant", f"from gui {i}")
    for w in workers:
        w.join()
    assert store.message_count(conversation.id) == 200


def test_a_write_lock_held_too_long_is_a_busy_error_not_a_crash(db, monkeypatch):
    monkeypatch.setattr("chatdesk.core.history.store.BUSY_TIMEOUT_MS", 100)
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation("x")
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseBusyError):
                store.rename(conversation.id, "y")
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.rename(conversation.id, "y")  # and the store is fine afterwards
        assert store.get_conversation(conversation.id).title == "y"


def test_a_path_that_cannot_be_a_database_is_unreadable(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(DamagedDatabaseError) as caught:
        HistoryStore.open(folder)
    assert caught.value.kind == "unreadable" and caught.value.path == folder


def test_a_transaction_keeps_all_writes_or_none(tmp_path):
    store = HistoryStore.open(tmp_path / "t.sqlite3")
    with store.transaction():
        store.create_conversation("one")
        store.create_conversation("two")
    assert [c.title for c in store.list_conversations()] == ["two", "one"]
    with pytest.raises(RuntimeError), store.transaction():
        store.create_conversation("three")
        raise RuntimeError("a later write failed")
    assert [c.title for c in store.list_conversations()] == ["two", "one"]
    store.close()


@pytest.mark.parametrize("absurd", [1e20, -1e20, float("nan"), float("inf"), float("-inf")])
def test_an_imported_absurd_time_becomes_the_import_time(db, clock, absurd):
    """Issue 18.5: a time out of any calendar's range is refused at import, so nothing
    stored can break a listing later; it is treated as unknown (the import time)."""
    with HistoryStore.open(db, clock=clock) as store:
        before = clock.now
        conversation = store.import_conversation(
            "odd times", [NewMessage(1, None, "user", "hi", created_at=absurd),
                          NewMessage(2, 1, "assistant", "hello", created_at=1_600_000_000)],
            created_at=absurd, updated_at=absurd)
        assert before < conversation.created_at <= clock.now
        assert before < conversation.updated_at <= clock.now
        first, second = store.thread(conversation.id)
        assert before < first.created_at <= clock.now
        assert second.created_at == 1_600_000_000  # a real time is kept


def test_a_continued_answer_is_appended_to_the_same_message(store, db):
    """"Continue anyway": the stopped answer streams again and the rest is appended to it,
    kept by a crash as any streaming answer is, and finished as one message."""
    from chatdesk.core.conversation import AnswerRecorder
    from chatdesk.core.history import NotFoundError

    conversation = store.create_conversation()
    user, reply = chat(store, conversation, "sing", "la la")
    stopped = store.finish_answer(reply.id, content="la la", state="complete",
                                  stop_reason="repetition", stats={})
    recorder = AnswerRecorder(store, conversation.id, user.id, model="m.gguf",
                              sampling=SamplingParams(), continuing=stopped)
    assert recorder.answer_id == reply.id and recorder.text == "la la"
    assert store.message(reply.id).state == "streaming"
    recorder.add(" and more")
    recorder.flush()
    with HistoryStore.open(db) as other:  # another open (a restart) leaves a live one alone
        assert other.message(reply.id).content == "la la and more"
        assert other.message(reply.id).state == "streaming"
    result = GenerationResult(request_id=2, text=" and more.", stop_reason=StopReason.EOS,
                              prompt_tokens=9, prompt_eval_tokens=1, prompt_eval_s=0.01,
                              generated_tokens=3, generation_s=0.1, ttft_s=0.01, total_s=0.11,
                              dropped_turns=0, context_used=12, context_length=2048)
    finished = recorder.finish(result)
    assert finished.id == reply.id and finished.content == "la la and more."
    assert finished.state == "complete" and finished.stop_reason == "eos"
    thread = store.thread(conversation.id)
    assert texts(thread) == ["sing", "la la and more."]
    assert thread[-1].sibling_count == 1
    with pytest.raises(NotFoundError):
        store.resume_answer(user.id)  # only an answer can be continued


def test_a_version_2_history_gains_token_traces_and_keeps_its_chats(db, monkeypatch):
    """Migration 4 (issue 14): message_tokens, so the token view works on old answers;
    an answer from before it simply has no trace."""
    monkeypatch.setattr("chatdesk.core.history.store.MIGRATIONS",
                        history_schema.MIGRATIONS[:2])
    monkeypatch.setattr("chatdesk.core.history.store.SCHEMA_VERSION", 2)
    with HistoryStore.open(db) as old:
        conversation = old.create_conversation("Before the upgrade").id
        question = old.add_message(conversation, "user", "hi")
        answer = old.begin_answer(conversation, question.id, model="m.gguf", sampling={})
        old.finish_answer(answer.id, content="Hello", state="complete", stop_reason="eos",
                          stats={})
    monkeypatch.undo()
    with HistoryStore.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4
        assert store.message(answer.id).content == "Hello"
        assert store.token_trace(answer.id) is None
        trace = TokenTrace((TokenRecord(9, "Hel", -0.25, (TokenAlternative(9, "Hel", -0.25),
                                                          TokenAlternative(4, "Hi", -1.5))),
                            TokenRecord(3, "lo", -0.01)), seed=7, prompt_tokens=12)
        store.set_token_trace(answer.id, trace)
        assert store.token_trace(answer.id) == trace
        store.delete_message(answer.id)  # the trace goes with its message
        assert store._conn.execute("SELECT count(*) FROM message_tokens").fetchone()[0] == 0
        with pytest.raises(NotFoundError):
            store.set_token_trace(answer.id, trace)


def test_a_damaged_token_trace_reads_as_none(store):
    conversation = store.create_conversation("c").id
    question = store.add_message(conversation, "user", "hi")
    answer = store.begin_answer(conversation, question.id, model="m.gguf", sampling={})
    with store.transaction():
        store._conn.execute("INSERT INTO message_tokens VALUES (?, ?)",
                            (answer.id, '{"tokens": [[1, "a"]]}'))
    assert store.token_trace(answer.id) is None


def test_a_continued_answer_keeps_one_token_trace_for_its_whole_text(store):
    """The token view reads a continued answer's trace against its whole text: the earlier
    part's tokens, then the new ones. Without an earlier trace, none is kept (half an
    answer's tokens would not line up with its text)."""
    from chatdesk.core.conversation import AnswerRecorder

    conversation = store.create_conversation()
    user, reply = chat(store, conversation, "count", "one two")
    stopped = store.finish_answer(reply.id, content="one two", state="complete",
                                  stop_reason="length", stats={})
    earlier = TokenTrace((TokenRecord(1, "one", -0.1), TokenRecord(2, " two", -0.2)), seed=3,
                         prompt_tokens=5)
    store.set_token_trace(reply.id, earlier)

    def finish(recorder: AnswerRecorder, text: str, trace: TokenTrace) -> None:
        recorder.finish(GenerationResult(
            request_id=2, text=text, stop_reason=StopReason.EOS, prompt_tokens=8,
            prompt_eval_tokens=1, prompt_eval_s=0.01, generated_tokens=len(trace.tokens),
            generation_s=0.1, ttft_s=0.01, total_s=0.11, dropped_turns=0, context_used=10,
            context_length=2048, trace=trace))

    later = TokenTrace((TokenRecord(3, " three", -0.3),), seed=9, prompt_tokens=8)
    finish(AnswerRecorder(store, conversation.id, user.id, model="m.gguf",
                          sampling=SamplingParams(), continuing=stopped), " three", later)
    whole = store.token_trace(reply.id)
    assert whole is not None and whole.text() == "one two three" == store.message(
        reply.id).content
    assert whole.seed == 3 and whole.extra["continued_at"] == 2

    with store.transaction():  # as an answer from before traces were kept
        store._conn.execute("DELETE FROM message_tokens WHERE message_id = ?", (reply.id,))
    again = store.finish_answer(reply.id, content="one two three", state="complete",
                                stop_reason="length", stats={})
    finish(AnswerRecorder(store, conversation.id, user.id, model="m.gguf",
                          sampling=SamplingParams(), continuing=again), " four", later)
    assert store.message(reply.id).content == "one two three four"
    assert store.token_trace(reply.id) is None
