"""The words of the "Under the hood" views (ui/token_view.py, ui/hood_view.py, the
model-info CLI): a token made visible, its probability, the model card, the decode limit.
Beside core/figures.py, which says an answer's figures; the same locale rules apply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatdesk.core.figures import MISSING, localize, one_line, significant, thousands
from chatdesk.core.units import format_bytes

STAGE_NAMES = {  # core/sampling_chain.py's stages, in the order llama.cpp runs them
    "raw": "Raw probabilities",
    "penalties": "After the repeat, frequency and presence penalties",
    "filters": "After top-k, top-p and min-p",
    "temperature": "After temperature (applied last by llama.cpp)",
}


def percent(share: float | None, digits: int = 1) -> str:
    """0.4321 → '43.2%'; tiny but non-zero shares say '< 0.1%' rather than '0.0%'."""
    if share is None:
        return MISSING
    if 0 < share < 10 ** -(digits + 2):
        return f"< {localize(f'{10 ** -digits:.{digits}f}')}%"
    return localize(f"{share * 100:.{digits}f}%")


def token_label(text: str) -> str:
    """A token's text made visible: spaces as '␣', newlines as '↵', nothing as '∅'."""
    if not text:
        return "∅"
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def token_tooltip(text: str, probability: float,
                  alternatives: Sequence[tuple[str, float]]) -> str:
    """The token view's hover text: the token, its probability, the top alternatives."""
    lines = [f"“{token_label(text)}”  {percent(probability)}", "Alternatives:"]
    lines += [f"  {token_label(t)}  {percent(p)}" for t, p in alternatives]
    return "\n".join(lines)


def flops(count: float) -> str:
    """2.3e8 → '230 MFLOP'."""
    for unit, size in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if count >= size:
            return f"{significant(count / size)} {unit}"
    return f"{significant(count)} FLOP"


def big_count(count: float) -> str:
    """134,515,008 → '134.5 M' (parameters, tokens per day)."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{localize(f'{count / size:.1f}')} {unit}"
    return localize(f"{count:,.0f}")


def describe_card(card: Any, context: int = 0) -> list[tuple[str, str]]:
    """The model card's lines (core/model_card.ModelCard), label and value."""
    rope = MISSING if card.rope_base is None else significant(card.rope_base, 6)
    if card.rope_dimensions:
        rope += f", {card.rope_dimensions} dims"
    if card.rope_scaling:
        rope += f", scaling {card.rope_scaling}"
    shares = ", ".join(f"{q.type_name} {percent(q.share)}" for q in card.quant_shares)
    return [
        ("Name", one_line(card.name)),
        ("Architecture", card.architecture),
        ("Layers", str(card.layers)),
        ("Attention heads", f"{card.heads} query, {card.kv_heads} key/value "
                            f"(head size {card.head_size})"),
        ("Embedding size", thousands(card.embedding)),
        ("Feed-forward size", thousands(card.feed_forward)),
        ("Vocabulary", thousands(card.vocabulary)),
        ("Trained context", f"{thousands(card.trained_context)} tokens"),
        ("RoPE", f"base {rope}"),
        ("Parameters", f"{big_count(card.parameters)} ({thousands(card.parameters)})"),
        ("Quantization", f"{card.quantization}: {shares}"),
        ("Output matrix", "the embedding table (tied)" if card.tied_output
         else "its own"),
        ("FLOPs per token", f"{flops(card.flops_per_token(context))} at "
                            f"{thousands(context)} tokens of context"),
        ("Weights read per token", format_bytes(card.weight_bytes_per_token)),
        ("KV cache per token", format_bytes(card.kv_bytes_per_token)),
    ]


def decode_limit_text(limit: Any) -> str:
    """Two plain sentences on core/decode_limit.DecodeLimit: the ceiling, and which bound
    this machine is at."""
    first = (f"Each token reads {format_bytes(limit.bytes_per_token)} from memory, and this "
             f"machine moves {significant(limit.bandwidth_gbs)} GB/s, so no program can "
             f"decode faster than {significant(limit.limit_tok_s)} tokens/s here.")
    if limit.share is None:
        return first + " Generate an answer to see how close chatdesk comes to it."
    if limit.bound == "memory":
        second = (f"The last answer ran at {significant(limit.measured_tok_s)} tokens/s, "
                  f"{percent(limit.share, 0)} of that limit: memory bandwidth is what "
                  "decoding waits for.")
    else:
        second = (f"The last answer ran at {significant(limit.measured_tok_s)} tokens/s, "
                  f"{percent(limit.share, 0)} of that limit: the processor's arithmetic "
                  "and llama.cpp's overheads, not memory, hold it back.")
    return f"{first} {second}"


def scale_source(source: str) -> str:
    return f"({source})"
