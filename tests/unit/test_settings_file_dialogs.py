"""The remembered file-dialog folders and export format round-trip, and a hand-edited bad
value is dropped instead of moving the whole settings file aside."""

from __future__ import annotations

import json

from chatdesk.core.settings import Settings, load_settings, save_settings


def test_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings(file_dialog_folders={"export": "/home/a/Documents"},
                        last_export_format="pdf")
    save_settings(path, settings)
    assert load_settings(path) == settings


def test_bad_values_fall_back_to_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "theme": "dark",
                                "file_dialog_folders": {"export": 5, "import": "/tmp"},
                                "last_export_format": ["md"]}))
    settings = load_settings(path)
    assert settings.theme == "dark"  # the file was kept
    assert settings.file_dialog_folders == {"import": "/tmp"}
    assert settings.last_export_format == ""
    path.write_text(json.dumps({"file_dialog_folders": "nope"}))
    assert load_settings(path).file_dialog_folders == {}
