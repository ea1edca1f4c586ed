"""Headless commands on the same core as the app: `chatdesk bench ...`, `chatdesk models ...`,
`chatdesk export|import|list` (conversations, through chatdesk.core.exchange).

``models`` exists for scripts and tests as much as for people: every failure is one line
on stderr and a non-zero exit, and ``download`` exits 0 only once the file is installed
and its hash verified.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from chatdesk.core.catalog import Catalog, CatalogEntry
    from chatdesk.core.downloads import DownloadProgress

CLI_COMMANDS = ("bench", "models", "export", "import", "list", "serve")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
# A model needs its weights plus the KV cache and compute buffers; for a file that no
# catalog entry describes we can only guess that overhead (llama.cpp at a 4k context:
# roughly a fifth of the weights for small models, plus fixed buffers).
ESTIMATE_OVERHEAD_NUM, ESTIMATE_OVERHEAD_DEN = 6, 5
ESTIMATE_FIXED_BYTES = 256 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where models, history, settings and logs live "
                        "(default: $CHATDESK_DATA_DIR, else the platform's user dirs)")
    parser = argparse.ArgumentParser(prog="chatdesk")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", parents=[common],
                                help="measure raw llama.cpp against the app pipeline "
                                     "(default), or the conversation view (ui)")
    bench.add_argument("mode", nargs="?", choices=("pipeline", "ui"), default="pipeline",
                       help="pipeline: the model through the app (default); ui: the "
                            "conversation view offscreen, no model needed")
    bench.add_argument("--model", help="a .gguf file (default: the bundled offline model)")
    bench.add_argument("--tokens", type=int, default=128, help="tokens to generate per run")
    bench.add_argument("--threads", type=int, default=None, help="CPU threads for llama.cpp")
    bench.add_argument("--runs", type=int, default=5, help="alternating raw/app pairs")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--duration", type=float, default=5.0,
                       help="ui: seconds of streaming (default 5)")
    bench.add_argument("--messages", type=int, default=500,
                       help="ui: messages in the conversation streamed into (default 500)")
    bench.add_argument("--open-messages", type=int, default=2000,
                       help="ui: messages in the conversation opened (default 2000)")
    _add_models_parser(commands, common)
    _add_exchange_parsers(commands, common)
    _add_serve_parser(commands, common)
    return parser


def _add_serve_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="serve a model to other programs through an "
        "OpenAI-compatible API (docs/api.md)")
    serve.add_argument("--model", help="a .gguf file (default: the bundled offline model)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="default 8765; 0 picks one")
    serve.add_argument("--api-key-env", metavar="VAR",
                       help="require the key held in this environment variable "
                            "(Authorization: Bearer KEY)")
    serve.add_argument("--context", type=int, help="context length in tokens (default: "
                       "the app's setting)")


def _add_models_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    # --catalog and --data-dir live on each leaf: argparse lets a sub-parser's defaults
    # overwrite values parsed by its parent, so options given twice would be lost.
    models_common = argparse.ArgumentParser(add_help=False, parents=[common])
    models_common.add_argument("--catalog", help="catalog JSON file (default: "
                               "$CHATDESK_CATALOG, else the catalog shipped with chatdesk)")
    models = commands.add_parser("models", help="list, download, remove and import models")
    actions = models.add_subparsers(dest="models_command", required=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "bench" and args.mode == "ui":
        from chatdesk.bench_ui import run_ui_bench_command

        return run_ui_bench_command(args)
    if args.command == "bench":
        from chatdesk.bench import run_bench_command

        return run_bench_command(args)
    if args.command == "models":
        return run_models_command(args)
    if args.command in ("export", "import", "list"):
        return run_exchange_command(args)
    if args.command == "serve":
        from chatdesk.api.headless import run_serve_command

        return run_serve_command(args)
    return EXIT_USAGE


# ----------------------------------------------------------------------------- models


def run_models_command(args: argparse.Namespace) -> int:
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths

    paths = resolve_paths(args.data_dir)
    setup_logging(paths.logs_dir)  # warnings go to the log file, not into the progress line
    handler = {"list": _models_list, "download": _models_download,
               "remove": _models_remove, "import": _models_import}[args.models_command]
    return handler(args, paths.models_dir)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"chatdesk: {message}", file=sys.stderr)
    return code


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
        print(json.dumps({
            "catalog_path": str(catalog.path) if catalog.path else None,
            "models_dir": str(models_dir),
            "memory": {"total_ram": memory.total_ram, "available_ram": memory.available_ram,
                       "free_vram": memory.free_vram},
            "catalog": catalog_rows, "installed": installed_rows,
            "partial_downloads": partial_rows, "problems": list(catalog.problems),
        }, indent=2))
        return 0
    for problem in catalog.problems:
        print(f"chatdesk: warning: {problem}", file=sys.stderr)
    _print_list(catalog, catalog_rows, installed_rows, partial_rows, models_dir, memory)
    return 0


def _estimate_required(file_size: int) -> int:
    return file_size * ESTIMATE_OVERHEAD_NUM // ESTIMATE_OVERHEAD_DEN + ESTIMATE_FIXED_BYTES


def _print_list(catalog: Catalog, catalog_rows: list[dict[str, Any]],
                installed_rows: list[dict[str, Any]], partial_rows: list[dict[str, Any]],
                models_dir: Path, memory: Any) -> None:
    from chatdesk.core.figures import format_bytes

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
    _print_table(table if catalog_rows else [("(no usable entries)",)])
    print(f"\nInstalled ({models_dir}):")
    table = [("FILE", "SIZE", "CATALOG ID", "FIT")]
    for row in installed_rows:
        fit = row["fit"] + (" (estimated)" if row["ram_required_source"] == "estimate" else "")
        table.append((row["name"], format_bytes(row["size_bytes"]), row["catalog_id"] or "-",
                      fit))
    _print_table(table if installed_rows else [("(none)",)])
    if partial_rows:
        print("\nUnfinished downloads (run the same download again to resume):")
        for row in partial_rows:
            total = format_bytes(row["total_bytes"]) if row["total_bytes"] else "?"
            print(f"  {row['name']}: {format_bytes(row['downloaded_bytes'])} of {total}")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in rows if i < len(row))
              for i in range(max(len(r) for r in rows))]
    for row in rows:
        print("  " + "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row))
              .rstrip())


def _models_download(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.downloads import DownloadCancelled, DownloadError, download_model

    entry: CatalogEntry | None = None
    if args.id and (args.repo or args.file):
        return _fail("give a catalog ID or --repo/--file, not both", EXIT_USAGE)
    if args.id:
        catalog = _load_catalog(args)
        entry = catalog.get(args.id)
        if entry is None:
            return _fail(f"no catalog entry '{args.id}' in {catalog.path} (see: chatdesk "
                         "models list)", EXIT_USAGE)
        repo_id, filename = entry.repo_id, entry.filename
        revision = args.revision or entry.revision
        sha256 = args.sha256 or entry.sha256
    elif args.repo and args.file:
        repo_id, filename = args.repo, args.file
        revision, sha256 = args.revision or "main", args.sha256
    else:
        return _fail("give a catalog ID, or both --repo and --file", EXIT_USAGE)

    printer = _ProgressPrinter(filename.rsplit("/", 1)[-1], sys.stdout)
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
        return _fail("download cancelled; the partial file is kept: run the same command "
                     "to resume", EXIT_INTERRUPTED)
    printer.finish()
    error = outcome.get("error")
    if isinstance(error, DownloadCancelled):
        return _fail(str(error), EXIT_INTERRUPTED)
    if isinstance(error, DownloadError):
        return _fail(f"download failed: {error}")
    if error is not None:
        raise error
    path: Path = outcome["path"]
    if entry is not None:
        from chatdesk.core.model_store import record_catalog_id

        record_catalog_id(models_dir, path.name, entry.id)
    print(f"installed {path} (verified)")
    return 0


class _ProgressPrinter:
    """One updating line on a terminal; a line per 10 % (or per 10 s) in a log or pipe."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name, self.stream = name, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = 0
        self.next_step = 0
        self.last_line_at = 0.0

    def __call__(self, progress: DownloadProgress) -> None:
        from chatdesk.core.figures import format_bytes

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
                print(f"removed the unfinished download of {name}")
                return 0
        except DownloadError:
            pass
        return _fail(str(error))
    except (ValueError, OSError) as error:
        return _fail(str(error))
    print(f"removed {path}")
    return 0


def _models_import(args: argparse.Namespace, models_dir: Path) -> int:
    from chatdesk.core.model_store import import_model

    try:
        path = import_model(Path(args.path), models_dir)
    except (ValueError, OSError) as error:  # InvalidModelFileError is a ValueError
        return _fail(f"cannot import {args.path}: {error}")
    print(f"imported {path}")
    return 0


# ------------------------------------------------------------------ export, import, list


def _add_exchange_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    formats = ("md", "json", "html", "pdf", "txt")  # chatdesk.core.exchange.FORMATS
    export = commands.add_parser(
        "export", parents=[common], help="write a conversation (or all) to a file",
        description="Markdown, HTML, PDF and text hold the visible thread; JSON holds "
                    "everything (alternatives, statistics, energy) and imports back. An "
                    "existing file is never overwritten: ' (2)' is added to the name.")
    export.add_argument("id", nargs="?", type=int, help="the conversation id (see: chatdesk "
                        "list)")
    export.add_argument("--all", action="store_true",
                        help="every conversation, one file each, into --out DIR")
    export.add_argument("--format", required=True, choices=formats)
    export.add_argument("--out", help="the file, or a folder (default: the current folder, "
                        "named after the title)")
    importing = commands.add_parser(
        "import", parents=[common], help="import a chatdesk JSON export or ChatGPT's "
        "conversations.json (or its export .zip); prints the new ids")
    importing.add_argument("path")
    listing = commands.add_parser("list", parents=[common],
                                  help="the conversations: id, title, messages, date")
    listing.add_argument("--json", action="store_true", help="print one JSON array")


def run_exchange_command(args: argparse.Namespace) -> int:
    from chatdesk.core.exchange import ExchangeError
    from chatdesk.core.history import HistoryError, HistoryStore
    from chatdesk.core.paths import resolve_paths

    database = resolve_paths(args.data_dir).database
    if args.command == "export" and args.format == "pdf":
        from chatdesk.pdf_render import register  # Qt: loaded only when a PDF is asked for

        register()
    if args.command == "export":
        if (args.id is None) == (not args.all):
            return _fail("give a conversation ID or --all, not both", EXIT_USAGE)
        if args.all and not args.out:
            return _fail("--all needs --out DIR", EXIT_USAGE)
    if args.command != "import" and not database.exists():
        if args.command == "list":  # nothing yet: do not create a history just to list it
            print("[]" if args.json else "(no conversations)")
            return 0
        return _fail(f"there is no history at {database}")
    try:
        with HistoryStore.open(database) as history:
            if args.command == "list":
                return _list_conversations(history, args.json)
            if args.command == "import":
                from chatdesk.core.exchange import import_file

                for conversation_id in import_file(history, Path(args.path)):
                    print(conversation_id)
                return 0
            return _export(history, args)
    except ExchangeError as error:
        return _fail(str(error))
    except HistoryError as error:
        return _fail(getattr(error, "reason", None) or str(error))


def _export(history: Any, args: argparse.Namespace) -> int:
    from chatdesk.core.exchange import export_all, export_conversation

    if args.all:
        for path in export_all(history, args.format, Path(args.out)):
            print(path)
        return 0
    out = Path(args.out) if args.out else Path.cwd()
    if args.out and args.out.endswith(("/", os.sep)):  # "--out exports/": a folder
        out.mkdir(parents=True, exist_ok=True)
    print(export_conversation(history, args.id, args.format, out))
    return 0


def _list_conversations(history: Any, as_json: bool) -> int:
    from chatdesk.core.timestamps import format_timestamp, usable_timestamp

    # a stored time out of range (an old import, a hand edit) is null, never an error
    rows = [{"id": c.id, "title": c.title, "messages": history.message_count(c.id),
             "created_at": usable_timestamp(c.created_at),
             "updated_at": usable_timestamp(c.updated_at), "pinned": c.pinned,
             "model": c.model} for c in history.list_conversations()]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("(no conversations)")
        return 0
    table = [("ID", "MESSAGES", "UPDATED", "TITLE")]
    for row in rows:
        when = format_timestamp(row["updated_at"], "%Y-%m-%d %H:%M")
        title = " ".join(row["title"].split())
        table.append((str(row["id"]), str(row["messages"]), when,
                      title if len(title) <= 70 else title[:69] + "…"))
    _print_table(table)
    return 0
