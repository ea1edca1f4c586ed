"""The import-linter contracts in pyproject.toml (core is Qt-free; layers never import
upward) hold, and they catch what a grep for `^import PySide6` cannot: an import inside a
function. Proved on a copy of the package, so the real tree is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chatdesk

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")

PACKAGE = Path(chatdesk.__file__).parent
ROOT = PACKAGE.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
        " sys.exit(lint_imports_command())"]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "chatdesk", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("line", "broken"), [
    ("import chatdesk.ui", "chatdesk.core is not allowed to import chatdesk.ui"),
    ("from PySide6.QtCore import QObject", "chatdesk.core is not allowed to import PySide6"),
    ("from chatdesk import worker", "chatdesk.core is not allowed to import chatdesk.worker"),
])
def test_an_upward_import_inside_a_function_breaks_a_contract(tmp_path, line, broken):
    root = _copy(tmp_path)
    module = root / "chatdesk" / "core" / "paths.py"
    module.write_text(module.read_text(encoding="utf-8")
                      + f"\n\ndef sneaky():\n    {line}\n", encoding="utf-8")
    result = _lint(root)
    assert result.returncode == 1
    assert broken in result.stdout
