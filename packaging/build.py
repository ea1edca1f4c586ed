"""Build the standalone chatdesk and its archive: `make package` runs this.

    python packaging/build.py [--dist DIR] [--work DIR]

PyInstaller (packaging/chatdesk.spec, one-folder mode) freezes the app with the Python
running this script, then the folder goes into
``DIST/chatdesk-<version>-<os>-<arch>.tar.gz`` (a .zip on Windows), next to install.sh.
Prints the archive's path, its size and the build time. Only the Linux build is tested.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatdesk import __version__  # noqa: E402  (after the path is set)

OS_NAMES = {"linux": "linux", "darwin": "macos", "win32": "windows"}
ARCH_NAMES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def archive_stem() -> str:
    os_name = OS_NAMES.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    return f"chatdesk-{__version__}-{os_name}-{ARCH_NAMES.get(machine, machine)}"


def freeze(dist: Path, work: Path) -> Path:
    """Run PyInstaller; returns the app folder (or the .app on macOS)."""
    import PyInstaller.__main__

    PyInstaller.__main__.run([str(ROOT / "packaging" / "chatdesk.spec"), "--noconfirm",
                              "--clean", "--log-level", "WARN",
                              "--distpath", str(dist), "--workpath", str(work)])
    app = dist / ("chatdesk.app" if sys.platform == "darwin" else "chatdesk")
    link_duplicate_libraries(app)
    return app


def link_duplicate_libraries(app: Path) -> None:
    """llama_cpp opens libllama.so and libmtmd.so needs libllama.so.0: the same bytes twice.
    Make the unversioned name a symlink to the versioned one (4 MB less)."""
    for lib in app.rglob("llama_cpp/lib/lib*.so"):
        versioned = lib.with_name(lib.name + ".0")
        if (not lib.is_symlink() and versioned.is_file()
                and lib.read_bytes() == versioned.read_bytes()):
            lib.unlink()
            lib.symlink_to(versioned.name)


def pack(app: Path, dist: Path) -> Path:
    """The archive: one top folder named like the archive, holding the app (the `chatdesk`
    executable and its _internal folder; a .app on macOS) and install.sh. Symlinks stay
    symlinks."""
    stem = archive_stem()
    if sys.platform == "win32":
        archive = dist / f"{stem}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(app.rglob("*")):
                zipped.write(path, f"{stem}/{path.relative_to(app)}")
        return archive
    archive = dist / f"{stem}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(app, arcname=stem if sys.platform != "darwin" else f"{stem}/{app.name}")
        if sys.platform.startswith("linux"):
            tar.add(ROOT / "packaging" / "install.sh", arcname=f"{stem}/install.sh")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="output folder")
    parser.add_argument("--work", default=str(ROOT / "build" / "pyinstaller"),
                        help="PyInstaller's work folder")
    args = parser.parse_args(argv)
    dist, work = Path(args.dist).resolve(), Path(args.work).resolve()
    started = time.monotonic()
    app = freeze(dist, work)
    frozen_s = time.monotonic() - started
    archive = pack(app, dist)
    total_s = time.monotonic() - started
    folder_mb = sum(p.stat().st_size for p in app.rglob("*") if p.is_file()
                    and not p.is_symlink()) / 1e6
    print(f"{archive}\n  archive {archive.stat().st_size / 1e6:.1f} MB, unpacked "
          f"{folder_mb:.1f} MB; PyInstaller {frozen_s:.0f} s, in all {total_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
