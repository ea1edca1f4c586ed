"""RAPL on fake powercap trees under CHATDESK_SYSFS_ROOT: nothing here reads or writes /sys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatdesk.core.energy import EnergyMeter
from chatdesk.core.energy.rapl import UDEV_RULE, RaplSource, find_zones, permission_fix
from chatdesk.core.energy.source import SYSFS_ROOT_ENV, SourceUnavailable

MAX_RANGE = 262_143_328_850  # what a real Intel package reports


def zone(root: Path, dirname: str, name: str, energy_uj: int,
         max_range: int = MAX_RANGE) -> Path:
    """One powercap zone directory with the three files RAPL readers use."""
    directory = root / "class" / "powercap" / dirname
    directory.mkdir(parents=True)
    (directory / "name").write_text(f"{name}\n")
    (directory / "energy_uj").write_text(f"{energy_uj}\n")
    (directory / "max_energy_range_uj").write_text(f"{max_range}\n")
    return directory


def set_energy(directory: Path, energy_uj: int) -> None:
    (directory / "energy_uj").write_text(f"{energy_uj}\n")


class NoGpuNvml:
    """A pynvml stand-in for a machine without an NVIDIA driver: keeps real GPUs out."""

    NVML_ERROR_LIBRARY_NOT_FOUND = 12

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(value)
            self.value = value

    def nvmlInit(self) -> None:
        raise self.NVMLError(self.NVML_ERROR_LIBRARY_NOT_FOUND)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake sysfs root, made the one CHATDESK_SYSFS_ROOT points at."""
    sysfs = tmp_path / "sys"
    sysfs.mkdir()
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(sysfs))
    return sysfs


def test_counter_that_advances_gives_joules(root: Path):
    pkg = zone(root, "intel-rapl:0", "package-0", 5_000_000)
    source = RaplSource.open()  # found through the environment variable, not /sys
    assert source.zone_names == ["package-0"]
    assert source.energy_joules(0.0) == 0.0
    set_energy(pkg, 6_500_000)
    assert source.energy_joules(1.0) == pytest.approx(1.5)
    set_energy(pkg, 9_000_000)
    assert source.energy_joules(2.0) == pytest.approx(4.0)


def test_wrap_around_at_max_energy_range(root: Path):
    pkg = zone(root, "intel-rapl:0", "package-0", 900_000, max_range=1_000_000)
    source = RaplSource.open()
    set_energy(pkg, 100_000)  # wrapped: 100 000 to the top, then 100 000 more
    assert source.energy_joules(1.0) == pytest.approx(0.2)
    set_energy(pkg, 400_000)
    assert source.energy_joules(2.0) == pytest.approx(0.5)


def test_several_packages_are_summed_and_subzones_and_psys_ignored(root: Path):
    p0 = zone(root, "intel-rapl:0", "package-0", 1_000_000)
    p1 = zone(root, "intel-rapl:1", "package-1", 2_000_000)
    die = zone(root, "intel-rapl:2", "package-0-die-1", 0)  # multi-die AMD
    core = zone(root, "intel-rapl:0:0", "core", 0)
    dram = zone(root, "intel-rapl:0:1", "dram", 0)
    psys = zone(root, "intel-rapl:3", "psys", 0)
    source = RaplSource.open()
    assert sorted(source.zone_names) == ["package-0", "package-0-die-1", "package-1"]
    set_energy(p0, 2_000_000)  # +1 J
    set_energy(p1, 4_000_000)  # +2 J
    set_energy(die, 500_000)  # +0.5 J
    for directory in (core, dram, psys):  # huge numbers that must not count
        set_energy(directory, 50_000_000)
    assert source.energy_joules(1.0) == pytest.approx(3.5)


def test_dram_only_when_asked(root: Path):
    zone(root, "intel-rapl:0", "package-0", 0)
    dram = zone(root, "intel-rapl:0:2", "dram", 0)
    source = RaplSource.open(include_dram=True)
    assert sorted(source.zone_names) == ["dram", "package-0"]
    set_energy(dram, 3_000_000)
    assert source.energy_joules(1.0) == pytest.approx(3.0)


def test_msr_and_mmio_views_of_one_package_count_once(root: Path):
    msr = zone(root, "intel-rapl:0", "package-0", 0)
    mmio = zone(root, "intel-rapl-mmio:0", "package-0", 0)
    source = RaplSource.open()
    assert source.zone_names == ["package-0"]
    set_energy(msr, 1_000_000)
    set_energy(mmio, 1_000_000)
    assert source.energy_joules(1.0) == pytest.approx(1.0)


def test_amd_named_control_type_and_real_symlink_layout(root: Path):
    """Real sysfs: class/powercap/<zone> are symlinks into devices/virtual/powercap."""
    real = root / "devices" / "virtual" / "powercap" / "amd-rapl" / "amd-rapl:0"
    real.mkdir(parents=True)
    (real / "name").write_text("package-0\n")
    (real / "energy_uj").write_text("10\n")
    (real / "max_energy_range_uj").write_text(f"{MAX_RANGE}\n")
    links = root / "class" / "powercap"
    links.mkdir(parents=True)
    (links / "amd-rapl").symlink_to(real.parent)  # the control type: not a zone
    (links / "amd-rapl:0").symlink_to(real)
    source = RaplSource.open()
    assert source.zone_names == ["package-0"]
    set_energy(real, 1_000_010)
    assert source.energy_joules(1.0) == pytest.approx(1.0)


def test_missing_tree_is_unavailable_and_says_why(root: Path):
    with pytest.raises(SourceUnavailable) as caught:
        RaplSource.open()
    assert caught.value.problem.source == "rapl"
    assert "No RAPL package zones" in caught.value.problem.message
    assert str(root) in caught.value.problem.message  # the path it looked in
    assert find_zones(root) == []


def test_permission_denied_is_unavailable_with_the_fix(root: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    p0 = zone(root, "intel-rapl:0", "package-0", 0)
    zone(root, "intel-rapl:1", "package-1", 0)
    # chmod 000 does not stop root (these tests may run as root), so the read itself is
    # made to fail the way the kernel fails it for a non-root user.
    os.chmod(p0 / "energy_uj", 0)
    real_read_text = Path.read_text

    def denied(self: Path, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(SourceUnavailable) as caught:
        RaplSource.open()
    problem = caught.value.problem
    assert "root only" in problem.message and "CVE-2020-8694" in problem.message
    assert problem.fix is not None
    assert str(p0 / "energy_uj") in problem.fix  # the chmod names the real files
    assert "sudo chmod a+r" in problem.fix and UDEV_RULE in problem.fix
    assert "\n" not in problem.as_line()  # one line for the UI


def test_the_meter_falls_back_to_the_estimate_and_shows_the_fix(
        root: Path, monkeypatch: pytest.MonkeyPatch):
    zone(root, "intel-rapl:0", "package-0", 0)
    real_read_text = Path.read_text

    def denied(self: Path, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    meter = EnergyMeter(nvml_module=NoGpuNvml(), tdp_watts=20.0, sysfs_root=root)
    try:
        assert meter.source == "estimate"
        assert meter.measured is False
        reasons = meter.unavailable_reasons()
        assert any("CVE-2020-8694" in r and "udev" in r for r in reasons), reasons
    finally:
        meter.close()


def test_unreadable_counter_that_is_not_a_permission_problem(root: Path):
    directory = root / "class" / "powercap" / "intel-rapl:0"
    (directory / "energy_uj").mkdir(parents=True)  # a directory where a file should be
    (directory / "name").write_text("package-0\n")
    (directory / "max_energy_range_uj").write_text(f"{MAX_RANGE}\n")
    with pytest.raises(SourceUnavailable) as caught:
        RaplSource.open()
    assert "could not be read" in caught.value.problem.message
    assert caught.value.problem.fix is None


def test_a_readable_tree_wins_over_the_estimate(root: Path):
    pkg = zone(root, "intel-rapl:0", "package-0", 0)
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    meter = EnergyMeter(sysfs_root=root, nvml_module=NoGpuNvml(), idle_watts=2.0,
                        clock=lambda: next(clock), hz=0.001)
    try:
        assert meter.source == "rapl" and meter.measured
        assert meter.unavailable_reasons() == []  # no GPU is no problem to show
        meter.start()  # reads at t=0
        set_energy(pkg, 30_000_000)
        report = meter.stop()  # reads at t=1 (the thread never polls at 0.001 Hz)
    finally:
        meter.close()
    assert report.joules == pytest.approx(30.0)
    assert report.seconds == pytest.approx(1.0)
    assert report.avg_watts == pytest.approx(30.0)
    assert report.above_idle_joules == pytest.approx(28.0)


def test_permission_fix_rule_is_one_udev_line():
    fix = permission_fix([Path("/sys/class/powercap/intel-rapl:0/energy_uj")])
    assert "\n" not in fix
    # udev syntax: comma-separated KEY==value matches, then RUN+= with an absolute program;
    # %p is the device path, so /sys%p/energy_uj is the zone's counter.
    assert UDEV_RULE == ('SUBSYSTEM=="powercap", ACTION=="add", TEST=="/sys%p/energy_uj", '
                         'RUN+="/bin/chmod a+r /sys%p/energy_uj"')
    assert "udevadm trigger --subsystem-match=powercap --action=add" in fix
