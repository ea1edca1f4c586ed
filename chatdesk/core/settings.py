"""Typed user settings, stored as versioned JSON.

A corrupt or unreadable settings file must never stop the app from starting: it is moved
aside (so nothing is lost and the user can look at it) and defaults are used. A file that
parses but holds a wrong-typed or out-of-range field keeps its other fields: that one
falls back to its default and the log names it (pydantic checks each field strictly).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from chatdesk.core.atomic import atomic_write_text
from chatdesk.core.energy.cost import CloudPrice, ElectricityPrice, default_price
from chatdesk.core.sampling import InvalidParameterError, SamplingParams
from chatdesk.core.servers import ServerConnection, connections_from_json

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
    right_panel_visible: bool = True  # the user's choice; a narrow window hides it anyway
    sampling_advanced_open: bool = False  # the side panel's "Advanced" section
    stats_more_open: bool = False  # the live stats' "More figures" section
    last_conversation_id: int | None = None
    loop_guard: bool = True  # stop an answer that repeats itself (core/loop_guard.py)
    # Keep each answer's tokens with their probabilities and top 5 alternatives (the token
    # view, core/token_probs.py; it costs under 5% of decode speed: `chatdesk bench`).
    record_tokens: bool = True
    # The cost-at-scale panel's two inputs (core/scale_cost.py)
    scale_users_per_day: int = 1000
    scale_tokens_per_user: int = 2000
    electricity_price: float | None = None  # per kWh; None: the locale's default
    currency: str | None = None  # None: the locale default's currency
    grid_g_per_kwh: float = 475.0  # world average, as codecarbon uses
    tdp_watts: float | None = None  # CPU TDP override for the estimate
    prompt_cache_mb: int = 2048  # conversations' KV states kept on disk; 0 switches it off
    # A cloud API's price to compare with, entered by the user with the date it was read
    # (none is built in: such prices change too often). Both prices None: no comparison.
    cloud_name: str = ""
    cloud_input_per_million: float | None = None
    cloud_output_per_million: float | None = None
    cloud_currency: str = "USD"
    cloud_as_of: str = ""
    # Where the file dialogs were last pointed ("export", "import", "model" -> folder), and
    # the export format last chosen, so the next dialog opens there (issue 17).
    file_dialog_folders: dict[str, str] = field(default_factory=dict)
    last_export_format: str = ""
    # OpenAI-compatible servers (Models › Servers), without their API keys (core/servers.py)
    servers: tuple[ServerConnection, ...] = ()
    # chatdesk's own OpenAI-compatible API (Server menu, `chatdesk serve`)
    api_host: str = "127.0.0.1"  # loopback unless the user chooses otherwise
    api_port: int = 8765
    api_keep_history: bool = False  # keep API exchanges as conversations, marked "API"
    # Folders to chat with (issue 13, core/documents/): indexed in the background; each
    # conversation switches them on in its own settings ("folders").
    knowledge_folders: tuple[str, ...] = ()

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
        """Settings from parsed JSON, field by field: a field of the wrong type or out of
        range falls back to its default (and the log names it); the rest are kept."""
        values: dict[str, Any] = {}
        for name, value in data.items():
            rule = _RULES.get(name)
            if rule is None:
                continue  # unknown (a newer or older chatdesk's), or handled below
            try:
                values[name] = rule.validate_python(value, strict=True)
            except ValidationError as exc:
                _ignored(name, value, exc.errors()[0]["msg"])
        for name in ("splitter_sizes", "knowledge_folders"):
            if name in values:
                values[name] = tuple(values[name])
        if 0 < values.get("context_length", 0) < MIN_CONTEXT:
            _ignored("context_length", values.pop("context_length"),
                     f"must be 0 (the trained length) or at least {MIN_CONTEXT}")
        if "presets" in data:
            values["presets"] = _usable_presets(data["presets"])
        if "file_dialog_folders" in data:
            values["file_dialog_folders"] = _usable_folders(data["file_dialog_folders"])
        if "servers" in data:  # an unusable connection is left out (and logged), not the file
            values["servers"] = connections_from_json(data["servers"])
        return cls(**values, sampling=_usable_sampling(data.get("sampling", {}), "sampling"))


# What each stored field may hold, checked strictly with pydantic (no "5" for 5, no "no"
# for False, no Infinity). Sizes are bounded: a value that Qt or llama.cpp cannot take
# must never reach them (a huge context length or splitter size aborted the app).
MIN_CONTEXT = 256  # LoadOptions' limits: 0 (trained length) or 256 .. 2**20
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Text = Annotated[str, Field(max_length=100_000)]
_RULES: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(rule) for name, rule in {
    "schema_version": Annotated[int, Field(ge=0, le=1_000_000)],
    "last_model": _Text | None,
    "context_length": Annotated[int, Field(ge=0, le=1 << 20)],
    "gpu_layers": Annotated[int, Field(ge=-1, le=100_000)] | None,
    "threads": Annotated[int, Field(ge=1, le=512)] | None,
    "system_prompt": Annotated[str, Field(max_length=10_000_000)],
    "theme": Literal[THEMES],
    "window_geometry": _Text,
    "window_state": _Text,
    "splitter_sizes": Annotated[list[Annotated[int, Field(ge=0, le=1_000_000)]],
                                Field(max_length=16)],
    "right_panel_visible": bool,
    "last_conversation_id": Annotated[int, Field(ge=1, le=2**63 - 1)] | None,
    "electricity_price": Annotated[_Finite, Field(ge=0, le=1_000_000)] | None,
    "currency": Annotated[str, Field(max_length=16)] | None,
    "grid_g_per_kwh": Annotated[_Finite, Field(ge=0, le=100_000)],
    "tdp_watts": Annotated[_Finite, Field(gt=0, le=100_000)] | None,
    "cloud_name": _Text,
    "cloud_input_per_million": Annotated[_Finite, Field(ge=0)] | None,
    "cloud_output_per_million": Annotated[_Finite, Field(ge=0)] | None,
    "cloud_currency": Annotated[str, Field(max_length=16)],
    "cloud_as_of": _Text,
    "sampling_advanced_open": bool,
    "stats_more_open": bool,
    "last_export_format": Annotated[str, Field(max_length=16)],
    "prompt_cache_mb": Annotated[int, Field(ge=0, le=1_000_000)],  # 0: no prompt cache
    "loop_guard": bool,
    "record_tokens": bool,
    "scale_users_per_day": Annotated[int, Field(ge=1, le=10**10)],
    "scale_tokens_per_user": Annotated[int, Field(ge=1, le=10**9)],
    "api_host": Annotated[str, Field(min_length=1, max_length=255)],
    "api_port": Annotated[int, Field(ge=0, le=65535)],
    "api_keep_history": bool,
    "knowledge_folders": Annotated[list[_Text], Field(max_length=1000)],
}.items()}



def _ignored(name: str, value: Any, why: str) -> None:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    log.warning("settings: %s=%s is unusable (%s); using its default", name, shown, why)


def _usable_sampling(raw: Any, where: str) -> SamplingParams:
    """Stored sampling values; each unusable one falls back to its default."""
    if not isinstance(raw, dict):
        _ignored(where, raw, "not an object")
        return SamplingParams()
    values = dict(raw)
    if "stop" in values and not (isinstance(values["stop"], list)
                                 and all(isinstance(s, str) for s in values["stop"])):
        _ignored(f"{where}.stop", values.pop("stop"), "not a list of texts")
    while True:  # each round drops one unusable field, so this ends
        try:
            return SamplingParams.from_dict(values).validated()
        except InvalidParameterError as exc:
            _ignored(f"{where}.{exc.field}", values.pop(exc.field, None), str(exc))


def _usable_presets(raw: Any) -> dict[str, dict[str, Any]]:
    """Named sampling presets; an unusable one is left out (and logged), not the file."""
    if not isinstance(raw, dict):
        _ignored("presets", raw, "not an object")
        return {}
    presets = {}
    for name, values in raw.items():
        try:
            if not isinstance(values, dict):
                raise InvalidParameterError(name, "not an object")
            if "stop" in values and not isinstance(values["stop"], list):
                raise InvalidParameterError("stop", "not a list")
            presets[name] = SamplingParams.from_dict(values).validated().to_dict()
        except (InvalidParameterError, TypeError) as exc:
            _ignored(f"presets[{name!r}]", values, str(exc))
    return presets


def _usable_folders(raw: Any) -> dict[str, str]:
    """Remembered folders are a convenience: each entry that is not text is dropped."""
    if not isinstance(raw, dict):
        _ignored("file_dialog_folders", raw, "not an object")
        return {}
    kept = {k: v for k, v in raw.items()
            if isinstance(k, str) and isinstance(v, str) and len(v) <= 100_000}
    if len(kept) != len(raw):
        _ignored("file_dialog_folders", {k: raw[k] for k in raw if k not in kept},
                 "not a folder name")
    return kept


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
        version = data.get("schema_version", 0)
        if isinstance(version, int) and version > SCHEMA_VERSION:
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
