"""The parsers of the monitoring settings, ``HEALTH`` and ``HEALTH_TOKEN`` (declared in
:data:`.conf.SCHEMA`): when the health summary warns or is critical, and the secret that lets a
monitoring system read it without logging in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .schema import Context, Invalid, Problem, as_duration, sub_dict

__all__ = [
    "HEALTH_DEFAULT",
    "HEALTH_TOKEN_MIN_LENGTH",
    "HealthThresholds",
    "health_thresholds",
    "health_token",
]


@dataclass(frozen=True)
class HealthThresholds:
    """When the health summary warns or is critical (``HEALTH``); ``None`` turns a rule off."""

    #: The oldest pending row older than this: warning.
    oldest_pending: timedelta | None
    #: A row waiting for staff this long: critical (any younger one: warning).
    waiting_for_staff: timedelta | None
    #: Rows pending this long and no successful call for as long: critical.
    no_success: timedelta | None


HEALTH_DEFAULT = {
    "OLDEST_PENDING": timedelta(minutes=15),
    "WAITING_FOR_STAFF": timedelta(days=1),
    "NO_SUCCESS": timedelta(hours=1),
}
_HEALTH_EXAMPLES = {
    "OLDEST_PENDING": "timedelta(minutes=15)",
    "WAITING_FOR_STAFF": "timedelta(days=1)",
    "NO_SUCCESS": "timedelta(hours=1)",
}


def health_thresholds(value: Any, context: Context) -> HealthThresholds:
    health = sub_dict(value, HEALTH_DEFAULT, "HEALTH")
    found = {key: as_duration(given) for key, given in health.items()}
    problems = [
        Problem(
            f"is {given!r}, not a positive timedelta, a number of seconds or None",
            (key,),
            f"Use e.g. {_HEALTH_EXAMPLES[key]}, or None to turn the rule off.",
        )
        for key, given in health.items()
        if given is not None and found[key] is None
    ]
    if problems:
        raise Invalid(*problems)
    return HealthThresholds(*(found[key] for key in HEALTH_DEFAULT))


#: What a bearer token may hold (RFC 6750's token68), and how short it may be: the health URL is
#: on the internet, so a short token would be guessed.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
HEALTH_TOKEN_MIN_LENGTH = 32


def health_token(value: Any, context: Context) -> str | None:
    """A long random string, or ``None``. Reasons never quote it: it is a secret."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid(f"is a {type(value).__name__}, not text")
    if not _TOKEN.fullmatch(value):
        raise Invalid("has a character other than letters, digits and -._~+/=")
    if len(value) < HEALTH_TOKEN_MIN_LENGTH:
        raise Invalid(f"has {len(value)} characters, fewer than {HEALTH_TOKEN_MIN_LENGTH}")
    return value
