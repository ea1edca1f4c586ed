"""Unit tests never touch the real user directories."""

from __future__ import annotations

import platformdirs
import pytest


@pytest.fixture(scope="session")
def user_dirs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("user-dirs")


@pytest.fixture(autouse=True)
def isolated_user_dirs(user_dirs_root, monkeypatch):
    """Point platformdirs' user dirs at a temp folder and drop any CHATDESK_DATA_DIR."""
    for kind in ("data", "config", "cache", "log", "state"):
        def fake(appname=None, *args, _kind=kind, **kwargs):
            return str(user_dirs_root / _kind / (appname or ""))

        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", fake)
    monkeypatch.delenv("CHATDESK_DATA_DIR", raising=False)
    return user_dirs_root
