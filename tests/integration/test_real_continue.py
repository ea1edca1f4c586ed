"""Continuing a partial answer ("continue anyway" after a Stop or the loop guard).

Greedy decoding is deterministic, so continuing a greedy answer cut in the middle, right
after it was written (the KV cache still holds it, as when the user clicks "continue"),
must give exactly the rest of the uninterrupted answer: the prompt then ends with the
partial text as the model itself wrote it, with no end of turn after it. From a cold cache
the partial is evaluated as one batch instead of token by token, and llama.cpp's batched
arithmetic may round a near tie the other way: the continuation is then checked for what
it must be (new text only, ended by the model), not for identity.
"""

from __future__ import annotations

import pytest
from real_model import CAPITAL_QUESTION, greedy

from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

CASES = [("smollm2_engine", "Write three sentences about the sea."),  # its GGUF template
         ("engine", CAPITAL_QUESTION)]  # Gemma: the transcript template


@pytest.mark.parametrize(("engine_fixture", "question"), CASES)
@pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "warm-cache"])
def test_continuing_a_greedy_prefix_gives_the_uninterrupted_answer(
        engine_fixture: str, question: str, warm: bool, request: pytest.FixtureRequest):
    engine: LlamaEngine = request.getfixturevalue(engine_fixture)
    asked = [ChatMessage("user", question)]
    engine.reset_cache()
    full = engine.chat(asked, greedy(max_tokens=80), StopFlag())
    assert full.stop_reason in (StopReason.EOS, StopReason.STOP_STRING)
    words = full.text.split(" ")
    assert len(words) >= 4, f"too short an answer to cut: {full.text!r}"
    partial = " ".join(words[:len(words) // 2])  # cut at a word in the middle

    if not warm:
        engine.reset_cache()
    pieces: list[str] = []
    rest = engine.chat([*asked, ChatMessage("assistant", partial)], greedy(max_tokens=80),
                       StopFlag(), lambda piece, _n, _ctx: pieces.append(piece))
    print(f"\npartial: {partial!r}\nrest:    {rest.text!r} ({rest.stop_reason.value}, "
          f"{rest.prompt_eval_tokens} of {rest.prompt_tokens} prompt tokens evaluated)")
    assert rest.text == "".join(pieces)  # only the new text is streamed and returned
    assert rest.text.strip() and not rest.text.strip().startswith(words[0])
    assert rest.stop_reason in (StopReason.EOS, StopReason.STOP_STRING)
    if warm:  # the cache holds the prompt and the answer: only the cut point is evaluated
        assert rest.prompt_eval_tokens <= 2
        assert partial + rest.text == full.text
        assert rest.stop_reason is full.stop_reason
        assert rest.generated_tokens < full.generated_tokens
    else:
        assert rest.prompt_eval_tokens == rest.prompt_tokens
