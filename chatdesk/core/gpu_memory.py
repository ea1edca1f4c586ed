"""GPU memory through NVML (nvidia-ml-py, the optional 'nvidia' extra): used and total
bytes of the first NVIDIA GPU, for the live stats and for sizing "GPU layers: auto"."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class GpuMemory:
    """Initialises NVML once (it costs milliseconds) and reads cheaply afterwards."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._nvml = pynvml
        except Exception as exc:  # no package, no driver, no GPU: all mean "not available"
            log.debug("no NVIDIA GPU memory readings: %s", exc)

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def read(self) -> tuple[int, int] | None:
        """(used, total) bytes, or None when there is no NVIDIA GPU to read."""
        if self._nvml is None:
            return None
        try:
            info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
        except self._nvml.NVMLError:
            return None
        return int(info.used), int(info.total)

    def close(self) -> None:
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None
