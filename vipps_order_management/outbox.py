"""The outbox queue: record a change, claim due rows with a lease, acknowledge by generation.

Database only; it never talks to Vipps. The same functions serve every runner (the embedded
worker, django.tasks, Celery, ``sync_now``) on SQLite and PostgreSQL:

* :func:`record` upserts one row per (order, kind) in the caller's transaction and bumps its
  ``generation``; ten saves before a send make one send.
* :func:`claim` takes due rows with a lease. On PostgreSQL candidates are read with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` so workers do not queue behind each other; on every
  database the lease itself is a conditional ``UPDATE``, so two workers can never hold the
  same row, and a worker that dies simply lets its lease run out.
* :func:`ack` marks a row done only if its generation is still the one claimed; a change that
  arrived during the send leaves the row pending, to be sent again.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .conf import app_settings
from .models import OutboxItem, SyncKind

__all__ = [
    "Claimed",
    "ack",
    "backoff_seconds",
    "claim",
    "fail",
    "record",
    "release",
    "requeue",
    "retry_later",
]

#: Order in which one order's rows are processed: links (with images) before the receipt.
KIND_ORDER = {SyncKind.LINKS.value: 0, SyncKind.RECEIPT.value: 1}


@dataclass(frozen=True)
class Claimed:
    """A leased row and the generation it had when it was claimed."""

    item: OutboxItem
    generation: int
    token: str


def record(
    content_type: ContentType,
    object_id: str,
    kinds: Iterable[str],
    *,
    force: bool = False,
    priority: int = 0,
    due_now: bool = False,
) -> None:
    """Mark the order's ``kinds`` as needing a send. Runs in the caller's transaction.

    A row that is done or dead becomes pending now; a row already pending keeps its schedule
    (so a Vipps outage's backoff is not defeated by a busy shop) unless ``due_now`` (staff
    asking for a send now) or ``force``, and its generation grows.
    """
    now = timezone.now()
    pending = OutboxItem.Status.PENDING
    kinds = list(dict.fromkeys(kinds))
    rows = OutboxItem.objects.filter(content_type=content_type, object_id=object_id)
    changes = {
        "generation": F("generation") + 1,
        "next_attempt_at": Case(
            When(status=pending, then=F("next_attempt_at")), default=Value(now)
        ),
        "pending_since": Case(When(status=pending, then=F("pending_since")), default=Value(now)),
        "attempts": Case(When(status=pending, then=F("attempts")), default=Value(0)),
        "status": Value(pending),
        "priority": Case(When(priority__gt=priority, then=F("priority")), default=Value(priority)),
        "updated_at": now,
    }
    if force:
        changes["force"] = True
    if force or due_now:
        changes["next_attempt_at"] = Value(now)
    # One UPDATE for every kind: the shop's save pays a single statement once the rows exist.
    if rows.filter(kind__in=kinds).update(**changes) == len(kinds):
        return
    existing = set(rows.filter(kind__in=kinds).values_list("kind", flat=True))
    for kind in kinds:
        if kind in existing:
            continue
        try:
            with transaction.atomic():
                OutboxItem.objects.create(
                    content_type=content_type,
                    object_id=object_id,
                    kind=kind,
                    force=force,
                    priority=priority,
                    next_attempt_at=now,
                    pending_since=now,
                )
        except IntegrityError:
            # Another transaction created it between our UPDATE and INSERT.
            rows.filter(kind=kind).update(**changes)


def claim(
    *,
    limit: int,
    worker_id: str,
    lease_seconds: float | None = None,
    only: models.Q | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due rows for ``worker_id``; other workers skip them until expiry."""
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds or app_settings.LEASE_SECONDS)
    token = uuid.uuid4().hex
    with transaction.atomic():
        candidates = OutboxItem.objects.due(now)
        if only is not None:
            candidates = candidates.filter(only)
        candidates = candidates.order_by("-priority", "next_attempt_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # The lease is taken by a conditional UPDATE, so it is exclusive on any database.
        OutboxItem.objects.due(now).filter(pk__in=ids).update(
            lease_until=now + lease,
            leased_by=worker_id[:100],
            lease_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    claimed = OutboxItem.objects.filter(lease_token=token).select_related("content_type")
    return sorted(
        (Claimed(item, item.generation, token) for item in claimed),
        key=lambda c: (c.item.content_type_id, c.item.object_id, KIND_ORDER[c.item.kind]),
    )


def _owned(claimed: Claimed) -> models.QuerySet:
    return OutboxItem.objects.filter(pk=claimed.item.pk, lease_token=claimed.token)


def _unchanged(claimed: Claimed) -> models.QuerySet:
    return _owned(claimed).filter(generation=claimed.generation)


def ack(claimed: Claimed, result: str = "") -> bool:
    """Mark done if nothing changed since the claim; else release it to be sent again now.

    Returns whether the row was marked done.
    """
    now = timezone.now()
    done = _unchanged(claimed).update(
        status=OutboxItem.Status.DONE,
        force=False,
        lease_until=None,
        lease_token="",
        result=result[:200],
        last_error="",
        last_status_code=None,
        done_at=now,
        updated_at=now,
    )
    if done:
        return True
    release(claimed, immediately=True)
    return False


def release(claimed: Claimed, *, immediately: bool = False) -> None:
    """Give the row back without counting an attempt (shutdown, or changed during the send)."""
    changes: dict = {
        "lease_until": None,
        "lease_token": "",
        "attempts": F("attempts") - 1,  # the claim counted one
        "updated_at": timezone.now(),
    }
    if immediately:
        changes["next_attempt_at"] = timezone.now()
    _owned(claimed).update(**changes)


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped, never sooner than Vipps's ``Retry-After``."""
    retry = app_settings.RETRY
    base = float(retry["BASE_SECONDS"])
    cap = float(retry["CAP_SECONDS"])
    jitter = float(retry["JITTER"])
    delay = min(cap, base * 2 ** min(max(0, attempts - 1), 32))
    delay *= 1 + random.uniform(-jitter, jitter)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, delay)


def _give_up_after() -> timedelta:
    value = app_settings.RETRY["GIVE_UP_AFTER"]
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def retry_later(
    claimed: Claimed,
    error: str,
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
) -> datetime | None:
    """Schedule another attempt; give up (dead) once the row has been pending too long.

    Returns when the next attempt is due, or ``None`` when the row was dead-lettered.
    """
    now = timezone.now()
    item = claimed.item
    if now - item.pending_since > _give_up_after():
        fail(claimed, f"Gave up after {now - item.pending_since}: {error}", status_code=status_code)
        return None
    due = now + timedelta(seconds=backoff_seconds(item.attempts, retry_after))
    _owned(claimed).update(
        next_attempt_at=due,
        lease_until=None,
        lease_token="",
        last_error=error,
        last_status_code=status_code,
        updated_at=now,
    )
    return due


def fail(claimed: Claimed, error: str, *, status_code: int | None = None) -> bool:
    """Dead-letter the row with its reason, unless the order changed meanwhile (then retry now).

    Returns whether the row is now dead.
    """
    now = timezone.now()
    dead = _unchanged(claimed).update(
        status=OutboxItem.Status.DEAD,
        lease_until=None,
        lease_token="",
        force=False,
        last_error=error,
        last_status_code=status_code,
        dead_at=now,
        updated_at=now,
    )
    if not dead:
        release(claimed, immediately=True)
    return bool(dead)


def requeue(queryset: models.QuerySet) -> int:
    """Make dead (or any) rows pending again, due now, with a fresh age. Returns the count."""
    now = timezone.now()
    waiting = queryset.filter(status=OutboxItem.Status.PENDING).update(next_attempt_at=now)
    return waiting + queryset.exclude(status=OutboxItem.Status.PENDING).update(
        status=OutboxItem.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        pending_since=now,
        lease_until=None,
        lease_token="",
        dead_at=None,
        generation=F("generation") + 1,
        updated_at=now,
    )
