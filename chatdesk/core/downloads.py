"""Model downloads that survive anything: resume, retry with back-off, cancel, verify.

How, and why not plain ``hf_hub_download``
------------------------------------------
huggingface_hub 2.x (httpx2 underneath) downloads into a *process-unique* temp file and
deletes it on any failure (``_download_to_tmp_and_move``), and reads the body in 10 MB
chunks. So ``hf_hub_download`` cannot resume after a cancel or a restart, and a cancel
checked from its progress bar could lag by 10 MB. We therefore use huggingface_hub for
everything except the byte loop:

* ``hf_hub_url`` + ``get_hf_file_metadata`` (a HEAD on ``/resolve``): the endpoint is
  huggingface_hub's ``HF_ENDPOINT`` (read when the call is made, so a mirror set later
  works too), Hub redirects are followed the Hub's way, and we get the commit, the size
  and the ETag, which for an LFS file *is* its sha256 (``X-Linked-Etag``);
* ``build_hf_headers``: the user's token from huggingface_hub's usual place (``HF_TOKEN``
  or ``hf auth login``); we never store, print or log it, and we drop it when the file
  lives on another host (a CDN), as huggingface_hub does;
* ``get_session()``: huggingface_hub's shared httpx2 client (proxy settings, offline
  mode, user agent), streaming ``GET`` with a ``Range`` header from where we stopped;
* ``hf_raise_for_status``: the Hub's error codes become typed errors (repo not found,
  gated, entry not found), which we turn into one-line messages.

Layout on disk: partial bytes live in ``models_dir/.partial/<name>.part`` next to a
``<name>.json`` sidecar (repo, file, revision, commit, etag, size; never a URL, which may
carry a signature, and never a token). A file only ever appears as ``models_dir/<name>``
after its hash matched, by ``os.replace`` from the same directory tree (atomic). The
sidecar is what lets a new process resume: a different ETag or size upstream means the
partial is stale and is dropped.

Failures: a dropped connection, a timeout or a 5xx is retried from the current offset
with exponential back-off (``backoff_s * 2**n``, capped), up to ``max_retries``
consecutive failures without progress. "Connection refused" / DNS failure before the
server ever answered is reported at once (the user is offline; waiting 30 s helps no one).
Cancel (a ``threading.Event``) is checked per received chunk and during back-off, and a
watcher shuts the socket down so that even a stalled read returns within ~0.2 s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

from chatdesk.core.download_files import (
    SHA256,
    DownloadCancelled,
    DownloadError,
    PartialFile,
    check_request,
    discard,
    file_digest,
    fsync,
    fsync_dir,
    normalise_sha256,
    target_name,
    usable_partial,
)
from chatdesk.core.model_store import DISK_RESERVE_BYTES
from chatdesk.core.reachability import offline_reason, plain_os_error
from chatdesk.core.units import format_bytes

log = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
PROGRESS_INTERVAL_S = 0.1
SPEED_WINDOW_S = 5.0
MAX_BACKOFF_S = 30.0
CONNECT_TIMEOUT_S = 10.0
SPACE_CHECK_BYTES = 4 * 1024 * 1024  # free space is checked again after each 4 MiB written
_active: set[str] = set()  # target paths being downloaded in this process
_active_lock = threading.Lock()
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class DownloadProgress:
    """A progress sample; ``downloaded`` counts bytes resumed from an earlier run too."""

    downloaded: int
    total: int | None
    bytes_per_s: float
    eta_s: float | None


class _Retryable(Exception):
    """A transient failure (drop, timeout, 5xx): retry from the current offset."""


@dataclass(frozen=True)
class _Remote:
    repo_id: str
    filename: str
    revision: str
    endpoint: str
    url: str
    headers: dict[str, str]
    commit: str
    etag: str
    size: int | None


@dataclass(frozen=True)
class PartialDownload:
    """An unfinished download waiting in ``models_dir/.partial`` to be resumed."""

    name: str  # the file name it will have in models_dir
    repo_id: str
    filename: str
    revision: str
    downloaded: int
    total: int | None


def partial_downloads(models_dir: Path) -> list[PartialDownload]:
    """Downloads that a call to download_model would resume, by name."""
    found: list[PartialDownload] = []
    staging = partial_dir(models_dir)
    if not staging.is_dir():
        return found
    for sidecar in sorted(staging.glob("*.json")):
        part = sidecar.with_suffix(".part")
        try:
            state = json.loads(sidecar.read_text(encoding="utf-8"))
            size = part.stat().st_size
        except (OSError, ValueError):
            continue
        if not isinstance(state, dict):
            continue
        total = state.get("size")
        found.append(PartialDownload(
            name=sidecar.stem, repo_id=str(state.get("repo_id", "")),
            filename=str(state.get("filename", "")), revision=str(state.get("revision", "")),
            downloaded=size, total=total if isinstance(total, int) else None))
    return found


def discard_partial(models_dir: Path, filename: str) -> bool:
    """Delete the unfinished download of ``filename``; True if there was one."""
    name = target_name(filename)
    staging = partial_dir(models_dir)
    part, sidecar = staging / f"{name}.part", staging / f"{name}.json"
    existed = part.exists() or sidecar.exists()
    discard(part, sidecar)
    return existed


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (tests replace this function)."""
    return shutil.disk_usage(path).free


def partial_dir(models_dir: Path) -> Path:
    """Where unfinished downloads wait; never scanned as installed models."""
    return models_dir / PARTIAL_DIR


def quiet_hub() -> None:
    """Keep huggingface_hub quiet: no telemetry request, no signed URLs in our log.

    huggingface_hub 2.4 builds its User-Agent by fetching ``{ENDPOINT}/api/agent-harnesses``
    (once a day, 3 s timeout) on the first request of a process. A desktop app has no
    business sending that, and against a slow network or mirror it delays every first
    download; we turn that off unless the user set ``HF_HUB_DISABLE_TELEMETRY``.
    """
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_DISABLE_TELEMETRY") is None:
        constants.HF_HUB_DISABLE_TELEMETRY = True
    # httpx2 logs every request's URL at INFO; a CDN URL carries a signature that works for
    # a while, so it must not end up in a log file a user attaches to a bug report.
    for name in ("httpx2", "httpcore2"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def current_endpoint() -> str:
    """huggingface_hub's endpoint, re-read from ``HF_ENDPOINT`` (its constant is import-time)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class HubOffline(DownloadError):
    """The Hub cannot be reached at all (no network, offline mode, a dead endpoint);
    ``why`` is the plain reason alone, for a caller that words the sentence itself."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


OFFLINE_HINT = "The catalog and your installed models still work offline."


def hub_offline_reason(endpoint: str | None = None) -> HubOffline | None:
    """None when the Hub (or the mirror at HF_ENDPOINT) can be reached, else the error
    to raise, worded "You're offline: ...". One short connect, never a retry loop."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or _truthy(os.environ.get("HF_HUB_OFFLINE")):
        why = "huggingface_hub is in offline mode (HF_HUB_OFFLINE is set)"
        return HubOffline(f"You're offline: {why}; unset it to download.", why)
    unreachable = offline_reason(endpoint or current_endpoint())
    if unreachable is None:
        return None
    return HubOffline(f"You're offline: {unreachable}. {OFFLINE_HINT}", unreachable.why)


def check_hub_reachable(endpoint: str | None = None, repo_id: str | None = None) -> None:
    """Raise HubOffline at once when the Hub cannot be reached; a bad repository id is
    refused first (that needs no network)."""
    if repo_id is not None:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            raise DownloadError(f"invalid repository id {repo_id!r}") from error
    offline = hub_offline_reason(endpoint)
    if offline is not None:
        raise offline


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def remote_file_size(repo_id: str, filename: str, revision: str = "main",
                     endpoint: str | None = None) -> int | None:
    """The size the Hub reports for one file (a HEAD, no retries); None if it says none."""
    quiet_hub()
    try:
        return _fetch_metadata(repo_id, filename, revision,
                               (endpoint or current_endpoint()).rstrip("/")).size
    except _Retryable as error:
        raise DownloadError(str(error)) from error


def download_model(repo_id: str, filename: str, models_dir: Path, *, revision: str = "main",
                   sha256: str | None = None,
                   on_progress: Callable[[DownloadProgress], None] | None = None,
                   cancel: threading.Event | None = None, max_retries: int = 5,
                   backoff_s: float = 1.0, endpoint: str | None = None) -> Path:
    """Download ``filename`` from ``repo_id`` into ``models_dir``; return the verified file.

    Resumes a partial from an earlier call or process, retries transient failures, and
    raises ``DownloadError`` (``DownloadCancelled`` on cancel) with a one-line reason.
    """
    cancel = cancel or threading.Event()
    check_request(repo_id, filename, revision)
    name = target_name(filename)
    expected_sha = normalise_sha256(sha256)
    models_dir = Path(models_dir)
    staging = partial_dir(models_dir)
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create {staging}: {error.strerror or error}") from error
    from huggingface_hub.utils import WeakFileLock

    quiet_hub()
    # Two writers would interleave bytes in one .part file. A file lock keeps other
    # processes out; filelock lets a second lock in the same process through, so threads
    # (two download queues, a retry clicked twice) are kept out by a set of our own.
    key = str((models_dir / name).resolve())
    with _active_lock:
        if key in _active:
            raise DownloadError(f"{name} is already being downloaded")
        _active.add(key)
    try:
        with WeakFileLock(staging / f"{name}.lock", timeout=0.5):
            return _download_locked(
                repo_id, filename, name, models_dir, revision=revision,
                expected_sha=expected_sha, on_progress=on_progress, cancel=cancel,
                max_retries=max(0, max_retries), backoff_s=max(0.0, backoff_s),
                endpoint=(endpoint or current_endpoint()).rstrip("/"))
    except TimeoutError as error:
        raise DownloadError(f"{name} is already being downloaded by another chatdesk "
                            "process") from error
    finally:
        with _active_lock:
            _active.discard(key)


def _download_locked(repo_id: str, filename: str, name: str, models_dir: Path, *,
                     revision: str, expected_sha: str | None,
                     on_progress: Callable[[DownloadProgress], None] | None,
                     cancel: threading.Event, max_retries: int, backoff_s: float,
                     endpoint: str) -> Path:
    staging = partial_dir(models_dir)
    part, sidecar = staging / f"{name}.part", staging / f"{name}.json"
    target = models_dir / name
    retry = _RetryPolicy(max_retries, backoff_s, cancel)

    check_hub_reachable(endpoint, repo_id)
    remote = _with_retries(lambda: _fetch_metadata(repo_id, filename, revision, endpoint),
                           retry, cancel, connected=False)
    expected, kind = _expected_digest(remote, expected_sha, repo_id, filename)

    if target.is_file() and (remote.size is None or target.stat().st_size == remote.size):
        if file_digest(target, kind, cancel) == expected:
            log.info("%s is already installed and verified", target)
            discard(part, sidecar)
            return target
        log.warning("%s exists but does not match %s; downloading again", target, expected)

    state = {"repo_id": repo_id, "filename": filename, "revision": revision,
             "commit": remote.commit, "etag": remote.etag, "size": remote.size}
    have = usable_partial(part, sidecar, state)
    if remote.size is not None:
        # The rest of the file plus the reserve the models dir keeps for the history
        # database and settings; the final rename needs no extra room (same directory).
        need = remote.size - have + DISK_RESERVE_BYTES
        free = free_disk_bytes(models_dir)
        if free < need:
            raise DownloadError(f"not enough disk space: need {format_bytes(need)} "
                                f"(with {format_bytes(DISK_RESERVE_BYTES)} to spare), have "
                                f"{format_bytes(free)} in {models_dir}")
    from chatdesk.core.atomic import atomic_write_text

    atomic_write_text(sidecar, json.dumps(state, indent=1))
    part.touch()
    if have:
        log.info("resuming %s at byte %d of %s", name, have, remote.size)

    meter = _Meter(have, remote.size, on_progress)
    partial = PartialFile(part, kind, remote.size, cancel)
    partial.sync()  # hashes the bytes an earlier run left, so the end needs no re-read
    meter.emit(force=True)

    def attempt() -> None:
        # A fresh HEAD on each retry: CDN URLs are signed and expire.
        current = remote if not retry.failures else _fetch_metadata(repo_id, filename,
                                                                   revision, endpoint)
        if current.etag != remote.etag:
            discard(part, sidecar)
            raise DownloadError(f"{filename} changed on the server during the download; "
                                "start it again")
        _stream_into(current, partial, meter, cancel)

    try:
        _with_retries(attempt, retry, cancel, connected=True, meter=meter)
    finally:
        meter.emit(force=True)  # the last count, also when cancelled or failed

    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        discard(part, sidecar)
        raise DownloadError(f"{filename}: got {size} bytes, the server said {remote.size}; "
                            "the download was deleted")
    actual = partial.hexdigest()
    if actual != expected:
        discard(part, sidecar)
        label = "sha256" if kind == "sha256" else "git sha1"
        raise DownloadError(f"{label} mismatch for {filename}: expected {expected}, got "
                            f"{actual}; the downloaded file was deleted")
    fsync(part)
    os.replace(part, target)
    fsync_dir(models_dir)
    discard(sidecar)
    log.info("installed %s from %s (%s %s verified)", target, repo_id, kind, expected)
    return target


# ----------------------------------------------------------------------------- metadata


def _fetch_metadata(repo_id: str, filename: str, revision: str, endpoint: str) -> _Remote:
    """HEAD the file through huggingface_hub; errors come back as _Retryable or DownloadError."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    with _hub_errors(repo_id, filename, revision, endpoint):
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
        headers = build_hf_headers()
        meta = get_hf_file_metadata(url, headers=headers, endpoint=endpoint)
    if not meta.commit_hash or not meta.etag:
        raise DownloadError(f"{endpoint} did not answer like a Hugging Face endpoint (no "
                            "commit or ETag header); check HF_ENDPOINT")
    location = urljoin(url, meta.location)
    if _origin(location) != _origin(url):
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    headers["Accept-Encoding"] = "identity"
    return _Remote(repo_id=repo_id, filename=filename, revision=revision, endpoint=endpoint,
                   url=location, headers=headers, commit=meta.commit_hash,
                   etag=meta.etag.lower(), size=meta.size)


@contextlib.contextmanager
def _hub_errors(repo_id: str, filename: str, revision: str, endpoint: str) -> Iterator[None]:
    """Turn huggingface_hub / httpx2 exceptions into one-line DownloadErrors or _Retryable."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GatedRepoError as error:
        raise DownloadError(f"{repo_id} is gated: accept its terms on its Hugging Face page, "
                            "then log in (hf auth login)") from error
    except RepositoryNotFoundError as error:
        raise DownloadError(f"repository {repo_id} not found (or private: log in with "
                            "hf auth login)") from error
    except RevisionNotFoundError as error:
        raise DownloadError(f"revision {revision!r} not found in {repo_id}") from error
    except RemoteEntryNotFoundError as error:
        raise DownloadError(f"{filename} not found in {repo_id} at {revision}") from error
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status in (408, 429) or status >= 500:
            raise _Retryable(f"server error {status}") from error
        if status == 401:
            raise DownloadError(f"not authorised to download {repo_id}/{filename} (HTTP 401; "
                                "log in with hf auth login)") from error
        if status == 403:
            raise DownloadError(f"access to {repo_id}/{filename} is forbidden (HTTP 403)") \
                from error
        if status == 404:
            raise DownloadError(f"{repo_id}/{filename} not found (HTTP 404)") from error
        raise DownloadError(f"download of {repo_id}/{filename} refused (HTTP {status})") \
            from error
    except OfflineModeIsEnabled as error:
        raise DownloadError("huggingface_hub is in offline mode (HF_HUB_OFFLINE is set)") \
            from error
    except HFValidationError as error:
        raise DownloadError(f"invalid repository id {repo_id!r}") from error
    except httpx2.ConnectError as error:
        raise _Offline(f"You're offline: cannot reach {endpoint} ({_network_reason(error)}). "
                       f"{OFFLINE_HINT}") from error
    except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as error:
        raise _Retryable(f"connection problem: {_reason(error)}") from error
    except httpx2.HTTPError as error:
        raise DownloadError(f"download of {repo_id}/{filename} failed: {_reason(error)}") \
            from error


class _Offline(_Retryable):
    """Could not connect at all: fatal before the server ever answered, else retried."""


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _network_reason(error: BaseException) -> str:
    """The OSError under an httpx error in plain words, never '[Errno -2] Name or se...'."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "the name does not resolve: no network, or no such host"
        if isinstance(seen, OSError):
            return plain_os_error(seen)
        seen = seen.__cause__ or seen.__context__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", _reason(error))


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port


def _expected_digest(remote: _Remote, expected_sha: str | None, repo_id: str,
                     filename: str) -> tuple[str, str]:
    """The hash to verify against: the caller's sha256, else the server's LFS sha256."""
    server_sha = remote.etag if SHA256.fullmatch(remote.etag) else None
    if expected_sha is not None:
        if server_sha is not None and server_sha != expected_sha:
            raise DownloadError(f"sha256 mismatch for {filename}: expected {expected_sha}, the "
                                f"server reports {server_sha} (is the catalog out of date?)")
        return expected_sha, "sha256"
    if server_sha is not None:
        return server_sha, "sha256"
    if _GIT_SHA1.fullmatch(remote.etag) and remote.size is not None:
        return remote.etag, "git-sha1"  # a small non-LFS file: its ETag is the git blob id
    raise DownloadError(f"cannot verify {repo_id}/{filename}: the server reports no sha256; "
                        "pass one with --sha256")


# ----------------------------------------------------------------------------- transfer


class _RetryPolicy:
    """Counts consecutive failures without progress; sleeps with exponential back-off."""

    def __init__(self, max_retries: int, backoff_s: float, cancel: threading.Event) -> None:
        self.max_retries, self.backoff_s, self.cancel = max_retries, backoff_s, cancel
        self.failures = 0

    def wait_or_give_up(self, error: _Retryable) -> None:
        self.failures += 1
        if self.failures > self.max_retries:
            raise DownloadError(f"{error} (gave up after {self.max_retries} retries)") from error
        delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (self.failures - 1))
        log.warning("download: %s; retry %d/%d in %.1f s", error, self.failures,
                    self.max_retries, delay)
        if self.cancel.wait(delay):
            raise DownloadCancelled("download cancelled; run it again to resume")


def _with_retries(step: Callable[[], Any], retry: _RetryPolicy, cancel: threading.Event, *,
                  connected: bool, meter: _Meter | None = None) -> Any:
    """Run ``step`` until it succeeds, retrying _Retryable failures with back-off.

    Until the server has answered once (``connected``), "cannot connect" is final: the
    user is offline or the endpoint is wrong, and waiting would only hide that.
    """
    while True:
        if cancel.is_set():
            raise DownloadCancelled("download cancelled; run it again to resume")
        before = meter.downloaded if meter else 0
        try:
            return step()
        except _Retryable as error:
            if cancel.is_set():
                raise DownloadCancelled("download cancelled; run it again to resume") \
                    from error
            if isinstance(error, _Offline) and not connected:
                raise DownloadError(str(error)) from error
            connected = True
            if meter and meter.downloaded > before:
                retry.failures = 0  # progress was made: only consecutive failures count
            retry.wait_or_give_up(error)


def _stream_into(remote: _Remote, partial: PartialFile, meter: _Meter,
                 cancel: threading.Event) -> None:
    """GET the rest of the file from where ``partial`` ends, appending to it."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, hf_raise_for_status

    have = partial.sync()
    if remote.size is not None and have >= remote.size:
        return
    headers = dict(remote.headers)
    if have:
        headers["Range"] = f"bytes={have}-"
    timeout = httpx2.Timeout(constants.HF_HUB_DOWNLOAD_TIMEOUT, connect=CONNECT_TIMEOUT_S)
    with _hub_errors(remote.repo_id, remote.filename, remote.revision, remote.endpoint), \
            get_session().stream("GET", remote.url, headers=headers, timeout=timeout) as resp:
        if resp.status_code == 416 and have:
            partial.restart()  # our partial is longer than the file: start again
            meter.reset(0)
            raise _Retryable("the server refused our resume offset")
        hf_raise_for_status(resp)
        if have and resp.status_code == 200:
            log.warning("server ignored the Range header; restarting %s from 0",
                        partial.path.name)
            partial.restart()
            meter.reset(0)
        elif have and not _range_starts_at(resp.headers.get("Content-Range"), have):
            raise _Retryable(f"bad Content-Range {resp.headers.get('Content-Range')!r}")
        space = _SpaceWatch(partial.path)
        with partial.appender() as write, _CancelWatch(resp, cancel):
            for chunk in resp.iter_bytes():
                if cancel.is_set():
                    break
                if remote.size is not None and partial.length + len(chunk) > remote.size:
                    raise DownloadError(f"the server sent more than the {remote.size} bytes "
                                        "it announced")
                space.check(len(chunk))
                write(chunk)
                meter.add(len(chunk))
    if cancel.is_set():
        raise DownloadCancelled("download cancelled; run it again to resume")
    if remote.size is not None and partial.length < remote.size:
        raise _Retryable(f"connection closed at byte {partial.length} of {remote.size}")


class _SpaceWatch:
    """Free space, checked every few MiB while writing: the size may be unknown (no check
    before starting is possible then), and other programs fill disks too."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self.models_dir = part.parent.parent  # models_dir/.partial/<name>.part
        self.unchecked = SPACE_CHECK_BYTES  # check before the first write too

    def check(self, incoming: int) -> None:
        self.unchecked += incoming
        if self.unchecked < SPACE_CHECK_BYTES:
            return
        self.unchecked = 0
        free = free_disk_bytes(self.models_dir)
        if free - incoming - SPACE_CHECK_BYTES >= DISK_RESERVE_BYTES:
            return  # room for this chunk and everything until the next check
        name = self.part.name.removesuffix(".part")
        have = self.part.stat().st_size if self.part.exists() else 0
        raise DownloadError(
            f"the disk is nearly full ({format_bytes(free)} free in {self.models_dir}; "
            f"chatdesk keeps {format_bytes(DISK_RESERVE_BYTES)} free), so the download "
            f"stopped after {format_bytes(have)}. The unfinished file {self.part} was kept: "
            "free some space and run the same download again to resume it, or delete it "
            f"with `chatdesk models remove {name}`")


def _range_starts_at(content_range: str | None, offset: int) -> bool:
    match = re.match(r"\s*bytes\s+(\d+)-", content_range or "")
    return bool(match) and int(match.group(1)) == offset


class _CancelWatch:
    """While active, a cancel shuts the response's socket so a stalled read returns now."""

    def __init__(self, response: Any, cancel: threading.Event) -> None:
        self.response, self.cancel = response, cancel
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="download-cancel", daemon=True)

    def __enter__(self) -> _CancelWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self.done.wait(0.05):
            if self.cancel.is_set():
                stream = self.response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return


class _Meter:
    """Progress with speed over a sliding window and an ETA, at most ~10 callbacks/s."""

    def __init__(self, downloaded: int, total: int | None,
                 callback: Callable[[DownloadProgress], None] | None) -> None:
        self.downloaded, self.total, self.callback = downloaded, total, callback
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), downloaded)])
        self.last_emit = 0.0

    def reset(self, downloaded: int) -> None:
        self.downloaded = downloaded
        self.samples = deque([(time.monotonic(), downloaded)])

    def add(self, count: int) -> None:
        self.downloaded += count
        self.emit()

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.callback is None or (not force and now - self.last_emit < PROGRESS_INTERVAL_S):
            return
        self.last_emit = now
        self.samples.append((now, self.downloaded))
        while len(self.samples) > 2 and now - self.samples[0][0] > SPEED_WINDOW_S:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        speed = (self.downloaded - d0) / (now - t0) if now > t0 else 0.0
        eta = None
        if self.total is not None and speed > 0:
            eta = max(0.0, (self.total - self.downloaded) / speed)
        self.callback(DownloadProgress(self.downloaded, self.total, speed, eta))
