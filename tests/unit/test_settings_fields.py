"""Wrong-typed or out-of-range settings fall back field by field (issue 18, defect 3).

13 of 23 such files crashed the app at every start (tracebacks, and aborts with the
engine thread still running). Now the bad field takes its default, the log names it, the
other fields are kept, and the file is not moved aside. tests/integration/
test_settings_app_start.py feeds the same cases to a real app start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from chatdesk.core import settings as settings_module
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings, load_settings

INF, NAN = float("inf"), float("nan")

# (field, stored value): the 13 crashing cases first, then more of the same kind.
BAD_FIELDS = [
    ("sampling", "fast"),
    ("sampling", 5),
    ("schema_version", INF),
    ("splitter_sizes", [INF, 300, 300]),
    ("tdp_watts", "hot"),
    ("context_length", 99999999999),
    ("context_length", "big"),
    ("threads", "x"),
    ("window_geometry", 5),
    ("right_panel_visible", "no"),
    ("presets", {"a": 5}),
    ("splitter_sizes", [1e20, 300, 300]),
    ("system_prompt", 5),
    ("gpu_layers", "all"),
    ("gpu_layers", -7),
    ("last_model", 5),
    ("last_conversation_id", -3),
    ("last_conversation_id", 1e300),
    ("theme", 7),
    ("theme", "neon"),
    ("electricity_price", NAN),
    ("grid_g_per_kwh", -1),
    ("currency", ["EUR"]),
    ("splitter_sizes", "300,300"),
    ("splitter_sizes", [300, -5, 300]),
    ("threads", 0),
    ("threads", True),
    ("context_length", 100),
    ("context_length", 4096.5),
    ("window_state", {"a": 1}),
    ("tdp_watts", INF),
    ("tdp_watts", 0),
    ("presets", [1, 2]),
    ("schema_version", "1"),
    ("cloud_input_per_million", -1),
]

# Inside "sampling": one bad value falls back alone; the other sampling values are kept.
BAD_SAMPLING = [("temperature", "hot"), ("top_k", 1e20), ("top_p", NAN), ("stop", 5),
                ("stop", [1, 2]), ("seed", -1), ("max_tokens", 0), ("repeat_penalty", INF)]

GOOD = Settings(context_length=2048, threads=2, system_prompt="Be brief.", theme="dark",
                splitter_sizes=(200, 600, 300), right_panel_visible=False, tdp_watts=35.0,
                sampling=SamplingParams(temperature=0.3, top_k=20, stop=("END",), seed=7,
                                        max_tokens=99),
                presets={"careful": SamplingParams(temperature=0.1).to_dict()})


def _write(path: Path, **changes: object) -> None:
    data = json.loads(GOOD.to_json())
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")  # Infinity/NaN as Python writes them


def _default(name: str) -> object:
    return {f.name: f for f in dataclasses.fields(Settings)}[name].default \
        if name not in ("sampling", "presets") else getattr(Settings(), name)


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS, ids=lambda v: repr(v)[:30])
def test_a_bad_field_takes_its_default_and_the_rest_is_kept(tmp_path, caplog, name, value):
    path = tmp_path / "settings.json"
    _write(path, **{name: value})
    with caplog.at_level(logging.WARNING, logger="chatdesk.core.settings"):
        loaded = load_settings(path)
    expected = dataclasses.replace(GOOD, **{name: _default(name)}) \
        if name != "presets" else dataclasses.replace(GOOD, presets={})
    if name == "schema_version":
        expected = dataclasses.replace(GOOD)  # the default is the current version
    assert loaded == expected
    assert list(tmp_path.iterdir()) == [path], "the file was moved aside"
    assert f"settings: {name}" in caplog.text, "the log does not name the field"


@pytest.mark.parametrize(("name", "value"), BAD_SAMPLING, ids=lambda v: repr(v)[:20])
def test_a_bad_sampling_value_falls_back_alone(tmp_path, caplog, name, value):
    path = tmp_path / "settings.json"
    sampling = GOOD.sampling.to_dict() | {name: value}
    _write(path, sampling=sampling)
    with caplog.at_level(logging.WARNING, logger="chatdesk.core.settings"):
        loaded = load_settings(path)
    default = getattr(SamplingParams(), name)
    assert loaded.sampling == dataclasses.replace(GOOD.sampling, **{name: default})
    assert loaded.threads == GOOD.threads and loaded.presets == GOOD.presets
    assert f"settings: sampling.{name}" in caplog.text


def test_one_bad_preset_is_left_out_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "settings.json"
    _write(path, presets={"good": SamplingParams(top_k=5).to_dict(), "bad": {"top_k": "x"},
                          "worse": "hot", "stop": {"stop": 7}})
    assert load_settings(path).presets == {"good": SamplingParams(top_k=5).to_dict()}


def test_every_stored_field_has_a_rule():
    stored = {f.name for f in dataclasses.fields(Settings)}
    # these have readers of their own, which keep the usable part of a damaged value
    assert set(settings_module._RULES) == stored - {"sampling", "presets", "servers",
                                                    "file_dialog_folders"}


def test_good_settings_round_trip_unchanged(tmp_path):
    path = tmp_path / "settings.json"
    _write(path)
    assert load_settings(path) == GOOD


def test_a_newer_schema_version_is_still_moved_aside(tmp_path):
    path = tmp_path / "settings.json"
    _write(path, schema_version=99)
    assert load_settings(path) == Settings()
    assert [p.name.startswith("settings.json.corrupt-") for p in tmp_path.iterdir()] == [True]
