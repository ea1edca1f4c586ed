"""The only bridge between Qt and the engine: a worker QObject in its own QThread.

Requests go in as queued signals, results come out as queued signals; both carry plain
frozen dataclasses. A load and an answer are different requests with their own ids and
their own failure signals; an answer ends with exactly one ``AnswerDone`` (result and
energy together) or one ``answer_failed``. Stopping does *not* go through the event
loop (a busy worker would run a queued "stop" slot only after the answer ended): the UI
sets a ``StopFlag`` directly.

Shutdown order (DESIGN.md): set stop -> the answer's generator closes -> ``Llama.close()``
-> ``thread.quit()`` -> ``thread.wait()``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from chatdesk.core.bundled_model import ensure_bundled_model
from chatdesk.core.chat_template import ChatTemplateError
from chatdesk.core.energy import EnergyMeter
from chatdesk.core.engine import ChatEngine, EngineError, LoadOptions, ModelLoadError
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    LoadProgress,
    ModelInfo,
    PromptCount,
    TokenChunk,
)
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.model_ref import is_remote
from chatdesk.core.sampling import InvalidParameterError, SamplingParams
from chatdesk.core.stop_flag import StopFlag
from chatdesk.core.text_pacing import DEFAULT_INTERVAL_S, PacedText, TextPacer
from chatdesk.threads import ThreadHost

log = logging.getLogger(__name__)

# Failures we can explain to the user; anything else is a bug, logged with its traceback.
EXPLAINED = (EngineError, InvalidModelFileError, InvalidParameterError, ChatTemplateError,
             OSError)


@dataclass(frozen=True)
class LoadRequest:
    request_id: int
    path: str | None  # None: the bundled offline model; a model_ref "remote:..." a server's
    options: LoadOptions


@dataclass(frozen=True)
class GenerateRequest:
    request_id: int
    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    conversation_key: str | None = None  # whose KV state to restore (core/prompt_cache.py)
    loop_guard: bool = True  # stop an answer that repeats itself (Settings.loop_guard)


@dataclass(frozen=True)
class CountRequest:
    request_id: int
    messages: tuple[ChatMessage, ...]
    max_tokens: int


def _error_event(request_id: int, exc: BaseException, default_title: str) -> ErrorEvent:
    if isinstance(exc, EXPLAINED):
        title = getattr(exc, "title", default_title)
        return ErrorEvent(request_id, title, str(exc))
    log.exception("unexpected failure")
    return ErrorEvent(request_id, default_title,
                      f"An unexpected error occurred ({type(exc).__name__}: {exc}). "
                      "Details are in the log file (Help > About).")


class EngineWorker(QObject):
    """Lives in the engine thread; every slot runs there."""

    progress = Signal(object)  # LoadProgress
    loaded = Signal(object)  # ModelInfo
    load_failed = Signal(object)  # ErrorEvent (request_id: the load's)
    text = Signal(object)  # TokenChunk
    done = Signal(object)  # AnswerDone: result and energy, the one end of an answer
    answer_failed = Signal(object)  # ErrorEvent (request_id: the answer's)
    counted = Signal(object)  # PromptCount (request_id: the count's)
    idle = Signal()  # a request has been fully handled

    def __init__(self, engine: ChatEngine, models_dir: Path,
                 meter: EnergyMeter | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._models_dir = models_dir
        self.meter = meter
        self.stop_event = StopFlag()
        self.cancel_load = threading.Event()
        # Answers asked for (written by the GUI thread only) and begun (engine thread only):
        # a state save finding an answer queued behind it gives way.
        self.answers_requested = 0
        self.answers_begun = 0

    @Slot(object)
    def load(self, request: LoadRequest) -> None:
        def report(stage: str, fraction: float | None) -> None:
            self.progress.emit(LoadProgress(stage, fraction))

        try:
            path = request.path
            if path is None:
                installed = ensure_bundled_model(self._models_dir, report)
                if installed is None:
                    raise ModelLoadError(
                        "No model is installed yet. Open a .gguf file with File > Open model…")
                path = str(installed)
            target = path if is_remote(path) else Path(path)  # a URL is not a file path
            info: ModelInfo = self._engine.load(target, request.options, report,
                                                self.cancel_load)
            self.loaded.emit(info)
            if self.meter is not None and self.meter.idle_watts is None:
                self.meter.measure_idle()  # the baseline, before the first answer needs it
        except Exception as exc:
            self.load_failed.emit(_error_event(request.request_id, exc,
                                               "The model could not be loaded"))
        finally:
            self.idle.emit()

    @Slot(object)
    def generate(self, request: GenerateRequest) -> None:
        def send(paced: PacedText) -> None:
            self.text.emit(TokenChunk(request.request_id, paced.text, paced.tokens_so_far,
                                      paced.last_piece_at - paced.first_piece_at,
                                      paced.context_used))

        local = getattr(self._engine, "measures_local_energy", True)
        # A local decode never pauses mid-answer, so a held piece waits one token at most.
        # A server's stream can stall: its pieces go out as they come (no pacing).
        pacer = TextPacer(send, interval_s=DEFAULT_INTERVAL_S if local else 0.0)

        self.answers_begun += 1
        # A server's answer is not this machine's work: no meter, no laptop watts for it.
        meter = self.meter if local else None
        if meter is not None:
            meter.start()
        try:
            try:
                self._engine.use_conversation(request.conversation_key, request.messages)
                result: GenerationResult = self._engine.chat(
                    request.messages, request.params, self.stop_event, pacer.feed,
                    request.request_id, loop_guard=request.loop_guard)
            finally:
                pacer.flush()  # every piece reaches the window before the answer's end
                report = meter.stop() if meter is not None else None
            self.done.emit(AnswerDone(request.request_id, result, report))
        except Exception as exc:
            self.answer_failed.emit(_error_event(request.request_id, exc, "The answer failed"))
        finally:
            self.idle.emit()

    @Slot(object)
    def save_state(self, key: str) -> None:
        """Save conversation ``key``'s KV state (when the cache holds it, unsaved) unless
        an answer is waiting: the next answer is never delayed by a save."""
        try:
            if self.answers_requested > self.answers_begun:
                log.debug("state save of %s skipped: an answer is waiting", key)
            else:
                self._engine.save_state(key)
        except Exception:
            log.exception("saving the KV state failed")
        finally:
            self.idle.emit()

    @Slot(object)
    def count(self, request: CountRequest) -> None:
        """Count a prompt with the loaded model's tokenizer (the context meter)."""
        try:
            count = self._engine.count_prompt(request.messages, request.max_tokens)
            self.counted.emit(dataclasses.replace(count, request_id=request.request_id))
        except Exception as exc:  # no model, a template error: the meter shows nothing
            log.debug("counting the prompt failed: %s", exc)
            self.counted.emit(PromptCount(0, 0, 0, 0, request_id=request.request_id))
        finally:
            self.idle.emit()

    @Slot(object)
    def call(self, job: Callable[[], None]) -> None:
        """Run ``job`` here, on the engine thread (the bench's raw llama.cpp runs and model
        set-up: every llama.cpp call shares this thread's OpenMP team)."""
        try:
            job()
        finally:
            self.idle.emit()

    @Slot()
    def close(self) -> None:
        """Free the model, then end this thread's event loop."""
        try:
            self._engine.close()
            if self.meter is not None:
                self.meter.close()
        finally:
            thread = QThread.currentThread()
            thread.quit()


class EngineHost(QObject):
    """Owned by the GUI thread: starts the engine thread and sends it requests."""

    _load_requested = Signal(object)
    _generate_requested = Signal(object)
    _call_requested = Signal(object)
    _save_requested = Signal(object)
    _count_requested = Signal(object)
    _close_requested = Signal()

    def __init__(self, engine: ChatEngine, models_dir: Path, parent: QObject | None = None,
                 meter: EnergyMeter | None = None) -> None:
        super().__init__(parent)
        self.worker = EngineWorker(engine, models_dir, meter)
        self._load_requested.connect(self.worker.load)
        self._generate_requested.connect(self.worker.generate)
        self._call_requested.connect(self.worker.call)
        self._save_requested.connect(self.worker.save_state)
        self._count_requested.connect(self.worker.count)
        self._close_requested.connect(self.worker.close)
        self._next_request_id = 0
        self._host = ThreadHost(self.worker, "chatdesk-engine")

    def _new_id(self) -> int:
        self._next_request_id += 1
        return self._next_request_id

    def load(self, path: str | None, options: LoadOptions) -> int:
        """Queue a model load; returns its request id (``load_failed`` carries it)."""
        self.worker.cancel_load.clear()
        request_id = self._new_id()
        self._load_requested.emit(LoadRequest(request_id, path, options))
        return request_id

    def generate(self, messages: Sequence[ChatMessage], params: SamplingParams,
                 conversation_key: str | None = None, *, loop_guard: bool = True) -> int:
        """Queue an answer; returns its request id (chunks of older requests can be told
        apart). ``conversation_key`` names the conversation, so its saved KV state is
        restored first."""
        request_id = self._new_id()
        self.worker.stop_event.clear()
        self.worker.answers_requested += 1
        self._generate_requested.emit(GenerateRequest(request_id, tuple(messages), params,
                                                      conversation_key, loop_guard))
        return request_id

    def save_state(self, conversation_key: str) -> None:
        """Queue a save of that conversation's KV state on the engine thread."""
        self._save_requested.emit(conversation_key)

    def count(self, messages: Sequence[ChatMessage], max_tokens: int) -> int:
        """Queue a token count of this prompt; ``worker.counted`` brings it back."""
        request_id = self._new_id()
        self._count_requested.emit(CountRequest(request_id, tuple(messages), max_tokens))
        return request_id

    def call(self, job: Callable[[], None]) -> None:
        """Queue ``job`` on the engine thread, behind what is already queued; ``worker.idle``
        follows when it has run. Safe from any thread (the API server's calls it from its
        own): a signal emitted there reaches the engine thread queued, in order."""
        self._call_requested.emit(job)

    def stop(self) -> None:
        """Thread-safe and immediate: the engine checks this between tokens and mid-decode."""
        self.worker.stop_event.set()

    def cancel_load(self) -> None:
        self.worker.cancel_load.set()

    @property
    def engine(self) -> ChatEngine:
        """The engine: touch it only inside a job given to ``call`` (on the engine thread),
        except to read ``info``."""
        return self.worker._engine

    @property
    def thread(self) -> QThread:
        """The engine thread."""
        return self._host.thread

    def is_running(self) -> bool:
        return self._host.is_running()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop, free the model and join the thread; True when the thread has ended."""
        if self._host.is_running():
            self.worker.stop_event.set()
            self.worker.cancel_load.set()
        return self._host.shutdown(timeout_ms, self._close_requested.emit)
