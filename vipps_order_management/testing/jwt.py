"""Tiny HS256 JSON Web Tokens with the standard library only.

The fake Vipps server issues real, decodable JWTs because Vipps's own SDKs read ``exp`` from the
token to decide when to refresh it; an opaque string would hide bugs in exactly that code. Only
HS256 is supported: the fake signs with a random per-server key, so a token from another fake (or
a forged one) fails verification just as a foreign token fails at Vipps. No third-party JWT
library is needed, which keeps the fake usable in any host project.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ExpiredTokenError",
    "JWTError",
    "b64url_decode",
    "b64url_encode",
    "decode",
    "decode_header",
    "encode",
]

ALGORITHM = "HS256"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class JWTError(ValueError):
    """The token is malformed, not HS256, badly signed, or not valid at the given time."""


class ExpiredTokenError(JWTError):
    """The token's ``exp`` has passed (only raised when ``decode`` is given ``now``)."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JWT segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; padding is optional, anything else is a ``JWTError``."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise JWTError("segment is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex rules these out
        raise JWTError("segment is not base64url") from exc


def _key_bytes(key: bytes | str) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _json_segment(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(dict(value), separators=(",", ":"), sort_keys=True).encode())


def _sign(signing_input: str, key: bytes | str) -> bytes:
    return hmac.new(_key_bytes(key), signing_input.encode("ascii"), hashlib.sha256).digest()


def encode(
    claims: Mapping[str, Any], key: bytes | str, *, headers: Mapping[str, Any] | None = None
) -> str:
    """Return a compact HS256 JWT for ``claims``; extra ``headers`` cannot change the algorithm."""
    header = {**(headers or {}), "alg": ALGORITHM, "typ": "JWT"}
    signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
    return f"{signing_input}.{b64url_encode(_sign(signing_input, key))}"


def _load_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JWTError(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise JWTError(f"{what} is not a JSON object")
    return value


def _split(token: str) -> list[str]:
    if not isinstance(token, str):
        raise JWTError("token must be a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("token must have three dot-separated segments")
    return parts


def decode_header(token: str) -> dict[str, Any]:
    """The token's header, unverified."""
    return _load_segment(_split(token)[0], "header")


def decode(
    token: str,
    key: bytes | str | None = None,
    *,
    verify: bool = True,
    now: float | None = None,
    leeway: float = 0.0,
) -> dict[str, Any]:
    """Return the claims of ``token``.

    With ``verify`` (the default) the header must say HS256 and the signature must match ``key``.
    When ``now`` (epoch seconds) is given, ``exp`` and ``nbf`` are checked too; the fake server
    passes its own adjustable clock here rather than the wall clock.
    """
    header_segment, claims_segment, signature_segment = _split(token)
    header = _load_segment(header_segment, "header")
    claims = _load_segment(claims_segment, "claims")
    if verify:
        if key is None:
            raise JWTError("a key is needed to verify the signature")
        if header.get("alg") != ALGORITHM:
            raise JWTError(f"unsupported algorithm {header.get('alg')!r}; only HS256 is accepted")
        expected = _sign(f"{header_segment}.{claims_segment}", key)
        if not hmac.compare_digest(expected, b64url_decode(signature_segment)):
            raise JWTError("signature does not match")
    if now is not None:
        expires = claims.get("exp")
        if isinstance(expires, int | float) and now >= expires + leeway:
            raise ExpiredTokenError("token has expired")
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and now + leeway < not_before:
            raise JWTError("token is not valid yet")
    return claims
