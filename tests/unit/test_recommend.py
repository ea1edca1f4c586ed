"""The first-run recommendation with fake memory readings, and the Hub reachability check."""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest

from chatdesk.core.catalog import CatalogEntry, load_catalog, packaged_catalog_path
from chatdesk.core.fit import FitVerdict, MemoryInfo
from chatdesk.core.recommend import (
    ASSUMED_BYTES_PER_S,
    RUNTIME_OVERHEAD_BYTES,
    Reach,
    Reachability,
    format_duration,
    hub_reachability,
    parameter_count,
    recommend,
)

GB = 10**9
ONLINE = Reachability(Reach.ONLINE, "test")


@pytest.fixture(scope="module")
def entries() -> tuple[CatalogEntry, ...]:
    catalog = load_catalog(packaged_catalog_path())
    assert not catalog.problems
    return catalog.entries


def memory(available_gb: float, total_gb: float = 16, vram_gb: float | None = None):
    return MemoryInfo(total_ram=int(total_gb * GB), available_ram=int(available_gb * GB),
                      free_vram=None if vram_gb is None else int(vram_gb * GB))


def test_it_fits_the_biggest_model_that_fits_comfortably(entries):
    # 4 GB free: 80 % is 3.2 GB, so the 3B models (2.5 and 2.9 GB) fit, Phi (4.5 GB) not.
    suggestion = recommend(entries, memory(4.0), ONLINE)
    best = suggestion.recommendation
    assert best is not None and suggestion.reason == ""
    assert best.verdict is FitVerdict.FITS
    assert parameter_count(best.entry) == 3e9
    assert best.entry.id == "qwen2.5-3b-instruct-q4_k_m"  # 3B, and needs less than Llama's
    # The catalog has no exact size for it: an upper bound from its RAM need.
    assert not best.size_exact
    assert best.size_bytes == best.entry.ram_required_bytes - RUNTIME_OVERHEAD_BYTES
    assert best.speed_source == "assumed" and best.bytes_per_s == ASSUMED_BYTES_PER_S
    assert best.download_s == pytest.approx(best.size_bytes / ASSUMED_BYTES_PER_S)
    assert best.speed_note() == "assuming 10 MB/s (80 Mbit/s)"


def test_vram_counts_and_a_big_machine_gets_the_biggest_model(entries):
    best = recommend(entries, memory(6, total_gb=32, vram_gb=24), ONLINE).recommendation
    assert best is not None and best.entry.id == "llama-3.1-8b-instruct-q4_k_m"
    assert best.verdict is FitVerdict.FITS


def test_a_measured_speed_replaces_the_assumption_and_an_exact_size_is_used(entries):
    # 1.3 GB free: 80 % = 1.04 GB: only Qwen 0.5B (0.9 GB) fits; its size is exact.
    best = recommend(entries, memory(1.3), ONLINE,
                     measured_bytes_per_s=2_000_000).recommendation
    assert best is not None and best.entry.id == "qwen2.5-0.5b-instruct-q4_k_m"
    assert best.size_exact and best.size_bytes == best.entry.size_bytes
    assert best.speed_source == "measured"
    assert best.download_s == pytest.approx(best.entry.size_bytes / 2_000_000)
    assert best.speed_note() == "at 2 MB/s, the speed of your last download"


def test_tight_is_offered_only_when_nothing_fits_comfortably(entries):
    # 1.0 GB free of 1.4 GB: 80 % of free (0.8 GB) fits nothing; 0.9 GB <= 1.0 GB free is
    # tight; the others exceed free memory and 80 % of total (1.12 GB) too.
    suggestion = recommend(entries, memory(1.0, total_gb=1.4), ONLINE)
    best = suggestion.recommendation
    assert best is not None
    assert best.verdict is FitVerdict.TIGHT
    assert best.entry.id == "qwen2.5-0.5b-instruct-q4_k_m"
    # With that model installed there is nothing left that fits at all.
    nothing = recommend(entries, memory(1.0, total_gb=1.4), ONLINE,
                        installed_ids=[best.entry.id])
    assert nothing.recommendation is None and "No catalog model fits" in nothing.reason


def test_nothing_fits(entries):
    suggestion = recommend(entries, memory(0.3, total_gb=0.5), ONLINE)
    assert suggestion.recommendation is None and not suggestion.offline
    assert suggestion.reason == ("No catalog model fits this machine's free memory (the "
                                 "smallest, Qwen2.5 0.5B Instruct, needs 0.9 GB).")


def test_installed_models_are_not_recommended_again(entries):
    first = recommend(entries, memory(4.0), ONLINE).recommendation
    second = recommend(entries, memory(4.0), ONLINE,
                       installed_ids=[first.entry.id]).recommendation
    assert second is not None and second.entry.id != first.entry.id
    everything = recommend(entries, memory(64, 128), ONLINE,
                           installed_ids=[e.id for e in entries])
    assert everything.recommendation is None and "already installed" in everything.reason


def test_offline_means_no_recommendation(entries):
    suggestion = recommend(entries, memory(64, 128),
                           Reachability(Reach.OFFLINE, "HF_HUB_OFFLINE is set."))
    assert suggestion.recommendation is None and suggestion.offline
    assert suggestion.reason == ("You are offline: the bundled model works without a "
                                 "network.")


def test_unknown_reachability_still_recommends(entries):
    unknown = Reachability(Reach.UNKNOWN, "no answer")
    assert recommend(entries, memory(4.0), unknown).recommendation is not None


def test_ties_in_parameters_go_to_the_smaller_memory_need():
    base = dict(name="m", repo_id="o/r", filename="m.gguf", revision="main", size_bytes=None,
                sha256=None, quantization="Q4_K_M", context_length=4096, license="mit",
                description="d", chat_template_hint=None)
    a = CatalogEntry(id="a", parameters="3B", ram_required_bytes=3 * GB, **base)
    b = dataclasses.replace(a, id="b", ram_required_bytes=2 * GB)
    c = dataclasses.replace(a, id="c", parameters="270M", ram_required_bytes=GB // 2)
    best = recommend([a, b, c], memory(8), ONLINE).recommendation
    assert best is not None and best.entry.id == "b"
    assert parameter_count(c) == 2.7e8
    assert parameter_count(dataclasses.replace(a, parameters="big")) == 0.0


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "about 1 s"), (40, "about 40 s"), (61, "about 2 min"), (3540, "about 59 min"),
    (3599, "about 1 h 00 min"), (3600, "about 1 h 00 min"), (4801, "about 1 h 21 min")])
def test_durations_are_rounded_up(seconds, text):
    assert format_duration(seconds) == text


# --- reachability --------------------------------------------------------------------------


def test_hf_hub_offline_is_offline_without_connecting(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_connect(*_args, **_kwargs):
        raise AssertionError("must not connect")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    result = hub_reachability("https://huggingface.co")
    assert result.reach is Reach.OFFLINE and "HF_HUB_OFFLINE" in result.reason


def test_a_listening_endpoint_is_online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    accepted.start()
    try:
        assert hub_reachability(f"http://127.0.0.1:{port}").reach is Reach.ONLINE
    finally:
        accepted.join(5)
        server.close()


def test_a_refused_connection_is_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()  # nothing listens there now
    result = hub_reachability(f"http://127.0.0.1:{port}")
    assert result.reach is Reach.OFFLINE and f"127.0.0.1:{port}" in result.reason


def test_no_answer_in_time_is_unknown(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def slow(*_args, timeout=None, **_kwargs):
        raise TimeoutError("timed out")  # socket.timeout is TimeoutError since 3.10

    monkeypatch.setattr(socket, "create_connection", slow)
    result = hub_reachability("https://hub.example", timeout_s=0.5)
    assert result.reach is Reach.UNKNOWN and "0.5 s" in result.reason


def test_the_endpoint_comes_from_hf_endpoint(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = []

    def record(address, timeout=None):
        seen.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", record)
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example:8443/")
    assert hub_reachability().reach is Reach.OFFLINE
    assert seen == [("mirror.example", 8443)]


# --- for this machine ----------------------------------------------------------------------


def test_a_first_run_is_when_only_bundled_models_are_installed(tmp_path):
    from chatdesk.core.bundled_model import GEMMA_FILENAME, SMOLLM2_FILENAME
    from chatdesk.core.recommend import only_bundled_models

    models = tmp_path / "models"
    assert only_bundled_models(models)  # nothing yet
    models.mkdir()
    (models / SMOLLM2_FILENAME).write_bytes(b"GGUF")
    (models / GEMMA_FILENAME).write_bytes(b"GGUF")
    assert only_bundled_models(models)
    (models / "qwen2.5-0.5b-instruct-q4_k_m.gguf").write_bytes(b"GGUF")
    assert not only_bundled_models(models)


def test_the_suggestion_for_this_machine_skips_what_is_installed(tmp_path, entries):
    from chatdesk.core.catalog import load_catalog
    from chatdesk.core.model_store import record_catalog_id
    from chatdesk.core.recommend import first_run_suggestion

    catalog = load_catalog(packaged_catalog_path())
    models = tmp_path / "models"
    models.mkdir()
    first = first_run_suggestion(catalog, models, memory=memory(4.0), reachability=ONLINE)
    assert first.recommendation.entry.id == "qwen2.5-3b-instruct-q4_k_m"
    (models / "renamed.gguf").write_bytes(b"GGUF")  # downloaded from that entry
    record_catalog_id(models, "renamed.gguf", "qwen2.5-3b-instruct-q4_k_m")
    (models / "Llama-3.2-3B-Instruct-Q4_K_M.gguf").write_bytes(b"GGUF")  # by file name
    llama = catalog.by_filename("Llama-3.2-3B-Instruct-Q4_K_M.gguf")
    assert llama is not None and llama.parameters == "3B"
    then = first_run_suggestion(catalog, models, memory=memory(4.0), reachability=ONLINE)
    assert parameter_count(then.recommendation.entry) < 3e9
    offline = first_run_suggestion(catalog, models, memory=memory(4.0),
                                   reachability=Reachability(Reach.OFFLINE, "test"))
    assert offline.offline and offline.recommendation is None
