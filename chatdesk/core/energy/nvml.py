"""NVIDIA GPU energy through NVML (``pynvml`` from nvidia-ml-py, the ``nvidia`` extra).

Per GPU, the best of two ways:

* ``nvmlDeviceGetTotalEnergyConsumption``: millijoules since the driver loaded, a real
  counter (Volta and newer). Nothing between two reads is missed.
* otherwise (``NVML_ERROR_NOT_SUPPORTED`` on older GPUs, or any other error from it)
  ``nvmlDeviceGetPowerUsage`` (milliwatts), integrated by trapezoids at each poll: a
  gauge, so it is only as good as the sampling rate.

All GPUs are summed. ``pynvml`` is imported only here and only when asked for, so machines
without it (or without an NVIDIA GPU) never load it; tests pass a stand-in module with the
same functions, ``NVMLError`` (with ``.value``) and ``NVML_ERROR_NOT_SUPPORTED``.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from chatdesk.core.energy.source import (
    GaugeIntegrator,
    SourceProblem,
    SourceUnavailable,
    sysfs_root,
)

log = logging.getLogger(__name__)

INSTALL_FIX = "pip install 'chatdesk[nvidia]' (installs nvidia-ml-py)"


def load_pynvml() -> ModuleType | None:
    """The real pynvml module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


class _Gpu:
    """One GPU: a counter when it has one, else integrated power readings."""

    def __init__(self, nvml: Any, index: int) -> None:
        self.nvml = nvml
        self.index = index
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self.counter_base: int | None = None
        try:
            self.counter_base = int(nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except nvml.NVMLError as exc:  # NOT_SUPPORTED before Volta; any error: try power
            log.info("GPU %d has no energy counter (%s): integrating its power", index, exc)
            nvml.nvmlDeviceGetPowerUsage(self.handle)  # raises if power is unreadable too
            self.gauge = GaugeIntegrator()

    @property
    def has_counter(self) -> bool:
        return self.counter_base is not None

    def energy_joules(self, now: float) -> float:
        if self.counter_base is not None:
            total_mj = int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
            return (total_mj - self.counter_base) / 1000.0
        milliwatts = float(self.nvml.nvmlDeviceGetPowerUsage(self.handle))
        return self.gauge.add(now, milliwatts / 1000.0)


class NvmlSource:
    """Energy of every NVIDIA GPU, summed."""

    name = "nvml"
    measured = True

    def __init__(self, nvml: Any, gpus: list[_Gpu]) -> None:
        self._nvml = nvml
        self._gpus = gpus
        self._closed = False

    @classmethod
    def open(cls, nvml_module: Any | None = None,
             root: Path | None = None) -> NvmlSource:
        """Initialise NVML and find the GPUs, or raise SourceUnavailable.

        The reason for a missing pynvml is shown only where an NVIDIA driver is loaded
        (``<sysfs>/module/nvidia``): elsewhere there is no GPU to measure, and nothing to fix.
        """
        nvml = nvml_module if nvml_module is not None else load_pynvml()
        if nvml is None:
            driver = sysfs_root(root) / "module" / "nvidia"
            if driver.exists():
                raise SourceUnavailable(SourceProblem(
                    "nvml", "An NVIDIA driver is loaded but nvidia-ml-py is not installed, "
                    "so GPU energy is not measured.", INSTALL_FIX))
            raise SourceUnavailable(SourceProblem("nvml", "No NVIDIA GPU.", show=False))
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            driver = sysfs_root(root) / "module" / "nvidia"
            raise SourceUnavailable(SourceProblem(
                "nvml", f"NVML could not start ({exc}): no usable NVIDIA driver.",
                show=driver.exists())) from exc
        try:
            count = int(nvml.nvmlDeviceGetCount())
            gpus = []
            for index in range(count):
                try:
                    gpus.append(_Gpu(nvml, index))
                except nvml.NVMLError as exc:
                    log.info("GPU %d: neither energy nor power is readable (%s)", index, exc)
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            raise SourceUnavailable(SourceProblem(
                "nvml", f"NVML could not list the GPUs ({exc}).")) from exc
        if not gpus:
            nvml.nvmlShutdown()
            raise SourceUnavailable(SourceProblem(
                "nvml", "No NVIDIA GPU reports its energy or power." if count else
                "No NVIDIA GPU.", show=bool(count)))
        return cls(nvml, gpus)

    @property
    def gpu_count(self) -> int:
        return len(self._gpus)

    @property
    def methods(self) -> list[str]:
        """Per GPU, 'energy counter' or 'power samples': what the UI may show as detail."""
        return ["energy counter" if g.has_counter else "power samples" for g in self._gpus]

    def begin(self) -> None:
        pass

    def energy_joules(self, now: float) -> float:
        return sum(gpu.energy_joules(now) for gpu in self._gpus)

    def end(self) -> None:
        pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
