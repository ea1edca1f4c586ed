"""Shared by every suite: no test ever touches the real user directories."""

from __future__ import annotations

import gc
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


@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread():
    """Collect each test's garbage here, on the main thread. Left to chance, Python's
    collector runs on whatever thread allocates next (a remote engine's stream reader, a
    server thread), and deleting a test's leftover Qt objects there aborts the process
    (seen in CI: 'Fatal Python error: Aborted' while Garbage-collecting in such a thread)."""
    yield
    gc.collect()
