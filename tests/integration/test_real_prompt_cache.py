"""The prompt cache with the real model: a restored state answers exactly as if the model
had never been closed; anything that changes the fingerprint invalidates it; a damaged
file costs only speed; save and restore run on the engine thread; the context meter
counts what is really sent."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from real_model import CONTEXT, greedy

from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.core.events import ChatMessage, GenerationResult
from chatdesk.core.history import HistoryStore
from chatdesk.core.prompt_cache import MAGIC, PromptCache
from chatdesk.core.settings import Settings
from chatdesk.core.settings_store import SettingsStore
from chatdesk.core.stop_flag import StopFlag
from chatdesk.session import ChatSession, ContextCount, SessionState
from chatdesk.worker import EngineHost

pytestmark = pytest.mark.integration

SYSTEM = ChatMessage("system", "You answer in one short sentence.")
STORY = ("The lighthouse keeper walked up the spiral stairs every evening to light the "
         "lamp, and every morning he wrote the weather in a small blue book. ")
TURN_1 = [SYSTEM, ChatMessage("user", STORY * 12 + "What did the keeper write?")]
PARAMS = greedy(max_tokens=12)
OPTIONS = LoadOptions(context_length=CONTEXT)


def turn_2(first: GenerationResult) -> list[ChatMessage]:
    return [*TURN_1, ChatMessage("assistant", first.text),
            ChatMessage("user", "And what did he do every evening?")]


def answer(engine: LlamaEngine, messages: list[ChatMessage],
           key: str | None = None) -> GenerationResult:
    engine.use_conversation(key, messages)
    return engine.chat(messages, PARAMS, StopFlag())


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "prompt-cache"


@pytest.fixture
def open_engine(model_path: Path, cache_dir: Path) -> Iterator:
    """Loads engines on a fresh cache object over ``cache_dir`` (memory empty, as after a
    restart); closes what is left open."""
    made: list[LlamaEngine] = []

    def load(options: LoadOptions = OPTIONS,
             path: Path = model_path) -> LlamaEngine:
        engine = LlamaEngine(PromptCache(cache_dir))
        engine.load(path, options)
        made.append(engine)
        return engine

    yield load
    for engine in made:
        engine.close()


@pytest.fixture
def saved_turn_1(open_engine) -> GenerationResult:
    """Conversation "1" answered once, then the model closed (as the app quits)."""
    engine = open_engine()
    first = answer(engine, TURN_1, "1")
    engine.close()
    return first


def test_a_restored_state_answers_as_if_the_model_was_never_closed(open_engine, saved_turn_1):
    never_closed = open_engine()
    first = answer(never_closed, TURN_1)
    assert first.text == saved_turn_1.text
    expected = never_closed.chat(turn_2(first), PARAMS, StopFlag())
    never_closed.close()

    reopened = open_engine()
    restored = reopened.use_conversation("1", turn_2(first))
    assert restored > first.prompt_tokens  # the question and the first answer
    result = reopened.chat(turn_2(first), PARAMS, StopFlag())
    assert result.text == expected.text and result.generated_tokens == expected.generated_tokens
    assert result.prompt_tokens == expected.prompt_tokens
    assert result.prompt_eval_tokens == expected.prompt_eval_tokens  # only the new turn
    assert result.prompt_eval_tokens < result.prompt_tokens // 4


def test_switching_back_restores_from_memory(open_engine, cache_dir: Path):
    engine = open_engine()
    first = answer(engine, TURN_1, "a")
    answer(engine, [ChatMessage("user", "Name three colours.")], "b")
    for path in cache_dir.iterdir():
        path.unlink()  # only memory can serve it now
    back = answer(engine, turn_2(first), "a")
    assert back.prompt_eval_tokens < back.prompt_tokens // 4


@pytest.mark.parametrize("change", ["system_prompt", "template", "context", "model_file"])
def test_a_changed_fingerprint_invalidates_the_state(open_engine, saved_turn_1, change: str,
                                                     model_path: Path, tmp_path: Path):
    messages = turn_2(saved_turn_1)
    same = open_engine()
    assert same.use_conversation("1", messages) > 0  # the control: unchanged, it restores
    same.close()
    options, path = OPTIONS, model_path
    if change == "system_prompt":
        messages = [ChatMessage("system", "You answer at length."), *messages[1:]]
    elif change == "template":
        options = LoadOptions(context_length=CONTEXT, template_hint="chatml")
    elif change == "context":
        options = LoadOptions(context_length=CONTEXT // 2)
    else:
        path = tmp_path / "renamed.gguf"
        os.link(model_path, path)  # the same bytes under another name: another model file
    engine = open_engine(options, path)
    assert engine.use_conversation("1", messages) == 0
    result = engine.chat(messages, PARAMS, StopFlag())
    assert result.text and result.prompt_eval_tokens == result.prompt_tokens


def _damaged(raw: bytes, how: str) -> bytes:
    if how == "flipped":
        return raw[:-50] + bytes([raw[-50] ^ 0xFF]) + raw[-49:]
    if how == "truncated":
        return raw[: len(raw) // 2]
    if how == "foreign":
        return b"GGUF" + os.urandom(4096)
    # A file whose checksum and fingerprint are right but whose payload llama.cpp refuses.
    header = struct.Struct("<8sI64sIQI")
    _magic, version, fp, n_tokens, _n_data, _crc = header.unpack(raw[:header.size])
    tokens = raw[header.size:header.size + 4 * n_tokens]
    payload = os.urandom(1000)
    crc = zlib.crc32(payload, zlib.crc32(tokens))
    return header.pack(MAGIC, version, fp, n_tokens, len(payload), crc) + tokens + payload


def test_a_damaged_state_is_ignored_and_the_conversation_answers(open_engine, saved_turn_1,
                                                                  cache_dir: Path, caplog):
    good = (cache_dir / "1.kvstate").read_bytes()
    messages = turn_2(saved_turn_1)
    engine = open_engine()
    for how in ("flipped", "truncated", "foreign", "refused"):
        (cache_dir / f"{how}.kvstate").write_bytes(_damaged(good, how))
        caplog.clear()
        assert engine.use_conversation(how, messages) == 0, how
        assert "ignored" in caplog.text, how
        engine.reset_cache()
        result = engine.chat(messages, PARAMS, StopFlag())
        assert result.text, how
        assert result.prompt_eval_tokens == result.prompt_tokens, how  # evaluated normally


def test_save_and_restore_refuse_another_thread(open_engine):
    engine = open_engine()
    answer(engine, TURN_1, "1")
    errors: list[BaseException] = []

    def elsewhere() -> None:
        for call in (lambda: engine.save_state(), engine.restore_state,
                     lambda: engine.use_conversation("2", TURN_1)):
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(errors) == 3 and all("engine thread" in str(e) for e in errors)


class ThreadCheckingEngine(LlamaEngine):
    """Records, for every save and restore, whether it ran on the engine's QThread."""

    def __init__(self, cache: PromptCache) -> None:
        super().__init__(cache)
        self.engine_thread: QThread | None = None
        self.calls: list[tuple[str, bool]] = []

    def _record(self, name: str) -> None:
        self.calls.append((name, QThread.currentThread() is self.engine_thread))

    def save_state(self, key: str | None = None) -> bool:
        self._record("save")
        return super().save_state(key)

    def restore_state(self) -> int:
        self._record("restore")
        return super().restore_state()


def test_the_app_saves_and_restores_on_the_engine_thread_and_counts_what_it_sends(
        qtbot, model_path: Path, tmp_path: Path):
    engine = ThreadCheckingEngine(PromptCache(tmp_path / "prompt-cache"))
    host = EngineHost(engine, model_path.parent)
    engine.engine_thread = host.thread
    history = HistoryStore.open(tmp_path / "history.sqlite3")
    store = SettingsStore(tmp_path / "settings.json",
                          Settings(context_length=CONTEXT, system_prompt="Be brief."))
    session = ChatSession(host, history, store, None, model_path.parent)
    results: list[GenerationResult] = []
    counts: list[ContextCount] = []
    session.answer_done.connect(lambda done: results.append(done.result))
    session.context_counted.connect(counts.append)
    try:
        session.load_model(str(model_path))
        qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=60_000)
        session.set_sampling(greedy(max_tokens=8))
        assert session.send("What is the capital of France?")
        qtbot.waitUntil(lambda: len(results) == 1, timeout=60_000)
        first = session.conversation_id

        draft = "And the capital of Italy? Answer with one word."
        session.count_context(draft)
        qtbot.waitUntil(lambda: bool(counts), timeout=60_000)
        assert session.send(draft)
        qtbot.waitUntil(lambda: len(results) == 2, timeout=60_000)
        assert counts[0].count.prompt_tokens == results[1].prompt_tokens  # what was sent
        assert counts[0].count.context_length == CONTEXT
        assert counts[0].dropped == ()

        session.new_chat()  # leaving saves conversation 1
        assert session.send("Name a colour.")
        qtbot.waitUntil(lambda: len(results) == 3, timeout=60_000)
        second = session.conversation_id
        assert first is not None and session.open_conversation(first)
        assert session.send("And of Spain?")  # conversation 1 is restored first
        qtbot.waitUntil(lambda: len(results) == 4, timeout=60_000)
        assert results[3].prompt_eval_tokens < results[3].prompt_tokens // 2
    finally:
        session.close()
        assert host.shutdown(60_000)  # closing the model saves the state it holds
        history.close()
    names = [name for name, _ in engine.calls]
    assert "save" in names and "restore" in names
    assert all(on_engine_thread for _, on_engine_thread in engine.calls), engine.calls
    assert sorted(p.name for p in (tmp_path / "prompt-cache").iterdir()) == sorted(
        [f"{first}.kvstate", f"{second}.kvstate"])
