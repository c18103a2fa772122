"""The access token: what it is, where it is kept between calls, and when to fetch a new one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AccessToken",
    "CacheTokenStore",
    "MemoryTokenStore",
    "TokenStore",
    "store_key",
    "token_from_answer",
]

#: Refresh a token when less than this share of its lifetime, or 60 s, is left.
REFRESH_FRACTION = 0.1
REFRESH_MINIMUM_SECONDS = 60.0
#: The lifetime assumed when Vipps says nothing of it.
DEFAULT_LIFETIME_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the epoch second it stops being used (a margin before real expiry)."""

    value: str = field(repr=False)
    refresh_at: float

    def usable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.refresh_at

    def __repr__(self) -> str:
        return f"AccessToken(value='***', refresh_at={self.refresh_at:.0f})"


class TokenStore(Protocol):
    """Where access tokens live between calls; share one store between processes if you can."""

    def get(self, key: str) -> AccessToken | None: ...

    def set(self, key: str, token: AccessToken) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryTokenStore:
    """Per-process token store: the default outside Django."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class CacheTokenStore:
    """Token store over any cache with Django's ``get``/``set``/``delete`` signature."""

    def __init__(self, cache: Any, *, prefix: str = "vipps_order_management:token:") -> None:
        self.cache = cache
        self.prefix = prefix

    def get(self, key: str) -> AccessToken | None:
        value = self.cache.get(self.prefix + key)
        if isinstance(value, list | tuple) and len(value) == 2:
            return AccessToken(str(value[0]), float(value[1]))
        return None

    def set(self, key: str, token: AccessToken) -> None:
        timeout = max(1, int(token.refresh_at - time.time()))
        self.cache.set(self.prefix + key, (token.value, token.refresh_at), timeout)

    def delete(self, key: str) -> None:
        self.cache.delete(self.prefix + key)


def store_key(*identity: str) -> str:
    """The key one set of credentials keeps its token under: the same keys share one token.

    A hash, so a cache listing shows no credential.
    """
    return hashlib.sha256("\0".join(identity).encode()).hexdigest()[:32]


def token_from_answer(data: Mapping[str, Any], now: float | None = None) -> AccessToken:
    """The token in the token endpoint's answer, to be refreshed before it runs out.

    Raises ``KeyError`` or ``TypeError`` when the answer holds no ``access_token``.
    """
    value = str(data["access_token"])
    now = time.time() if now is None else now
    lifetime = _number(data.get("expires_in"))
    if lifetime is None:
        expires_on = _number(data.get("expires_on")) or _jwt_expiry(value)
        lifetime = (expires_on - now) if expires_on else DEFAULT_LIFETIME_SECONDS
    # Refresh at 10 % (at least 60 s) before expiry, but never later than half-way, so a
    # short-lived token is still reused.
    margin = min(max(REFRESH_MINIMUM_SECONDS, lifetime * REFRESH_FRACTION), lifetime / 2)
    return AccessToken(value, now + lifetime - margin)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying (we only need to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None
