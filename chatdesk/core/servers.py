"""Connections to OpenAI-compatible servers, and where their API keys live.

A connection is what the user entered in Models › Servers: a name, a base URL, the models
the server listed when it was last tested (so the model picker can offer them without a
network call at start) and an optional price per million tokens for the cost view. It is
stored in the settings, *without* its key: keys go to the system keyring when one exists
(``keyring``), else they are kept in memory for this session only and asked for again.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from chatdesk.core.model_ref import RemoteModel, normalize_base_url

log = logging.getLogger(__name__)

KEYRING_SERVICE = "chatdesk"


@dataclass(frozen=True)
class ServerConnection:
    name: str
    base_url: str  # normalized (model_ref.normalize_base_url)
    models: tuple[str, ...] = ()  # as the server listed them at the last test
    input_per_million: float | None = None  # the user's price, per million prompt tokens
    output_per_million: float | None = None  # per million generated tokens
    currency: str = "USD"
    price_note: str = ""  # where the price came from ('provider page, 2026-05'), shown with it
    needs_key: bool = False  # the user gave a key: a missing one is asked for, not omitted

    def remote_models(self) -> list[RemoteModel]:
        return [RemoteModel(self.base_url, model) for model in self.models]

    @property
    def has_price(self) -> bool:
        return self.input_per_million is not None and self.output_per_million is not None


@dataclass(frozen=True)
class TokenCost:
    """A remote answer's money: tokens times the connection's price, and where it came from."""

    cost: float
    currency: str
    source: str


def token_cost(connection: ServerConnection | None, prompt_tokens: int | None,
               generated_tokens: int | None) -> TokenCost | None:
    """None without a price or without token counts (never a guess dressed as a figure)."""
    if connection is None or not connection.has_price:
        return None
    if prompt_tokens is None or generated_tokens is None:
        return None
    assert connection.input_per_million is not None
    assert connection.output_per_million is not None
    cost = (prompt_tokens * connection.input_per_million
            + generated_tokens * connection.output_per_million) / 1e6
    note = f", {connection.price_note}" if connection.price_note else ""
    return TokenCost(cost, connection.currency or "USD",
                     f"price per million tokens for {connection.name} (your setting{note})")


def find_connection(connections: tuple[ServerConnection, ...],
                    base_url: str | None) -> ServerConnection | None:
    return next((c for c in connections if c.base_url == base_url), None)


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def connection_from_dict(data: Any) -> ServerConnection | None:
    """One stored connection; None (and a log line) for an unusable one, never an error."""
    if not isinstance(data, dict):
        log.warning("settings: ignoring a server connection that is not an object")
        return None
    name, url = data.get("name"), data.get("base_url")
    if not isinstance(name, str) or not name.strip() or not isinstance(url, str):
        log.warning("settings: ignoring a server connection without a name and URL")
        return None
    try:
        base_url = normalize_base_url(url)
    except ValueError as exc:
        log.warning("settings: ignoring server %r: %s", name, exc)
        return None
    models = data.get("models") or []
    if not isinstance(models, list):
        models = []
    text = {key: data.get(key) if isinstance(data.get(key), str) else default
            for key, default in (("currency", "USD"), ("price_note", ""))}
    return ServerConnection(
        name=name.strip(), base_url=base_url,
        models=tuple(m for m in models if isinstance(m, str) and m),
        input_per_million=_price(data.get("input_per_million")),
        output_per_million=_price(data.get("output_per_million")),
        currency=text["currency"] or "USD", price_note=text["price_note"],
        needs_key=data.get("needs_key") is True)


def connections_from_json(raw: Any) -> tuple[ServerConnection, ...]:
    """The stored list; unusable entries and a second entry for one URL are left out."""
    if not isinstance(raw, list):
        if raw is not None:
            log.warning("settings: ignoring 'servers' (not a list)")
        return ()
    seen: set[str] = set()
    result = []
    for item in raw:
        connection = connection_from_dict(item)
        if connection is not None and connection.base_url not in seen:
            seen.add(connection.base_url)
            result.append(connection)
    return tuple(result)


@dataclass
class ApiKeys:
    """API keys by base URL: the system keyring when a real one exists, else this session's
    memory only. Keys never go to the settings file or the log."""

    use_keyring: bool | None = None  # None: use it when a real backend is present
    _memory: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.use_keyring is None:
            self.use_keyring = keyring_available()

    def get(self, base_url: str) -> str | None:
        if base_url in self._memory:
            return self._memory[base_url]
        if not self.use_keyring:
            return None
        try:
            import keyring

            key = keyring.get_password(KEYRING_SERVICE, base_url)
        except Exception as exc:  # a locked or broken keyring: ask the user instead
            log.warning("keyring: cannot read the key for %s (%s)", base_url,
                        type(exc).__name__)
            return None
        if key:
            self._memory[base_url] = key
        return key or None

    def set(self, base_url: str, key: str | None) -> bool:
        """Keep ``key`` (None or '' forgets it). True when it is stored beyond this
        session (in the keyring)."""
        if key:
            self._memory[base_url] = key
        else:
            self._memory.pop(base_url, None)
        if not self.use_keyring:
            return False
        try:
            import keyring

            if key:
                keyring.set_password(KEYRING_SERVICE, base_url, key)
            else:
                with contextlib.suppress(keyring.errors.PasswordDeleteError):
                    keyring.delete_password(KEYRING_SERVICE, base_url)
            return bool(key)
        except Exception as exc:
            log.warning("keyring: cannot store the key for %s (%s); kept for this session "
                        "only", base_url, type(exc).__name__)
            return False

    @property
    def persistent(self) -> bool:
        return bool(self.use_keyring)


def keyring_available() -> bool:
    """A real keyring backend (Secret Service, macOS Keychain, Windows Credential Locker),
    not keyring's 'fail' or plain-text fallbacks."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    name = type(backend).__module__ + "." + type(backend).__name__
    if "plaintext" in name.lower() or "null" in name.lower():
        return False
    return getattr(backend, "priority", 0) > 0


def key_from_environment(variable: str | None) -> str | None:
    """The API key in an environment variable (``--api-key-env``): a key never goes on a
    command line, where other users' ``ps`` and the shell history would see it."""
    import os

    if not variable:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        raise ValueError(f"the environment variable {variable} is not set or empty")
    return key
