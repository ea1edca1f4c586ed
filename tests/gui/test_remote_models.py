"""A server model in the window: add a connection in Models › Servers, test it, pick the
server's model in the model picker, chat, see its figures labelled (energy "not measured
(remote)", cost from the connection's price), export it, and switch back to a local model.

The server is the OpenAI-compatible stand-in on loopback; the local engine is the fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_engine import FakeEngine
from openai_standin import Script, StandIn
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.engine_switch import EngineSwitch
from chatdesk.core.exchange import export_conversation
from chatdesk.core.model_ref import RemoteModel
from chatdesk.core.remote_engine import RemoteEngine
from chatdesk.core.settings import Settings, load_settings
from chatdesk.session import SessionState
from chatdesk.ui.main_window import MainWindow
from chatdesk.ui.servers_tab import ServersTab
from chatdesk.worker import EngineHost


@pytest.fixture
def server():
    with StandIn(models=("big-model", "other-model"), api_key="sk-team") as standin:
        standin.script = Script(timings={"predicted_per_second": 42.0})
        yield standin


@pytest.fixture
def window(qtbot, app_paths, model_file: Path):
    local = FakeEngine()
    host = EngineHost(EngineSwitch(local, RemoteEngine(stall_timeout_s=5)),
                      app_paths.models_dir)
    window = build_window(host, app_paths, Settings())
    window.local_engine = local  # for the asserts
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.state is SessionState.IDLE, timeout=3000)
    yield window
    window.close()


def servers_tab(window: MainWindow) -> ServersTab:
    dialog = window.dialogs.show_models()
    tab = next(dialog.tabs.widget(i) for i in range(dialog.tabs.count())
               if dialog.tabs.tabText(i) == "Servers")
    dialog.tabs.setCurrentWidget(tab)
    return tab


def add_connection(qtbot, window: MainWindow, server: StandIn, key: str) -> ServersTab:
    tab = servers_tab(window)
    tab.new_connection()
    tab.name_edit.setText("Team GPU box")
    tab.url_edit.setText(server.base_url.removesuffix("/v1"))  # the /v1 is added
    tab.key_edit.setText(key)
    tab.input_price.setValue(2.0)
    tab.output_price.setValue(6.0)
    tab.price_note_edit.setText("team rate 2026")
    tab.test_button.click()
    qtbot.waitUntil(lambda: tab.test_button.isEnabled(), timeout=5000)
    return tab


def test_a_wrong_key_says_so_and_lists_nothing(qtbot, window, server):
    tab = add_connection(qtbot, window, server, "sk-wrong")
    assert "refused the API key" in tab.status.text() and "401" in tab.status.text()
    assert tab.model_list.count() == 0
    assert window.session.store.settings.servers[0].models == ()


def test_add_pick_chat_export_and_switch_back(qtbot, window, server, app_paths,
                                              model_file, tmp_path):
    tab = add_connection(qtbot, window, server, "sk-team")
    assert tab.status.text() == "Connected: 2 models."
    assert [tab.model_list.item(i).text() for i in range(2)] == ["big-model", "other-model"]

    # The connection is saved, without its key; the picker offers its models as remote.
    saved = load_settings(app_paths.settings_file)
    assert saved.servers[0].name == "Team GPU box"
    assert saved.servers[0].base_url == server.base_url
    assert saved.servers[0].models == ("big-model", "other-model")
    assert "sk-team" not in app_paths.settings_file.read_text()
    combo = window.sampling_panel.model_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert "big-model — Team GPU box (remote)" in labels

    # Picking it in the model picker loads it through the remote engine.
    ref = RemoteModel(server.base_url, "big-model").ref
    combo.setCurrentIndex(combo.findData(ref))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window.session.model is not None
                    and window.session.model.path == ref, timeout=5000)
    assert window.session.model.backend.startswith("remote: 127.0.0.1")
    assert window.local_engine.close_calls >= 1  # the local model's memory was freed

    ask(qtbot, window, "What is the capital of France?")
    answer = window.session.thread[-1]
    assert answer.role == "assistant" and answer.content == "Paris is the capital of France."
    assert answer.model == ref  # which engine, server and model wrote it
    assert answer.stats["engine"] == "remote" and answer.stats["server"] == server.base_url
    assert answer.stats["server_tokens_per_s"] == 42.0
    assert answer.energy["source"] == "remote" and "joules" not in answer.energy
    assert answer.energy["currency"] == "USD" and answer.energy["cost"] > 0
    assert "team rate 2026" in answer.energy["cost_source"]
    assert server.chat_bodies()[-1]["model"] == "big-model"
    assert server.requests[-1].authorization == "Bearer sk-team"
    assert "not measured (remote)" in window.stats_panel.labels["energy"].text()

    out = export_conversation(window.session.history, window.session.conversation_id, "md",
                              tmp_path)
    text = out.read_text()
    assert f"big-model (remote: {server.base_url.split('/')[2]})" in text
    assert "not measured (remote)" in text

    # Back to the local model: the remote connection closes, the fake answers again.
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.model is not None
                    and window.session.model.path == str(model_file), timeout=5000)
    ask(qtbot, window, "And of Italy?")
    local_answer = window.session.thread[-1]
    assert local_answer.model == str(model_file)
    assert local_answer.stats.get("engine") is None
    assert len(window.local_engine.chat_calls) == 1


def test_stop_keeps_the_partial_remote_answer(qtbot, window, server):
    add_connection(qtbot, window, server, "sk-team")
    server.script = Script(after=3, then="stall")
    window.load_model(RemoteModel(server.base_url, "big-model").ref)
    qtbot.waitUntil(lambda: window.session.model is not None
                    and window.session.model.architecture == "remote", timeout=5000)
    window.session.send("Tell me a story")
    qtbot.waitUntil(lambda: window.session._answer is not None
                    and window.session._answer.recorder.text == "Paris is the", timeout=5000)
    window.session.stop()
    qtbot.waitUntil(lambda: not window.session.busy, timeout=3000)
    answer = window.session.thread[-1]
    assert answer.content == "Paris is the" and answer.stop_reason == "user_stop"
    assert server.disconnected.wait(5)


def test_a_failure_mid_answer_keeps_the_text_and_says_why(qtbot, window, server):
    add_connection(qtbot, window, server, "sk-team")
    server.script = Script(after=4, then="error_event")
    window.load_model(RemoteModel(server.base_url, "big-model").ref)
    qtbot.waitUntil(lambda: window.session.model is not None
                    and window.session.model.architecture == "remote", timeout=5000)
    errors: list[tuple[str, str]] = []
    window.session.error.connect(lambda title, message: errors.append((title, message)))
    window.session.send("Tell me a story")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=5000)
    stored = window.session.history.message(window.session.thread[-1].id)
    assert stored.content == "Paris is the capital" and stored.state == "error"
    assert errors and "CUDA out of memory" in errors[-1][1]
