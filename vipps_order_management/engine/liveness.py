"""What processes tell each other through the shared cache: a worker at work, Vipps failing.

The ``TOKEN_CACHE`` alias is shared by every process in production (Redis, the database), so
the health summary of a web process sees the workers' heartbeats and when a circuit breaker
last opened, without a table of its own. With a per-process cache (LocMem, the dummy cache) a
process sees only its own: :func:`shared` says whether the others can be seen at all.

Nothing here raises: a cache that fails costs the summary an answer, never a worker a send.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import caches
from django.utils import timezone

from ..conf import app_settings

__all__ = ["Heartbeat", "breaker_opened", "last_breaker_opening", "last_heartbeat", "shared"]

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "vipps_order_management:health:worker"
BREAKER_KEY = "vipps_order_management:health:breaker_opened"
#: How long the cache keeps what was said: long after anyone would call it recent.
KEEP_SECONDS = 7 * 24 * 3600

#: Cache backends whose entries only their own process sees.
_PER_PROCESS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@dataclass(frozen=True)
class Heartbeat:
    """The worker that said it was at work last, and when."""

    worker: str
    at: datetime


def _set(key: str, value: object) -> None:
    try:
        caches[app_settings.TOKEN_CACHE].set(key, value, KEEP_SECONDS)
    except Exception:  # the cache is down or misconfigured: the send goes on
        logger.debug("Could not write %s to the cache", key, exc_info=True)


def _get(key: str) -> object:
    try:
        return caches[app_settings.TOKEN_CACHE].get(key)
    except Exception:
        logger.debug("Could not read %s from the cache", key, exc_info=True)
        return None


def _when(stamp: object) -> datetime | None:
    return datetime.fromtimestamp(stamp, tz=UTC) if isinstance(stamp, int | float) else None


def worker_seen(worker_id: str) -> None:
    """Say that ``worker_id`` is at work now (the worker loop, every few seconds at most)."""
    _set(HEARTBEAT_KEY, {"worker": worker_id[:100], "at": timezone.now().timestamp()})


def last_heartbeat() -> Heartbeat | None:
    found = _get(HEARTBEAT_KEY)
    if not isinstance(found, dict):
        return None
    at = _when(found.get("at"))
    return Heartbeat(str(found.get("worker", "")), at) if at is not None else None


def breaker_opened() -> None:
    """A drain's circuit breaker opened: Vipps (or the image storage) is failing right now."""
    _set(BREAKER_KEY, timezone.now().timestamp())


def last_breaker_opening() -> datetime | None:
    return _when(_get(BREAKER_KEY))


def shared() -> bool:
    """Whether other processes' heartbeats can reach this one (the cache is not per process)."""
    from django.conf import settings

    alias = app_settings.get("TOKEN_CACHE")
    backend = str((getattr(settings, "CACHES", {}).get(alias) or {}).get("BACKEND", ""))
    return bool(backend) and backend not in _PER_PROCESS
