"""Keeps API exchanges in the history when the user asked for it (off by default).

It opens its own connection to the history database, in the server thread where it
writes (a SQLite connection belongs to the thread that opened it; WAL lets it write
beside the window's). Each answer becomes a conversation marked as coming from the API
(core.conversation.record_exchange). The setting is read per answer, so turning it on or
off in the window applies to the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from chatdesk.core.conversation import record_exchange
from chatdesk.core.energy import EnergyReport
from chatdesk.core.energy.record import energy_record
from chatdesk.core.events import ChatMessage, GenerationResult
from chatdesk.core.history import HistoryError, HistoryStore
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings import Settings

log = logging.getLogger(__name__)


class HistoryKeeper:
    def __init__(self, database: Path, settings: Callable[[], Settings],
                 on_recorded: Callable[[int], None] | None = None) -> None:
        self._database = database
        self._settings = settings
        self._on_recorded = on_recorded
        self._store: HistoryStore | None = None

    def __call__(self, messages: list[ChatMessage], result: GenerationResult,
                 energy: EnergyReport | None, sampling: SamplingParams, model: str) -> None:
        settings = self._settings()
        if not settings.api_keep_history:
            return
        try:
            if self._store is None:
                self._store = HistoryStore.open(self._database, check_integrity=False)
            record = (energy_record(energy, result.generated_tokens, settings.price(),
                                    settings.grid_g_per_kwh) if energy is not None else None)
            conversation = record_exchange(self._store, messages, result, energy=record,
                                           model=model, sampling=sampling)
        except HistoryError as exc:
            log.warning("an API answer could not be kept in the history: %s", exc)
            return
        if self._on_recorded is not None:
            self._on_recorded(conversation.id)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
