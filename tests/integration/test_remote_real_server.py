"""The remote engine against a REAL OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) on loopback with a real GGUF model (llama_server.py).

Model listing, a streamed answer, Stop in the middle (the partial answer is what streamed,
the server is free for the next request), a multi-turn conversation, a wrong key when the
server has one, and the headless `chatdesk chat --server` and `bench --server`.
Generations are kept short: the machine that runs these is small and busy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llama_server import ALIAS, llama_server, smollm2_gguf
from real_model import greedy

from chatdesk.core.engine import LoadOptions
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.model_ref import RemoteModel
from chatdesk.core.remote_engine import RemoteEngine, ServerAuthError, list_server_models
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration
GREEDY_SHORT = greedy(max_tokens=12)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with llama_server(smollm2_gguf(), tmp_path_factory.mktemp("llama-server")) as running:
        yield running


@pytest.fixture
def engine(server):
    remote = RemoteEngine()
    remote.load(RemoteModel(server.base_url, ALIAS).ref)
    yield remote
    remote.close()


def chat(engine, messages, params=GREEDY_SHORT, stop=None, on_text=None):
    pieces: list[str] = []

    def collect(text, n, context):
        pieces.append(text)
        if on_text is not None:
            on_text(text, n, context)

    result = engine.chat(messages, params, stop or StopFlag(), collect)
    return result, "".join(pieces)


def test_lists_the_servers_model(server):
    assert [m.id for m in list_server_models(server.base_url)] == [ALIAS]


def test_streams_an_answer(engine, server):
    result, streamed = chat(engine, [ChatMessage("user", "What is the capital of France?")])
    assert result.text and result.text == streamed
    assert result.stop_reason in (StopReason.EOS, StopReason.LENGTH)
    assert 1 <= result.generated_tokens <= 12
    assert result.engine == "remote" and result.server == server.base_url
    # llama-cpp-python's server sends no usage in a stream: counted, and said so
    assert result.sources["tokens"].startswith("counted stream chunks")
    assert result.ttft_s > 0


def test_stop_mid_answer_keeps_what_streamed_and_frees_the_server(engine, server):
    stop = StopFlag()
    marks: dict[str, float] = {}

    def stop_after_three(_text, n, _context):
        if n == 3 and "set" not in marks:
            marks["set"] = time.perf_counter()
            stop.set()

    params = greedy(max_tokens=400)
    result, streamed = chat(engine, [ChatMessage("user", "Write a long story about a "
                                                 "lighthouse keeper.")], params, stop,
                            stop_after_three)
    idle = time.perf_counter()
    assert result.stop_reason is StopReason.USER_STOP
    assert result.text == streamed and result.generated_tokens == 3
    print(f"\nidle {1000 * (idle - marks['set']):.1f} ms after Stop")
    # The server dropped the stopped request: the next one is answered.
    again, _ = chat(engine, [ChatMessage("user", "Say hello.")])
    assert again.text


def test_multi_turn(engine):
    turn1 = [ChatMessage("user", "My name is Ada. Say hello to me.")]
    first, _ = chat(engine, turn1)
    turn2 = [*turn1, ChatMessage("assistant", first.text),
             ChatMessage("user", "What is my name?")]
    second, streamed = chat(engine, turn2)
    assert first.text and second.text == streamed and second.text
    assert second.prompt_tokens > first.prompt_tokens  # the whole conversation went


def test_a_wrong_key_is_refused(tmp_path):
    with llama_server(smollm2_gguf(), tmp_path, api_key="sk-right") as keyed:
        ref = RemoteModel(keyed.base_url, ALIAS).ref
        with pytest.raises(ServerAuthError, match="401"):
            RemoteEngine().load(ref, LoadOptions(api_key="sk-wrong"))
        engine = RemoteEngine()
        engine.load(ref, LoadOptions(api_key="sk-right"))
        result, _ = chat(engine, [ChatMessage("user", "Say hello.")])
        assert result.text
        engine.close()


def run_cli(*args: str, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatdesk", *args, "--data-dir",
                           str(data_dir)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_chat_cli_answers_stores_and_exports(server, subprocess_env, tmp_path):
    data = tmp_path / "data"
    done = run_cli("chat", "--server", server.base_url, "--json", "--max-tokens", "12",
                   "--temperature", "0", "What is the capital of France?",
                   env=subprocess_env, data_dir=data)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["engine"] == "remote" and report["server"] == server.base_url
    assert report["model"] == RemoteModel(server.base_url, ALIAS).ref
    assert report["answer"] and report["generated_tokens"] >= 1
    assert report["energy"] == "not measured (remote)"
    assert report["tokens_source"].startswith("counted")
    exported = run_cli("export", str(report["conversation_id"]), "--format", "md", "--out",
                       str(tmp_path / "chat.md"), env=subprocess_env, data_dir=data)
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "chat.md").read_text()
    assert f"{ALIAS} (remote: {server.base_url.split('/')[2]})" in text
    assert "not measured (remote)" in text


def test_chat_cli_failures_are_one_line(server, subprocess_env, tmp_path):
    data = tmp_path / "data"
    missing = run_cli("chat", "--server", server.base_url, "--model", "nope", "hi",
                      env=subprocess_env, data_dir=data)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "no model 'nope'" in missing.stderr
    no_env = run_cli("chat", "--server", server.base_url, "--api-key-env", "NO_SUCH_VAR",
                     "hi", env=subprocess_env, data_dir=data)
    assert no_env.returncode == 2 and "NO_SUCH_VAR is not set" in no_env.stderr


def test_bench_against_the_server(server, subprocess_env, tmp_path):
    """The figures are reported, not asserted against a clock; see the engineering notes
    for the measured comparison with the server's own timings."""
    before = len(server.eval_timings())
    done = run_cli("bench", "--server", server.base_url, "--json", "--tokens", "24",
                   "--runs", "2", env=subprocess_env, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["model"] == ALIAS and report["runs"] == 2
    assert report["tokens_per_s"] > 0 and report["ttft_s"] > 0
    assert len(report["stop_latency_runs_ms"]) == 3
    assert report["energy"] == "not measured (remote)"
    timings = server.eval_timings()[before:]
    server_rates = [runs / (ms / 1000) for ms, runs in timings[:2] if ms > 0]
    print(f"\nclient {report['tokens_per_s']:.2f} tok/s (runs {report['tokens_per_s_runs']}); "
          f"server's own {server_rates}; ttft {report['ttft_s']:.3f} s; stop "
          f"{report['stop_latency_ms']:.1f} ms")
