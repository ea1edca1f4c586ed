"""The models directory: what is installed, importing a local file, removing one.

Only finished ``*.gguf`` files count as installed. Downloads and copies are written to
temporary dotfiles (``.name.xxxx.tmp``, ``*.part``, ``*.incomplete``) and renamed only when
complete, so a half-written file is never listed, loaded or offered for deletion.

A small JSON registry (``.chatdesk-models.json``) remembers which catalog entry each file
came from, so the UI can show its catalog name, template hint and sampling defaults.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chatdesk.core.atomic import atomic_write_text, atomic_writer
from chatdesk.core.catalog import ID_RE, Catalog, CatalogEntry
from chatdesk.core.gguf_file import read_gguf_header
from chatdesk.core.units import format_bytes

log = logging.getLogger(__name__)

REGISTRY_NAME = ".chatdesk-models.json"
REGISTRY_VERSION = 1
COPY_CHUNK = 8 * 1024 * 1024
# Keep this much disk free beyond the file itself: a disk filled to the last byte breaks
# the history database and the settings file, which are written next.
DISK_RESERVE_BYTES = 256 * 1024 * 1024

# One lock for the registry's read-modify-write and for choosing an import's target name:
# a download thread and the UI thread may both touch the models dir.
_lock = threading.RLock()


@dataclass(frozen=True)
class InstalledModel:
    path: Path
    size_bytes: int
    catalog_id: str | None  # the catalog entry it was downloaded from, when recorded


def installed_models(models_dir: Path) -> list[InstalledModel]:
    """Finished GGUF files in the models dir, by name; temp and partial files never count."""
    if not models_dir.is_dir():
        return []
    registry = _read_registry(models_dir)
    found: list[InstalledModel] = []
    for path in sorted(models_dir.glob("*.gguf")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            size = path.stat().st_size
        except OSError:  # deleted while we looked
            continue
        found.append(InstalledModel(path=path, size_bytes=size,
                                    catalog_id=registry.get(path.name)))
    return found


def check_free_space(directory: Path, needed_bytes: int, what: str = "the model") -> None:
    """Raise OSError(ENOSPC) with a plain message when ``directory`` lacks the room."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the dir may not exist yet; ask about the disk it will be on
    free = shutil.disk_usage(probe).free
    if needed_bytes + DISK_RESERVE_BYTES > free:
        raise OSError(
            errno.ENOSPC,
            f"Not enough free disk space for {what}: it needs {format_bytes(needed_bytes)} "
            f"(plus {format_bytes(DISK_RESERVE_BYTES)} to spare) and {directory} has "
            f"{format_bytes(free)} free.",
        )


def import_model(source: Path, models_dir: Path) -> Path:
    """Copy a local GGUF into the models dir; returns the installed path.

    The header is checked first (InvalidModelFileError says what is wrong), the copy is
    atomic, and an existing file is never overwritten: an installed file with the same
    content, under any name, is returned instead of copying (``find_installed_copy``); a
    different one with the same name makes this one ``name-2.gguf`` (then -3, ...).
    """
    source = Path(source).expanduser()
    header = read_gguf_header(source)  # raises InvalidModelFileError for bad files
    models_dir.mkdir(parents=True, exist_ok=True)
    if source.name == _installed_name(source.name) and _same_file(source,
                                                                  models_dir / source.name):
        return models_dir / source.name  # importing an installed file: nothing to copy
    size = header.file_size
    with _lock:
        existing = find_installed_copy(source, models_dir)  # by content, under any name
        if existing is not None:
            log.info("%s is already installed as %s", source, existing)
            return existing
        target = _import_target(source, models_dir)
        check_free_space(models_dir, size, f"importing {source.name}")
        copied = 0
        with atomic_writer(target) as out, source.open("rb") as src:
            while block := src.read(COPY_CHUNK):
                out.write(block)
                copied += len(block)
            if copied != size:
                raise OSError(f"{source} changed while it was being copied "
                              f"({copied:,} bytes read, {size:,} expected); nothing was "
                              "imported.")
    log.info("imported %s as %s", source, target)
    return target


def find_installed_copy(source: Path, models_dir: Path) -> Path | None:
    """An installed model with exactly ``source``'s content, whatever its name: sizes are
    compared first, so a sha256 is computed only when one matches."""
    try:
        size = Path(source).stat().st_size
    except OSError:
        return None
    digest: str | None = None
    for model in installed_models(models_dir):
        if _same_file(source, model.path):
            return model.path
        if model.size_bytes != size:
            continue
        digest = digest or _sha256(Path(source))
        if _sha256(model.path) == digest:
            return model.path
    return None


def remove_model(models_dir: Path, name_or_catalog_id: str) -> Path:
    """Delete one installed model, by file name (with or without .gguf) or catalog id."""
    target = _resolve_installed(models_dir, name_or_catalog_id)
    with _lock:
        target.unlink()
        registry = _read_registry(models_dir)
        if registry.pop(target.name, None) is not None:
            _write_registry(models_dir, registry)
    log.info("removed model %s", target)
    return target


def record_catalog_id(models_dir: Path, filename: str, catalog_id: str) -> None:
    """Remember that ``filename`` in the models dir was installed from ``catalog_id``."""
    _check_plain_name(filename)
    if not ID_RE.match(catalog_id):
        raise ValueError(f"{catalog_id!r} is not a valid catalog id")
    with _lock:
        registry = _read_registry(models_dir)
        if registry.get(filename) == catalog_id:
            return
        registry[filename] = catalog_id
        _write_registry(models_dir, registry)


def catalog_id_for(models_dir: Path, filename: str) -> str | None:
    """The catalog id recorded for ``filename``, or None."""
    return _read_registry(models_dir).get(filename)


def catalog_entry_for(catalog: Catalog, models_dir: Path, filename: str,
                      catalog_id: str | None = None) -> CatalogEntry | None:
    """The catalog entry a model file came from: the one recorded when it was installed
    (``catalog_id``, else the registry in ``models_dir``), else the entry that installs a
    file of that name. The one lookup every caller uses, so they never disagree."""
    recorded = catalog_id or catalog_id_for(models_dir, filename)
    entry = catalog.get(recorded) if recorded else None
    return entry or catalog.by_filename(filename)


def installed_copy(entry: CatalogEntry,
                   models: Sequence[InstalledModel]) -> InstalledModel | None:
    """The other way round: the installed file of a catalog entry, one recorded as coming
    from it first, else one with the file name it installs."""
    return (next((m for m in models if m.catalog_id == entry.id), None)
            or next((m for m in models if m.path.name == entry.filename), None))


# -- helpers -------------------------------------------------------------------------------


def _resolve_installed(models_dir: Path, key: str) -> Path:
    key = key.strip()
    installed = installed_models(models_dir)
    by_name = {m.path.name: m.path for m in installed}
    for candidate in (key, f"{key}.gguf"):
        if candidate in by_name:
            return by_name[candidate]
    matches = [m.path for m in installed if m.catalog_id == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise ValueError(f"Several installed models come from catalog entry '{key}' "
                         f"({names}); remove one by its file name.")
    known = ", ".join(sorted(by_name)) or "none"
    raise FileNotFoundError(f"No installed model is called '{key}' (by file name or catalog "
                            f"id) in {models_dir}. Installed: {known}.")


def _import_target(source: Path, models_dir: Path) -> Path:
    """The free name to copy to: the source's, else name-2.gguf, -3... (an identical copy
    was looked for first, so a taken name holds something else)."""
    base = _installed_name(source.name)
    stem = base[: -len(".gguf")]
    for n in range(1, 10_000):
        candidate = models_dir / (base if n == 1 else f"{stem}-{n}.gguf")
        if not candidate.exists():
            return candidate
    raise OSError(f"Too many models called {base} in {models_dir}.")


def _installed_name(name: str) -> str:
    """A name installed_models() will list: no leading dots, ends in lowercase .gguf."""
    name = name.lstrip(".") or "model"
    if name.lower().endswith(".gguf"):
        name = name[: -len(".gguf")]
    return f"{name or 'model'}.gguf"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(COPY_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _check_plain_name(filename: str) -> None:
    if (not filename or filename in (".", "..") or "/" in filename or "\\" in filename
            or "\0" in filename):
        raise ValueError(f"{filename!r} is not a plain file name")


def _read_registry(models_dir: Path) -> dict[str, str]:
    """filename -> catalog id; a missing or damaged registry reads as empty (logged)."""
    path = models_dir / REGISTRY_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable model registry %s: %s", path, exc)
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        log.warning("ignoring the model registry %s: it has no 'files' object", path)
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def _write_registry(models_dir: Path, registry: dict[str, str]) -> None:
    text = json.dumps({"schema_version": REGISTRY_VERSION, "files": dict(sorted(
        registry.items()))}, indent=2, ensure_ascii=False)
    atomic_write_text(models_dir / REGISTRY_NAME, text + "\n")

