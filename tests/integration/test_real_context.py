"""The KV cache across turns, and conversations that outgrow a small context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from real_model import COUNTING_PROMPT, greedy

from chatdesk.core.engine import LlamaEngine, LoadOptions, PromptTooLongError
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

QUESTIONS = (
    "What is the capital of France?", "Name a large river in Europe.",
    "What is two plus three?", "Which planet is closest to the sun?",
    "What colour is the sky on a clear day?", "How many days are in a week?",
)


@pytest.mark.parametrize("engine_fixture", ["engine", "smollm2_engine"])
def test_each_turn_evaluates_only_its_new_tokens(engine_fixture: str,
                                                 request: pytest.FixtureRequest,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Gemma (transcript template, sliding-window attention) and SmolLM2 (its own ChatML
    template): each turn reuses the KV cache of the conversation so far."""
    engine: LlamaEngine = request.getfixturevalue(engine_fixture)
    # Count what llama.cpp is really asked to evaluate, not only what the engine reports.
    llama = engine._llama
    evaluated: list[int] = []
    original_eval = llama.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return original_eval(tokens)

    monkeypatch.setattr(llama, "eval", counting_eval)
    engine.reset_cache()
    conversation: list[ChatMessage] = []
    rows = []
    for turn, question in enumerate(QUESTIONS, start=1):
        conversation.append(ChatMessage("user", question))
        evaluated.clear()
        result = engine.chat(conversation, greedy(max_tokens=24), StopFlag())
        assert evaluated[0] == result.prompt_eval_tokens  # the first eval is the prompt
        conversation.append(ChatMessage("assistant", result.text))
        rows.append((turn, result.prompt_tokens, result.prompt_eval_tokens, result.text))
        assert result.dropped_turns == 0
        if turn == 1:
            assert result.prompt_eval_tokens == result.prompt_tokens
        else:
            # Only the new question (and the end of the last answer) is evaluated.
            assert result.prompt_eval_tokens < 0.5 * result.prompt_tokens
            assert result.prompt_eval_tokens < 60
    print("\nturn  prompt  evaluated  answer")
    for turn, prompt, evaluated, text in rows:
        print(f"{turn:>4}  {prompt:>6}  {evaluated:>9}  {text!r}")
    assert rows[-1][1] > 3 * rows[0][1]  # the conversation really grew


# -- a small context --------------------------------------------------------------------
SMALL_CONTEXT = 256
SYSTEM = "You are Zorblax, a terse assistant from the planet Quux."


@pytest.fixture(scope="module")
def small_engine(model_path: Path) -> Iterator[LlamaEngine]:
    small = LlamaEngine()
    small.load(model_path, LoadOptions(context_length=SMALL_CONTEXT))
    assert small.info is not None and small.info.context_length == SMALL_CONTEXT
    yield small
    small.close()


def _long_conversation() -> list[ChatMessage]:
    messages = [ChatMessage("system", SYSTEM)]
    for i in range(8):
        messages.append(ChatMessage(
            "user", f"Question {i}: tell me everything you know about the history of "
                    f"bridge number {i}, its builders, its stones and its river."))
        messages.append(ChatMessage(
            "assistant", f"Bridge number {i} was built long ago by many workers who carried "
                         "heavy stones across the wide river for years and years."))
    messages.append(ChatMessage("user", "What is the capital of France?"))
    return messages


def test_old_turns_are_dropped_but_the_system_message_stays(small_engine: LlamaEngine):
    messages = _long_conversation()
    max_tokens = 32
    full = small_engine._tokenize(messages)
    assert len(full) > SMALL_CONTEXT  # it really does not fit

    result = small_engine.chat(messages, greedy(max_tokens=max_tokens), StopFlag())
    print(f"\n{result.dropped_turns} messages dropped; answer {result.text!r}")
    assert result.dropped_turns > 0
    assert result.generated_tokens > 0
    assert result.text.strip()
    assert result.context_used <= SMALL_CONTEXT
    assert result.prompt_tokens <= SMALL_CONTEXT - 16

    tokens, dropped = small_engine.fit_to_context(messages, max_tokens)
    assert dropped == result.dropped_turns
    assert len(tokens) == result.prompt_tokens
    prompt = small_engine._llama.detokenize(tokens).decode("utf-8")
    assert prompt.lstrip().startswith(SYSTEM), prompt[:200]
    assert "Question 0:" not in prompt  # the oldest turn went first
    assert prompt.rstrip().endswith("User: What is the capital of France?\nAssistant:")
    # What is kept starts at a user turn, right after the system message.
    assert prompt.lstrip()[len(SYSTEM):].lstrip().startswith("User: ")


def test_a_single_message_longer_than_the_context_is_refused(small_engine: LlamaEngine):
    message = "Tell me a story about the sea. " * 60  # ~480 tokens
    pieces: list[str] = []
    with pytest.raises(PromptTooLongError) as caught:
        small_engine.chat([ChatMessage("system", SYSTEM), ChatMessage("user", message)],
                          greedy(max_tokens=16), StopFlag(), lambda p, _n, _ctx: pieces.append(p))
    text = str(caught.value)
    print(f"\n{caught.value.title}: {text}")
    assert pieces == []
    assert f"{SMALL_CONTEXT}" in text and "tokens" in text
    assert "Shorten the message" in text
    assert caught.value.title == "The message is too long"
    # The engine is still fine afterwards.
    ok = small_engine.chat([ChatMessage("user", "What is the capital of France?")],
                           greedy(max_tokens=16), StopFlag())
    assert "Paris" in ok.text


def test_an_answer_that_fills_the_context_ends_with_context_full(small_engine: LlamaEngine):
    pieces: list[str] = []
    small_engine.reset_cache()
    result = small_engine.chat([ChatMessage("user", COUNTING_PROMPT)],
                               greedy(max_tokens=10_000, ignore_eos=True), StopFlag(),
                               lambda p, _n, _ctx: pieces.append(p))
    print(f"\ncontext full after {result.generated_tokens} tokens: "
          f"{result.context_used}/{result.context_length}")
    assert result.stop_reason is StopReason.CONTEXT_FULL
    assert result.context_length == SMALL_CONTEXT
    assert SMALL_CONTEXT - 2 <= result.context_used < SMALL_CONTEXT
    assert result.prompt_tokens + result.generated_tokens >= SMALL_CONTEXT - 1
    assert result.text == "".join(pieces) and result.text.strip()
    # The engine recovers: the next answer fits again.
    ok = small_engine.chat([ChatMessage("user", "What is the capital of France?")],
                           greedy(max_tokens=16), StopFlag())
    assert "Paris" in ok.text
