"""File names from titles are safe on every OS; writes are atomic and never clobber."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from test_exchange_formats import history, make_rich_conversation  # noqa: F401

from chatdesk.core.exchange import export_conversation
from chatdesk.core.exchange.filenames import (
    FALLBACK_NAME,
    MAX_NAME_BYTES,
    MAX_STEM_CHARS,
    filename_for,
    is_reserved,
    safe_stem,
    write_new_file,
)

FORBIDDEN = set('/\\:*?"<>|')


@pytest.mark.parametrize(("title", "expected"), [
    ("Plans: Q3/Q4?", "Plans_ Q3_Q4_"),
    ('a\\b*c?d"e<f>g|h', "a_b_c_d_e_f_g_h"),
    ("line\nbreak\ttab\x00nul\x7fdel", "line break tab nul del"),
    ("trailing dots...", "trailing dots"),
    ("trailing spaces   ", "trailing spaces"),
    ("...hidden", "hidden"),
    ("", FALLBACK_NAME),
    ("   ", FALLBACK_NAME),
    ("///", "___"),
    ("...", FALLBACK_NAME),
    ("CON", "CON_"),
    ("con", "con_"),
    ("Aux.txt", "Aux_.txt"),
    ("CON .md", "CON_.md"),
    ("nul ", "nul_"),
    ("COM1", "COM1_"),
    ("lpt9", "lpt9_"),
    ("COM10", "COM10"),
    ("CONSOLE", "CONSOLE"),
    ("evil\u202etxt.exe", "eviltxt.exe"),
    ("日本語のタイトル 🎌", "日本語のタイトル 🎌"),
    ("שלום עולם", "שלום עולם"),
    ("e\u0301cole", "\u00e9cole"),  # NFC
])
def test_safe_stem(title, expected):
    assert safe_stem(title) == expected


def test_every_name_is_safe_whatever_the_title():
    import random

    rng = random.Random(3)
    alphabet = ['/', '\\', ':', '*', '?', '"', '<', '>', '|', '.', ' ', '\x00', '\x1f', 'a',
                'Z', '日', '🎌', '\u0301', 'CON', 'lpt1', '\u202e', '\n', '-']
    for _ in range(2000):
        title = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        stem = safe_stem(title)
        assert stem and not (FORBIDDEN & set(stem)), (title, stem)
        assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in stem)
        assert not stem.endswith((".", " ")) and not stem.startswith(".")
        assert not is_reserved(stem)


def test_long_titles_are_capped_without_splitting_characters():
    assert len(safe_stem("x" * 10_000)) == MAX_STEM_CHARS
    for title in ("日" * 500, "🎌" * 500, "e\u0301" * 500, "👩‍👩‍👧" * 200):
        stem = safe_stem(title)
        assert len(stem.encode("utf-8")) <= MAX_NAME_BYTES
        assert not stem.endswith(("\u0301", "\u200d"))
    assert filename_for("a" * 500, "html").endswith("a.html")


def test_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "notes.md"
    target.write_text("precious", encoding="utf-8")
    written = [write_new_file(target, f"v{i}".encode()) for i in range(3)]
    assert [p.name for p in written] == ["notes (2).md", "notes (3).md", "notes (4).md"]
    assert target.read_text(encoding="utf-8") == "precious"
    assert (tmp_path / "notes (3).md").read_bytes() == b"v1"


def test_overwrite_true_replaces_atomically(tmp_path):
    target = tmp_path / "notes.md"
    target.write_text("old", encoding="utf-8")
    assert write_new_file(target, b"new", overwrite=True) == target
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]  # no temp left


def test_racing_writers_get_distinct_files(tmp_path):
    target = tmp_path / "same.txt"
    results: list[Path] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        path = write_new_file(target, str(i).encode())
        with lock:
            results.append(path)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 12
    assert sorted(int(p.read_text()) for p in results) == list(range(12))


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_new_file(tmp_path / "x.md", b"data")
    assert list(tmp_path.iterdir()) == []


def test_exporting_twice_to_the_same_path_keeps_both(history, tmp_path):  # noqa: F811
    cid = make_rich_conversation(history)
    first = export_conversation(history, cid, "md", tmp_path / "chat.md")
    second = export_conversation(history, cid, "md", tmp_path / "chat.md")
    assert (first.name, second.name) == ("chat.md", "chat (2).md")
    third = export_conversation(history, cid, "txt", tmp_path / "chat.md", overwrite=True)
    assert third == first and first.read_text(encoding="utf-8").startswith("Rich")
