"""The estimate used when nothing can be measured: CPU from TDP × utilisation, plus RAM.

The model follows codecarbon's published methodology
(https://mlco2.github.io/codecarbon/methodology.html, "CPU" and "RAM"; source of the
version read: github.com/mlco2/codecarbon, docs/edit/methodology.rst):

* **CPU**: ``P = TDP × max(u, 0.10)``, with ``u`` the utilisation of the whole machine
  (0..1) over the interval. That is codecarbon's ``CPU._calculate_power_from_cpu_load``
  (``codecarbon/external/hardware.py`` at commit 7dab319f: ``max(tdp * cpu_load / 100,
  tdp * 0.1)``): an idle chip still draws something. The same file's "machine" mode has
  also used a cubic curve, ``TDP × (0.1 + 0.9 u³)``; the linear one is kept because it is
  what "TDP × utilisation" says and it never charges a half-loaded chip less than the
  cubic would. The TDP comes from :mod:`chatdesk.core.energy.cpu_tdp` (user override,
  table, or default).
* **RAM**: codecarbon v3's model, 5 W per memory module (DIMM) on x86 and 1.5 W on ARM,
  with the module count guessed from the RAM size (at least 2 modules on x86, so at least
  10 W; 3 W at least on ARM), and each module past the 4th, 8th and 16th counting 90 %,
  80 % and 70 %. codecarbon v2 used 3 W per 8 GB; its documentation now explains why it
  left that (power follows the number of modules, not their size). A user value wins.

Utilisation is the **machine's**, not the process's: the measured sources (RAPL packages,
NVML GPUs, powermetrics) all see the whole machine, so the estimate means the same thing
as they do, and background load cancels out in the figure above idle. It is computed from
``psutil.cpu_times()`` deltas that this source keeps itself (busy = total − idle − iowait,
as ``psutil.cpu_percent`` counts it), not from ``psutil.cpu_percent()``, whose one shared
"since the last call" state any other caller in the process would disturb.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from chatdesk.core.energy.cpu_tdp import TdpGuess

CPU_FLOOR = 0.10  # share of the TDP drawn at 0 % utilisation
RAM_WATTS_PER_DIMM_X86 = 5.0
RAM_WATTS_PER_DIMM_ARM = 1.5
RAM_MIN_WATTS_ARM = 3.0
_GIB = 1024**3


def cpu_watts(tdp_watts: float, utilisation: float) -> float:
    """CPU power for a utilisation in 0..1 (clamped): TDP × max(u, floor)."""
    u = min(1.0, max(0.0, utilisation))
    return tdp_watts * max(u, CPU_FLOOR)


def dimm_count(total_gib: float) -> int:
    """How many memory modules a machine with this much RAM most likely has."""
    if total_gib <= 2:
        return 1
    if total_gib <= 16:
        return 2
    if total_gib <= 64:
        return 4
    if total_gib <= 128:
        return 8
    for size in (128, 64, 32, 16, 8, 4):  # the largest common module that needs >= 8 of them
        if size <= total_gib / 8:
            return min(32, math.ceil(total_gib / size))
    return 8


def ram_watts(total_bytes: int, arm: bool | None = None) -> float:
    """RAM power by codecarbon v3's module model (see the module docstring)."""
    if arm is None:
        arm = platform.machine().lower().startswith(("arm", "aarch"))
    per = RAM_WATTS_PER_DIMM_ARM if arm else RAM_WATTS_PER_DIMM_X86
    n = dimm_count(total_bytes / _GIB)
    tiers = ((4, 1.0), (4, 0.9), (8, 0.8), (math.inf, 0.7))
    watts, left = 0.0, n
    for size, share in tiers:
        take = min(left, size)
        watts += per * share * take
        left -= take
        if left <= 0:
            break
    return max(watts, RAM_MIN_WATTS_ARM if arm else 2 * per)


def busy_fraction(before: Any, after: Any) -> float:
    """Machine utilisation between two ``psutil.cpu_times()`` readings, 0..1."""
    def total(t: Any) -> float:
        fields = t._asdict()
        # guest time is already inside user time on Linux
        return sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)

    def idle(t: Any) -> float:
        return t.idle + getattr(t, "iowait", 0.0)

    elapsed = total(after) - total(before)
    if elapsed <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - (idle(after) - idle(before)) / elapsed))


@dataclass(frozen=True)
class EstimateModel:
    """What the estimate multiplies: shown to the user next to every estimated figure."""

    tdp: TdpGuess
    ram_watts: float
    ram_how: str  # 'codecarbon v3 module model, N GiB' or 'override'

    def watts(self, utilisation: float) -> float:
        return cpu_watts(self.tdp.watts, utilisation) + self.ram_watts

    def describe(self) -> str:
        return (f"CPU TDP {self.tdp.describe()} × utilisation (at least "
                f"{CPU_FLOOR:.0%}) + RAM {self.ram_watts:g} W ({self.ram_how})")


def make_model(tdp: TdpGuess, ram_override: float | None = None,
               total_ram_bytes: int | None = None) -> EstimateModel:
    if ram_override is not None:
        if ram_override < 0:
            raise ValueError("RAM watts must not be negative")
        return EstimateModel(tdp, float(ram_override), "override")
    total = psutil.virtual_memory().total if total_ram_bytes is None else total_ram_bytes
    return EstimateModel(tdp, ram_watts(total),
                         f"codecarbon v3 module model, {total / _GIB:.0f} GiB")


class EstimateSource:
    """Energy as the model's watts at each interval's measured utilisation, summed.

    Each poll covers the interval since the previous one with that interval's average
    utilisation (a rectangle, which is exact for an average), so the estimate does not
    depend on how often it is polled.
    """

    name = "estimate"
    measured = False

    def __init__(self, model: EstimateModel,
                 cpu_times: Callable[[], Any] = psutil.cpu_times) -> None:
        self.model = model
        self._cpu_times = cpu_times
        self._last: tuple[float, Any] | None = None
        self._joules = 0.0
        self.last_utilisation = 0.0

    def begin(self) -> None:
        self._last = None

    def energy_joules(self, now: float) -> float:
        times = self._cpu_times()
        if self._last is not None:
            then, before = self._last
            if now > then:
                self.last_utilisation = busy_fraction(before, times)
                self._joules += self.model.watts(self.last_utilisation) * (now - then)
        self._last = (now, times)
        return self._joules

    def end(self) -> None:
        pass

    def close(self) -> None:
        pass
