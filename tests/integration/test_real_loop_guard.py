"""The loop guard on real models: a real loop is stopped, legitimate repetition is not."""

from __future__ import annotations

import dataclasses

import pytest
from loop_texts import LEGITIMATE, LOOPS
from real_model import greedy

from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.loop_guard import LoopGuard
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag

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
