"""A small OpenAI-compatible stand-in on 127.0.0.1, for the failures a real server will not
produce on demand (the real-server tests use llama-cpp-python's own server).

It speaks what the remote engine asks: ``GET /v1/models`` and a streamed ``POST
/v1/chat/completions`` (SSE, ``data: {...}`` lines, ``data: [DONE]``), with the usage
chunk when ``stream_options.include_usage`` is set and llama-server's ``timings`` when
asked to. ``Script`` says what the next answers do: a normal stream, an HTTP error with
its body and headers (401, 404, 429 + Retry-After, 500, a 400 naming a field or the
context length), an error event / malformed JSON / a dropped connection / a stall after
some pieces, or a wait before the first byte. It records each request (body and
Authorization header) and whether the client went away in the middle of a stream.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    pieces: tuple[str, ...] = ("Paris", " is", " the", " capital", " of", " France", ".")
    delay_s: float = 0.0  # between pieces
    first_byte_delay_s: float = 0.0  # before the response starts
    status: int = 200  # not 200: answer with this status and ``error_body`` at once
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after: int | None = None  # with ``then``: pieces sent before the trouble
    then: str = ""  # "error_event", "malformed", "drop", "stall"
    finish_reason: str = "stop"
    usage: bool = True  # send the usage chunk when asked for (include_usage)
    timings: dict[str, float] | None = None  # llama-server's, on the last chunk
    reject_field: str | None = None  # a 400 naming this field while the body carries it
    context_error: bool = False  # a 400 "maximum context length" error


@dataclass
class Recorded:
    path: str
    body: dict[str, Any] | None
    authorization: str | None


class StandIn:
    """``with StandIn() as server:`` — ``server.base_url`` is its /v1 URL."""

    def __init__(self, models: tuple[str, ...] = ("standin-model",),
                 api_key: str | None = None) -> None:
        self.models = models
        self.api_key = api_key
        self.script = Script()
        self.requests: list[Recorded] = []
        self.disconnected = threading.Event()  # a client closed a stream mid-way
        self.release = threading.Event()  # ends a "stall"
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="openai-standin", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")
                and r.body is not None]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def _json(self, status: int, payload: Any,
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if server.api_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._json(401, {"error": {"message": "Invalid API key",
                                           "type": "invalid_request_error"}})
                return False

            def do_GET(self) -> None:
                server.requests.append(Recorded(self.path, None,
                                                self.headers.get("Authorization")))
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "owned_by": "standin",
                         "max_model_len": 4096} for m in server.models]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                server.requests.append(Recorded(self.path, body,
                                                self.headers.get("Authorization")))
                if not self._authorized():
                    return
                script = server.script
                if script.first_byte_delay_s:
                    server.release.wait(script.first_byte_delay_s)
                if body is None or not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "unknown endpoint"}})
                    return
                if body.get("model") not in server.models:
                    self._json(404, {"error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "invalid_request_error", "code": "model_not_found"}})
                    return
                if script.reject_field and script.reject_field in body:
                    self._json(400, {"error": {
                        "message": f"Unrecognized request argument supplied: "
                                   f"{script.reject_field}",
                        "type": "invalid_request_error"}})
                    return
                if script.context_error:
                    self._json(400, {"error": {
                        "message": "This model's maximum context length is 4096 tokens. "
                                   "However, you requested 9000 tokens.",
                        "type": "invalid_request_error", "code": "context_length_exceeded"}})
                    return
                if script.status != 200:
                    self._json(script.status, script.error_body or {"error": {
                        "message": f"stand-in status {script.status}"}}, script.headers)
                    return
                self._stream(body, script)

            def _send(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _event(self, payload: Any) -> None:
                self._send(b"data: " + json.dumps(payload).encode() + b"\n\n")

            def _stream(self, body: dict[str, Any], script: Script) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = {"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                         "created": int(time.time()), "model": body["model"]}
                try:
                    self._event({**chunk, "choices": [{"index": 0, "delta": {
                        "role": "assistant"}, "finish_reason": None}]})
                    for n, piece in enumerate(script.pieces):
                        if script.after is not None and n == script.after:
                            self._trouble(script.then)
                            return
                        if script.delay_s:
                            time.sleep(script.delay_s)
                        self._event({**chunk, "choices": [{"index": 0, "delta": {
                            "content": piece}, "finish_reason": None}]})
                    last: dict[str, Any] = {**chunk, "choices": [{
                        "index": 0, "delta": {}, "finish_reason": script.finish_reason}]}
                    if script.timings:
                        last["timings"] = script.timings
                    self._event(last)
                    if script.usage and (body.get("stream_options") or {}).get(
                            "include_usage"):
                        prompt = sum(len(str(m.get("content", "")).split())
                                     for m in body.get("messages", []))
                        self._event({**chunk, "choices": [], "usage": {
                            "prompt_tokens": prompt, "completion_tokens": len(script.pieces),
                            "total_tokens": prompt + len(script.pieces)}})
                    self._send(b"data: [DONE]\n\n")
                    self._send(b"")
                except (BrokenPipeError, ConnectionResetError, OSError):
                    server.disconnected.set()

            def _trouble(self, kind: str) -> None:
                if kind == "error_event":
                    self._event({"error": {"message": "CUDA out of memory", "code": 500}})
                    self._send(b"data: [DONE]\n\n")
                    self._send(b"")
                elif kind == "malformed":
                    self._send(b"data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n")
                    self._send(b"")
                elif kind == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                elif kind == "stall":
                    while not server.release.wait(0.05):
                        try:  # a keep-alive comment finds out whether the client left
                            self._send(b": ping\n\n")
                        except OSError:
                            server.disconnected.set()
                            return

        return Handler
