"""Headless commands on the same core as the app: `chatdesk bench ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

CLI_COMMANDS = ("bench",)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where models, history, settings and logs live "
                        "(default: $CHATDESK_DATA_DIR, else the platform's user dirs)")
    parser = argparse.ArgumentParser(prog="chatdesk")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", parents=[common],
                                help="measure raw llama.cpp against the app pipeline")
    bench.add_argument("--model", help="a .gguf file (default: the bundled offline model)")
    bench.add_argument("--tokens", type=int, default=128, help="tokens to generate per run")
    bench.add_argument("--threads", type=int, default=None, help="CPU threads for llama.cpp")
    bench.add_argument("--runs", type=int, default=5, help="alternating raw/app pairs")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "bench":
        from chatdesk.bench import run_bench_command

        return run_bench_command(args)
    return 2
