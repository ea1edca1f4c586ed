"""The first-run card with the real DownloadManager and huggingface_hub client against the
local stand-in for the Hub: recommend, download with progress, switch; offline; failure."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hf_server import FakeHub, payload
from PySide6.QtCore import Qt

from chatdesk.core.catalog import Catalog, load_catalog
from chatdesk.core.fit import FitVerdict, MemoryInfo
from chatdesk.core.model_store import catalog_id_for, installed_models
from chatdesk.core.recommend import Reach, Reachability, first_run_suggestion
from chatdesk.download_manager import DownloadManager
from chatdesk.ui.first_run_card import FirstRunCard

pytestmark = pytest.mark.integration

GB = 1_000_000_000
REPO = "test-org/Tiny-Chat-GGUF"
DATA = b"GGUF" + payload(6 * 1024 * 1024)  # 6 MiB: several progress samples when throttled
ONLINE = Reachability(Reach.ONLINE, "test")
LEFT = Qt.MouseButton.LeftButton
MEMORY = MemoryInfo(total_ram=16 * GB, available_ram=4 * GB, free_vram=None)


def entry(entry_id: str, filename: str, parameters: str, ram: int, **changes) -> dict:
    values = {
        "id": entry_id, "name": entry_id.replace("-", " ").title(), "repo_id": REPO,
        "filename": filename, "revision": "main", "size_bytes": len(DATA),
        "sha256": hashlib.sha256(DATA).hexdigest(), "parameters": parameters,
        "quantization": "Q4_K_M", "context_length": 8192, "ram_required_bytes": ram,
        "license": "apache-2.0", "description": "A test entry.", "chat_template_hint": None,
        "default_sampling": {},
    }
    values.update(changes)
    return values


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_file(REPO, "tiny-chat.gguf", data=DATA)
        server.add_file(REPO, "liar.gguf", data=DATA, sha256="0" * 64)
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server
        assert not server.unexpected, server.unexpected


def make_catalog(tmp_path: Path, *entries: dict) -> Catalog:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": list(entries)}))
    catalog = load_catalog(path)
    assert not catalog.problems
    return catalog


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture
def card(qtbot, models_dir: Path) -> Iterator[FirstRunCard]:
    downloads = DownloadManager(models_dir)
    widget = FirstRunCard(downloads)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.close()
    assert downloads.shutdown()


def test_recommend_download_and_switch(qtbot, tmp_path: Path, hub: FakeHub, models_dir: Path,
                                       card: FirstRunCard):
    catalog = make_catalog(
        tmp_path,
        entry("tiny-chat", "tiny-chat.gguf", "1.5B", 2 * GB),
        entry("too-big", "big.gguf", "70B", 40 * GB),
        entry("smaller", "small.gguf", "0.5B", 1 * GB))
    suggestion = first_run_suggestion(catalog, models_dir, memory=MEMORY, reachability=ONLINE)
    card.set_suggestion(suggestion)
    assert card.title.isVisible() and card.download_button.isVisible()
    assert not card.progress.isVisible() and not card.switch_button.isVisible()
    text = card.text.text()
    assert "<b>Tiny Chat</b> (1.5B parameters, 6.0 MiB) fits this machine" in text
    assert "The download takes about 1 s, assuming 10 MB/s (80 Mbit/s)" in text

    hub.faults.throttle_bps = 12 * 1024 * 1024  # about half a second on loopback
    seen: list[int] = []
    card.downloads.update.connect(lambda _update: seen.append(card.progress.value()))
    qtbot.mouseClick(card.download_button, LEFT)
    assert card.progress.isVisible() and not card.download_button.isVisible()
    qtbot.waitUntil(card.switch_button.isVisible, timeout=60_000)
    assert any(0 < value < 1000 for value in seen), seen  # the bar moved along the way
    assert not card.progress.isVisible()
    assert card.switch_button.text() == "Switch to Tiny Chat"
    installed = models_dir / "tiny-chat.gguf"
    assert installed.read_bytes() == DATA
    assert catalog_id_for(models_dir, "tiny-chat.gguf") == "tiny-chat"

    with qtbot.waitSignal(card.switch_requested, timeout=5_000) as switched:
        qtbot.mouseClick(card.switch_button, LEFT)
    assert switched.args == [str(installed)]

    # Installed now: the next suggestion is the next best model that fits.
    again = first_run_suggestion(catalog, models_dir, memory=MEMORY, reachability=ONLINE)
    assert again.recommendation is not None and again.recommendation.entry.id == "smaller"


def test_offline_is_one_sentence_and_nothing_else(qtbot, tmp_path: Path, hub: FakeHub,
                                                  models_dir: Path, card: FirstRunCard,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    catalog = make_catalog(tmp_path, entry("tiny-chat", "tiny-chat.gguf", "1.5B", 2 * GB))
    with qtbot.waitSignal(card.checked, timeout=10_000):
        card.check(catalog, models_dir)  # the real check: memory, installed, reachability
    assert card.text.text() == ("You are offline: the bundled model works without a "
                                "network.")
    assert card.text.isVisible()
    for widget in (card.title, card.download_button, card.progress, card.status,
                   card.switch_button):
        assert not widget.isVisible()
    assert hub.served == []  # nothing was asked of the Hub


def test_the_real_check_reaches_the_local_hub(qtbot, tmp_path: Path, hub: FakeHub,
                                              models_dir: Path, card: FirstRunCard):
    catalog = make_catalog(tmp_path, entry("tiny-chat", "tiny-chat.gguf", "0.1B", 1))
    with qtbot.waitSignal(card.checked, timeout=10_000):
        card.check(catalog, models_dir)
    assert card.suggestion is not None and card.suggestion.recommendation is not None
    assert card.suggestion.recommendation.verdict is FitVerdict.FITS
    assert card.download_button.isVisible()


def test_a_failed_download_says_why_and_offers_to_try_again(qtbot, tmp_path: Path,
                                                            hub: FakeHub, models_dir: Path,
                                                            card: FirstRunCard):
    catalog = make_catalog(tmp_path, entry("liar", "liar.gguf", "1B", 1 * GB, sha256=None))
    card.set_suggestion(first_run_suggestion(catalog, models_dir, memory=MEMORY,
                                             reachability=ONLINE))
    qtbot.mouseClick(card.download_button, LEFT)
    qtbot.waitUntil(lambda: card.download_button.isVisible(), timeout=60_000)
    assert card.download_button.text() == "Try again"
    assert "sha256" in card.status.text()
    assert not card.switch_button.isVisible() and not card.progress.isVisible()
    assert installed_models(models_dir) == []


def test_nothing_fits_is_one_sentence(qtbot, tmp_path: Path, models_dir: Path,
                                      card: FirstRunCard):
    catalog = make_catalog(tmp_path, entry("huge", "huge.gguf", "400B", 900 * GB))
    card.set_suggestion(first_run_suggestion(catalog, models_dir, memory=MEMORY,
                                             reachability=ONLINE))
    assert card.text.text().startswith("No catalog model fits this machine's free memory")
    assert not card.download_button.isVisible() and not card.title.isVisible()
