"""`chatdesk bench ui`: runs offscreen without a model and prints its figures as JSON."""

from __future__ import annotations

import json

from chatdesk.bench_ui import run_ui_bench
from chatdesk.cli import main

KEYS = {"stream_stall_p99_ms": float, "stream_stall_max_ms": float,
        "open_conversation_ms": float, "messages": int}


def test_ui_bench_reports_its_figures(qapp):
    result = run_ui_bench(duration_s=0.3, messages=40, open_messages=120, opens=1)
    for key, kind in KEYS.items():
        assert isinstance(result[key], kind), key
    assert result["messages"] == 40 and result["open_messages"] == 120
    assert result["stream_ticks"] > 0 and result["stream_tokens"] > 0
    assert result["stream_chars"] > 0
    assert result["stream_stall_max_ms"] >= result["stream_stall_p99_ms"] > 0
    assert result["open_conversation_ms"] > 0


def test_bench_ui_command_prints_json(qapp, capsys):
    code = main(["bench", "ui", "--json", "--duration", "0.2", "--messages", "30",
                 "--open-messages", "60"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key, kind in KEYS.items():
        assert isinstance(result[key], kind), key
    assert result["messages"] == 30 and result["open_messages"] == 60


def test_plain_bench_still_means_the_pipeline_bench():
    from chatdesk.cli import build_parser

    args = build_parser().parse_args(["bench", "--model", "x.gguf", "--json"])
    assert args.mode == "pipeline" and args.model == "x.gguf" and args.json
    assert build_parser().parse_args(["bench", "ui"]).mode == "ui"
