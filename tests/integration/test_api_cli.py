"""`chatdesk serve` as a user runs it: a subprocess, the real model, the openai client."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from real_model import CAPITAL_QUESTION

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 120


def serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chatdesk", "serve", "--data-dir", str(tmp_path / "data"),
         *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def wait_address(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        found = re.search(r"at (http://\S+/v1)", line)
        if found:
            return found.group(1)
    process.kill()
    raise AssertionError(f"no address printed; stderr: {process.communicate()[1][-2000:]}")


def test_serve_binds_loopback_requires_the_key_and_logs_no_content(
        tmp_path: Path, subprocess_env: dict[str, str], model_path: Path):
    env = {**subprocess_env, "TEST_API_KEY": "k-123"}
    process = serve(tmp_path, env, "--model", str(model_path), "--port", "0",
                    "--api-key-env", "TEST_API_KEY")
    try:
        address = wait_address(process)
        assert address.startswith("http://127.0.0.1:")  # the default bind is loopback
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=address, api_key="wrong", max_retries=0).models.list()
        client = openai.OpenAI(base_url=address, api_key="k-123", max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        assert model == model_path.stem
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": CAPITAL_QUESTION}],
            temperature=0, max_tokens=24)
        assert "Paris" in reply.choices[0].message.content
        assert reply.usage.model_dump()["energy_joules"] > 0
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl+C: the server stops, then the engine
        try:
            _out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
    assert process.returncode == 0, err[-2000:]
    log = (tmp_path / "data" / "logs" / "chatdesk.log").read_text("utf-8")
    assert "POST /v1/chat/completions 200" in log
    assert "GET /v1/models 401" in log
    assert "capital" not in log and "Paris" not in log  # requests logged without content
    assert "Traceback" not in log


def test_serve_fails_in_one_line_on_a_busy_port_or_a_missing_key(
        tmp_path: Path, subprocess_env: dict[str, str], model_path: Path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        process = serve(tmp_path, subprocess_env, "--model", str(model_path), "--port",
                        str(port))
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.strip().count("\n") == 0 and f"127.0.0.1:{port}" in err, err
    process = serve(tmp_path, subprocess_env, "--api-key-env", "NO_SUCH_VARIABLE_SET")
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "NO_SUCH_VARIABLE_SET" in err and "Traceback" not in err, err
