"""Shared by every suite: no test ever touches the real user directories."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs' user dirs at a temp folder and drop any CHATDESK_DATA_DIR."""
    root = tmp_path_factory.mktemp("user-dirs")
    for kind in ("data", "config", "cache", "log", "state"):
        def fake(appname=None, *args, _kind=kind, **kwargs):
            return str(root / _kind / (appname or ""))

        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", fake)
    monkeypatch.delenv("CHATDESK_DATA_DIR", raising=False)
    # API keys of server connections: never the user's real keyring (core/servers.py)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return root
