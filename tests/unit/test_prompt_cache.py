"""The prompt cache's files: round trip, every kind of bad file ignored, the LRU bounds."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from chatdesk.core.prompt_cache import (
    MAGIC,
    SUFFIX,
    PromptCache,
    SavedState,
    fingerprint,
)

FP = fingerprint({"model": "a.gguf", "n_ctx": 4096, "system_prompt": ""})


def state(n_tokens: int = 10, n_bytes: int = 1000, fp: str = FP, seed: int = 1) -> SavedState:
    data = bytes((seed * 31 + i * 7) % 251 for i in range(n_bytes))
    return SavedState(fp, tuple(range(seed, seed + n_tokens)), data)


def cold(cache: PromptCache) -> PromptCache:
    """The same directory as a restarted app sees it: nothing in memory."""
    return PromptCache(cache.directory, cache.max_bytes, memory_bytes=cache.memory_bytes)


@pytest.fixture
def cache(tmp_path: Path) -> PromptCache:
    return PromptCache(tmp_path / "prompt-cache", max_bytes=1 << 20, memory_bytes=1 << 20)


def test_a_state_survives_a_restart(cache: PromptCache):
    saved = state(n_tokens=300, n_bytes=50_000)
    assert cache.put("12", saved)
    assert cache.path_for("12").name == "12" + SUFFIX
    again = cold(cache).get("12", FP)
    assert again == saved
    assert cache.get("12", FP) is cache.get("12", FP)  # from memory


def test_a_different_fingerprint_is_a_miss(cache: PromptCache, caplog):
    cache.put("12", state())
    other = fingerprint({"model": "a.gguf", "n_ctx": 4096, "system_prompt": "Be brief."})
    assert other != FP
    assert cache.get("12", other) is None  # from memory: stale, dropped
    with caplog.at_level(logging.INFO, "chatdesk.core.prompt_cache"):
        assert cold(cache).get("12", other) is None  # from disk
    assert "another model, context, template or system prompt" in caplog.text
    assert cold(cache).get("12", FP) is not None  # the file is still the old state


def test_fingerprint_is_stable_and_order_free():
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(FP) == 64


@pytest.mark.parametrize("damage", ["flip", "truncate_payload", "truncate_header", "append",
                                    "foreign", "empty", "format"])
def test_a_damaged_file_is_ignored_with_a_log_line(cache: PromptCache, caplog, damage: str):
    cache.put("7", state(n_bytes=4000))
    path = cache.path_for("7")
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-100] ^= 0x40
    elif damage == "truncate_payload":
        raw = raw[:-1]
    elif damage == "truncate_header":
        raw = raw[:20]
    elif damage == "append":
        raw += b"x"
    elif damage == "foreign":
        raw = bytearray(b"GGUF" + bytes(200))
    elif damage == "empty":
        raw = bytearray()
    elif damage == "format":
        raw[8] = 99  # a format this build does not know
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.INFO, "chatdesk.core.prompt_cache"):
        assert cold(cache).get("7", FP) is None
    assert "ignored" in caplog.text


def test_a_missing_file_is_a_quiet_miss(cache: PromptCache, caplog):
    with caplog.at_level(logging.INFO, "chatdesk.core.prompt_cache"):
        assert cache.get("nothing", FP) is None
    assert caplog.text == ""


def test_eviction_keeps_the_disk_under_its_bound(tmp_path: Path):
    bound = 20_000
    cache = PromptCache(tmp_path / "c", max_bytes=bound, memory_bytes=0)
    for i in range(12):
        assert cache.put(f"c{i}", state(n_bytes=4_000, seed=i))
        assert cache.disk_bytes() <= bound
        os.utime(cache.path_for(f"c{i}"), ns=(i * 10**9, i * 10**9))  # distinct mtimes
    kept = {p.name for p in cache.files()}
    assert kept and f"c11{SUFFIX}" in kept
    assert f"c0{SUFFIX}" not in kept  # the least recently used went first
    assert len(kept) == bound // (4_000 + 40 + 92)  # header + tokens beside the data


def test_reading_a_state_makes_it_recent(tmp_path: Path):
    cache = PromptCache(tmp_path / "c", max_bytes=3 * 4_200, memory_bytes=0)
    for i in range(3):
        cache.put(f"c{i}", state(n_bytes=4_000, seed=i))
        os.utime(cache.path_for(f"c{i}"), ns=(i * 10**9, i * 10**9))
    assert cache.get("c0", FP) is not None  # c0 is now the most recent
    cache.put("c3", state(n_bytes=4_000, seed=3))
    names = {p.name for p in cache.files()}
    assert f"c0{SUFFIX}" in names and f"c1{SUFFIX}" not in names


def test_a_state_larger_than_the_cache_is_not_written(tmp_path: Path):
    cache = PromptCache(tmp_path / "c", max_bytes=1000, memory_bytes=1 << 20)
    cache.put("old", state(n_bytes=100))
    assert not cache.put("big", state(n_bytes=5000))
    assert not cache.path_for("big").exists()
    assert cache.path_for("old").exists()  # nothing evicted for a state that cannot fit
    assert cache.get("big", FP) is not None  # memory still serves a quick switch back


def test_memory_keeps_the_recent_states_within_its_bound(tmp_path: Path):
    cache = PromptCache(tmp_path / "c", max_bytes=0, memory_bytes=10_000)
    for i in range(4):
        cache.put(f"m{i}", state(n_bytes=3_000, seed=i))
    assert cache.get("m0", FP) is None  # evicted from memory, and the disk is off
    assert all(cache.get(f"m{i}", FP) is not None for i in (1, 2, 3))
    assert not cache.files()


def test_an_unwritable_cache_only_logs(tmp_path: Path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    cache = PromptCache(blocker, max_bytes=1 << 20)
    with caplog.at_level(logging.WARNING, "chatdesk.core.prompt_cache"):
        assert not cache.put("1", state())
    assert "not saved" in caplog.text
    assert cache.get("1", FP) is not None  # memory still has it


def test_unsafe_keys_become_file_names_inside_the_folder(cache: PromptCache):
    for key in ("../../etc/passwd", "a/b", "x" * 300, "é"):
        path = cache.path_for(key)
        assert path.parent == cache.directory and path.name.endswith(SUFFIX)
        cache.put(key, state())
        assert cold(cache).get(key, FP) is not None


def test_the_file_starts_with_the_magic(cache: PromptCache):
    cache.put("5", state())
    assert cache.path_for("5").read_bytes().startswith(MAGIC)
    assert not list(cache.directory.glob(".*"))  # no temp file left behind


def test_a_state_read_from_disk_outlives_its_file_being_replaced_or_evicted(cache: PromptCache):
    """A state from disk is the file's mapped pages (no copy): a save of the same key,
    or an eviction, while the engine restores it must not change or break it."""
    old = state(n_bytes=8_000, seed=1)
    cache.put("9", old)
    mapped = cold(cache).get("9", FP)
    assert mapped is not None and isinstance(mapped.data, memoryview)
    cache.put("9", state(n_bytes=8_000, seed=2))  # replaced atomically
    assert mapped == old
    cache.discard("9")
    assert bytes(mapped.data) == old.data
