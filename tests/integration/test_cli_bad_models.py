"""Every CLI command given a malformed model prints one line and fails (issue 18, defect 10).

`chatdesk bench --model BAD.gguf` printed a Python traceback for every malformed file;
`chatdesk models import` already gave one clean line. Now both do, for each kind of bad file.
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "gguf_builder", Path(__file__).parents[1] / "unit" / "gguf_builder.py")
assert _spec is not None and _spec.loader is not None
gguf_builder = importlib.util.module_from_spec(_spec)
sys.modules["gguf_builder"] = gguf_builder  # dataclasses look their module up by name
_spec.loader.exec_module(gguf_builder)


def _head(model: Path, size: int = 1 << 20) -> bytes:
    with model.open("rb") as f:
        return f.read(size)


MAKERS: dict[str, Callable[[Path], bytes]] = {
    "empty": lambda _model: b"",
    "random bytes": lambda _model: bytes(range(256)) * 4096,
    "text file": lambda _model: b"This is not a model, just some notes.\n" * 100,
    "truncated": lambda model: _head(model),
    "bad version": lambda model: _head(model)[:4] + struct.pack("<I", 99) + _head(model)[8:],
    "absurd counts": lambda _model: b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 1 << 60),
    # A header that parses, with tensors llama.cpp does not accept: refused by llama.cpp.
    "synthetic model": lambda _model: gguf_builder.small_model().build(),
}


CASES = [(["bench"], kind) for kind in sorted(MAKERS)] + [
    # import checks the header only (the synthetic model's header is sound)
    (["models", "import"], kind) for kind in sorted(MAKERS) if kind != "synthetic model"]


@pytest.mark.parametrize(("command", "kind"), CASES)
def test_a_malformed_model_gives_one_line_and_a_failure(tmp_path: Path, model_path: Path,
                                                       subprocess_env: dict[str, str],
                                                       kind: str, command: list[str]):
    bad = tmp_path / "BAD.gguf"
    bad.write_bytes(MAKERS[kind](model_path))
    args = ([*command, "--model", str(bad), "--tokens", "2", "--runs", "1"]
            if command == ["bench"] else [*command, str(bad)])
    completed = subprocess.run(
        [sys.executable, "-m", "chatdesk", *args, "--data-dir", str(tmp_path / "data")],
        env=subprocess_env, capture_output=True, text=True, timeout=300)
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    assert len(lines) == 1, completed.stderr[-3000:]
    assert lines[0].startswith("chatdesk"), lines[0]
    assert "BAD.gguf" in lines[0]
    assert completed.stdout == ""
