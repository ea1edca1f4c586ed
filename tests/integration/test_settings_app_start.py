"""Each wrong-typed settings file, fed to a real app start offscreen (issue 18, defect 3).

Before the fix 13 of these crashed the app at every start: exit 1 with a traceback, or an
abort (134) with the engine thread still running. The app is started for real (window,
engine thread, the real model loading) and quits the normal way once the window shows
(CHATDESK_QUIT_AFTER_START_MS): exit 0, no traceback, and the log names the field.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatdesk.core.settings import Settings

pytestmark = pytest.mark.integration

INF = float("inf")
CASES = [
    ("sampling", "fast"), ("sampling", 5), ("schema_version", INF),
    ("splitter_sizes", [INF, 300, 300]), ("tdp_watts", "hot"), ("context_length", 99999999999),
    ("context_length", "big"), ("threads", "x"), ("window_geometry", 5),
    ("right_panel_visible", "no"), ("presets", {"a": 5}), ("splitter_sizes", [1e20, 300, 300]),
    ("system_prompt", 5), ("gpu_layers", "all"), ("last_model", 5),
    ("last_conversation_id", -3), ("theme", 7), ("electricity_price", float("nan")),
    ("currency", ["EUR"]), ("splitter_sizes", "300,300"), ("threads", 0),
    ("window_state", {"a": 1}), ("context_length", 100),
]


@pytest.mark.parametrize(("name", "value"), CASES, ids=lambda v: repr(v)[:24])
def test_app_starts_with_a_bad_settings_field(tmp_path: Path, subprocess_env: dict[str, str],
                                              model_path: Path, name: str, value: object):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    stored = json.loads(Settings().to_json()) | {name: value}
    (data_dir / "settings.json").write_text(json.dumps(stored), encoding="utf-8")
    env = subprocess_env | {"CHATDESK_QUIT_AFTER_START_MS": "300"}
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from chatdesk.app import main; sys.exit(main())",
         "--data-dir", str(data_dir), "--model", str(model_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    log = (data_dir / "logs" / "chatdesk.log").read_text("utf-8")
    assert f"settings: {name}" in log
    assert "Traceback" not in log
