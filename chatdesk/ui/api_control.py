"""The window's Server menu: serve the loaded model to other programs (docs/api.md).

The API shares the window's engine host, so its requests queue on the one engine thread
behind the window's answers. The status bar shows the address and the requests running
or queued; an address other apps on the network can reach is marked with a warning, in
the address dialog and in the status bar. The key, when wanted, comes from
``$CHATDESK_API_KEY`` (a secret does not belong in the settings file).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from chatdesk.api.address import is_loopback
from chatdesk.api.engine_queue import Activity
from chatdesk.api.history_keeper import HistoryKeeper

if TYPE_CHECKING:
    from chatdesk.api.server import ApiServer

KEY_ENV = "CHATDESK_API_KEY"


class ApiControl(QObject):
    """Owns the Server menu, the status-bar label and the running ApiServer."""

    _recorded = Signal(int)  # a conversation kept from the API (from the server thread)

    def __init__(self, window: Any) -> None:  # the MainWindow (never imported: no circle)
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.server: ApiServer | None = None
        tr = window.tr
        bar = window.menuBar()
        menu = bar.addMenu(tr("Se&rver"))
        last = bar.actions()[-2] if len(bar.actions()) > 1 else None  # keep Help last
        if last is not None:
            bar.insertMenu(last, menu)
        self.serve_action = QAction(tr("&Serve to other apps (API)"), window)
        self.serve_action.setCheckable(True)
        self.serve_action.setStatusTip(tr("An OpenAI-compatible API on the loaded model"))
        self.serve_action.toggled.connect(self.set_serving)
        menu.addAction(self.serve_action)
        self.keep_action = QAction(tr("&Keep API conversations in the history"), window)
        self.keep_action.setCheckable(True)
        self.keep_action.setChecked(self.session.store.settings.api_keep_history)
        self.keep_action.toggled.connect(
            lambda on: self.session.store.update(api_keep_history=on))
        menu.addAction(self.keep_action)
        address = QAction(tr("&Address and port…"), window)
        address.triggered.connect(self.edit_address)
        menu.addAction(address)
        self.label = QLabel()
        self.label.setAccessibleName(tr("API server"))
        self.label.setContentsMargins(12, 0, 12, 0)
        self.label.hide()
        window.statusBar().addPermanentWidget(self.label)
        self._recorded.connect(lambda _id: self.session.conversations_changed.emit())

    @Slot(bool)
    def set_serving(self, on: bool) -> None:
        if on == (self.server is not None):
            return
        if not on:
            self.stop()
            return
        from chatdesk.api.server import ApiServer, ServeOptions  # uvicorn: loaded when used

        settings = self.session.store.settings
        keeper = HistoryKeeper(self.session.history.path,
                               lambda: self.session.store.settings, self._recorded.emit)
        server = ApiServer(self.session.host,
                           ServeOptions(settings.api_host, settings.api_port,
                                        os.environ.get(KEY_ENV) or None),
                           on_answer=keeper, cleanup=keeper.close, parent=self)
        try:
            server.start()
        except OSError as exc:
            self.serve_action.setChecked(False)
            self.session.error.emit(
                self.window.tr("The API server could not start"),
                f"{settings.api_host}:{settings.api_port}: {exc.strerror or exc}")
            return
        self.server = server
        server.activity.connect(self.show_activity)
        server.ended.connect(self._ended)
        self.show_activity(server.current_activity())
        self.label.show()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.label.hide()
        self.serve_action.setChecked(False)

    @Slot(str)
    def _ended(self, reason: str) -> None:
        if reason and self.server is not None:
            self.session.error.emit(self.window.tr("The API server stopped"), reason)
            self.stop()

    @Slot(object)
    def show_activity(self, activity: Activity) -> None:
        if self.server is None:
            return
        tr = self.window.tr
        parts = [tr("API {0}/v1").format(self.server.address)]
        if activity.running:
            parts.append(tr("answering"))
        if activity.queued:
            parts.append(tr("{0} queued").format(activity.queued))
        exposed = not is_loopback(self.server.options.host)
        text = " · ".join(parts)
        self.label.setText(("⚠ " + text) if exposed else text)
        self.label.setToolTip(
            tr("Reachable from other machines on the network") if exposed
            else tr("Reachable from this machine only"))

    def edit_address(self) -> None:
        dialog = AddressDialog(self.session.store.settings.api_host,
                               self.session.store.settings.api_port, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.session.store.update(api_host=dialog.host(), api_port=dialog.port())
        if self.server is not None:  # serve at the new address now
            self.stop()
            self.serve_action.setChecked(True)


class AddressDialog(QDialog):
    """Host and port, with a warning while the host is reachable from the network."""

    def __init__(self, host: str, port: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("API server address"))
        form = QFormLayout(self)
        self.host_edit = QLineEdit(host)
        self.port_box = QSpinBox()
        self.port_box.setRange(1, 65535)
        self.port_box.setValue(port or 8765)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        form.addRow(self.tr("Address:"), self.host_edit)
        form.addRow(self.tr("Port:"), self.port_box)
        form.addRow(self.warning)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.host_edit.textChanged.connect(self._check)
        self._check()

    def host(self) -> str:
        return self.host_edit.text().strip() or "127.0.0.1"

    def port(self) -> int:
        return self.port_box.value()

    def _check(self) -> None:
        if is_loopback(self.host()):
            self.warning.setText(self.tr("Only programs on this computer can connect."))
            return
        key = os.environ.get(KEY_ENV)
        self.warning.setText(self.tr(
            "⚠ Other machines on the network can reach this address. {0}").format(
            self.tr("Requests need the key in ${0}.").format(KEY_ENV) if key else
            self.tr("Anyone who can reach it can use the model: set ${0} to require a "
                    "key.").format(KEY_ENV)))
