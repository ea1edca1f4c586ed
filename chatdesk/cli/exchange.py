"""`chatdesk export`, `import` and `list`: conversations in and out of the history,
through chatdesk.core.exchange."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from chatdesk.cli.common import (
    EXIT_USAGE,
    fail,
    json_out,
    print_table,
    terminal_safe,
)


def add_exchange_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
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
            return fail("give a conversation ID or --all, not both", EXIT_USAGE)
        if args.all and not args.out:
            return fail("--all needs --out DIR", EXIT_USAGE)
    if args.command != "import" and not database.exists():
        if args.command == "list":  # nothing yet: do not create a history just to list it
            print("[]" if args.json else "(no conversations)")
            return 0
        return fail(f"there is no history at {database}")
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
        return fail(str(error))
    except HistoryError as error:
        return fail(getattr(error, "reason", None) or str(error))


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
        print(json_out(rows, ensure_ascii=False, indent=2))
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
    print_table(table)
    return 0
