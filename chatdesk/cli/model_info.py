"""`chatdesk model-info [PATH] [--json]`: a model's card from its GGUF file alone.

The same numbers the window's model card shows (core/model_card.py): architecture, layers,
heads, sizes, parameters (the sum of the tensors' element counts), quantization types by
share of the bytes, and the arithmetic of one token: FLOPs, weight bytes read and KV-cache
bytes per token. No weights are loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chatdesk.cli.common import EXIT_USAGE, fail


def add_model_info_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    info = commands.add_parser(
        "model-info", parents=[common],
        help="a model's card from its GGUF file: sizes, parameters, quantization, "
             "FLOPs and bytes per token",
        description="Reads the GGUF header and tensor table (no weights are loaded).")
    info.add_argument("path", nargs="?", help="a .gguf file (default: the bundled model)")
    info.add_argument("--context", type=int, default=0,
                      help="tokens of context for the attention term of flops_per_token "
                           "(default 0)")
    info.add_argument("--json", action="store_true", help="print one JSON object")


def run_model_info_command(args: argparse.Namespace) -> int:
    from chatdesk.core.bundled_model import ensure_bundled_model
    from chatdesk.core.gguf_file import InvalidModelFileError
    from chatdesk.core.hood_figures import describe_card
    from chatdesk.core.model_card import read_model_card
    from chatdesk.core.paths import resolve_paths

    if args.context < 0:
        return fail("--context must be 0 or more", EXIT_USAGE)
    if args.path:
        path: Path | None = Path(args.path).expanduser()
    else:
        try:
            path = ensure_bundled_model(resolve_paths(args.data_dir).ensure().models_dir)
        except OSError as error:
            return fail(f"cannot install the bundled model: {error}")
        if path is None:
            return fail("no PATH given and no bundled model is installed", EXIT_USAGE)
    try:
        card = read_model_card(path)
    except InvalidModelFileError as error:
        return fail(f"{path}: {error}")
    if args.json:
        print(json.dumps(card.to_dict(args.context), ensure_ascii=False, indent=2))
    else:
        for label, value in describe_card(card, args.context):
            print(f"{label:<24} {value}")
    return 0
