"""The loop guard setting: on by default, kept when turned off, absent in older files."""

from __future__ import annotations

import dataclasses
import json

from chatdesk.core.settings import Settings, load_settings, save_settings


def test_the_loop_guard_is_on_by_default(tmp_path):
    assert Settings().loop_guard is True
    assert load_settings(tmp_path / "missing.json").loop_guard is True


def test_turning_it_off_is_saved(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(path, dataclasses.replace(Settings(), loop_guard=False))
    assert json.loads(path.read_text("utf-8"))["loop_guard"] is False
    assert load_settings(path).loop_guard is False


def test_a_file_from_before_the_setting_keeps_it_on(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "theme": "dark"}), "utf-8")
    loaded = load_settings(path)
    assert loaded.theme == "dark" and loaded.loop_guard is True
