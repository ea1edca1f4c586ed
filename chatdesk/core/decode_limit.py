"""The decode speed limit this machine's memory sets, and how close an answer came to it.

At batch size 1 a transformer reads every weight (and the KV cache so far) to make one
token and does only about two operations per weight byte-and-a-half: memory, not
arithmetic, is usually what it waits for. So bandwidth ÷ bytes read per token is a hard
ceiling on tokens/s, and the measured speed as a share of it says how much room there is.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatdesk.core.model_card import ModelCard

MEMORY_BOUND_SHARE = 0.5  # at half the limit or more, memory is what decoding waits for


@dataclass(frozen=True)
class DecodeLimit:
    bytes_per_token: int  # weights + the KV cache read at this context
    weight_bytes_per_token: int
    kv_bytes_read: int
    flops_per_token: int
    bandwidth_gbs: float
    limit_tok_s: float  # bandwidth ÷ bytes per token
    measured_tok_s: float | None
    share: float | None  # measured ÷ limit
    bound: str  # 'memory' or 'compute' (or 'unknown' without a measurement)


def decode_limit(card: ModelCard, bandwidth_gbs: float, context: int = 0,
                 measured_tok_s: float | None = None) -> DecodeLimit:
    kv_read = card.kv_bytes_per_token * max(0, context)
    per_token = card.weight_bytes_per_token + kv_read
    limit = bandwidth_gbs * 1e9 / per_token if per_token > 0 else 0.0
    share = measured_tok_s / limit if measured_tok_s and limit > 0 else None
    bound = "unknown" if share is None else (
        "memory" if share >= MEMORY_BOUND_SHARE else "compute")
    return DecodeLimit(per_token, card.weight_bytes_per_token, kv_read,
                       card.flops_per_token(context), bandwidth_gbs, limit, measured_tok_s,
                       share, bound)
