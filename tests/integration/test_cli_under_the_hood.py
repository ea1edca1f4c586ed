"""`chatdesk generate` and `chatdesk model-info` as a script runs them (issue 14)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from real_model import smollm2_path

from chatdesk.core.model_card import read_model_card

pytestmark = pytest.mark.integration


def _chatdesk(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatdesk", *args, "--data-dir",
                           str(tmp_path / "data")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_generate_raw_json_prints_each_token_with_its_alternatives(
        tmp_path: Path, subprocess_env: dict[str, str]):
    done = _chatdesk(tmp_path, subprocess_env, "generate", "--raw",
                     "The capital of France is", "--model", str(smollm2_path()),
                     "--max-tokens", "8", "--top-logprobs", "3", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["raw"] is True and out["generated_tokens"] == len(out["tokens"]) == 8
    assert out["prompt_tokens"] == 5  # the text alone: no chat template around it
    assert "".join(t["text"] for t in out["tokens"]) == out["text"]
    assert "Paris" in out["text"]
    for token in out["tokens"]:
        assert isinstance(token["id"], int) and token["logprob"] <= 0
        assert len(token["top_logprobs"]) == 3
        logprobs = [a["logprob"] for a in token["top_logprobs"]]
        assert logprobs == sorted(logprobs, reverse=True)
        assert token["id"] == token["top_logprobs"][0]["id"]  # greedy: the likeliest
        assert sum(math.exp(p) for p in logprobs) <= 1 + 1e-6


def test_generate_refuses_bad_options_in_one_line(tmp_path: Path,
                                                  subprocess_env: dict[str, str]):
    done = _chatdesk(tmp_path, subprocess_env, "generate", "--raw", "Hi",
                     "--top-logprobs", "99")
    assert done.returncode == 2 and "--top-logprobs" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_model_info_json_has_the_cards_numbers(tmp_path: Path,
                                               subprocess_env: dict[str, str]):
    path = smollm2_path()
    done = _chatdesk(tmp_path, subprocess_env, "model-info", str(path), "--json",
                     "--context", "100")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    card = read_model_card(path)
    assert out["layers"] == 30 and out["heads"] == 9 and out["kv_heads"] == 3
    assert out["parameters"] == card.parameters == 134_515_008
    assert out["flops_per_token"] == card.flops_per_token(100)
    assert out["weight_bytes_per_token"] == card.weight_bytes_per_token
    assert out["kv_bytes_per_token"] == 30 * 3 * 64 * 2 * 2
    assert {q["type"] for q in out["quant_shares"]} == {"Q4_1", "Q8_0", "F32"}
    text = _chatdesk(tmp_path, subprocess_env, "model-info", str(path))
    assert text.returncode == 0 and "Parameters" in text.stdout and "134.5 M" in text.stdout


def test_model_info_on_a_file_that_is_no_model(tmp_path: Path,
                                               subprocess_env: dict[str, str]):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello", encoding="utf-8")
    done = _chatdesk(tmp_path, subprocess_env, "model-info", str(bad))
    assert done.returncode == 1 and "not a GGUF model file" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
