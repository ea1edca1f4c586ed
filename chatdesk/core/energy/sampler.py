"""The energy meter: picks the best sources once, then samples them while the model works.

Sources, chosen once per meter by :func:`detect_sources`:

* the CPU side: RAPL (Linux) if readable, else powermetrics (macOS) if it runs without a
  password, else the estimate (CPU TDP × utilisation + RAM);
* the GPU side, added to it: NVML when an NVIDIA GPU answers.

The report's ``source`` joins the names used (``'rapl'``, ``'rapl+nvml'``,
``'estimate+nvml'``...), and ``measured`` is True only when no part was estimated.

A sampler thread (not a daemon; joined by :meth:`EnergyMeter.stop`) polls the sources at
``hz`` (5 by default) for the live chart. The energy itself does not depend on the polling
rate for counters and for the estimate: it is the difference between the readings at
``start`` and at ``stop``, both taken on the caller's thread.

The idle baseline is the machine's power while nothing is generated: measured by
:meth:`EnergyMeter.measure_idle` (call it when the model has loaded, before anyone waits
for an answer), given as ``idle_watts``, or, when neither happened, measured once for
``DEFAULT_IDLE_SECONDS`` at the first :meth:`EnergyMeter.start`. The report then carries
the total and the part above idle (total − idle watts × seconds, never below 0).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatdesk.core.energy.cpu_tdp import guess_tdp
from chatdesk.core.energy.estimate import EstimateSource, make_model
from chatdesk.core.energy.nvml import NvmlSource
from chatdesk.core.energy.powermetrics import PowermetricsSource
from chatdesk.core.energy.rapl import RaplSource
from chatdesk.core.energy.source import (
    SYSFS_ROOT_ENV,
    PowerSource,
    SourceProblem,
    SourceUnavailable,
)

log = logging.getLogger(__name__)

DEFAULT_HZ = 5.0
DEFAULT_IDLE_SECONDS = 0.5


@dataclass(frozen=True)
class EnergyReport:
    """What one measured stretch (an answer) used. Frozen: it crosses threads as is."""

    source: str  # 'rapl' | 'nvml' | 'powermetrics' | 'estimate', '+'-joined when several
    measured: bool  # False when any part is estimated
    joules: float
    above_idle_joules: float
    seconds: float
    avg_watts: float
    idle_watts: float
    samples: tuple[tuple[float, float], ...]  # (seconds since start, watts), for the chart

    @property
    def watt_hours(self) -> float:
        return self.joules / 3600.0


@dataclass(frozen=True)
class Detection:
    """The sources chosen, and why the others were not (for the UI)."""

    sources: tuple[PowerSource, ...]
    problems: tuple[SourceProblem, ...] = field(default=())

    @property
    def label(self) -> str:
        return "+".join(s.name for s in self.sources)

    @property
    def measured(self) -> bool:
        return all(s.measured for s in self.sources)


def detect_sources(*, sysfs_root: Path | None = None, nvml_module: Any | None = None,
                   tdp_watts: float | None = None, ram_watts: float | None = None,
                   use_rapl: bool | None = None, use_powermetrics: bool = True,
                   use_nvml: bool = True) -> Detection:
    """Open the best CPU source and every GPU source; collect the reasons for the rest.

    RAPL is tried on Linux, or anywhere a sysfs root is given (argument or
    ``$CHATDESK_SYSFS_ROOT``), so a Mac is never told its missing powercap tree is a problem.
    """
    if use_rapl is None:
        use_rapl = (sys.platform.startswith("linux") or sysfs_root is not None
                    or bool(os.environ.get(SYSFS_ROOT_ENV)))
    problems: list[SourceProblem] = []
    sources: list[PowerSource] = []
    cpu: PowerSource | None = None
    if use_rapl:
        try:
            cpu = RaplSource.open(sysfs_root)
        except SourceUnavailable as exc:
            problems.append(exc.problem)
    if cpu is None and use_powermetrics:
        try:
            cpu = PowermetricsSource.open()
        except SourceUnavailable as exc:
            problems.append(exc.problem)
    if cpu is None:
        tdp = guess_tdp(override=tdp_watts, root=sysfs_root)
        cpu = EstimateSource(make_model(tdp, ram_watts))
    sources.append(cpu)
    if use_nvml:
        try:
            sources.append(NvmlSource.open(nvml_module, sysfs_root))
        except SourceUnavailable as exc:
            problems.append(exc.problem)
    return Detection(tuple(sources), tuple(problems))


class EnergyMeter:
    """Measures the energy of each answer; reusable across answers, one at a time.

    ``start`` and ``stop`` are called from one thread (the one that runs or awaits the
    answer); ``sample_now`` may be called from any thread.
    """

    def __init__(self, *, sysfs_root: Path | None = None, nvml_module: Any | None = None,
                 tdp_watts: float | None = None, hz: float = DEFAULT_HZ,
                 idle_watts: float | None = None, ram_watts: float | None = None,
                 sources: Sequence[PowerSource] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not hz > 0:
            raise ValueError("hz must be positive")
        if idle_watts is not None and idle_watts < 0:
            raise ValueError("idle_watts must not be negative")
        if sources is not None:
            if not sources:
                raise ValueError("at least one source is needed")
            self.detection = Detection(tuple(sources))
        else:
            self.detection = detect_sources(sysfs_root=sysfs_root, nvml_module=nvml_module,
                                            tdp_watts=tdp_watts, ram_watts=ram_watts)
        self._period = 1.0 / hz
        self._clock = clock
        self._sleep = sleep
        self._idle_watts = idle_watts
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: list[tuple[float, float]] = []
        self._t0 = 0.0
        self._e0 = 0.0
        self._last: tuple[float, float] = (0.0, 0.0)  # (clock, energy) of the last poll
        self._closed = False

    # -- what was chosen ----------------------------------------------------------------
    @property
    def source(self) -> str:
        return self.detection.label

    @property
    def measured(self) -> bool:
        return self.detection.measured

    @property
    def idle_watts(self) -> float | None:
        return self._idle_watts

    @property
    def running(self) -> bool:
        return self._thread is not None

    def unavailable_reasons(self) -> list[str]:
        """One line per source that could have measured better, with its fix if any."""
        return [p.as_line() for p in self.detection.problems if p.show]

    # -- reading ------------------------------------------------------------------------
    def _energy(self, now: float) -> float:
        return sum(s.energy_joules(now) for s in self.detection.sources)

    def _begin(self) -> None:
        for source in self.detection.sources:
            source.begin()

    def _end(self) -> None:
        for source in self.detection.sources:
            try:
                source.end()
            except Exception:  # one source failing to clean up must not hide the others
                log.exception("ending the %s source failed", source.name)

    def _poll(self) -> tuple[float, float] | None:
        """Read the sources now; append (t since start, watts since the last poll)."""
        now = self._clock()
        try:
            energy = self._energy(now)
        except (OSError, ValueError) as exc:  # a counter file vanished, a bad read...
            log.warning("energy poll failed: %s", exc)
            return None
        except Exception as exc:  # NVMLError and the like: skip this poll, keep going
            log.warning("energy poll failed: %r", exc)
            return None
        with self._lock:
            then, before = self._last
            if now <= then:
                return None
            sample = (now - self._t0, (energy - before) / (now - then))
            self._last = (now, energy)
            self._samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop_event.wait(self._period):
            self._poll()

    # -- the idle baseline ----------------------------------------------------------------
    def measure_idle(self, seconds: float = DEFAULT_IDLE_SECONDS) -> float:
        """Measure the machine's power while nothing runs, for ``seconds``; returns watts.

        Blocks the caller for that long; never while an answer is being measured.
        """
        if self.running:
            raise RuntimeError("measure_idle while a measurement runs")
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        self._begin()
        try:
            t0 = self._clock()
            e0 = self._energy(t0)
            self._sleep(seconds)
            t1 = self._clock()
            e1 = self._energy(t1)
        finally:
            self._end()
        self._idle_watts = max(0.0, (e1 - e0) / (t1 - t0)) if t1 > t0 else 0.0
        return self._idle_watts

    # -- one answer ---------------------------------------------------------------------
    def start(self) -> None:
        """Begin measuring (an answer starts now); measures idle first if never done."""
        if self._closed:
            raise RuntimeError("the meter is closed")
        if self.running:
            raise RuntimeError("the meter is already running")
        if self._idle_watts is None:
            self.measure_idle()
        self._begin()
        try:
            t0 = self._clock()
            e0 = self._energy(t0)
        except BaseException:
            self._end()
            raise
        with self._lock:
            self._t0, self._e0 = t0, e0
            self._last = (t0, e0)
            self._samples = []
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="chatdesk-energy-sampler",
                                        daemon=False)
        self._thread.start()

    def sample_now(self) -> tuple[float, float] | None:
        """The latest (seconds since start, watts), for a live display; None before any."""
        with self._lock:
            return self._samples[-1] if self._samples else None

    def stop(self) -> EnergyReport:
        """End the measurement: join the thread, read the sources once more, report."""
        thread = self._thread
        if thread is None:
            raise RuntimeError("the meter is not running")
        self._stop_event.set()
        thread.join()
        self._thread = None
        try:
            self._poll()
        finally:
            self._end()
        with self._lock:
            t1, e1 = self._last
            samples = tuple(self._samples)
        seconds = t1 - self._t0
        joules = max(0.0, e1 - self._e0)
        idle = self._idle_watts or 0.0
        return EnergyReport(
            source=self.source, measured=self.measured, joules=joules,
            above_idle_joules=max(0.0, joules - idle * seconds), seconds=seconds,
            avg_watts=joules / seconds if seconds > 0 else 0.0, idle_watts=idle,
            samples=samples)

    # -- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop a running measurement (discarding it) and release every source."""
        if self.running:
            self.stop()
        if not self._closed:
            self._closed = True
            for source in self.detection.sources:
                try:
                    source.close()
                except Exception:
                    log.exception("closing the %s source failed", source.name)

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
