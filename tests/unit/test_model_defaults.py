"""Catalog sampling defaults on a model load, and which catalog entry a file came from."""

from __future__ import annotations

import dataclasses

import pytest

from chatdesk.core.catalog import Catalog, CatalogEntry, load_catalog, packaged_catalog_path
from chatdesk.core.model_defaults import sampling_for_load, stored_sampling
from chatdesk.core.model_store import catalog_entry_for, record_catalog_id
from chatdesk.core.sampling import SamplingParams

USER_DEFAULT = SamplingParams(temperature=0.3, top_k=50, max_tokens=300, seed=7)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(packaged_catalog_path())


@pytest.fixture(scope="module")
def qwen(catalog: Catalog) -> CatalogEntry:
    entry = catalog.get("qwen2.5-0.5b-instruct-q4_k_m")
    assert entry is not None and entry.default_sampling
    return entry


def test_a_chat_without_sampling_gets_the_catalog_values_on_the_user_default(qwen):
    params = sampling_for_load(qwen, None, USER_DEFAULT)
    assert (params.temperature, params.top_p, params.top_k, params.repeat_penalty) == (
        0.7, 0.8, 20, 1.05)  # Qwen's published values
    # What the catalog does not set stays the user's.
    assert params.max_tokens == 300 and params.seed == 7


def test_a_conversation_with_its_own_sampling_keeps_it(qwen):
    own = SamplingParams(temperature=1.2, top_k=5)
    assert sampling_for_load(qwen, own, USER_DEFAULT) is own


def test_no_entry_or_no_recommended_values_is_the_user_default(catalog, qwen):
    assert sampling_for_load(None, None, USER_DEFAULT) is USER_DEFAULT
    plain = dataclasses.replace(qwen, default_sampling={})
    assert sampling_for_load(plain, None, USER_DEFAULT) is USER_DEFAULT


def test_stored_sampling_of_a_conversation():
    assert stored_sampling(None) is None
    assert stored_sampling({}) is None
    assert stored_sampling({"sampling": {}}) is None
    own = SamplingParams(temperature=1.1, stop=("END",))
    assert stored_sampling({"sampling": own.to_dict()}) == own
    assert stored_sampling({"sampling": {"temperature": 99}}) is None  # out of range


def test_the_entry_comes_from_the_recorded_id_else_the_file_name(tmp_path, catalog, qwen):
    models = tmp_path / "models"
    models.mkdir()
    assert catalog_entry_for(catalog, models, qwen.filename) == qwen
    assert catalog_entry_for(catalog, models, "my-own.gguf") is None
    # A file downloaded from an entry keeps that entry even under another name.
    (models / "renamed.gguf").write_bytes(b"GGUF")
    record_catalog_id(models, "renamed.gguf", "llama-3.2-1b-instruct-q4_k_m")
    entry = catalog_entry_for(catalog, models, "renamed.gguf")
    assert entry is not None and entry.id == "llama-3.2-1b-instruct-q4_k_m"
    assert sampling_for_load(entry, None, USER_DEFAULT).temperature == 0.6
