"""The window serving its loaded model: a chat in the window and an API request at the same
time both complete, on the one engine thread; API exchanges kept when the setting says so."""

from __future__ import annotations

import threading
from pathlib import Path

import openai
import pytest
from real_model import CAPITAL_QUESTION, CONTEXT, greedy

from chatdesk.app import build_window
from chatdesk.core.conversation import API_ORIGIN, API_TITLE_PREFIX
from chatdesk.core.energy import EnergyMeter
from chatdesk.core.engine import LlamaEngine
from chatdesk.core.paths import AppPaths
from chatdesk.core.settings import Settings
from chatdesk.worker import EngineHost

pytestmark = pytest.mark.integration

WAIT_MS = 180_000


def test_window_chat_and_api_request_at_the_same_time(qtbot, tmp_path: Path, model_path: Path):
    root = tmp_path / "data"
    paths = AppPaths(models_dir=model_path.parent, database=root / "chatdesk.sqlite3",
                     settings_file=root / "settings.json", logs_dir=root / "logs").ensure()
    settings = Settings(context_length=CONTEXT, api_port=0, api_keep_history=True,
                        sampling=greedy(max_tokens=24))
    window = build_window(EngineHost(LlamaEngine(), paths.models_dir, meter=EnergyMeter()),
                          paths, settings)
    qtbot.addWidget(window)
    try:
        window.load_model(str(model_path))
        qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
        control = window.api_control
        assert control is not None
        control.serve_action.setChecked(True)
        assert control.server is not None
        address = control.server.address
        assert address.startswith("http://127.0.0.1:")
        assert address in control.label.text() and not control.label.isHidden()

        api_answer: list[str] = []
        failures: list[BaseException] = []

        def api_client() -> None:
            try:
                client = openai.OpenAI(base_url=f"{address}/v1", api_key="-", max_retries=0,
                                       timeout=WAIT_MS / 1000)
                stream = client.chat.completions.create(
                    model=model_path.stem, temperature=0, max_tokens=32, stream=True,
                    messages=[{"role": "user", "content": "Name a large river in Europe."}])
                api_answer.append("".join(c.choices[0].delta.content or ""
                                          for c in stream if c.choices))
            except BaseException as exc:
                failures.append(exc)

        caller = threading.Thread(target=api_client)
        caller.start()
        assert window.session.send(CAPITAL_QUESTION)  # while the API request is in flight
        qtbot.waitUntil(lambda: not window.session.busy and not caller.is_alive(),
                        timeout=WAIT_MS)
        caller.join()
        assert not failures, failures
        assert api_answer and api_answer[0].strip()
        answer = window.session.thread[-1]
        assert answer.role == "assistant" and answer.state == "complete"
        assert "Paris" in answer.content

        history = window.session.history
        qtbot.waitUntil(lambda: any(c.settings.get("origin") == API_ORIGIN
                                    for c in history.list_conversations()), timeout=WAIT_MS)
        kept = next(c for c in history.list_conversations()
                    if c.settings.get("origin") == API_ORIGIN)
        assert kept.title.startswith(API_TITLE_PREFIX)
        messages = history.thread(kept.id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[-1].content == api_answer[0]
        assert messages[-1].energy and messages[-1].energy["joules"] > 0
    finally:
        window.close()
    assert window.api_control.server is None
    assert not window.session.host.is_running()
