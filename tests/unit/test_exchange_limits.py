"""Zip bombs are refused and big exports are streamed (issue 18, defect 4).

A 1 MB zip expanding to 1 GiB took 9 s and 2.1 GB of memory and imported; a 4 MB one
ended in a MemoryError traceback; a 237 MB conversations.json peaked at 960 MB. The bombs
here are made small: real deflate bombs of a few MiB, and zips whose directory claims
gigabytes (patched bytes), so no test writes gigabytes anywhere.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from test_exchange_chatgpt import _node
from test_exchange_formats import history  # noqa: F401

from chatdesk.core.exchange import ExchangeError, import_file
from chatdesk.core.exchange.reading import MAX_EXPANDED_BYTES, MAX_RATIO

MB = 1 << 20


def _deflate_bomb(path: Path, expanded_mb: int, fill: bytes = b" ") -> Path:
    """A real zip whose conversations.json is ``expanded_mb`` MiB of ``fill`` (1000x+)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("export/conversations.json", "w", force_zip64=True) as member:
        member.write(b"[")
        for _ in range(expanded_mb):
            member.write(fill * MB)
        member.write(b"]")
    return path


def _claiming(path: Path, claimed: int) -> Path:
    """A small valid export zip whose central directory claims ``claimed`` bytes."""
    conversations = json.dumps([{"title": "t", "mapping": {
        "r": _node("r", None, ["u"]), "u": _node("u", "r", [], "user", ["hi"])},
        "current_node": "u"}]).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", conversations)
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, entry + 24, claimed)  # uncompressed size
    path.write_bytes(data)
    return path


def _count(history) -> int:  # noqa: F811
    return len(history.list_conversations(include_deleted=True))


def test_a_deflate_bomb_is_refused_by_its_ratio_without_expanding_it(history, tmp_path):  # noqa: F811
    bomb = _deflate_bomb(tmp_path / "bomb.zip", 64)
    assert bomb.stat().st_size < MB  # 64 MiB in well under 1 MiB: > 100x
    tracemalloc.start()
    try:
        with pytest.raises(ExchangeError, match="zip bomb") as refused:
            import_file(history, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "bomb.zip" in str(refused.value) and "nothing was imported" in str(refused.value)
    assert peak < 4 * MB
    assert _count(history) == 0


def test_a_zip_claiming_gigabytes_is_refused_before_reading(history, tmp_path):  # noqa: F811
    claimed = MAX_EXPANDED_BYTES + MB
    with pytest.raises(ExchangeError, match=r"would expand to 2 GiB.*nothing was imported"):
        import_file(history, _claiming(tmp_path / "claims.zip", claimed))
    assert _count(history) == 0


def test_a_zip_that_lies_about_its_size_is_caught(history, tmp_path):  # noqa: F811
    """Claiming fewer bytes than it holds: zipfile stops at the claim and the CRC fails."""
    with pytest.raises(ExchangeError):
        import_file(history, _claiming(tmp_path / "lies.zip", 40))
    assert _count(history) == 0


def test_a_zip_just_under_the_ratio_still_imports(history, tmp_path):  # noqa: F811
    """Real exports compress 5-20x; even this repetitive one (~160x) is not a bomb."""
    message = "The quick brown fox jumps over the lazy dog. " * 40
    conversations = [{"title": f"chat {i}", "current_node": "a", "mapping": {
        "r": _node("r", None, ["u"]), "u": _node("u", "r", ["a"], "user", [f"q{i}"]),
        "a": _node("a", "u", [], "assistant", [message])}} for i in range(600)]
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
    info = zipfile.ZipFile(path).infolist()[0]
    assert info.file_size > MB and info.file_size < MAX_RATIO * info.compress_size
    assert len(import_file(history, path)) == 600


def _big_export(path: Path, conversations: int) -> Path:
    """An export heavy in what is not kept: long hidden branches, metadata, tool output."""
    noise = "x" * 4000
    items = []
    for i in range(conversations):
        mapping = {"r": _node("r", None, ["u", "old"]),
                   "old": _node("old", "r", [], "user", [noise], note=noise),
                   "u": _node("u", "r", ["tool"], "user", [f"question {i}"]),
                   "tool": _node("tool", "u", ["a"], "tool", [noise],
                                 content_type="tether_browsing_display"),
                   "a": _node("a", "tool", [], "assistant", [f"answer {i}"], extra=noise)}
        items.append({"title": f"chat {i}", "current_node": "a", "mapping": mapping})
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_a_big_export_is_streamed_not_read_whole(history, tmp_path):  # noqa: F811
    path = _big_export(tmp_path / "conversations.json", 1500)
    size = path.stat().st_size
    assert size > 15 * MB
    tracemalloc.start()
    try:
        ids = import_file(history, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == 1500
    # Reading it whole held the bytes, the text and the parsed objects: several times its
    # size. Streamed, the peak is a small share of it.
    print(f"\nimport peak {peak / MB:.1f} MiB for a {size / MB:.1f} MiB file")
    assert peak < size // 3, f"peak {peak / MB:.0f} MiB for a {size / MB:.0f} MiB file"


def test_deep_nesting_is_refused_quickly(history, tmp_path):  # noqa: F811
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 2_000_000)
    with pytest.raises(ExchangeError, match="nested too deeply"):
        import_file(history, path)
