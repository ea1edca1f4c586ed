"""GPU memory readings through a stand-in for nvidia-ml-py's pynvml module."""

from __future__ import annotations

import sys
import types

import pytest

from chatdesk.core import llama_runtime
from chatdesk.core.gpu_memory import GpuMemory


class NVMLError(Exception):
    pass


def fake_pynvml(used: int, total: int, *, fail_init: bool = False) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError
    module.calls = []

    def init() -> None:
        module.calls.append("init")
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    module.nvmlInit = init
    module.nvmlShutdown = lambda: module.calls.append("shutdown")
    module.nvmlDeviceGetHandleByIndex = lambda index: f"gpu{index}"
    module.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(
        used=used, total=total, free=total - used)
    return module


def test_reads_used_and_total_and_initialises_once(monkeypatch: pytest.MonkeyPatch):
    module = fake_pynvml(used=3 << 30, total=24 << 30)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    gpu = GpuMemory()
    assert gpu.available
    assert gpu.read() == (3 << 30, 24 << 30)
    assert gpu.read() == (3 << 30, 24 << 30)
    gpu.close()
    assert module.calls == ["init", "shutdown"]
    assert gpu.read() is None


def test_no_driver_means_not_available(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(0, 0, fail_init=True))
    gpu = GpuMemory()
    assert not gpu.available and gpu.read() is None


def test_no_package_means_not_available(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert GpuMemory().read() is None
    assert llama_runtime.free_vram_bytes() is None


def test_free_vram_is_total_minus_used(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(used=2 << 30, total=8 << 30))
    assert llama_runtime.free_vram_bytes() == 6 << 30
