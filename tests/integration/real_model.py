"""Shared constants and helpers of the integration tests (imported by name, not conftest,
so they never collide with another test folder's conftest module)."""

from __future__ import annotations

import dataclasses

from chatdesk.core.sampling import GREEDY, SamplingParams

CONTEXT = 2048
MODEL_FILENAME = "gemma-3-270m-q4_k_m.gguf"
CAPITAL_QUESTION = "What is the capital of France?"
# A prompt the base model continues for as long as it is allowed to, without ever writing
# the transcript template's stop string ("\nUser:"): long generations and stop tests use it.
COUNTING_PROMPT = "List the numbers from 1 to 1000: 1, 2, 3, 4, 5,"


def greedy(**changes: object) -> SamplingParams:
    """Greedy sampling (temperature 0, fixed seed) with ``changes`` applied."""
    return dataclasses.replace(GREEDY, **changes)
