"""The bench's two loops: raw llama.cpp through its C bindings, and the app's engine
thread driven by an event loop that records when each token arrives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot

from chatdesk.core.engine import EngineError, LlamaEngine
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    TokenChunk,
)
from chatdesk.core.sampling import SamplingParams
from chatdesk.worker import EngineHost

T = TypeVar("T")


def raw_tokens_per_s(llama: Any, prompt: list[int], n_tokens: int) -> float:
    """Greedy decode speed of the bare C API: n tokens after the prompt, KV cache cleared."""
    import llama_cpp as lc

    ctx = llama._ctx.ctx
    lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
    sampler = lc.llama_sampler_init_greedy()
    try:
        prompt_array = (lc.llama_token * len(prompt))(*prompt)
        if lc.llama_decode(ctx, lc.llama_batch_get_one(prompt_array, len(prompt))) != 0:
            raise RuntimeError("llama_decode failed on the prompt")
        token = lc.llama_sampler_sample(sampler, ctx, -1)
        first = time.perf_counter()
        one = (lc.llama_token * 1)()
        for _ in range(n_tokens - 1):
            one[0] = token
            if lc.llama_decode(ctx, lc.llama_batch_get_one(one, 1)) != 0:
                raise RuntimeError("llama_decode failed")
            token = lc.llama_sampler_sample(sampler, ctx, -1)
        return (n_tokens - 1) / (time.perf_counter() - first)
    finally:
        lc.llama_sampler_free(sampler)


class BenchDriver(QObject):
    """Sends requests to the engine thread and sleeps in an event loop until it is idle,
    recording when each token arrives. It never polls: a spinning main thread would take
    a core and the GIL away from llama.cpp. Every llama.cpp call (loading, the raw loop,
    clearing the cache) runs on the engine thread through ``on_engine``."""

    def __init__(self, engine: LlamaEngine, models_dir: Path) -> None:
        super().__init__()
        self.host = EngineHost(engine, models_dir)
        worker = self.host.worker
        worker.text.connect(self._text)
        worker.done.connect(self._done)
        worker.answer_failed.connect(self._failed)
        worker.idle.connect(self._idle)
        self.chunks: list[tuple[float, TokenChunk]] = []
        self.result: GenerationResult | None = None
        self.error: str | None = None
        self.idle_at = 0.0
        self.on_chunk: Callable[[TokenChunk], None] | None = None
        self._loop: QEventLoop | None = None

    @Slot(object)
    def _text(self, chunk: TokenChunk) -> None:
        self.chunks.append((time.perf_counter(), chunk))
        if self.on_chunk is not None:
            self.on_chunk(chunk)

    @Slot(object)
    def _done(self, event: AnswerDone) -> None:
        self.result = event.result

    @Slot(object)
    def _failed(self, error: ErrorEvent) -> None:
        self.error = f"{error.title}: {error.message}"

    @Slot()
    def _idle(self) -> None:
        self.idle_at = time.perf_counter()
        if self._loop is not None:
            self._loop.quit()

    def _wait_idle(self, timeout_s: float = 600.0) -> None:
        if self.idle_at == 0.0:
            self._loop = QEventLoop()
            QTimer.singleShot(int(timeout_s * 1000), self._loop.quit)
            self._loop.exec()
            self._loop = None
        if self.idle_at == 0.0:
            raise TimeoutError("the engine thread did not finish in time")
        if self.error:
            raise EngineError(self.error)

    def _reset(self) -> None:
        self.chunks, self.result, self.error, self.idle_at = [], None, None, 0.0

    def on_engine(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the engine thread and return its result (or raise its error)."""
        self._reset()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, job()))
            except Exception as exc:  # re-raised on the calling thread
                outcome.append((False, exc))

        self.host.call(run)
        self._wait_idle()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def chat(self, messages: list[ChatMessage], params: SamplingParams,
             conversation_key: str | None = None) -> tuple[float, GenerationResult]:
        """One answer; returns (seconds from sending to the first token's arrival, result)."""
        self._reset()
        sent = time.perf_counter()
        self.host.generate(messages, params, conversation_key)
        self._wait_idle()
        assert self.result is not None
        ttft = self.chunks[0][0] - sent if self.chunks else float("nan")
        return ttft, self.result

    def alongside(self, work: Callable[[], T]) -> T:
        """Run ``work`` on a helper thread (an API client) while this thread sleeps until
        the engine job it caused has ended; returns its result."""
        self._reset()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, work()))
            except Exception as exc:  # re-raised on the calling thread
                outcome.append((False, exc))

        helper = threading.Thread(target=run, name="bench-api-client")
        helper.start()
        self._wait_idle()
        helper.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def received_tokens_per_s(self) -> float:
        """Decode speed as the main thread saw it: tokens over first to last arrival."""
        (t0, c0), (t1, c1) = self.chunks[0], self.chunks[-1]
        return (c1.tokens_so_far - c0.tokens_so_far) / (t1 - t0)


def raw_prompt_tokens_per_s(llama: Any, prompt: list[int], n_batch: int) -> float:
    """Prompt evaluation of the bare C API: the prompt in ``llama_decode`` calls of
    ``n_batch`` tokens, then the first token sampled (as an answer needs it)."""
    import llama_cpp as lc

    ctx = llama._ctx.ctx
    lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
    sampler = lc.llama_sampler_init_greedy()
    try:
        started = time.perf_counter()
        for start in range(0, len(prompt), n_batch):
            chunk = prompt[start:start + n_batch]
            array = (lc.llama_token * len(chunk))(*chunk)
            if lc.llama_decode(ctx, lc.llama_batch_get_one(array, len(chunk))) != 0:
                raise RuntimeError("llama_decode failed on the prompt")
        lc.llama_sampler_sample(sampler, ctx, -1)
        return len(prompt) / (time.perf_counter() - started)
    finally:
        lc.llama_sampler_free(sampler)
