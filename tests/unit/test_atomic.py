"""Atomic writes: the old file or the new one, never half, and no temp files left."""

from __future__ import annotations

import pytest

from chatdesk.core.atomic import atomic_write_text, atomic_writer


def test_write_creates_the_file_and_its_parents(tmp_path):
    target = tmp_path / "a" / "b" / "notes.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_write_replaces_and_old_content_is_visible_until_done(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("old")
    with atomic_writer(target) as handle:
        handle.write(b"new")
        assert target.read_text() == "old"  # not replaced yet
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_keeps_the_old_file_and_leaves_no_temp(tmp_path, error):
    target = tmp_path / "export.md"
    target.write_text("old content")
    with pytest.raises(error), atomic_writer(target) as handle:
        handle.write(b"half of the new cont")
        raise error("boom")
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.md"]


def test_exception_on_first_write_creates_nothing(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(ValueError), atomic_writer(target):
        raise ValueError
    assert list(tmp_path.iterdir()) == []
