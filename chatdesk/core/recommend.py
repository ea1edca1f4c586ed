"""The first run's one suggestion: the best catalog model this machine can run, or why none.

The bundled model is small so that the app chats offline from the first second; a user
with memory to spare deserves a better one, and should not have to read a catalog of a
dozen models to find it. "Best" is the catalog model with the most parameters that fits
(``core/fit.py``: free RAM plus free VRAM, with headroom), then the smallest memory need;
a model that only fits tightly is offered only when none fits comfortably.

Nothing here waits on the network except :func:`hub_reachability`, a short connect to the
Hub's host that a caller runs off the GUI thread.
"""

from __future__ import annotations

import enum
import math
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.fit import FitVerdict, MemoryInfo, check_fit, current_memory

# Without a measured speed, the estimate assumes this: 10 MB/s = 80 Mbit/s, a common
# home broadband line. Stated wherever the estimate is shown.
ASSUMED_BYTES_PER_S = 10_000_000
# The catalog's RAM figure is file + KV cache + 400 MB (docs/catalog.md): without an exact
# file size, RAM - 400 MB is an upper bound on the download.
RUNTIME_OVERHEAD_BYTES = 400_000_000
REACH_TIMEOUT_S = 1.5
_TRUE = {"1", "true", "yes", "on"}


class Reach(str, enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no answer within the timeout: a slow network, or a firewall


@dataclass(frozen=True)
class Reachability:
    reach: Reach
    reason: str  # one plain sentence, for the log and a tooltip


@dataclass(frozen=True)
class Recommendation:
    entry: CatalogEntry
    verdict: FitVerdict  # FITS, or TIGHT when no catalog model fits comfortably
    size_bytes: int
    size_exact: bool  # False: an upper bound from the catalog's RAM figure
    download_s: float
    bytes_per_s: float
    speed_source: str  # "measured" (a previous download here) or "assumed"

    def speed_note(self) -> str:
        mb = self.bytes_per_s / 1e6
        if self.speed_source == "measured":
            return f"at {mb:.0f} MB/s, the speed of your last download"
        return f"assuming {mb:.0f} MB/s ({mb * 8:.0f} Mbit/s)"


@dataclass(frozen=True)
class Suggestion:
    """What the first-run card shows: a recommendation, or None and the reason why not."""

    recommendation: Recommendation | None
    reason: str  # why there is none ("" when there is one)
    offline: bool = False


def parameter_count(entry: CatalogEntry) -> float:
    """'0.5B' -> 5e8, '270M' -> 2.7e8; 0 when the catalog's text is not a count."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBT]?)\s*", entry.parameters.upper())
    if not match:
        return 0.0
    scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]
    return float(match.group(1)) * scale


def download_size(entry: CatalogEntry) -> tuple[int, bool]:
    """(bytes, exact): the catalog's exact size, else an upper bound from its RAM need."""
    if entry.size_bytes:
        return entry.size_bytes, True
    return max(1, entry.ram_required_bytes - RUNTIME_OVERHEAD_BYTES), False


def recommend(entries: Iterable[CatalogEntry], memory: MemoryInfo,
              reachability: Reachability, *, installed_ids: Iterable[str] = (),
              measured_bytes_per_s: float | None = None) -> Suggestion:
    """The best catalog model for this machine that is not installed yet, or the reason.

    ``measured_bytes_per_s``: a download speed seen on this machine, when the caller has
    one; else :data:`ASSUMED_BYTES_PER_S` is used, and the recommendation says so.
    """
    if reachability.reach is Reach.OFFLINE:
        return Suggestion(None, "You are offline: the bundled model works without a "
                                "network.", offline=True)
    installed = set(installed_ids)
    candidates = [e for e in entries if e.id not in installed]
    if not candidates:
        return Suggestion(None, "Every catalog model is already installed.")
    verdicts = {e.id: check_fit(e.ram_required_bytes, memory) for e in candidates}
    for wanted in (FitVerdict.FITS, FitVerdict.TIGHT):
        fitting = [e for e in candidates if verdicts[e.id] is wanted]
        if fitting:
            best = max(fitting, key=lambda e: (parameter_count(e), -e.ram_required_bytes))
            return Suggestion(_recommendation(best, wanted, measured_bytes_per_s), "")
    smallest = min(candidates, key=lambda e: e.ram_required_bytes)
    return Suggestion(None, f"No catalog model fits this machine's free memory (the "
                            f"smallest, {smallest.name}, needs "
                            f"{smallest.ram_required_bytes / 1e9:.1f} GB).")


def only_bundled_models(models_dir: Path) -> bool:
    """True on a first run: nothing but the bundled offline models is installed (or nothing
    at all yet). That is when the empty chat offers the recommended download."""
    from chatdesk.core.bundled_model import BUNDLED_FILENAMES
    from chatdesk.core.model_store import installed_models

    return all(m.path.name in BUNDLED_FILENAMES for m in installed_models(models_dir))


def first_run_suggestion(catalog: Catalog, models_dir: Path, *,
                         memory: MemoryInfo | None = None,
                         reachability: Reachability | None = None,
                         measured_bytes_per_s: float | None = None) -> Suggestion:
    """:func:`recommend` for this machine now: its memory, the models installed in
    ``models_dir`` and the Hub's reachability. May block up to REACH_TIMEOUT_S on the
    network: call it off the GUI thread."""
    from chatdesk.core.model_store import installed_models

    installed: set[str] = set()
    for model in installed_models(models_dir):
        entry = (catalog.get(model.catalog_id) if model.catalog_id else None) \
            or catalog.by_filename(model.path.name)
        if entry is not None:
            installed.add(entry.id)
    return recommend(catalog.entries, memory or current_memory(),
                     reachability or hub_reachability(), installed_ids=installed,
                     measured_bytes_per_s=measured_bytes_per_s)


def _recommendation(entry: CatalogEntry, verdict: FitVerdict,
                    measured_bytes_per_s: float | None) -> Recommendation:
    size, exact = download_size(entry)
    if measured_bytes_per_s is not None and measured_bytes_per_s > 0:
        speed, source = float(measured_bytes_per_s), "measured"
    else:
        speed, source = float(ASSUMED_BYTES_PER_S), "assumed"
    return Recommendation(entry=entry, verdict=verdict, size_bytes=size, size_exact=exact,
                          download_s=size / speed, bytes_per_s=speed, speed_source=source)


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min': estimates, so rounded up."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return f"about {seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def hub_reachability(endpoint: str | None = None,
                     timeout_s: float = REACH_TIMEOUT_S) -> Reachability:
    """Can we reach the Hub? HF_HUB_OFFLINE says no at once; else one TCP connect to the
    endpoint's host (no request is sent). A refused connection or a name that does not
    resolve means offline; no answer within ``timeout_s`` is UNKNOWN."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return Reachability(Reach.OFFLINE, "HF_HUB_OFFLINE is set.")
    if endpoint is None:
        from chatdesk.core.downloads import current_endpoint

        endpoint = current_endpoint()
    url = urlparse(endpoint)
    host = url.hostname
    if not host:
        return Reachability(Reach.UNKNOWN, f"The Hub endpoint {endpoint!r} has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return Reachability(Reach.ONLINE, f"{host}:{port} answered.")
    except TimeoutError:
        return Reachability(Reach.UNKNOWN, f"{host}:{port} did not answer within "
                                           f"{timeout_s:g} s.")
    except OSError as error:  # refused, unreachable network, or no DNS
        return Reachability(Reach.OFFLINE, f"Cannot reach {host}:{port} "
                                           f"({error.strerror or error}).")
