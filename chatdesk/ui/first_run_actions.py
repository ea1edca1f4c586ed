"""The window's wiring for the first-run card: while only the bundled model is installed,
the empty chat recommends one download that fits this machine (ui/first_run_card.py).
Kept apart so the window's file stays layout and wiring."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from chatdesk.core.fit import MemoryInfo
from chatdesk.core.recommend import Reachability, only_bundled_models
from chatdesk.ui.first_run_card import FirstRunCard

MainWindow = Any  # below main_window: never imports it


class FirstRunActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.card: FirstRunCard | None = None  # app.main: offer()

    def offer(self, *, memory: MemoryInfo | None = None,
              reachability: Reachability | None = None) -> FirstRunCard | None:
        """Show the card if only the bundled model is installed. Called by app.main, never
        by build_window: its check runs on a thread (it may wait on the network), which a
        test must start knowingly. ``memory`` and ``reachability`` replace the readings."""
        window = self.window
        if self.card is not None or not only_bundled_models(window.paths.models_dir):
            return None
        card = FirstRunCard(window.dialogs.download_manager())
        card.switch_requested.connect(self._switch_to_download)
        card.dismissed.connect(self._dismiss)
        card.checked.connect(self.refresh)
        card.downloads.update.connect(lambda _update: self.refresh())
        window.chat_column.place_card(card)
        self.card = card
        self.refresh()
        card.check(window.session.catalog, window.paths.models_dir, memory=memory,
                   reachability=reachability)
        return card

    def refresh(self) -> None:
        """The card shows in the empty chat; a download it started stays in view (with
        its progress, then its Switch button) while the user chats on."""
        card = self.card
        if card is None:
            return
        card.setVisible(not card.failed and (not self.window.session.thread
                                             or card.in_progress))

    @Slot(str)
    def _switch_to_download(self, path: str) -> None:
        self._dismiss()
        self.window.load_model(path)

    @Slot()
    def _dismiss(self) -> None:
        card, self.card = self.card, None
        if card is not None:
            card.hide()
            card.deleteLater()
