"""`chatdesk bench`: what the app's pipeline costs over raw llama.cpp, in one run.

* raw: llama.cpp's lowest-level loop through llama-cpp-python's C bindings
  (``llama_decode`` + a greedy ``llama_sampler``) on its own ``Llama`` instance;
* app: the same prompt tokens and greedy settings through LlamaEngine, the worker thread
  and queued Qt signals, timed where an event loop on the main thread receives each token.

* api: the same again through chatdesk's OpenAI-compatible API (chatdesk.api), streamed
  to one client over loopback HTTP, timed where that client receives each chunk.
  ``api_vs_app`` is its decode speed over the app's (target >= 0.95); ``api_stop_ms`` is
  how long the engine took to be free once a streaming client disconnected.

All run on the engine thread (raw through ``EngineHost.call``): llama.cpp's OpenMP
keeps one thread team per calling thread, and two teams on one machine fight for its cores.
The two alternate, so drift on a noisy machine hits both alike, and medians are reported.

Energy: an EnergyMeter (chatdesk.core.energy) measures each app run, after one idle
baseline taken before any decode; ``watts`` is the app runs' joules over their seconds and
``joules_per_token`` their joules over the tokens they generated. ``energy_source`` says
whether that was measured (RAPL, NVML, powermetrics) or estimated.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QTimer, Slot

from chatdesk.api.server import ApiServer, ServeOptions
from chatdesk.core.energy import EnergyMeter, EnergyReport
from chatdesk.core.engine import LlamaEngine, LoadOptions, default_threads
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    TokenChunk,
)
from chatdesk.core.sampling import GREEDY, SamplingParams
from chatdesk.worker import EngineHost

T = TypeVar("T")

BENCH_PROMPT = "Write a long story about a lighthouse keeper and the sea."
BENCH_CONTEXT = 4096
TURN_QUESTIONS = (
    "What is the capital of France?", "Name a large river in Europe.",
    "What is two plus three?", "Which planet is closest to the sun?",
    "What colour is the sky on a clear day?", "Name a musical instrument.",
    "What is the opposite of cold?", "How many days are in a week?",
    "What do bees make?", "What is frozen water called?",
)


@dataclass(frozen=True)
class BenchResult:
    model: str
    backend: str
    threads: int
    tokens: int
    runs: int
    prompt_tokens: int
    raw_tokens_per_s: float
    app_tokens_per_s: float
    app_vs_raw: float
    raw_runs: tuple[float, ...]
    app_runs: tuple[float, ...]
    ttft_first_turn_s: float
    ttft_tenth_turn_s: float
    ttft_ratio: float
    stop_latency_ms: float
    stop_latency_runs_ms: tuple[float, ...]
    llama_cpp_python: str
    energy_source: str  # 'rapl', 'nvml', 'powermetrics' or 'estimate' ('+'-joined if several)
    watts: float  # average over the app runs
    joules_per_token: float  # the app runs' joules / the tokens they generated
    api_tokens_per_s: float  # streamed through the API to one client
    api_vs_app: float
    api_runs: tuple[float, ...]
    api_stop_ms: float  # a streaming client disconnects -> the engine is free


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
            raise RuntimeError(self.error)

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

    def chat(self, messages: list[ChatMessage],
             params: SamplingParams) -> tuple[float, GenerationResult]:
        """One answer; returns (seconds from sending to the first token's arrival, result)."""
        self._reset()
        sent = time.perf_counter()
        self.host.generate(messages, params)
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


def run_bench(model: Path, tokens: int, threads: int, runs: int) -> BenchResult:
    import llama_cpp
    from llama_cpp import Llama

    _app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    engine = LlamaEngine()
    # chatml has no text stop strings, so every run generates exactly `tokens` tokens.
    options = LoadOptions(context_length=BENCH_CONTEXT, threads=threads, template_hint="chatml")
    driver = BenchDriver(engine, model.parent)
    try:
        info = driver.on_engine(lambda: engine.load(model, options))
        raw = driver.on_engine(lambda: Llama(
            model_path=str(model), n_ctx=BENCH_CONTEXT, n_threads=threads,
            n_threads_batch=threads, n_gpu_layers=-1 if info.backend != "CPU" else 0,
            swa_full=True, verbose=False))
    except BaseException:
        driver.host.shutdown()
        raise
    meter = EnergyMeter()
    api = ApiServer(driver.host, ServeOptions(port=0))
    try:
        address = api.start()
        messages = [ChatMessage("user", BENCH_PROMPT)]
        prompt, _ = driver.on_engine(lambda: engine.fit_to_context(messages, tokens))
        params = dataclasses.replace(GREEDY, max_tokens=tokens, ignore_eos=True)
        raw_runs: list[float] = []
        app_runs: list[float] = []
        api_runs: list[float] = []
        api_body = api_request(info.path, BENCH_PROMPT, tokens)
        energy: list[tuple[EnergyReport, int]] = []
        meter.measure_idle()  # before any decode: OpenMP's idle teams spin for a while after
        for _ in range(runs):
            raw_runs.append(driver.on_engine(lambda: raw_tokens_per_s(raw, prompt, tokens)))
            driver.on_engine(engine.reset_cache)
            meter.start()  # the app run only: prompt evaluation and generation
            try:
                _ttft, result = driver.chat(messages, params)
            finally:
                report = meter.stop()
            energy.append((report, result.generated_tokens))
            app_runs.append(driver.received_tokens_per_s())
            driver.on_engine(engine.reset_cache)
            api_runs.append(driver.alongside(lambda: api_tokens_per_s(address, api_body)))
        first, tenth = ten_turn_ttft(driver, engine)
        stops = [stop_latency_ms(driver, engine, messages) for _ in range(5)]
        api_stop = api_stop_ms(driver, api, engine, address, api_body)
    finally:
        api.stop()
        meter.close()
        driver.on_engine(raw.close)
        driver.host.shutdown()
    raw_median, app_median = statistics.median(raw_runs), statistics.median(app_runs)
    api_median = statistics.median(api_runs)
    joules = sum(r.joules for r, _ in energy)
    seconds = sum(r.seconds for r, _ in energy)
    generated = sum(n for _, n in energy)
    return BenchResult(
        model=str(model), backend=info.backend, threads=threads, tokens=tokens, runs=runs,
        prompt_tokens=len(prompt), raw_tokens_per_s=raw_median, app_tokens_per_s=app_median,
        app_vs_raw=app_median / raw_median, raw_runs=tuple(raw_runs), app_runs=tuple(app_runs),
        ttft_first_turn_s=first, ttft_tenth_turn_s=tenth, ttft_ratio=tenth / first,
        stop_latency_ms=statistics.median(stops), stop_latency_runs_ms=tuple(stops),
        llama_cpp_python=llama_cpp.__version__, energy_source=meter.source,
        watts=joules / seconds if seconds > 0 else 0.0,
        joules_per_token=joules / generated if generated else 0.0,
        api_tokens_per_s=api_median, api_vs_app=api_median / app_median,
        api_runs=tuple(api_runs), api_stop_ms=api_stop)


def api_request(model_path: str, prompt: str, tokens: int, **changes: Any) -> dict[str, Any]:
    """The bench's greedy request, as an API client sends it."""
    return {"model": Path(model_path).stem, "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0, "top_k": 1, "top_p": 1.0, "min_p": 0.0,
            "repeat_penalty": 1.0, "max_tokens": tokens, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}, **changes}


def stream_chat(address: str, body: dict[str, Any],
                stop_after_chunks: int | None = None) -> tuple[list[float], dict[str, Any]]:
    """POST a streamed chat request; returns when each content chunk arrived and the usage.
    ``stop_after_chunks``: hang up after that many content chunks (a client leaving)."""
    where = urlsplit(address)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port,
                                            timeout=600)
    arrivals: list[float] = []
    usage: dict[str, Any] = {}
    try:
        connection.request("POST", "/v1/chat/completions", json.dumps(body),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"the API answered {response.status}: {response.read()!r}")
        for line in response:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            event = json.loads(data)
            usage = event.get("usage") or usage
            if any(c["delta"].get("content") for c in event.get("choices", ())):
                arrivals.append(time.perf_counter())
                if stop_after_chunks is not None and len(arrivals) >= stop_after_chunks:
                    break
    finally:
        connection.close()
    return arrivals, usage


def api_tokens_per_s(address: str, body: dict[str, Any]) -> float:
    """Decode speed as a streaming API client sees it, counted as the app's is: the
    tokens after the first over the first to last arrival."""
    arrivals, usage = stream_chat(address, body)
    return (usage["completion_tokens"] - 1) / (arrivals[-1] - arrivals[0])


def api_stop_ms(driver: BenchDriver, api: ApiServer, engine: LlamaEngine, address: str,
                body: dict[str, Any]) -> float:
    """A streaming client hangs up after 16 chunks: from the server noticing to the
    engine being free (the request's own record)."""
    driver.on_engine(engine.reset_cache)
    request = {**body, "max_tokens": 100_000}
    driver.alongside(lambda: stream_chat(address, request, stop_after_chunks=16))
    served = api.queue.served[-1]
    if served.stop_latency_ms is None:
        raise RuntimeError(f"the disconnect did not stop the answer: {served}")
    return served.stop_latency_ms


def ten_turn_ttft(driver: BenchDriver, engine: LlamaEngine,
                  repeats: int = 3) -> tuple[float, float]:
    """Median time to first token of turn 1 and turn 10 of a growing conversation."""
    params = dataclasses.replace(GREEDY, max_tokens=48, ignore_eos=True)
    firsts, tenths = [], []
    for _ in range(repeats):
        driver.on_engine(engine.reset_cache)
        conversation: list[ChatMessage] = []
        ttfts = []
        for question in TURN_QUESTIONS:
            conversation.append(ChatMessage("user", question))
            ttft, result = driver.chat(conversation, params)
            ttfts.append(ttft)
            conversation.append(ChatMessage("assistant", result.text))
        firsts.append(ttfts[0])
        tenths.append(ttfts[-1])
    return statistics.median(firsts), statistics.median(tenths)


def stop_latency_ms(driver: BenchDriver, engine: LlamaEngine,
                    messages: list[ChatMessage]) -> float:
    """From the stop request, made once 16 tokens arrived, to the worker reporting idle."""
    params = dataclasses.replace(GREEDY, max_tokens=100_000, ignore_eos=True)
    stopped_at: list[float] = []

    def stop_after_16(chunk: TokenChunk) -> None:
        if chunk.tokens_so_far >= 16 and not stopped_at:
            stopped_at.append(time.perf_counter())
            driver.host.stop()

    driver.on_engine(engine.reset_cache)
    driver.on_chunk = stop_after_16
    try:
        driver.chat(messages, params)
    finally:
        driver.on_chunk = None
    return (driver.idle_at - stopped_at[0]) * 1000


def run_bench_command(args: argparse.Namespace) -> int:
    from chatdesk.core.bundled_model import ensure_bundled_model
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths

    if args.tokens < 2 or args.runs < 1:
        print("chatdesk bench: --tokens must be at least 2 and --runs at least 1",
              file=sys.stderr)
        return 2
    paths = resolve_paths(args.data_dir).ensure()
    setup_logging(paths.logs_dir)
    model = Path(args.model) if args.model else ensure_bundled_model(paths.models_dir)
    if model is None:
        print("chatdesk bench: no --model given and the bundled model is not installed",
              file=sys.stderr)
        return 2
    result = run_bench(model, args.tokens, args.threads or default_threads(), args.runs)
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    else:
        print(f"model    {result.model} ({result.backend}, {result.threads} threads)")
        print(f"decode   raw {result.raw_tokens_per_s:.1f} tok/s · app "
              f"{result.app_tokens_per_s:.1f} tok/s · app/raw {result.app_vs_raw:.3f} "
              f"(median of {result.runs}, {result.tokens} tokens)")
        print(f"ttft     turn 1 {result.ttft_first_turn_s * 1000:.1f} ms · turn 10 "
              f"{result.ttft_tenth_turn_s * 1000:.1f} ms · ratio {result.ttft_ratio:.2f}")
        print(f"stop     {result.stop_latency_ms:.1f} ms (median of 5)")
        print(f"api      {result.api_tokens_per_s:.1f} tok/s streamed · api/app "
              f"{result.api_vs_app:.3f} (median of {result.runs}) · client gone -> engine "
              f"free {result.api_stop_ms:.1f} ms")
        print(f"energy   {result.watts:.1f} W · {result.joules_per_token:.3f} J/token "
              f"({result.energy_source}, app runs)")
    return 0
