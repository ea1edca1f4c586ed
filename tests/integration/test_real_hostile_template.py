"""A real GGUF with a hostile chat template: loading is cheap, rendering is bounded, Stop
works while the template renders, and quitting never hangs (issue 18, defect 1).

The model is SmolLM2-135M-Instruct with its ChatML template replaced in place.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from real_model import copy_with_chat_template, greedy, smollm2_path

from chatdesk.core.chat_template import TemplateRefusedError
from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.stop_flag import StopFlag
from chatdesk.worker import EngineHost

pytestmark = pytest.mark.integration

NESTED_LOOPS = "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
HUGE_CONSTANT = "{{ 'a' * 10**9 }}"
QUESTION = [ChatMessage("user", "Hi")]


def _engine(path: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(path, LoadOptions(context_length=512))
    return engine


@pytest.fixture(scope="module")
def looping_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("hostile") / "looping.gguf"
    return copy_with_chat_template(smollm2_path(), target, NESTED_LOOPS)


@pytest.fixture(scope="module")
def looping_engine(looping_model: Path) -> Iterator[LlamaEngine]:
    engine = _engine(looping_model)
    yield engine
    engine.close()


def test_a_template_multiplying_strings_costs_nothing_at_load(tmp_path: Path):
    path = copy_with_chat_template(smollm2_path(), tmp_path / "huge.gguf", HUGE_CONSTANT)
    engine = LlamaEngine()
    # Python's allocations (numpy's included: the logits buffer of 512 x 49152 floats is
    # ~100 MB), not llama.cpp's weights. Before the fix the template alone took 4 GB here.
    tracemalloc.start()
    try:
        info = engine.load(path, LoadOptions(context_length=512))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert info.chat_template_name == "gguf"
        assert peak < 512 << 20, f"loading took {peak / 2**20:.0f} MiB of Python memory"
        with pytest.raises(TemplateRefusedError) as refused:
            engine.chat(QUESTION, greedy(max_tokens=8), StopFlag())
        assert str(refused.value).startswith(f"{info.name}'s chat template was refused: "
                                             "it built an absurdly long")
    finally:
        engine.close()


def test_a_template_that_loops_is_refused_after_its_time_budget(looping_engine: LlamaEngine):
    with pytest.raises(TemplateRefusedError) as refused:
        looping_engine.chat(QUESTION, greedy(max_tokens=8), StopFlag())
    name = looping_engine.info.name
    assert str(refused.value) == f"{name}'s chat template was refused: it ran for more than 2 s."


def test_stop_works_while_the_template_renders(looping_engine: LlamaEngine):
    stop = StopFlag()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        result = looping_engine.chat(QUESTION, greedy(max_tokens=8), stop, request_id=7)
    finally:
        timer.cancel()
    assert result.request_id == 7
    assert result.stop_reason is StopReason.USER_STOP
    assert result.text == "" and result.generated_tokens == 0


def test_quitting_during_a_hostile_render_ends_the_engine_thread(qtbot, looping_model: Path,
                                                                 tmp_path: Path):
    """The app's shutdown path: stop, close, join. Before the fix the thread rendered for
    minutes, the join timed out and Qt aborted ("QThread: Destroyed while running")."""
    host = EngineHost(LlamaEngine(), tmp_path / "models")
    idle: list[bool] = []
    failures: list[object] = []
    host.worker.idle.connect(lambda: idle.append(True))
    host.worker.load_failed.connect(failures.append)
    host.worker.answer_failed.connect(failures.append)
    host.load(str(looping_model), LoadOptions(context_length=512))
    qtbot.waitUntil(lambda: len(idle) == 1, timeout=60_000)
    assert not failures
    host.generate(QUESTION, greedy(max_tokens=8))
    qtbot.wait(300)  # the engine thread is inside the template now
    assert host.shutdown(timeout_ms=20_000) is True
    assert not host.is_running()
