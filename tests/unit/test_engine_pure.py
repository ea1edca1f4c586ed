"""The engine's pure helpers: GPU layer choice and load option checks (no model loaded)."""

from __future__ import annotations

import dataclasses

import pytest

from chatdesk.core.engine import LoadOptions
from chatdesk.core.llama_runtime import auto_gpu_layers
from chatdesk.core.sampling import InvalidParameterError

GB = 10**9


@pytest.mark.parametrize(
    ("layers", "model", "free", "expected"),
    [
        (32, 4 * GB, None, -1),  # unknown / unified memory: offload all
        (32, 0, 8 * GB, -1),  # unknown model size
        (32, 4 * GB, 24 * GB, -1),  # fits easily
        (32, 4 * GB, 6 * GB, -1),  # 4.6 GB needed <= 5.4 GB usable
        (32, 5 * GB, 6 * GB, 30),  # fits 90% of VRAM but not with the 15% KV share: 30.05
        (32, 10 * GB, 5 * GB, 12),  # 32 * 4.5 / 11.5 = 12.52
        (24, 4 * GB, 4 * GB, 18),  # 24 * 3.6 / 4.6 = 18.78: equal sizes still do not fit
        (80, 40 * GB, 10 * GB, 15),  # 80 * 9 / 46 = 15.65
        (18, 253_000_000, 0, 0),  # no free VRAM
        (18, 253_000_000, 1_000_000, 0),  # a sliver: no whole layer
    ],
)
def test_auto_gpu_layers(layers, model, free, expected):
    assert auto_gpu_layers(layers, model, free) == expected


def test_auto_gpu_layers_grows_with_free_memory_and_stays_below_all():
    counts = [auto_gpu_layers(40, 20 * GB, free) for free in range(0, 30 * GB, GB // 4)]
    partial = [c for c in counts if c != -1]
    assert partial == sorted(partial) and max(partial) < 40
    assert counts[-1] == -1 and counts.index(-1) == len(partial)  # then "all", for good


def test_default_load_options_validate():
    options = LoadOptions()
    assert options.validated() is options


@pytest.mark.parametrize(
    ("name", "value"),
    [("context_length", 0), ("context_length", 256), ("context_length", 1 << 20),
     ("gpu_layers", -1), ("gpu_layers", 0), ("gpu_layers", 999), ("threads", 1),
     ("threads", 512), ("template_hint", "chatml")],
)
def test_load_options_accepted(name, value):
    dataclasses.replace(LoadOptions(), **{name: value}).validated()


@pytest.mark.parametrize(
    ("name", "value"),
    [("context_length", -1), ("context_length", 255), ("context_length", 1),
     ("context_length", (1 << 20) + 1), ("context_length", 4096.0), ("context_length", None),
     ("gpu_layers", -2), ("gpu_layers", 1.5), ("gpu_layers", "all"), ("gpu_layers", True),
     ("threads", 0), ("threads", 513), ("threads", 2.0), ("threads", True)],
)
def test_load_options_rejected_with_the_field_named(name, value):
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(LoadOptions(), **{name: value}).validated()
    assert info.value.field == name
