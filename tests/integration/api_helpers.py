"""Shared by the API tests: a real server on a free loopback port, raw HTTP for the
requests an OpenAI client would never send, and waiting for the engine to be idle.

Imported by name (the test folders have no __init__.py)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import OpenAI

from chatdesk.api.server import ApiServer, ServeOptions
from chatdesk.core.energy import EnergyMeter
from chatdesk.core.engine import LlamaEngine, LoadOptions
from chatdesk.worker import EngineHost

WAIT_S = 120.0  # generous: a loaded machine must not fail on time


@dataclass
class Served:
    host: EngineHost
    server: ApiServer
    address: str

    def client(self, key: str = "unused") -> OpenAI:
        return OpenAI(base_url=f"{self.address}/v1", api_key=key, max_retries=0,
                      timeout=WAIT_S)

    def model_id(self) -> str:
        info = self.host.engine.info
        assert info is not None
        return Path(info.path).stem

    def wait_idle(self) -> None:
        """Until no API request is queued or running on the engine thread."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            activity = self.server.queue.activity()
            if not activity.running and not activity.queued:
                return
            time.sleep(0.01)
        raise TimeoutError(f"the engine is still busy: {self.server.queue.activity()}")


def start_server(model_path: Path, context: int, **options: Any) -> Served:
    """The model loaded on an engine thread (as the app does it) and served on port 0."""
    host = EngineHost(LlamaEngine(), model_path.parent, meter=EnergyMeter())
    loaded = threading.Event()
    failures: list[BaseException] = []

    def load() -> None:
        try:
            host.engine.load(model_path, LoadOptions(context_length=context))
        except BaseException as exc:
            failures.append(exc)
        finally:
            loaded.set()

    host.call(load)
    if not loaded.wait(WAIT_S) or failures:
        host.shutdown()
        raise RuntimeError(f"the model did not load: {failures}")
    server = ApiServer(host, ServeOptions(port=0, **options))
    return Served(host, server, server.start())


def stop_server(served: Served) -> None:
    assert served.server.stop()
    assert served.host.shutdown()


def post_raw(address: str, path: str, body: bytes,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST bytes as they are; returns (status, JSON body)."""
    request = urllib.request.Request(f"{address}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_json(address: str, path: str, body: Any,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    return post_raw(address, path, json.dumps(body).encode(), headers)


def assert_openai_error(status: int, body: dict[str, Any], expected_status: int | set[int],
                        code: str | None = None) -> None:
    allowed = {expected_status} if isinstance(expected_status, int) else expected_status
    assert status in allowed, (status, body)
    error = body["error"]
    assert set(error) >= {"message", "type", "code"}, body
    assert isinstance(error["message"], str) and error["message"], body
    if code is not None:
        assert error["code"] == code, body
