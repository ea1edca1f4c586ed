"""Downloads through the real huggingface_hub client against a local fake Hub (hf_server).

Nothing here reaches the internet: the server listens on 127.0.0.1, HF_ENDPOINT and
huggingface_hub's import-time endpoint constants point at it, HF_HOME is a temp dir and
HF_TOKEN a fake token, so the user's cache and token are never read or written.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hf_server import FakeHub, payload

from chatdesk.core import downloads
from chatdesk.core.downloads import (
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    download_model,
    partial_downloads,
)
from chatdesk.core.model_store import DISK_RESERVE_BYTES

pytestmark = pytest.mark.integration

FAKE_TOKEN = "hf_chatdeskFakeTokenForTests0123456789"
REPO = "test-org/tiny-GGUF"
MiB = 1024 * 1024




def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def hf_isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub sees a temp HF_HOME and a fake token; its telemetry switch is
    restored afterwards (download_model flips it off)."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    for name in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HUGGING_FACE_HUB_TOKEN",
                 "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(home / "agents.json"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY",
                        constants.HF_HUB_DISABLE_TELEMETRY)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return home


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub on 127.0.0.1; any request it does not know fails the test."""
    from huggingface_hub import constants
    from huggingface_hub.utils import close_session

    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        # huggingface_hub read HF_ENDPOINT at import: repoint its constants too, so no
        # code path can fall back to huggingface.co.
        monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        yield server
        close_session()  # drop pooled connections to this server
    assert server.unexpected == [], f"requests the fake Hub does not serve: {server.unexpected}"


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture(scope="session")
def real_gguf(model_path: Path) -> tuple[Path, str]:
    """Gemma's 253 MB GGUF (conftest installs it once) and its published sha256."""
    from chatdesk.core.bundled_model import GEMMA_PACKAGE

    return model_path, str(importlib.import_module(GEMMA_PACKAGE).EXPECTED_SHA256)


def _only_files(directory: Path) -> list[str]:
    """Every file under ``directory``, relative, except the per-file lock."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


def _run_in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as error:
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# ----------------------------------------------------------------------------- clean


def test_clean_download_small_file(hub: FakeHub, models_dir: Path, tmp_path: Path) -> None:
    data = payload(3 * MiB)
    hub.add_file(REPO, "tiny-Q4_K_M.gguf", data=data)
    seen: list[DownloadProgress] = []

    path = download_model(REPO, "tiny-Q4_K_M.gguf", models_dir, on_progress=seen.append)

    assert path == models_dir / "tiny-Q4_K_M.gguf"
    assert path.read_bytes() == data
    assert _only_files(models_dir) == ["tiny-Q4_K_M.gguf"]  # no partial, no sidecar left
    assert seen[0].downloaded == 0 and seen[-1].downloaded == len(data)
    assert all(p.total == len(data) for p in seen)
    assert hub.body_bytes() == len(data)
    # The token goes to the Hub's resolve endpoint, never to the CDN it redirects to.
    assert {r.authorization for r in hub.requests(kind="resolve")} == {f"Bearer {FAKE_TOKEN}"}
    assert {r.authorization for r in hub.requests(kind="cdn")} == {None}
    for file in tmp_path.rglob("*"):
        if file.is_file() and file.stat().st_size < 10 * MiB:
            assert FAKE_TOKEN.encode() not in file.read_bytes(), f"token leaked into {file}"


def test_clean_download_real_gguf(hub: FakeHub, models_dir: Path,
                                  real_gguf: tuple[Path, str]) -> None:
    source, sha = real_gguf
    hub.add_file("google/gemma-3-270m-GGUF", source.name, path=source, sha256=sha)

    path = download_model("google/gemma-3-270m-GGUF", source.name, models_dir, sha256=sha)

    from chatdesk.core.gguf_file import read_gguf_header

    assert path.stat().st_size == source.stat().st_size
    assert read_gguf_header(path).architecture == "gemma3"
    assert hub.body_bytes() == source.stat().st_size
    assert _only_files(models_dir) == [source.name]


def test_small_non_lfs_file_is_verified_by_git_sha1(hub: FakeHub, models_dir: Path) -> None:
    hub.add_file(REPO, "README.md", data=b"# tiny\n", lfs=False)
    assert download_model(REPO, "README.md", models_dir).read_bytes() == b"# tiny\n"


def test_already_installed_file_is_not_fetched_again(hub: FakeHub, models_dir: Path) -> None:
    data = payload(MiB)
    hub.add_file(REPO, "a.gguf", data=data)
    download_model(REPO, "a.gguf", models_dir)
    hub.reset_log()
    assert download_model(REPO, "a.gguf", models_dir).read_bytes() == data
    assert hub.requests("GET") == []


# ----------------------------------------------------------------------------- faults


def test_dropped_connection_resumes_without_refetching_real_gguf(
        hub: FakeHub, models_dir: Path, real_gguf: tuple[Path, str]) -> None:
    source, sha = real_gguf
    size = source.stat().st_size
    hub.add_file("google/gemma-3-270m-GGUF", source.name, path=source, sha256=sha)
    hub.faults.drop_after, hub.faults.drop_times = 60 * MiB, 2

    path = download_model("google/gemma-3-270m-GGUF", source.name, models_dir,
                          backoff_s=0.01)

    assert path.stat().st_size == size
    gets = hub.requests("GET", kind="cdn")
    assert [g.range for g in gets] == [None, f"bytes={60 * MiB}-", f"bytes={120 * MiB}-"]
    assert [g.status for g in gets] == [200, 206, 206]
    assert hub.body_bytes() == size  # not one byte fetched twice
    assert _only_files(models_dir) == [source.name]


def test_server_errors_are_retried_with_backoff(hub: FakeHub, models_dir: Path) -> None:
    data = payload(MiB)
    hub.add_file(REPO, "a.gguf", data=data)
    hub.faults.fail_first = 3  # HEAD, HEAD, HEAD fail; then it recovers
    started = time.monotonic()
    path = download_model(REPO, "a.gguf", models_dir, backoff_s=0.1)
    elapsed = time.monotonic() - started
    assert path.read_bytes() == data
    assert [r.status for r in hub.requests()][:3] == [500, 500, 500]
    assert elapsed >= 0.1 + 0.2 + 0.4 - 0.05, "back-off must grow exponentially"


def test_server_errors_mid_download_are_retried(hub: FakeHub, models_dir: Path) -> None:
    data = payload(2 * MiB)
    hub.add_file(REPO, "a.gguf", data=data)
    hub.faults.drop_after, hub.faults.drop_times = 512 * 1024, 1
    hub.faults.fail_first = 0

    original = hub._take_drop

    def drop_then_fail() -> int | None:  # after the drop, the next two requests get a 503
        value = original()
        if value is not None:
            hub.faults.fail_first, hub.faults.fail_status = 2, 503
        return value

    hub._take_drop = drop_then_fail  # type: ignore[method-assign]
    path = download_model(REPO, "a.gguf", models_dir, backoff_s=0.01)
    assert path.read_bytes() == data
    assert 503 in [r.status for r in hub.requests()]
    assert hub.body_bytes() == len(data)


def test_persistent_server_error_gives_up_with_a_clear_message(hub: FakeHub,
                                                               models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(1000))
    hub.faults.fail_first = 100
    with pytest.raises(DownloadError, match=r"server error 500.*gave up after 2 retries"):
        download_model(REPO, "a.gguf", models_dir, max_retries=2, backoff_s=0.01)
    assert len(hub.requests()) == 3
    assert not (models_dir / "a.gguf").exists()


def test_hash_mismatch_deletes_the_file_and_says_so(hub: FakeHub, models_dir: Path) -> None:
    hub.add_file(REPO, "bad.gguf", data=payload(MiB))
    hub.faults.corrupt = True
    with pytest.raises(DownloadError, match=r"sha256 mismatch for bad\.gguf.*deleted") as info:
        download_model(REPO, "bad.gguf", models_dir)
    assert "\n" not in str(info.value)
    assert _only_files(models_dir) == []  # neither installed nor kept as a partial


def test_expected_sha256_that_disagrees_with_the_server_fails_before_downloading(
        hub: FakeHub, models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(MiB))
    with pytest.raises(DownloadError, match=r"sha256 mismatch.*server reports"):
        download_model(REPO, "a.gguf", models_dir, sha256="0" * 64)
    assert hub.requests("GET") == []


def test_server_that_ignores_range_restarts_cleanly(hub: FakeHub, models_dir: Path) -> None:
    data = payload(2 * MiB)
    hub.add_file(REPO, "a.gguf", data=data)
    hub.faults.drop_after, hub.faults.drop_times = 700_000, 1
    hub.faults.ignore_range = True
    path = download_model(REPO, "a.gguf", models_dir, backoff_s=0.01)
    assert path.read_bytes() == data  # the partial was truncated, not appended to


def test_stale_partial_for_a_changed_file_is_dropped(hub: FakeHub, models_dir: Path) -> None:
    old, new = payload(MiB, seed=1), payload(MiB, seed=2)
    hub.add_file(REPO, "a.gguf", data=old)
    hub.faults.throttle_bps = 4 * MiB
    cancel = threading.Event()
    thread, result = _run_in_thread(download_model, REPO, "a.gguf", models_dir,
                                    cancel=cancel,
                                    on_progress=lambda p: p.downloaded > 0 and cancel.set())
    thread.join(10)
    assert isinstance(result.get("error"), DownloadCancelled)
    assert partial_downloads(models_dir)[0].downloaded > 0
    hub.faults.throttle_bps = None
    hub.add_file(REPO, "a.gguf", data=new)  # the repo moved on: another sha256
    hub.reset_log()
    assert download_model(REPO, "a.gguf", models_dir).read_bytes() == new
    assert [g.range for g in hub.requests("GET", kind="cdn")] == [None]


# ----------------------------------------------------------------------------- cancel


def test_cancel_then_resume_fetches_only_the_rest(hub: FakeHub, models_dir: Path) -> None:
    data = payload(4 * MiB)
    hub.add_file(REPO, "slow.gguf", data=data)
    hub.faults.throttle_bps = 4 * MiB  # about a second for the whole file
    cancel = threading.Event()
    seen: list[DownloadProgress] = []
    thread, result = _run_in_thread(download_model, REPO, "slow.gguf", models_dir,
                                    cancel=cancel, on_progress=seen.append)
    _wait_for(lambda: bool(seen) and seen[-1].downloaded >= MiB)
    cancel.set()
    asked = time.monotonic()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 1.0, "cancel must take effect within a second"
    assert isinstance(result.get("error"), DownloadCancelled)

    assert not (models_dir / "slow.gguf").exists()
    [partial] = partial_downloads(models_dir)
    assert MiB <= partial.downloaded < len(data)
    assert partial.total == len(data) and partial.repo_id == REPO
    from chatdesk.core.model_store import installed_models

    assert installed_models(models_dir) == []  # a half-downloaded file is never installed

    # (the server may have written more than we received: socket buffers, not re-fetches)
    assert hub.body_bytes() >= partial.downloaded
    hub.faults.throttle_bps = None
    hub.reset_log()
    resumed: list[DownloadProgress] = []
    path = download_model(REPO, "slow.gguf", models_dir, on_progress=resumed.append)
    assert path.read_bytes() == data
    assert resumed[0].downloaded == partial.downloaded  # progress starts where it stopped
    [get] = hub.requests("GET", kind="cdn")
    assert get.range == f"bytes={partial.downloaded}-"
    assert hub.body_bytes() == len(data) - partial.downloaded
    assert [m.path.name for m in installed_models(models_dir)] == ["slow.gguf"]
    assert partial_downloads(models_dir) == []


def test_cancel_interrupts_a_stalled_connection(hub: FakeHub, models_dir: Path) -> None:
    hub.add_file(REPO, "stall.gguf", data=payload(2 * MiB))
    hub.faults.stall_after = 300_000  # then the server goes silent (read timeout: 10 s)
    cancel = threading.Event()
    seen: list[DownloadProgress] = []
    thread, result = _run_in_thread(download_model, REPO, "stall.gguf", models_dir,
                                    cancel=cancel, on_progress=seen.append)
    _wait_for(lambda: bool(seen))
    time.sleep(0.5)  # 300 kB over loopback take a millisecond: it is now blocked in a read
    cancel.set()
    asked = time.monotonic()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 1.0
    assert isinstance(result.get("error"), DownloadCancelled)
    assert partial_downloads(models_dir)[0].downloaded == 300_000


def test_cancel_during_backoff_is_prompt(hub: FakeHub, models_dir: Path) -> None:
    hub.add_file(REPO, "a.gguf", data=payload(1000))
    hub.faults.fail_first = 100
    cancel = threading.Event()
    thread, result = _run_in_thread(download_model, REPO, "a.gguf", models_dir,
                                    cancel=cancel, backoff_s=30.0)
    _wait_for(lambda: len(hub.requests()) >= 1)
    cancel.set()
    thread.join(2)
    assert not thread.is_alive()
    assert isinstance(result.get("error"), DownloadCancelled)


# ----------------------------------------------------------------------------- refusals


def test_not_enough_disk_space(hub: FakeHub, models_dir: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add_file(REPO, "big.gguf", data=payload(MiB))
    monkeypatch.setattr(downloads, "free_disk_bytes", lambda path: 5 * MiB)
    with pytest.raises(DownloadError, match=r"^not enough disk space: need 257\.0 MiB "
                                            r".*have 5\.0 MiB"):
        download_model(REPO, "big.gguf", models_dir)
    assert hub.requests("GET") == []
    assert _only_files(models_dir) == []


def test_a_download_of_unknown_size_stops_before_filling_the_disk(
        hub: FakeHub, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No size announced: nothing can be checked before starting, so free space is checked
    while writing. The disk "fills" as the partial grows (a fake free-space reading)."""
    data = payload(24 * MiB)
    hub.add_file(REPO, "nosize.gguf", data=data)
    hub.faults.hide_size = True
    part = models_dir / ".partial" / "nosize.gguf.part"
    headroom = 10 * MiB

    def free_space(path: Path) -> int:
        written = part.stat().st_size if part.exists() else 0
        return DISK_RESERVE_BYTES + headroom - written

    monkeypatch.setattr(downloads, "free_disk_bytes", free_space)
    with pytest.raises(DownloadError, match=r"^the disk is nearly full \(.* free in .*chatdesk "
                                            r"keeps 256\.0 MiB free\), so the download stopped "
                                            r".*was kept: free some space and run the same "
                                            r"download again to resume it, or delete it with "
                                            r"`chatdesk models remove nosize\.gguf`$"):
        download_model(REPO, "nosize.gguf", models_dir, sha256=_sha(data))
    kept = part.stat().st_size
    assert 0 < kept <= headroom  # it stopped above the reserve
    assert not (models_dir / "nosize.gguf").exists()

    # Space again: the same download resumes from the kept bytes and completes.
    monkeypatch.setattr(downloads, "free_disk_bytes", lambda path: 1 << 40)
    hub.reset_log()
    path = download_model(REPO, "nosize.gguf", models_dir, sha256=_sha(data))
    assert path.read_bytes() == data
    assert [r.range for r in hub.requests("GET")] == [f"bytes={kept}-"]


def test_offline_server_fails_fast(monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(DownloadError, match=rf"cannot reach http://127\.0\.0\.1:{port}.*"
                                            "offline") as info:
        download_model(REPO, "a.gguf", models_dir)  # default back-off: 1 s, 5 retries
    assert time.monotonic() - started < 1.0
    assert "\n" not in str(info.value)
    assert _only_files(models_dir) == []


def test_an_unknown_host_is_offline_in_plain_words(monkeypatch: pytest.MonkeyPatch,
                                                    models_dir: Path) -> None:
    """No raw errno ("[Errno -2] Name or service not known"): a sentence a user reads."""
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.chatdesk-test.invalid")
    with pytest.raises(downloads.HubOffline) as info:
        download_model(REPO, "a.gguf", models_dir)
    message = str(info.value)
    assert message.startswith("You're offline: cannot reach http://hub.chatdesk-test.invalid")
    assert "the name does not resolve" in message
    assert "Errno" not in message and "\n" not in message
    assert _only_files(models_dir) == []


def test_the_reachability_check_connects_once_and_sends_nothing(hub: FakeHub) -> None:
    """A reachable Hub passes the check without a single HTTP request (the fake Hub
    fails the test on any request it does not serve)."""
    assert downloads.hub_offline_reason(hub.endpoint) is None
    assert hub.requests() == []


def test_offline_mode_is_reported(hub: FakeHub, models_dir: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    hub.add_file(REPO, "a.gguf", data=b"x")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="offline mode"):
        download_model(REPO, "a.gguf", models_dir)
    assert hub.requests() == []


@pytest.mark.parametrize(("repo", "filename", "revision", "message"), [
    ("test-org/missing", "a.gguf", "main", r"repository test-org/missing not found"),
    (REPO, "missing.gguf", "main", r"missing\.gguf not found in test-org/tiny-GGUF"),
    (REPO, "a.gguf", "v9", r"revision 'v9' not found"),
    ("test-org/gated", "a.gguf", "main", r"test-org/gated is gated.*hf auth login"),
])
def test_hub_refusals_have_clear_messages(hub: FakeHub, models_dir: Path, repo: str,
                                          filename: str, revision: str, message: str) -> None:
    hub.add_file(REPO, "a.gguf", data=b"x")
    hub.add_file("test-org/gated", "a.gguf", data=b"x", gated=True)
    with pytest.raises(DownloadError, match=message) as info:
        download_model(repo, filename, models_dir, revision=revision, backoff_s=0.01)
    assert "\n" not in str(info.value)
    assert len(hub.requests()) == 1  # a definite answer is not retried


def test_gated_repo_opens_with_the_users_token(hub: FakeHub, models_dir: Path) -> None:
    data = payload(1000)
    hub.add_file("test-org/gated", "a.gguf", data=data, gated=True)
    hub.valid_token = FAKE_TOKEN  # the token from HF_TOKEN, as huggingface_hub finds it
    assert download_model("test-org/gated", "a.gguf", models_dir).read_bytes() == data


def test_bad_arguments(models_dir: Path) -> None:
    with pytest.raises(DownloadError, match="not a sha256"):
        download_model(REPO, "a.gguf", models_dir, sha256="abc")
    with pytest.raises(DownloadError, match="invalid file name"):
        download_model(REPO, "../", models_dir)
    with pytest.raises(DownloadError, match="invalid repository id"):
        download_model("not a repo!", "a.gguf", models_dir)


UNSAFE_FILES = ["../../x.gguf", "../x.gguf", "sub/../../x.gguf", "/abs/x.gguf", "a\\b.gguf",
                "..\\..\\x.gguf", "a//b.gguf", "./x.gguf", "sub/./x.gguf", "x.gguf/", "",
                "x.gguf?download=1", "x.gguf#frag", "%2e%2e/x.gguf", "x\x00.gguf"]


@pytest.mark.parametrize("filename", UNSAFE_FILES)
def test_a_file_path_that_leaves_the_repository_is_refused_before_any_request(
        hub: FakeHub, models_dir: Path, filename: str) -> None:
    """`--file ../../x.gguf` changed which URL was fetched, and sent the token there."""
    hub.add_file(REPO, "x.gguf", data=payload(1000))
    with pytest.raises(DownloadError, match=r"^invalid file name"):
        download_model(REPO, filename, models_dir)
    assert hub.served == [] and hub.unexpected == []  # no request at all, so no token


@pytest.mark.parametrize(("repo", "revision"), [("org/..", "main"), ("../org/x", "main"),
                                                ("a/b/c", "main"), (REPO, "../../x"),
                                                (REPO, "/main"), (REPO, "a//b")])
def test_a_repository_or_revision_that_moves_the_url_is_refused(
        hub: FakeHub, models_dir: Path, repo: str, revision: str) -> None:
    with pytest.raises(DownloadError, match=r"^invalid (repository id|revision)"):
        download_model(repo, "x.gguf", models_dir, revision=revision)
    assert hub.served == []


def test_a_file_in_a_folder_of_the_repository_still_downloads(hub: FakeHub,
                                                              models_dir: Path) -> None:
    data = payload(2000)
    hub.add_file(REPO, "Q4_K_M/model.gguf", data=data)
    assert download_model(REPO, "Q4_K_M/model.gguf", models_dir).read_bytes() == data


def test_hub_search_results_that_leave_the_repository_are_never_offered(hub: FakeHub) -> None:
    """Search answers are network data: unsafe repo ids and file paths are left out."""
    from chatdesk.ui.models_dialog import gguf_files_in, search_gguf_repos

    for name in ("good.gguf", "sub/also-good.gguf", "../../evil.gguf", "a//b.gguf",
                 "..\\evil.gguf", "readme.md"):
        hub.add_file(REPO, name, data=b"x")
    hub.repos["../evil"] = hub.repos[REPO]
    hub.repos["evil/.."] = hub.repos[REPO]
    assert search_gguf_repos("tiny") == [REPO]
    assert gguf_files_in(REPO) == ["good.gguf", "sub/also-good.gguf"]


def test_one_download_of_a_file_at_a_time(hub: FakeHub, models_dir: Path) -> None:
    """A second download of the same file (another window, the CLI) waits its turn."""
    data = payload(MiB)
    hub.add_file(REPO, "a.gguf", data=data)
    hub.faults.throttle_bps = 2 * MiB
    cancel = threading.Event()
    seen: list[DownloadProgress] = []
    thread, result = _run_in_thread(download_model, REPO, "a.gguf", models_dir,
                                    cancel=cancel, on_progress=seen.append)
    try:
        _wait_for(lambda: bool(seen))
        with pytest.raises(DownloadError, match="already being downloaded"):
            download_model(REPO, "a.gguf", models_dir)
    finally:
        hub.faults.throttle_bps = None
        thread.join(10)
    assert result["value"].read_bytes() == data


def test_no_telemetry_request_reaches_the_endpoint(hub: FakeHub, models_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub 2.4 would GET /api/agent-harnesses; the fake Hub fails on it."""
    from huggingface_hub.utils import _detect_agent

    hub.add_file(REPO, "a.gguf", data=b"x" * 10)
    monkeypatch.setattr(_detect_agent, "_registry", None)  # as in a fresh process
    download_model(REPO, "a.gguf", models_dir)
    assert [r.path for r in hub.requests()] == [f"/{REPO}/resolve/main/a.gguf",
                                                f"/cdn/{_sha(b'x' * 10)}"]
