"""The Server menu: serving starts and stops with the toggle, the status bar shows the
address, and an address the network can reach is marked, in the dialog and the status bar."""

from __future__ import annotations

import json
import urllib.request

from fake_engine import FakeEngine

from chatdesk.app import build_window
from chatdesk.core.settings import Settings
from chatdesk.ui.api_control import AddressDialog
from chatdesk.worker import EngineHost


def make_window(qtbot, app_paths, model_file, settings: Settings):
    window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths, settings)
    qtbot.addWidget(window)
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    return window


def test_the_toggle_serves_on_loopback_and_shows_the_address(qtbot, app_paths, model_file):
    window = make_window(qtbot, app_paths, model_file, Settings(api_port=0))
    control = window.api_control
    try:
        control.serve_action.setChecked(True)
        assert control.server is not None
        address = control.server.address
        assert address.startswith("http://127.0.0.1:")
        assert control.label.text().startswith(f"API {address}/v1")
        assert "⚠" not in control.label.text()
        with urllib.request.urlopen(f"{address}/health", timeout=30) as response:
            assert json.loads(response.read())["status"] == "ok"
        control.serve_action.setChecked(False)
        assert control.server is None and control.label.isHidden()
    finally:
        window.close()


def test_a_network_address_is_marked_in_the_status_bar(qtbot, app_paths, model_file):
    window = make_window(qtbot, app_paths, model_file,
                         Settings(api_host="0.0.0.0", api_port=0))
    control = window.api_control
    try:
        control.serve_action.setChecked(True)
        assert control.server is not None
        assert control.label.text().startswith("⚠ API http://0.0.0.0:")
        assert "other machines" in control.label.toolTip()
    finally:
        window.close()
    assert control.server is None  # the window's shutdown stopped it


def test_the_address_dialog_warns_while_the_address_is_not_loopback(qtbot):
    dialog = AddressDialog("127.0.0.1", 8765)
    qtbot.addWidget(dialog)
    assert "⚠" not in dialog.warning.text()
    dialog.host_edit.setText("192.168.1.20")
    assert "⚠" in dialog.warning.text() and "network" in dialog.warning.text()
    dialog.host_edit.setText("localhost")
    assert "⚠" not in dialog.warning.text()
    assert (dialog.host(), dialog.port()) == ("localhost", 8765)


def test_a_busy_port_is_a_message_not_a_crash(qtbot, app_paths, model_file):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        window = make_window(qtbot, app_paths, model_file, Settings(api_port=port))
        errors: list[tuple[str, str]] = []
        window.session.error.connect(lambda title, text: errors.append((title, text)))
        try:
            window.api_control.serve_action.setChecked(True)
            assert window.api_control.server is None
            assert not window.api_control.serve_action.isChecked()
            assert errors and str(port) in errors[0][1]
        finally:
            window.close()
