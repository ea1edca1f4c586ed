"""Model references, stored connections, and a remote answer's figures and words: which
server and model wrote it, each figure's source, energy 'not measured (remote)', and the
cost from the connection's price per million tokens."""

from __future__ import annotations

import json
import logging

import pytest

from chatdesk.core.energy.record import answer_energy_record
from chatdesk.core.events import GenerationResult, StopReason
from chatdesk.core.figures import (
    AnswerStats,
    EnergyFigures,
    answer_chips,
    answer_title,
    energy_line,
    stats_line,
)
from chatdesk.core.model_ref import RemoteModel, is_remote, normalize_base_url, parse_remote
from chatdesk.core.servers import (
    ApiKeys,
    ServerConnection,
    connections_from_json,
    key_from_environment,
    token_cost,
)
from chatdesk.core.settings import Settings, load_settings, save_settings

BASE = "http://gpu-box:8000/v1"
CONNECTION = ServerConnection("GPU box", BASE, ("org/big",), input_per_million=2.0,
                              output_per_million=6.0, currency="EUR", price_note="rate card")


def remote_result(**changes) -> GenerationResult:
    values = dict(request_id=1, text="Paris.", stop_reason=StopReason.EOS, prompt_tokens=1000,
                  prompt_eval_tokens=1000, prompt_eval_s=0.2, generated_tokens=501,
                  generation_s=10.0, ttft_s=0.25, total_s=10.3, dropped_turns=0,
                  context_used=1501, context_length=32768, engine="remote", server=BASE,
                  sources={"tokens": "server usage", "prompt_tokens": "server usage",
                           "timing": "measured here (client clock, includes the network)",
                           "server": "llama-server timings"},
                  server_figures={"tokens_per_s": 51.0})
    values.update(changes)
    return GenerationResult(**values)


@pytest.mark.parametrize(("entered", "normal"), [
    ("gpu-box:8000", "http://gpu-box:8000/v1"),
    ("http://gpu-box:8000/v1/", "http://gpu-box:8000/v1"),
    ("https://api.example.com/v1/chat/completions", "https://api.example.com/v1"),
    ("http://localhost:11434/v1", "http://localhost:11434/v1"),
])
def test_base_urls_have_one_spelling(entered, normal):
    assert normalize_base_url(entered) == normal


@pytest.mark.parametrize("bad", ["", "ftp://x/v1", "http:///v1", "http://x/v1#frag",
                                 "http://x/v1?a=1"])
def test_unusable_base_urls_are_refused(bad):
    with pytest.raises(ValueError):
        normalize_base_url(bad)


def test_references_round_trip_and_local_paths_are_not_remote():
    remote = RemoteModel(BASE, "org/model:q4#x")
    assert parse_remote(remote.ref) == remote  # only the first '#' separates
    assert remote.host == "gpu-box:8000"
    assert not is_remote("/models/x.gguf") and parse_remote("/models/x.gguf") is None
    assert parse_remote("remote:no-separator") is None


def test_answer_title_names_model_and_server_never_a_url():
    assert answer_title(RemoteModel(BASE, "/srv/models/Qwen.gguf").ref) == \
        "/srv/models/Qwen.gguf (remote: gpu-box:8000)"
    assert answer_title(RemoteModel(BASE, "org/big").ref) == "org/big (remote: gpu-box:8000)"


def test_connections_survive_the_settings_file_without_keys(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(path, Settings(servers=(CONNECTION,)))
    assert load_settings(path).servers == (CONNECTION,)
    stored = json.loads(path.read_text())["servers"][0]
    assert not any("key" in name and name != "needs_key" for name in stored)


def test_bad_stored_connections_are_left_out_not_the_file(caplog):
    caplog.set_level(logging.WARNING)
    raw = [{"name": "ok", "base_url": "box:1234", "models": ["m", 3], "input_per_million": -1},
           {"name": "no url"}, "junk", {"name": "bad", "base_url": "ftp://x"},
           {"name": "twice", "base_url": "http://box:1234/v1"}]
    connections = connections_from_json(raw)
    assert [c.name for c in connections] == ["ok"]
    assert connections[0].base_url == "http://box:1234/v1"
    assert connections[0].models == ("m",) and connections[0].input_per_million is None
    assert Settings.from_dict({"servers": "nonsense"}).servers == ()


def test_keys_without_a_keyring_stay_in_memory_only():
    keys = ApiKeys()  # tests run with keyring's 'fail' backend (tests/conftest.py)
    assert keys.persistent is False
    assert keys.set(BASE, "sk-secret") is False
    assert keys.get(BASE) == "sk-secret"
    assert "sk-secret" not in repr(keys)
    keys.set(BASE, None)
    assert keys.get(BASE) is None
    assert ApiKeys().get(BASE) is None  # a new session asks again


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("TEAM_KEY", " sk-env ")
    assert key_from_environment("TEAM_KEY") == "sk-env"
    assert key_from_environment(None) is None
    monkeypatch.delenv("TEAM_KEY")
    with pytest.raises(ValueError, match="TEAM_KEY is not set"):
        key_from_environment("TEAM_KEY")


def test_token_cost_needs_a_price_and_counts():
    cost = token_cost(CONNECTION, 1000, 500)
    assert cost is not None and cost.cost == pytest.approx((1000 * 2 + 500 * 6) / 1e6)
    assert cost.currency == "EUR" and "GPU box" in cost.source and "rate card" in cost.source
    assert token_cost(ServerConnection("free", BASE), 1000, 500) is None
    assert token_cost(CONNECTION, None, 500) is None


def test_a_remote_answer_never_gets_this_machines_energy():
    record = answer_energy_record(object(), remote_result(), price=None, grams_per_kwh=475,
                                  servers=(CONNECTION,))
    assert record["source"] == "remote" and record["measured"] is False
    assert "joules" not in record and "avg_watts" not in record and "co2_g" not in record
    assert record["cost"] == pytest.approx((1000 * 2 + 501 * 6) / 1e6)
    figures = EnergyFigures.from_dict(record)
    assert figures.provenance == "not measured (remote)"
    line = energy_line(record)
    assert line.startswith("energy not measured (remote)") and "EUR" in line
    assert "rate card" in line and " W" not in line
    assert "energy not measured (remote)" in answer_chips(None, record)


def test_without_a_price_the_cost_says_how_to_get_one():
    record = answer_energy_record(None, remote_result(), None, 475, servers=())
    assert "cost" not in record
    assert "set a price per million tokens" in energy_line(record)


def test_an_estimated_prompt_is_said_in_the_cost_and_stats():
    result = remote_result(sources={"tokens": "counted stream chunks",
                                    "prompt_tokens": "estimated (about 4 characters a token)",
                                    "timing": "measured here"}, server_figures={})
    record = answer_energy_record(None, result, None, 475, servers=(CONNECTION,))
    assert "estimated" in record["cost_source"]
    line = stats_line(AnswerStats.from_result(result).to_dict(), "eos")
    assert "501 tokens (counted)" in line and "prompt ~1000 tokens (estimated)" in line
    assert "server:" not in line


def test_remote_stats_say_where_each_figure_came_from():
    stats = AnswerStats.from_result(remote_result())
    stored = AnswerStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert stored == stats
    assert stored.engine == "remote" and stored.server == BASE
    assert stored.prompt_eval_tokens is None  # the server's KV cache is not ours to know
    line = stats_line(stored, "user_stop")
    assert "50.0 tok/s measured here" in line and "server: 51.0 tok/s" in line
    assert "first token 0.25 s (with the network)" in line and "on gpu-box:8000" in line
    assert "stopped by you" in line


def test_local_stats_are_unchanged():
    local = remote_result(engine="llama.cpp", server=None, sources={}, server_figures={})
    stats = AnswerStats.from_result(local)
    assert stats.engine is None and stats.prompt_eval_tokens == 1000
    assert "measured here" not in stats_line(stats)
