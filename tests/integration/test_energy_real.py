"""A real answer from the bundled model, measured by a real EnergyMeter on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from real_model import BENCH_TIMEOUT_S, COUNTING_PROMPT, greedy

from chatdesk.core.energy import EnergyMeter, joules_per_token
from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

KNOWN_SOURCES = {"rapl", "nvml", "powermetrics", "estimate"}


def test_an_answer_records_energy_with_its_source(engine: LlamaEngine):
    threads_before = set(threading.enumerate())
    meter = EnergyMeter()
    try:
        print(f"\nsource: {meter.source}; not used: {meter.unavailable_reasons()}")
        idle = meter.measure_idle(0.5)
        engine.reset_cache()
        meter.start()
        try:
            result = engine.chat([ChatMessage("user", COUNTING_PROMPT)],
                                 greedy(max_tokens=64, ignore_eos=True), StopFlag())
        finally:
            report = meter.stop()
    finally:
        meter.close()
    print(f"report: {report.source} measured={report.measured} {report.joules:.2f} J in "
          f"{report.seconds:.2f} s = {report.avg_watts:.1f} W (idle {idle:.1f} W), "
          f"{len(report.samples)} samples, {result.generated_tokens} tokens")
    parts = report.source.split("+")
    assert set(parts) <= KNOWN_SOURCES and len(parts) == len(set(parts))
    assert report.source == meter.source
    assert report.measured == ("estimate" not in parts)
    assert result.generated_tokens == 64
    assert report.joules > 0 and report.seconds > 0
    assert 0 < report.avg_watts < 2000
    assert report.avg_watts == pytest.approx(report.joules / report.seconds)
    assert 0 <= report.above_idle_joules <= report.joules
    assert report.idle_watts == idle
    assert report.samples and all(0 < t <= report.seconds + 1e-9 for t, _ in report.samples)
    assert all(0 <= w < 2000 for _, w in report.samples)
    per_token = joules_per_token(report.joules, result.generated_tokens)
    assert per_token is not None and per_token > 0
    assert not (set(threading.enumerate()) - threads_before)  # the sampler thread was joined


@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_bench_json_has_the_energy_keys(tmp_path: Path, subprocess_env: dict[str, str],
                                        model_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "chatdesk", "bench", "--tokens", "16", "--runs", "1", "--json",
         "--model", str(model_path), "--data-dir", str(tmp_path / "data")],
        env=subprocess_env, cwd=tmp_path, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout)
    print(f"\nenergy: {figures['energy_source']} {figures['watts']:.1f} W "
          f"{figures['joules_per_token']:.3f} J/token")
    assert set(figures["energy_source"].split("+")) <= KNOWN_SOURCES
    assert 0 < figures["watts"] < 2000
    assert figures["joules_per_token"] > 0
    # the keys the bench had before are all still there
    for key in ("raw_tokens_per_s", "app_tokens_per_s", "app_vs_raw", "stop_latency_ms"):
        assert key in figures
