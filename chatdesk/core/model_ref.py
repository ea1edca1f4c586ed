"""Model references: a local .gguf path, or a model on an OpenAI-compatible server.

A reference is the one string that names "what answered": it is what a load request
carries, what the settings remember as the last model and what the history keeps in each
answer's ``model`` field. A remote one reads ``remote:<base URL>#<model id>``: a URL's
fragment never reaches a server, so ``#`` cannot be part of a usable base URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

REMOTE_PREFIX = "remote:"


@dataclass(frozen=True)
class RemoteModel:
    base_url: str  # e.g. http://gpu-box:8000/v1
    model: str  # the server's model id

    @property
    def ref(self) -> str:
        return f"{REMOTE_PREFIX}{self.base_url}#{self.model}"

    @property
    def host(self) -> str:
        """host[:port] of the server, for people ('gpu-box:8000')."""
        return server_host(self.base_url)


def is_remote(ref: str | None) -> bool:
    return bool(ref) and str(ref).startswith(REMOTE_PREFIX)


def parse_remote(ref: str | None) -> RemoteModel | None:
    """The server and model a remote reference names; None for anything else."""
    if not is_remote(ref):
        return None
    assert ref is not None
    base_url, sep, model = ref[len(REMOTE_PREFIX):].partition("#")
    if not sep or not base_url or not model:
        return None
    return RemoteModel(base_url, model)


def normalize_base_url(url: str) -> str:
    """'gpu-box:8000' -> 'http://gpu-box:8000/v1'; a trailing slash or a full endpoint path
    ('/v1/chat/completions') is trimmed, so one server has one spelling."""
    url = url.strip()
    if not url:
        raise ValueError("the server URL is empty")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the server URL must start with http:// or https:// (got {url!r})")
    if not parts.hostname:
        raise ValueError(f"the server URL has no host name ({url!r})")
    if "#" in url or parts.query:
        raise ValueError("the server URL must not have a query or a '#' part")
    path = parts.path.rstrip("/")
    for tail in ("/chat/completions", "/completions", "/models"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    if not path:
        path = "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def server_host(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts.netloc or base_url
