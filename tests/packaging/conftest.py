"""The packaging tests: the standalone bundle, the wheel, install.sh and the desktop files.

The bundle is built once per session (PyInstaller, a few minutes) by packaging/build.py,
exactly as `make package` runs it but with this venv's Python; its work folder stays in
build/pyinstaller so a second run is faster. The frozen program then runs from a clean
environment: no venv on PATH, HOME and the data dir in temp folders.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging_helpers import ROOT

BUILD_TIMEOUT_S = 1800


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(dist),
         "--work", str(ROOT / "build" / "pyinstaller")],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    print(f"\nbuild.py stdout:\n{completed.stdout}\nstderr (tail):\n{completed.stderr[-3000:]}")
    assert completed.returncode == 0, completed.stderr[-5000:]
    archives = list(dist.glob("chatdesk-*-linux-*.tar.gz"))
    assert len(archives) == 1, list(dist.iterdir())
    return archives[0]


@pytest.fixture(scope="session")
def unpacked(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive unpacked as a user would: its one top folder (app + install.sh)."""
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="tar")
    (top,) = target.iterdir()
    assert top.name == archive.name.removesuffix(".tar.gz")
    return top


@pytest.fixture(scope="session")
def app_dir(unpacked: Path) -> Path:
    """The folder with the `chatdesk` executable (the archive's top folder)."""
    return unpacked

