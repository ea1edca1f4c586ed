"""The FastAPI app: /v1/models, /v1/chat/completions, /v1/completions and /health.

Every error, ours or the framework's (a broken JSON body, a wrong type, an unknown path),
leaves as OpenAI's ``{"error": {...}}`` body, so OpenAI clients raise their usual
exceptions with our message in them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from chatdesk.api.engine_queue import ClientGone, EngineQueue, Generation
from chatdesk.api.guard import DEFAULT_MAX_BODY_BYTES, Guard
from chatdesk.api.replies import Reply, finish_reason
from chatdesk.api.schema import ApiError, ChatCompletionRequest, CompletionRequest, error_body
from chatdesk.core.energy import EnergyReport
from chatdesk.core.engine import EngineError, NoModelLoadedError, PromptTooLongError
from chatdesk.core.events import ChatMessage, GenerationResult, ModelInfo
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

log = logging.getLogger("chatdesk.api")

# Called in the server's thread when an answer is complete: (messages sent, result, energy,
# sampling, model path). The history keeper listens here.
OnAnswer = Callable[[list[ChatMessage], GenerationResult, "EnergyReport | None",
                     SamplingParams, str], None]


def model_id(info: ModelInfo) -> str:
    """The name clients use: the model file's name without ``.gguf``."""
    return Path(info.path).stem


def create_app(queue: EngineQueue, *, api_key: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               defaults: Callable[[], SamplingParams] = SamplingParams,
               on_answer: OnAnswer | None = None) -> ASGIApp:
    """The ASGI app: FastAPI's routes behind the Guard (key, size limit, log line)."""
    app = FastAPI(title="chatdesk", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)

    def loaded_model(requested: str | None = None) -> ModelInfo:
        info = queue.model
        if info is None:
            raise ApiError(503, "No model is loaded yet; try again in a moment.",
                           code="model_not_loaded", kind="server_error")
        if requested is not None and requested not in (model_id(info), Path(info.path).name):
            raise ApiError(400, f"The model '{requested}' is not loaded; this server has "
                           f"'{model_id(info)}' (see GET /v1/models).",
                           code="model_not_found", param="model")
        return info

    @app.get("/health")
    async def health() -> dict[str, Any]:
        activity = queue.activity()
        return {"status": "ok" if queue.model is not None else "loading",
                "running": activity.running, "queued": activity.queued}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        info = queue.model
        return {"object": "list", "data": [_model_card(info)] if info else []}

    @app.get("/v1/models/{name}")
    async def model(name: str) -> dict[str, Any]:
        info = queue.model
        if info is None or name not in (model_id(info), Path(info.path).name):
            raise ApiError(404, f"The model '{name}' is not loaded.", code="model_not_found",
                           param="model")
        return _model_card(info)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        info = loaded_model(body.model)
        messages = body.chat_messages()
        params = body.sampling(defaults(), info.context_length)
        generation = queue.submit_chat(messages, params)
        return await _respond(generation, body.stream, _include_usage(body), request,
                              Reply(model_id(info), chat=True),
                              _recorder(on_answer, messages, params, info))

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Response:
        info = loaded_model(body.model)
        text = body.prompt_text()
        params = body.sampling(defaults(), info.context_length)
        generation = queue.submit_text(text, params)
        return await _respond(generation, body.stream, _include_usage(body), request,
                              Reply(model_id(info), chat=False),
                              _recorder(on_answer, [ChatMessage("user", text)], params, info))

    return Guard(app, api_key=api_key, max_body_bytes=max_body_bytes)


def _model_card(info: ModelInfo) -> dict[str, Any]:
    return {"id": model_id(info), "object": "model", "created": 0, "owned_by": "chatdesk",
            "context_length": info.context_length}


def _include_usage(body: ChatCompletionRequest | CompletionRequest) -> bool:
    return body.stream_options is not None and body.stream_options.include_usage


Done = Callable[[GenerationResult, "EnergyReport | None"], None]


def _recorder(on_answer: OnAnswer | None, messages: list[ChatMessage],
              params: SamplingParams, info: ModelInfo) -> Done:
    def done(result: GenerationResult, energy: EnergyReport | None) -> None:
        if on_answer is not None:
            try:
                on_answer(messages, result, energy, params, info.path)
            except Exception:  # keeping a copy must never fail the client's answer
                log.exception("keeping an API answer in the history failed")

    return done


def _engine_error(exc: BaseException) -> ApiError:
    if isinstance(exc, PromptTooLongError):
        return ApiError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, InvalidParameterError):
        return ApiError(400, str(exc), code="invalid_value", param=exc.field)
    if isinstance(exc, NoModelLoadedError):
        return ApiError(503, str(exc), code="model_not_loaded", kind="server_error")
    if isinstance(exc, EngineError):
        return ApiError(500, f"{exc.title}: {exc}", code="engine_error", kind="server_error")
    log.error("unexpected engine failure", exc_info=exc)
    return ApiError(500, f"The model failed unexpectedly ({type(exc).__name__}); details "
                    "are in chatdesk's log.", code="internal_error", kind="server_error")


async def _respond(generation: Generation, stream: bool, include_usage: bool,
                   request: Request, reply: Reply, done: Done) -> Response:
    """Wait for the engine to accept the prompt (or refuse it with an error status), then
    stream the answer or return it whole."""
    try:
        kind, value = await generation.next_event(request.is_disconnected)
        if kind == "failed":
            raise _engine_error(value)
        if kind == "cancelled":
            return Response(status_code=499)
        if stream:
            return EventSourceResponse(_stream(generation, include_usage, reply, done),
                                       ping=15)
        while True:
            kind, value = await generation.next_event(request.is_disconnected)
            if kind == "failed":
                raise _engine_error(value)
            if kind == "done":
                result, energy = value
                done(result, energy)
                return JSONResponse(reply.whole(result, energy))
    except ClientGone:
        return Response(status_code=499)  # nobody reads it: the client has gone


async def _stream(generation: Generation, include_usage: bool, reply: Reply,
                  done: Done) -> AsyncIterator[dict[str, str]]:
    """The SSE events. sse-starlette cancels this generator the moment the client
    disconnects; ``finally`` then stops the answer on the engine thread."""
    try:
        if reply.chat:
            yield {"data": json.dumps(reply.chunk(first=True))}
        while True:
            kind, value = await generation.next_event()
            if kind == "text":
                text = value + generation.more_text()
                yield {"data": json.dumps(reply.chunk(text))}
            elif kind == "done":
                result, energy = value
                yield {"data": json.dumps(reply.chunk(finish=finish_reason(result)))}
                if include_usage:
                    yield {"data": json.dumps(reply.usage_chunk(result, energy))}
                yield {"data": "[DONE]"}
                done(result, energy)
                return
            elif kind == "failed":
                yield {"data": json.dumps(_engine_error(value).body())}
                return
            elif kind == "cancelled":
                return
    finally:
        generation.cancel()


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body("The request body is not valid JSON.",
                                           "invalid_request_error", "invalid_json"), 400)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        param = where or None
        message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(
            first.get("msg", "invalid request"))
        return JSONResponse(error_body(message, "invalid_request_error", "invalid_type",
                                       param), 422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(error_body(str(exc.detail), "invalid_request_error", code),
                            exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected API failure", exc_info=exc)
        return JSONResponse(error_body("Internal error; details are in chatdesk's log.",
                                       "server_error", "internal_error"), 500)
