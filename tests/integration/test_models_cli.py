"""`python -m chatdesk models ...` in a subprocess, against the local fake Hub (hf_server).

The child gets HF_ENDPOINT (the fake Hub on 127.0.0.1), a temp HF_HOME, a fake HF_TOKEN,
--data-dir in tmp and a tiny catalog written here, so it can reach nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hf_server import FakeHub, payload

pytestmark = pytest.mark.integration

FAKE_TOKEN = "hf_chatdeskFakeTokenForCliTests0123456789"
REPO = "test-org/tiny-GGUF"
MiB = 1024 * 1024
RUN_TIMEOUT_S = 60




def _entry(entry_id: str, filename: str, revision: str = "main", **extra: object) -> dict:
    return {
        "id": entry_id, "name": entry_id.title(), "repo_id": REPO, "filename": filename,
        "revision": revision, "size_bytes": None, "sha256": None, "parameters": "1M",
        "quantization": "Q4_K_M", "context_length": 2048, "ram_required_bytes": 10 * MiB,
        "license": "apache-2.0", "description": "A test model.",
        "chat_template_hint": None, "default_sampling": {}, **extra,
    }


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server
    assert server.unexpected == [], f"requests the fake Hub does not serve: {server.unexpected}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


@pytest.fixture
def env(subprocess_env: dict[str, str], hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    child = {k: v for k, v in subprocess_env.items()
             if not k.startswith(("HF_", "HUGGING_FACE_", "CHATDESK_"))}
    child.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf-home"),
                 HF_TOKEN=FAKE_TOKEN)
    return child


@pytest.fixture
def catalog(tmp_path: Path, hub: FakeHub) -> Path:
    """Two usable entries (one pinned to the repo's commit, one with a sha256) and a bad one."""
    tiny, pinned = payload(2 * MiB, seed=1), payload(MiB, seed=2)
    hub.add_file(REPO, "tiny-Q4_K_M.gguf", data=tiny)
    hub.add_file(REPO, "pinned-Q4_K_M.gguf", data=pinned)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [
        _entry("tiny", "tiny-Q4_K_M.gguf"),
        _entry("pinned", "pinned-Q4_K_M.gguf", revision=hub.repos[REPO].commit,
               sha256=hashlib.sha256(pinned).hexdigest(), size_bytes=len(pinned)),
        _entry("Bad Id", "x.gguf"),
    ]}), encoding="utf-8")
    return path


def run_cli(env: dict[str, str], data_dir: Path, *args: str,
            catalog: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--data-dir", str(data_dir)] + (["--catalog", str(catalog)] if catalog else [])
    return subprocess.run([sys.executable, "-m", "chatdesk", "models", *args, *extra],
                          env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    return lines[0]


# ----------------------------------------------------------------------------- download


def test_download_catalog_id_installs_verifies_and_records(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path,
        catalog: Path) -> None:
    result = run_cli(env, data_dir, "download", "tiny", catalog=catalog)
    assert result.returncode == 0, result.stderr
    target = models_dir / "tiny-Q4_K_M.gguf"
    assert target.read_bytes() == payload(2 * MiB, seed=1)
    lines = result.stdout.splitlines()
    assert lines[-1] == f"installed {target} (verified)"
    assert "\r" not in result.stdout and 2 <= len(lines) <= 13  # sparse lines, not a flood
    assert "100.0%" in result.stdout

    listing = run_cli(env, data_dir, "list", "--json", catalog=catalog)
    assert listing.returncode == 0, listing.stderr
    report = json.loads(listing.stdout)
    [installed] = report["installed"]
    assert installed["catalog_id"] == "tiny"
    from chatdesk.core.model_store import catalog_id_for

    assert catalog_id_for(models_dir, target.name) == "tiny"  # recorded, not just guessed
    assert installed["ram_required_source"] == "catalog"
    rows = {row["id"]: row for row in report["catalog"]}
    assert rows["tiny"]["installed"] == str(target) and rows["pinned"]["installed"] is None
    assert {row["fit"] for row in rows.values()} <= {"fits", "tight", "too big"}
    assert any("'Bad Id'" in p or "Bad Id" in p for p in report["problems"])
    assert FAKE_TOKEN not in listing.stdout + result.stdout + result.stderr
    logs = [f.read_text(encoding="utf-8") for f in (data_dir / "logs").glob("*")]
    assert any("installed" in text for text in logs)
    for text in logs:
        assert FAKE_TOKEN not in text
        assert "/cdn/" not in text  # (signed) CDN URLs stay out of the log


def test_download_pinned_revision_with_catalog_sha256(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path,
        catalog: Path) -> None:
    result = run_cli(env, data_dir, "download", "pinned", catalog=catalog)
    assert result.returncode == 0, result.stderr
    assert (models_dir / "pinned-Q4_K_M.gguf").read_bytes() == payload(MiB, seed=2)
    commit = hub.repos[REPO].commit
    assert [r.path for r in hub.requests("HEAD")] == [
        f"/{REPO}/resolve/{commit}/pinned-Q4_K_M.gguf"]


def test_download_repo_and_file_with_wrong_sha256_fails_in_one_line(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(MiB))
    result = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "a.gguf",
                     "--sha256", "ab" * 32)
    assert result.returncode == 1
    assert "sha256 mismatch" in _one_line(result.stderr)
    assert not list(models_dir.glob("*.gguf"))


def test_download_corrupt_bytes_fails_and_deletes(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(MiB))
    hub.faults.corrupt = True
    result = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "a.gguf")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "sha256 mismatch" in line and "deleted" in line
    assert not list(models_dir.glob("*.gguf"))
    assert not list((models_dir / ".partial").glob("*.part"))


def test_download_offline_fails_in_one_line(env: dict[str, str], data_dir: Path,
                                           hub: FakeHub) -> None:
    hub.stop()  # nobody listens on its port any more
    started = time.monotonic()
    result = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "a.gguf")
    assert result.returncode == 1
    assert "cannot reach" in _one_line(result.stderr)
    assert time.monotonic() - started < 15


def test_download_usage_errors(env: dict[str, str], data_dir: Path, catalog: Path) -> None:
    both = run_cli(env, data_dir, "download", "tiny", "--repo", REPO, "--file", "x.gguf",
                   catalog=catalog)
    assert both.returncode == 2 and "not both" in _one_line(both.stderr)
    unknown = run_cli(env, data_dir, "download", "nope", catalog=catalog)
    assert unknown.returncode == 2 and "no catalog entry 'nope'" in _one_line(unknown.stderr)
    neither = run_cli(env, data_dir, "download", "--repo", REPO)
    assert neither.returncode == 2 and "--file" in _one_line(neither.stderr)


def test_download_file_outside_the_repository_is_refused(env: dict[str, str], data_dir: Path,
                                                         hub: FakeHub) -> None:
    """`--file ../../x.gguf` once changed which URL was fetched and sent the token there."""
    hub.add_file(REPO, "x.gguf", data=payload(1000))
    result = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "../../x.gguf")
    assert result.returncode == 1
    assert "invalid file name '../../x.gguf'" in _one_line(result.stderr)
    assert hub.served == []


def _start_throttled_download(hub: FakeHub, env: dict[str, str], data_dir: Path,
                              models_dir: Path, size: int) -> tuple[subprocess.Popen, Path]:
    hub.add_file(REPO, "slow.gguf", data=payload(size, seed=3))
    hub.faults.throttle_bps = 2 * MiB
    child = subprocess.Popen(
        [sys.executable, "-m", "chatdesk", "models", "download", "--repo", REPO, "--file",
         "slow.gguf", "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = models_dir / ".partial" / "slow.gguf.part"
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size >= 256 * 1024):
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            out, err = child.communicate(timeout=10)
            pytest.fail(f"the download never got going: {out!r} {err!r}")
        time.sleep(0.02)
    return child, part


def _resume_and_check(hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path,
                      part: Path, size: int) -> None:
    have = part.stat().st_size
    assert 0 < have < size
    hub.faults.throttle_bps = None
    hub.reset_log()
    result = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "slow.gguf")
    assert result.returncode == 0, result.stderr
    assert (models_dir / "slow.gguf").read_bytes() == payload(size, seed=3)
    [get] = hub.requests("GET", kind="cdn")
    assert get.range == f"bytes={have}-"
    assert hub.body_bytes() == size - have


def test_ctrl_c_cancels_cleanly_and_the_next_run_resumes(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    size = 8 * MiB
    child, part = _start_throttled_download(hub, env, data_dir, models_dir, size)
    second = run_cli(env, data_dir, "download", "--repo", REPO, "--file", "slow.gguf")
    assert second.returncode == 1  # two processes never write one partial file
    assert "already being downloaded by another chatdesk process" in _one_line(second.stderr)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=10)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert "resume" in _one_line(err)
    assert not list(models_dir.glob("*.gguf"))  # never shown as installed

    listing = run_cli(env, data_dir, "list", "--json")
    report = json.loads(listing.stdout)
    assert report["installed"] == []
    assert report["partial_downloads"][0]["name"] == "slow.gguf"

    _resume_and_check(hub, env, data_dir, models_dir, part, size)


def test_killed_process_resumes_on_the_next_run(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    size = 8 * MiB
    child, part = _start_throttled_download(hub, env, data_dir, models_dir, size)
    child.kill()  # no chance to clean up: a crash, a power cut, a closed laptop
    child.communicate(timeout=10)
    assert not list(models_dir.glob("*.gguf"))
    _resume_and_check(hub, env, data_dir, models_dir, part, size)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_is_one_updating_line_on_a_terminal(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(4 * MiB))
    hub.faults.throttle_bps = 8 * MiB  # half a second: several updates
    leader, follower = os.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "chatdesk", "models", "download", "--repo", REPO,
             "--file", "a.gguf", "--data-dir", str(data_dir)],
            env=env, stdout=follower, stderr=subprocess.PIPE, text=True)
        os.close(follower)
        output = b""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        child.wait(timeout=10)
    finally:
        os.close(leader)
    text = output.decode()
    assert child.returncode == 0, text
    assert text.count("\r") >= 3  # redrawn in place
    assert text.replace("\r\n", "\n").count("\n") == 2  # the progress line + "installed"


def test_progress_in_a_pipe_is_sparse() -> None:
    """A log or CI pipe gets a line per 10 %, not one per update."""
    import io

    from chatdesk.cli.models import ProgressPrinter as _ProgressPrinter
    from chatdesk.core.downloads import DownloadProgress

    out = io.StringIO()
    printer = _ProgressPrinter("m.gguf", out)
    total = 1000 * MiB
    for step in range(1001):
        printer(DownloadProgress(step * MiB, total, 50.0 * MiB, (1000 - step) / 50))
    printer.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11, lines  # 0 %, 10 %, ..., 100 %
    assert lines[0].startswith("m.gguf:   0.0%") and "100.0%" in lines[-1]
    assert "50.0 MiB/s" in lines[5] and "10 s left" in lines[5]


# ----------------------------------------------------------------- list, remove, import


def test_list_text_shows_catalog_fit_and_problems(
        env: dict[str, str], data_dir: Path, catalog: Path) -> None:
    result = run_cli(env, data_dir, "list", catalog=catalog)
    assert result.returncode == 0, result.stderr
    assert "tiny" in result.stdout and "pinned" in result.stdout
    assert any(word in result.stdout for word in ("fits", "tight", "too big"))
    assert "Bad Id" in result.stderr and "warning" in result.stderr


def test_catalog_from_environment_variable(env: dict[str, str], data_dir: Path,
                                           catalog: Path) -> None:
    result = run_cli({**env, "CHATDESK_CATALOG": str(catalog)}, data_dir, "list", "--json")
    assert {row["id"] for row in json.loads(result.stdout)["catalog"]} == {"tiny", "pinned"}


def test_import_list_and_remove(env: dict[str, str], data_dir: Path, models_dir: Path,
                                model_path: Path, tmp_path: Path) -> None:
    imported = run_cli(env, data_dir, "import", str(model_path))
    assert imported.returncode == 0, imported.stderr
    target = models_dir / model_path.name
    assert target.stat().st_size == model_path.stat().st_size

    listing = json.loads(run_cli(env, data_dir, "list", "--json").stdout)
    [row] = listing["installed"]
    assert row["name"] == model_path.name and row["ram_required_source"] == "estimate"

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a model" * 100)
    refused = run_cli(env, data_dir, "import", str(junk))
    assert refused.returncode == 1 and "cannot import" in _one_line(refused.stderr)

    removed = run_cli(env, data_dir, "remove", model_path.name)
    assert removed.returncode == 0, removed.stderr
    assert not target.exists()
    again = run_cli(env, data_dir, "remove", model_path.name)
    assert again.returncode == 1 and _one_line(again.stderr)


def test_remove_discards_an_unfinished_download(
        hub: FakeHub, env: dict[str, str], data_dir: Path, models_dir: Path) -> None:
    child, part = _start_throttled_download(hub, env, data_dir, models_dir, 8 * MiB)
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=10)
    result = run_cli(env, data_dir, "remove", "slow.gguf")
    assert result.returncode == 0, result.stderr
    assert "unfinished download" in result.stdout
    assert not part.exists()
