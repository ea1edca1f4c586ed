"""Will this model fit? A verdict from free memory, before anything is downloaded.

Users of other local-LLM apps download 5 GB and only then learn that the model cannot
load, or that it loads and swaps the machine to a crawl. The Models dialog and
``chatdesk models list`` show this verdict next to every catalog entry instead.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import psutil

from chatdesk.core import llama_runtime

log = logging.getLogger(__name__)

# "Fits" leaves a fifth of the usable memory to the OS, the app itself and whatever the
# user opens next; less headroom than that and the page cache thrashes while generating.
HEADROOM_NUM, HEADROOM_DEN = 4, 5  # 80 %, kept as integers so the rule is exact


class FitVerdict(str, enum.Enum):
    FITS = "fits"
    TIGHT = "tight"
    TOO_BIG = "too big"


@dataclass(frozen=True)
class MemoryInfo:
    total_ram: int  # bytes
    available_ram: int  # bytes the OS can hand out now without swapping (psutil "available")
    free_vram: int | None  # bytes free on a GPU llama.cpp can offload to; None: no such GPU


def current_memory() -> MemoryInfo:
    """This machine's memory now. VRAM counts only when llama.cpp can offload to a GPU:
    an NVIDIA card seen by NVML is no help to a CPU-only llama.cpp build."""
    vm = psutil.virtual_memory()
    free_vram = llama_runtime.free_vram_bytes() if _gpu_offload_supported() else None
    return MemoryInfo(total_ram=int(vm.total), available_ram=int(vm.available),
                      free_vram=free_vram)


def _gpu_offload_supported() -> bool:
    """Whether the installed llama.cpp was built with a GPU backend (False if unknown)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:  # ImportError, or OSError when the shared library fails to load
        log.debug("cannot ask llama.cpp about GPU offload: %s", exc)
        return False


def check_fit(required_bytes: int, memory: MemoryInfo) -> FitVerdict:
    """The verdict for a model that needs ``required_bytes`` (weights + KV cache + buffers).

    usable = available RAM + free VRAM (0 when there is no GPU llama.cpp can use): llama.cpp
    splits a model between GPU and CPU layer by layer, so the two pools add up.

    * FITS when required <= 80 % of usable: it loads now and leaves room for the rest.
    * TIGHT when required <= usable: it loads, but the machine will be short of memory;
      also TIGHT when it exceeds what is free now but is <= 80 % of total RAM (+ free
      VRAM): it fits once other programs free memory (close a browser and it runs).
    * TOO BIG otherwise: this machine cannot run it without swapping, whatever is closed.

    Integer arithmetic, so boundaries are exact: 80 % of 10 bytes fits 8, not 8.000001.
    """
    if isinstance(required_bytes, bool) or not isinstance(required_bytes, int):
        raise TypeError(f"required_bytes must be an int, got {required_bytes!r}")
    if required_bytes < 0:
        raise ValueError(f"required_bytes must not be negative, got {required_bytes}")
    vram = memory.free_vram or 0
    usable_now = max(0, memory.available_ram) + max(0, vram)
    usable_at_best = max(0, memory.total_ram) + max(0, vram)
    if required_bytes * HEADROOM_DEN <= usable_now * HEADROOM_NUM:
        return FitVerdict.FITS
    if required_bytes <= usable_now:
        return FitVerdict.TIGHT
    if required_bytes * HEADROOM_DEN <= usable_at_best * HEADROOM_NUM:
        return FitVerdict.TIGHT
    return FitVerdict.TOO_BIG
