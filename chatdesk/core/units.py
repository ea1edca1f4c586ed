"""Rates and sizes: the arithmetic under the figures, shared by the records (events.py),
the words (figures.py) and the model store. It imports nothing of chatdesk, so every
module can use it without an import circle."""

from __future__ import annotations


def decode_rate(tokens: int, seconds: float) -> float:
    """Decode speed in tokens/s: n tokens span n-1 intervals after the first (whose time
    is prompt evaluation). 0.0 until two tokens and some time exist."""
    if tokens < 2 or seconds <= 0:
        return 0.0
    return (tokens - 1) / seconds


def prompt_rate(tokens: int, seconds: float) -> float:
    """Prompt evaluation speed in tokens/s (0.0 when nothing was evaluated)."""
    return tokens / seconds if seconds > 0 else 0.0


def format_bytes(count: float) -> str:
    """Human-readable size in binary units (what file managers show)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - loop always returns
