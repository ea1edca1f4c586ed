"""What the bench measures beyond decode speed: prompt evaluation, the ten-turn time to
first token, the prompt cache on reopen and switch, stop latency, the API server."""

from __future__ import annotations

import dataclasses
import http.client
import json
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chatdesk.api.server import ApiServer
from chatdesk.bench.driver import BenchDriver, raw_prompt_tokens_per_s
from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.core.events import (
    ChatMessage,
    TokenChunk,
)
from chatdesk.core.prompt_cache import PromptCache
from chatdesk.core.sampling import GREEDY

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
