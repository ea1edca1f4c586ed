"""Linux RAPL package energy from the powercap sysfs tree.

Zones used: the top-level zones of the ``intel-rapl`` / ``intel-rapl-mmio`` / ``amd-rapl``
control types whose ``name`` starts with ``package`` (``package-0``, ``package-1``, and
``package-0-die-1`` on multi-die AMD parts). Several packages are summed.

Zones *not* used, and why:

* ``core`` and ``uncore`` are subzones of their package: adding them counts twice.
* ``psys`` (the whole platform on recent Intel laptops) contains the packages, so it cannot
  be added to them either; packages are what every RAPL machine has, so they win.
* ``dram`` measures the memory controller's DRAM domain, which is outside the package; it
  is off by default (``include_dram=True`` adds it) because most desktops do not expose it
  and the estimate adds RAM watts its own way.
* A zone seen both through MSR (``intel-rapl``) and MMIO (``intel-rapl-mmio``) is one zone
  counted once: the MSR one is read (both count the same package).

``energy_uj`` wraps to 0 after ``max_energy_range_uj``; a reading lower than the one before
means it wrapped once (the counter takes minutes even at hundreds of watts to wrap, and the
sampler reads it several times a second). Since CVE-2020-8694 (a power side channel)
``energy_uj`` is readable by root only on most kernels: that case is reported with the one
line the user can run to allow it, and the meter falls back.

The tree is read under ``$CHATDESK_SYSFS_ROOT`` (default ``/sys``), so tests and
containers can point it at a tree of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from chatdesk.core.energy.source import SourceProblem, SourceUnavailable, sysfs_root

_TOP_ZONE = re.compile(r"^(intel|amd)-rapl(-mmio)?:\d+$")
_SUB_ZONE = re.compile(r"^(intel|amd)-rapl(-mmio)?:\d+:\d+$")

# A udev rule that makes every powercap zone's counter world-readable at boot. %p is the
# device path, so /sys%p is the zone's directory; TEST skips the control-type device
# (/sys/devices/virtual/powercap/intel-rapl), which has no counter.
UDEV_RULE = ('SUBSYSTEM=="powercap", ACTION=="add", TEST=="/sys%p/energy_uj", '
             'RUN+="/bin/chmod a+r /sys%p/energy_uj"')
UDEV_RULE_FILE = "/etc/udev/rules.d/99-chatdesk-rapl.rules"


def permission_fix(paths: list[Path]) -> str:
    """The one line a user runs to let chatdesk read RAPL: now (chmod), or for good (udev)."""
    files = " ".join(str(p) for p in paths)
    return (f"run 'sudo chmod a+r {files}' (until reboot), or make it permanent with "
            f"echo '{UDEV_RULE}' | sudo tee {UDEV_RULE_FILE} && sudo udevadm control "
            "--reload && sudo udevadm trigger --subsystem-match=powercap --action=add")


@dataclass
class _Zone:
    name: str
    energy_path: Path
    max_range_uj: int
    last_uj: int
    total_uj: int = 0

    def advance(self, now_uj: int) -> None:
        delta = now_uj - self.last_uj
        if delta < 0:  # wrapped once at max_energy_range_uj
            delta += self.max_range_uj
        self.total_uj += delta
        self.last_uj = now_uj


def _read_int(path: Path) -> int:
    return int(path.read_text(encoding="ascii").strip())


def find_zones(root: Path, include_dram: bool = False) -> list[Path]:
    """The zone directories to read: packages (and DRAM subzones when asked), deduplicated
    by name, MSR before MMIO."""
    base = root / "class" / "powercap"
    candidates: list[tuple[int, str, Path]] = []
    for entry in sorted(base.iterdir()) if base.is_dir() else []:
        top, sub = _TOP_ZONE.match(entry.name), _SUB_ZONE.match(entry.name)
        if not (top or (include_dram and sub)):
            continue
        try:
            name = (entry / "name").read_text(encoding="ascii").strip()
        except OSError:
            continue
        wanted = name.startswith("package") if top else name == "dram"
        if wanted:
            parent = entry.name.rsplit(":", 1)[0] if sub else ""
            key = f"{parent}/{name}" if sub else name
            candidates.append((1 if "-mmio" in entry.name else 0, key, entry))
    seen: set[str] = set()
    zones = []
    for _mmio, key, entry in sorted(candidates):
        if key.replace("-mmio", "") not in seen:
            seen.add(key.replace("-mmio", ""))
            zones.append(entry)
    return zones


class RaplSource:
    """Package energy (sum over packages) from RAPL's ``energy_uj`` counters."""

    name = "rapl"
    measured = True

    def __init__(self, zones: list[_Zone]) -> None:
        self._zones = zones

    @classmethod
    def open(cls, root: Path | None = None, include_dram: bool = False) -> RaplSource:
        """Find and read every package zone once, or raise SourceUnavailable saying why."""
        base = sysfs_root(root)
        zone_dirs = find_zones(base, include_dram)
        if not zone_dirs:
            raise SourceUnavailable(SourceProblem(
                "rapl", f"No RAPL package zones under {base / 'class' / 'powercap'} (a "
                "virtual machine, a non-x86 CPU, or a kernel without intel_rapl)."))
        zones, denied = [], []
        for directory in zone_dirs:
            energy = directory / "energy_uj"
            try:
                first = _read_int(energy)
                max_range = _read_int(directory / "max_energy_range_uj")
            except PermissionError:
                denied.append(energy)
                continue
            except (OSError, ValueError):
                continue
            name = (directory / "name").read_text(encoding="ascii").strip()
            zones.append(_Zone(name, energy, max_range, first))
        if denied:
            raise SourceUnavailable(SourceProblem(
                "rapl", "RAPL energy counters are readable by root only (CVE-2020-8694).",
                permission_fix(denied)))
        if not zones:
            raise SourceUnavailable(SourceProblem(
                "rapl", f"The RAPL zones under {base / 'class' / 'powercap'} could not be "
                "read."))
        return cls(zones)

    @property
    def zone_names(self) -> list[str]:
        return [z.name for z in self._zones]

    def begin(self) -> None:
        pass

    def energy_joules(self, now: float) -> float:
        for zone in self._zones:
            zone.advance(_read_int(zone.energy_path))
        return sum(z.total_uj for z in self._zones) / 1e6

    def end(self) -> None:
        pass

    def close(self) -> None:
        pass
