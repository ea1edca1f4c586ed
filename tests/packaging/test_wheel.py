"""`pip install chatdesk-*.whl` (not editable) gives a working chatdesk with its catalog
and assets inside the wheel.

The wheel is built for real. Installing its dependencies from PyPI would compile
llama-cpp-python for minutes, so the clean venv borrows this venv's site-packages for the
dependencies through a .pth file (added after site-packages' own, so the wheel's chatdesk
wins), and nothing of the source tree is on its path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging_helpers import ROOT

from chatdesk import __version__

# The session's first test also waits for the bundle (or wheel) to build; llama.cpp crawls
# when other work shares the cores. These are hang guards, not speed limits.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(2400)]

WHEEL_FILES = ("chatdesk/models.json", "chatdesk/assets/chatdesk.svg",
               "chatdesk/assets/chatdesk.desktop", "chatdesk/assets/chatdesk.metainfo.xml",
               "chatdesk/assets/chatdesk-mime.xml", "chatdesk/assets/icons/chatdesk-16.png",
               "chatdesk/assets/icons/chatdesk-512.png")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (built,) = out.glob(f"chatdesk-{__version__}-*.whl")
    return built


def test_wheel_carries_the_catalog_and_the_assets(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in WHEEL_FILES:
        assert name in names, name
    assert not any(name.startswith(("tests/", "packaging/")) for name in names)


def test_installed_wheel_runs(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    # Nothing of the source tree: with it on PYTHONPATH pip would take its chatdesk.egg-info
    # for an installed chatdesk 0.1.0 and skip the wheel.
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=env)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        env=env, capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz-borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)], env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    where = subprocess.run([python, "-c", "import chatdesk; print(chatdesk.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)  # the wheel's, not the source's
    version = subprocess.run([venv / "bin" / "chatdesk", "--version"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"chatdesk {__version__}\nllama-cpp-python ")
    listed = subprocess.run([venv / "bin" / "chatdesk", "models", "list", "--json",
                             "--data-dir", str(tmp_path / "data")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    catalog = json.loads((ROOT / "models.json").read_text("utf-8"))
    assert len(json.loads(listed.stdout)["catalog"]) == len(catalog["models"])
    icons = subprocess.run([python, "-c", "from chatdesk.core.assets import icon_files; "
                            "print(len(icon_files()))"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert icons.stdout.strip() == "7"
