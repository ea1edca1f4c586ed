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
The two alternate (raw first in even pairs, the app first in odd ones) and ``app_vs_raw`` is
the median of the pairs' ratios, so drift between pairs on a noisy machine cancels;
``app_vs_raw_of_medians`` is the ratio of the two medians, for comparison.

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
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

from chatdesk.api.server import ApiServer, ServeOptions
from chatdesk.bench.driver import BenchDriver, raw_tokens_per_s
from chatdesk.bench.hood import hood_figures
from chatdesk.bench.measures import (
    BENCH_CONTEXT,
    BENCH_PROMPT,
    api_request,
    api_stop_ms,
    api_tokens_per_s,
    cache_ttfts,
    prompt_eval_rates,
    stop_latency_ms,
    ten_turn_ttft,
)
from chatdesk.core.energy import EnergyMeter, EnergyReport
from chatdesk.core.engine import EngineError, LlamaEngine, LoadOptions
from chatdesk.core.events import (
    ChatMessage,
)
from chatdesk.core.gguf_file import read_gguf_header
from chatdesk.core.llama_runtime import default_threads, skip_llama_chat_formatters
from chatdesk.core.prompt_cache import PromptCache
from chatdesk.core.sampling import GREEDY


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
    app_vs_raw: float  # the median of the pairs' app/raw ratios
    app_vs_raw_of_medians: float
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
    # under the hood (chatdesk/bench/hood.py)
    memory_bandwidth_gbs: float = 0.0
    weight_bytes_per_token: int = 0
    decode_limit_tok_s: float = 0.0
    decode_vs_limit: float = 0.0
    logprobs_overhead: float = 0.0  # app tok/s recording top-5 alternatives ÷ without
    logprobs_runs: tuple[tuple[float, float], ...] = ()


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
            # Raw first on even runs, the app first on odd ones: whichever runs second
            # in a pair must not be the one that always meets a warmer (or throttled) CPU.
            if run % 2 == 0:
                raw_rate = driver.on_engine(lambda: raw_tokens_per_s(raw, prompt, tokens))
            driver.on_engine(engine.reset_cache)
            meter.start()  # the app run only: prompt evaluation and generation
            try:
                _ttft, result = driver.chat(messages, params)
            finally:
                report = meter.stop()
            app_rate = driver.received_tokens_per_s()
            if run % 2 == 1:
                raw_rate = driver.on_engine(lambda: raw_tokens_per_s(raw, prompt, tokens))
            if run == 0:
                warmup = [raw_rate, app_rate]
                continue
            raw_runs.append(raw_rate)
            energy.append((report, result.generated_tokens))
            app_runs.append(app_rate)
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
        app_vs_raw=paired_ratio(app_runs, raw_runs),
        app_vs_raw_of_medians=app_median / raw_median,
        raw_runs=tuple(raw_runs), app_runs=tuple(app_runs),
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


def paired_ratio(apps: list[float], raws: list[float]) -> float:
    """The median of each pair's app/raw ratio. A pair runs back to back, so the CPU's
    drift between pairs (turbo, other tenants: ±10 % here) cancels within it; the ratio
    of the two medians (app_vs_raw_of_medians) does not cancel it."""
    return statistics.median(a / r for a, r in zip(apps, raws, strict=True))


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
              f"(median of {result.runs} paired runs, {result.tokens} tokens; ratio of "
              f"medians {result.app_vs_raw_of_medians:.3f})")
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
