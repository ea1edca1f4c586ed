"""The API's request checks, without a server: what becomes a 400 and what is capped."""

from __future__ import annotations

import pytest

from chatdesk.api.address import is_loopback
from chatdesk.api.schema import ApiError, ChatCompletionRequest, CompletionRequest
from chatdesk.core.sampling import SamplingParams

HELLO = [{"role": "user", "content": "hi"}]


def test_max_tokens_is_capped_by_the_context():
    request = ChatCompletionRequest(model="m", messages=HELLO, max_tokens=1_000_000)
    assert request.sampling(SamplingParams(), 2048).max_tokens == 2048
    unset = ChatCompletionRequest(model="m", messages=HELLO)
    assert unset.sampling(SamplingParams(), 4096).max_tokens == 4096
    newer = ChatCompletionRequest(model="m", messages=HELLO, max_completion_tokens=7,
                                  max_tokens=99)
    assert newer.sampling(SamplingParams(), 4096).max_tokens == 7


def test_given_fields_override_the_defaults_and_extras_pass_through():
    request = CompletionRequest(model="m", prompt="x", temperature=0.2, seed=5, top_k=3,
                                min_p=0.2, repeat_penalty=1.3, stop="END",
                                presence_penalty=0.5, frequency_penalty=-0.5)
    params = request.sampling(SamplingParams(top_p=0.5), 4096)
    assert (params.temperature, params.seed, params.top_k, params.min_p) == (0.2, 5, 3, 0.2)
    assert (params.repeat_penalty, params.stop, params.top_p) == (1.3, ("END",), 0.5)
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)


@pytest.mark.parametrize(("request_fields", "param"), [
    ({"n": 2}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"temperature": 9.0}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"seed": -1}, "seed"),
    ({"stop": [""]}, "stop"),
])
def test_out_of_range_values_are_a_400_naming_the_field(request_fields, param):
    request = ChatCompletionRequest(model="m", messages=HELLO, **request_fields)
    with pytest.raises(ApiError) as caught:
        request.sampling(SamplingParams(), 4096)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


def test_empty_messages_are_refused_and_text_parts_are_joined():
    with pytest.raises(ApiError) as caught:
        ChatCompletionRequest(model="m", messages=[]).chat_messages()
    assert caught.value.param == "messages"
    parts = ChatCompletionRequest(model="m", messages=[
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "a"},
                                     {"type": "text", "text": "b"}]}]).chat_messages()
    assert [(m.role, m.content) for m in parts] == [("system", "Be brief."), ("user", "ab")]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False), ("::", False),
    ("example.org", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_bad_server_settings_fall_back_to_their_defaults():
    from chatdesk.core.settings import Settings

    settings = Settings.from_dict({"api_host": "", "api_port": 70000,
                                   "api_keep_history": "yes", "theme": "dark"})
    assert (settings.api_host, settings.api_port, settings.api_keep_history) == (
        "127.0.0.1", 8765, False)
    assert settings.theme == "dark"  # the rest of the file is kept
