"""chatdesk's OpenAI-compatible API, through the official `openai` client, against the real
server on a loopback port and the real bundled model on the engine thread."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from api_helpers import (
    Served,
    assert_openai_error,
    post_json,
    post_raw,
    start_server,
    stop_server,
)
from real_model import CAPITAL_QUESTION, CONTEXT, COUNTING_PROMPT

pytestmark = pytest.mark.integration

ENERGY_SOURCES = {"rapl", "nvml", "powermetrics", "estimate"}


@pytest.fixture(scope="module")
def served(qapp, model_path: Path) -> Iterator[Served]:
    running = start_server(model_path, CONTEXT)
    yield running
    stop_server(running)


def ask(served: Served, **request) -> openai.types.chat.ChatCompletion:
    return served.client().chat.completions.create(
        model=served.model_id(), messages=[{"role": "user", "content": CAPITAL_QUESTION}],
        **{"temperature": 0, "max_tokens": 24, **request})


def test_models_lists_the_loaded_model(served: Served):
    models = served.client().models.list().data
    assert [m.id for m in models] == [served.model_id()]
    assert served.client().models.retrieve(served.model_id()).id == served.model_id()


def test_a_whole_answer_with_usage_and_energy(served: Served):
    reply = ask(served)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert "Paris" in choice.message.content
    assert choice.finish_reason == "stop"
    usage = reply.usage.model_dump()
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["energy_joules"] > 0
    assert set(usage["energy_source"].split("+")) <= ENERGY_SOURCES
    assert 0 < usage["time_to_first_token_s"] < WAIT_TTFT_S


WAIT_TTFT_S = 120.0  # only a sanity bound: the figure is in seconds, not milliseconds


def test_a_streamed_answer_is_the_same_text_and_ends_with_usage(served: Served):
    whole = ask(served).choices[0].message.content
    stream = served.client().chat.completions.create(
        model=served.model_id(), messages=[{"role": "user", "content": CAPITAL_QUESTION}],
        temperature=0, max_tokens=24, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and not any(finishes[:-1])
    assert chunks[-1].choices == []
    usage = chunks[-1].usage.model_dump()
    assert usage["energy_joules"] > 0 and usage["completion_tokens"] > 0
    assert set(usage["energy_source"].split("+")) <= ENERGY_SOURCES


def test_completions_continue_raw_text_and_stop_at_a_stop_string(served: Served):
    client = served.client()
    free = client.completions.create(model=served.model_id(), prompt=COUNTING_PROMPT,
                                     temperature=0, max_tokens=24)
    assert free.choices[0].finish_reason == "length"
    assert " 9," in free.choices[0].text
    stopped = client.completions.create(model=served.model_id(), prompt=COUNTING_PROMPT,
                                        temperature=0, max_tokens=24, stop=[" 9,"])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == free.choices[0].text.split(" 9,")[0]
    streamed = client.completions.create(model=served.model_id(), prompt=COUNTING_PROMPT,
                                         temperature=0, max_tokens=24, stop=[" 9,"],
                                         stream=True)
    assert "".join(c.choices[0].text for c in streamed) == stopped.choices[0].text


def test_a_chat_stop_string_cuts_the_answer(served: Served):
    whole = ask(served).choices[0].message.content
    assert "Paris" in whole
    cut = ask(served, stop=["Paris"]).choices[0]
    assert cut.finish_reason == "stop"
    assert "Paris" not in cut.message.content
    assert whole.startswith(cut.message.content.rstrip())


def test_the_same_seed_gives_the_same_text(served: Served):
    def sample(seed: int) -> str:
        return served.client().completions.create(
            model=served.model_id(), prompt="Once upon a time", temperature=1.0,
            top_p=1.0, max_tokens=32, seed=seed,
            extra_body={"top_k": 0, "min_p": 0.0}).choices[0].text

    first, again = sample(1234), sample(1234)
    assert first == again
    print(f"\nseed 1234: {first!r}; seed 99: {sample(99)!r}")  # others usually differ


def test_sampling_extras_and_penalties_are_accepted(served: Served):
    reply = ask(served, presence_penalty=0.5, frequency_penalty=0.5,
                extra_body={"top_k": 20, "min_p": 0.1, "repeat_penalty": 1.2})
    assert reply.choices[0].message.content


def test_max_tokens_beyond_the_context_is_capped_not_refused(served: Served):
    reply = ask(served, max_tokens=10 * CONTEXT)
    assert reply.choices[0].finish_reason == "stop"
    assert "Paris" in reply.choices[0].message.content


def test_four_concurrent_clients_are_all_answered_one_after_another(served: Served):
    questions = ["What is the capital of France?", "Name a large river in Europe.",
                 "What is two plus three?", "What do bees make?"]
    answers: dict[int, str] = {}
    failures: list[BaseException] = []
    before = len(served.server.queue.served)

    def client(i: int) -> None:
        try:
            reply = served.client().chat.completions.create(
                model=served.model_id(), messages=[{"role": "user", "content": questions[i]}],
                temperature=0, max_tokens=16, stream=i % 2 == 1)
            answers[i] = (reply.choices[0].message.content if i % 2 == 0
                          else "".join(c.choices[0].delta.content or "" for c in reply))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures, failures
    assert sorted(answers) == [0, 1, 2, 3]
    assert all(answers.values()), answers
    runs = sorted(list(served.server.queue.served)[before:], key=lambda s: s.engine_ended)
    assert len(runs) == 4 and all(r.outcome == "done" for r in runs), runs
    for earlier, later in itertools.pairwise(runs):  # one engine thread: no overlap
        assert later.engine_started >= earlier.engine_ended


def test_a_client_that_disconnects_stops_its_answer(served: Served):
    before = len(served.server.queue.served)
    stream = served.client().completions.create(
        model=served.model_id(), prompt=COUNTING_PROMPT, temperature=0, max_tokens=1500,
        stream=True)
    received = 0
    for chunk in stream:
        received += len(chunk.choices[0].text) > 0
        if received >= 5:
            break
    stream.close()  # the client goes away mid-answer
    served.wait_idle()
    run = list(served.server.queue.served)[before]
    assert run.outcome == "done" and run.stop_reason == "user_stop", run
    assert run.completion_tokens < 1500
    assert run.stop_latency_ms is not None
    # Measured, not asserted (a shared machine is noisy); `chatdesk bench` reports it too.
    print(f"\nclient gone -> engine free: {run.stop_latency_ms:.1f} ms after "
          f"{run.completion_tokens} tokens")


def test_the_window_stop_flag_does_not_stop_an_api_answer(served: Served):
    served.host.stop()  # the window's Stop: the worker's shared flag
    try:
        reply = served.client().completions.create(
            model=served.model_id(), prompt=COUNTING_PROMPT, temperature=0, max_tokens=12)
    finally:
        served.host.worker.stop_event.clear()
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize(("body", "status", "code"), [
    (b'{"model": "x", "messages": [', 400, "invalid_json"),
    (b'{"model": 7, "messages": "hello"}', 422, "invalid_type"),
    (b'{"model": "M", "messages": [{"role": "user", "content": "hi"}], '
     b'"max_tokens": "ten"}', 422, "invalid_type"),
    (b'{"model": "M", "messages": [{"role": "wizard", "content": "hi"}]}', 422,
     "invalid_type"),
    (b'{"model": "M", "messages": [{"role": "user", "content": "hi"}], '
     b'"temperature": 9}', 400, "invalid_value"),
    (b'{"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}', 400,
     "model_not_found"),
    (b'{"model": "M", "messages": []}', 400, "invalid_value"),
])
def test_bad_requests_get_openai_error_bodies(served: Served, body: bytes, status: int,
                                              code: str):
    body = body.replace(b'"M"', json.dumps(served.model_id()).encode())
    got, answer = post_raw(served.address, "/v1/chat/completions", body)
    assert_openai_error(got, answer, status, code)


def test_a_prompt_longer_than_the_context_is_refused(served: Served):
    long_message = "lighthouse " * (CONTEXT * 2)
    for stream in (False, True):
        got, answer = post_json(served.address, "/v1/chat/completions", {
            "model": served.model_id(), "stream": stream,
            "messages": [{"role": "user", "content": long_message}]})
        assert_openai_error(got, answer, 400, "context_length_exceeded")
    got, answer = post_json(served.address, "/v1/completions", {
        "model": served.model_id(), "prompt": long_message})
    assert_openai_error(got, answer, 400, "context_length_exceeded")
    with pytest.raises(openai.BadRequestError) as caught:
        ask_long = served.client().chat.completions.create
        ask_long(model=served.model_id(), messages=[{"role": "user", "content": long_message}])
    assert caught.value.code == "context_length_exceeded"


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(served: Served):
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(served.address)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    try:  # announce 5 MiB and send none of it: the answer must not wait for the body
        connection.putrequest("POST", "/v1/completions")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(5 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert_openai_error(response.status, json.loads(response.read()), 413,
                            "request_too_large")
    finally:
        connection.close()


def test_unknown_paths_get_openai_error_bodies(served: Served):
    got, answer = post_json(served.address, "/v1/embeddings", {"input": "x"})
    assert_openai_error(got, answer, 404)


def test_health_answers_without_content(served: Served):
    import urllib.request

    with urllib.request.urlopen(f"{served.address}/health", timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok", "running": 0, "queued": 0}


def test_the_default_bind_is_loopback_only(served: Served):
    # the fixture's server was given only a port: the socket it listens on is loopback's
    assert served.server.address.startswith("http://127.0.0.1:")


def test_a_key_is_required_when_one_is_set(qapp, served: Served, model_path: Path):
    keyed = Served(served.host, _keyed_server(served), "")
    keyed.address = keyed.server.start()
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            keyed.client("wrong-key").models.list()
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"
        got, answer = post_raw(keyed.address, "/v1/chat/completions", b"{broken")
        assert_openai_error(got, answer, 401, "invalid_api_key")  # the key comes first
        assert keyed.client("s3cret").models.list().data[0].id == served.model_id()
    finally:
        assert keyed.server.stop()


def _keyed_server(served: Served):
    from chatdesk.api.server import ApiServer, ServeOptions

    return ApiServer(served.host, ServeOptions(port=0, api_key="s3cret"))
