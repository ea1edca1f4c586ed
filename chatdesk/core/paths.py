"""Where chatdesk keeps its files.

One data-dir override (``--data-dir`` or ``CHATDESK_DATA_DIR``) moves *everything* the app
writes, so tests and scripts never touch a user's real directories. Without it we follow
platformdirs, the platform's conventions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "chatdesk"
DATA_DIR_ENV = "CHATDESK_DATA_DIR"


@dataclass(frozen=True)
class AppPaths:
    models_dir: Path
    database: Path
    settings_file: Path
    logs_dir: Path

    @property
    def prompt_cache_dir(self) -> Path:
        """Saved KV states of conversations (core/prompt_cache.py), beside the history."""
        return self.database.parent / "prompt-cache"

    def ensure(self) -> AppPaths:
        """Create the directories; returns self so callers can chain."""
        for directory in (self.models_dir, self.database.parent, self.settings_file.parent,
                          self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return self


def resolve_paths(data_dir: str | os.PathLike[str] | None = None) -> AppPaths:
    """The app's paths: an explicit data dir wins, then $CHATDESK_DATA_DIR, then platformdirs."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if chosen is not None:
        root = Path(chosen).expanduser().resolve()
        return AppPaths(
            models_dir=root / "models",
            database=root / "chatdesk.sqlite3",
            settings_file=root / "settings.json",
            logs_dir=root / "logs",
        )
    data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return AppPaths(
        models_dir=data / "models",
        database=data / "chatdesk.sqlite3",
        settings_file=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        / "settings.json",
        logs_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )
