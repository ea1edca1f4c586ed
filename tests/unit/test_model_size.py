"""Model sizes before the Hub answers (parameters × bits per weight) and after (cached)."""

from __future__ import annotations

import json

import pytest

from chatdesk.core.model_size import (
    HubSizes,
    cache_key,
    estimated_size_bytes,
    parameter_count,
)


@pytest.mark.parametrize(("text", "count"), [
    ("270M", 270e6), ("0.5B", 0.5e9), ("1.5b", 1.5e9), (" 7B ", 7e9), ("135M", 135e6),
    ("8x7B", None), ("", None), ("big", None),
])
def test_parameter_count(text, count):
    assert parameter_count(text) == count


def test_the_estimate_is_close_to_real_files():
    # Real Q4_K_M files: Qwen2.5 1.5B Instruct 986 MiB, Llama 3.1 8B 4.58 GiB.
    qwen = estimated_size_bytes("1.5B", "Q4_K_M")
    llama = estimated_size_bytes("8B", "Q4_K_M")
    assert qwen is not None and 0.85 < qwen / (986 * 2**20) < 1.15
    assert llama is not None and 0.85 < llama / (4.58 * 2**30) < 1.15
    assert estimated_size_bytes("1B", "Q8_0") == 1_062_500_000
    assert estimated_size_bytes("1B", "weird") is None
    assert estimated_size_bytes("?", "Q4_K_M") is None


def test_hub_sizes_survive_a_restart_and_a_bad_file(tmp_path):
    path = tmp_path / "hub-sizes.json"
    key = cache_key("org/repo", "m.gguf", "main")
    HubSizes(path).update({key: 123})
    assert HubSizes(path).get(key) == 123
    path.write_text(json.dumps({key: "big", "other": -1, "ok": 5}))
    assert HubSizes(path).sizes == {"ok": 5}
    path.write_text("{not json")
    assert HubSizes(path).sizes == {}
