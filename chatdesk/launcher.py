"""The `chatdesk` command: CLI subcommands go to chatdesk.cli, anything else opens the app.

Kept apart from app.py so that `chatdesk bench --json` and friends decide what to import
themselves, and a plain launch imports Qt only once it is needed.

Only a known command, the window's own options, Qt's options (``-platform offscreen``,
``-style fusion``...) and a .gguf file may open the window: anything else (a typo such as
`chatdesk chta`, an option that does not exist) is an error with a hint and exit status 2,
never a window that silently ignores it (issue 17, bug 10).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
def main(argv: Sequence[str] | None = None) -> int:
    from chatdesk.cli import CLI_COMMANDS

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CLI_COMMANDS:
        from chatdesk.cli import main as cli_main

        return cli_main(args)
    if "-h" in args or "--help" in args:
        print(help_text())
        return 0
    problem = window_argument_problem(args)
    if problem is not None:
        print(f"chatdesk: {problem}\n(see: chatdesk --help)", file=sys.stderr)
        return EXIT_USAGE
    from chatdesk.app import main as app_main

    return app_main(args)


def window_argument_problem(args: Sequence[str]) -> str | None:
    """Why ``args`` cannot open the window (an unknown command or option), or None."""
    from chatdesk.app import QT_FLAGS, QT_OPTIONS_WITH_VALUE, gui_parser, without_qt_options
    from chatdesk.cli import CLI_COMMANDS, unknown

    parser = gui_parser()
    parsed, extra = parser.parse_known_args(without_qt_options(args))
    file = getattr(parsed, "file", None)  # a positional model file, where the app takes one
    words = [file] if file else []
    options: list[str] = []
    index = 0
    while index < len(extra):
        token = extra[index]
        index += 1
        if token.startswith("-") and len(token) > 1:
            name, has_value, _value = token.lstrip("-").partition("=")
            if name in QT_OPTIONS_WITH_VALUE:
                index += 0 if has_value else 1
            elif name not in QT_FLAGS:
                options.append(token.split("=", 1)[0])
        else:
            words.append(token)
    # A mistyped command first: `chatdesk chta --json hi` is about "chta", not "--json".
    for word in words:
        if not _model_file(word):
            return unknown("command", word, list(CLI_COMMANDS))
    if options:
        return unknown("option", options[0], _option_strings(parser))
    return None


def _model_file(word: str) -> bool:
    """A .gguf to open, as a file manager passes it (the window says if it is bad)."""
    return word.lower().endswith(".gguf") or Path(word).is_file()


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    import re

    return re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", parser.format_usage())


def help_text() -> str:
    """`chatdesk --help`: the commands, one line each, then the window's options."""
    from chatdesk.app import gui_parser
    from chatdesk.cli import command_summaries

    summaries = command_summaries()
    width = max(len(name) for name, _ in summaries) + 2
    lines = []
    for name, summary in summaries:
        wrapped = textwrap.wrap(summary, 78 - width - 2) or [""]
        lines.append(f"  {name.ljust(width)}{wrapped[0]}")
        lines += [" " * (width + 2) + more for more in wrapped[1:]]
    parser = gui_parser()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = "chatdesk [options]            open the window\n       chatdesk COMMAND ...  " \
                   "         run a command (chatdesk COMMAND --help)"
    parser.description = ("Chat with local models. With no command, chatdesk opens its "
                          "window.\n\ncommands:\n" + "\n".join(lines))
    return parser.format_help().rstrip() + "\n\nQt's own options (-platform, -style, ...) " \
                                           "are passed to the window."
