"""`chatdesk chat`: one message answered headless, in a subprocess, on both real models.

The same engine, templates and history code as the window: the exchange is a stored
conversation (question, answer with its statistics and energy) unless --no-save.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from real_model import CAPITAL_QUESTION, SMOLLM2_FILENAME, smollm2_path

from chatdesk.core.history import HistoryStore

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 300  # loading and answering takes seconds; the machine may be busy
JSON_KEYS = {"answer", "model", "template", "stop_reason", "prompt_tokens",
             "generated_tokens", "tokens_per_s", "ttft_s", "energy_joules", "energy_source"}


def chat(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatdesk", "chat", "--data-dir", str(data_dir), *args],
        env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def test_offline_first_run_installs_smollm2_and_answers(tmp_path: Path,
                                                        subprocess_env: dict[str, str]):
    """A fresh data dir, no network: the bundled chat model is installed from its package,
    its own template is used, and it ends its answer by itself."""
    data = tmp_path / "data"
    env = {**subprocess_env, "HF_HUB_OFFLINE": "1"}
    done = chat(env, data, "--json", "--temperature", "0", "--max-tokens", "200",
                "Write three sentences about the sea.")
    print(f"\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    reply = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert set(reply) == JSON_KEYS | {"conversation_id"}
    installed = data / "models" / SMOLLM2_FILENAME
    assert installed.is_file() and reply["model"] == str(installed.resolve())
    assert reply["template"] == "gguf"
    assert reply["stop_reason"] == "eos"
    assert "sea" in reply["answer"].lower() and reply["answer"].count(".") >= 2
    assert 0 < reply["generated_tokens"] < 200
    assert reply["prompt_tokens"] > 0 and reply["tokens_per_s"] > 0 and reply["ttft_s"] > 0
    assert reply["energy_joules"] > 0 and reply["energy_source"]
    assert "Traceback" not in done.stderr

    # The exchange is in the history, as the window would have stored it.
    with HistoryStore.open(data / "chatdesk.sqlite3") as history:
        conversation = history.get_conversation(reply["conversation_id"])
        assert conversation is not None
        assert conversation.title == "Write three sentences about the sea."
        question, answer = history.thread(conversation.id)
        assert (question.role, question.content) == ("user",
                                                      "Write three sentences about the sea.")
        assert answer.role == "assistant" and answer.content == reply["answer"]
        assert answer.state == "complete" and answer.stop_reason == "eos"
        assert answer.model == reply["model"]
        assert answer.stats["generated_tokens"] == reply["generated_tokens"]
        assert answer.energy["source"] == reply["energy_source"]
        assert answer.energy["joules"] == pytest.approx(reply["energy_joules"], abs=1e-3)
        assert answer.sampling["temperature"] == 0.0 and answer.sampling["max_tokens"] == 200
    listed = subprocess.run([sys.executable, "-m", "chatdesk", "list", "--json",
                             "--data-dir", str(data)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert [row["id"] for row in json.loads(listed.stdout)] == [reply["conversation_id"]]


def test_gemma_answers_through_the_transcript_and_no_save_keeps_nothing(
        tmp_path: Path, subprocess_env: dict[str, str], model_path: Path):
    data = tmp_path / "data"
    done = chat(subprocess_env, data, "--model", str(model_path), "--json", "--no-save",
                "--temperature", "0", "--max-tokens", "24", "--system", "Be brief.",
                CAPITAL_QUESTION)
    print(f"\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    reply = json.loads(done.stdout)
    assert set(reply) == JSON_KEYS  # no conversation_id: nothing was saved
    assert reply["template"] == "transcript"
    assert reply["model"] == str(model_path)
    assert "Paris" in reply["answer"]
    assert reply["stop_reason"] in ("stop_string", "eos", "length")
    assert not (data / "chatdesk.sqlite3").exists()
    assert not (data / "models").exists() or not list((data / "models").iterdir())


def test_plain_output_is_the_answer_and_a_seed_repeats_it(tmp_path: Path,
                                                          subprocess_env: dict[str, str]):
    args = ("--model", str(smollm2_path()), "--seed", "42", "--temperature", "0.8",
            "--max-tokens", "40", "Name three primary colors.")
    first = chat(subprocess_env, tmp_path / "data", *args)
    second = chat(subprocess_env, tmp_path / "data", *args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() and not first.stdout.lstrip().startswith("{")
    assert first.stdout == second.stdout
    with HistoryStore.open(tmp_path / "data" / "chatdesk.sqlite3") as history:
        assert len(history.list_conversations()) == 2


@pytest.mark.parametrize(("content", "needle"), [
    (b"not a model at all\n", "not a GGUF model file"),
    (None, "No model file at"),
])
def test_a_bad_model_file_is_one_clear_line(tmp_path: Path, subprocess_env: dict[str, str],
                                            content: bytes | None, needle: str):
    bad = tmp_path / "bad.gguf"
    if content is not None:
        bad.write_bytes(content)
    done = chat(subprocess_env, tmp_path / "data", "--model", str(bad), "Hello?")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"chatdesk: cannot load {bad}: ") and needle in lines[0]
    assert not (tmp_path / "data" / "chatdesk.sqlite3").exists()  # nothing half-stored


def test_bad_options_are_one_line_and_a_usage_error(tmp_path: Path,
                                                    subprocess_env: dict[str, str],
                                                    model_path: Path):
    done = chat(subprocess_env, tmp_path / "data", "--model", str(model_path),
                "--temperature", "9", "Hello?")
    assert done.returncode == 2
    assert done.stderr.strip() == ("chatdesk: invalid option: temperature: must be between "
                                   "0 and 5, got 9.0")
