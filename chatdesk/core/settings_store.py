"""The one owner of the user's settings while the app runs.

Every change goes through ``update``, which saves at once (atomically), so a crash never
loses a setting the user just changed. Widgets and the session read ``settings`` and
never write the file themselves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatdesk.core.settings import Settings, save_settings

log = logging.getLogger(__name__)


class SettingsStore:
    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.path = path
        self._settings = settings if settings is not None else Settings()
        self._listeners: list[Callable[[Settings], None]] = []

    @property
    def settings(self) -> Settings:
        return self._settings

    def on_change(self, listener: Callable[[Settings], None]) -> None:
        """Call ``listener(settings)`` after every change (the cost view, the meter)."""
        self._listeners.append(listener)

    def update(self, **changes: Any) -> Settings:
        """Apply ``changes`` (Settings field names) and save; unchanged values save nothing."""
        updated = dataclasses.replace(self._settings, **changes)
        if updated == self._settings:
            return updated
        self._settings = updated
        try:
            save_settings(self.path, updated)
        except OSError as exc:  # a full or read-only disk: keep running on the new values
            log.warning("could not save settings to %s: %s", self.path, exc)
        for listener in self._listeners:
            listener(updated)
        return updated

    def replace_all(self, settings: Settings) -> Settings:
        """Take a whole edited Settings (a settings dialog's result) and save it."""
        changes = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        return self.update(**changes)
