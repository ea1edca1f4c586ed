"""The curated model catalog: which GGUF files the Models menu offers, and what they need.

The catalog is a JSON file (schema in docs/catalog.md) that ships inside the package and
can be replaced with ``--catalog PATH`` or ``$CHATDESK_CATALOG``. It is data that people
edit by hand, so it is validated entry by entry: a bad entry is logged and skipped, never
an exception, and a file that cannot be read at all gives an empty catalog. Either way the
reasons end up in :attr:`Catalog.problems` for the UI and the CLI to show.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chatdesk
from chatdesk.core.chat_template import BUILTIN_TEMPLATES
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

log = logging.getLogger(__name__)

CATALOG_ENV = "CHATDESK_CATALOG"
SCHEMA_VERSION = 1
MAX_CATALOG_BYTES = 8 * 1024 * 1024  # a catalog is a few KiB; refuse to parse a huge file

# Ids become CLI arguments and registry keys: lowercase, no spaces, no path tricks.
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
# Hugging Face's own rule for "owner/name".
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# A plain file name at the repository root; it is also the installed file's name.
FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,250}\.gguf$")
# A commit sha (preferred: immutable) or a branch / tag name.
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")

_SAMPLING_KEYS = frozenset(f.name for f in dataclasses.fields(SamplingParams))


@dataclass(frozen=True)
class CatalogEntry:
    """One downloadable model file; field meanings are documented in docs/catalog.md."""

    id: str
    name: str
    repo_id: str
    filename: str
    revision: str  # commit sha or branch
    size_bytes: int | None  # None unless taken from a source we can check
    sha256: str | None  # None unless checkable; then the download checks the server's LFS hash
    parameters: str  # e.g. "0.5B"
    quantization: str
    context_length: int  # trained context length, tokens
    ram_required_bytes: int  # estimate for the fit check (see docs/catalog.md)
    license: str
    description: str
    chat_template_hint: str | None  # a key of chat_template.BUILTIN_TEMPLATES, or None
    default_sampling: dict[str, Any] = field(default_factory=dict)  # SamplingParams fields

    def sampling_params(self, base: SamplingParams | None = None) -> SamplingParams:
        """``base`` (or the defaults) with this entry's recommended values applied."""
        data = (base or SamplingParams()).to_dict()
        data.update(self.default_sampling)
        return SamplingParams.from_dict(data).validated()


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...] = ()
    problems: tuple[str, ...] = ()  # one plain sentence per skipped entry or unreadable file
    path: Path | None = None  # where it was loaded from, for messages

    def get(self, entry_id: str) -> CatalogEntry | None:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        return None

    def by_filename(self, filename: str) -> CatalogEntry | None:
        """The entry that installs ``filename`` (first match), for files without a record."""
        for entry in self.entries:
            if entry.filename == filename:
                return entry
        return None


def packaged_catalog_path() -> Path:
    """The catalog shipped inside the package (chatdesk/models.json)."""
    return Path(chatdesk.__file__).resolve().parent / "models.json"


def catalog_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Which catalog to use: an explicit path (--catalog) wins, then $CHATDESK_CATALOG,
    then the packaged one. An empty environment variable counts as unset."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_env = os.environ.get(CATALOG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return packaged_catalog_path()


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog; never raises for bad content (see :attr:`problems`)."""
    path = catalog_path() if path is None else Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CATALOG_BYTES:
            return _unusable(path, f"it is {size:,} bytes, more than a catalog can be")
        raw = path.read_bytes()
    except FileNotFoundError:
        return _unusable(path, "the file does not exist")
    except OSError as exc:
        return _unusable(path, f"it cannot be read ({exc.strerror or exc})")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _unusable(path, "it is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return _unusable(path, f"it is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                               f"{exc.msg})")
    except RecursionError:
        return _unusable(path, "it is nested too deeply to be a catalog")
    if not isinstance(data, dict):
        return _unusable(path, "it must be a JSON object with 'schema_version' and 'models'")
    version = data.get("schema_version")
    if not _is_int(version):
        return _unusable(path, "'schema_version' is missing or not a whole number")
    if version != SCHEMA_VERSION:
        return _unusable(path, f"schema_version {version} is not supported (this chatdesk "
                               f"reads version {SCHEMA_VERSION})")
    models = data.get("models")
    if not isinstance(models, list):
        return _unusable(path, "'models' must be a list")

    entries: list[CatalogEntry] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(models):
        label = _label(index, item)
        try:
            entry = parse_entry(item)
        except CatalogEntryError as exc:
            problems.append(f"Catalog entry {label} was skipped: {exc}")
            continue
        if entry.id in seen:
            problems.append(f"Catalog entry {label} was skipped: the id '{entry.id}' is "
                            "already used by an earlier entry")
            continue
        seen.add(entry.id)
        entries.append(entry)
    for problem in problems:
        log.warning("%s (%s)", problem, path)
    return Catalog(entries=tuple(entries), problems=tuple(problems), path=path)


class CatalogEntryError(ValueError):
    """One entry is invalid; the message names the field and says what is wrong."""


def parse_entry(item: object) -> CatalogEntry:
    """Validate one entry of the ``models`` list; raise CatalogEntryError naming the field."""
    if not isinstance(item, dict):
        raise CatalogEntryError("an entry must be a JSON object")
    entry_id = _text(item, "id")
    if not ID_RE.match(entry_id):
        raise CatalogEntryError(f"'id' {entry_id!r} must be lowercase letters, digits, '.', "
                                "'_' or '-' (starting with a letter or digit)")
    repo_id = _text(item, "repo_id")
    if not REPO_ID_RE.match(repo_id):
        raise CatalogEntryError(f"'repo_id' {repo_id!r} is not a Hugging Face 'owner/name'")
    filename = _text(item, "filename")
    if not FILENAME_RE.match(filename) or ".." in filename:
        raise CatalogEntryError(f"'filename' {filename!r} must be a plain file name ending "
                                "in .gguf (no folders)")
    revision = _text(item, "revision")
    if not REVISION_RE.match(revision) or ".." in revision:
        raise CatalogEntryError(f"'revision' {revision!r} must be a commit sha or branch name")

    size_bytes = item.get("size_bytes")
    if size_bytes is not None and not (_is_int(size_bytes) and size_bytes > 0):
        raise CatalogEntryError("'size_bytes' must be a positive whole number or null")
    sha256 = item.get("sha256")
    if sha256 is not None:
        if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
            raise CatalogEntryError("'sha256' must be 64 hexadecimal characters or null")
        sha256 = sha256.lower()

    context_length = _positive_int(item, "context_length")
    ram_required = _positive_int(item, "ram_required_bytes")

    hint = item.get("chat_template_hint")
    if hint is not None and (not isinstance(hint, str) or hint not in BUILTIN_TEMPLATES):
        raise CatalogEntryError(f"'chat_template_hint' {hint!r} is not a built-in template "
                                f"({', '.join(sorted(BUILTIN_TEMPLATES))}) or null")

    sampling = item.get("default_sampling", {})
    if sampling is None:
        sampling = {}
    if not isinstance(sampling, dict):
        raise CatalogEntryError("'default_sampling' must be an object")
    unknown = sorted(set(sampling) - _SAMPLING_KEYS)
    if unknown:
        raise CatalogEntryError(f"'default_sampling' has unknown keys: {', '.join(unknown)}")
    stop = sampling.get("stop")
    if stop is not None and (not isinstance(stop, list)
                             or not all(isinstance(s, str) for s in stop)):
        raise CatalogEntryError("'default_sampling.stop' must be a list of strings")
    try:
        SamplingParams.from_dict(sampling).validated()
    except InvalidParameterError as exc:
        raise CatalogEntryError(f"'default_sampling' is invalid: {exc}") from None

    return CatalogEntry(
        id=entry_id,
        name=_text(item, "name"),
        repo_id=repo_id,
        filename=filename,
        revision=revision,
        size_bytes=size_bytes,
        sha256=sha256,
        parameters=_text(item, "parameters"),
        quantization=_text(item, "quantization"),
        context_length=context_length,
        ram_required_bytes=ram_required,
        license=_text(item, "license"),
        description=_text(item, "description"),
        chat_template_hint=hint,
        default_sampling=dict(sampling),
    )


def _unusable(path: Path, reason: str) -> Catalog:
    problem = f"The model catalog {path} cannot be used: {reason}."
    log.warning("%s", problem)
    return Catalog(entries=(), problems=(problem,), path=path)


def _label(index: int, item: object) -> str:
    """'#3 (qwen…)' when the entry has a usable id string, else just '#3'."""
    entry_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(entry_id, str) and entry_id.strip():
        return f"#{index + 1} ({entry_id.strip()[:60]!r})"
    return f"#{index + 1}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(item: dict[str, Any], key: str) -> str:
    if key not in item:
        raise CatalogEntryError(f"the required field '{key}' is missing")
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise CatalogEntryError(f"'{key}' must be a non-empty string")
    return value.strip()


def _positive_int(item: dict[str, Any], key: str) -> int:
    if key not in item:
        raise CatalogEntryError(f"the required field '{key}' is missing")
    value = item[key]
    if not _is_int(value) or value <= 0:
        raise CatalogEntryError(f"'{key}' must be a positive whole number")
    return int(value)
