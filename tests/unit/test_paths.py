"""Where chatdesk keeps its files: explicit dir, then $CHATDESK_DATA_DIR, then platformdirs."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from chatdesk.core.paths import APP_NAME, DATA_DIR_ENV, AppPaths, resolve_paths


def under(root: Path) -> AppPaths:
    return AppPaths(models_dir=root / "models", database=root / "chatdesk.sqlite3",
                    settings_file=root / "settings.json", logs_dir=root / "logs")


def test_explicit_data_dir_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert resolve_paths(tmp_path / "explicit") == under((tmp_path / "explicit").resolve())


def test_environment_variable_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert resolve_paths() == under((tmp_path / "from-env").resolve())


def test_relative_and_home_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_paths("rel").models_dir == tmp_path.resolve() / "rel" / "models"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_paths("~/cd").models_dir == (tmp_path / "home").resolve() / "cd" / "models"


@pytest.fixture
def fake_platformdirs(tmp_path, monkeypatch):
    calls = []

    def fake(kind):
        def user_dir(appname, appauthor=None, **kwargs):
            calls.append((kind, appname, appauthor))
            return str(tmp_path / kind / appname)
        return user_dir

    for kind in ("data", "config", "log"):
        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", fake(kind))
    return calls


@pytest.mark.parametrize("env_value", [None, ""])
def test_without_override_platformdirs_decides(tmp_path, monkeypatch, fake_platformdirs,
                                               env_value):
    if env_value is not None:
        monkeypatch.setenv(DATA_DIR_ENV, env_value)  # set but empty: no override
    paths = resolve_paths()
    assert paths == AppPaths(
        models_dir=tmp_path / "data" / APP_NAME / "models",
        database=tmp_path / "data" / APP_NAME / "chatdesk.sqlite3",
        settings_file=tmp_path / "config" / APP_NAME / "settings.json",
        logs_dir=tmp_path / "log" / APP_NAME,
    )
    assert {kind for kind, _, _ in fake_platformdirs} == {"data", "config", "log"}
    assert all(app == APP_NAME for _, app, _ in fake_platformdirs)


def test_ensure_creates_every_directory(tmp_path):
    paths = resolve_paths(tmp_path / "d")
    assert not (tmp_path / "d").exists()
    assert paths.ensure() is paths
    for directory in (paths.models_dir, paths.database.parent, paths.settings_file.parent,
                      paths.logs_dir):
        assert directory.is_dir()
    assert not paths.database.exists()  # directories only, no files
    paths.ensure()  # twice is fine


def test_ensure_with_platformdirs_layout(tmp_path, fake_platformdirs):
    paths = resolve_paths().ensure()
    assert (tmp_path / "config" / APP_NAME).is_dir()
    assert paths.logs_dir.is_dir() and paths.models_dir.is_dir()
