"""The remote engine against the OpenAI-compatible stand-in on loopback: streaming, the
figures' sources, sampling fields a server refuses, Stop on a silent stream, and every
failure a user will meet as one clear message with the partial answer kept."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from openai_standin import Script, StandIn

from chatdesk.core.engine import (
    EngineError,
    LoadOptions,
    NoModelLoadedError,
    PromptTooLongError,
)
from chatdesk.core.events import ChatMessage, StopReason
from chatdesk.core.model_ref import RemoteModel
from chatdesk.core.remote_engine import (
    RemoteEngine,
    RemoteError,
    ServerAuthError,
    ServerBusyError,
    ServerModelMissingError,
    ServerProtocolError,
    ServerTimeoutError,
    ServerTLSError,
    ServerUnreachableError,
    list_server_models,
    rejected_field,
)
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.stop_flag import StopFlag

QUESTION = [ChatMessage("user", "What is the capital of France?")]


@pytest.fixture
def server():
    with StandIn() as standin:
        yield standin


@pytest.fixture
def engine(server):
    remote = RemoteEngine(first_token_timeout_s=5, stall_timeout_s=5)
    remote.load(RemoteModel(server.base_url, "standin-model").ref)
    yield remote
    remote.close()


def ask(engine, params=None, stop=None):
    pieces: list[str] = []
    result = engine.chat(QUESTION, params or SamplingParams(), stop or StopFlag(),
                         lambda text, _n, _c: pieces.append(text))
    return result, pieces


def failure(engine, server, **script):
    """Run one answer under ``script``; return (the error, the text streamed before it)."""
    server.script = Script(**script)
    pieces: list[str] = []
    with pytest.raises(EngineError) as caught:
        engine.chat(QUESTION, SamplingParams(), StopFlag(),
                    lambda text, _n, _c: pieces.append(text))
    return caught.value, "".join(pieces)


def test_load_describes_the_server_model(server):
    engine = RemoteEngine()
    info = engine.load(RemoteModel(server.base_url, "standin-model").ref)
    assert info.name == "standin-model"
    assert info.backend == f"remote: {server.base_url.split('/')[2]}"
    assert info.chat_template_name == "server"
    assert info.context_length == 4096  # the server's max_model_len
    assert engine.measures_local_energy is False
    engine.close()
    assert engine.info is None
    with pytest.raises(NoModelLoadedError):
        engine.chat(QUESTION, SamplingParams(), StopFlag())


def test_streams_and_says_where_each_figure_came_from(engine, server):
    server.script = Script(timings={"predicted_per_second": 55.5, "prompt_per_second": 900.0,
                                    "predicted_n": 7, "prompt_n": 8})
    result, pieces = ask(engine)
    assert "".join(pieces) == result.text == "Paris is the capital of France."
    assert result.stop_reason is StopReason.EOS
    assert result.engine == "remote" and result.server == server.base_url
    assert result.generated_tokens == 7 and result.sources["tokens"] == "server usage"
    assert result.prompt_tokens == 6 and result.sources["prompt_tokens"] == "server usage"
    assert result.sources["timing"].startswith("measured here")
    assert result.server_figures["tokens_per_s"] == 55.5
    assert result.server_figures["prompt_tokens_per_s"] == 900.0
    assert result.sources["server"] == "llama-server timings"
    assert 0 < result.ttft_s <= result.total_s


def test_without_usage_tokens_are_counted_and_the_prompt_estimated(engine, server):
    server.script = Script(usage=False, finish_reason="length")
    result, _ = ask(engine)
    assert result.stop_reason is StopReason.LENGTH
    assert result.generated_tokens == 7
    assert result.sources["tokens"].startswith("counted stream chunks")
    assert result.sources["prompt_tokens"].startswith("estimated")
    assert result.prompt_tokens > 0
    assert "server" not in result.sources and result.server_figures == {}


def test_sends_the_sampling_the_user_set(engine, server):
    params = SamplingParams(temperature=0.3, top_k=12, top_p=0.8, min_p=0.1,
                            repeat_penalty=1.2, presence_penalty=0.5, frequency_penalty=0.25,
                            seed=42, max_tokens=99, stop=("###",))
    ask(engine, params)
    body = server.chat_bodies()[-1]
    assert body["model"] == "standin-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    expected = {"temperature": 0.3, "top_p": 0.8, "max_tokens": 99, "seed": 42,
                "presence_penalty": 0.5, "frequency_penalty": 0.25, "stop": ["###"],
                "top_k": 12, "min_p": 0.1, "repeat_penalty": 1.2}
    assert {key: body[key] for key in expected} == expected
    assert body["messages"] == [{"role": "user", "content": QUESTION[0].content}]


def test_a_refused_field_is_said_once_and_never_sent_again(engine, server):
    server.script = Script(reject_field="top_k")
    result, _ = ask(engine)
    assert result.text == "Paris is the capital of France."
    assert len(result.notes) == 1 and "'top_k'" in result.notes[0]
    refused, retried = server.chat_bodies()[-2:]
    assert "top_k" in refused and "top_k" not in retried and "min_p" in retried
    again, _ = ask(engine)
    assert again.notes == ()
    assert "top_k" not in server.chat_bodies()[-1]


def test_rejected_field_names_only_whole_fields():
    sent = ("top_k", "min_p", "top_p")
    assert rejected_field("Unrecognized request argument supplied: top_p", sent) == "top_p"
    assert rejected_field("extra fields not permitted: min_p", sent) == "min_p"
    assert rejected_field("messages must not be empty", sent) is None


def test_stop_on_a_silent_stream_returns_at_once_and_the_server_sees_it(engine, server):
    """The server stalls after three pieces and never sends again: only the engine's own
    stop can end the answer, and it does, keeping the three pieces."""
    server.script = Script(after=3, then="stall")
    stop = StopFlag()
    pieces: list[str] = []
    set_at: list[float] = []

    def press_stop():
        set_at.append(time.perf_counter())
        stop.set()

    def on_text(text, n, _c):
        pieces.append(text)
        if n == 3:
            threading.Timer(0.05, press_stop).start()

    result = engine.chat(QUESTION, SamplingParams(), stop, on_text)
    returned_at = time.perf_counter()
    assert result.stop_reason is StopReason.USER_STOP
    assert result.text == "Paris is the" == "".join(pieces)
    assert server.disconnected.wait(5), "the server never learned that the client left"
    print(f"idle {1000 * (returned_at - set_at[0]):.1f} ms after the stop")  # measured, -s


def test_stop_before_the_first_byte(engine, server):
    server.script = Script(first_byte_delay_s=30)
    stop = StopFlag()
    threading.Timer(0.1, stop.set).start()
    result, pieces = ask(engine, stop=stop)
    assert result.stop_reason is StopReason.USER_STOP and pieces == [] and result.text == ""
    server.release.set()


def test_server_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachableError, match="connection refused"):
        RemoteEngine().load(RemoteModel(f"http://127.0.0.1:{port}/v1", "m").ref)


def test_wrong_key_and_right_key():
    with StandIn(api_key="sk-right") as server:
        ref = RemoteModel(server.base_url, "standin-model").ref
        with pytest.raises(ServerAuthError, match="401"):
            RemoteEngine().load(ref, LoadOptions(api_key="sk-wrong"))
        with pytest.raises(ServerAuthError):
            RemoteEngine().load(ref)  # no key at all
        engine = RemoteEngine()
        engine.load(ref, LoadOptions(api_key="sk-right"))
        result, _ = ask(engine)
        assert result.text
        assert server.requests[-1].authorization == "Bearer sk-right"
        engine.close()


def test_the_users_openai_key_never_goes_to_a_server(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-own-openai-key")
    list_server_models(server.base_url)
    assert "sk-users-own-openai-key" not in (server.requests[-1].authorization or "")


def test_unknown_model_at_load_and_at_chat(server, engine):
    with pytest.raises(ServerModelMissingError, match="standin-model"):
        RemoteEngine().load(RemoteModel(server.base_url, "no-such-model").ref)
    server.models = ("another-model",)  # the server dropped it since the load
    error, _ = failure(engine, server)
    assert isinstance(error, ServerModelMissingError) and "404" in str(error)


def test_rate_limited_with_retry_after(engine, server):
    error, _ = failure(engine, server, status=429, headers={"Retry-After": "30"},
                       error_body={"error": {"message": "Rate limit reached"}})
    assert isinstance(error, ServerBusyError)
    assert "wait 30 s" in str(error) and "Rate limit reached" in str(error)


def test_500_before_the_stream(engine, server):
    error, partial = failure(engine, server, status=500,
                             error_body={"error": {"message": "engine crashed"}})
    assert "500" in str(error) and "engine crashed" in str(error) and partial == ""


@pytest.mark.parametrize(("then", "kind", "words"), [
    ("error_event", RemoteError, "CUDA out of memory"),
    ("drop", ServerUnreachableError, "kept"),
    ("malformed", ServerProtocolError, "not valid JSON"),
])
def test_trouble_mid_stream_keeps_the_partial_answer(engine, server, then, kind, words):
    error, partial = failure(engine, server, after=4, then=then)
    assert isinstance(error, kind), error
    assert words in str(error)
    assert partial == "Paris is the capital"


def test_a_server_that_stops_sending_without_closing(server):
    engine = RemoteEngine(stall_timeout_s=0.5)
    engine.load(RemoteModel(server.base_url, "standin-model").ref)
    error, partial = failure(engine, server, after=2, then="stall")
    assert isinstance(error, ServerTimeoutError) and "stopped sending" in str(error)
    assert partial == "Paris is"
    assert server.disconnected.wait(5)
    engine.close()


def test_timeout_before_the_first_token(server):
    engine = RemoteEngine(first_token_timeout_s=0.5)
    engine.load(RemoteModel(server.base_url, "standin-model").ref)
    error, partial = failure(engine, server, first_byte_delay_s=30)
    assert isinstance(error, ServerTimeoutError) and "no answer within 0.5 s" in str(error)
    assert partial == ""
    server.release.set()
    engine.close()


def test_context_length_error(engine, server):
    error, _ = failure(engine, server, context_error=True)
    assert isinstance(error, PromptTooLongError)
    assert "maximum context length is 4096" in str(error)


def test_tls_error_is_named(server):
    https = server.base_url.replace("http://", "https://")
    with pytest.raises(ServerTLSError, match="TLS"):
        RemoteEngine().load(RemoteModel(https, "standin-model").ref)
