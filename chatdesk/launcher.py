"""The `chatdesk` command: CLI subcommands go to chatdesk.cli, anything else opens the app.

Kept apart from app.py so that `chatdesk bench --json` and friends decide what to import
themselves, and a plain launch imports Qt only once it is needed.
"""

from __future__ import annotations

import sys


def main() -> int:
    from chatdesk.cli import CLI_COMMANDS

    if len(sys.argv) > 1 and sys.argv[1] in CLI_COMMANDS:
        from chatdesk.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from chatdesk.app import main as app_main

    return app_main(sys.argv[1:])
