"""The Models dialog against a local stand-in for the Hugging Face Hub, with the real
huggingface_hub client underneath: fit badges, a download, cancel and resume, a hash
mismatch, load, import, and the offline search message."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hf_server import FakeHub
from PySide6.QtCore import Qt

from chatdesk.core.catalog import load_catalog
from chatdesk.core.fit import MemoryInfo
from chatdesk.core.model_store import catalog_id_for, installed_models
from chatdesk.core.units import format_bytes
from chatdesk.download_manager import DownloadManager, JobState
from chatdesk.ui.models_dialog import ModelsDialog

pytestmark = pytest.mark.integration

GB = 1_000_000_000
REPO = "test-org/Gemma-3-270M-GGUF"
SMALL = bytes(range(256)) * 4096  # 1 MiB of synthetic bytes
MEMORY = MemoryInfo(total_ram=16 * GB, available_ram=8 * GB, free_vram=None)


def catalog_entry(entry_id: str, filename: str, ram: int, sha256: str | None) -> dict:
    return {
        "id": entry_id, "name": entry_id.replace("-", " ").title(), "repo_id": REPO,
        "filename": filename, "revision": "main", "size_bytes": None, "sha256": sha256,
        "parameters": "0.3B", "quantization": "Q4_K_M", "context_length": 32768,
        "ram_required_bytes": ram, "license": "gemma", "description": "A test entry.",
        "chat_template_hint": None, "default_sampling": {},
    }


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_path: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_file(REPO, "gemma-3-270m-q4_k_m.gguf", path=model_path)
        server.add_file(REPO, "small.gguf", data=SMALL)
        server.add_file(REPO, "liar.gguf", data=SMALL, sha256="0" * 64)  # lies about its hash
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        yield server
        assert not server.unexpected, server.unexpected


@pytest.fixture
def dialog(qtbot, tmp_path: Path, hub: FakeHub) -> Iterator[ModelsDialog]:
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps({"schema_version": 1, "models": [
        catalog_entry("gemma-real", "gemma-3-270m-q4_k_m.gguf", 1 * GB, None),
        catalog_entry("small-tight", "small.gguf", 7 * GB, None),
        catalog_entry("liar-too-big", "liar.gguf", 40 * GB, None),
    ]}))
    catalog = load_catalog(catalog_file)
    assert not catalog.problems
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    downloads = DownloadManager(models_dir)
    window = ModelsDialog(catalog, models_dir, downloads, memory=MEMORY)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()
    assert downloads.shutdown()


def button(dialog: ModelsDialog, entry_id: str):
    return dialog.catalog_buttons[entry_id]


def final_state(dialog: ModelsDialog, job_id: int) -> JobState:
    update = dialog.downloads.last.get(job_id)
    return update.state if update else JobState.QUEUED


def wait_for_state(qtbot, dialog: ModelsDialog, states: tuple[JobState, ...],
                   timeout: int = 60_000) -> JobState:
    def ended() -> bool:
        return any(u.state in states for u in dialog.downloads.last.values())
    qtbot.waitUntil(ended, timeout=timeout)
    return next(u.state for u in dialog.downloads.last.values() if u.state in states)


def test_fit_badges_follow_the_memory_rule(dialog: ModelsDialog):
    verdicts = [dialog.catalog_table.item(row, 5).text() for row in range(3)]
    assert verdicts == ["fits", "tight", "too big"]
    assert format_bytes(8 * GB) in dialog.memory_label.text()  # what the verdicts rest on


def test_download_from_the_catalog_then_load(qtbot, dialog: ModelsDialog, hub: FakeHub,
                                             model_path: Path):
    assert button(dialog, "gemma-real").text() == "Download"
    qtbot.mouseClick(button(dialog, "gemma-real"), Qt.MouseButton.LeftButton)
    assert dialog.tabs.currentIndex() == 3  # the Downloads tab shows the progress
    assert wait_for_state(qtbot, dialog, (JobState.DONE, JobState.FAILED)) is JobState.DONE
    installed = installed_models(dialog.models_dir)
    assert [m.path.name for m in installed] == ["gemma-3-270m-q4_k_m.gguf"]
    assert installed[0].size_bytes == model_path.stat().st_size
    assert catalog_id_for(dialog.models_dir, "gemma-3-270m-q4_k_m.gguf") == "gemma-real"
    assert dialog.installed_table.rowCount() == 1
    row = next(iter(dialog.download_rows.values()))
    assert row.status.text() == "installed and verified"
    assert button(dialog, "gemma-real").text() == "Load"
    with qtbot.waitSignal(dialog.load_requested, timeout=2000) as loaded:
        qtbot.mouseClick(button(dialog, "gemma-real"), Qt.MouseButton.LeftButton)
    assert loaded.args == [str(dialog.models_dir / "gemma-3-270m-q4_k_m.gguf")]


def test_cancel_keeps_the_partial_and_resume_fetches_only_the_rest(
        qtbot, dialog: ModelsDialog, hub: FakeHub, model_path: Path):
    hub.faults.throttle_bps = 40_000_000  # ~6 s for the whole file: time to cancel
    qtbot.mouseClick(button(dialog, "gemma-real"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(
        u.progress is not None and u.progress.downloaded > 10_000_000
        for u in dialog.downloads.last.values()), timeout=30_000)
    row = next(iter(dialog.download_rows.values()))
    assert "of" in row.status.text() and "/s" in row.status.text()  # size, speed shown
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    assert wait_for_state(qtbot, dialog, (JobState.CANCELLED,)) is JobState.CANCELLED
    assert installed_models(dialog.models_dir) == []  # a partial is never "installed"
    assert not dialog.resume_button.isHidden()
    assert "gemma-3-270m-q4_k_m.gguf" in dialog.partials_label.text()
    fetched_before = hub.body_bytes()
    assert 0 < fetched_before < model_path.stat().st_size

    hub.faults.throttle_bps = None
    dialog.downloads.last.clear()
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    assert wait_for_state(qtbot, dialog, (JobState.DONE, JobState.FAILED)) is JobState.DONE
    total = model_path.stat().st_size
    # The second run fetched only what was missing (a little overlap at most).
    assert hub.body_bytes() - fetched_before <= total - fetched_before + 1_048_576
    assert [m.path.name for m in installed_models(dialog.models_dir)] == [
        "gemma-3-270m-q4_k_m.gguf"]
    assert dialog.resume_button.isHidden()


def test_a_hash_mismatch_deletes_the_file_and_says_so(qtbot, dialog: ModelsDialog,
                                                      monkeypatch: pytest.MonkeyPatch):
    from PySide6.QtWidgets import QMessageBox

    # "too big" asks first; the user says yes.
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(button(dialog, "liar-too-big"), Qt.MouseButton.LeftButton)
    assert wait_for_state(qtbot, dialog, (JobState.DONE, JobState.FAILED)) is JobState.FAILED
    row = next(iter(dialog.download_rows.values()))
    assert "sha256" in row.status.text().lower() or "hash" in row.status.text().lower()
    assert installed_models(dialog.models_dir) == []
    assert not list(dialog.models_dir.glob("*.gguf"))
    assert button(dialog, "liar-too-big").text() == "Download"


def test_too_big_asks_first_and_no_means_no(qtbot, dialog: ModelsDialog,
                                            monkeypatch: pytest.MonkeyPatch):
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def say_no(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", say_no)
    qtbot.mouseClick(button(dialog, "liar-too-big"), Qt.MouseButton.LeftButton)
    assert asked and format_bytes(40 * GB) in asked[0]
    assert dialog.downloads.last == {}


def test_import_checks_the_header_first(qtbot, dialog: ModelsDialog, tmp_path: Path,
                                        model_path: Path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("this is not a model")
    dialog.import_file(bad)
    qtbot.waitUntil(lambda: "Not imported" in dialog.import_status.text(), timeout=10_000)
    assert "not a GGUF" in dialog.import_status.text()
    assert installed_models(dialog.models_dir) == []

    dialog.import_file(model_path)
    qtbot.waitUntil(lambda: "Imported" in dialog.import_status.text(), timeout=30_000)
    assert dialog.installed_table.rowCount() == 1
    assert dialog.import_button.isEnabled()


def closed_port_endpoint() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_offline_download_stops_the_bar_says_why_and_retries(
        qtbot, dialog: ModelsDialog, hub: FakeHub, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())
    qtbot.mouseClick(button(dialog, "small-tight"), Qt.MouseButton.LeftButton)
    assert wait_for_state(qtbot, dialog, (JobState.DONE, JobState.FAILED)) is JobState.FAILED
    row = next(iter(dialog.download_rows.values()))
    text = row.status.text()
    assert text.startswith("You're offline: cannot reach http://127.0.0.1:")
    assert "refused" in text and "Errno" not in text
    assert row.status.wordWrap()  # shown whole, never cut mid-word
    assert row.bar.maximum() > 0  # no busy stripes once it failed
    assert row.retry.isVisible() and row.retry.isEnabled()
    assert not row.cancel.isVisible()

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)  # back online
    qtbot.mouseClick(row.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.downloads.last[row.job_id].state is JobState.DONE,
                    timeout=30_000)
    assert len(dialog.download_rows) == 1
    assert row.bar.value() == row.bar.maximum() and not row.retry.isVisible()
    assert [m.path.name for m in installed_models(dialog.models_dir)] == ["small.gguf"]


def test_search_answers_offline_without_retrying(qtbot, dialog: ModelsDialog,
                                                 monkeypatch: pytest.MonkeyPatch):
    """The reachability check answers first: huggingface_hub's list_models (five
    retries, ~23 s) is never called."""
    from huggingface_hub import HfApi

    calls: list[object] = []
    monkeypatch.setattr(HfApi, "list_models", lambda *a, **k: calls.append(a) or [])
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())
    dialog.search_box.setText("qwen")
    dialog.search()
    qtbot.waitUntil(lambda: "Searching" not in dialog.search_status.text(), timeout=30_000)
    assert dialog.search_status.text().startswith("You're offline: Hugging Face cannot be "
                                                  "reached (the connection was refused)")
    assert calls == []


def test_search_says_offline_plainly(qtbot, dialog: ModelsDialog,
                                     monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    dialog.tabs.setCurrentIndex(2)
    qtbot.keyClicks(dialog.search_box, "qwen gguf")
    qtbot.keyClick(dialog.search_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Searching" not in dialog.search_status.text(), timeout=30_000)
    assert "cannot be reached" in dialog.search_status.text()
    assert dialog.search_results.count() == 0


def second_dialog(qtbot, dialog: ModelsDialog, **kwargs) -> ModelsDialog:
    """Another Models dialog on the same catalog and data folder (a later session)."""
    other = ModelsDialog(dialog.catalog, dialog.models_dir, dialog.downloads,
                         memory=kwargs.pop("memory", MEMORY), **kwargs)
    qtbot.addWidget(other)
    return other


def size_cells(dialog: ModelsDialog) -> list[str]:
    return [dialog.catalog_table.item(row, 3).text() for row in range(3)]


def test_sizes_are_estimated_offline_then_the_hubs_and_kept(qtbot, dialog: ModelsDialog,
                                                             hub: FakeHub, model_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    """'unknown' for 10 of 12 entries was the tour's finding: now "≈" an estimate from
    parameters × bits per weight until the Hub answers, then its size, cached on disk."""
    exact = [format_bytes(model_path.stat().st_size), format_bytes(len(SMALL)),
             format_bytes(len(SMALL))]
    qtbot.waitUntil(lambda: size_cells(dialog) == exact, timeout=20_000)
    cache = json.loads((dialog.models_dir.parent / "hub-sizes.json").read_text())
    assert cache[f"{REPO}/small.gguf@main"] == len(SMALL)

    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())  # offline, later
    assert size_cells(second_dialog(qtbot, dialog)) == exact  # from the cache
    (dialog.models_dir.parent / "hub-sizes.json").unlink()
    offline = second_dialog(qtbot, dialog)
    estimate = format_bytes(int(0.3e9 * 4.89 / 8))  # 0.3B parameters at Q4_K_M
    assert size_cells(offline) == [f"≈ {estimate}"] * 3
    qtbot.wait(200)  # the offline Hub check ends quietly: the estimates stay
    assert size_cells(offline) == [f"≈ {estimate}"] * 3


def test_the_fit_badge_shows_its_numbers(qtbot, dialog: ModelsDialog):
    memory = [dialog.catalog_table.item(row, 6).text() for row in range(3)]
    assert memory == [f"needs {format_bytes(ram)}, {format_bytes(8 * GB)} available"
                      for ram in (1 * GB, 7 * GB, 40 * GB)]
    assert dialog.catalog_table.item(0, 5).toolTip() == memory[0]
    with_gpu = second_dialog(qtbot, dialog, memory=MemoryInfo(16 * GB, 8 * GB, 6 * GB))
    assert with_gpu.catalog_table.item(0, 6).text() == (
        f"needs {format_bytes(GB)}, {format_bytes(8 * GB)} available + "
        f"{format_bytes(6 * GB)} VRAM")


def test_the_loaded_model_is_marked_and_the_same_content_is_not_copied_twice(
        qtbot, dialog: ModelsDialog, tmp_path: Path, model_path: Path):
    dialog.import_file(model_path)
    qtbot.waitUntil(lambda: "Imported" in dialog.import_status.text(), timeout=30_000)
    installed = dialog.models_dir / model_path.name
    assert dialog.installed_table.item(0, 3).text() == ""
    dialog.set_current_model(str(installed))
    assert dialog.installed_table.item(0, 3).text() == "● loaded"
    assert dialog.installed_table.item(0, 0).font().bold()

    renamed = tmp_path / "my copy.gguf"
    shutil.copyfile(model_path, renamed)  # the same bytes under another name
    dialog.import_file(renamed)
    qtbot.waitUntil(lambda: "already installed" in dialog.import_status.text(),
                    timeout=30_000)
    assert dialog.import_status.text() == (f"my copy.gguf is already installed as "
                                           f"{model_path.name}: nothing was copied.")
    assert [m.path.name for m in installed_models(dialog.models_dir)] == [model_path.name]


def test_download_selected_file_waits_for_a_selection(qtbot, dialog: ModelsDialog,
                                                      monkeypatch: pytest.MonkeyPatch):
    from chatdesk.ui import models_dialog

    monkeypatch.setattr(models_dialog, "gguf_files_in", lambda repo: ["small.gguf"])
    assert not dialog.download_file_button.isEnabled()
    dialog.search_results.addItem(REPO)
    dialog.search_results.setCurrentRow(0)  # lists the repository's files
    qtbot.waitUntil(lambda: dialog.repo_files.count() == 1, timeout=10_000)
    assert not dialog.download_file_button.isEnabled()  # a repository, but no file yet
    dialog.repo_files.setCurrentRow(0)
    assert dialog.download_file_button.isEnabled()
    dialog.repo_files.clear()
    assert not dialog.download_file_button.isEnabled()
