"""This machine's memory bandwidth, measured once by a short test and cached.

Decoding one token reads every weight once (core/model_card.py), so bandwidth ÷ bytes
per token is the fastest any program can decode on this machine. The test copies a
128 MiB buffer (far larger than a desktop CPU's cache) with numpy, one read and one write
per byte, so twice the buffer's size moves per copy; it copies 8 times and keeps the
fastest copy (the others met a busy machine). It takes a few tenths of a second.

The figure is cached beside the history (``bandwidth.json``), keyed by the machine (CPU
count and total memory), so a moved data folder on another machine measures again.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from chatdesk.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

BUFFER_BYTES = 128 * 1024 * 1024  # far beyond a desktop last-level cache
COPIES = 8
CACHE_FILE = "bandwidth.json"


@dataclass(frozen=True)
class Bandwidth:
    gb_per_s: float  # 10^9 bytes per second (read + written)
    measured_at: float  # Unix time
    seconds: float  # how long the test took
    cached: bool  # read from the cache, not measured now


def _machine() -> str:
    return f"{platform.machine()}|{os.cpu_count()}|{psutil.virtual_memory().total}"


def measure_bandwidth(buffer_bytes: int = BUFFER_BYTES, copies: int = COPIES) -> Bandwidth:
    """Copy ``buffer_bytes`` ``copies`` times; the fastest copy's bytes moved per second."""
    started = time.perf_counter()
    source = np.ones(buffer_bytes // 8, dtype=np.float64)  # written: pages really mapped
    target = np.empty_like(source)
    np.copyto(target, source)  # first touch of the target's pages, not timed
    best = float("inf")
    for _ in range(copies):
        begin = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - begin)
    moved = 2 * source.nbytes
    return Bandwidth(moved / best / 1e9, time.time(), time.perf_counter() - started, False)


def cached_bandwidth(folder: Path) -> Bandwidth:
    """The cached figure for this machine, or a new measurement (then cached)."""
    path = Path(folder) / CACHE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("machine") == _machine() and float(data["gb_per_s"]) > 0:
            return Bandwidth(float(data["gb_per_s"]), float(data["measured_at"]),
                             float(data["seconds"]), True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    result = measure_bandwidth()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({
            "machine": _machine(), "gb_per_s": result.gb_per_s,
            "measured_at": result.measured_at, "seconds": result.seconds}))
    except OSError as exc:
        log.warning("could not cache the bandwidth figure in %s: %s", path, exc)
    return result
