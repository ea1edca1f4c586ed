"""Sampling parameters: every field is range-checked and named in the error."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from chatdesk.core.sampling import (
    GREEDY,
    MAX_SEED,
    InvalidParameterError,
    SamplingParams,
)


def test_defaults_and_greedy_validate():
    params = SamplingParams()
    assert params.validated() is params
    assert GREEDY.validated() is GREEDY


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -0.01), ("temperature", 5.01), ("temperature", math.inf),
        ("top_k", -1), ("top_k", 100_001), ("top_k", 40.0),
        ("top_p", 0.0), ("top_p", -0.1), ("top_p", 1.01),
        ("min_p", -0.01), ("min_p", 1.5),
        ("repeat_penalty", 0.0), ("repeat_penalty", -1.0), ("repeat_penalty", 5.5),
        ("repeat_last_n", -1), ("repeat_last_n", 1_000_001), ("repeat_last_n", 64.5),
        ("presence_penalty", -2.01), ("presence_penalty", 2.01),
        ("frequency_penalty", -2.01), ("frequency_penalty", 2.01),
        ("seed", -1), ("seed", MAX_SEED + 1), ("seed", 1.5),
        ("max_tokens", 0), ("max_tokens", 1_000_001), ("max_tokens", 10.0),
        ("stop", ["a"]), ("stop", ("a", 3)), ("stop", "abc"),
    ],
)
def test_out_of_range_value_names_its_field(name, value):
    params = dataclasses.replace(SamplingParams(), **{name: value})
    with pytest.raises(InvalidParameterError) as info:
        params.validated()
    assert info.value.field == name
    assert str(info.value).startswith(f"{name}: ")


FLOAT_FIELDS = ["temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                "frequency_penalty"]
INT_FIELDS = ["top_k", "repeat_last_n", "seed", "max_tokens"]


@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_nan_is_rejected(name):
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(SamplingParams(), **{name: math.nan}).validated()
    assert info.value.field == name
    assert "number" in str(info.value)


@pytest.mark.parametrize("name", FLOAT_FIELDS + INT_FIELDS)
def test_bools_are_not_numbers(name):
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(SamplingParams(), **{name: True}).validated()
    assert info.value.field == name


@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_strings_are_not_numbers(name):
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(SamplingParams(), **{name: "0.5"}).validated()
    assert info.value.field == name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 0), ("temperature", 5.0), ("top_k", 0), ("top_k", 100_000),
        ("top_p", 1.0), ("top_p", 1e-9), ("min_p", 0.0), ("min_p", 1.0),
        ("repeat_penalty", 5.0), ("repeat_last_n", 0), ("presence_penalty", -2.0),
        ("frequency_penalty", 2), ("seed", 0), ("seed", MAX_SEED), ("seed", None),
        ("max_tokens", 1), ("max_tokens", 1_000_000), ("stop", ("\nUser:", "</s>")),
    ],
)
def test_boundary_values_are_accepted(name, value):
    dataclasses.replace(SamplingParams(), **{name: value}).validated()


def test_empty_stop_string_is_rejected():
    with pytest.raises(InvalidParameterError, match="empty") as info:
        SamplingParams(stop=("ok", "")).validated()
    assert info.value.field == "stop"


def test_dict_round_trip_through_json():
    params = SamplingParams(temperature=0.2, top_k=7, seed=1234, max_tokens=99,
                            stop=("\nUser:", "###"), ignore_eos=True)
    data = json.loads(json.dumps(params.to_dict()))
    assert data["stop"] == ["\nUser:", "###"]
    restored = SamplingParams.from_dict(data)
    assert restored == params
    assert restored.stop == ("\nUser:", "###")
    restored.validated()


def test_from_dict_ignores_unknown_keys_and_keeps_defaults_for_missing_ones():
    restored = SamplingParams.from_dict({"temperature": 1.3, "mirostat": 2, "typical_p": 0.9})
    assert restored == SamplingParams(temperature=1.3)


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplingParams().temperature = 2.0  # type: ignore[misc]
