"""The sampler thread with an injected source and clock: deterministic figures, no leaks."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from chatdesk.core.energy import EnergyMeter, EnergyReport
from chatdesk.core.energy.sampler import DEFAULT_IDLE_SECONDS


class Clock:
    """Time that moves only when the test moves it (thread-safe to read)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LinearSource:
    """A counter that gains ``watts`` joules per second of the injected clock."""

    def __init__(self, name: str = "rapl", watts: float = 10.0, measured: bool = True) -> None:
        self.name = name
        self.watts = watts
        self.measured = measured
        self.fail = False
        self.calls = {"begin": 0, "end": 0, "close": 0}

    def begin(self) -> None:
        self.calls["begin"] += 1

    def energy_joules(self, now: float) -> float:
        if self.fail:
            raise OSError("energy_uj vanished")
        return self.watts * now

    def end(self) -> None:
        self.calls["end"] += 1

    def close(self) -> None:
        self.calls["close"] += 1


def wait_for_samples(meter: EnergyMeter, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(meter._samples) < count:
        assert time.monotonic() < deadline, "the sampler thread did not poll"
        time.sleep(0.002)


@pytest.fixture
def no_leaks():
    """A thread started by the test must not outlive it. (Threads of earlier tests that
    end meanwhile, such as Qt pool threads Python saw as dummies, are not leaks.)"""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"a thread outlived its test: {leaked}"


def test_thread_samples_while_running_and_report_is_exact(no_leaks):
    clock, source = Clock(100.0), LinearSource(watts=10.0)
    meter = EnergyMeter(sources=[source], clock=clock, idle_watts=4.0, hz=200)
    meter.start()
    thread = meter._thread
    assert thread is not None and thread.is_alive() and thread.daemon is False
    assert meter.sample_now() is None  # nothing sampled before time moves
    clock.now = 102.0
    wait_for_samples(meter, 1)
    assert meter.sample_now() == pytest.approx((2.0, 10.0))
    source.watts = 30.0  # the model gets busier: 30 J/s from here on (on the clock's scale)
    clock.now = 103.0
    wait_for_samples(meter, 2)
    assert meter.sample_now() == pytest.approx((3.0, (30 * 103 - 10 * 102) / 1.0))
    clock.now = 104.0
    report = meter.stop()
    assert not thread.is_alive()
    assert report.seconds == pytest.approx(4.0)
    assert report.joules == pytest.approx(30 * 104 - 10 * 100)
    assert report.avg_watts == pytest.approx(report.joules / 4.0)
    assert report.idle_watts == 4.0
    assert report.above_idle_joules == pytest.approx(report.joules - 16.0)
    assert [t for t, _ in report.samples] == pytest.approx([2.0, 3.0, 4.0])
    assert source.calls["begin"] == source.calls["end"] == 1
    meter.close()
    assert source.calls["close"] == 1


def test_reusable_across_answers(no_leaks):
    clock = Clock()
    meter = EnergyMeter(sources=[LinearSource(watts=5.0)], clock=clock, idle_watts=0.0,
                        hz=0.001)
    with meter:
        reports = []
        for start in (0.0, 10.0, 20.0):
            clock.now = start
            meter.start()
            clock.now = start + 2.0
            reports.append(meter.stop())
    assert [r.joules for r in reports] == pytest.approx([10.0, 10.0, 10.0])
    assert all(r.samples == ((2.0, 5.0),) for r in reports)


def test_first_start_measures_idle_once_unless_given(no_leaks):
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    meter = EnergyMeter(sources=[LinearSource(watts=8.0)], clock=clock, sleep=sleep,
                        hz=0.001)
    with meter:
        assert meter.idle_watts is None
        meter.start()
        assert slept == [DEFAULT_IDLE_SECONDS] and meter.idle_watts == pytest.approx(8.0)
        clock.now += 1.0
        report = meter.stop()
        meter.start()  # known now: no second wait
        meter.stop()
    assert slept == [DEFAULT_IDLE_SECONDS]
    assert report.above_idle_joules == 0.0  # as busy as idle


def test_above_idle_never_goes_below_zero(no_leaks):
    clock = Clock()
    with EnergyMeter(sources=[LinearSource(watts=3.0)], clock=clock, idle_watts=50.0,
                     hz=0.001) as meter:
        meter.start()
        clock.now = 1.0
        report = meter.stop()
    assert report.joules == pytest.approx(3.0) and report.above_idle_joules == 0.0


def test_sources_add_up_and_label_says_which(no_leaks):
    clock = Clock()
    cpu, gpu = LinearSource("rapl", 10.0), LinearSource("nvml", 90.0)
    with EnergyMeter(sources=[cpu, gpu], clock=clock, idle_watts=0.0, hz=0.001) as meter:
        assert (meter.source, meter.measured) == ("rapl+nvml", True)
        meter.start()
        clock.now = 2.0
        report = meter.stop()
    assert (report.source, report.measured) == ("rapl+nvml", True)
    assert report.joules == pytest.approx(200.0)
    estimate = LinearSource("estimate", measured=False)
    with EnergyMeter(sources=[estimate, LinearSource("nvml")], idle_watts=0.0) as meter:
        assert (meter.source, meter.measured) == ("estimate+nvml", False)


def test_a_failing_poll_is_skipped_not_fatal(no_leaks):
    clock, source = Clock(), LinearSource(watts=10.0)
    with EnergyMeter(sources=[source], clock=clock, idle_watts=0.0, hz=200) as meter:
        meter.start()
        source.fail = True
        clock.now = 1.0
        time.sleep(0.05)  # the thread polls (and fails) several times meanwhile
        assert meter._thread is not None and meter._thread.is_alive()
        assert meter.sample_now() is None
        source.fail = False
        clock.now = 2.0
        report = meter.stop()
    assert report.joules == pytest.approx(20.0) and report.seconds == pytest.approx(2.0)


def test_misuse_is_refused(no_leaks):
    meter = EnergyMeter(sources=[LinearSource()], idle_watts=0.0, hz=0.001)
    with pytest.raises(RuntimeError):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError):
        meter.start()
    with pytest.raises(RuntimeError):
        meter.measure_idle()
    meter.close()  # stops the running measurement and joins its thread
    assert not meter.running
    with pytest.raises(RuntimeError):
        meter.start()
    for bad in ({"hz": 0}, {"idle_watts": -1.0}, {"sources": []}):
        with pytest.raises(ValueError):
            EnergyMeter(**{"sources": [LinearSource()], **bad})


def test_report_is_frozen_and_has_watt_hours():
    report = EnergyReport("estimate", False, 7200.0, 3600.0, 10.0, 720.0, 360.0, ())
    assert report.watt_hours == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.joules = 0.0  # type: ignore[misc]


def test_sample_now_is_safe_from_another_thread(no_leaks):
    clock, source = Clock(), LinearSource(watts=1.0)
    meter = EnergyMeter(sources=[source], clock=clock, idle_watts=0.0, hz=500)
    seen: list[tuple[float, float] | None] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(meter.sample_now())
            time.sleep(0.0001)  # a UI timer, not a spin that starves the sampler of the GIL

    meter.start()
    ui = threading.Thread(target=reader)
    ui.start()
    for step in range(1, 21):
        clock.now = step * 0.1
        wait_for_samples(meter, step)
    done.set()
    ui.join()
    report = meter.stop()
    meter.close()
    assert report.joules == pytest.approx(2.0, abs=1e-9)
    assert any(s is not None for s in seen)
    assert all(s is None or s[1] == pytest.approx(1.0) for s in seen)
