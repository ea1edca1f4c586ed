"""The Qt-free pieces of issue 14 that need no model: the sampler's RNG, the chain's
stages on made-up logits, token records, the bandwidth test and the cost arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chatdesk.core import figures, hood_figures
from chatdesk.core.bandwidth import cached_bandwidth, measure_bandwidth
from chatdesk.core.decode_limit import decode_limit
from chatdesk.core.model_card import ModelCard
from chatdesk.core.sampling import InvalidParameterError, SamplingParams
from chatdesk.core.sampling_chain import MT19937, draw_at, explain_step
from chatdesk.core.scale_cost import MEASURED, SETTING, Input, ScaleInputs, scale_cost
from chatdesk.core.token_probs import log_normaliser, top_ids
from chatdesk.core.token_records import TokenAlternative, TokenRecord, TokenTrace


def test_the_mersenne_twister_is_the_standard_one():
    """C++ requires std::mt19937's 10000th output (default seed 5489) to be 4123659995."""
    rng = MT19937(5489)
    for _ in range(9999):
        rng.next()
    assert rng.next() == 4123659995


def test_each_step_draws_two_outputs_of_one_stream():
    rng = MT19937(42)
    values = [rng.canonical_double() for _ in range(4)]
    assert [draw_at(42, step) for step in range(4)] == values
    assert all(0.0 <= v < 1.0 for v in values) and len(set(values)) == 4


def test_top_ids_and_normaliser_agree_with_a_full_sort():
    rng = np.random.default_rng(3)
    for spread in (0.1, 3.0, 40.0):  # flat, ordinary and peaked distributions
        logits = (rng.standard_normal(50_000) * spread).astype(np.float32)
        best, log_z = log_normaliser(logits, np.empty_like(logits))
        expected = np.argsort(-logits.astype(np.float64), kind="stable")[:5]
        assert list(top_ids(logits, 5, best)) == list(expected)
        reference = np.log(np.exp(logits.astype(np.float64) - logits.max()).sum()) + best
        assert log_z == pytest.approx(reference, abs=1e-4)


def test_the_chain_filters_then_tempers():
    logits = np.array([5.0, 4.0, 3.0, 0.0, -2.0], dtype=np.float32)
    params = SamplingParams(temperature=2.0, top_k=3, top_p=1.0, min_p=0.0, repeat_penalty=1.0)
    explained = explain_step(logits, params, [], seed=1, step=0)
    raw, penalties, filters, tempered = explained.stages
    assert raw.kept == penalties.kept == 5 and filters.kept == tempered.kept == 3
    assert filters.top[0].probability < 1 and tempered.top[0].probability < \
        filters.top[0].probability  # a higher temperature flattens what top-k kept
    assert explained.chosen in (0, 1, 2) and explained.draw is not None


def test_penalties_push_repeated_tokens_down_and_greedy_takes_the_rest():
    logits = np.array([3.0, 2.9, -1.0], dtype=np.float32)
    params = SamplingParams(temperature=0.0, repeat_penalty=1.5, presence_penalty=0.5)
    explained = explain_step(logits, params, [0, 0], seed=None, step=2)
    assert explained.greedy and explained.draw is None
    assert explained.chosen == 1  # 3.0 / 1.5 - 0.5 = 1.5 < 2.9
    with pytest.raises(ValueError):
        explain_step(logits, SamplingParams(temperature=0.5), [], seed=None, step=0)


def test_token_traces_survive_json_and_junk_reads_as_empty():
    trace = TokenTrace((TokenRecord(5, " Paris", -0.1, (TokenAlternative(5, " Paris", -0.1),
                                                        TokenAlternative(7, " the", -2.5))),
                        TokenRecord(9, ".", -0.01)), seed=11, prompt_tokens=30)
    assert TokenTrace.from_json(json.loads(json.dumps(trace.to_json()))) == trace
    assert trace.text() == " Paris."
    for junk in (None, [], {"tokens": "x"}, {"tokens": [[1, "a", "b", []]]}):
        assert not TokenTrace.from_json(junk)
    branched = trace.branched(0, TokenAlternative(7, " the", -2.5),
                              [TokenRecord(3, " city", -0.5)], seed=4)
    assert [t.token for t in branched.tokens] == [7, 3] and branched.tokens[0].top == \
        trace.tokens[0].top


def test_top_logprobs_is_validated_and_not_a_sampling_setting():
    assert SamplingParams(top_logprobs=20).validated()
    with pytest.raises(InvalidParameterError):
        SamplingParams(top_logprobs=21).validated()
    assert "logprob" not in figures.sampling_summary(SamplingParams(top_logprobs=5).to_dict())


def test_the_bandwidth_test_is_plausible_and_cached(tmp_path):
    measured = measure_bandwidth()
    print(f"\nbandwidth {measured.gb_per_s:.1f} GB/s in {measured.seconds:.2f} s")
    assert 1 <= measured.gb_per_s <= 1000
    first = cached_bandwidth(tmp_path)
    again = cached_bandwidth(tmp_path)
    assert not first.cached and again.cached and again.gb_per_s == first.gb_per_s
    (tmp_path / "bandwidth.json").write_text("{not json", encoding="utf-8")
    assert not cached_bandwidth(tmp_path).cached  # a damaged cache: measured again


def _card(**changes) -> ModelCard:
    values = dict(path="m.gguf", name="m", architecture="llama", layers=2, heads=4,
                  kv_heads=2, embedding=64, feed_forward=128, vocabulary=1000,
                  trained_context=512, head_size=16, rope_base=10000.0, rope_dimensions=16,
                  rope_scaling=None, parameters=100_000, tensor_bytes=200_000,
                  file_size=210_000, quantization="Q8_0", quant_shares=(),
                  tied_output=True, weight_bytes_per_token=200_000,
                  matrix_weights_per_token=90_000, kv_bytes_per_token=512)
    values.update(changes)
    return ModelCard(**values)


def test_the_decode_limit_is_bandwidth_over_bytes_per_token():
    limit = decode_limit(_card(), bandwidth_gbs=10.0, context=100, measured_tok_s=10_000)
    assert limit.bytes_per_token == 200_000 + 512 * 100
    assert limit.limit_tok_s == pytest.approx(10e9 / 251_200)
    assert limit.share == pytest.approx(10_000 / limit.limit_tok_s)
    assert limit.bound == "compute"
    assert limit.flops_per_token == 2 * 90_000 + 4 * 2 * 4 * 16 * 100
    text = hood_figures.decode_limit_text(limit)
    assert text.count(".") >= 2 and "tokens/s" in text
    assert decode_limit(_card(), 10.0).bound == "unknown"


def test_cost_at_scale():
    inputs = ScaleInputs(
        users_per_day=Input(1000, SETTING), tokens_per_user=Input(864, SETTING),
        tokens_per_s=Input(5.0, MEASURED), joules_per_token=Input(3.6, MEASURED),
        price_per_kwh=Input(0.25, SETTING), currency="EUR",
        grid_g_per_kwh=Input(400.0, SETTING), cloud_per_million=Input(10.0, SETTING),
        cloud_currency="USD")
    cost = scale_cost(inputs)
    assert cost.tokens_per_day == 864_000
    assert cost.machines == 2  # 172,800 machine-seconds: two machines' days
    assert cost.kwh_per_day == pytest.approx(0.864)
    assert cost.money_per_day == pytest.approx(0.216)
    assert cost.co2_g_per_day == pytest.approx(345.6)
    assert cost.cloud_per_day == pytest.approx(8.64)
    unmeasured = scale_cost(ScaleInputs(**{**inputs.__dict__,
                                           "tokens_per_s": Input(None, MEASURED),
                                           "joules_per_token": Input(None, MEASURED)}))
    assert unmeasured.machines is None and unmeasured.money_per_day is None
