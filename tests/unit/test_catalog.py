"""The model catalog: the shipped file is valid, bad entries are skipped, never fatal."""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path

import pytest

import chatdesk
from chatdesk.core import catalog as catalog_mod
from chatdesk.core.catalog import (
    CATALOG_ENV,
    Catalog,
    catalog_path,
    load_catalog,
    packaged_catalog_path,
)
from chatdesk.core.chat_template import BUILTIN_TEMPLATES
from chatdesk.core.sampling import SamplingParams

REPO_ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "id": "tiny-chat-q4_k_m",
    "name": "Tiny Chat",
    "repo_id": "someone/Tiny-Chat-GGUF",
    "filename": "Tiny-Chat-Q4_K_M.gguf",
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "size_bytes": 123456,
    "sha256": "ab" * 32,
    "parameters": "0.1B",
    "quantization": "Q4_K_M",
    "context_length": 4096,
    "ram_required_bytes": 500_000_000,
    "license": "apache-2.0",
    "description": "A test entry.",
    "chat_template_hint": "chatml",
    "default_sampling": {"temperature": 0.5, "top_k": 20, "stop": ["</s>"]},
}


def entry(**changes):
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return data


def write_catalog(path: Path, models: list, **top) -> Path:
    path.write_text(json.dumps({"schema_version": 1, "models": models, **top}), "utf-8")
    return path


@pytest.fixture(autouse=True)
def no_catalog_env(monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)


# -- the shipped catalog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(packaged_catalog_path())


def test_shipped_catalog_validates_with_zero_problems(shipped):
    assert shipped.problems == ()
    assert 10 <= len(shipped.entries) <= 20
    assert len({e.id for e in shipped.entries}) == len(shipped.entries)
    # Nothing was silently dropped: every listed model became an entry.
    raw = json.loads((REPO_ROOT / "models.json").read_text("utf-8"))
    assert [m["id"] for m in raw["models"]] == [e.id for e in shipped.entries]


def test_packaged_catalog_is_the_repo_root_catalog():
    packaged = Path(chatdesk.__file__).resolve().parent / "models.json"
    assert packaged_catalog_path() == packaged
    assert packaged.read_bytes() == (REPO_ROOT / "models.json").read_bytes()
    assert catalog_path() == packaged_catalog_path()  # the default, with no override


def test_every_template_hint_is_builtin_and_sampling_validates(shipped):
    for e in shipped.entries:
        assert e.chat_template_hint is None or e.chat_template_hint in BUILTIN_TEMPLATES, e.id
        params = SamplingParams.from_dict(e.default_sampling).validated()
        assert isinstance(params, SamplingParams)
        assert e.sampling_params().temperature == e.default_sampling.get("temperature", 0.7)


def test_shipped_hashes_are_pinned_to_a_commit(shipped):
    """A sha256 is only true of one revision: with a branch it would break on re-upload."""
    for e in shipped.entries:
        if e.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.id
            assert re.fullmatch(r"[0-9a-f]{40}", e.revision), e.id
        if e.size_bytes is not None:
            assert e.sha256 is not None, f"{e.id}: a size without a hash"
            assert e.size_bytes < e.ram_required_bytes, e.id


def test_shipped_catalog_spans_tiny_to_8b(shipped):
    ram = sorted(e.ram_required_bytes for e in shipped.entries)
    assert ram[0] <= 1_000_000_000  # runs on any laptop
    assert ram[-1] >= 5_000_000_000  # the 7-8B class
    assert all(e.filename.endswith(".gguf") for e in shipped.entries)
    assert all(e.context_length >= 2048 for e in shipped.entries)


# -- loading a good file -------------------------------------------------------------------


def test_good_entry_loads_with_every_field(tmp_path):
    cat = load_catalog(write_catalog(tmp_path / "c.json", [GOOD], about="ignored"))
    assert cat.problems == ()
    (e,) = cat.entries
    assert e.id == "tiny-chat-q4_k_m" and e.repo_id == "someone/Tiny-Chat-GGUF"
    assert e.size_bytes == 123456 and e.sha256 == "ab" * 32
    assert e.context_length == 4096 and e.ram_required_bytes == 500_000_000
    assert e.chat_template_hint == "chatml"
    assert e.default_sampling == {"temperature": 0.5, "top_k": 20, "stop": ["</s>"]}
    assert e.sampling_params().stop == ("</s>",)
    assert cat.get("tiny-chat-q4_k_m") is e
    assert cat.get("nope") is None
    assert cat.by_filename("Tiny-Chat-Q4_K_M.gguf") is e
    assert cat.path == tmp_path / "c.json"


def test_nullable_fields_may_be_null_or_absent(tmp_path):
    models = [
        entry(id="a", size_bytes=None, sha256=None, chat_template_hint=None,
              default_sampling=None),
        entry(id="b", size_bytes=..., sha256=..., chat_template_hint=...,
              default_sampling=...),
        entry(id="c", sha256="AB" * 32, revision="main"),
    ]
    cat = load_catalog(write_catalog(tmp_path / "c.json", models))
    assert cat.problems == ()
    a, b, c = cat.entries
    for e in (a, b):
        assert (e.size_bytes, e.sha256, e.chat_template_hint, e.default_sampling) == (
            None, None, None, {})
    assert c.sha256 == "ab" * 32  # normalised to lowercase
    assert c.revision == "main"


# -- bad entries are skipped, each with one problem ----------------------------------------


BAD_ENTRIES = [
    ("missing name", entry(name=...), "'name' is missing"),
    ("missing repo_id", entry(repo_id=...), "'repo_id' is missing"),
    ("missing ram", entry(ram_required_bytes=...), "'ram_required_bytes' is missing"),
    ("context as string", entry(context_length="4096"), "'context_length'"),
    ("ram as bool", entry(ram_required_bytes=True), "'ram_required_bytes'"),
    ("ram zero", entry(ram_required_bytes=0), "'ram_required_bytes'"),
    ("size negative", entry(size_bytes=-1), "'size_bytes'"),
    ("size float", entry(size_bytes=1.5), "'size_bytes'"),
    ("name empty", entry(name="  "), "'name' must be a non-empty string"),
    ("license number", entry(license=3), "'license'"),
    ("sha256 short", entry(sha256="ab" * 31), "'sha256'"),
    ("sha256 not hex", entry(sha256="zz" * 32), "'sha256'"),
    ("sha256 number", entry(sha256=12), "'sha256'"),
    ("id uppercase", entry(id="Tiny-Chat"), "'id'"),
    ("id with slash", entry(id="a/b"), "'id'"),
    ("id with space", entry(id="a b"), "'id'"),
    ("id leading dot", entry(id=".hidden"), "'id'"),
    ("repo without owner", entry(repo_id="Tiny-Chat-GGUF"), "'repo_id'"),
    ("filename with folder", entry(filename="sub/x.gguf"), "'filename'"),
    ("filename traversal", entry(filename="..x.gguf"), "'filename'"),
    ("filename not gguf", entry(filename="x.bin"), "'filename'"),
    ("revision with space", entry(revision="my branch"), "'revision'"),
    ("unknown template hint", entry(chat_template_hint="zephyr"), "'chat_template_hint'"),
    ("sampling not object", entry(default_sampling=[1]), "'default_sampling'"),
    ("sampling unknown key", entry(default_sampling={"temprature": 0.5}), "temprature"),
    ("sampling out of range", entry(default_sampling={"top_p": 2.0}), "top_p"),
    ("sampling wrong type", entry(default_sampling={"top_k": "40"}), "top_k"),
    ("sampling stop not list", entry(default_sampling={"stop": "</s>"}), "stop"),
    ("entry not object", ["not", "an", "entry"], "must be a JSON object"),
]


@pytest.mark.parametrize(("case", "bad", "reason"), BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
def test_bad_entry_is_skipped_with_one_problem(tmp_path, caplog, case, bad, reason):
    before = entry(id="before")
    after = entry(id="after")
    with caplog.at_level(logging.WARNING, logger="chatdesk.core.catalog"):
        cat = load_catalog(write_catalog(tmp_path / "c.json", [before, bad, after]))
    assert [e.id for e in cat.entries] == ["before", "after"]
    assert len(cat.problems) == 1, cat.problems
    assert cat.problems[0].startswith("Catalog entry #2")
    assert reason in cat.problems[0]
    assert any(reason in r.getMessage() for r in caplog.records)  # logged, not only returned


def test_duplicate_id_keeps_the_first(tmp_path):
    first = entry(id="dup", name="First")
    second = entry(id="dup", name="Second")
    cat = load_catalog(write_catalog(tmp_path / "c.json", [first, second, entry(id="z")]))
    assert [(e.id, e.name) for e in cat.entries] == [("dup", "First"), ("z", "Tiny Chat")]
    assert len(cat.problems) == 1
    assert "#2" in cat.problems[0] and "already used" in cat.problems[0]


def test_several_bad_entries_give_one_problem_each(tmp_path):
    models = [entry(id="ok"), entry(sha256="x"), entry(id="BAD"), entry(id="ok")]
    cat = load_catalog(write_catalog(tmp_path / "c.json", models))
    assert [e.id for e in cat.entries] == ["ok"]
    assert [p.split(":")[0] for p in cat.problems] == [
        "Catalog entry #2 ('tiny-chat-q4_k_m') was skipped",
        "Catalog entry #3 ('BAD') was skipped",
        "Catalog entry #4 ('ok') was skipped",
    ]


# -- files that cannot be used at all ------------------------------------------------------


@pytest.mark.parametrize(("content", "reason"), [
    (b'{"schema_version": 1, "models": [', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2]", "JSON object"),
    (b'{"models": []}', "schema_version"),
    (b'{"schema_version": "1", "models": []}', "schema_version"),
    (b'{"schema_version": 2, "models": []}', "schema_version 2 is not supported"),
    (b'{"schema_version": 1}', "'models' must be a list"),
    (b'{"schema_version": 1, "models": {"a": 1}}', "'models' must be a list"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_unusable_file_gives_an_empty_catalog_with_one_problem(tmp_path, caplog, content,
                                                               reason):
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="chatdesk.core.catalog"):
        cat = load_catalog(path)
    assert cat.entries == ()
    assert len(cat.problems) == 1
    assert reason in cat.problems[0] and str(path) in cat.problems[0]
    assert caplog.records


def test_missing_and_oversized_files(tmp_path, monkeypatch):
    missing = load_catalog(tmp_path / "nope.json")
    assert missing.entries == () and "does not exist" in missing.problems[0]
    big = write_catalog(tmp_path / "big.json", [GOOD])
    monkeypatch.setattr(catalog_mod, "MAX_CATALOG_BYTES", 100)
    huge = load_catalog(big)
    assert huge.entries == () and "more than a catalog can be" in huge.problems[0]


def test_unreadable_file(tmp_path):
    directory = tmp_path / "a-dir.json"
    directory.mkdir()
    cat = load_catalog(directory)
    assert cat.entries == () and "cannot be read" in cat.problems[0]


# -- which catalog: --catalog > $CHATDESK_CATALOG > packaged --------------------------------


def test_explicit_path_beats_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "env.json"))
    assert catalog_path(tmp_path / "explicit.json") == tmp_path / "explicit.json"
    assert catalog_path(str(tmp_path / "explicit.json")) == tmp_path / "explicit.json"
    assert catalog_path() == tmp_path / "env.json"
    assert catalog_path(None) == tmp_path / "env.json"


def test_empty_environment_variable_means_packaged(monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, "")
    assert catalog_path() == packaged_catalog_path()


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert catalog_path("~/mine.json") == tmp_path / "mine.json"


def test_load_catalog_without_a_path_follows_the_environment(tmp_path, monkeypatch):
    custom = write_catalog(tmp_path / "env.json", [entry(id="from-env")])
    monkeypatch.setenv(CATALOG_ENV, str(custom))
    assert [e.id for e in load_catalog().entries] == ["from-env"]
    monkeypatch.delenv(CATALOG_ENV)
    assert len(load_catalog().entries) >= 10  # back to the shipped one
