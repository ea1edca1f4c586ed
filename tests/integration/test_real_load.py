"""What loading the real model reports, and that reloading frees the previous model."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_model import CAPITAL_QUESTION, CONTEXT, greedy

from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.core.events import ChatMessage
from chatdesk.core.llama_runtime import detect_backend
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration


def test_load_reports_what_the_model_is(engine: LlamaEngine, model_path: Path):
    info = engine.info
    assert info is not None
    assert info.path == str(model_path)
    assert info.architecture == "gemma3"
    assert 260_000_000 <= info.parameters <= 275_000_000  # "270M": 268,098,176 here
    assert info.quantization == "Q4_K_M"
    assert info.trained_context == 32768
    assert info.context_length == CONTEXT
    assert info.backend == detect_backend()
    assert info.backend == "CPU"  # this machine has no GPU
    assert info.gpu_layers_offloaded == 0
    assert info.total_layers == 19  # 18 blocks + the output layer
    assert info.threads >= 1
    assert info.file_size == model_path.stat().st_size
    assert info.chat_template_name == "transcript"
    assert "no chat template" in info.chat_template_source
    assert "transcript" in info.chat_template_source
    assert engine.template is not None and "\nUser:" in engine.template.stop_strings


def test_load_reports_progress_and_honours_options(model_path: Path):
    stages: list[tuple[str, float | None]] = []
    engine = LlamaEngine()
    try:
        info = engine.load(model_path, LoadOptions(context_length=512, threads=1),
                           on_progress=lambda stage, fraction: stages.append((stage, fraction)))
        assert info.context_length == 512
        assert info.threads == 1
        fractions = [f for _, f in stages if f is not None]
        assert fractions == sorted(fractions), "load progress went backwards"
        assert stages[-1] == ("Ready", 1.0)
        assert any(stage == "Loading the model weights" for stage, _ in stages)
    finally:
        engine.close()
    assert engine.info is None


def test_loading_again_closes_the_previous_model(model_path: Path):
    engine = LlamaEngine()
    try:
        first = engine.load(model_path, LoadOptions(context_length=512))
        old_llama = engine._llama
        second = engine.load(model_path, LoadOptions(context_length=1024))
        assert engine.info is second and second is not first
        assert second.context_length == 1024
        assert engine._llama is not old_llama
        # The old model's llama.cpp handles were freed, not left to the garbage collector.
        assert old_llama._model.model is None
        assert old_llama._ctx.ctx is None
        result = engine.chat([ChatMessage("user", CAPITAL_QUESTION)],
                             greedy(max_tokens=16), StopFlag())
        assert "Paris" in result.text
    finally:
        engine.close()
    assert engine.info is None and engine._llama is None
