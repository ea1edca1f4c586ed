"""The real program in a subprocess: the app's first start, and `chatdesk bench --json`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from real_model import BENCH_TIMEOUT_S, SMOLLM2_FILENAME

from chatdesk.core.llama_runtime import detect_backend

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 90  # installing 98 MB and loading it takes a few seconds; be generous


def _output(process: subprocess.Popen) -> str:
    try:
        out, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def test_first_start_installs_and_loads_the_bundled_model(tmp_path: Path,
                                                          subprocess_env: dict[str, str]):
    data = tmp_path / "data"
    model = data / "models" / SMOLLM2_FILENAME  # the default offline model
    settings_file = data / "settings.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "chatdesk", "--data-dir", str(data)],
        env=subprocess_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    last_model = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if model.is_file() and settings_file.is_file():
                try:
                    last_model = json.loads(settings_file.read_text("utf-8")).get("last_model")
                except (ValueError, OSError):
                    last_model = None  # written atomically, but be tolerant anyway
                if last_model:
                    break
            time.sleep(0.2)
        still_running = process.poll() is None
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: Qt's shutdown does not run; that is fine here
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        output = _output(process)
    print(f"\napp output:\n{output[-3000:]}")
    assert still_running, f"the app exited early with {process.returncode}:\n{output[-3000:]}"
    assert last_model, f"settings.json never named the loaded model:\n{output[-3000:]}"
    assert Path(last_model) == model.resolve()
    assert model.stat().st_size > 90_000_000
    assert not list((data / "models").glob(".*")), "a temp file was left in the models dir"
    log = (data / "logs" / "chatdesk.log").read_text("utf-8")
    assert "loaded" in log
    assert f"loaded {model.resolve()}" in log
    assert "Traceback" not in log


BENCH_KEYS = ("model", "backend", "threads", "tokens", "raw_tokens_per_s", "app_tokens_per_s",
              "app_vs_raw", "ttft_first_turn_s", "ttft_tenth_turn_s", "ttft_ratio",
              "stop_latency_ms", "pp_app_vs_raw", "ttft_reopen_ratio", "ttft_switch_ratio",
              "ttft_reopen_ratio_cache_off", "warmup_app_tokens_per_s", "api_tokens_per_s",
              "api_vs_app", "api_stop_ms", "memory_bandwidth_gbs", "weight_bytes_per_token",
              "decode_limit_tok_s", "decode_vs_limit", "logprobs_overhead")


@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_bench_prints_json(tmp_path: Path, subprocess_env: dict[str, str], model_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "chatdesk", "bench", "--tokens", "16", "--runs", "1", "--json",
         "--model", str(model_path), "--data-dir", str(tmp_path / "data")],
        env=subprocess_env, cwd=tmp_path, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
    print(f"\nbench stdout:\n{completed.stdout}\nstderr:\n{completed.stderr[-2000:]}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout)  # stdout is exactly one JSON object
    for key in BENCH_KEYS:
        assert key in figures, key
    assert figures["model"] == str(model_path)
    assert figures["backend"] == detect_backend()
    assert figures["tokens"] == 16 and figures["runs"] == 1
    for key in BENCH_KEYS[2:]:
        value = figures[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert value > 0 and value == value and value != float("inf"), (key, value)
    assert len(figures["raw_runs"]) == len(figures["app_runs"]) == len(figures["api_runs"]) == 1
    assert len(figures["stop_latency_runs_ms"]) == 5
    # The bench wrote its log into the given data dir, not the user's.
    assert (tmp_path / "data" / "logs" / "chatdesk.log").is_file()
