"""install.sh from the unpacked archive into a temporary HOME, and --uninstall."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging_helpers import clean_env

from chatdesk import __version__
from chatdesk.core.assets import ICON_SIZES

# The session's first test also waits for the bundle (or wheel) to build; llama.cpp crawls
# when other work shares the cores. These are hang guards, not speed limits.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(2400)]


def tree(root: Path) -> dict[str, str]:
    """Every path under root with what it is (and where a link points)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            kind = ("link -> " + os.readlink(path) if path.is_symlink()
                    else "dir" if path.is_dir() else f"file {path.stat().st_size}")
            found[str(path.relative_to(root))] = kind
    return found


def install_sh(unpacked: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(["sh", str(unpacked / "install.sh"), *args],
                               env=clean_env(home), cwd=home, capture_output=True, text=True,
                               timeout=300)
    print(f"\ninstall.sh {' '.join(args)}:\n{completed.stdout}{completed.stderr}")
    return completed


def test_install_then_uninstall_leaves_home_as_it_was(unpacked: Path, tmp_path: Path):
    home = tmp_path / "home"
    data = home / ".local" / "share"
    # Things that were there before and must survive: another app's menu entry and
    # icon, and chatdesk's own user data (history, models), which uninstall never touches.
    (data / "applications").mkdir(parents=True)
    (data / "applications" / "other.desktop").write_text("[Desktop Entry]\n")
    (data / "icons" / "hicolor" / "48x48" / "apps").mkdir(parents=True)
    (data / "icons" / "hicolor" / "48x48" / "apps" / "other.png").write_bytes(b"png")
    (data / "chatdesk").mkdir()
    (data / "chatdesk" / "chatdesk.sqlite3").write_bytes(b"history")
    before = tree(home)

    installed = install_sh(unpacked, home)
    assert installed.returncode == 0, installed.stderr
    app = home / ".local" / "lib" / "chatdesk" / "app" / "chatdesk"
    link = home / ".local" / "bin" / "chatdesk"
    assert link.is_symlink() and link.resolve() == app.resolve()
    version = subprocess.run([str(link), "--version"], env=clean_env(home), cwd=home,
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"chatdesk {__version__}\n")

    desktop = data / "applications" / "chatdesk.desktop"
    entry = desktop.read_text("utf-8")
    assert f'Exec="{app}" %f' in entry and "MimeType=application/x-gguf;" in entry
    for size in ICON_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "chatdesk.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "chatdesk.svg").is_file()
    assert (data / "mime" / "packages" / "chatdesk.xml").is_file()
    assert (data / "metainfo" / "invalid.chatdesk.chatdesk.metainfo.xml").is_file()
    if shutil.which("update-mime-database"):  # the MIME database now knows .gguf
        assert (data / "mime" / "application" / "x-gguf.xml").is_file()
        assert "*.gguf" in (data / "mime" / "globs2").read_text("utf-8")
    if shutil.which("desktop-file-validate"):
        validated = subprocess.run(["desktop-file-validate", str(desktop)],
                                   capture_output=True, text=True)
        assert validated.returncode == 0, validated.stdout + validated.stderr

    again = install_sh(unpacked, home)  # installing over an installation replaces it
    assert again.returncode == 0, again.stderr

    removed = install_sh(unpacked, home, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert tree(home) == before


def test_install_refuses_to_overwrite_what_is_not_its_own(unpacked: Path, tmp_path: Path):
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "chatdesk").write_text("someone else's")
    completed = install_sh(unpacked, home)
    assert completed.returncode != 0
    assert "already exists" in completed.stderr and "Traceback" not in completed.stderr
    assert (home / ".local" / "bin" / "chatdesk").read_text() == "someone else's"
    # What it had put there before giving up is cleaned up by --uninstall.
    assert install_sh(unpacked, home, "--uninstall").returncode == 0
    assert tree(home) == {".local": "dir", ".local/bin": "dir", ".local/bin/chatdesk": "file 14"}

