"""The models directory: listing, importing, removing, and the catalog-id registry."""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections import namedtuple
from pathlib import Path

import pytest
from gguf_builder import UINT32, small_model

from chatdesk.core import model_store
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.model_store import (
    REGISTRY_NAME,
    InstalledModel,
    catalog_id_for,
    find_installed_copy,
    import_model,
    installed_models,
    record_catalog_id,
    remove_model,
)


def gguf_bytes(context: int = 4096) -> bytes:
    """A valid synthetic GGUF; ``context`` varies the bytes so files can differ."""
    builder = small_model()
    builder.kvs = [(k, t, context if k.endswith("context_length") else v)
                   for k, t, v in builder.kvs]
    assert any(k == "llama.context_length" and t == UINT32 for k, t, _ in builder.kvs)
    return builder.build()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- listing -------------------------------------------------------------------------------


def test_installed_models_lists_only_finished_gguf_files(tmp_path):
    for name in ["b.gguf", "A.gguf", ".hidden.gguf", ".m.gguf.x1y2.tmp", "c.gguf.part",
                 "c.gguf.incomplete", "readme.txt", "model.GGUF.bak", REGISTRY_NAME]:
        (tmp_path / name).write_bytes(b"x" * len(name))
    (tmp_path / "dir.gguf").mkdir()
    assert installed_models(tmp_path) == [
        InstalledModel(tmp_path / "A.gguf", 6, None),
        InstalledModel(tmp_path / "b.gguf", 6, None),
    ]


def test_installed_models_of_a_missing_dir_is_empty(tmp_path):
    assert installed_models(tmp_path / "nope") == []


def test_installed_models_carry_their_catalog_id(tmp_path):
    write(tmp_path / "q.gguf", b"12345")
    write(tmp_path / "mine.gguf", b"1")
    record_catalog_id(tmp_path, "q.gguf", "qwen2.5-0.5b-instruct-q4_k_m")
    record_catalog_id(tmp_path, "gone.gguf", "old-entry")  # no such file: not listed
    assert installed_models(tmp_path) == [
        InstalledModel(tmp_path / "mine.gguf", 1, None),
        InstalledModel(tmp_path / "q.gguf", 5, "qwen2.5-0.5b-instruct-q4_k_m"),
    ]


# -- the catalog-id registry ---------------------------------------------------------------


def test_record_and_read_back(tmp_path):
    assert catalog_id_for(tmp_path, "a.gguf") is None
    record_catalog_id(tmp_path, "a.gguf", "model-a")
    record_catalog_id(tmp_path, "b.gguf", "model-b")
    record_catalog_id(tmp_path, "a.gguf", "model-a2")  # re-downloaded from another entry
    assert catalog_id_for(tmp_path, "a.gguf") == "model-a2"
    assert catalog_id_for(tmp_path, "b.gguf") == "model-b"
    data = json.loads((tmp_path / REGISTRY_NAME).read_text("utf-8"))
    assert data == {"schema_version": 1, "files": {"a.gguf": "model-a2", "b.gguf": "model-b"}}
    assert names(tmp_path) == [REGISTRY_NAME]  # atomic: no temp file left


def test_registry_refuses_bad_names_and_ids(tmp_path):
    for bad_name in ["../a.gguf", "sub/a.gguf", "a\\b.gguf", "", ".."]:
        with pytest.raises(ValueError):
            record_catalog_id(tmp_path, bad_name, "ok")
    for bad_id in ["Has Space", "../x", "", "UPPER"]:
        with pytest.raises(ValueError):
            record_catalog_id(tmp_path, "a.gguf", bad_id)
    assert not (tmp_path / REGISTRY_NAME).exists()


@pytest.mark.parametrize("content", ["{not json", "[]", '{"files": []}', "\udcff"])
def test_damaged_registry_reads_as_empty_and_is_rewritten(tmp_path, caplog, content):
    (tmp_path / REGISTRY_NAME).write_text(content, "utf-8", errors="surrogateescape")
    write(tmp_path / "a.gguf", b"x")
    with caplog.at_level(logging.WARNING, logger="chatdesk.core.model_store"):
        assert catalog_id_for(tmp_path, "a.gguf") is None
        assert installed_models(tmp_path)[0].catalog_id is None
    assert "model registry" in caplog.text
    record_catalog_id(tmp_path, "a.gguf", "model-a")
    assert catalog_id_for(tmp_path, "a.gguf") == "model-a"


def test_concurrent_records_are_all_kept(tmp_path):
    def worker(i: int) -> None:
        record_catalog_id(tmp_path, f"m{i}.gguf", f"id-{i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {f"m{i}.gguf": catalog_id_for(tmp_path, f"m{i}.gguf") for i in range(16)} == {
        f"m{i}.gguf": f"id-{i}" for i in range(16)}


# -- importing -----------------------------------------------------------------------------


def test_import_copies_a_valid_gguf(tmp_path):
    source = write(tmp_path / "src" / "Tiny.gguf", gguf_bytes())
    models = tmp_path / "models"
    target = import_model(source, models)
    assert target == models / "Tiny.gguf"
    assert target.read_bytes() == source.read_bytes()
    assert source.exists()  # a copy, not a move
    assert names(models) == ["Tiny.gguf"]
    assert installed_models(models) == [InstalledModel(target, len(gguf_bytes()), None)]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"PK\x03\x04 this is a zip file", "not a GGUF"),
    (gguf_bytes()[:-10], "truncated"),
])
def test_import_checks_the_header_first(tmp_path, data, reason):
    source = write(tmp_path / "bad.gguf", data)
    models = tmp_path / "models"
    with pytest.raises(InvalidModelFileError, match=reason):
        import_model(source, models)
    assert not models.exists() or names(models) == []


def test_import_of_a_missing_file(tmp_path):
    with pytest.raises(InvalidModelFileError, match="No model file"):
        import_model(tmp_path / "nope.gguf", tmp_path / "models")


def test_import_never_overwrites_a_different_file(tmp_path):
    models = tmp_path / "models"
    first = write(models / "m.gguf", gguf_bytes(4096))
    original = first.read_bytes()
    second = import_model(write(tmp_path / "a" / "m.gguf", gguf_bytes(8192)), models)
    third = import_model(write(tmp_path / "b" / "m.gguf", gguf_bytes(2048)), models)
    assert (second.name, third.name) == ("m-2.gguf", "m-3.gguf")
    assert first.read_bytes() == original
    assert second.read_bytes() == gguf_bytes(8192)
    assert third.read_bytes() == gguf_bytes(2048)
    assert names(models) == ["m-2.gguf", "m-3.gguf", "m.gguf"]


def test_import_of_an_identical_file_reuses_it(tmp_path):
    models = tmp_path / "models"
    write(models / "m.gguf", gguf_bytes(4096))
    write(models / "m-2.gguf", gguf_bytes(8192))
    before = (models / "m-2.gguf").stat().st_mtime_ns
    again = import_model(write(tmp_path / "x" / "m.gguf", gguf_bytes(8192)), models)
    assert again == models / "m-2.gguf"
    assert (models / "m-2.gguf").stat().st_mtime_ns == before  # not rewritten
    assert names(models) == ["m-2.gguf", "m.gguf"]


def test_import_of_the_same_content_under_another_name_copies_nothing(tmp_path):
    """Issue 17: importing gemma.gguf renamed to my-model.gguf copied 241 MiB again."""
    models = tmp_path / "models"
    installed = write(models / "gemma.gguf", gguf_bytes(8192))
    write(models / "other.gguf", gguf_bytes(4096))
    source = write(tmp_path / "downloads" / "my-model.gguf", gguf_bytes(8192))
    assert find_installed_copy(source, models) == installed
    assert import_model(source, models) == installed
    assert names(models) == ["gemma.gguf", "other.gguf"]
    different = write(tmp_path / "downloads" / "same-size.gguf", gguf_bytes(8192)[:-1] + b"!")
    assert find_installed_copy(different, models) is None


def test_importing_an_installed_file_is_a_no_op(tmp_path):
    models = tmp_path / "models"
    installed = write(models / "m.gguf", gguf_bytes())
    assert import_model(installed, models) == installed
    assert names(models) == ["m.gguf"]


@pytest.mark.parametrize(("source_name", "installed_name"), [
    ("Upper.GGUF", "Upper.gguf"),
    (".hidden.gguf", "hidden.gguf"),
    ("no-extension", "no-extension.gguf"),
])
def test_imported_names_are_ones_the_list_shows(tmp_path, source_name, installed_name):
    target = import_model(write(tmp_path / source_name, gguf_bytes()), tmp_path / "models")
    assert target.name == installed_name
    assert [m.path for m in installed_models(tmp_path / "models")] == [target]


def test_import_checks_free_disk_space_first(tmp_path, monkeypatch):
    source = write(tmp_path / "m.gguf", gguf_bytes())
    models = tmp_path / "models"
    usage = namedtuple("usage", "total used free")
    seen = []

    def tiny_disk(path):
        seen.append(Path(path))
        return usage(10**9, 10**9 - 1000, 1000)

    monkeypatch.setattr(model_store.shutil, "disk_usage", tiny_disk)
    with pytest.raises(OSError, match="Not enough free disk space") as info:
        import_model(source, models)
    assert info.value.errno == errno.ENOSPC
    assert "m.gguf" in str(info.value) and str(models) in str(info.value)
    assert seen == [models]
    assert names(models) == []  # nothing started


def test_check_free_space_of_a_dir_not_yet_created(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    asked = []
    monkeypatch.setattr(model_store.shutil, "disk_usage",
                        lambda p: asked.append(Path(p)) or usage(10**12, 0, 10**12))
    model_store.check_free_space(tmp_path / "a" / "b", 5 * 10**9)
    assert asked == [tmp_path]
    with pytest.raises(OSError, match=r"needs 1862\.6 GiB"):  # figures.format_bytes
        model_store.check_free_space(tmp_path / "a", 2 * 10**12)


def test_a_failed_copy_leaves_nothing(tmp_path, monkeypatch):
    source = write(tmp_path / "m.gguf", gguf_bytes())
    models = tmp_path / "models"
    monkeypatch.setattr(model_store, "COPY_CHUNK", 97)  # a size the header reader never asks
    real_open = Path.open
    calls = {"reads": 0}

    class Failing:
        def __init__(self, handle):
            self.handle = handle

        def __getattr__(self, name):  # tell, seek, ... for the header reader
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, n=-1):
            calls["reads"] += n == 97
            if calls["reads"] == 3:
                raise OSError(errno.EIO, "Input/output error")
            return self.handle.read(n)

    def fake_open(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return Failing(handle) if self == source and "b" in mode else handle

    monkeypatch.setattr(Path, "open", fake_open)
    with pytest.raises(OSError, match="Input/output"):
        import_model(source, models)
    assert names(models) == []  # no half file, no temp file


# -- removing ------------------------------------------------------------------------------


def test_remove_by_file_name_with_or_without_extension(tmp_path):
    write(tmp_path / "a.gguf", b"a")
    write(tmp_path / "b.gguf", b"b")
    write(tmp_path / "b.gguf.part", b"partial download")
    assert remove_model(tmp_path, "a.gguf") == tmp_path / "a.gguf"
    assert remove_model(tmp_path, "b") == tmp_path / "b.gguf"
    assert names(tmp_path) == ["b.gguf.part"]  # partials belong to the downloader


def test_remove_by_catalog_id_forgets_the_record(tmp_path):
    write(tmp_path / "Qwen.gguf", b"q")
    record_catalog_id(tmp_path, "Qwen.gguf", "qwen-small")
    record_catalog_id(tmp_path, "other.gguf", "other")
    assert remove_model(tmp_path, "qwen-small") == tmp_path / "Qwen.gguf"
    assert not (tmp_path / "Qwen.gguf").exists()
    assert catalog_id_for(tmp_path, "Qwen.gguf") is None
    assert catalog_id_for(tmp_path, "other.gguf") == "other"


@pytest.mark.parametrize("key", ["nope", "../outside.gguf", ".hidden.gguf", "c.gguf.part",
                                 "gone-entry"])
def test_remove_unknown_says_what_is_installed(tmp_path, key):
    models = tmp_path / "models"
    write(models / "a.gguf", b"a")
    write(models / ".hidden.gguf", b"h")
    write(models / "c.gguf.part", b"c")
    write(tmp_path / "outside.gguf", b"o")
    record_catalog_id(models, "gone.gguf", "gone-entry")  # recorded but deleted by hand
    with pytest.raises(FileNotFoundError, match=r"No installed model .*Installed: a\.gguf"):
        remove_model(models, key)
    assert names(models) == [".chatdesk-models.json", ".hidden.gguf", "a.gguf", "c.gguf.part"]
    assert (tmp_path / "outside.gguf").exists()


def test_remove_from_a_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="Installed: none"):
        remove_model(tmp_path / "nope", "x")


def test_ambiguous_catalog_id_is_refused(tmp_path):
    for name in ("x.gguf", "x-2.gguf"):
        write(tmp_path / name, b"x")
        record_catalog_id(tmp_path, name, "same-entry")
    with pytest.raises(ValueError, match="Several installed models"):
        remove_model(tmp_path, "same-entry")
    assert remove_model(tmp_path, "x-2.gguf") == tmp_path / "x-2.gguf"
    assert remove_model(tmp_path, "same-entry") == tmp_path / "x.gguf"
