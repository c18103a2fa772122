"""Credentials as the client holds them: never printed, checked where they enter."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ..exceptions import VippsConfigurationError

__all__ = [
    "SYSTEM_HEADER_MAX_LENGTH",
    "Secret",
    "SecretHeaders",
    "checked",
    "credential_problem",
    "require",
    "system_headers",
    "without_password",
]

#: How much of each ``Vipps-System-*`` header Vipps accepts.
SYSTEM_HEADER_MAX_LENGTH = 30


class Secret:
    """A credential that prints as ``***``: in reprs, logs, error pages and frame dumps.

    The client keeps its client secret, subscription key and tokens in these; the raw value is
    taken out (:meth:`reveal`) only where a header is built for the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash((Secret, hashlib.sha256(self._value.encode()).digest()))


#: Headers whose values are secrets: shown as ``***`` when a header set is printed.
_SECRET_HEADERS = frozenset({"authorization", "client_secret", "ocp-apim-subscription-key"})


class SecretHeaders(dict[str, str]):
    """The headers of one request; printing them (an error page, a log) masks the secrets."""

    def __repr__(self) -> str:
        shown = {
            name: "***" if name.lower() in _SECRET_HEADERS else value
            for name, value in self.items()
        }
        return f"SecretHeaders({shown!r})"


def credential_problem(value: Any) -> str | None:
    """Why ``value`` cannot be sent as a credential in an HTTP header, or ``None`` if it can.

    Never quotes the value: the answer goes into messages, logs and system checks.
    """
    text = "" if value is None else str(value)
    if not text:
        return "is empty"
    if text != text.strip():
        return "starts or ends with a space or line break; copy it again without them"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return (
            "contains a character HTTP headers cannot carry (a typographic quote or another "
            "character pasted from a document?); copy it again from the Vipps MobilePay "
            "business portal"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "contains a control character; copy it again from the portal"
    return None


def checked(name: str, value: Any) -> str:
    """A credential as HTTP headers can carry it; a configuration error naming it otherwise.

    Checked where it enters, so a secret pasted with a typographic quote never fails halfway
    through building a request (where an error page would show it).
    """
    problem = credential_problem(value)
    if problem is not None:
        raise VippsConfigurationError(f"{name} {problem}")
    return str(value)


def require(**credentials: Any) -> None:
    """Refuse, naming each one, the credentials that were not given at all."""
    missing = [name for name, value in credentials.items() if value is None or not str(value)]
    if missing:
        raise VippsConfigurationError(
            f"Missing Vipps credentials: {', '.join(missing)}. Find them in the Vipps MobilePay "
            "business portal under Utvikler/Developer -> API keys."
        )


def system_headers(name: str, version: str, plugin: str, plugin_version: str) -> dict[str, str]:
    """The four headers that tell Vipps who calls, each cut to the length Vipps accepts."""
    return {
        header: checked(header, value)[:SYSTEM_HEADER_MAX_LENGTH]
        for header, value in (
            ("Vipps-System-Name", name),
            ("Vipps-System-Version", version),
            ("Vipps-System-Plugin-Name", plugin),
            ("Vipps-System-Plugin-Version", plugin_version),
        )
    }


def without_password(value: Any) -> Any:
    """``value`` for a message: a user name and password in its authority left out."""
    if not isinstance(value, str):
        return value
    head, slashes, rest = value.partition("//")
    if not slashes:
        head, rest = "", value
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    authority = rest[:end]
    if "@" not in authority:
        return value
    return f"{head}{slashes}***@{authority.rpartition('@')[2]}{rest[end:]}"
