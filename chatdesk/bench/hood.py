"""The bench's "under the hood" figures (issue 14), measured inside `chatdesk bench`.

* ``logprobs_overhead``: app tokens/s while recording each token's top-5 alternatives ÷
  without, in the same run, in interleaved pairs (the order alternates, so a machine
  getting busier does not favour one side), median of the ratios. Target ≥ 0.95: the
  token view is on by default, so its capture must not be felt.
* ``memory_bandwidth_gbs`` (core/bandwidth.py, measured now, with the engine idle),
  ``weight_bytes_per_token`` (core/model_card.py), ``decode_limit_tok_s`` (bandwidth ÷
  bytes read per token at the bench's context) and ``decode_vs_limit`` (the app's
  measured tokens/s ÷ that limit).
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdesk.core.bandwidth import measure_bandwidth
from chatdesk.core.decode_limit import decode_limit
from chatdesk.core.model_card import read_model_card
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.token_records import TOP_ALTERNATIVES


@dataclass(frozen=True)
class HoodFigures:
    memory_bandwidth_gbs: float
    weight_bytes_per_token: int
    decode_limit_tok_s: float
    decode_vs_limit: float
    logprobs_overhead: float
    logprobs_runs: tuple[tuple[float, float], ...]  # (with, without) tokens/s per pair


def logprobs_overhead(driver: Any, engine: Any, messages: list[Any], params: SamplingParams,
                      runs: int) -> tuple[float, tuple[tuple[float, float], ...]]:
    """Median of (with capture ÷ without) over ``runs`` interleaved pairs of app runs."""
    capture = dataclasses.replace(params, top_logprobs=TOP_ALTERNATIVES)
    plain = dataclasses.replace(params, top_logprobs=0)
    pairs: list[tuple[float, float]] = []
    for run in range(runs):
        rates: dict[bool, float] = {}
        for with_capture in ((True, False) if run % 2 == 0 else (False, True)):
            driver.on_engine(engine.reset_cache)
            driver.chat(messages, capture if with_capture else plain)
            rates[with_capture] = driver.received_tokens_per_s()
        pairs.append((rates[True], rates[False]))
    return statistics.median(w / wo for w, wo in pairs), tuple(pairs)


def hood_figures(driver: Any, engine: Any, model: Path, messages: list[Any],
                 params: SamplingParams, runs: int, app_tokens_per_s: float,
                 context: int) -> HoodFigures:
    overhead, pairs = logprobs_overhead(driver, engine, messages, params, runs)
    card = read_model_card(model)
    bandwidth = measure_bandwidth().gb_per_s
    limit = decode_limit(card, bandwidth, context, app_tokens_per_s)
    return HoodFigures(bandwidth, card.weight_bytes_per_token, limit.limit_tok_s,
                       limit.share or 0.0, overhead, pairs)
