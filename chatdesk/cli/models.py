"""`chatdesk models list|download|remove|import`: the models folder and the catalog, for
people and scripts alike."""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chatdesk.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
    json_out,
    print_table,
    terminal_safe,
)

if TYPE_CHECKING:
    from chatdesk.core.catalog import Catalog, CatalogEntry
    from chatdesk.core.downloads import DownloadProgress

# A model needs its weights plus the KV cache and compute buffers; for a file that no
# catalog entry describes we can only guess that overhead (llama.cpp at a 4k context:
# roughly a fifth of the weights for small models, plus fixed buffers).
ESTIMATE_OVERHEAD_NUM, ESTIMATE_OVERHEAD_DEN = 6, 5
ESTIMATE_FIXED_BYTES = 256 * 1024 * 1024


def add_models_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    # --catalog and --data-dir live on each leaf: argparse lets a sub-parser's defaults
    # overwrite values parsed by its parent, so options given twice would be lost.
    models_common = argparse.ArgumentParser(add_help=False, parents=[common])
    models_common.add_argument("--catalog", help="catalog JSON file (default: "
                               "$CHATDESK_CATALOG, else the catalog shipped with chatdesk)")
    models = commands.add_parser("models", help="list, download, remove and import models")
    actions = models.add_subparsers(dest="models_command", required=True, title="commands",
                                    metavar="COMMAND")
    listing = actions.add_parser("list", parents=[models_common],
                                 help="the catalog and the installed models, with their fit")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    download = actions.add_parser(
        "download", parents=[models_common],
        help="download a catalog model (ID) or any GGUF (--repo and --file)",
        description="Download through huggingface_hub (HF_ENDPOINT and the token of "
                    "`hf auth login` apply). Resumes an earlier partial download; Ctrl+C "
                    "keeps the partial for the next run. Exits 0 only when the file is "
                    "installed and its sha256 verified.")
    download.add_argument("id", nargs="?", help="a catalog id (see `chatdesk models list`)")
    download.add_argument("--repo", help="a Hugging Face repository, e.g. org/name-GGUF")
    download.add_argument("--file", help="the file in that repository")
    download.add_argument("--revision", help="branch, tag or commit (default: the catalog's, "
                          "else main)")
    download.add_argument("--sha256", help="the expected sha256 (default: the catalog's, "
                          "else the one the server reports for the file)")
    remove = actions.add_parser("remove", parents=[models_common],
                                help="delete an installed model (or an unfinished download)")
    remove.add_argument("id", help="a catalog id or a file name in the models dir")
    importing = actions.add_parser("import", parents=[models_common],
                                   help="copy a local .gguf into the models dir")
    importing.add_argument("path", help="the .gguf file (its header is checked first)")


def run_models_command(args: argparse.Namespace) -> int:
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths

    paths = resolve_paths(args.data_dir)
    setup_logging(paths.logs_dir)  # warnings go to the log file, not into the progress line
    handler = {"list": _models_list, "download": _models_download,
               "remove": _models_remove, "import": _models_import}[args.models_command]
    return handler(args, paths.models_dir)


def _load_catalog(args: argparse.Namespace) -> Catalog:
    from chatdesk.core.catalog import catalog_path, load_catalog

    return load_catalog(catalog_path(args.catalog))


def _models_list(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.downloads import partial_downloads
    from chatdesk.core.fit import check_fit, current_memory
    from chatdesk.core.model_store import catalog_entry_for, installed_copy, installed_models

    catalog = _load_catalog(args)
    memory = current_memory()
    installed = installed_models(models_dir)
    catalog_rows = []
    for entry in catalog.entries:
        copy = installed_copy(entry, installed)
        catalog_rows.append({
            "id": entry.id, "name": entry.name, "repo_id": entry.repo_id,
            "filename": entry.filename, "revision": entry.revision,
            "parameters": entry.parameters, "quantization": entry.quantization,
            "size_bytes": entry.size_bytes, "sha256": entry.sha256,
            "context_length": entry.context_length, "license": entry.license,
            "ram_required_bytes": entry.ram_required_bytes,
            "fit": check_fit(entry.ram_required_bytes, memory).value,
            "installed": str(copy.path) if copy else None,
        })
    installed_rows = []
    for model in installed:
        entry = catalog_entry_for(catalog, models_dir, model.path.name, model.catalog_id)
        required = entry.ram_required_bytes if entry else _estimate_required(model.size_bytes)
        installed_rows.append({
            "name": model.path.name, "path": str(model.path), "size_bytes": model.size_bytes,
            "catalog_id": entry.id if entry else None,
            "ram_required_bytes": required,
            "ram_required_source": "catalog" if entry else "estimate",
            "fit": check_fit(required, memory).value,
        })
    partial_rows = [{"name": p.name, "repo_id": p.repo_id, "filename": p.filename,
                     "downloaded_bytes": p.downloaded, "total_bytes": p.total}
                    for p in partial_downloads(models_dir)]
    if args.json:
        print(json_out({
            "catalog_path": str(catalog.path) if catalog.path else None,
            "models_dir": str(models_dir),
            "memory": {"total_ram": memory.total_ram, "available_ram": memory.available_ram,
                       "free_vram": memory.free_vram},
            "catalog": catalog_rows, "installed": installed_rows,
            "partial_downloads": partial_rows, "problems": list(catalog.problems),
        }, indent=2))
        return 0
    for problem in catalog.problems:
        print(f"chatdesk: warning: {terminal_safe(problem)}", file=sys.stderr)
    _print_list(catalog, catalog_rows, installed_rows, partial_rows, models_dir, memory)
    return 0


def _estimate_required(file_size: int) -> int:
    return file_size * ESTIMATE_OVERHEAD_NUM // ESTIMATE_OVERHEAD_DEN + ESTIMATE_FIXED_BYTES


def _print_list(catalog: Catalog, catalog_rows: list[dict[str, Any]],
                installed_rows: list[dict[str, Any]], partial_rows: list[dict[str, Any]],
                models_dir: Path, memory: Any) -> None:
    from chatdesk.core.units import format_bytes

    gpu = (f", {format_bytes(memory.free_vram)} free GPU memory"
           if memory.free_vram is not None else "")
    print(f"Memory: {format_bytes(memory.available_ram)} available of "
          f"{format_bytes(memory.total_ram)} RAM{gpu}")
    print(f"\nCatalog ({catalog.path}):")
    table = [("ID", "PARAMS", "QUANT", "SIZE", "RAM", "FIT", "LICENSE", "INSTALLED")]
    for row in catalog_rows:
        size = format_bytes(row["size_bytes"]) if row["size_bytes"] else "?"
        table.append((row["id"], row["parameters"], row["quantization"], size,
                      format_bytes(row["ram_required_bytes"]), row["fit"], row["license"],
                      "yes" if row["installed"] else ""))
    print_table(table if catalog_rows else [("(no usable entries)",)])
    print(f"\nInstalled ({models_dir}):")
    table = [("FILE", "SIZE", "CATALOG ID", "FIT")]
    for row in installed_rows:
        fit = row["fit"] + (" (estimated)" if row["ram_required_source"] == "estimate" else "")
        table.append((row["name"], format_bytes(row["size_bytes"]), row["catalog_id"] or "-",
                      fit))
    print_table(table if installed_rows else [("(none)",)])
    if partial_rows:
        print("\nUnfinished downloads (run the same download again to resume):")
        for row in partial_rows:
            total = format_bytes(row["total_bytes"]) if row["total_bytes"] else "?"
            print(f"  {terminal_safe(row['name'])}: {format_bytes(row['downloaded_bytes'])} "
                  f"of {total}")


def _models_download(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.downloads import DownloadCancelled, DownloadError, download_model

    entry: CatalogEntry | None = None
    if args.id and (args.repo or args.file):
        return fail("give a catalog ID or --repo/--file, not both", EXIT_USAGE)
    if args.id:
        catalog = _load_catalog(args)
        entry = catalog.get(args.id)
        if entry is None:
            return fail(f"no catalog entry '{args.id}' in {catalog.path} (see: chatdesk "
                         "models list)", EXIT_USAGE)
        repo_id, filename = entry.repo_id, entry.filename
        revision = args.revision or entry.revision
        sha256 = args.sha256 or entry.sha256
    elif args.repo and args.file:
        repo_id, filename = args.repo, args.file
        revision, sha256 = args.revision or "main", args.sha256
    else:
        return fail("give a catalog ID, or both --repo and --file", EXIT_USAGE)

    printer = ProgressPrinter(terminal_safe(filename.rsplit("/", 1)[-1]), sys.stdout)
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["path"] = download_model(repo_id, filename, models_dir, revision=revision,
                                             sha256=sha256, on_progress=printer,
                                             cancel=cancel)
        except BaseException as error:  # handed to the main thread, which reports it
            outcome["error"] = error

    # The download runs on a worker so that Ctrl+C reaches the main thread at once and
    # becomes a clean cancel (the partial file stays, the next run resumes it).
    worker = threading.Thread(target=work, name="download", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl+C: stop waiting
            worker.join(10)
        printer.finish()
        return fail("download cancelled; the partial file is kept: run the same command "
                     "to resume", EXIT_INTERRUPTED)
    printer.finish()
    error = outcome.get("error")
    if isinstance(error, DownloadCancelled):
        return fail(str(error), EXIT_INTERRUPTED)
    if isinstance(error, DownloadError):
        return fail(f"download failed: {error}")
    if error is not None:
        raise error
    path: Path = outcome["path"]
    if entry is not None:
        from chatdesk.core.model_store import record_catalog_id

        record_catalog_id(models_dir, path.name, entry.id)
    print(terminal_safe(f"installed {path} (verified)"))
    return 0


class ProgressPrinter:
    """One updating line on a terminal; a line per 10 % (or per 10 s) in a log or pipe."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name, self.stream = name, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = 0
        self.next_step = 0
        self.last_line_at = 0.0

    def __call__(self, progress: DownloadProgress) -> None:
        from chatdesk.core.units import format_bytes

        done, total = progress.downloaded, progress.total
        parts = [f"{self.name}:"]
        if total:
            parts.append(f"{100 * done / total:5.1f}%")
            parts.append(f"{format_bytes(done)} of {format_bytes(total)}")
        else:
            parts.append(format_bytes(done))
        if progress.bytes_per_s > 0:
            parts.append(f"{format_bytes(progress.bytes_per_s)}/s")
        if progress.eta_s is not None and done != total:
            parts.append(f"{_duration(progress.eta_s)} left")
        line = " ".join(parts)
        if self.tty:
            # A line wider than the terminal wraps, and "\r" then redraws only its tail.
            line = line[:max(20, shutil.get_terminal_size().columns - 1)]
            self.stream.write("\r" + line.ljust(self.width))
            self.width = max(self.width, len(line))
            self.stream.flush()
            return
        now = time.monotonic()
        step = 100 * done // total if total else None
        if (step is not None and step >= self.next_step) or (
                step is None and now - self.last_line_at >= 10):
            print(line, file=self.stream, flush=True)
            self.last_line_at = now
            if step is not None:
                self.next_step = (step // 10 + 1) * 10

    def finish(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def _duration(seconds: float) -> str:
    seconds = math.ceil(seconds)  # "1 s left" until it is done, never "0 s left"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _models_remove(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.downloads import DownloadError, discard_partial
    from chatdesk.core.model_store import remove_model

    try:
        path = remove_model(models_dir, args.id)
    except FileNotFoundError as error:
        # Not installed: maybe an unfinished download of it (by catalog id or file name).
        entry = _load_catalog(args).get(args.id)
        name = entry.filename if entry else args.id
        try:
            if discard_partial(models_dir, name) or discard_partial(models_dir,
                                                                    f"{name}.gguf"):
                print(terminal_safe(f"removed the unfinished download of {name}"))
                return 0
        except DownloadError:
            pass
        return fail(str(error))
    except (ValueError, OSError) as error:
        return fail(str(error))
    print(terminal_safe(f"removed {path}"))
    return 0


def _models_import(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.model_store import find_installed_copy, import_model

    existing = find_installed_copy(Path(args.path), models_dir)
    if existing is not None:  # the same bytes under any name: copying gigabytes again helps no one
        print(f"already installed as {existing}; nothing was copied")
        return 0
    try:
        path = import_model(Path(args.path), models_dir)
    except (ValueError, OSError) as error:  # InvalidModelFileError is a ValueError
        return fail(f"cannot import {args.path}: {error}")
    print(terminal_safe(f"imported {path}"))
    return 0
