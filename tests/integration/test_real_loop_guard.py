"""The loop guard on real models: a real loop is stopped, legitimate repetition is not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from loop_texts import LEGITIMATE, LOOPS
from real_model import CONTEXT, greedy

from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage, GenerationResult, StopReason
from chatdesk.core.history import HistoryStore
from chatdesk.core.loop_guard import LoopGuard
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings
from chatdesk.core.settings_store import SettingsStore
from chatdesk.core.stop_flag import StopFlag
from chatdesk.session import ChatSession, SessionState
from chatdesk.worker import EngineHost

pytestmark = pytest.mark.integration

SEA = [ChatMessage("user", "Write three sentences about the sea.")]
# Gemma 3 270M base, the app's default sampling, this seed: after a line of preamble it
# writes "<b>Task:</b>" blocks of three numbered lines, two variants alternating, over and
# over (a span of about 150 tokens) until the token limit.
LOOPING_SEED = 5
LIMIT = 1024


def test_a_real_loop_is_stopped_long_before_the_token_limit(engine: LlamaEngine):
    params = SamplingParams(seed=LOOPING_SEED, max_tokens=LIMIT)  # the default sampling
    engine.reset_cache()
    guarded = engine.chat(SEA, params, StopFlag())
    print(f"\nstopped after {guarded.generated_tokens} of {LIMIT} tokens "
          f"({guarded.stop_reason.value}):\n{guarded.text}")
    assert guarded.stop_reason is StopReason.REPETITION
    assert guarded.generated_tokens <= LIMIT // 2
    assert guarded.text.count("Task:") >= 3

    # Without the guard the same seed goes on past that point (48 more tokens here, to save
    # time) repeating what it already wrote: the guard stopped a loop, not an answer.
    engine.reset_cache()
    unguarded = engine.chat(
        SEA, dataclasses.replace(params, max_tokens=guarded.generated_tokens + 48),
        StopFlag(), loop_guard=False)
    assert unguarded.stop_reason is StopReason.LENGTH
    assert unguarded.text.startswith(guarded.text)
    more = unguarded.text[len(guarded.text):].strip()
    assert len(more) > 40 and more[:40] in guarded.text


@pytest.mark.parametrize("engine_fixture", ["engine", "smollm2_engine"])
def test_legitimate_repetition_does_not_fire_with_real_tokenizers(
        engine_fixture: str, request: pytest.FixtureRequest):
    """The table, the list, the code and the poem, as each model's tokenizer cuts them."""
    engine: LlamaEngine = request.getfixturevalue(engine_fixture)

    def fires(text: str) -> bool:
        guard = LoopGuard()
        tokens = engine._llama.tokenize(text.encode(), add_bos=False, special=False)
        return any(guard.feed(token) for token in tokens)

    for name, text in LEGITIMATE.items():
        assert not fires(text), name
    for name, text in LOOPS.items():
        assert fires(text), name


@pytest.mark.parametrize(("question", "words"), [
    ("Make a Markdown table of the days of the week with a column for the weather.",
     "Monday, Monday,"),
    ("Write a short song with a chorus that repeats.", "a chorus of a song"),
])
def test_the_default_chat_model_looping_greedily_is_stopped(smollm2_engine: LlamaEngine,
                                                            question: str, words: str):
    """SmolLM2 135M is small: greedy, these two prompts send it into a loop at once."""
    smollm2_engine.reset_cache()
    result = smollm2_engine.chat([ChatMessage("user", question)], greedy(max_tokens=400),
                                 StopFlag())
    print(f"\n{result.stop_reason.value} after {result.generated_tokens} tokens: "
          f"{result.text!r}")
    assert result.stop_reason is StopReason.REPETITION
    assert result.generated_tokens < 400 // 3
    assert result.text.count(words) >= 3


@pytest.mark.parametrize("question", [
    "List the steps to brew tea, numbered Step 1, Step 2, and so on.",
    "Write Python code that prints the numbers 1 to 10, one print call per line.",
    "Write a short song with a chorus that repeats.",
])
def test_structured_answers_are_not_cut(smollm2_engine: LlamaEngine, question: str):
    """Numbered steps, code with similar lines, a song: with the default sampling (this
    seed) the default chat model writes them without looping, and the guard stays quiet."""
    smollm2_engine.reset_cache()
    result = smollm2_engine.chat([ChatMessage("user", question)],
                                 SamplingParams(seed=1, max_tokens=400), StopFlag())
    print(f"\n{result.stop_reason.value}, {result.generated_tokens} tokens:\n{result.text}")
    assert result.stop_reason in (StopReason.EOS, StopReason.LENGTH)
    assert result.generated_tokens > 40


def test_continue_anyway_writes_on_in_the_same_answer_without_the_guard(
        qtbot, model_path: Path, tmp_path: Path):
    """The window's path: the pinned loop is stopped, then "continue anyway" continues the
    same stored answer with the guard off, so it runs on (repeating) to the token limit,
    past the point where a guarded answer would have been stopped again."""
    host = EngineHost(LlamaEngine(), model_path.parent)
    history = HistoryStore.open(tmp_path / "history.sqlite3")
    store = SettingsStore(tmp_path / "settings.json", Settings(context_length=CONTEXT))
    session = ChatSession(host, history, store, None, model_path.parent)
    done: list[GenerationResult] = []
    session.answer_done.connect(lambda finished: done.append(finished.result))
    try:
        session.load_model(str(model_path))
        qtbot.waitUntil(lambda: session.state is SessionState.IDLE, timeout=120_000)
        session.set_sampling(SamplingParams(seed=LOOPING_SEED, max_tokens=LIMIT))
        assert session.send(SEA[0].content)
        qtbot.waitUntil(lambda: len(done) == 1, timeout=300_000)
        assert done[0].stop_reason is StopReason.REPETITION
        stopped = session.thread[-1]

        more = 400  # more than a guarded answer gets before the loop is caught again
        session.set_sampling(SamplingParams(seed=LOOPING_SEED, max_tokens=more))
        assert session.continue_answer(stopped.id)
        qtbot.waitUntil(lambda: len(done) == 2, timeout=300_000)
    finally:
        session.close()
        assert host.shutdown(60_000)
    rest = done[1]
    print(f"\nstopped after {done[0].generated_tokens} tokens; continued with "
          f"{rest.generated_tokens} more ({rest.stop_reason.value}, "
          f"{rest.prompt_eval_tokens} of {rest.prompt_tokens} prompt tokens evaluated)")
    assert rest.stop_reason is StopReason.LENGTH and rest.generated_tokens == more
    thread = history.thread(session.conversation_id)
    history.close()
    assert [m.role for m in thread] == ["user", "assistant"]
    answer = thread[-1]
    assert answer.id == stopped.id and answer.sibling_count == 1
    assert answer.content == stopped.content + rest.text
    assert answer.stop_reason == "length" and answer.state == "complete"
    assert rest.text.strip()[:40] in stopped.content  # it went on with the same loop
    assert rest.prompt_eval_tokens <= 2  # the cache still held the stopped answer
