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

A warm-up pair (one raw run, one app run) goes first and is reported apart: the first
decode after a load pays for page faults, buffers and the thread team, and would skew the
medians. Prompt evaluation is compared the same way (``pp_app_vs_raw``: the app's time to
first token on a 1,500-token prompt against raw ``llama_decode`` calls of the engine's own
batch size). The prompt cache (core/prompt_cache.py) is measured on a conversation of
about 2,000 tokens: the next turn's time to first token after closing and reopening the
model, and after answering in another conversation and switching back, each divided by the
same turn's when the model stayed on that conversation; the same with the cache off shows
what it saves.

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
from chatdesk.bench_hood import hood_figures
from chatdesk.core.energy import EnergyMeter, EnergyReport
from chatdesk.core.engine import (
    EngineError,
    LlamaEngine,
    LoadOptions,
    default_threads,
    skip_llama_chat_formatters,
)
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    TokenChunk,
)
from chatdesk.core.gguf_file import read_gguf_header
from chatdesk.core.prompt_cache import PromptCache
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
PP_PROMPT_TOKENS = 1500
CACHE_CONVERSATION_TOKENS = 2000
FILLER = ("The harbour town woke early. Fishing boats left before dawn, the baker lit his "
          "oven at four, and the lighthouse keeper wrote the wind, the tide and the colour "
          "of the sea in a blue notebook that he kept on the table by the stairs. ")


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
    warmup_raw_tokens_per_s: float  # the first pair, kept out of the medians
    warmup_app_tokens_per_s: float
    app_engine_tokens_per_s: float  # decode speed inside the engine, before signals
    pp_prompt_tokens: int
    pp_raw_tokens_per_s: float
    pp_app_tokens_per_s: float
    pp_app_vs_raw: float
    cache_conversation_tokens: int
    ttft_never_closed_s: float
    ttft_reopen_s: float
    ttft_reopen_ratio: float
    ttft_reopen_cache_off_s: float
    ttft_reopen_ratio_cache_off: float
    ttft_switch_s: float
    ttft_switch_ratio: float
    ttft_switch_cache_off_s: float
    ttft_switch_ratio_cache_off: float
    llama_cpp_python: str
    energy_source: str  # 'rapl', 'nvml', 'powermetrics' or 'estimate' ('+'-joined if several)
    watts: float  # average over the app runs
    joules_per_token: float  # the app runs' joules / the tokens they generated
    api_tokens_per_s: float  # streamed through the API to one client
    api_vs_app: float
    api_runs: tuple[float, ...]
    api_stop_ms: float  # a streaming client disconnects -> the engine is free
    # under the hood (chatdesk/bench_hood.py)
    memory_bandwidth_gbs: float = 0.0
    weight_bytes_per_token: int = 0
    decode_limit_tok_s: float = 0.0
    decode_vs_limit: float = 0.0
    logprobs_overhead: float = 0.0  # app tok/s recording top-5 alternatives ÷ without
    logprobs_runs: tuple[tuple[float, float], ...] = ()


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


def filler_messages(engine: LlamaEngine, driver: BenchDriver, target_tokens: int,
                    topic: str) -> list[ChatMessage]:
    """A conversation of about ``target_tokens`` (counted by the model): user and assistant
    turns of plain prose, the last one a user question."""
    messages: list[ChatMessage] = []
    turn = 0
    while True:
        turn += 1
        candidate = [*messages, ChatMessage("user", f"{topic} Part {turn}. {FILLER}"),
                     ChatMessage("assistant", f"Noted, part {turn}.")]
        question = ChatMessage("user", f"What did the keeper write about {topic}?")
        count = driver.on_engine(lambda c=candidate, q=question: engine.count_prompt(
            [*c, q], 16))
        if count.prompt_tokens > target_tokens or count.dropped_messages:
            return [*messages, question]
        messages = candidate


def run_bench(model: Path, tokens: int, threads: int, runs: int,
              cache_dir: Path | None = None) -> BenchResult:
    import tempfile

    import llama_cpp
    from llama_cpp import Llama

    _app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    scratch = tempfile.TemporaryDirectory(prefix="chatdesk-bench-")
    cache = PromptCache(cache_dir or Path(scratch.name))
    engine = LlamaEngine(cache)
    # chatml has no text stop strings, so every run generates exactly `tokens` tokens.
    options = LoadOptions(context_length=BENCH_CONTEXT, threads=threads, template_hint="chatml")
    driver = BenchDriver(engine, model.parent)
    raw: Any = None
    meter = EnergyMeter()
    api: ApiServer | None = None
    try:  # every llama.cpp call on the engine thread; it must end whatever fails
        info = driver.on_engine(lambda: engine.load(model, options))

        def raw_llama() -> Any:
            with skip_llama_chat_formatters():  # llama-cpp-python compiles templates itself
                return Llama(model_path=str(model), n_ctx=BENCH_CONTEXT, n_threads=threads,
                             n_threads_batch=threads,
                             n_gpu_layers=-1 if info.backend != "CPU" else 0, swa_full=True,
                             verbose=False)

        raw = driver.on_engine(raw_llama)
        api = ApiServer(driver.host, ServeOptions(port=0))
        address = api.start()
        messages = [ChatMessage("user", BENCH_PROMPT)]
        prompt, _ = driver.on_engine(lambda: engine.fit_to_context(messages, tokens))
        params = dataclasses.replace(GREEDY, max_tokens=tokens, ignore_eos=True)
        raw_runs: list[float] = []
        app_runs: list[float] = []
        engine_runs: list[float] = []
        api_runs: list[float] = []
        api_body = api_request(info.path, BENCH_PROMPT, tokens)
        energy: list[tuple[EnergyReport, int]] = []
        meter.measure_idle()  # before any decode: OpenMP's idle teams spin for a while after
        warmup: list[float] = []
        for run in range(runs + 1):  # run 0 is the warm-up pair
            raw_rate = driver.on_engine(lambda: raw_tokens_per_s(raw, prompt, tokens))
            driver.on_engine(engine.reset_cache)
            meter.start()  # the app run only: prompt evaluation and generation
            try:
                _ttft, result = driver.chat(messages, params)
            finally:
                report = meter.stop()
            if run == 0:
                warmup = [raw_rate, driver.received_tokens_per_s()]
                continue
            raw_runs.append(raw_rate)
            energy.append((report, result.generated_tokens))
            app_runs.append(driver.received_tokens_per_s())
            engine_runs.append(result.generation_tokens_per_s)
            driver.on_engine(engine.reset_cache)
            api_runs.append(driver.alongside(lambda: api_tokens_per_s(address, api_body)))
        first, tenth = ten_turn_ttft(driver, engine)
        stops = [stop_latency_ms(driver, engine, messages) for _ in range(5)]
        api_stop = api_stop_ms(driver, api, engine, address, api_body)
        repeats = max(1, min(runs, 3))
        pp = prompt_eval_rates(driver, engine, raw, repeats)
        reopen = cache_ttfts(driver, engine, cache, model, options, repeats)
        hood = hood_figures(driver, engine, model, messages, params, runs,
                            statistics.median(app_runs), len(prompt) + tokens // 2)
    finally:  # the engine thread must end whatever failed, or Qt aborts at exit
        if api is not None:
            api.stop()
        meter.close()
        if raw is not None:
            driver.on_engine(raw.close)
        driver.host.shutdown()
        scratch.cleanup()
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
        warmup_raw_tokens_per_s=warmup[0], warmup_app_tokens_per_s=warmup[1],
        app_engine_tokens_per_s=statistics.median(engine_runs),
        pp_prompt_tokens=pp[0], pp_raw_tokens_per_s=pp[1], pp_app_tokens_per_s=pp[2],
        pp_app_vs_raw=pp[2] / pp[1], cache_conversation_tokens=reopen["tokens"],
        ttft_never_closed_s=reopen["never_closed"], ttft_reopen_s=reopen["reopen"],
        ttft_reopen_ratio=reopen["reopen"] / reopen["never_closed"],
        ttft_reopen_cache_off_s=reopen["reopen_off"],
        ttft_reopen_ratio_cache_off=reopen["reopen_off"] / reopen["never_closed"],
        ttft_switch_s=reopen["switch"],
        ttft_switch_ratio=reopen["switch"] / reopen["never_closed"],
        ttft_switch_cache_off_s=reopen["switch_off"],
        ttft_switch_ratio_cache_off=reopen["switch_off"] / reopen["never_closed"],
        stop_latency_ms=statistics.median(stops), stop_latency_runs_ms=tuple(stops),
        llama_cpp_python=llama_cpp.__version__, energy_source=meter.source,
        watts=joules / seconds if seconds > 0 else 0.0,
        joules_per_token=joules / generated if generated else 0.0,
        api_tokens_per_s=api_median, api_vs_app=api_median / app_median,
        api_runs=tuple(api_runs), api_stop_ms=api_stop, **dataclasses.asdict(hood))


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


def prompt_eval_rates(driver: BenchDriver, engine: LlamaEngine, raw: Any,
                      repeats: int) -> tuple[int, float, float]:
    """(prompt tokens, raw tokens/s, app tokens/s) on a ~1,500-token prompt, medians. The
    app's figure is the prompt over the time to first token as the main thread saw it:
    templating, tokenizing and the signal included."""
    messages = filler_messages(engine, driver, PP_PROMPT_TOKENS, "the harbour")
    prompt, _ = driver.on_engine(lambda: engine.fit_to_context(messages, 1))
    n_batch = driver.on_engine(lambda: int(engine._loaded().n_batch))
    params = dataclasses.replace(GREEDY, max_tokens=1, ignore_eos=True)
    raws, apps = [], []
    for _ in range(repeats):
        raws.append(driver.on_engine(lambda: raw_prompt_tokens_per_s(raw, prompt, n_batch)))
        driver.on_engine(engine.reset_cache)
        ttft, result = driver.chat(messages, params)
        apps.append(result.prompt_eval_tokens / ttft)
    return len(prompt), statistics.median(raws), statistics.median(apps)


def cache_ttfts(driver: BenchDriver, engine: LlamaEngine, cache: PromptCache, model: Path,
                options: LoadOptions, repeats: int) -> dict[str, Any]:
    """Medians of the next turn's time to first token in a ~2,000-token conversation:
    never closed; after closing and reopening the model (as the app quits: the state is
    saved on close, the memory copy forgotten, so it comes from disk); after answering in
    another conversation and switching back; the last two with the cache off as well."""
    turn_1 = filler_messages(engine, driver, CACHE_CONVERSATION_TOKENS, "the harbour")
    other = filler_messages(engine, driver, CACHE_CONVERSATION_TOKENS, "the mountains")
    answer = dataclasses.replace(GREEDY, max_tokens=16)
    first_token = dataclasses.replace(GREEDY, max_tokens=2, ignore_eos=True)
    _, reply = driver.chat(turn_1, answer)
    turn_2 = [*turn_1, ChatMessage("assistant", reply.text),
              ChatMessage("user", "And what did the baker do?")]
    times: dict[str, list[float]] = {k: [] for k in (
        "never_closed", "reopen", "reopen_off", "switch", "switch_off")}

    def start(key: str | None, cached: bool) -> None:
        def prepare() -> None:
            engine.prompt_cache = None  # leave the last conversation without saving it
            engine.use_conversation(None, [])
            engine.prompt_cache = cache if cached else None
            engine.reset_cache()
            cache.discard("bench-a")
            cache.discard("bench-b")
        driver.on_engine(prepare)
        driver.chat(turn_1, answer, key)

    def reopen() -> None:
        driver.on_engine(engine.close)  # saves the state, as the app's shutdown does
        cache.forget_memory()  # a restart starts with nothing in memory
        driver.on_engine(lambda: engine.load(model, options))

    for _ in range(repeats):
        start(None, cached=False)
        times["never_closed"].append(driver.chat(turn_2, first_token)[0])
        for cached, name in ((True, "reopen"), (False, "reopen_off")):
            start("bench-a", cached)
            reopen()
            times[name].append(driver.chat(turn_2, first_token, "bench-a")[0])
        for cached, name in ((True, "switch"), (False, "switch_off")):
            start("bench-a", cached)
            driver.on_engine(lambda: engine.save_state("bench-a"))  # leaving it, as the
            driver.chat(other, answer, "bench-b")  # session does (not timed)
            driver.on_engine(lambda: engine.save_state("bench-b"))
            times[name].append(driver.chat(turn_2, first_token, "bench-a")[0])
    driver.on_engine(lambda: setattr(engine, "prompt_cache", cache))
    tokens = driver.on_engine(lambda: engine.count_prompt(turn_2, 16)).prompt_tokens
    return {"tokens": tokens, **{k: statistics.median(v) for k, v in times.items()}}


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
    try:
        read_gguf_header(model)  # the same one-line reasons as `chatdesk models import`
        result = run_bench(model, args.tokens, args.threads or default_threads(), args.runs)
    except (EngineError, ValueError, OSError) as exc:  # bad file, bad template, bad options
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"chatdesk bench: cannot benchmark {model}: {reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    else:
        print(f"model    {result.model} ({result.backend}, {result.threads} threads)")
        print(f"decode   raw {result.raw_tokens_per_s:.1f} tok/s · app "
              f"{result.app_tokens_per_s:.1f} tok/s · app/raw {result.app_vs_raw:.3f} "
              f"(median of {result.runs}, {result.tokens} tokens)")
        print(f"ttft     turn 1 {result.ttft_first_turn_s * 1000:.1f} ms · turn 10 "
              f"{result.ttft_tenth_turn_s * 1000:.1f} ms · ratio {result.ttft_ratio:.2f}")
        print(f"warm-up  raw {result.warmup_raw_tokens_per_s:.1f} tok/s · app "
              f"{result.warmup_app_tokens_per_s:.1f} tok/s (first pair, not in the medians)"
              f" · engine-side decode {result.app_engine_tokens_per_s:.1f} tok/s")
        print(f"prompt   raw {result.pp_raw_tokens_per_s:.0f} tok/s · app "
              f"{result.pp_app_tokens_per_s:.0f} tok/s · app/raw {result.pp_app_vs_raw:.3f} "
              f"({result.pp_prompt_tokens} tokens)")
        print(f"cache    {result.cache_conversation_tokens}-token conversation, next turn: "
              f"never closed {result.ttft_never_closed_s * 1000:.0f} ms · reopened "
              f"{result.ttft_reopen_s * 1000:.0f} ms (ratio {result.ttft_reopen_ratio:.2f}; "
              f"cache off {result.ttft_reopen_cache_off_s * 1000:.0f} ms, "
              f"{result.ttft_reopen_ratio_cache_off:.2f}) · switched back "
              f"{result.ttft_switch_s * 1000:.0f} ms (ratio {result.ttft_switch_ratio:.2f}; "
              f"cache off {result.ttft_switch_cache_off_s * 1000:.0f} ms, "
              f"{result.ttft_switch_ratio_cache_off:.2f})")
        print(f"stop     {result.stop_latency_ms:.1f} ms (median of 5)")
        print(f"api      {result.api_tokens_per_s:.1f} tok/s streamed · api/app "
              f"{result.api_vs_app:.3f} (median of {result.runs}) · client gone -> engine "
              f"free {result.api_stop_ms:.1f} ms")
        print(f"energy   {result.watts:.1f} W · {result.joules_per_token:.3f} J/token "
              f"({result.energy_source}, app runs)")
        print(f"limit    {result.memory_bandwidth_gbs:.1f} GB/s ÷ "
              f"{result.weight_bytes_per_token / 2**20:.1f} MiB of weights per token -> "
              f"{result.decode_limit_tok_s:.0f} tok/s · app at {result.decode_vs_limit:.2f} "
              f"of it · top-5 capture {result.logprobs_overhead:.3f} of the speed")
    return 0


# -- against a server (`chatdesk bench --server URL`) ---------------------------------------
@dataclass(frozen=True)
class RemoteBenchResult:
    server: str
    model: str
    tokens: int  # asked for per run (the server may stop earlier: see generated_tokens)
    runs: int
    generated_tokens: tuple[int, ...]
    tokens_per_s: float  # median, measured here: tokens over first to last arrival
    tokens_per_s_runs: tuple[float, ...]
    tokens_source: str  # "server usage" or "counted stream chunks ..."
    ttft_s: float  # median, sending to the first token's arrival (network included)
    ttft_runs_s: tuple[float, ...]
    stop_latency_ms: float  # median, Stop to the engine thread idle
    stop_latency_runs_ms: tuple[float, ...]
    server_tokens_per_s: float | None  # the server's own (llama-server timings), if sent
    server_source: str | None
    energy: str  # never this machine's watts for a server's work


def run_remote_bench(engine: Any, ref: str, tokens: int, runs: int) -> RemoteBenchResult:
    """Decode speed, TTFT and stop latency of a server model through the app's pipeline
    (the engine thread and its queued signals), as the window sees them."""
    from chatdesk.core.figures import REMOTE_ENERGY
    from chatdesk.core.model_ref import parse_remote

    remote = parse_remote(ref)
    assert remote is not None
    _app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    driver = BenchDriver(engine, Path.cwd())
    try:
        messages = [ChatMessage("user", BENCH_PROMPT)]
        params = dataclasses.replace(GREEDY, max_tokens=tokens)
        rates: list[float] = []
        ttfts: list[float] = []
        generated: list[int] = []
        server_rates: list[float] = []
        sources: dict[str, str] = {}
        for _ in range(runs):
            ttft, result = driver.chat(messages, params)
            ttfts.append(ttft)
            generated.append(result.generated_tokens)
            if len(driver.chunks) >= 2:
                rates.append(driver.received_tokens_per_s())
            if "tokens_per_s" in result.server_figures:
                server_rates.append(result.server_figures["tokens_per_s"])
            sources = result.sources
        stops = [_remote_stop_latency_ms(driver, messages) for _ in range(3)]
    finally:
        driver.host.shutdown()
    if not rates:
        raise RuntimeError("the server's answers were too short to time (fewer than two "
                           "tokens); try a larger --tokens")
    return RemoteBenchResult(
        server=remote.base_url, model=remote.model, tokens=tokens, runs=runs,
        generated_tokens=tuple(generated), tokens_per_s=statistics.median(rates),
        tokens_per_s_runs=tuple(rates), tokens_source=sources.get("tokens", ""),
        ttft_s=statistics.median(ttfts), ttft_runs_s=tuple(ttfts),
        stop_latency_ms=statistics.median(stops), stop_latency_runs_ms=tuple(stops),
        server_tokens_per_s=statistics.median(server_rates) if server_rates else None,
        server_source=sources.get("server"), energy=REMOTE_ENERGY)


def _remote_stop_latency_ms(driver: BenchDriver, messages: list[ChatMessage]) -> float:
    """Stop once 8 tokens arrived; the time until the engine thread is idle again."""
    params = dataclasses.replace(GREEDY, max_tokens=4096)
    stopped_at: list[float] = []

    def stop_after_8(chunk: TokenChunk) -> None:
        if chunk.tokens_so_far >= 8 and not stopped_at:
            stopped_at.append(time.perf_counter())
            driver.host.stop()

    driver.on_chunk = stop_after_8
    try:
        driver.chat(messages, params)
    finally:
        driver.on_chunk = None
    if not stopped_at:
        raise RuntimeError("the server ended its answer before 8 tokens: cannot time a stop")
    return (driver.idle_at - stopped_at[0]) * 1000


def run_remote_bench_command(args: argparse.Namespace) -> int:
    from chatdesk.core.engine import EngineError
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths
    from chatdesk.core.remote_engine import RemoteEngine
    from chatdesk.remote_chat import connect, fail

    if args.tokens < 2 or args.runs < 1:
        return fail("--tokens must be at least 2 and --runs at least 1", 2)
    setup_logging(resolve_paths(args.data_dir).ensure().logs_dir)
    engine = RemoteEngine()
    try:
        ref = connect(args, engine)
        result = run_remote_bench(engine, ref, args.tokens, args.runs)
    except ValueError as error:
        return fail(str(error), 2)
    except (EngineError, RuntimeError) as error:
        return fail(f"{getattr(error, 'title', 'bench failed')}: {error}")
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
        return 0
    server = (f" · server's own {result.server_tokens_per_s:.1f} tok/s ({result.server_source})"
              if result.server_tokens_per_s is not None else "")
    print(f"server   {result.model} on {result.server}")
    print(f"decode   {result.tokens_per_s:.1f} tok/s measured here (median of {result.runs}; "
          f"tokens: {result.tokens_source}){server}")
    print(f"ttft     {result.ttft_s * 1000:.1f} ms (network included)")
    print(f"stop     {result.stop_latency_ms:.1f} ms (median of 3)")
    print(f"energy   {result.energy}")
    return 0
