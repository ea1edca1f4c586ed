"""Typed user settings, stored as versioned JSON.

A corrupt or unreadable settings file must never stop the app from starting: it is moved
aside (so nothing is lost and the user can look at it) and defaults are used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatdesk.core.atomic import atomic_write_text
from chatdesk.core.energy.cost import CloudPrice, ElectricityPrice, default_price
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Settings:
    schema_version: int = SCHEMA_VERSION
    last_model: str | None = None
    context_length: int = 4096
    gpu_layers: int | None = None  # None: auto
    threads: int | None = None  # None: physical cores
    system_prompt: str = ""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> sampling dict
    theme: str = "system"  # "light", "dark" or "system"
    window_geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64
    splitter_sizes: tuple[int, ...] = ()
    right_panel_visible: bool = True
    last_conversation_id: int | None = None
    electricity_price: float | None = None  # per kWh; None: the locale's default
    currency: str | None = None  # None: the locale default's currency
    grid_g_per_kwh: float = 475.0  # world average, as codecarbon uses
    tdp_watts: float | None = None  # CPU TDP override for the estimate
    # A cloud API's price to compare with, entered by the user with the date it was read
    # (none is built in: such prices change too often). Both prices None: no comparison.
    cloud_name: str = ""
    cloud_input_per_million: float | None = None
    cloud_output_per_million: float | None = None
    cloud_currency: str = "USD"
    cloud_as_of: str = ""
    # chatdesk's own OpenAI-compatible API (Server menu, `chatdesk serve`)
    api_host: str = "127.0.0.1"  # loopback unless the user chooses otherwise
    api_port: int = 8765
    api_keep_history: bool = False  # keep API exchanges as conversations, marked "API"

    def price(self) -> ElectricityPrice:
        """The electricity price in use: the user's, else the locale's default."""
        default = default_price()
        if self.electricity_price is None:
            return default
        return ElectricityPrice(per_kwh=self.electricity_price,
                                currency=self.currency or default.currency,
                                source="your setting", as_of="")

    def cloud_price(self) -> CloudPrice | None:
        """The cloud price to compare with, or None until the user has entered both prices."""
        if self.cloud_input_per_million is None or self.cloud_output_per_million is None:
            return None
        return CloudPrice(name=self.cloud_name or "cloud API",
                          input_per_million=self.cloud_input_per_million,
                          output_per_million=self.cloud_output_per_million,
                          currency=self.cloud_currency or "USD", as_of=self.cloud_as_of)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["sampling"] = self.sampling.to_dict()
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)} - {"sampling"}
        values = {k: v for k, v in data.items() if k in known}
        if "splitter_sizes" in values:
            values["splitter_sizes"] = tuple(int(x) for x in values["splitter_sizes"])
        if "presets" in values and not isinstance(values["presets"], dict):
            raise ValueError("presets must be an object")
        if values.get("theme", "system") not in THEMES:
            values["theme"] = "system"
        _clean_cloud_fields(values)
        _clean_api_fields(values)
        sampling = SamplingParams.from_dict(data.get("sampling") or {}).validated()
        return cls(**values, sampling=sampling)


def _clean_api_fields(values: dict[str, Any]) -> None:
    """A hand-edited bad server setting falls back to its default, not the whole file."""
    checks = {"api_host": lambda v: isinstance(v, str) and v.strip() != "",
              "api_port": lambda v: type(v) is int and 0 <= v <= 65535,
              "api_keep_history": lambda v: isinstance(v, bool)}
    for key, ok in checks.items():
        if key in values and not ok(values[key]):
            log.warning("settings: ignoring %s=%r", key, values[key])
            del values[key]


def _clean_cloud_fields(values: dict[str, Any]) -> None:
    """Drop unusable cloud-price values (back to their defaults) rather than the file.

    The comparison is optional; one hand-edited bad price must not move the whole
    settings file aside as corrupt.
    """
    for key in ("cloud_input_per_million", "cloud_output_per_million"):
        if key not in values or values[key] is None:
            continue
        value = values[key]
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not value >= 0 or value == float("inf")):
            log.warning("settings: ignoring %s=%r (not a price)", key, value)
            del values[key]
        else:
            values[key] = float(value)
    for key in ("cloud_name", "cloud_currency", "cloud_as_of"):
        if key in values and not isinstance(values[key], str):
            log.warning("settings: ignoring %s=%r (not text)", key, values[key])
            del values[key]


def load_settings(path: Path) -> Settings:
    """Settings from ``path``; defaults when it is missing, backup + defaults when corrupt."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        log.warning("cannot read settings %s (%s); using defaults", path, exc)
        return Settings()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("settings must be a JSON object")
        if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
            raise ValueError("settings were written by a newer chatdesk")
        return Settings.from_dict(data)
    except (ValueError, TypeError, InvalidParameterError) as exc:
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(backup)
        log.warning("settings file %s is unusable (%s); moved to %s, using defaults",
                    path, exc, backup)
        return Settings()


def save_settings(path: Path, settings: Settings) -> None:
    atomic_write_text(path, settings.to_json())
