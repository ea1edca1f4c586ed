"""The estimate's arithmetic against hand-computed values, and how the TDP is chosen."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from chatdesk.core.energy.cpu_tdp import (
    DESKTOP_TDP_W,
    LAPTOP_TDP_W,
    SERVER_WATTS_PER_CORE,
    TdpGuess,
    cpu_model_name,
    cpu_packages,
    guess_tdp,
    has_battery,
    lookup_tdp,
)
from chatdesk.core.energy.estimate import (
    EstimateSource,
    busy_fraction,
    cpu_watts,
    dimm_count,
    make_model,
)
from chatdesk.core.energy.estimate import ram_watts as ram_model
from chatdesk.core.energy.sampler import EnergyMeter

GIB = 1024**3
# The fields psutil.cpu_times() has on Linux.
CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest "
                                  "guest_nice")


def times(busy: float, idle: float, iowait: float = 0.0, guest: float = 0.0) -> CpuTimes:
    return CpuTimes(user=busy, nice=0.0, system=0.0, idle=idle, iowait=iowait, irq=0.0,
                    softirq=0.0, steal=0.0, guest=guest, guest_nice=0.0)


# -- CPU ------------------------------------------------------------------------------
@pytest.mark.parametrize(("tdp", "u", "watts"), [
    (65.0, 1.0, 65.0),
    (65.0, 0.5, 32.5),
    (65.0, 0.25, 16.25),
    (65.0, 0.05, 6.5),  # below the floor: 10 % of 65 W
    (65.0, 0.0, 6.5),
    (15.0, 1.7, 15.0),  # clamped to 100 %
])
def test_cpu_watts_is_tdp_times_utilisation_with_a_10_percent_floor(tdp, u, watts):
    assert cpu_watts(tdp, u) == pytest.approx(watts)


def test_busy_fraction_counts_iowait_as_idle_and_guest_once():
    # 3 s busy, 1 s idle over 4 s of CPU time: 75 %.
    assert busy_fraction(times(10, 10), times(13, 11)) == pytest.approx(0.75)
    # iowait is idle time: 2 busy, 1 idle, 1 iowait -> 50 %.
    assert busy_fraction(times(0, 0), times(2, 1, iowait=1)) == pytest.approx(0.5)
    # guest time is already inside user time: user 4 (of which guest 2), idle 4 -> 50 %.
    assert busy_fraction(times(0, 0), times(4, 4, guest=2)) == pytest.approx(0.5)
    assert busy_fraction(times(1, 1), times(1, 1)) == 0.0  # no time passed


# -- RAM ------------------------------------------------------------------------------
@pytest.mark.parametrize(("gib", "dimms"), [
    (1, 1), (2, 1), (4, 2), (8, 2), (16, 2), (24, 4), (32, 4), (64, 4), (96, 8), (128, 8),
    (256, 8), (512, 8), (1024, 8), (1536, 12),
])
def test_dimm_count_guess(gib, dimms):
    assert dimm_count(gib) == dimms


@pytest.mark.parametrize(("gib", "arm", "watts"), [
    (8, False, 10.0),  # codecarbon's examples: laptop 8 GB ~10 W
    (32, False, 20.0),  # desktop 32 GB ~20 W
    (64, False, 20.0),  # 64 GB: the same 4 modules
    (128, False, 38.0),  # 8 modules: 4 × 5 + 4 × 5 × 0.9
    (1024, False, 38.0),  # 8 × 128 GB modules
    (1536, False, 4 * 5 + 4 * 4.5 + 4 * 4.0),  # 12 modules: the third tier at 80 %
    (1, False, 10.0),  # one module, but at least 10 W on x86
    (2, True, 3.0),  # ARM: 1 module × 1.5 W, at least 3 W
    (16, True, 3.0),  # ARM: 2 × 1.5 W
    (32, True, 6.0),  # ARM: 4 × 1.5 W
])
def test_ram_watts_follow_codecarbon_v3(gib, arm, watts):
    assert ram_model(gib * GIB, arm=arm) == pytest.approx(watts)


def test_model_adds_cpu_and_ram_and_honours_overrides():
    tdp = TdpGuess(65.0, "Test CPU", "override")
    model = make_model(tdp, total_ram_bytes=16 * GIB)
    assert model.ram_watts == 10.0
    assert model.watts(0.5) == pytest.approx(32.5 + 10.0)
    assert "65 W" in model.describe() and "10 W" in model.describe()
    assert make_model(tdp, ram_override=4.0).watts(1.0) == pytest.approx(69.0)
    with pytest.raises(ValueError):
        make_model(tdp, ram_override=-1.0)


def test_estimate_source_integrates_each_interval_at_its_utilisation():
    model = make_model(TdpGuess(40.0, "Test CPU", "override"), ram_override=10.0)
    readings = iter([times(0, 0), times(1, 1), times(4, 2), times(4, 4)])
    source = EstimateSource(model, cpu_times=lambda: next(readings))
    assert source.energy_joules(0.0) == 0.0
    # 0..2 s at 50 %: (40 × 0.5 + 10) W × 2 s = 60 J
    assert source.energy_joules(2.0) == pytest.approx(60.0)
    # 2..3 s at 75 %: (30 + 10) × 1 = 40 J
    assert source.energy_joules(3.0) == pytest.approx(100.0)
    # 3..5 s at 0 %: (40 × 0.1 + 10) × 2 = 28 J
    assert source.energy_joules(5.0) == pytest.approx(128.0)
    assert source.measured is False and source.name == "estimate"


def test_meter_over_the_estimate_gives_total_and_above_idle():
    """Idle 1 s at 10 %, then a 4 s answer at 100 %: hand-computed joules."""
    model = make_model(TdpGuess(20.0, "Test CPU", "override"), ram_override=5.0)
    cpu = iter([times(0, 0), times(0.1, 0.9),  # idle baseline: 10 % over 1 s
                times(0.1, 0.9), times(4.1, 0.9)])  # the answer: 100 % over 4 s
    clock = iter([0.0, 1.0, 10.0, 14.0])
    source = EstimateSource(model, cpu_times=lambda: next(cpu))
    meter = EnergyMeter(sources=[source], clock=lambda: next(clock), sleep=lambda s: None,
                        hz=0.001)
    try:
        assert meter.measure_idle(1.0) == pytest.approx(20 * 0.1 + 5)  # 7 W
        meter.start()
        report = meter.stop()
    finally:
        meter.close()
    assert report.source == "estimate" and report.measured is False
    assert report.seconds == pytest.approx(4.0)
    assert report.joules == pytest.approx((20 + 5) * 4)  # 100 J
    assert report.idle_watts == pytest.approx(7.0)
    assert report.above_idle_joules == pytest.approx(100 - 7 * 4)  # 72 J
    assert report.avg_watts == pytest.approx(25.0)
    assert report.samples == ((4.0, pytest.approx(25.0)),)


# -- TDP ------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "watts"), [
    ("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", 15),
    ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 28),
    ("Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz", 95),
    ("AMD Ryzen 7 5800X 8-Core Processor", 105),
    ("AMD Ryzen 5 3600 6-Core Processor", 65),
    ("AMD EPYC 7543 32-Core Processor", 225),
    ("Apple M1", 10),
])
def test_table_knows_common_cpus_by_their_os_names(model, watts):
    found = lookup_tdp(model)
    assert found is not None and found[0] == watts


@pytest.mark.parametrize("model", ["Apple M1 Pro", "AMD Ryzen 5 3600X 6-Core Processor",
                                   "Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", "AMD EPYC",
                                   ""])
def test_table_does_not_match_neighbours(model):
    assert lookup_tdp(model) is None


def test_override_always_wins():
    guess = guess_tdp(override=42.0, model="AMD Ryzen 7 5800X 8-Core Processor")
    assert (guess.watts, guess.how) == (42.0, "override")
    with pytest.raises(ValueError):
        guess_tdp(override=0.0, model="x")


def test_table_tdp_counts_every_package():
    one = guess_tdp(model="AMD EPYC 7763 64-Core Processor", packages=1)
    two = guess_tdp(model="AMD EPYC 7763 64-Core Processor", packages=2)
    assert (one.watts, one.how) == (280.0, "table")
    assert two.watts == 560.0 and "2 packages" in two.how


def test_unknown_server_cpu_is_charged_per_visible_core():
    guess = guess_tdp(model="AMD EPYC", cores=2)  # a 2-vCPU virtual machine
    assert guess.watts == 2 * SERVER_WATTS_PER_CORE
    assert guess.how.startswith("per-core")
    assert guess_tdp(model="Intel Xeon Processor (Cascadelake)", cores=4).watts == 20.0


def test_default_is_laptop_with_a_battery_else_desktop(tmp_path: Path):
    root = tmp_path / "sys"
    supplies = root / "class" / "power_supply"
    (supplies / "AC").mkdir(parents=True)
    (supplies / "AC" / "type").write_text("Mains\n")
    assert has_battery(root) is False
    assert guess_tdp(model="Some CPU", root=root).watts == DESKTOP_TDP_W
    (supplies / "BAT0").mkdir()
    (supplies / "BAT0" / "type").write_text("Battery\n")
    assert has_battery(root) is True
    laptop = guess_tdp(model="Some CPU", root=root)
    assert (laptop.watts, laptop.how) == (LAPTOP_TDP_W, "laptop default")
    assert guess_tdp(model="Some CPU", laptop=False).how == "desktop default"


def test_cpu_model_and_packages_from_cpuinfo(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7543 32-Core "
        "Processor\nphysical id\t: 0\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7543 "
        "32-Core Processor\nphysical id\t: 1\n")
    assert cpu_model_name(cpuinfo) == "AMD EPYC 7543 32-Core Processor"
    assert cpu_packages(cpuinfo) == 2
    assert cpu_packages(tmp_path / "missing") == 1
