"""The engine thread with the real engine: load, stream, stop, shut down (pytest-qt)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QThread, Slot
from real_model import CAPITAL_QUESTION, COUNTING_PROMPT, greedy

from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    LoadProgress,
    ModelInfo,
    StopReason,
    TokenChunk,
)
from chatdesk.worker import EngineHost

pytestmark = pytest.mark.integration

WAIT_MS = 60_000  # generous: a loaded machine must not fail on time


class Recorder(QObject):
    """Lives in the GUI thread, as the main window does: the worker's signals reach it
    queued, in the order they were sent."""

    def __init__(self, host: EngineHost) -> None:
        super().__init__()
        self.host = host
        self.progress: list[LoadProgress] = []
        self.loaded: list[ModelInfo] = []
        self.chunks: list[TokenChunk] = []
        self.results: list[GenerationResult] = []
        self.chunks_before_result: list[int] = []
        self.errors: list[ErrorEvent] = []
        self.idle = 0
        self.stop_at_tokens: int | None = None
        self.wrong_thread = 0
        worker = host.worker
        worker.progress.connect(self.on_progress)
        worker.loaded.connect(self.on_loaded)
        worker.text.connect(self.on_text)
        worker.done.connect(self.on_done)
        worker.answer_failed.connect(self.on_failed)
        worker.load_failed.connect(self.on_failed)
        worker.idle.connect(self.on_idle)

    def _check_thread(self) -> None:
        if QThread.currentThread() is not self.thread():
            self.wrong_thread += 1

    @Slot(object)
    def on_progress(self, progress: LoadProgress) -> None:
        self._check_thread()
        self.progress.append(progress)

    @Slot(object)
    def on_loaded(self, info: ModelInfo) -> None:
        self._check_thread()
        self.loaded.append(info)

    @Slot(object)
    def on_text(self, chunk: TokenChunk) -> None:
        self._check_thread()
        self.chunks.append(chunk)
        if self.stop_at_tokens is not None and chunk.tokens_so_far >= self.stop_at_tokens:
            self.host.stop()  # from the GUI thread, while the engine thread generates

    @Slot(object)
    def on_done(self, done: AnswerDone) -> None:
        self._check_thread()
        self.results.append(done.result)
        self.chunks_before_result.append(len(self.chunks))

    @Slot(object)
    def on_failed(self, error: ErrorEvent) -> None:
        self._check_thread()
        self.errors.append(error)

    @Slot()
    def on_idle(self) -> None:
        self._check_thread()
        self.idle += 1

    def chunks_of(self, request_id: int) -> list[TokenChunk]:
        return [c for c in self.chunks if c.request_id == request_id]

    def text(self, request_id: int) -> str:
        return "".join(c.text for c in self.chunks_of(request_id))


@pytest.fixture
def host(qtbot, tmp_path: Path) -> Iterator[EngineHost]:
    engine = LlamaEngine()
    host = EngineHost(engine, tmp_path / "models")
    try:
        yield host
    finally:
        ended = host.shutdown()
        assert ended and not host.is_running()
        assert engine.info is None  # the model was closed on the engine thread


def _wait_idle(qtbot, seen: Recorder, count: int) -> None:
    qtbot.waitUntil(lambda: seen.idle >= count, timeout=WAIT_MS)


def test_worker_loads_streams_stops_and_shuts_down(qtbot, host: EngineHost, model_path: Path):
    seen = Recorder(host)

    host.load(str(model_path), LoadOptions(context_length=1024))
    _wait_idle(qtbot, seen, 1)
    assert not seen.errors
    [info] = seen.loaded
    assert info.context_length == 1024 and info.architecture == "gemma3"
    assert info.chat_template_name == "transcript"
    assert seen.progress and seen.progress[-1] == LoadProgress("Ready", 1.0)

    # An answer: chunks, then one finished result whose text they add up to.
    first_id = host.generate([ChatMessage("user", CAPITAL_QUESTION)], greedy(max_tokens=24))
    _wait_idle(qtbot, seen, 2)
    [result] = seen.results
    assert result.request_id == first_id
    assert "Paris" in result.text
    chunks = seen.chunks_of(first_id)
    assert len(chunks) >= 2
    # Every chunk arrived before the result (one queue, in order), and they add up to it.
    assert seen.chunks_before_result == [len(chunks)]
    assert seen.text(first_id) == result.text
    assert [c.tokens_so_far for c in chunks] == sorted(c.tokens_so_far for c in chunks)
    assert chunks[0].elapsed_s == 0.0
    assert all(b.elapsed_s >= a.elapsed_s for a, b in itertools.pairwise(chunks))

    # Stop from the GUI thread while the engine thread is busy generating.
    seen.stop_at_tokens = 10
    second_id = host.generate([ChatMessage("user", COUNTING_PROMPT)],
                              greedy(max_tokens=100_000, ignore_eos=True))
    _wait_idle(qtbot, seen, 3)
    seen.stop_at_tokens = None
    stopped = seen.results[-1]
    assert stopped.request_id == second_id != first_id
    assert stopped.stop_reason is StopReason.USER_STOP
    assert 10 <= stopped.generated_tokens < 1000
    print(f"\nstopped after {stopped.generated_tokens} tokens (asked at 10, from the GUI thread)")
    assert stopped.text.strip()
    assert seen.text(second_id) == stopped.text

    # The stop flag is cleared by the next request: it answers in full.
    third_id = host.generate([ChatMessage("user", CAPITAL_QUESTION)], greedy(max_tokens=24))
    _wait_idle(qtbot, seen, 4)
    again = seen.results[-1]
    assert again.request_id == third_id
    assert again.stop_reason is not StopReason.USER_STOP
    assert "Paris" in again.text
    assert not seen.errors
    assert seen.wrong_thread == 0

    assert host.shutdown() is True
    assert not host.is_running()
    assert not host.thread.isRunning()


def test_worker_reports_a_bad_file_as_an_error_event(qtbot, host: EngineHost, tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    seen = Recorder(host)
    load_id = host.load(str(bad), LoadOptions(context_length=1024))
    _wait_idle(qtbot, seen, 1)
    [error] = seen.errors
    assert error.request_id == load_id
    assert error.title == "The model could not be loaded"
    assert "not a GGUF" in error.message
    assert seen.loaded == []
    assert host.is_running()  # the engine thread survives and can be used again
