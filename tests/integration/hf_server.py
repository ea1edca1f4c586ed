"""A tiny stand-in for the Hugging Face Hub, for download tests (127.0.0.1 only).

It answers what huggingface_hub 2.x asks for a single-file download, the way the Hub does:

* ``HEAD``/``GET /{org}/{repo}/resolve/{revision}/{path}``: for an LFS file a ``302`` to a
  "CDN" carrying ``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256), ``X-Linked-Size`` and
  ``ETag``; for a small non-LFS file a ``200`` whose ``ETag`` is the git blob sha1. Errors
  carry the Hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound,
  GatedRepo) so huggingface_hub raises its typed errors.
* ``HEAD``/``GET /cdn/{sha256}``: the bytes, with ``Range`` (``206`` + ``Content-Range``).
  The CDN lives at ``http://localhost:{port}`` while the endpoint is
  ``http://127.0.0.1:{port}``: another origin, like the real CDN, so a client that leaks
  the token to it is caught (``Served.authorization``).

Any other request is recorded in ``unexpected`` and printed, and the tests' fixture fails
on it. ``Faults`` injects the trouble real networks make: drops, 5xx, wrong bytes,
throttling, stalls, and servers that ignore ``Range``. Every response is logged with the
body bytes it really sent, so a test can prove a resume did not fetch bytes twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SEND_BLOCK = 256 * 1024
STALL_LIMIT_S = 30.0


@dataclass
class RepoFile:
    """One file: bytes in memory, or a path on disk (the 253 MB GGUF stays on disk)."""

    size: int
    sha256: str
    lfs: bool = True
    data: bytes | None = None
    path: Path | None = None

    def read(self, offset: int, length: int) -> bytes:
        if self.data is not None:
            return self.data[offset:offset + length]
        assert self.path is not None
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    @property
    def git_sha1(self) -> str:
        """What the Hub sends as the ETag of a non-LFS file: git's blob id."""
        digest = hashlib.sha1(f"blob {self.size}\0".encode(), usedforsecurity=False)
        for offset in range(0, self.size, 1 << 20):
            digest.update(self.read(offset, 1 << 20))
        return digest.hexdigest()


@dataclass
class Repo:
    commit: str
    files: dict[str, RepoFile] = field(default_factory=dict)
    gated: bool = False


@dataclass
class Faults:
    """Trouble to inject; change fields between (or during) requests. Counters decrement."""

    fail_first: int = 0            # the next K requests (any kind) answer ``fail_status``
    fail_status: int = 500
    drop_after: int | None = None  # close the socket after this many body bytes ...
    drop_times: int = 0            # ... in this many responses (then serve normally)
    corrupt: bool = False          # flip one byte of the file in every body sent
    throttle_bps: float | None = None
    stall_after: int | None = None  # send this many body bytes, then go silent
    ignore_range: bool = False     # answer Range requests with 200 and the whole file
    hide_size: bool = False        # announce no size: no X-Linked-Size, no Content-Length


@dataclass
class Served:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    status: int
    authorization: str | None
    body_bytes: int = 0


class FakeHub:
    """Start with ``with FakeHub() as hub:``; point ``HF_ENDPOINT`` at ``hub.endpoint``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.served: list[Served] = []
        self.unexpected: list[str] = []
        self.valid_token: str | None = None  # a gated repo opens to ``Bearer <valid_token>``
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="fake-hub")

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn(self) -> str:
        return f"http://localhost:{self.port}"

    # -- content -------------------------------------------------------------------------

    def add_file(self, repo_id: str, filename: str, *, data: bytes | None = None,
                 path: Path | None = None, sha256: str | None = None, lfs: bool = True,
                 gated: bool = False) -> RepoFile:
        """Serve ``data`` (or the file at ``path``) as ``repo_id``/``filename``."""
        if data is not None:
            size, digest = len(data), sha256 or hashlib.sha256(data).hexdigest()
        else:
            assert path is not None
            size = path.stat().st_size
            digest = sha256 or _sha256_of(path)
        repo = self.repos.setdefault(
            repo_id, Repo(commit=hashlib.sha1(repo_id.encode()).hexdigest()))
        repo.gated = repo.gated or gated
        entry = RepoFile(size=size, sha256=digest, lfs=lfs, data=data, path=path)
        repo.files[filename] = entry
        return entry

    # -- observations --------------------------------------------------------------------

    def requests(self, method: str | None = None, kind: str | None = None) -> list[Served]:
        """Served requests, optionally by method and by kind ('resolve' or 'cdn')."""
        with self._lock:
            rows = list(self.served)
        if method:
            rows = [r for r in rows if r.method == method]
        if kind:
            rows = [r for r in rows if (r.path.startswith("/cdn/")) == (kind == "cdn")]
        return rows

    def body_bytes(self) -> int:
        """File bytes sent in all GET bodies (error pages are not counted)."""
        return sum(r.body_bytes for r in self.requests("GET") if r.status in (200, 206))

    def reset_log(self) -> None:
        with self._lock:
            self.served.clear()

    # -- used by the handler ---------------------------------------------------------------

    def _take_failure(self) -> int | None:
        with self._lock:
            if self.faults.fail_first > 0:
                self.faults.fail_first -= 1
                return self.faults.fail_status
        return None

    def _take_drop(self) -> int | None:
        with self._lock:
            if self.faults.drop_after is not None and self.faults.drop_times > 0:
                self.faults.drop_times -= 1
                return self.faults.drop_after
        return None

    def _record(self, row: Served) -> None:
        with self._lock:
            self.served.append(row)

    def _unexpected(self, text: str) -> None:
        with self._lock:
            self.unexpected.append(text)
        print(f"\n!!! FakeHub: UNEXPECTED REQUEST {text}", file=sys.stderr, flush=True)

    def _find_blob(self, sha: str) -> RepoFile | None:
        for repo in self.repos.values():
            for entry in repo.files.values():
                if entry.sha256 == sha:
                    return entry
        return None


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic test bytes that neither compress nor repeat in small blocks."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    def do_POST(self) -> None:
        self._fail_unexpected()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    # -- routing -------------------------------------------------------------------------

    def _route(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        if (status := self.hub._take_failure()) is not None:
            self._reply(status, {"X-Error-Message": "injected failure"}, b"injected failure")
            return
        if match := _RESOLVE.match(path):
            self._resolve(unquote(match["repo"]), unquote(match["rev"]),
                          unquote(match["file"]), body=body)
        elif path == "/api/models":  # a search: every repo, as the Hub lists them
            self._reply_json([{"id": repo_id, "modelId": repo_id} for repo_id in self.hub.repos])
        elif match := _TREE.match(path):
            repo = self.hub.repos.get(unquote(match["repo"]))
            self._reply_json([{"type": "file", "path": name, "size": entry.size,
                               "oid": entry.git_sha1} for name, entry in repo.files.items()]
                             if repo else [])
        elif match := _CDN.match(path):
            blob = self.hub._find_blob(match["sha"])
            if blob is None:
                self._reply(404, {}, b"no such blob")
            else:
                self._send_file(blob, body=body)
        else:
            self._fail_unexpected()

    def _reply_json(self, value: object) -> None:
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def _fail_unexpected(self) -> None:
        self.hub._unexpected(f"{self.command} {self.path}")
        self._reply(404, {}, b"FakeHub does not serve this")

    def _resolve(self, repo_id: str, revision: str, filename: str, *, body: bool) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._reply(404, {"X-Error-Code": "RepoNotFound",
                              "X-Error-Message": "Repository not found"}, b"")
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {self.hub.valid_token}":
            self._reply(403, {"X-Error-Code": "GatedRepo",
                              "X-Error-Message": "Access to this model is restricted"}, b"")
            return
        if revision not in ("main", repo.commit):
            self._reply(404, {"X-Error-Code": "RevisionNotFound",
                              "X-Error-Message": "Invalid rev id"}, b"")
            return
        entry = repo.files.get(filename)
        if entry is None:
            self._reply(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit,
                              "X-Error-Message": "Entry not found"}, b"")
            return
        if entry.lfs:
            self._reply(302, {
                "Location": f"{self.hub.cdn}/cdn/{entry.sha256}",
                "X-Repo-Commit": repo.commit,
                "X-Linked-Etag": f'"{entry.sha256}"',
                **({} if self.hub.faults.hide_size else {"X-Linked-Size": str(entry.size)}),
                "ETag": '"0123456789abcdef0123456789abcdef01234567"',  # the pointer's
            }, b"", include_body=body)
        else:
            self._send_file(entry, body=body, extra={"X-Repo-Commit": repo.commit,
                                                     "ETag": f'"{entry.git_sha1}"'})

    # -- responses -----------------------------------------------------------------------

    def _reply(self, status: int, headers: dict[str, str], payload: bytes, *,
               include_body: bool = True) -> None:
        self._log_row(status)  # before answering: a test may look the moment it has its answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if include_body and self.command != "HEAD":
            self.wfile.write(payload)

    def _log_row(self, status: int) -> Served:
        row = Served(self.command, urlsplit(self.path).path, self.headers.get("Range"), status,
                     self.headers.get("Authorization"))
        self.hub._record(row)
        return row

    def _send_file(self, entry: RepoFile, *, body: bool,
                   extra: dict[str, str] | None = None) -> None:
        faults = self.hub.faults
        start, end = 0, entry.size - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not faults.ignore_range:
            match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", wanted)
            if match is None or int(match[1]) >= entry.size:
                self._reply(416, {"Content-Range": f"bytes */{entry.size}"}, b"")
                return
            start = int(match[1])
            end = min(int(match[2]), end) if match[2] else end
            status = 206
        length = max(0, end - start + 1)
        row = self._log_row(status)
        self.send_response(status)
        if faults.hide_size:  # the body ends when the connection closes (HTTP/1.0)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if "ETag" not in (extra or {}):
            self.send_header("ETag", f'"{entry.sha256}"')
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{entry.size}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self._send_body(entry, start, length, self.hub._take_drop(), row)

    def _send_body(self, entry: RepoFile, start: int, length: int, drop_at: int | None,
                   row: Served) -> None:
        """Write the body with the faults in force, counting in ``row`` what was sent.

        Bytes are counted *before* each write: once the client holds them, the count
        already includes them, so a test never reads a count that lags behind.
        """
        faults = self.hub.faults
        flip_at = entry.size // 2 if faults.corrupt else None
        sent = 0
        began = time.monotonic()
        while sent < length:
            block_len = min(SEND_BLOCK, length - sent)
            if faults.throttle_bps:
                block_len = min(block_len, max(1024, int(faults.throttle_bps / 20)))
            limit = _first(drop_at, faults.stall_after)
            if limit is not None and sent < limit:
                block_len = min(block_len, limit - sent)
            block = entry.read(start + sent, block_len)
            if flip_at is not None and start + sent <= flip_at < start + sent + len(block):
                index = flip_at - start - sent
                block = block[:index] + bytes([block[index] ^ 0xFF]) + block[index + 1:]
            row.body_bytes += len(block)
            try:
                self.wfile.write(block)
            except OSError:
                row.body_bytes -= len(block)
                self.close_connection = True
                return
            sent += len(block)
            if drop_at is not None and sent >= drop_at:
                self._drop()
                return
            if faults.stall_after is not None and sent >= faults.stall_after:
                self.hub._stopping.wait(STALL_LIMIT_S)
                self._drop()
                return
            if faults.throttle_bps:
                ahead = sent / faults.throttle_bps - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(min(ahead, 0.5))

    def _drop(self) -> None:
        """Cut the connection mid-body, as a flaky network does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _first(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None
