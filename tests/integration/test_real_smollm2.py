"""SmolLM2 135M Instruct, the default offline model: the chat-template path on a real model.

Its GGUF carries a ChatML template; the engine renders it in the sandbox, and the model
ends its turn with <|im_end|>, an end-of-generation token: it stops on its own.
"""

from __future__ import annotations

import pytest
from real_model import greedy

from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

SEA = "Write three sentences about the sea."


def test_its_own_gguf_template_is_used(smollm2_engine: LlamaEngine):
    info = smollm2_engine.info
    assert info is not None
    assert info.chat_template_name == "gguf"
    assert info.chat_template_source == "from the model file"
    assert info.architecture == "llama"
    assert "<|im_start|>" in smollm2_engine.template.jinja


def test_the_first_question_gets_a_short_answer_that_stops_by_itself(
        smollm2_engine: LlamaEngine):
    smollm2_engine.reset_cache()
    result = smollm2_engine.chat([ChatMessage("user", SEA)], greedy(max_tokens=256),
                                 StopFlag())
    print(f"\nanswer ({result.generated_tokens} tokens): {result.text!r}")
    assert result.stop_reason is StopReason.EOS
    assert result.generated_tokens < 128  # far from the limit: it ended its turn
    assert "sea" in result.text.lower()
    assert result.text.count(".") >= 2
    for marker in ("<|im_end|>", "<|im_start|>", "assistant\n", "User:"):
        assert marker not in result.text


def test_it_follows_a_system_prompt_and_stops(smollm2_engine: LlamaEngine):
    smollm2_engine.reset_cache()
    result = smollm2_engine.chat(
        [ChatMessage("system", "Answer with a list of words, nothing else."),
         ChatMessage("user", "Name three primary colors.")], greedy(max_tokens=64),
        StopFlag())
    print(f"\nanswer: {result.text!r}")
    assert result.stop_reason is StopReason.EOS
    text = result.text.lower()
    assert sum(colour in text for colour in ("red", "blue", "yellow")) >= 2
