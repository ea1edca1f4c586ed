"""Headless commands on the same core as the app: `chatdesk chat MESSAGE`, `chatdesk bench
...`, `chatdesk models ...`, `chatdesk export|import|list` (conversations, through
chatdesk.core.exchange), `chatdesk serve`.

``models`` exists for scripts and tests as much as for people: every failure is one line
on stderr and a non-zero exit, and ``download`` exits 0 only once the file is installed
and its hash verified. Each command's parser and code live in a module of its own here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from chatdesk.cli.chat import add_chat_parser, run_chat_command
from chatdesk.cli.common import EXIT_BROKEN_PIPE, EXIT_USAGE, HintingParser, unknown
from chatdesk.cli.exchange import add_exchange_parsers, run_exchange_command
from chatdesk.cli.generate import add_generate_parser, run_generate_command
from chatdesk.cli.model_info import add_model_info_parser, run_model_info_command
from chatdesk.cli.models import add_models_parser, run_models_command

CLI_COMMANDS = ("chat", "bench", "models", "export", "import", "list", "serve", "generate",
                "model-info")
__all__ = ["CLI_COMMANDS", "build_parser", "command_summaries", "main", "unknown"]


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
    add_chat_parser(commands, common)
    add_models_parser(commands, common)
    add_exchange_parsers(commands, common)
    _add_serve_parser(commands, common)
    add_generate_parser(commands, common)
    add_model_info_parser(commands, common)
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
        from chatdesk.bench.remote import run_remote_bench_command

        return run_remote_bench_command(args)
    if args.command == "chat":
        return run_chat_command(args)
    if args.command == "bench" and args.mode == "ui":
        from chatdesk.bench_ui import run_ui_bench_command

        return run_ui_bench_command(args)
    if args.command == "bench":
        from chatdesk.bench.pipeline import run_bench_command

        return run_bench_command(args)
    if args.command == "models":
        return run_models_command(args)
    if args.command in ("export", "import", "list"):
        return run_exchange_command(args)
    if args.command == "serve":
        from chatdesk.api.headless import run_serve_command

        return run_serve_command(args)
    if args.command == "generate":
        return run_generate_command(args)
    if args.command == "model-info":
        return run_model_info_command(args)
    return EXIT_USAGE
