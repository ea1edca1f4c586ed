"""powermetrics: the parser on canned output, the password-free probe, the process lifecycle.

The sample text is written from Apple's documented output format (powermetrics(1) and
published captures of the cpu_power and gpu_power samplers); it was not captured on a Mac
here, and nothing in this file runs the real tool.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from chatdesk.core.energy.powermetrics import (
    SUDOERS_FIX,
    PowermetricsSource,
    command_prefix,
    parse_block,
    parse_stream,
)
from chatdesk.core.energy.source import SourceUnavailable

APPLE_SILICON = """Machine model: MacBookPro18,3
OS version: 23E224
Boot arguments:
Boot time: Mon Apr 15 08:12:40 2024



*** Sampled system activity (Mon Apr 15 09:30:01 2024 +0200) (102.31ms elapsed) ***


**** Processor usage ****

E-Cluster HW active frequency: 1152 MHz
E-Cluster HW active residency:  62.41% (600 MHz:   0% 972 MHz:  71% 2064 MHz:  18%)
E-Cluster idle residency:  37.59%
CPU 0 frequency: 1185 MHz
CPU 0 active residency:  48.13% (600 MHz:   0% 972 MHz:  34% 2064 MHz:  14%)
CPU 0 idle residency:  51.87%
P0-Cluster HW active frequency: 3228 MHz
P0-Cluster HW active residency:  97.20% (600 MHz:   0% 3228 MHz:  97%)
P0-Cluster idle residency:   2.80%
CPU 2 frequency: 3228 MHz
CPU 2 active residency:  99.01% (3228 MHz:  99%)
CPU 2 idle residency:   0.99%

CPU Power: 14216 mW
GPU Power: 42 mW
ANE Power: 0 mW
Combined Power (CPU + GPU + ANE): 14258 mW

**** GPU usage ****

GPU HW active frequency: 389 MHz
GPU HW active residency:   2.91% (389 MHz: 2.9% 486 MHz:   0% 1296 MHz:   0%)
GPU SW requested state: (P1 : 100% P2 :   0% P3 :   0%)
GPU idle residency:  97.09%
GPU Power: 42 mW


*** Sampled system activity (Mon Apr 15 09:30:01 2024 +0200) (100.87ms elapsed) ***


**** Processor usage ****

E-Cluster HW active frequency: 1032 MHz
E-Cluster HW active residency:  40.02% (600 MHz:   0% 972 MHz:  88% 2064 MHz: 4.1%)
E-Cluster idle residency:  59.98%
P0-Cluster HW active frequency: 3228 MHz
P0-Cluster HW active residency:  88.75% (600 MHz:   0% 3228 MHz:  89%)
P0-Cluster idle residency:  11.25%

CPU Power: 11503 mW
GPU Power: 3210 mW
ANE Power: 12 mW
Combined Power (CPU + GPU + ANE): 14725 mW

**** GPU usage ****

GPU HW active frequency: 1296 MHz
GPU HW active residency:  71.40% (389 MHz: 1.2% 1296 MHz:  70%)
GPU idle residency:  28.60%
GPU Power: 3210 mW
"""

INTEL_MAC = """*** Sampled system activity (Tue Mar  5 11:02:17 2024 +0100) (101.92ms elapsed) ***

**** Processor usage ****

Intel energy model derived package power (CPUs+GT+SA): 9.72W

LLC flushed residency: 71.3%

System Average frequency as fraction of nominal: 79.85% (1836.48 Mhz)
Package 0 C-state residency: 72.64% (C2: 6.10% C3: 2.03% C6: 0.00% C7: 64.51% )

**** GPU usage ****

GPU Active residency:   8.43%
GPU Idle residency:  91.57%
"""


def test_apple_silicon_blocks_use_the_combined_line():
    assert parse_stream(APPLE_SILICON) == pytest.approx([14.258, 14.725])


def test_without_a_combined_line_cpu_gpu_ane_are_summed_and_gpu_counted_once():
    block = APPLE_SILICON.split("*** Sampled system activity")[1]
    block = "\n".join(line for line in block.splitlines()
                      if not line.startswith("Combined Power"))
    # GPU Power appears in the cpu_power and the gpu_power sections: 14216 + 42 + 0 mW.
    assert parse_block(block) == pytest.approx(14.258)


def test_intel_mac_package_power_in_watts():
    assert parse_stream(INTEL_MAC) == pytest.approx([9.72])


def test_values_in_watts_and_blocks_without_power():
    assert parse_block("CPU Power: 1.5 W\nGPU Power: 0.25 W\n") == pytest.approx(1.75)
    assert parse_block("**** Thermal pressure ****\nCurrent pressure level: Nominal\n") is None
    assert parse_stream("Machine model: Mac14,2\n") == []


def completed(returncode: int, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], returncode, stdout, stderr)


def test_probe_as_root_runs_powermetrics_directly():
    seen: list[list[str]] = []

    def runner(cmd, **kwargs):
        seen.append(cmd)
        assert kwargs["timeout"] > 0  # never waits forever
        return completed(0, APPLE_SILICON)

    prefix = command_prefix(platform="darwin", runner=runner, is_root=True,
                            which=lambda _: "/usr/bin/powermetrics")
    assert prefix == []
    assert seen[0][0] == "powermetrics" and "-n" in seen[0]


def test_probe_uses_sudo_without_a_password_prompt():
    def runner(cmd, **kwargs):
        assert cmd[:2] == ["sudo", "-n"]  # -n: fail instead of asking for a password
        return completed(0, APPLE_SILICON)

    assert command_prefix(platform="darwin", runner=runner, is_root=False,
                          which=lambda _: "/usr/bin/powermetrics") == ["sudo", "-n"]


def test_probe_when_sudo_wants_a_password_is_unavailable_with_the_fix():
    def runner(cmd, **kwargs):
        return completed(1, "", "sudo: a password is required\n")

    with pytest.raises(SourceUnavailable) as caught:
        command_prefix(platform="darwin", runner=runner, is_root=False,
                       which=lambda _: "/usr/bin/powermetrics")
    assert caught.value.problem.fix == SUDOERS_FIX
    assert caught.value.problem.show is True


def test_probe_elsewhere_is_quietly_unavailable():
    def runner(cmd, **kwargs):
        raise AssertionError("must not run anything off macOS")

    with pytest.raises(SourceUnavailable) as caught:
        command_prefix(platform="linux", runner=runner)
    assert caught.value.problem.show is False


class FakeProcess:
    """A powermetrics process whose output the test feeds block by block."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.terminated = False
        self.stdout = self._stream()

    def _stream(self) -> Iterator[str]:
        while (line := self.lines.get()) is not None:
            yield line

    def feed(self, text: str) -> None:
        for line in text.splitlines(keepends=True):
            self.lines.put(line)

    def terminate(self) -> None:
        self.terminated = True
        self.lines.put(None)  # the pipe closes

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def kill(self) -> None:
        self.terminate()


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_source_streams_blocks_integrates_them_and_stops_its_thread():
    processes: list[FakeProcess] = []
    commands: list[list[str]] = []

    def popen(cmd, **kwargs):
        commands.append(cmd)
        processes.append(FakeProcess())
        return processes[-1]

    before = set(threading.enumerate())
    source = PowermetricsSource(["sudo", "-n"], popen=popen)
    source.begin()
    assert commands[0][:3] == ["sudo", "-n", "powermetrics"] and "-n" not in commands[0][2:]
    proc = processes[0]
    assert source.energy_joules(0.0) == 0.0  # no block yet: nothing known, nothing added
    blocks = APPLE_SILICON.split("*** Sampled system activity")
    proc.feed("*** Sampled system activity" + blocks[1])
    proc.feed("*** Sampled system activity" + blocks[2])  # its arrival closes block 1
    wait_for(lambda: source.latest_watts() == pytest.approx(14.258))
    assert source.energy_joules(1.0) == 0.0  # the first reading starts the clock
    proc.feed(INTEL_MAC)  # closes block 2 (14.725 W)
    wait_for(lambda: source.latest_watts() == pytest.approx(14.725))
    assert source.energy_joules(2.0) == pytest.approx((14.258 + 14.725) / 2)
    source.end()
    assert proc.terminated
    assert source.latest_watts() == pytest.approx(9.72)  # the last block, read at EOF
    assert not (set(threading.enumerate()) - before)  # the reader thread was joined

    source.begin()  # a second measurement: a fresh process, no stale reading
    assert len(processes) == 2 and source.latest_watts() is None
    total = source.energy_joules(50.0)
    processes[1].feed(INTEL_MAC)
    processes[1].terminate()
    wait_for(lambda: source.latest_watts() is not None)
    assert source.energy_joules(51.0) == total  # the gap since the last answer adds nothing
    source.close()
    assert not (set(threading.enumerate()) - before)
