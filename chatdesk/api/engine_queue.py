"""Each API request as a job on the one engine thread, queued behind the window's answers.

``EngineHost.call`` is the only door to the engine thread (DESIGN.md: one engine thread;
llama.cpp's OpenMP team must not be split). A request becomes a job that prepares its
prompt, measures its energy with the worker's meter and runs the engine's one generation
loop; the pieces it decodes travel to the server's event loop through
``call_soon_threadsafe``.

Each request has its own ``StopFlag``: a client that goes away stops its own answer (the
flag is read between tokens and by llama.cpp's abort callback inside a decode), while the
window's Stop (the worker's shared flag) and the API's never touch each other's answers.
A request cancelled while still queued never reaches the model. A request with a seed
evaluates its whole prompt afresh, so the same seed gives the same text whatever the
KV cache held before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from chatdesk.core.energy import EnergyReport
from chatdesk.core.events import ChatMessage, GenerationResult, ModelInfo
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag

if TYPE_CHECKING:
    from chatdesk.core.engine import LlamaEngine, Prompt
    from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.05  # how often a request that has no response yet checks its client


class ClientGone(Exception):
    """The client disconnected before its response began."""


@dataclass(frozen=True)
class Activity:
    """What the server is doing now, for the status line and /health."""

    running: int
    queued: int
    served: int  # requests the engine has finished since the server started


@dataclass(frozen=True)
class Served:
    """One finished request, without its content (the log line, and what tests check)."""

    kind: str  # "chat" or "text"
    outcome: str  # "done", "failed", "cancelled" (gone while queued)
    stop_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    joules: float | None
    engine_started: float | None  # perf_counter on the engine thread
    engine_ended: float
    stop_latency_ms: float | None  # client gone -> engine free, when the client left


class Generation:
    """One request's answer: the engine thread posts events, the event loop reads them.

    Events: ("accepted", prompt tokens), ("text", piece), ("done", (result, energy)),
    ("failed", exception), ("cancelled", None).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop = StopFlag()
        self._loop = loop
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._ready = asyncio.Event()
        self.cancelled_at: float | None = None
        self.ended = False

    # -- the engine thread --------------------------------------------------------------
    def post(self, kind: str, value: Any = None) -> None:
        # RuntimeError: the server's loop has closed, nobody is listening any more
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._deliver, kind, value)

    def _deliver(self, kind: str, value: Any) -> None:
        self._events.append((kind, value))
        self._ready.set()

    # -- the event loop -----------------------------------------------------------------
    def cancel(self) -> None:
        """The client is gone: stop this answer (or skip it, if still queued)."""
        if self.cancelled_at is None and not self.ended:
            self.cancelled_at = time.perf_counter()
            self.stop.set()

    async def next_event(self, is_disconnected: Callable[[], Awaitable[bool]] | None = None
                         ) -> tuple[str, Any]:
        """The next event; with ``is_disconnected``, the client is checked while waiting
        (before a response has begun, nothing else would notice it leave)."""
        while not self._events:
            self._ready.clear()
            if is_disconnected is None:
                await self._ready.wait()
                continue
            try:
                await asyncio.wait_for(self._ready.wait(), DISCONNECT_POLL_S)
            except asyncio.TimeoutError:
                if await is_disconnected():
                    self.cancel()
                    raise ClientGone() from None
        kind, value = self._events.popleft()
        if kind in ("done", "failed", "cancelled"):
            self.ended = True
        return kind, value

    def more_text(self) -> str:
        """The text pieces already waiting, joined (a slow client gets fewer chunks)."""
        pieces = []
        while self._events and self._events[0][0] == "text":
            pieces.append(self._events.popleft()[1])
        return "".join(pieces)


class EngineQueue:
    """Sends API requests to the engine thread and keeps count of them."""

    def __init__(self, host: EngineHost,
                 on_activity: Callable[[Activity], None] | None = None) -> None:
        self._host = host
        self._on_activity = on_activity
        self._lock = threading.Lock()
        self._queued = 0
        self._running = 0
        self._served = 0
        self._live: set[Generation] = set()
        self.served: collections.deque[Served] = collections.deque(maxlen=200)

    @property
    def model(self) -> ModelInfo | None:
        """The loaded model (None while one loads); a read, safe from any thread."""
        return self._host.engine.info

    def activity(self) -> Activity:
        with self._lock:
            return Activity(self._running, self._queued, self._served)

    def _changed(self) -> None:
        if self._on_activity is not None:
            self._on_activity(self.activity())

    def submit_chat(self, messages: Sequence[ChatMessage], params: SamplingParams
                    ) -> Generation:
        """Queue a chat answer; the conversation must fit as sent (no turn is dropped)."""
        return self._submit("chat", lambda engine: engine.prepare_chat(
            messages, params.max_tokens, drop_turns=False), params)

    def submit_text(self, text: str, params: SamplingParams) -> Generation:
        """Queue a raw-text continuation (no chat template)."""
        return self._submit("text", lambda engine: engine.prepare_text(text,
                                                                       params.max_tokens),
                            params)

    def cancel_all(self) -> None:
        """Stop every request (the server is stopping)."""
        with self._lock:
            live = list(self._live)
        for generation in live:
            generation.stop.set()

    def _submit(self, kind: str, prepare: Callable[[LlamaEngine], Prompt],
                params: SamplingParams) -> Generation:
        generation = Generation(asyncio.get_running_loop())
        with self._lock:
            self._queued += 1
            self._live.add(generation)
        self._changed()
        self._host.call(lambda: self._run(kind, generation, prepare, params))
        return generation

    def _run(self, kind: str, generation: Generation, prepare: Callable[[LlamaEngine], Prompt],
             params: SamplingParams) -> None:
        """The job, on the engine thread."""
        with self._lock:
            self._queued -= 1
            skipped = generation.stop.is_set()
            if not skipped:
                self._running += 1
        if skipped:
            self._end(kind, generation, "cancelled", None, None, None)
            generation.post("cancelled")
            return
        self._changed()
        engine = cast("LlamaEngine", self._host.engine)
        meter = self._host.worker.meter
        started = time.perf_counter()
        result: GenerationResult | None = None
        report: EnergyReport | None = None
        error: BaseException | None = None
        try:
            if meter is not None:
                meter.start()
            try:
                if params.seed is not None:
                    # Reproducible: logits are not bit-identical between a prompt evaluated
                    # in one batch and one partly taken from the cache (llama-server says
                    # the same of cache_prompt), and sampling amplifies the difference.
                    engine.reset_cache()
                prompt = prepare(engine)
                generation.post("accepted", len(prompt.tokens))
                result = engine.generate(
                    prompt, params, generation.stop,
                    lambda piece, _tokens, _context: generation.post("text", piece))
            finally:
                report = meter.stop() if meter is not None and meter.running else None
        except Exception as exc:  # handed to the request, which answers with an error body
            error = exc
        with self._lock:
            self._running -= 1
        if error is not None:
            self._end(kind, generation, "failed", started, None, None)
            generation.post("failed", error)
        else:
            self._end(kind, generation, "done", started, result, report)
            generation.post("done", (result, report))

    def _end(self, kind: str, generation: Generation, outcome: str, started: float | None,
             result: GenerationResult | None, report: EnergyReport | None) -> None:
        ended = time.perf_counter()
        latency = ((ended - generation.cancelled_at) * 1000
                   if generation.cancelled_at is not None else None)
        served = Served(kind, outcome, result.stop_reason.value if result else None,
                        result.prompt_tokens if result else 0,
                        result.generated_tokens if result else 0,
                        report.joules if report else None, started, ended, latency)
        with self._lock:
            self._live.discard(generation)
            self._served += 1
            self.served.append(served)
        self._changed()
        log.info("api %s %s: %d prompt + %d completion tokens, %s, %s J%s", kind, outcome,
                 served.prompt_tokens, served.completion_tokens, served.stop_reason,
                 f"{served.joules:.2f}" if served.joules is not None else "-",
                 f", client gone: engine free after {latency:.1f} ms"
                 if latency is not None else "")
