"""An answer's figures and every word for them, in one place.

The window, the stats panel, the cost view, the exports and the CLI all show the same
figures (tokens, speed, timings, energy, money, sizes, model names). They read them
through the typed records here and say them with the functions here, so a figure reads
the same everywhere and is computed once (tokens/s: ``units.decode_rate``). The words of
the "Under the hood" views (tokens, the model card, the decode limit) are beside it, in
core/hood_figures.py.

Records are built from dicts that may come from an import: a field that is missing,
None, of the wrong type, NaN or infinite becomes None, and every formatter shows a
missing figure as "–" instead of raising.
"""

from __future__ import annotations

import dataclasses
import functools
import locale
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from chatdesk.core.bundled_model import BUNDLED_NAMES
from chatdesk.core.model_ref import REMOTE_PREFIX, parse_remote, server_host
from chatdesk.core.units import decode_rate

if TYPE_CHECKING:
    from chatdesk.core.catalog import Catalog
    from chatdesk.core.events import GenerationResult, ModelInfo

MISSING = "–"  # a figure the record does not have
MONEY_FLOOR = 0.0001  # smaller amounts read "< 0.0001 USD": digits there mean nothing
MAX_NAME_CHARS = 80  # a GGUF's general.name is the file's word, not ours: keep it short
REMOTE_ENERGY_SOURCE = "remote"  # core/energy/record.py's REMOTE_SOURCE
REMOTE_ENERGY = "not measured (remote)"  # a server's watts are not this machine's


# -- tolerant readers ---------------------------------------------------------------------
def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _float(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_READERS = {"int | None": _int, "float | None": _float, "str | None": _str,
            "bool | None": _bool}


def _read_fields(cls: type, data: Any) -> dict[str, Any]:
    """Each declared field of ``cls`` read from ``data`` by its type; junk becomes None."""
    if not isinstance(data, Mapping):
        return {}
    return {f.name: _READERS[str(f.type)](data.get(f.name)) for f in dataclasses.fields(cls)}


class _Record:
    """What both records share: back to a dict without the gaps (None is left out)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in dataclasses.asdict(self).values())


@dataclass(frozen=True)
class AnswerStats(_Record):
    """One answer's statistics: the keys docs/history.md lists; None where unknown."""

    prompt_tokens: int | None = None  # the whole rendered prompt
    prompt_eval_tokens: int | None = None  # what was evaluated (the rest came from the cache)
    prompt_eval_s: float | None = None
    generated_tokens: int | None = None
    generation_s: float | None = None  # first token to last token
    ttft_s: float | None = None  # request to first token
    total_s: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    dropped_turns: int | None = None
    context_used: int | None = None
    context_length: int | None = None
    # Who wrote it and where its figures came from (a remote answer; None for local ones)
    engine: str | None = None  # "remote"; None or "llama.cpp": this machine
    server: str | None = None  # the server's base URL
    tokens_source: str | None = None  # "server usage" or "counted stream chunks ..."
    prompt_source: str | None = None  # "server usage" or "estimated ..."
    timing_source: str | None = None  # remote timings are the client's clock
    server_tokens_per_s: float | None = None  # the server's own figures, when it sent them
    server_prompt_tokens_per_s: float | None = None
    server_source: str | None = None  # "llama-server timings", "server usage ..."

    @classmethod
    def from_dict(cls, data: Any) -> AnswerStats:
        values = _read_fields(cls, data)
        if values.get("tokens_per_s") is None and None not in (
                values.get("generated_tokens"), values.get("generation_s")):
            values["tokens_per_s"] = decode_rate(values["generated_tokens"],
                                                 values["generation_s"])
        return cls(**values)

    @classmethod
    def from_result(cls, result: GenerationResult) -> AnswerStats:
        if result.engine == "remote":
            return cls._from_remote(result)
        return cls(prompt_tokens=result.prompt_tokens,
                   prompt_eval_tokens=result.prompt_eval_tokens,
                   prompt_eval_s=result.prompt_eval_s,
                   generated_tokens=result.generated_tokens,
                   generation_s=result.generation_s, ttft_s=result.ttft_s,
                   total_s=result.total_s, tokens_per_s=result.generation_tokens_per_s,
                   prompt_tokens_per_s=result.prompt_tokens_per_s,
                   dropped_turns=result.dropped_turns, context_used=result.context_used,
                   context_length=result.context_length)

    @classmethod
    def _from_remote(cls, result: GenerationResult) -> AnswerStats:
        """A server's answer: no KV-cache figures (the server keeps them), an unknown
        prompt or context left unknown, and each figure's source."""
        server = result.server_figures
        return cls(prompt_tokens=result.prompt_tokens or None,
                   generated_tokens=result.generated_tokens,
                   generation_s=result.generation_s, ttft_s=result.ttft_s,
                   total_s=result.total_s, tokens_per_s=result.generation_tokens_per_s,
                   context_length=result.context_length or None,
                   engine=result.engine, server=result.server,
                   tokens_source=result.sources.get("tokens"),
                   prompt_source=result.sources.get("prompt_tokens"),
                   timing_source=result.sources.get("timing"),
                   server_tokens_per_s=server.get("tokens_per_s"),
                   server_prompt_tokens_per_s=server.get("prompt_tokens_per_s"),
                   server_source=result.sources.get("server"))


@dataclass(frozen=True)
class EnergyFigures(_Record):
    """One answer's energy record (core/energy/record.py writes it); None where unknown."""

    source: str | None = None  # "rapl", "nvml", "estimate", ...
    measured: bool | None = None
    joules: float | None = None
    above_idle_joules: float | None = None
    seconds: float | None = None
    avg_watts: float | None = None
    idle_watts: float | None = None
    wh: float | None = None
    joules_per_token: float | None = None
    cost: float | None = None
    currency: str | None = None
    price_per_kwh: float | None = None
    co2_g: float | None = None
    grid_g_per_kwh: float | None = None
    server: str | None = None  # a remote answer's server
    cost_source: str | None = None  # a remote answer's price: whose, per million tokens

    @classmethod
    def from_dict(cls, data: Any) -> EnergyFigures:
        values = _read_fields(cls, data)
        if values.get("wh") is None and values.get("joules") is not None:
            values["wh"] = values["joules"] / 3600
        elif values.get("joules") is None and values.get("wh") is not None:
            values["joules"] = values["wh"] * 3600
        return cls(**values)

    @property
    def is_remote(self) -> bool:
        return self.source == REMOTE_ENERGY_SOURCE

    @property
    def provenance(self) -> str:
        """'measured by rapl', 'estimated', 'not measured (remote)', or the bare source
        when that is all we know."""
        if self.is_remote:
            return REMOTE_ENERGY
        if self.measured:
            return f"measured by {self.source or 'a meter'}"
        if self.measured is False:
            return "estimated"
        return f"energy: {self.source}" if self.source else ""


def _stats(stats: AnswerStats | Mapping[str, Any] | None) -> AnswerStats:
    return stats if isinstance(stats, AnswerStats) else AnswerStats.from_dict(stats)


def _energy(energy: EnergyFigures | Mapping[str, Any] | None) -> EnergyFigures:
    return energy if isinstance(energy, EnergyFigures) else EnergyFigures.from_dict(energy)


# -- numbers ------------------------------------------------------------------------------
def figure(value: float | None, spec: str = "") -> str:
    """One figure in a format spec ('.1f'), or '–' when the record does not have it."""
    return MISSING if value is None else format(value, spec)


def significant(value: float | None, digits: int = 3, max_decimals: int = 8) -> str:
    """``digits`` significant digits in fixed notation, never '1e-05': 0.000294 →
    '0.000294', 12.5 → '12.5', 1234 → '1234'; below 10**-max_decimals: '< 0.00000001'."""
    if value is None:
        return MISSING
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - exponent)
    if decimals > max_decimals:
        return f"< {10 ** -max_decimals:.{max_decimals}f}"
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _locale_marks() -> tuple[str, str]:
    """(decimal point, thousands separator) of the user's numeric locale, when the app
    set one (Python starts in the C locale: '.' and ',')."""
    conv = locale.localeconv()
    point = str(conv.get("decimal_point") or ".")
    group = str(conv.get("thousands_sep") or "")
    if not group or group == point:
        group = "," if point != "," else "\u202f"
    return point, group


def localize(text: str) -> str:
    point, group = _locale_marks()
    if (point, group) == (".", ","):
        return text
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def format_money(value: float | None, currency: str | None) -> str:
    """Money for people: cents for amounts of 1 and more, two significant digits below
    ('0.0029 USD'), '< 0.0001 USD' for what would need more, never scientific notation.
    ``currency`` None means the amounts were in several currencies."""
    unit = currency or "(mixed currencies)"
    if value is None:
        return f"{MISSING} {unit}"
    if value == 0:
        return f"0 {unit}"
    size = abs(value)
    if size < MONEY_FLOOR:
        return f"{'> -' if value < 0 else '< '}{localize(str(MONEY_FLOOR))} {unit}"
    if size >= 1:
        return f"{localize(f'{value:,.2f}')} {unit}"
    return f"{localize(significant(value, 2))} {unit}"


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """'1 conversation', '2 conversations', '0 conversations': never '1 conversations'."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def format_wh(wh: float | None) -> str:
    if wh is None:
        return f"{MISSING} Wh"
    return f"{significant(wh / 1000)} kWh" if wh >= 1000 else f"{significant(wh)} Wh"


def format_co2(grams: float | None) -> str:
    if grams is None:
        return f"{MISSING} g CO2"
    return (f"{significant(grams / 1000)} kg CO2" if grams >= 1000
            else f"{significant(grams)} g CO2")


# -- the lines under an answer ------------------------------------------------------------
STOP_NOTES = {  # the stats line: nothing to say when the model simply finished
    "eos": "",
    "length": "reached the max tokens limit",
    "stop_string": "",
    "user_stop": "stopped by you",
    "context_full": "the context window is full",
    "repetition": "it began repeating itself",
}
STOP_CHIPS = {  # a chip always says why the answer ended
    "eos": "finished",
    "length": "max tokens reached",
    "stop_string": "stop string",
    "user_stop": "stopped by you",
    "context_full": "context full",
    "repetition": "repeating itself",
}


# Said under an answer that did not end by itself, and whether "continue" makes sense
# there (a full context cannot take more; the model's own end or a stop string is an end).
STOP_LABELS = {
    "length": "stopped at the token limit",
    "user_stop": "stopped by you",
    "context_full": "stopped: the context window is full",
    "repetition": "stopped: it began repeating itself",
}
CONTINUABLE = frozenset({"length", "user_stop", "repetition"})
CONTINUE_LABEL = "Continue anyway"  # the one-click button beside the label
CONTINUE_TIPS = {
    "repetition": "Write on from where it stopped, with the loop guard off for this part",
    "length": "Write on from where it stopped, up to the token limit again",
    "user_stop": "Write on from where you stopped it",
}


def stop_label(stop_reason: str | None) -> str:
    """'stopped: it began repeating itself'; '' for an answer that ended by itself."""
    return STOP_LABELS.get(stop_reason or "", "")


def can_continue(stop_reason: str | None) -> bool:
    return (stop_reason or "") in CONTINUABLE


def stats_line(stats: AnswerStats | Mapping[str, Any] | None,
               stop_reason: str | None = None) -> str:
    """The grey line under an answer: its cost in tokens and time ('' without stats)."""
    s = _stats(stats)
    if s.is_empty:
        return ""
    if s.engine == "remote":
        return _remote_stats_line(s, stop_reason)
    parts = [
        f"{figure(s.generated_tokens)} tokens",
        f"{figure(s.tokens_per_s, '.1f')} tok/s",
        f"first token {figure(s.ttft_s, '.2f')} s",
        f"prompt {figure(s.prompt_eval_tokens)}/{figure(s.prompt_tokens)} tokens evaluated"
        f" ({figure(s.prompt_tokens_per_s, '.0f')} tok/s)",
        f"context {figure(s.context_used)}/{figure(s.context_length)}",
    ]
    note = STOP_NOTES.get(stop_reason or "", "")
    if note:
        parts.append(note)
    if s.dropped_turns:
        parts.append(f"{s.dropped_turns} older messages left out to fit the context")
    return " · ".join(parts)


def _remote_stats_line(s: AnswerStats, stop_reason: str | None) -> str:
    """A server's answer: the client-side figures said as such, the server's own beside
    them, and which server."""
    counted = " (counted)" if s.tokens_source and s.tokens_source != "server usage" else ""
    parts = [f"{figure(s.generated_tokens)} tokens{counted}",
             f"{figure(s.tokens_per_s, '.1f')} tok/s measured here",
             f"first token {figure(s.ttft_s, '.2f')} s (with the network)"]
    if s.server_tokens_per_s is not None:
        parts.append(f"server: {s.server_tokens_per_s:.1f} tok/s")
    if s.server_prompt_tokens_per_s is not None:
        parts.append(f"server prompt: {s.server_prompt_tokens_per_s:.0f} tok/s")
    if s.prompt_tokens is not None:
        estimated = s.prompt_source is not None and s.prompt_source.startswith("estimated")
        parts.append(f"prompt {'~' if estimated else ''}{s.prompt_tokens} tokens"
                     f"{' (estimated)' if estimated else ''}")
    if s.server:
        parts.append(f"on {server_name(s.server)}")
    note = STOP_NOTES.get(stop_reason or "", "")
    if note:
        parts.append(note)
    return " · ".join(parts)


def server_name(base_url: str) -> str:
    """'http://gpu-box:8000/v1' -> 'gpu-box:8000': a server as people name it."""
    return server_host(base_url)


def energy_line(energy: EnergyFigures | Mapping[str, Any] | None) -> str:
    """'0.92 J (0.00026 Wh) · 30.1 W · 0.092 J/token · < 0.0001 EUR · 0.00012 g CO2 ·
    estimated': every figure with where it came from ('' without a record)."""
    e = _energy(energy)
    if e.is_empty:
        return ""
    if e.is_remote:
        parts = [f"energy {REMOTE_ENERGY}"]
        if e.cost is not None:
            parts.append(f"{format_money(e.cost, e.currency)} ({e.cost_source or 'your price'})")
        else:
            parts.append("no cost (set a price per million tokens in Models › Servers)")
        return " · ".join(parts)
    parts = [f"{significant(e.joules)} J ({significant(e.wh, 2)} Wh)",
             f"{figure(e.avg_watts, '.1f')} W"]
    if e.joules_per_token is not None:
        parts.append(f"{significant(e.joules_per_token, 2)} J/token")
    parts += [format_money(e.cost, e.currency) if e.cost is not None or e.currency
              else f"{MISSING} cost", f"{significant(e.co2_g, 2)} g CO2"]
    if e.provenance:
        parts.append(e.provenance)
    return " · ".join(parts)


def answer_details(stats: AnswerStats | Mapping[str, Any] | None,
                   energy: EnergyFigures | Mapping[str, Any] | None,
                   stop_reason: str | None = None) -> str:
    """Every figure of an answer, a line for time and one for energy (the chips' hover)."""
    return "\n".join(line for line in (stats_line(stats, stop_reason), energy_line(energy))
                     if line)


def answer_chips(stats: AnswerStats | Mapping[str, Any] | None,
                 energy: EnergyFigures | Mapping[str, Any] | None,
                 stop_reason: str | None = None) -> tuple[str, ...]:
    """Short chips under an answer: tokens, tok/s, first token, why it ended, energy."""
    s, e = _stats(stats), _energy(energy)
    chips: list[str] = []
    if not s.is_empty:
        chips += [f"{figure(s.generated_tokens)} tokens", f"{figure(s.tokens_per_s, '.1f')} tok/s",
                  f"first token {figure(s.ttft_s, '.2f')} s"]
    if stop_reason:
        chips.append(STOP_CHIPS.get(stop_reason, stop_reason.replace("_", " ")))
    if e.is_remote:
        chips.append(f"energy {REMOTE_ENERGY}")
        if e.cost is not None:
            chips.append(format_money(e.cost, e.currency))
    elif not e.is_empty:  # energy always says where it came from, even in a chip
        chips.append(f"{significant(e.joules)} J ({e.provenance})" if e.provenance
                     else f"{significant(e.joules)} J")
    return tuple(chips)


# -- models -------------------------------------------------------------------------------
def describe_model(info: ModelInfo) -> str:
    """The loaded model in one line: name, size, quantization, backend, context."""
    if info.architecture == "remote":
        context = f" · context {info.context_length}" if info.context_length else ""
        return f"{info.name} · {info.backend} · {info.chat_template_source}{context}"
    params = (f"{info.parameters / 1e9:.1f}B" if info.parameters >= 1e9
              else f"{info.parameters / 1e6:.0f}M")
    offload = (f"{info.gpu_layers_offloaded}/{info.total_layers} layers on GPU"
               if info.backend != "CPU" else f"{info.threads} threads")
    name = BUNDLED_NAMES.get(model_file_name(info.path) or "", info.name)
    return (f"{name} · {info.architecture} {params} {info.quantization} · "
            f"{info.backend} ({offload}) · context {info.context_length}"
            f"/{info.trained_context}")


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_NAME_CHARS else text[:MAX_NAME_CHARS - 1] + "…"


def model_file_name(model: str) -> str | None:
    """The file name when ``model`` names a GGUF file or an absolute path, else None (a
    server's model id such as 'org/name' is a name already)."""
    if model.startswith(REMOTE_PREFIX):
        return None
    posix, windows = PurePosixPath(model), PureWindowsPath(model)
    if not (model.lower().endswith(".gguf") or posix.is_absolute() or windows.is_absolute()
            or model.startswith("~")):
        return None
    return re.split(r"[\\/]", model.rstrip("\\/"))[-1] or None


@functools.lru_cache(maxsize=64)
def _gguf_general_name(path: str, _size: int, _mtime_ns: int) -> str | None:
    from chatdesk.core.gguf_file import read_gguf_header

    try:
        name = read_gguf_header(path).metadata.get("general.name")
    except (OSError, ValueError):
        return None
    return one_line(name) if isinstance(name, str) and name.strip() else None


def gguf_name(path: str) -> str | None:
    """The file's own ``general.name``, read once per file version; None when the path is
    not a regular GGUF file here (an imported chat names files of another machine)."""
    if not os.path.isabs(path) or not path.lower().endswith(".gguf"):
        return None
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    if not Path(path).is_file():  # never read a FIFO or a device, which could block
        return None
    return _gguf_general_name(path, stat.st_size, stat.st_mtime_ns)


def answer_title(model: str | None, catalog: Catalog | None = None) -> str:
    """A model's name for people: the catalog's name, else the GGUF's ``general.name``,
    else the file's stem; never a path. '' when there is no model."""
    if not model or not model.strip():
        return ""
    remote = parse_remote(model)
    if remote is not None:  # the engine, server and model that wrote it
        return one_line(f"{remote.model} (remote: {remote.host})")
    filename = model_file_name(model)
    if filename is None:
        return one_line(model)
    if catalog is not None:
        from chatdesk.core.model_store import catalog_entry_for

        entry = catalog_entry_for(catalog, Path(model).expanduser().parent, filename)
        if entry is not None:
            return one_line(entry.name)
    if filename in BUNDLED_NAMES:
        return BUNDLED_NAMES[filename]
    name = gguf_name(str(Path(model).expanduser()))
    if name:
        return name
    stem = filename[:-5] if filename.lower().endswith(".gguf") else filename
    return one_line(stem or filename)


# -- sampling -----------------------------------------------------------------------------
SAMPLING_LABELS = {
    "temperature": "Temperature",
    "top_k": "Top-k",
    "top_p": "Top-p",
    "min_p": "Min-p",
    "repeat_penalty": "Repeat penalty",
    "repeat_last_n": "Repeat window",
    "presence_penalty": "Presence penalty",
    "frequency_penalty": "Frequency penalty",
    "seed": "Seed",
    "max_tokens": "Max tokens",
    "stop": "Stop strings",
    "ignore_eos": "Ignore end of text",
}


def _is_off(key: str, value: Any) -> bool:
    """A value that turns its control off (ignore_eos False, a 0 penalty): not worth a word."""
    if key == "ignore_eos":
        return value is False
    if key == "top_logprobs":  # what was recorded about the answer, not how it was sampled
        return True
    if key in ("presence_penalty", "frequency_penalty"):
        return not isinstance(value, bool) and value == 0
    return False


def sampling_label(key: str) -> str:
    """'top_k' → 'Top-k'; an unknown key reads as words ('typical_p' → 'Typical p')."""
    return SAMPLING_LABELS.get(key) or key.replace("_", " ").capitalize()


def _sampling_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def sampling_summary(sampling: Mapping[str, Any] | None) -> str:
    """'Temperature 0.7, Top-k 40, ...': the settings that do something, in people's
    words; '' when there are none."""
    if not isinstance(sampling, Mapping):
        return ""
    parts = []
    for key, value in sampling.items():
        if value is None or value == [] or value == ():
            continue
        if _is_off(str(key), value):
            continue
        parts.append(f"{sampling_label(str(key))} {_sampling_value(value)}")
    return ", ".join(parts)


# -- the context meter at the input box (ui/context_meter.py) ---------------------------
def thousands(n: int) -> str:
    return localize(f"{n:,}")


def context_figure(prompt_tokens: int, context_length: int) -> str:
    """'2,134 / 4,096 tokens': what sending now takes of the context."""
    return f"{thousands(prompt_tokens)} / {thousands(context_length)} tokens"


def dropped_turns_text(dropped: Sequence[str], too_long: bool = False) -> str:
    """Which older messages sending now would leave out to fit ('' when none)."""
    if too_long:
        return "the message alone is too long for this context"
    if not dropped:
        return ""
    first = " ".join(dropped[0].split())
    first = first if len(first) <= 32 else first[:31].rstrip() + "…"
    what = "the oldest message" if len(dropped) == 1 else \
        f"the {len(dropped)} oldest messages"
    return f"{what} (from “{first}”) will be left out to fit"


def prompt_cache_text(prompt_tokens: int | None, evaluated: int | None) -> str:
    """The last answer's prompt: how much came from the KV cache (in memory, restored from
    disk or kept since the turn before) and how much was evaluated."""
    if prompt_tokens is None or evaluated is None or prompt_tokens <= 0:
        return ""
    cached = max(0, prompt_tokens - evaluated)
    return (f"last prompt: {thousands(cached)} tokens from cache, "
            f"{thousands(evaluated)} evaluated")


# -- documents (issue 13) -------------------------------------------------------------------
FILE_CHIP_CHARS = 32  # a longer file name is shortened in the middle on its chip


def _short_name(name: str, limit: int = FILE_CHIP_CHARS) -> str:
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[:keep - keep // 3] + "…" + name[-(keep // 3):]


def file_chip(name: str, pages: int = 0) -> str:
    """An attachment's chip: "📎 report.pdf · 12 pages"."""
    chip = f"📎 {_short_name(name)}"
    return f"{chip} · {count_of(pages, 'page')}" if pages else chip


def source_chip(number: int, file: str, page: int = 0) -> str:
    """A source's chip under an answer: "[2] report.pdf p. 3"."""
    chip = f"[{number}] {_short_name(file.rsplit('/', 1)[-1], 24)}"
    return f"{chip} p. {page}" if page else chip


def documents_figure(tokens: int) -> str:
    """The context meter's share of the documents: "documents ≈ 1,234 tokens"."""
    return f"documents ≈ {thousands(tokens)} tokens"
