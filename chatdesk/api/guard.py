"""What every request passes first: the bearer key, the size limit and the log line.

An ASGI middleware rather than FastAPI dependencies, so that it runs before the body is
parsed: a client without the key gets 401 even when its JSON is broken, and a huge body is
refused before it is read into memory. The log line names the method, path, status, time
and client, never the content.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatdesk.api.schema import error_body

log = logging.getLogger("chatdesk.api")

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024  # far more text than any context holds
OPEN_PATHS = ("/health",)  # answered without the key: says only whether a model is loaded


class Guard:
    def __init__(self, app: ASGIApp, *, api_key: str | None,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self._key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            body: bytes | None = None
            if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
                body = await self._read_body(receive)
                if body is None:
                    refusal = (413, error_body(
                        f"The request body is larger than {self.max_body_bytes} bytes.",
                        "invalid_request_error", "request_too_large"))
            if refusal is not None:
                await _send_json(logged_send, *refusal)
                return
            if body is not None:
                # Every body is read as JSON, whatever Content-Type says (curl -d sends
                # a form type), as llama.cpp's server does; so broken JSON gets a 400.
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
                receive = _replay(body, receive)
            await self.app(scope, receive, logged_send)
        finally:
            client = scope.get("client")
            log.info("%s %s %d %.0f ms %s", scope["method"], scope["path"], status[0],
                     (time.perf_counter() - started) * 1000,
                     f"{client[0]}:{client[1]}" if client else "-")

    def _refusal(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return 413, error_body(f"The request body is larger than {self.max_body_bytes} "
                                   "bytes.", "invalid_request_error", "request_too_large")
        if self._key is None or scope["path"] in OPEN_PATHS:
            return None
        given = headers.get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            return 401, error_body("A valid API key is needed (Authorization: Bearer KEY).",
                                   "invalid_request_error", "invalid_api_key")
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past the limit (chunked uploads too)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the real channel (which reports the client leaving)."""
    sent = [False]

    async def replayed() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
