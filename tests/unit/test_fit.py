"""The fit check, with numbers worked out by hand."""

from __future__ import annotations

import sys
import types
from collections import namedtuple

import pytest

from chatdesk.core import fit, llama_runtime
from chatdesk.core.fit import FitVerdict, MemoryInfo, check_fit, current_memory

GiB = 1024**3
FITS, TIGHT, TOO_BIG = FitVerdict.FITS, FitVerdict.TIGHT, FitVerdict.TOO_BIG


# A laptop: 16 GiB, 6 GiB free now, no usable GPU.
#   80 % of free           = 4.8 GiB   -> fits up to here
#   free                   = 6 GiB     -> tight up to here
#   80 % of total          = 12.8 GiB  -> tight up to here (once other programs close)
LAPTOP = MemoryInfo(total_ram=16 * GiB, available_ram=6 * GiB, free_vram=None)


@pytest.mark.parametrize(("required", "verdict"), [
    (0, FITS),
    (1 * GiB, FITS),
    (48 * GiB // 10, FITS),  # exactly 80 % of 6 GiB
    (48 * GiB // 10 + 1, TIGHT),
    (6 * GiB, TIGHT),  # exactly what is free
    (6 * GiB + 1, TIGHT),  # more than free, but 80 % of 16 GiB is 12.8 GiB
    (128 * GiB // 10, TIGHT),  # exactly 80 % of total
    (128 * GiB // 10 + 1, TOO_BIG),
    (16 * GiB, TOO_BIG),
])
def test_laptop_without_gpu(required, verdict):
    assert check_fit(required, LAPTOP) is verdict


def test_free_vram_adds_to_free_ram():
    # 6 GiB free RAM + 8 GiB free VRAM = 14 GiB usable; 80 % of that is 11.2 GiB.
    gpu = MemoryInfo(total_ram=16 * GiB, available_ram=6 * GiB, free_vram=8 * GiB)
    assert check_fit(112 * GiB // 10, gpu) is FITS
    assert check_fit(112 * GiB // 10 + 1, gpu) is TIGHT
    assert check_fit(14 * GiB, gpu) is TIGHT
    # 80 % of (16 + 8) GiB = 19.2 GiB at best.
    assert check_fit(192 * GiB // 10, gpu) is TIGHT
    assert check_fit(192 * GiB // 10 + 1, gpu) is TOO_BIG
    # The same model without the GPU: 11.2 GiB > 6 GiB free, but <= 12.8 GiB.
    assert check_fit(112 * GiB // 10, LAPTOP) is TIGHT


def test_small_numbers_are_exact():
    # 80 % of 10 bytes is 8: integer arithmetic, no float rounding at the boundary.
    mem = MemoryInfo(total_ram=10, available_ram=10, free_vram=None)
    assert [check_fit(n, mem) for n in (7, 8, 9, 10, 11)] == [FITS, FITS, TIGHT, TIGHT, TOO_BIG]


def test_zero_vram_is_the_same_as_none():
    with_zero = MemoryInfo(total_ram=16 * GiB, available_ram=6 * GiB, free_vram=0)
    for required in (GiB, 5 * GiB, 7 * GiB, 13 * GiB):
        assert check_fit(required, with_zero) is check_fit(required, LAPTOP)


def test_catalog_sized_examples():
    # An 8 GiB machine with 5 GiB free: Qwen2.5 0.5B (0.9 GB) fits, a 7B (5.4 GB) needs
    # more than is free (5.37 GiB > 5 GiB) but 80 % of 8 GiB is 6.4 GiB: tight.
    mem = MemoryInfo(total_ram=8 * GiB, available_ram=5 * GiB, free_vram=None)
    assert check_fit(900_000_000, mem) is FITS
    assert check_fit(5_400_000_000, mem) is TIGHT
    assert check_fit(7_000_000_000, mem) is TOO_BIG  # 6.52 GiB > 6.4 GiB


def test_verdict_values_are_the_words_shown():
    assert [v.value for v in FitVerdict] == ["fits", "tight", "too big"]
    assert FitVerdict("too big") is TOO_BIG
    assert FITS == "fits"  # a str enum: JSON-friendly for `models list --json`


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, None])
def test_nonsense_requirements_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        check_fit(bad, LAPTOP)


# -- reading this machine's memory ---------------------------------------------------------

VM = namedtuple("VM", "total available")


def test_current_memory_uses_psutil_and_vram_when_llama_can_offload(monkeypatch):
    monkeypatch.setattr(fit.psutil, "virtual_memory", lambda: VM(32 * GiB, 20 * GiB))
    monkeypatch.setattr(llama_runtime, "free_vram_bytes", lambda: 7 * GiB)
    monkeypatch.setattr(fit, "_gpu_offload_supported", lambda: True)
    assert current_memory() == MemoryInfo(32 * GiB, 20 * GiB, 7 * GiB)


def test_a_gpu_llama_cannot_use_does_not_count(monkeypatch):
    monkeypatch.setattr(fit.psutil, "virtual_memory", lambda: VM(32 * GiB, 20 * GiB))
    monkeypatch.setattr(llama_runtime, "free_vram_bytes", lambda: 7 * GiB)
    monkeypatch.setattr(fit, "_gpu_offload_supported", lambda: False)
    assert current_memory().free_vram is None


def test_offload_support_comes_from_llama_cpp(monkeypatch):
    fake = types.ModuleType("llama_cpp")
    fake.llama_supports_gpu_offload = lambda: True
    monkeypatch.setitem(sys.modules, "llama_cpp", fake)
    assert fit._gpu_offload_supported() is True
    fake.llama_supports_gpu_offload = lambda: False
    assert fit._gpu_offload_supported() is False

    def broken() -> bool:
        raise OSError("libllama.so: cannot open shared object file")

    fake.llama_supports_gpu_offload = broken
    assert fit._gpu_offload_supported() is False  # unknown means no GPU, not a crash


def test_current_memory_on_this_machine():
    mem = current_memory()
    assert mem.total_ram > 0
    assert 0 < mem.available_ram <= mem.total_ram
    assert mem.free_vram is None or mem.free_vram >= 0
    assert check_fit(0, mem) is FITS
    assert check_fit(10 * mem.total_ram + (mem.free_vram or 0) * 10, mem) is TOO_BIG
