"""The remote engine: a model on an OpenAI-compatible server (vLLM, llama-server, Ollama,
LM Studio, a hosted API) behind the same ChatEngine protocol as the local one.

chatdesk never serves a model itself here: the official ``openai`` client speaks
``/v1/models`` and streamed ``/v1/chat/completions`` (SSE parsing, error types, retries of
the model listing). What this module adds:

* **Stop within milliseconds, even on a stalled stream.** The stream is read by a helper
  thread into a queue; ``chat`` polls the queue and the StopFlag every 10 ms, so Stop
  returns at once and the helper shuts the socket down, which is how llama-server and
  vLLM learn that the client went away and abort the request.
* **Figures that say where they came from.** Time to first token and tokens/s are
  measured here (``sources``); the server's ``usage`` (asked for with
  ``stream_options.include_usage``) and llama-server's ``timings`` are kept beside them
  as the server's own figures.
* **Sampling the server accepts.** Standard fields go as such, top_k/min_p/
  repeat_penalty as extra body fields; a field the server rejects (a 400 naming it) is
  dropped, said once in the answer's notes, and not sent again to that server.
* **Failures a user will meet become one clear message** (server down, bad key, unknown
  model, 429 with Retry-After, a 500, malformed data, a stall, a context-length error,
  TLS) and the text streamed before the failure stays with the caller.

Energy: the laptop's power meter says nothing about a server's work, so this engine
declares ``measures_local_energy = False`` and the worker does not meter its answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdesk.core.engine import (
    EngineError,
    LoadOptions,
    ModelLoadError,
    NoModelLoadedError,
    ProgressFn,
    PromptTooLongError,
    TextFn,
)
from chatdesk.core.events import (
    ChatMessage,
    GenerationResult,
    ModelInfo,
    PromptCount,
    StopReason,
)
from chatdesk.core.model_ref import RemoteModel, parse_remote
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag

log = logging.getLogger(__name__)

POLL_S = 0.01  # how often chat() looks at the stop flag while the stream is quiet
CONNECT_TIMEOUT_S = 10.0
FIRST_TOKEN_TIMEOUT_S = 120.0  # a 70B model's prompt evaluation can take a while
STALL_TIMEOUT_S = 60.0  # silence in the middle of an answer
NO_KEY = "sk-no-key"  # servers without auth ignore it; never the user's OPENAI_API_KEY
# Sent only when the server accepts them; the first three are not in OpenAI's own API.
EXTRA_FIELDS = ("top_k", "min_p", "repeat_penalty")
OPTIONAL_FIELDS = (*EXTRA_FIELDS, "seed", "presence_penalty", "frequency_penalty",
                   "stream_options", "top_p", "stop")
CONTEXT_WORDS = ("context length", "context window", "maximum context", "n_ctx",
                 "too many tokens", "prompt is too long", "exceeds the", "context_length")


class RemoteError(EngineError):
    title = "The server failed"


class ServerUnreachableError(RemoteError):
    title = "The server cannot be reached"


class ServerAuthError(RemoteError):
    title = "The server refused the API key"


class ServerModelMissingError(RemoteError):
    title = "The server does not have this model"


class ServerBusyError(RemoteError):
    title = "The server is busy"


class ServerTimeoutError(RemoteError):
    title = "The server did not answer in time"


class ServerProtocolError(RemoteError):
    title = "The server sent something unreadable"


class ServerTLSError(RemoteError):
    title = "The secure connection failed"


@dataclass(frozen=True)
class ServerModel:
    id: str
    context_length: int | None = None  # when the server says (vLLM: max_model_len)
    owned_by: str | None = None


def _client(base_url: str, api_key: str | None, *, max_retries: int,
            read_timeout_s: float) -> Any:
    import openai

    return openai.OpenAI(
        base_url=base_url, api_key=api_key or NO_KEY, max_retries=max_retries,
        timeout=openai.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S))


def _context_of(model: Any) -> int | None:
    extra = getattr(model, "model_extra", None) or {}
    for key in ("max_model_len", "context_length", "context_window", "n_ctx"):
        value = extra.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    meta = extra.get("meta")
    if isinstance(meta, dict):
        value = meta.get("n_ctx_train") or meta.get("n_ctx")
        if isinstance(value, int) and value > 0:
            return value
    return None


def list_server_models(base_url: str, api_key: str | None = None,
                       timeout_s: float = 15.0) -> list[ServerModel]:
    """GET /v1/models: what "Test connection", a remote load and the CLI ask first."""
    client = _client(base_url, api_key, max_retries=2, read_timeout_s=timeout_s)
    try:
        page = client.models.list()
        return [ServerModel(m.id, _context_of(m), getattr(m, "owned_by", None))
                for m in page.data]
    except Exception as exc:
        raise explain(exc, base_url) from exc
    finally:
        client.close()


def choose_server_model(base_url: str, api_key: str | None,
                        wanted: str | None) -> tuple[RemoteModel, list[ServerModel]]:
    """The server model to use: ``wanted`` when the server has it, else its only (or first)
    model; raises ServerModelMissingError naming what it has."""
    models = list_server_models(base_url, api_key)
    ids = [m.id for m in models]
    if not ids:
        raise ServerModelMissingError(f"The server at {base_url} lists no models.")
    if wanted is not None and wanted not in ids:
        raise ServerModelMissingError(f"The server at {base_url} has no model '{wanted}' "
                                      f"(it offers: {', '.join(ids[:8])}).")
    return RemoteModel(base_url, wanted or ids[0]), models


# -- failures in a user's words ------------------------------------------------------------
def _server_message(exc: Any) -> str:
    """The server's own error text, from an openai APIStatusError or APIError."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("detail"), str):
            return body["detail"]
        if isinstance(body.get("message"), str):
            return body["message"]
    message = getattr(exc, "message", None) or str(exc)
    return str(message)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(exc: Any) -> str:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    if value and str(value).strip().isdigit():
        return f" It asks to wait {int(value)} s before trying again."
    if value:
        return f" It asks to wait until {value} before trying again."
    return " Try again in a moment."


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def is_context_error(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in CONTEXT_WORDS)


def explain(exc: BaseException, base_url: str, model: str | None = None) -> EngineError:
    """Any failure of a request as an EngineError whose title and message a user can act
    on; the server's own words are quoted where it sent some."""
    import openai

    if isinstance(exc, EngineError):
        return exc
    where = f"the server at {base_url}"
    if isinstance(exc, openai.APIStatusError):
        status, said = exc.status_code, _short(_server_message(exc))
        if status in (401, 403):
            return ServerAuthError(
                f"{where.capitalize()} refused the request ({status}: {said}). Check the "
                "API key in Models › Servers.")
        if status == 404:
            what = f"the model '{model}'" if model else "this address"
            return ServerModelMissingError(
                f"{where.capitalize()} does not know {what} (404: {said}). Test the "
                "connection in Models › Servers to list the models it has.")
        if status == 429:
            return ServerBusyError(f"{where.capitalize()} is rate-limiting requests (429: "
                                   f"{said}).{_retry_after(exc)}")
        if status in (400, 413, 422) and is_context_error(said):
            return PromptTooLongError(f"The conversation does not fit the model's context on "
                                      f"the server ({said}). Start a new chat or shorten the "
                                      "message.")
        if status >= 500:
            return RemoteError(f"{where.capitalize()} failed ({status}: {said}).")
        return RemoteError(f"{where.capitalize()} refused the request ({status}: {said}).")
    if isinstance(exc, openai.APITimeoutError):
        return ServerTimeoutError(f"{where.capitalize()} did not respond in time.")
    if isinstance(exc, openai.APIConnectionError):
        root = _root_cause(exc)
        if isinstance(root, ssl.SSLError) or "ssl" in type(root).__name__.lower() or (
                "certificate" in str(root).lower()):
            reason = getattr(root, "verify_message", None) or getattr(root, "reason", None) \
                or str(root)
            return ServerTLSError(f"The TLS (https) connection to {base_url} failed: "
                                  f"{_short(str(reason))}. Check the address (http or "
                                  "https) and the server's certificate.")
        if isinstance(root, (ConnectionRefusedError, socket.gaierror)) or not str(root):
            detail = "connection refused" if isinstance(root, ConnectionRefusedError) else (
                "unknown host" if isinstance(root, socket.gaierror) else "no connection")
        else:
            detail = _short(str(root), 160)
        return ServerUnreachableError(f"Cannot reach {where} ({detail}). Is the server "
                                      "running, and is the address right?")
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        said = _short(_server_message(exc))
        if is_context_error(said):
            return PromptTooLongError(f"The conversation does not fit the model's context on "
                                      f"the server ({said}).")
        return RemoteError(f"{where.capitalize()} reported an error in the middle of the "
                           f"answer: {said}")
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return ServerProtocolError(f"{where.capitalize()} sent data that is not valid JSON "
                                   f"({_short(str(exc), 120)}). Is this an OpenAI-compatible "
                                   "endpoint?")
    if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)):
        return ServerProtocolError(f"{where.capitalize()} sent a reply chatdesk cannot read "
                                   f"({type(exc).__name__}: {_short(str(exc), 120)}).")
    if isinstance(exc, OSError):
        return ServerUnreachableError(f"The connection to {where} failed ({exc}).")
    return RemoteError(f"The request to {where} failed ({type(exc).__name__}: "
                       f"{_short(str(exc), 160)}).")


def rejected_field(message: str, sent: Sequence[str]) -> str | None:
    """The optional field a 400's message blames, if it names one we sent."""
    lowered = message.lower()
    for name in sent:
        if re.search(rf"(?<![a-z_]){re.escape(name)}(?![a-z_])", lowered):
            return name
    return None


# -- the stream reader ---------------------------------------------------------------------
class _StreamReader:
    """Reads one streamed completion on a helper thread into a queue, so ``chat`` never
    blocks on the network and can stop at once; ``abort`` shuts the socket down."""

    def __init__(self, client: Any, body: dict[str, Any]) -> None:
        self.events: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        self._client = client
        self._body = body
        self._stream: Any = None
        self._lock = threading.Lock()
        self._closing = False
        self.thread = threading.Thread(target=self._run, name="chatdesk-remote-stream",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            stream = self._client.chat.completions.create(**self._body)
            with self._lock:
                self._stream = stream
                closing = self._closing
            if closing:
                self._shutdown(stream)
                return
            for chunk in stream:
                self.events.put(("chunk", chunk, time.perf_counter()))
                if self._closing:
                    return
            self.events.put(("end", None, time.perf_counter()))
        except BaseException as exc:
            if not self._closing:
                self.events.put(("error", exc, time.perf_counter()))
        finally:
            with self._lock:
                stream, self._stream = self._stream, None
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    @staticmethod
    def _shutdown(stream: Any) -> None:
        """Wake a read blocked on the socket (close alone does not) and tell the server."""
        with contextlib.suppress(Exception):
            network = stream.response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            stream.close()

    def abort(self) -> None:
        with self._lock:
            self._closing = True
            stream = self._stream
        if stream is not None:
            self._shutdown(stream)


def _content(chunk: Any) -> tuple[str, str | None]:
    """(text, finish_reason) of a streamed chunk; chunks without choices (the usage one)
    give ('', None)."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return "", None
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    text = getattr(delta, "content", None) if delta is not None else None
    if text is not None and not isinstance(text, str):
        raise TypeError(f"delta.content is {type(text).__name__}, not text")
    return text or "", getattr(choice, "finish_reason", None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


FINISH_REASONS = {"stop": StopReason.EOS, "eos": StopReason.EOS, "length": StopReason.LENGTH,
                  "content_filter": StopReason.EOS, "tool_calls": StopReason.EOS}


class RemoteEngine:
    """A model on an OpenAI-compatible server behind the ChatEngine protocol."""

    measures_local_energy = False  # the server's watts are not this machine's

    def __init__(self, first_token_timeout_s: float = FIRST_TOKEN_TIMEOUT_S,
                 stall_timeout_s: float = STALL_TIMEOUT_S) -> None:
        self.first_token_timeout_s = first_token_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._client: Any = None
        self._remote: RemoteModel | None = None
        self._info: ModelInfo | None = None
        self._rejected: set[str] = set()  # fields this server refused; not sent again

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def remote(self) -> RemoteModel | None:
        return self._remote

    def load(self, path: Path | str, options: LoadOptions | None = None,
             on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> ModelInfo:
        """Check that the server answers and has the model; nothing is downloaded."""
        remote = parse_remote(str(path))
        if remote is None:
            raise ModelLoadError(f"{path} does not name a model on a server.")
        options = options or LoadOptions()
        report = on_progress or (lambda _stage, _fraction: None)
        report(f"Connecting to {remote.host}", None)
        models = list_server_models(remote.base_url, options.api_key)
        if cancel is not None and cancel.is_set():
            raise ModelLoadError("Loading was cancelled.")
        found = next((m for m in models if m.id == remote.model), None)
        if found is None:
            offered = ", ".join(m.id for m in models[:8]) or "none"
            raise ServerModelMissingError(
                f"The server at {remote.base_url} has no model '{remote.model}' (it offers: "
                f"{offered}).")
        self.close()
        self._client = _client(remote.base_url, options.api_key, max_retries=0,
                               read_timeout_s=max(self.first_token_timeout_s,
                                                  self.stall_timeout_s) + 30)
        self._remote = remote
        self._rejected = set()
        context = found.context_length or 0
        self._info = ModelInfo(
            path=remote.ref, name=remote.model, architecture="remote", parameters=0,
            quantization="", trained_context=context, context_length=context,
            backend=f"remote: {remote.host}", gpu_layers_offloaded=0, total_layers=0,
            threads=0, chat_template_name="server",
            chat_template_source="the server applies its own chat template", file_size=0)
        report("Ready", 1.0)
        log.info("remote model ready: %s on %s", remote.model, remote.base_url)
        return self._info

    # -- the prompt cache and the context meter: a server keeps its own KV cache ----------
    def use_conversation(self, key: str | None, messages: Sequence[ChatMessage]) -> int:
        """Nothing to restore here: the server reuses its own cache (0 tokens restored)."""
        return 0

    def save_state(self, key: str | None = None) -> bool:
        return False  # no local KV state to keep

    def count_prompt(self, messages: Sequence[ChatMessage], max_tokens: int) -> PromptCount:
        """The server's tokenizer is not here: the context meter shows nothing rather than
        a guess."""
        raise EngineError("a server's model counts its prompt on the server")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None
        self._remote = None
        self._info = None

    # -- chatting -----------------------------------------------------------------------
    def request_body(self, messages: Sequence[ChatMessage],
                     params: SamplingParams) -> dict[str, Any]:
        """What is sent: the standard fields plus llama-server/vLLM's extras, minus any
        field this server has refused."""
        assert self._remote is not None
        body: dict[str, Any] = {
            "model": self._remote.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "presence_penalty": params.presence_penalty,
            "frequency_penalty": params.frequency_penalty,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        extra = {"top_k": params.top_k, "min_p": params.min_p,
                 "repeat_penalty": params.repeat_penalty}
        for name in self._rejected:
            body.pop(name, None)
            extra.pop(name, None)
        if extra:
            body["extra_body"] = extra
        return body

    def chat(self, messages: Sequence[ChatMessage], params: SamplingParams,
             stop: StopFlag, on_text: TextFn | None = None,
             request_id: int = 0, **_options: Any) -> GenerationResult:
        """Stream one answer from the server; ``on_text`` gets each piece as it arrives."""
        params = params.validated()
        if self._client is None or self._remote is None or self._info is None:
            raise NoModelLoadedError("Connect to a server model first.")
        remote = self._remote
        notes: list[str] = []
        # Without the server's usage, the prompt's size is estimated (for the cost view),
        # and says so: about four characters a token, plus a few per message for roles.
        estimate = sum(len(m.content) for m in messages) // 4 + 4 * len(messages)
        started = time.perf_counter()
        while True:  # one retry per field the server refuses
            body = self.request_body(messages, params)
            sent = [*body, *body.get("extra_body", {})]
            reader = _StreamReader(self._client, body)
            try:
                return self._read(reader, remote, stop, on_text, request_id, started,
                                  notes, estimate)
            except _RejectedField as rejected:
                self._rejected.add(rejected.name)
                note = (f"The server at {remote.host} does not accept '{rejected.name}'; "
                        "chatdesk no longer sends it there.")
                log.warning("%s (%s)", note, rejected.message)
                notes.append(note)
                if rejected.name not in sent:  # pragma: no cover - rejected_field guards it
                    raise
            except BaseException:
                reader.abort()
                raise

    def _read(self, reader: _StreamReader, remote: RemoteModel, stop: StopFlag,
              on_text: TextFn | None, request_id: int, started: float, notes: list[str],
              prompt_estimate: int) -> GenerationResult:
        import openai

        pieces: list[str] = []
        chunks = 0
        first_at: float | None = None
        last_at: float | None = None
        heard_at = started
        reason = StopReason.LENGTH
        usage: dict[str, float] = {}
        timings: dict[str, Any] = {}
        while True:
            if stop.is_set():
                reason = StopReason.USER_STOP
                reader.abort()
                break
            try:
                kind, payload, at = reader.events.get(timeout=POLL_S)
            except queue.Empty:
                now = time.perf_counter()
                if first_at is None and now - started > self.first_token_timeout_s:
                    reader.abort()
                    raise ServerTimeoutError(
                        f"The server at {remote.base_url} sent no answer within "
                        f"{self.first_token_timeout_s:g} s. It may be overloaded, or still "
                        "loading the model.") from None
                if first_at is not None and now - heard_at > self.stall_timeout_s:
                    reader.abort()
                    raise ServerTimeoutError(
                        f"The server at {remote.base_url} stopped sending for "
                        f"{self.stall_timeout_s:g} s in the middle of the answer; what it "
                        "wrote so far is kept.") from None
                continue
            heard_at = at
            if kind == "end":
                break
            if kind == "error":
                exc = payload
                if (isinstance(exc, openai.BadRequestError) and not pieces
                        and not is_context_error(_server_message(exc))):
                    name = rejected_field(_server_message(exc), OPTIONAL_FIELDS)
                    if name is not None and name not in self._rejected:
                        raise _RejectedField(name, _short(_server_message(exc)))
                error = explain(exc, remote.base_url, remote.model)
                if pieces:
                    error = type(error)(f"{error} The answer so far is kept.")
                raise error from exc
            try:
                text, finish = _content(payload)
                self._read_usage(payload, usage, timings)
            except (TypeError, ValueError, AttributeError) as exc:
                reader.abort()
                raise explain(exc, remote.base_url) from exc
            if text:
                chunks += 1
                last_at = at
                if first_at is None:
                    first_at = at
                    text = text.lstrip()  # as the local engine: no leading blank
                if text:
                    pieces.append(text)
                    if on_text is not None:
                        on_text(text, chunks, int(usage.get("prompt_tokens", prompt_estimate))
                                + chunks)
            if finish is not None:
                reason = FINISH_REASONS.get(str(finish), StopReason.EOS)
        finished = time.perf_counter()
        return self._result(request_id, "".join(pieces), reason, chunks, usage, timings,
                            started, first_at, last_at, finished, remote, notes,
                            prompt_estimate)

    @staticmethod
    def _read_usage(chunk: Any, usage: dict[str, float], timings: dict[str, Any]) -> None:
        found = getattr(chunk, "usage", None)
        if found is not None:
            for key in ("prompt_tokens", "completion_tokens"):
                value = _number(getattr(found, key, None))
                if value is not None:
                    usage[key] = value
        extra = getattr(chunk, "model_extra", None) or {}
        if isinstance(extra.get("timings"), dict):  # llama-server
            timings.update(extra["timings"])

    def _result(self, request_id: int, text: str, reason: StopReason, chunks: int,
                usage: dict[str, float], timings: dict[str, Any], started: float,
                first_at: float | None, last_at: float | None, finished: float,
                remote: RemoteModel, notes: list[str],
                prompt_estimate: int) -> GenerationResult:
        assert self._info is not None
        generated = int(usage.get("completion_tokens", chunks))
        prompt = int(usage.get("prompt_tokens", prompt_estimate))
        server: dict[str, float] = {}
        sources = {"timing": "measured here (client clock, includes the network)",
                   "tokens": "server usage" if "completion_tokens" in usage
                   else "counted stream chunks (one per token on most servers)",
                   "prompt_tokens": "server usage" if "prompt_tokens" in usage
                   else "estimated (about 4 characters a token)"}
        if usage:
            server.update({f"usage_{k}": v for k, v in usage.items()})
        for key, name in (("predicted_per_second", "tokens_per_s"),
                          ("prompt_per_second", "prompt_tokens_per_s"),
                          ("predicted_n", "generated_tokens"), ("prompt_n", "prompt_tokens"),
                          ("prompt_ms", "prompt_ms"), ("predicted_ms", "predicted_ms")):
            value = _number(timings.get(key))
            if value is not None:
                server[name] = value
        if timings:
            sources["server"] = "llama-server timings"
        elif usage:
            sources["server"] = "server usage (token counts only)"
        return GenerationResult(
            request_id=request_id, text=text, stop_reason=reason,
            prompt_tokens=prompt, prompt_eval_tokens=int(server.get("prompt_tokens", prompt)),
            prompt_eval_s=(first_at or finished) - started,
            generated_tokens=generated,
            generation_s=(last_at - first_at) if first_at and last_at else 0.0,
            ttft_s=(first_at or finished) - started, total_s=finished - started,
            dropped_turns=0, context_used=prompt + generated,
            context_length=self._info.context_length,
            engine="remote", server=remote.base_url, sources=sources, server_figures=server,
            notes=tuple(notes))


class _RejectedField(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(name)
        self.name = name
        self.message = message
