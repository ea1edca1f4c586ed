"""What every headless command shares: the parser that hints at typos, exit codes, and
output made safe for a terminal and for JSON."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from chatdesk.core.paths import AppPaths
    from chatdesk.core.settings import Settings

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`
# C0 controls but tab and newline, DEL and C1: a title holding "\x1b]0;...\x07" set the
# terminal's title through `chatdesk list`; shown as U+FFFD instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"chatdesk: {terminal_safe(message)}", file=sys.stderr)
    return code


def terminal_safe(text: str) -> str:
    """Text from files and the network, with every control character made harmless."""
    return _CONTROL.sub("\ufffd", text)


def json_out(value: Any, **kwargs: Any) -> str:
    """JSON for stdout: json escapes C0 controls itself; C1 (8-bit CSI and friends) too."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, **kwargs))


def print_table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(terminal_safe(str(cell)) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows if i < len(row))
              for i in range(max(len(r) for r in rows))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def local_setup(args: argparse.Namespace) -> tuple[AppPaths, Settings, Path] | int:
    """What a command that runs a local model needs: the data folder (made, logging to
    it), the settings, and ``--model`` or else the bundled model (installed on first use).
    An exit code, with the reason said, when there is no model to run."""
    from chatdesk.core.bundled_model import ensure_bundled_model
    from chatdesk.core.logs import setup_logging
    from chatdesk.core.paths import resolve_paths
    from chatdesk.core.settings import load_settings

    paths = resolve_paths(args.data_dir).ensure()
    setup_logging(paths.logs_dir)
    settings = load_settings(paths.settings_file)
    try:
        model = Path(args.model).expanduser() if args.model else ensure_bundled_model(
            paths.models_dir)
    except OSError as error:
        return fail(f"cannot install the bundled model: {error}")
    if model is None:
        return fail("no model given and no bundled model is installed: pass --model "
                    "FILE.gguf")
    return paths, settings, model
