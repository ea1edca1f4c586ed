"""NVML with a stand-in module: the same functions and errors pynvml has, no GPU needed."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from chatdesk.core.energy import EnergyMeter
from chatdesk.core.energy import nvml as nvml_module
from chatdesk.core.energy.nvml import INSTALL_FIX, NvmlSource
from chatdesk.core.energy.source import SourceUnavailable

NOT_SUPPORTED = 3  # pynvml's NVML_ERROR_NOT_SUPPORTED
LIBRARY_NOT_FOUND = 12  # pynvml's NVML_ERROR_LIBRARY_NOT_FOUND
UNKNOWN = 999


class FakeGpu:
    """One GPU: ``energy_mj`` None means it has no energy counter (pre-Volta)."""

    def __init__(self, energy_mj: int | None = None, power_mw: int | None = 50_000) -> None:
        self.energy_mj = energy_mj
        self.power_mw = power_mw


def fake_pynvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A module object with pynvml's names: functions, NVMLError(.value), error codes."""
    module = types.ModuleType("pynvml")

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(f"NVML error {value}")
            self.value = value

    calls = {"init": 0, "shutdown": 0}

    def nvmlInit() -> None:
        if init_error is not None:
            raise NVMLError(init_error)
        calls["init"] += 1

    def nvmlShutdown() -> None:
        calls["shutdown"] += 1

    def nvmlDeviceGetCount() -> int:
        return len(gpus)

    def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
        return gpus[index]

    def nvmlDeviceGetTotalEnergyConsumption(handle: FakeGpu) -> int:
        if handle.energy_mj is None:
            raise NVMLError(NOT_SUPPORTED)
        return handle.energy_mj

    def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:
        if handle.power_mw is None:
            raise NVMLError(UNKNOWN)
        return handle.power_mw

    module.__dict__.update(
        NVMLError=NVMLError, NVML_ERROR_NOT_SUPPORTED=NOT_SUPPORTED,
        NVML_ERROR_LIBRARY_NOT_FOUND=LIBRARY_NOT_FOUND, nvmlInit=nvmlInit,
        nvmlShutdown=nvmlShutdown, nvmlDeviceGetCount=nvmlDeviceGetCount,
        nvmlDeviceGetHandleByIndex=nvmlDeviceGetHandleByIndex,
        nvmlDeviceGetTotalEnergyConsumption=nvmlDeviceGetTotalEnergyConsumption,
        nvmlDeviceGetPowerUsage=nvmlDeviceGetPowerUsage, calls=calls)
    return module


@pytest.fixture
def empty_sysfs(tmp_path: Path) -> Path:
    """A sysfs root with no powercap tree and no nvidia driver."""
    root = tmp_path / "sys"
    root.mkdir()
    return root


def test_total_energy_counter_of_every_gpu_is_summed():
    gpus = [FakeGpu(energy_mj=1_000_000), FakeGpu(energy_mj=50_000)]
    source = NvmlSource.open(fake_pynvml(gpus))
    assert source.gpu_count == 2 and source.methods == ["energy counter"] * 2
    assert source.energy_joules(0.0) == 0.0  # counted from when the source opened
    gpus[0].energy_mj += 12_500  # 12.5 J
    gpus[1].energy_mj += 2_000  # 2 J
    assert source.energy_joules(1.0) == pytest.approx(14.5)
    gpus[0].power_mw = 999_999_999  # power readings are not used when a counter exists
    gpus[0].energy_mj += 500
    assert source.energy_joules(2.0) == pytest.approx(15.0)


def test_power_samples_are_integrated_when_the_counter_is_not_supported():
    gpu = FakeGpu(energy_mj=None, power_mw=100_000)  # 100 W
    source = NvmlSource.open(fake_pynvml([gpu]))
    assert source.methods == ["power samples"]
    assert source.energy_joules(10.0) == 0.0  # the first reading only starts the clock
    gpu.power_mw = 200_000
    assert source.energy_joules(11.0) == pytest.approx(150.0)  # (100 + 200) / 2 × 1 s
    assert source.energy_joules(13.0) == pytest.approx(550.0)  # + 200 W × 2 s


def test_counter_and_power_gpus_together():
    old, new = FakeGpu(energy_mj=None, power_mw=40_000), FakeGpu(energy_mj=0)
    source = NvmlSource.open(fake_pynvml([old, new]))
    assert source.methods == ["power samples", "energy counter"]
    source.energy_joules(0.0)
    new.energy_mj = 7_000
    assert source.energy_joules(0.5) == pytest.approx(40 * 0.5 + 7.0)


def test_no_gpu_is_unavailable_quietly_and_nvml_is_shut_down():
    module = fake_pynvml([])
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(module)
    assert caught.value.problem.show is False  # nothing for the user to fix
    assert module.calls == {"init": 1, "shutdown": 1}


def test_driver_missing_is_quiet_unless_an_nvidia_module_is_loaded(empty_sysfs: Path):
    module = fake_pynvml([FakeGpu(0)], init_error=LIBRARY_NOT_FOUND)
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(module, empty_sysfs)
    assert caught.value.problem.show is False
    (empty_sysfs / "module" / "nvidia").mkdir(parents=True)
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(module, empty_sysfs)
    assert caught.value.problem.show is True
    assert "no usable NVIDIA driver" in caught.value.problem.message


def test_missing_pynvml_suggests_the_extra_only_where_a_driver_is_loaded(
        empty_sysfs: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(nvml_module, "load_pynvml", lambda: None)
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(None, empty_sysfs)
    assert caught.value.problem.show is False and caught.value.problem.fix is None
    (empty_sysfs / "module" / "nvidia").mkdir(parents=True)
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(None, empty_sysfs)
    assert caught.value.problem.fix == INSTALL_FIX


def test_a_gpu_that_reports_nothing_is_skipped():
    mute, good = FakeGpu(energy_mj=None, power_mw=None), FakeGpu(energy_mj=0)
    source = NvmlSource.open(fake_pynvml([mute, good]))
    assert source.gpu_count == 1
    module = fake_pynvml([FakeGpu(energy_mj=None, power_mw=None)])
    with pytest.raises(SourceUnavailable) as caught:
        NvmlSource.open(module)
    assert "No NVIDIA GPU reports" in caught.value.problem.message
    assert caught.value.problem.show is True
    assert module.calls["shutdown"] == 1


def test_close_shuts_nvml_down_once():
    module = fake_pynvml([FakeGpu(0)])
    source = NvmlSource.open(module)
    source.close()
    source.close()
    assert module.calls == {"init": 1, "shutdown": 1}


def test_meter_labels_gpu_with_estimated_cpu_as_not_measured(empty_sysfs: Path):
    gpu = FakeGpu(energy_mj=0)
    meter = EnergyMeter(sysfs_root=empty_sysfs, nvml_module=fake_pynvml([gpu]),
                        tdp_watts=10.0, ram_watts=0.0, idle_watts=0.0)
    try:
        assert meter.source == "estimate+nvml"
        assert meter.measured is False  # the CPU part is an estimate
    finally:
        meter.close()


def test_meter_rapl_plus_nvml_is_measured(empty_sysfs: Path):
    package = empty_sysfs / "class" / "powercap" / "intel-rapl:0"
    package.mkdir(parents=True)
    (package / "name").write_text("package-0\n")
    (package / "energy_uj").write_text("0\n")
    (package / "max_energy_range_uj").write_text("1000000000\n")
    gpu = FakeGpu(energy_mj=0)
    ticks = iter([0.0, 2.0])
    meter = EnergyMeter(sysfs_root=empty_sysfs, nvml_module=fake_pynvml([gpu]),
                        idle_watts=0.0, clock=lambda: next(ticks), hz=0.001)
    try:
        assert (meter.source, meter.measured) == ("rapl+nvml", True)
        meter.start()
        (package / "energy_uj").write_text("20000000\n")  # CPU 20 J
        gpu.energy_mj = 100_000  # GPU 100 J
        report = meter.stop()
    finally:
        meter.close()
    assert report.source == "rapl+nvml" and report.measured
    assert report.joules == pytest.approx(120.0)
    assert report.avg_watts == pytest.approx(60.0)


def test_an_nvml_error_mid_answer_skips_that_poll(empty_sysfs: Path):
    gpu = FakeGpu(energy_mj=None, power_mw=10_000)
    ticks = iter([0.0, 1.0, 2.0])
    meter = EnergyMeter(sources=[NvmlSource.open(fake_pynvml([gpu]))], idle_watts=0.0,
                        clock=lambda: next(ticks), hz=0.001)
    try:
        meter.start()  # t=0, 10 W
        gpu.power_mw = None  # the driver fails a read
        assert meter._poll() is None  # t=1: skipped, no crash
        gpu.power_mw = 10_000
        report = meter.stop()  # t=2: 10 W again
    finally:
        meter.close()
    assert report.joules == pytest.approx(20.0)
    assert report.seconds == pytest.approx(2.0)
