"""Models › Servers: connections to OpenAI-compatible servers (vLLM, llama-server, Ollama,
LM Studio, hosted APIs).

A connection is a name, a base URL, an optional API key and an optional price per
million tokens. "Test connection" lists the server's models (GET /v1/models, off the GUI
thread); the models it lists are kept with the connection, so the model picker offers
them, marked as remote, without asking the network at start. The key goes to the system
keyring when there is one, else it is kept for this session only (core/servers.ApiKeys);
it is never written to the settings or the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.model_ref import RemoteModel, normalize_base_url
from chatdesk.core.remote_engine import ServerModel, list_server_models
from chatdesk.core.servers import ApiKeys, ServerConnection
from chatdesk.core.settings_store import SettingsStore
from chatdesk.threads import run_op

NO_PRICE = -0.01  # the price boxes' "no price" value (shown as "not set")


def remote_choices(servers: Sequence[ServerConnection]) -> list[tuple[str, str]]:
    """(label, model reference) for each server model the picker offers."""
    return [(f"{model} — {connection.name} (remote)", RemoteModel(connection.base_url, model).ref)
            for connection in servers for model in connection.models]


class ServersTab(QWidget):
    changed = Signal()  # the saved connections changed (the model picker refreshes)
    load_requested = Signal(str)  # a server model's reference to load

    def __init__(self, store: SettingsStore, keys: ApiKeys,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.keys = keys
        self.connection_list = QListWidget()
        self.connection_list.setAccessibleName(self.tr("Server connections"))
        self.connection_list.currentRowChanged.connect(self._show_connection)
        new_button = QPushButton(self.tr("New"))
        new_button.clicked.connect(self.new_connection)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.clicked.connect(self.remove_connection)
        left = QVBoxLayout()
        left.addWidget(self.connection_list)
        row = QHBoxLayout()
        row.addWidget(new_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("e.g. GPU box"))
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://gpu-box:8000/v1")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(self.tr("optional"))
        key_note = QLabel(self.tr("Kept in the system keyring.") if keys.persistent else
                          self.tr("No system keyring here: the key is kept for this session "
                                  "only and asked for again next time."))
        key_note.setWordWrap(True)
        self.input_price = self._price_box()
        self.output_price = self._price_box()
        self.currency_edit = QLineEdit("USD")
        self.price_note_edit = QLineEdit()
        self.price_note_edit.setPlaceholderText(self.tr("where the price is from, and when"))
        form = QFormLayout()
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Base URL"), self.url_edit)
        form.addRow(self.tr("API key"), self.key_edit)
        form.addRow("", key_note)
        form.addRow(self.tr("Price per million prompt tokens"), self.input_price)
        form.addRow(self.tr("Price per million answer tokens"), self.output_price)
        form.addRow(self.tr("Currency"), self.currency_edit)
        form.addRow(self.tr("Price source"), self.price_note_edit)
        self.save_button = QPushButton(self.tr("Save"))
        self.save_button.clicked.connect(self.save_connection)
        self.test_button = QPushButton(self.tr("Test connection"))
        self.test_button.clicked.connect(self.test_connection)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.model_list = QListWidget()
        self.model_list.setAccessibleName(self.tr("The server's models"))
        self.model_list.itemDoubleClicked.connect(lambda _item: self.use_selected_model())
        self.use_button = QPushButton(self.tr("Chat with this model"))
        self.use_button.clicked.connect(self.use_selected_model)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addLayout(buttons)
        right.addWidget(self.status)
        right.addWidget(QLabel(self.tr("Models on this server:")))
        right.addWidget(self.model_list)
        right.addWidget(self.use_button)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 2)
        self._testing: str | None = None
        self.refresh()

    @staticmethod
    def _price_box() -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(NO_PRICE, 1_000_000)
        box.setDecimals(4)
        box.setSpecialValueText("not set")
        box.setValue(NO_PRICE)
        return box

    # -- the list -------------------------------------------------------------------------
    @property
    def connections(self) -> tuple[ServerConnection, ...]:
        return self.store.settings.servers

    def refresh(self, select: str | None = None) -> None:
        self.connection_list.blockSignals(True)
        self.connection_list.clear()
        for connection in self.connections:
            item = QListWidgetItem(f"{connection.name}\n{connection.base_url}")
            item.setData(256, connection.base_url)
            self.connection_list.addItem(item)
        self.connection_list.blockSignals(False)
        urls = [c.base_url for c in self.connections]
        row = urls.index(select) if select in urls else (0 if urls else -1)
        self.connection_list.setCurrentRow(row)
        self._show_connection(row)

    def current(self) -> ServerConnection | None:
        row = self.connection_list.currentRow()
        return self.connections[row] if 0 <= row < len(self.connections) else None

    @Slot(int)
    def _show_connection(self, row: int) -> None:
        connection = self.connections[row] if 0 <= row < len(self.connections) else None
        self.name_edit.setText(connection.name if connection else "")
        self.url_edit.setText(connection.base_url if connection else "")
        self.key_edit.setText((self.keys.get(connection.base_url) or "") if connection else "")
        for box, value in ((self.input_price, connection and connection.input_per_million),
                           (self.output_price, connection and connection.output_per_million)):
            box.setValue(NO_PRICE if value is None or value is False else float(value))
        self.currency_edit.setText(connection.currency if connection else "USD")
        self.price_note_edit.setText(connection.price_note if connection else "")
        self._show_models(connection.models if connection else ())
        self.remove_button.setEnabled(connection is not None)
        self.status.clear()

    def _show_models(self, models: Sequence[str]) -> None:
        self.model_list.clear()
        for model in models:
            self.model_list.addItem(model)
        if models:
            self.model_list.setCurrentRow(0)
        self.use_button.setEnabled(bool(models))

    @Slot()
    def new_connection(self) -> None:
        self.connection_list.setCurrentRow(-1)
        self._show_connection(-1)
        self.name_edit.setFocus()

    # -- editing ----------------------------------------------------------------------------
    def _entered(self) -> ServerConnection | None:
        """The form as a connection; None (and a message) when it is not usable."""
        name = self.name_edit.text().strip()
        try:
            base_url = normalize_base_url(self.url_edit.text())
        except ValueError as exc:
            self.status.setText(str(exc).capitalize() + ".")
            return None
        existing = next((c for c in self.connections if c.base_url == base_url), None)
        prices = [None if box.value() <= NO_PRICE / 2 else box.value()
                  for box in (self.input_price, self.output_price)]
        return ServerConnection(
            name=name or base_url, base_url=base_url,
            models=existing.models if existing else (), input_per_million=prices[0],
            output_per_million=prices[1], currency=self.currency_edit.text().strip() or "USD",
            price_note=self.price_note_edit.text().strip(),
            needs_key=bool(self.key_edit.text().strip()))

    def _store(self, connection: ServerConnection) -> None:
        """Save ``connection`` (replacing the selected one, or one with its URL)."""
        selected = self.current()
        kept = [c for c in self.connections
                if c.base_url != connection.base_url
                and (selected is None or c.base_url != selected.base_url)]
        position = next((i for i, c in enumerate(self.connections)
                         if selected is not None and c.base_url == selected.base_url),
                        len(kept))
        kept.insert(min(position, len(kept)), connection)
        self.store.update(servers=tuple(kept))
        self.keys.set(connection.base_url, self.key_edit.text().strip() or None)
        self.refresh(select=connection.base_url)
        self.changed.emit()

    @Slot()
    def save_connection(self) -> ServerConnection | None:
        connection = self._entered()
        if connection is not None:
            self._store(connection)
            self.status.setText(self.tr("Saved. Test the connection to list its models."))
        return connection

    @Slot()
    def remove_connection(self) -> None:
        connection = self.current()
        if connection is None:
            return
        self.store.update(servers=tuple(c for c in self.connections
                                        if c.base_url != connection.base_url))
        self.keys.set(connection.base_url, None)
        self.refresh()
        self.changed.emit()

    @Slot()
    def test_connection(self) -> None:
        """Save the form, then list the server's models in the background."""
        connection = self.save_connection()
        if connection is None:
            return
        self._testing = connection.base_url
        key = self.keys.get(connection.base_url)
        self.test_button.setEnabled(False)
        self.status.setText(self.tr("Connecting to {0}…").format(connection.base_url))
        run_op(lambda: list_server_models(connection.base_url, key), self._tested,
               self._tested, name="server-test")

    @Slot(object)
    def _tested(self, result: object) -> None:
        self.test_button.setEnabled(True)
        base_url, self._testing = self._testing, None
        connection = next((c for c in self.connections if c.base_url == base_url), None)
        if isinstance(result, Exception):
            title = getattr(result, "title", self.tr("The test failed"))
            self.status.setText(f"{title}: {result}")
            return
        models: list[ServerModel] = list(result)  # type: ignore[call-overload]
        if connection is not None:
            updated = dataclasses.replace(connection, models=tuple(m.id for m in models))
            self.store.update(servers=tuple(updated if c.base_url == base_url else c
                                            for c in self.connections))
            self.refresh(select=base_url)
            self.changed.emit()
        self.status.setText(self.tr("Connected: {0} models.").format(len(models)) if models
                            else self.tr("Connected, but the server lists no models."))

    @Slot()
    def use_selected_model(self) -> None:
        connection, item = self.current(), self.model_list.currentItem()
        if connection is None or item is None:
            return
        self.load_requested.emit(RemoteModel(connection.base_url, item.text()).ref)


def add_servers_tab(tabs: QTabWidget, store: SettingsStore, keys: ApiKeys) -> ServersTab:
    """Add the Servers tab to the Models dialog's tabs."""
    tab = ServersTab(store, keys, tabs)
    tabs.addTab(tab, tab.tr("Servers"))
    return tab
