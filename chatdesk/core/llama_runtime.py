"""llama.cpp as a process-wide library: which backend it was built with, how many layers
to offload, where its log lines go, and the hooks a load needs (a progress callback, no
template compiling, a warm-up decode). The engine (core/engine.py) uses these; the About
dialog and `--version` ask ``detect_backend``."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from chatdesk.core.gpu_memory import GpuMemory

log = logging.getLogger(__name__)

GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL", "MUSA", "CANN")


def default_threads() -> int:
    """Physical cores: llama.cpp gets slower, not faster, on hyper-threads."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def detect_backend() -> str:
    """The GPU backend this llama.cpp build was compiled with, or "CPU"."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return "CPU"
    system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    for name in GPU_BACKENDS:
        if re.search(rf"(^|\|)\s*{name}\s*:", system_info):
            return name
    return "GPU"


def auto_gpu_layers(total_layers: int, model_bytes: int, free_vram: int | None) -> int:
    """How many layers to offload: all when they fit (or the memory is unified/unknown),
    else the share of layers that fits in 90% of free VRAM, keeping 15% for the KV cache."""
    if free_vram is None or model_bytes <= 0:
        return -1
    usable = free_vram * 0.9
    if model_bytes * 1.15 <= usable:
        return -1
    return max(0, int(total_layers * usable / (model_bytes * 1.15)))


def free_vram_bytes() -> int | None:
    """Free memory on the first NVIDIA GPU through NVML, when nvidia-ml-py is installed."""
    gpu = GpuMemory()
    try:
        reading = gpu.read()
    finally:
        gpu.close()
    return None if reading is None else reading[1] - reading[0]


_LLAMA_LOG = logging.getLogger("llama.cpp")
# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the last line).
_GGML_LEVELS = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING,
                4: logging.ERROR}
_log_callback: Any = None  # the installed ctypes callback, kept alive
llama_errors: list[str] = []  # llama.cpp's error lines during a load: the *why* of a failure


def route_llama_logs() -> None:
    """Send llama.cpp's own messages to our log file instead of the user's terminal."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    last_level = [logging.INFO]

    def on_log(level: int, text: bytes, _data: Any) -> None:
        if level != 5:  # 5 continues the previous message at its level
            last_level[0] = _GGML_LEVELS.get(level, logging.DEBUG)
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            _LLAMA_LOG.log(last_level[0], message)
            if last_level[0] >= logging.ERROR:
                llama_errors.append(message)

    _log_callback = llama_cpp.llama_log_callback(on_log)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


@contextlib.contextmanager
def load_progress(callback: Callable[[float], bool]) -> Iterator[None]:
    """Give llama.cpp a progress callback while ``Llama`` is constructed.

    llama-cpp-python builds its model params from ``llama_model_default_params()`` and
    exposes no progress argument, so the defaults it receives carry our callback for the
    duration of one load. Only the worker thread loads models, one at a time.
    """
    import llama_cpp.llama_cpp as low

    c_callback = low.llama_progress_callback(lambda progress, _data: bool(callback(progress)))
    original = low.llama_model_default_params

    def with_progress() -> Any:
        params = original()
        params.progress_callback = c_callback
        return params

    low.llama_model_default_params = with_progress
    try:
        yield
    finally:
        low.llama_model_default_params = original


class _UnusedChatFormatter:
    """Stands in for llama-cpp-python's ``Jinja2ChatFormatter`` while a model loads."""

    def __init__(self, **_kwargs: Any) -> None:
        pass

    def to_chat_handler(self) -> Any:
        return None


@contextlib.contextmanager
def skip_llama_chat_formatters() -> Iterator[None]:
    """Keep ``Llama()`` from compiling the file's chat templates itself.

    llama-cpp-python compiles every ``tokenizer.chat_template*`` in the file at load, in a
    Jinja environment that folds constants: ``{{ 'a' * 10**9 }}`` cost 17 s and 4.7 GB
    there. We never use its chat handlers; our own sandbox (core/template_sandbox.py)
    compiles the one template we use, without folding.
    """
    import llama_cpp.llama_chat_format as chat_format

    original = chat_format.Jinja2ChatFormatter
    chat_format.Jinja2ChatFormatter = _UnusedChatFormatter  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        chat_format.Jinja2ChatFormatter = original  # type: ignore[misc]


def warm_up(llama: Any) -> None:
    """Decode one token and forget it, as llama.cpp's own server does after a load: the
    first decode of a fresh context costs up to seconds (buffers, thread team, weight
    pages), and it belongs to loading, not to the next answer's time to first token."""
    import llama_cpp

    bos = llama._model.token_bos()
    token = (llama_cpp.llama_token * 1)(bos if bos >= 0 else 0)
    if llama_cpp.llama_decode(llama._ctx.ctx, llama_cpp.llama_batch_get_one(token, 1)) != 0:
        log.warning("the warm-up decode failed; the first answer pays for it")
    llama._ctx.kv_cache_clear()
    llama.reset()


def cached_prefix(llama: Any, tokens: list[int]) -> int:
    """How many of ``tokens`` (all but the last, which must be evaluated for its logits)
    the context already holds from the start: what a new evaluation can keep."""
    cached = llama.input_ids[: llama.n_tokens].tolist()
    keep = 0
    for a, b in zip(cached, tokens[:-1], strict=False):
        if a != b:
            break
        keep += 1
    return keep
