"""The windows and dialogs the main window opens from its menus and the chat: Models, an
answer's tokens, Under the hood, Energy and cost, Energy settings; and the download
manager the Models dialog shares with the first-run card. Kept apart so the window's file
stays layout and wiring."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Slot

from chatdesk.download_manager import DownloadManager
from chatdesk.ui.cost_view import CostView
from chatdesk.ui.energy_settings import edit_energy_settings
from chatdesk.ui.hood_view import HoodDialog
from chatdesk.ui.models_dialog import ModelsDialog
from chatdesk.ui.servers_tab import add_servers_tab
from chatdesk.ui.token_view import TokenDialog

MainWindow = Any  # below main_window: never imports it


class WindowDialogs(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.downloads: DownloadManager | None = None  # started on first use: download_manager
        self.models_dialog: ModelsDialog | None = None
        self.cost_view: CostView | None = None  # the window refreshes it after each answer

    def download_manager(self) -> DownloadManager:
        """The app's one download manager (the Models dialog's and the first-run card's),
        started on first use; its downloads outlive the dialog until the app closes."""
        if self.downloads is None:
            window = self.window
            self.downloads = DownloadManager(window.paths.models_dir, window)
            self.downloads.update.connect(lambda _update: window.refresh_models())
        return self.downloads

    @Slot()
    def show_models(self) -> ModelsDialog:
        """Open (or raise) the Models dialog; downloads outlive it until the app closes."""
        window, session = self.window, self.session
        downloads = self.download_manager()
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(session.catalog, window.paths.models_dir,
                                              downloads, window)
            self.models_dialog.load_requested.connect(window.load_model)
            servers = add_servers_tab(self.models_dialog.tabs, session.store, session.keys)
            servers.changed.connect(window.refresh_models)
            servers.load_requested.connect(window.load_model)
        self.models_dialog.set_current_model(getattr(session.model, "path", None))
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    @Slot(int)
    def show_tokens(self, answer_id: int) -> TokenDialog | None:
        """The token view of an answer (ui/token_view.py); a message when none was kept."""
        trace = self.session.token_trace(answer_id)
        if trace is None:
            self.window.error_banner_show(self.tr("No tokens were kept for this answer"),
                                          self.tr("It was written before chatdesk kept them, "
                                                  "by a server's model, or with token "
                                                  "recording off."))
            return None
        dialog = TokenDialog(self.session, answer_id, trace, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_hood(self) -> HoodDialog:
        """Models › Under the hood: the model card, one token's arithmetic, cost at scale."""
        dialog = HoodDialog(self.session, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_costs(self) -> CostView:
        """Open (or raise) the energy and cost window."""
        if self.cost_view is None:
            self.cost_view = CostView(self.session.history, self.window.settings, self.window)
            self.cost_view.edit_settings_requested.connect(self.edit_energy_settings)
            last = self.session.last_answer
            if last is not None:
                self.cost_view.set_answer(last.energy_report, list(last.token_rates))
        self.cost_view.refresh(self.session.conversation_id)
        self.cost_view.show()
        self.cost_view.raise_()
        return self.cost_view

    @Slot()
    def edit_energy_settings(self) -> None:
        """Costs › Energy settings; a new TDP is saved now but used from the next start."""
        window, settings = self.window, self.window.settings
        changed = edit_energy_settings(window, settings, meter=self.session.host.worker.meter)
        if changed is None:
            return
        tdp_changed = changed.tdp_watts != settings.tdp_watts
        self.session.store.replace_all(changed)
        if self.cost_view is not None:
            self.cost_view.set_settings(changed)
        if tdp_changed:  # the meter picks its estimate model once, when the app starts
            window.statusBar().showMessage(self.tr("The new CPU TDP applies after a restart."),
                                           5000)
