"""A scripted stand-in for ``LlamaEngine``: the ``ChatEngine`` protocol with no model.

Everything is configurable per test: load delay, progress steps and failure; the answer's
pieces, the delay per token and a failure. It records what it was asked to do so tests can
check calls (``close`` included) from the GUI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chatdesk.core.engine import (
    LoadOptions,
    ModelLoadError,
    NoModelLoadedError,
    ProgressFn,
    TextFn,
)
from chatdesk.core.events import (
    ChatMessage,
    GenerationResult,
    ModelInfo,
    PromptCount,
    StopReason,
)
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag

DEFAULT_PIECES = ("Paris", " is", " the", " capital", " of", " France", ".")


def fake_model_info(path: str = "/models/fake-model.gguf", **changes: object) -> ModelInfo:
    values: dict[str, object] = dict(
        path=path,
        name="Fake Model",
        architecture="fakearch",
        parameters=270_000_000,
        quantization="Q4_K_M",
        trained_context=32768,
        context_length=4096,
        backend="CPU",
        gpu_layers_offloaded=0,
        total_layers=19,
        threads=2,
        chat_template_name="transcript",
        chat_template_source="built-in default (the file has no chat template)",
        file_size=253_000_000,
    )
    values.update(changes)
    return ModelInfo(**values)  # type: ignore[arg-type]


@dataclass
class FakeEngine:
    # -- load ---------------------------------------------------------------------------
    load_delay_s: float = 0.0  # total, spread over the progress steps
    progress_steps: Sequence[tuple[str, float | None]] = (
        ("Reading the model file", None), ("Loading weights", 0.5), ("Ready", 1.0))
    load_error: BaseException | None = None  # raised after the progress steps
    load_gate: threading.Event | None = None  # when given, load waits for it after the steps
    info_changes: dict[str, object] = field(default_factory=dict)
    # -- chat ---------------------------------------------------------------------------
    pieces: Sequence[str] = DEFAULT_PIECES
    token_delay_s: float = 0.002
    chat_error: BaseException | None = None
    error_after_tokens: int = 0  # stream this many pieces before raising ``chat_error``
    # With the loop guard on, end with StopReason.REPETITION after this many pieces, as
    # LlamaEngine does when the answer repeats itself; None: never.
    repetition_after_tokens: int | None = None
    # -- what happened (read from the test thread once the worker is idle) --------------
    load_calls: list[tuple[Path, LoadOptions]] = field(default_factory=list)
    chat_calls: list[tuple[tuple[ChatMessage, ...], SamplingParams, int]] = field(
        default_factory=list)
    loop_guard_calls: list[bool] = field(default_factory=list)  # each chat's loop_guard
    close_calls: int = 0
    conversations: list[str | None] = field(default_factory=list)  # use_conversation keys
    saves: list[str | None] = field(default_factory=list)  # save_state keys
    threads_used: set[str] = field(default_factory=set)
    _info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def load(self, path: Path, options: LoadOptions, on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> ModelInfo:
        self.threads_used.add(threading.current_thread().name)
        self.load_calls.append((path, options))
        steps = list(self.progress_steps)
        pause = self.load_delay_s / max(1, len(steps))
        for stage, fraction in steps:
            if cancel is not None and cancel.is_set():
                raise ModelLoadError("Loading was cancelled.")
            time.sleep(pause)
            if on_progress is not None:
                on_progress(stage, fraction)
        while self.load_gate is not None and not self.load_gate.wait(0.01):
            if cancel is not None and cancel.is_set():
                raise ModelLoadError("Loading was cancelled.")
        if self.load_error is not None:
            raise self.load_error
        self._info = fake_model_info(str(path), **self.info_changes)
        return self._info

    def chat(self, messages: Sequence[ChatMessage], params: SamplingParams,
             stop: StopFlag, on_text: TextFn | None = None,
             request_id: int = 0, *, loop_guard: bool = True) -> GenerationResult:
        self.threads_used.add(threading.current_thread().name)
        self.chat_calls.append((tuple(messages), params, request_id))
        self.loop_guard_calls.append(loop_guard)
        if self._info is None:
            raise NoModelLoadedError("Load a model first.")
        started = time.perf_counter()
        pieces: list[str] = []
        reason = StopReason.EOS
        first = last = None
        for n, piece in enumerate(self.pieces, start=1):
            if stop.is_set():
                reason = StopReason.USER_STOP
                break
            if loop_guard and self.repetition_after_tokens is not None \
                    and n > self.repetition_after_tokens:
                reason = StopReason.REPETITION
                break
            if self.chat_error is not None and n > self.error_after_tokens:
                raise self.chat_error
            time.sleep(self.token_delay_s)
            last = time.perf_counter()
            first = first or last
            pieces.append(piece)
            if on_text is not None:
                on_text(piece, n, sum(len(m.content.split()) + 4 for m in messages) + n)
        else:
            if self.chat_error is not None:
                raise self.chat_error
        finished = time.perf_counter()
        prompt_tokens = sum(len(m.content.split()) + 4 for m in messages)
        return GenerationResult(
            request_id=request_id,
            text="".join(pieces),
            stop_reason=reason,
            prompt_tokens=prompt_tokens,
            prompt_eval_tokens=prompt_tokens,
            prompt_eval_s=0.001,
            generated_tokens=len(pieces),
            generation_s=(last - first) if first and last else 0.0,
            ttft_s=(first or finished) - started,
            total_s=finished - started,
            dropped_turns=0,
            context_used=prompt_tokens + len(pieces),
            context_length=self._info.context_length,
        )

    def use_conversation(self, key: str | None, messages: Sequence[ChatMessage]) -> int:
        self.threads_used.add(threading.current_thread().name)
        self.conversations.append(key)
        return 0

    def save_state(self, key: str | None = None) -> bool:
        self.threads_used.add(threading.current_thread().name)
        self.saves.append(key)
        return False

    def count_prompt(self, messages: Sequence[ChatMessage], max_tokens: int) -> PromptCount:
        self.threads_used.add(threading.current_thread().name)
        if self._info is None:
            raise NoModelLoadedError("Load a model first.")
        tokens = sum(len(m.content.split()) + 4 for m in messages)
        return PromptCount(tokens, self._info.context_length, max_tokens, 0)

    def close(self) -> None:
        self.threads_used.add(threading.current_thread().name)
        self.close_calls += 1
        self._info = None
