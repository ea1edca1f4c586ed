"""Child processes that meet file permissions as a user does, and read-only fixtures.

Tests (and CI) run as root, and root writes through any file mode, so ``chmod`` alone
cannot show what a user with a read-only history sees. A child started with
``**UNPRIVILEGED`` has CAP_DAC_OVERRIDE dropped from its capability bounding set: it
still reads everything (the interpreter under /root starts), but a file or folder
without a write bit refuses it, and ``os.access(..., W_OK)`` says so. As a normal user
no help is needed and the keywords are empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def _drop_write_override() -> None:  # runs in the child, between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


IS_ROOT = sys.platform != "win32" and os.geteuid() == 0
UNPRIVILEGED: dict[str, Any] = {"preexec_fn": _drop_write_override} if IS_ROOT else {}

needs_posix_permissions = pytest.mark.skipif(
    (sys.platform != "linux" and IS_ROOT) or sys.platform == "win32",
    reason="read-only files and folders are simulated with POSIX modes (and, as root, "
           "Linux capabilities)")


@contextlib.contextmanager
def made_read_only(path: Path) -> Iterator[Path]:
    """Take the write bits off ``path`` (a file or a folder) for the block, then restore."""
    mode = path.stat().st_mode
    path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield path
    finally:
        path.chmod(mode)
