"""How big a model file is: what the Hub reports (cached on disk), or an estimate.

The catalog leaves most sizes blank (they change with every re-upload), and the Models
dialog showed "unknown" for 10 of 12 entries. Until the Hub answers, parameters × bits
per weight of the quantization gives an estimate, shown with "≈"; once it answers, the
size is kept in ``hub-sizes.json`` in the data folder, so it is known offline next time.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from chatdesk.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

CACHE_NAME = "hub-sizes.json"
# Average bits per weight of llama.cpp's quantizations for a whole file (the embedding
# and output tensors are kept at higher precision), as llama.cpp's quantize tool lists
# them for 7B-class models; small models run a little higher.
BITS_PER_WEIGHT = {
    "Q2_K": 2.96, "Q3_K_S": 3.50, "Q3_K_M": 3.91, "Q3_K_L": 4.27, "IQ4_XS": 4.25,
    "IQ4_NL": 4.50, "Q4_0": 4.55, "Q4_1": 5.00, "Q4_K_S": 4.58, "Q4_K_M": 4.89,
    "Q5_0": 5.54, "Q5_1": 6.00, "Q5_K_S": 5.54, "Q5_K_M": 5.70, "Q6_K": 6.56, "Q8_0": 8.50,
    "F16": 16.0, "BF16": 16.0, "F32": 32.0,
}
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_PARAMETERS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)


def parameter_count(text: str) -> float | None:
    """'270M' → 2.7e8, '1.5B' → 1.5e9; None for anything else ('8x7B', '')."""
    match = _PARAMETERS.match(text or "")
    return float(match.group(1)) * _SCALE[match.group(2).upper()] if match else None


def estimated_size_bytes(parameters: str, quantization: str) -> int | None:
    """Parameters × bits per weight / 8, or None when either is not known."""
    count = parameter_count(parameters)
    bits = BITS_PER_WEIGHT.get((quantization or "").strip().upper())
    return int(count * bits / 8) if count is not None and bits is not None else None


def cache_key(repo_id: str, filename: str, revision: str) -> str:
    return f"{repo_id}/{filename}@{revision}"


class HubSizes:
    """Sizes the Hub reported, by ``cache_key``; read once, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: dict[str, int] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring the size cache %s: %s", path, exc)
            return
        if isinstance(data, dict):
            self.sizes = {k: v for k, v in data.items()
                          if isinstance(k, str) and type(v) is int and v > 0}

    def get(self, key: str) -> int | None:
        return self.sizes.get(key)

    def update(self, found: dict[str, int]) -> None:
        """Add sizes and save (a failure to save only costs asking again next time)."""
        self.sizes.update(found)
        try:
            atomic_write_text(self.path, json.dumps(self.sizes, indent=1, sort_keys=True))
        except OSError as exc:
            log.warning("cannot save the size cache %s: %s", self.path, exc)
