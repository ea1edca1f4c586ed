"""What every power source gives the sampler: a cumulative energy in joules.

Counters (RAPL, NVML's total energy) are energy already; gauges (NVML power, powermetrics,
the estimate) are watts that the source integrates itself at each poll. Either way the
sampler only subtracts two readings, so one loop serves every source and several sources
add up by plain summation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

SYSFS_ROOT_ENV = "CHATDESK_SYSFS_ROOT"


def sysfs_root(explicit: Path | None = None) -> Path:
    """The sysfs root: the argument, else ``$CHATDESK_SYSFS_ROOT``, else ``/sys``."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get(SYSFS_ROOT_ENV) or "/sys")


@runtime_checkable
class PowerSource(Protocol):
    """One place power can be read from. Polled from one thread at a time."""

    name: str  # 'rapl' | 'nvml' | 'powermetrics' | 'estimate'
    measured: bool  # False only for the estimate

    def begin(self) -> None:
        """Called before a measurement (an answer or an idle baseline) starts."""

    def energy_joules(self, now: float) -> float:
        """Energy since the source was created, monotonic; ``now`` is the sampler's clock."""

    def end(self) -> None:
        """Called after a measurement; releases what ``begin`` took (a subprocess)."""

    def close(self) -> None:
        """Release everything (NVML's handle); the source is not polled again."""


@dataclass(frozen=True)
class SourceProblem:
    """Why a source is not used, and how the user can fix it (None: nothing to do).

    ``show`` is False for the absence of hardware that is not there to measure (no NVIDIA
    GPU on this machine): true, but nothing the UI should bother the user with.
    """

    source: str
    message: str
    fix: str | None = None
    show: bool = True

    def as_line(self) -> str:
        """One line for the UI: the reason, then the fix."""
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message


class SourceUnavailable(Exception):
    """Raised by a source's ``open`` when it cannot be used; carries the problem."""

    def __init__(self, problem: SourceProblem) -> None:
        super().__init__(problem.as_line())
        self.problem = problem


class GaugeIntegrator:
    """Trapezoidal integration of power readings into energy.

    The first reading only sets the starting point: a gauge knows nothing about the time
    before it was first read, so it adds no energy for it.
    """

    def __init__(self) -> None:
        self.joules = 0.0
        self._last: tuple[float, float] | None = None

    def restart(self) -> None:
        """Forget the last reading (keeping the total): a gap without readings adds nothing."""
        self._last = None

    def add(self, now: float, watts: float) -> float:
        if self._last is not None:
            then, before = self._last
            if now > then:
                self.joules += (before + watts) / 2.0 * (now - then)
        self._last = (now, watts)
        return self.joules
