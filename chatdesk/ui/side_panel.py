"""The right panel (model and sampling above, live stats below) and the rule that decides
when it shows. Its presets, load options and open sections are the user's settings.

The user's choice (View > Side panel, Ctrl+Shift+P) is a setting. On top of it, a window
narrower than COLLAPSE_BELOW hides the panel on its own, so the chat keeps a readable
width; the user can still bring it back there, and it returns by itself once the window is
wide again, unless the user hid it. The "Advanced" and "More figures" sections remember
whether they were open, per user, in the same settings.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from chatdesk.core.sampling import SamplingParams
from chatdesk.core.settings_store import SettingsStore
from chatdesk.ui.sampling_panel import SamplingPanel
from chatdesk.ui.stats_panel import StatsPanel

COLLAPSE_BELOW = 1000  # px of window width: below it the side panel folds away by itself


class SidePanel(QWidget):
    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.sampling_panel = SamplingPanel()
        self.stats_panel = StatsPanel()
        layout.addWidget(self.sampling_panel, 1)
        layout.addWidget(self.stats_panel)
        settings = store.settings
        panel = self.sampling_panel
        panel.set_presets({name: SamplingParams.from_dict(values)
                           for name, values in settings.presets.items()})
        panel.set_load_options(settings.context_length, settings.gpu_layers, settings.threads)
        panel.preset_saved.connect(lambda name, params: store.update(
            presets={**store.settings.presets, name: params.to_dict()}))
        panel.preset_deleted.connect(lambda name: store.update(
            presets={k: v for k, v in store.settings.presets.items() if k != name}))
        self.sampling_panel.advanced.set_open(settings.sampling_advanced_open)
        self.stats_panel.more.set_open(settings.stats_more_open)
        self.sampling_panel.advanced_toggled.connect(
            lambda on: store.update(sampling_advanced_open=on))
        self.stats_panel.more_toggled.connect(lambda on: store.update(stats_more_open=on))


class SidePanelFit(QObject):
    """Shows or hides ``panel`` from the user's choice and ``window``'s width."""

    shown_changed = Signal(bool)

    def __init__(self, window: QWidget, panel: QWidget, store: SettingsStore) -> None:
        super().__init__(window)
        self._window, self._panel, self._store = window, panel, store
        self._shown_while_narrow = False  # the user asked for it in a narrow window
        window.installEventFilter(self)

    def narrow(self) -> bool:
        return self._window.width() < COLLAPSE_BELOW

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def fit(self) -> None:
        """Apply the rule for the window's current width."""
        if not self.narrow():
            self._shown_while_narrow = False
        wanted = self._store.settings.right_panel_visible
        self._show(wanted and (not self.narrow() or self._shown_while_narrow))

    def toggle(self) -> None:
        """The user's Show/Hide: remembered, and obeyed even in a narrow window."""
        show = self._panel.isHidden()
        self._store.update(right_panel_visible=show)
        self._shown_while_narrow = show and self.narrow()
        self._show(show)

    def _show(self, visible: bool) -> None:
        if self._panel.isHidden() == visible:
            self._panel.setVisible(visible)
        self.shown_changed.emit(visible)
