"""`chatdesk bench --server URL`: a server's model through the remote engine and the same
worker, with its stop latency."""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

from chatdesk.bench.driver import BenchDriver
from chatdesk.bench.measures import BENCH_PROMPT
from chatdesk.core.engine import EngineError
from chatdesk.core.events import (
    ChatMessage,
    TokenChunk,
)
from chatdesk.core.sampling import GREEDY


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
