"""Is a server reachable at all? A quick answer before a slow client retries for 20 s.

huggingface_hub retries a failed connection with back-off (five tries, about 23 s in all
for a search), and a raw errno ("[Errno -2] Name or service not known") tells a user
nothing. One TCP connect with a short timeout answers the only question that matters
first: can this machine reach the host (or the proxy that would carry the request)?
A host that accepts the connection counts as reachable; what it then answers is the
client's business.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0
DNS_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Unreachable:
    """Where we could not connect, and why, in plain words (no errno)."""

    target: str  # "https://huggingface.co", or "proxy.lan:3128 (the proxy)"
    why: str  # "the connection was refused"

    def __str__(self) -> str:
        return f"cannot reach {self.target} ({self.why})"


def offline_reason(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Unreachable | None:
    """None when ``url``'s host (or its proxy) accepts a TCP connection, else where and
    why not: "cannot reach huggingface.co (the name does not resolve: ...)"."""
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return Unreachable(repr(url), "not a web address")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    proxy = _proxy_for(parsed.scheme, host)
    target = f"{parsed.scheme}://{parsed.netloc}"
    if proxy is not None:
        host, port = proxy
        target = f"{host}:{port} (the proxy)"
    addresses = _resolve(host, port)
    if isinstance(addresses, str):
        return Unreachable(target, addresses)
    last = "no address to connect to"
    for family, kind, proto, _name, address in addresses:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.settimeout(timeout_s)
                probe.connect(address)
            return None
        except TimeoutError:
            last = f"no answer within {timeout_s:g} s"
        except ConnectionRefusedError:
            last = "the connection was refused"
        except OSError as error:
            last = plain_os_error(error)
    return Unreachable(target, last)


def _resolve(host: str, port: int) -> list[tuple] | str:
    """getaddrinfo with a deadline (it has none of its own and can hang for 20 s when the
    name server is unreachable); a string says why it failed."""
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            result["ok"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            result["error"] = error

    worker = threading.Thread(target=lookup, name="dns-lookup", daemon=True)
    worker.start()
    worker.join(DNS_TIMEOUT_S)
    if worker.is_alive():
        return f"no answer from the name server within {DNS_TIMEOUT_S:g} s"
    if "error" in result:
        error = result["error"]
        if isinstance(error, socket.gaierror):
            return "the name does not resolve: no network, or no such host"
        return plain_os_error(error)  # type: ignore[arg-type]
    return list(result["ok"])  # type: ignore[call-overload]


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy the environment (HTTPS_PROXY, NO_PROXY...) sends ``host`` through."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    if not parsed.hostname:
        return None
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def plain_os_error(error: OSError) -> str:
    """An OSError without its errno prefix: 'Network is unreachable'."""
    text = error.strerror or str(error) or type(error).__name__
    return text[:1].lower() + text[1:]
