"""The CPU's TDP for the estimate: the user's override, a small table, or a stated default.

Order (the first that applies wins):

1. the user's override (settings), always;
2. the table below, matched on the CPU model name, times the number of CPU packages;
3. a server CPU the table does not know (``EPYC``, ``Xeon``): ``SERVER_WATTS_PER_CORE`` per
   core this machine can see. A virtual machine sees a slice of a big chip, and the whole
   chip's TDP would charge it for cores that belong to other tenants;
4. otherwise ``LAPTOP_TDP_W`` (15 W) on a machine with a battery, ``DESKTOP_TDP_W`` (65 W)
   without one: the most common TDP classes of laptop and desktop CPUs.

Every table value is copied from codecarbon's public TDP table,
https://github.com/mlco2/codecarbon/blob/master/codecarbon/data/hardware/cpu_power.csv
(read at commit 071eb772444aaa8158f514c26e06731e1e636ed1), which lists the makers'
published TDPs. The table stays small on purpose: it exists so common machines get a
better guess than the default, not to replace the setting.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from chatdesk.core.energy.source import sysfs_root

LAPTOP_TDP_W = 15.0
DESKTOP_TDP_W = 65.0
# About the median TDP per core of AMD EPYC 7002/7003/9004 parts in codecarbon's table
# (7763: 280 W / 64 cores = 4.4 W; 7543: 225 W / 32 = 7.0 W; 7713: 225 W / 64 = 3.5 W).
SERVER_WATTS_PER_CORE = 5.0

# (pattern on the normalised model name, TDP in watts per package, label)
TDP_TABLE: tuple[tuple[str, float, str], ...] = (
    (r"\bi9-9900k\b", 95, "Intel Core i9-9900K"),
    (r"\bi7-10700k\b", 125, "Intel Core i7-10700K"),
    (r"\bi7-8700\b", 65, "Intel Core i7-8700"),
    (r"\bi5-10400\b", 65, "Intel Core i5-10400"),
    (r"\bi7-10750h\b", 45, "Intel Core i7-10750H"),
    (r"\bi7-1165g7\b", 28, "Intel Core i7-1165G7"),
    (r"\bi5-1135g7\b", 28, "Intel Core i5-1135G7"),
    (r"\bi7-8550u\b", 15, "Intel Core i7-8550U"),
    (r"\bi5-8250u\b", 15, "Intel Core i5-8250U"),
    (r"\bryzen 9 5950x\b", 105, "AMD Ryzen 9 5950X"),
    (r"\bryzen 7 5800x\b", 105, "AMD Ryzen 7 5800X"),
    (r"\bryzen 5 5600x\b", 65, "AMD Ryzen 5 5600X"),
    (r"\bryzen 5 3600\b", 65, "AMD Ryzen 5 3600"),
    (r"\bryzen 7 4800u\b", 25, "AMD Ryzen 7 4800U"),
    (r"\bthreadripper 3990x\b", 280, "AMD Ryzen Threadripper 3990X"),
    (r"\bepyc 7543\b", 225, "AMD EPYC 7543"),
    (r"\bepyc 7763\b", 280, "AMD EPYC 7763"),
    (r"\bapple m1$", 10, "Apple M1"),
)
_SERVER = re.compile(r"\b(epyc|xeon)\b")


@dataclass(frozen=True)
class TdpGuess:
    """The TDP used, and how it was chosen (shown next to every estimated figure)."""

    watts: float
    cpu_model: str
    how: str  # starts with 'override', 'table', 'per-core', 'laptop default' or 'desktop default'

    def describe(self) -> str:
        return f"{self.watts:g} W ({self.how}; CPU: {self.cpu_model or 'unknown'})"


def normalise(model: str) -> str:
    """Lower case without trademarks, 'CPU', clock speed or core-count words."""
    text = model.lower()
    text = re.sub(r"\((r|tm)\)", " ", text)
    text = re.sub(r"@.*$", " ", text)
    text = re.sub(r"\b(cpu|processor|\d+-core)\b", " ", text)
    return " ".join(text.split())


def lookup_tdp(model: str) -> tuple[float, str] | None:
    """(TDP per package, label) for a model the table knows, else None."""
    name = normalise(model)
    for pattern, watts, label in TDP_TABLE:
        if re.search(pattern, name):
            return float(watts), label
    return None


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name as the OS reports it ('' when unknown)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")) and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or ""


def cpu_packages(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """How many CPU packages (sockets): distinct 'physical id's, at least 1."""
    try:
        ids = {line.split(":", 1)[1].strip()
               for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines()
               if line.startswith("physical id") and ":" in line}
    except OSError:
        return 1
    return max(1, len(ids))


def has_battery(root: Path | None = None) -> bool:
    """A laptop, as far as the OS can tell: a power supply of type Battery."""
    supplies = sysfs_root(root) / "class" / "power_supply"
    if supplies.is_dir():
        for entry in supplies.iterdir():
            try:
                if (entry / "type").read_text(encoding="ascii").strip() == "Battery":
                    return True
            except OSError:
                continue
        return False
    try:
        return psutil.sensors_battery() is not None
    except (AttributeError, NotImplementedError, OSError):
        return False


def guess_tdp(*, override: float | None = None, model: str | None = None,
              cores: int | None = None, packages: int | None = None,
              laptop: bool | None = None, root: Path | None = None) -> TdpGuess:
    """The TDP for the estimate, by the rules in this module's docstring.

    Each argument left as None is detected, so tests pass them all.
    """
    model = cpu_model_name() if model is None else model
    if override is not None:
        if not override > 0:
            raise ValueError("a TDP override must be a positive number of watts")
        return TdpGuess(float(override), model, "override")
    known = lookup_tdp(model)
    if known is not None:
        count = cpu_packages() if packages is None else packages
        return TdpGuess(known[0] * count, model, "table" if count == 1 else
                        f"table, {count} packages")
    if _SERVER.search(normalise(model)):
        count = cores if cores is not None else (psutil.cpu_count(logical=False)
                                                 or psutil.cpu_count() or 1)
        return TdpGuess(SERVER_WATTS_PER_CORE * count, model,
                        f"per-core, {count} × {SERVER_WATTS_PER_CORE:g} W")
    on_battery = has_battery(root) if laptop is None else laptop
    if on_battery:
        return TdpGuess(LAPTOP_TDP_W, model, "laptop default")
    return TdpGuess(DESKTOP_TDP_W, model, "desktop default")
