"""chatdesk.core must never import PySide6: it runs headless, from the CLI and in tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import chatdesk.core

CORE_DIR = Path(chatdesk.core.__file__).parent

IMPORT_ALL_THEN_CHECK = """
import pkgutil, sys
import chatdesk.core
names = [m.name for m in pkgutil.walk_packages(chatdesk.core.__path__, "chatdesk.core.")]
for name in names:
    __import__(name)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6"))
assert not qt, f"importing chatdesk.core pulled in {qt}"
print(" ".join(names))
"""


def test_importing_every_core_module_loads_no_qt():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL_THEN_CHECK], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    # The walk really found the package's modules (not an empty loop).
    assert {"chatdesk.core.engine", "chatdesk.core.gguf_file", "chatdesk.core.chat_template",
            "chatdesk.core.paths"} <= imported
    expected = {f"chatdesk.core.{p.stem}" for p in CORE_DIR.glob("*.py")
                if p.stem != "__init__"}
    assert expected <= imported


QT_IMPORT = re.compile(r"^\s*(import|from)\s+(PySide6|shiboken\d*)\b", re.MULTILINE)


def test_no_core_source_mentions_a_qt_import():
    sources = sorted(CORE_DIR.rglob("*.py"))
    assert len(sources) >= 8
    offenders = [str(p.relative_to(CORE_DIR)) for p in sources
                 if QT_IMPORT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_qt_import_pattern_catches_what_it_should():
    for line in ["import PySide6", "from PySide6.QtCore import QObject", "    import shiboken6",
                 "from shiboken6 import isValid"]:
        assert QT_IMPORT.search(f"x = 1\n{line}\n"), line
    assert not QT_IMPORT.search("# PySide6 is never imported here\n")
