"""One engine for the worker that is local or remote by what was loaded last.

The worker owns one ChatEngine and knows nothing of servers. This switch gives it one:
loading a model reference that names a server model (``core/model_ref.py``) closes the
local llama.cpp model and connects the remote engine; loading a .gguf path closes the
remote connection and loads the file. Only one of the two ever holds resources, as
switching models must free the old one first (DESIGN.md).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatdesk.core.engine import ChatEngine, LoadOptions, NoModelLoadedError, ProgressFn, TextFn
from chatdesk.core.events import ChatMessage, GenerationResult, ModelInfo, PromptCount
from chatdesk.core.model_ref import is_remote
from chatdesk.core.remote_engine import RemoteEngine
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag


class EngineSwitch:
    """A ChatEngine that dispatches to a local or a remote engine by model reference."""

    def __init__(self, local: ChatEngine, remote: RemoteEngine | None = None) -> None:
        self.local = local
        self.remote = remote if remote is not None else RemoteEngine()
        self._current: Any = None

    @property
    def current(self) -> Any:
        """The engine the last successful load went to (None before one)."""
        return self._current

    @property
    def info(self) -> ModelInfo | None:
        return self._current.info if self._current is not None else None

    @property
    def measures_local_energy(self) -> bool:
        """False while a server answers: the worker then does not meter this machine."""
        return getattr(self._current, "measures_local_energy", True)

    def load(self, path: Path | str, options: LoadOptions,
             on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> ModelInfo:
        if is_remote(str(path)):
            info = self.remote.load(str(path), options, on_progress, cancel)
            if self.local is not self.remote:
                self.local.close()  # the server answers now: free the local model's memory
            self._current = self.remote
            return info
        self.remote.close()
        try:
            return self.local.load(Path(path), options, on_progress, cancel)
        finally:  # a bad file keeps the local model that was loaded, as LlamaEngine does
            self._current = self.local if self.local.info is not None else None

    def chat(self, messages: Sequence[ChatMessage], params: SamplingParams, stop: StopFlag,
             on_text: TextFn | None = None, request_id: int = 0,
             **options: Any) -> GenerationResult:
        if self._current is None:
            raise NoModelLoadedError("Load a model first.")
        return self._current.chat(messages, params, stop, on_text, request_id, **options)

    def use_conversation(self, key: str | None, messages: Sequence[ChatMessage]) -> int:
        return self._current.use_conversation(key, messages) if self._current else 0

    def save_state(self, key: str | None = None) -> bool:
        return self._current.save_state(key) if self._current else False

    def count_prompt(self, messages: Sequence[ChatMessage], max_tokens: int) -> PromptCount:
        if self._current is None:
            raise NoModelLoadedError("Load a model first.")
        return self._current.count_prompt(messages, max_tokens)

    def close(self) -> None:
        self.remote.close()
        self.local.close()  # the local engine saves its KV state before freeing the model
        self._current = None

    def __getattr__(self, name: str) -> Any:
        """What only one engine has (the bench's ``reset_cache``, ``template``) is the
        current engine's."""
        current = self.__dict__.get("_current")
        if current is None:
            raise AttributeError(name)
        return getattr(current, name)
