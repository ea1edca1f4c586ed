"""macOS power from ``powermetrics``, where it runs without a password prompt.

``powermetrics`` needs root. It is used only when chatdesk already runs as root or
``sudo -n`` (never prompting) may run it, e.g. after the sudoers line codecarbon documents
(https://mlco2.github.io/codecarbon/methodology.html): ``<user> ALL = (root) NOPASSWD:
/usr/bin/powermetrics``. Otherwise the meter falls back and says so.

While a measurement runs, one ``powermetrics --samplers cpu_power,gpu_power -i 100``
streams a text block per interval; each block is parsed into watts:

* Apple Silicon: ``Combined Power (CPU + GPU + ANE): N mW`` when present, else the sum of
  the ``CPU Power``, ``GPU Power`` and ``ANE Power`` lines (``GPU Power`` appears in both
  samplers' sections; it is counted once);
* Intel Macs: ``Intel energy model derived package power (CPUs+GT+SA): N W``.

Values may be in mW or W. The parser is tested on text written from Apple's documented
format; it has not been run against a real Mac here.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any

from chatdesk.core.energy.source import GaugeIntegrator, SourceProblem, SourceUnavailable

log = logging.getLogger(__name__)

SUDOERS_FIX = ("add '<your user> ALL = (root) NOPASSWD: /usr/bin/powermetrics' with "
               "'sudo visudo', then restart chatdesk")
BLOCK_HEADER = "*** Sampled system activity"
INTERVAL_MS = 100

_POWER_LINE = re.compile(
    r"^\s*(?P<what>CPU|GPU|ANE|Combined) Power(?: \([^)]*\))?:\s*(?P<value>[0-9.]+)\s*"
    r"(?P<unit>mW|W)\b", re.MULTILINE)
_INTEL_LINE = re.compile(
    r"^\s*Intel energy model derived package power \(CPUs\+GT\+SA\):\s*"
    r"(?P<value>[0-9.]+)\s*(?P<unit>mW|W)\b", re.MULTILINE)


def _watts(value: str, unit: str) -> float:
    return float(value) / (1000.0 if unit == "mW" else 1.0)


def parse_block(text: str) -> float | None:
    """Watts in one powermetrics sample block, or None when it has no power lines."""
    intel = _INTEL_LINE.search(text)
    if intel:
        return _watts(intel["value"], intel["unit"])
    parts: dict[str, float] = {}
    for match in _POWER_LINE.finditer(text):
        parts.setdefault(match["what"], _watts(match["value"], match["unit"]))
    if "Combined" in parts:
        return parts["Combined"]
    found = [parts[k] for k in ("CPU", "GPU", "ANE") if k in parts]
    return sum(found) if found else None


def parse_stream(text: str) -> list[float]:
    """Watts of every sample block in a powermetrics text output, in order."""
    blocks = text.split(BLOCK_HEADER)
    watts = [parse_block(b) for b in blocks]
    return [w for w in watts if w is not None]


Runner = Callable[..., subprocess.CompletedProcess]
Popen = Callable[..., Any]


def command_prefix(platform: str = sys.platform, runner: Runner = subprocess.run,
                   is_root: bool | None = None,
                   which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """``[]`` when root, ``['sudo', '-n']`` when sudo lets us run powermetrics without a
    password; otherwise SourceUnavailable. One short real run proves it works."""
    if platform != "darwin":
        raise SourceUnavailable(SourceProblem("powermetrics", "Not macOS.", show=False))
    if which("powermetrics") is None:
        raise SourceUnavailable(SourceProblem(
            "powermetrics", "powermetrics is not installed.", show=False))
    root = (os.geteuid() == 0) if is_root is None else is_root
    prefix = [] if root else ["sudo", "-n"]
    try:
        done = runner([*prefix, "powermetrics", "--samplers", "cpu_power,gpu_power",
                       "-i", str(INTERVAL_MS), "-n", "1"],
                      capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(SourceProblem(
            "powermetrics", f"powermetrics could not run ({exc}).")) from exc
    if done.returncode != 0 or not parse_stream(done.stdout or ""):
        raise SourceUnavailable(SourceProblem(
            "powermetrics", "powermetrics needs root, and sudo asks for a password.",
            SUDOERS_FIX))
    return prefix


class PowermetricsSource:
    """CPU + GPU + ANE power of a Mac, from a powermetrics process per measurement."""

    name = "powermetrics"
    measured = True

    def __init__(self, prefix: list[str], popen: Popen = subprocess.Popen) -> None:
        self._prefix = prefix
        self._popen = popen
        self._proc: Any = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest: float | None = None
        self._gauge = GaugeIntegrator()

    @classmethod
    def open(cls, popen: Popen = subprocess.Popen, **probe: Any) -> PowermetricsSource:
        return cls(command_prefix(**probe), popen)

    def _read(self, stream: IO[str] | Iterable[str]) -> None:
        block: list[str] = []
        for line in stream:
            if line.startswith(BLOCK_HEADER) and block:
                self._store(parse_block("".join(block)))
                block = []
            block.append(line)
        if block:
            self._store(parse_block("".join(block)))

    def _store(self, watts: float | None) -> None:
        if watts is not None:
            with self._lock:
                self._latest = watts

    def latest_watts(self) -> float | None:
        with self._lock:
            return self._latest

    def begin(self) -> None:
        with self._lock:
            self._latest = None
        self._gauge.restart()
        self._proc = self._popen(
            [*self._prefix, "powermetrics", "--samplers", "cpu_power,gpu_power",
             "-i", str(INTERVAL_MS)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,),
                                        name="chatdesk-powermetrics", daemon=False)
        self._reader.start()

    def energy_joules(self, now: float) -> float:
        watts = self.latest_watts()
        return self._gauge.joules if watts is None else self._gauge.add(now, watts)

    def end(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        if self._reader is not None:
            self._reader.join(timeout=5)
            if self._reader.is_alive():
                log.warning("the powermetrics reader did not stop")
            self._reader = None

    def close(self) -> None:
        self.end()
