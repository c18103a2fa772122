"""Rows leased to one worker: claim them, keep the lease, write the batch's outcomes in bulk.

The outbox (:mod:`.outbox`) records what must be sent; a worker takes due rows here for a
while. :func:`claim` leases them (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; the
lease itself is a conditional ``UPDATE`` on every database, so two workers never hold one
row); :class:`Lease` is renewed while the worker works; :func:`finish` writes what became of
each row in a handful of statements; :func:`release_all` hands everything back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from ..conf import app_settings
from ..models import OutboxItem, keys_condition
from ..outcomes import Outcome
from .outbox import ALL_KINDS, DEAD, DONE, lock_in_order

__all__ = ["Lease", "RowOutcome", "claim", "finish", "release_all"]


@dataclass
class Lease:
    """The rows one worker holds, until :attr:`expires` unless renewed.

    :meth:`holds` is checked before each order's calls without a query: the expiry only moves
    when :meth:`renew` confirms it in the database, so a worker that could not renew (it
    stalled, or lost the database) stops before its rows may already be someone else's, and a
    row another worker took over is left to it.
    """

    token: str
    seconds: float
    expires: float  # time.monotonic() by which the lease must have been renewed
    rows: list[OutboxItem] = field(default_factory=list)
    held: set[int] = field(default_factory=set)
    renewed_at: float = 0.0
    #: Whether image claims (renewed with the lease) are outstanding.
    images_claimed: bool = False

    #: Share of the lease kept as a margin: no order is started in its last moments.
    MARGIN = 0.1

    def __post_init__(self) -> None:
        if not self.held:
            self.held = {row.pk for row in self.rows}

    def holds(self, row: OutboxItem | None = None) -> bool:
        """Whether the lease (on ``row``) is still ours, with a margin to spare."""
        if row is not None and row.pk not in self.held:
            return False
        return bool(self.held) and time.monotonic() < self.expires - self.seconds * self.MARGIN

    def due_for_renewal(self) -> bool:
        return bool(self.held) and time.monotonic() - self.renewed_at >= self.seconds / 3

    def renew(self) -> bool:
        """Extend the lease on every row still held; a row taken over meanwhile is let go."""
        if not self.held:
            return False
        started = time.monotonic()
        now = timezone.now()
        mine = OutboxItem.objects.filter(lease_token=self.token, pk__in=self.held)
        with transaction.atomic():
            lock_in_order(mine)
            renewed = mine.filter(lease_until__gte=now).update(
                lease_until=now + timedelta(seconds=self.seconds)
            )
        if renewed < len(self.held):
            # Rare: some rows expired before we came back (a stall). Keep only what is ours.
            self.held = (
                set(mine.filter(lease_until__gt=now).values_list("pk", flat=True))
                if renewed
                else set()
            )
        if self.held:
            self.expires = started + self.seconds
            self.renewed_at = started
        return bool(self.held)


def claim(
    *,
    limit: int,
    worker_id: str,
    lease_seconds: float | None = None,
    only: Q | None = None,
) -> Lease | None:
    """Lease the due rows of up to ``limit`` orders for ``worker_id``, until the lease expires."""
    seconds = app_settings.LEASE_SECONDS if lease_seconds is None else lease_seconds
    started = time.monotonic()
    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        candidates = OutboxItem.objects.due(now)
        if only is not None:
            candidates = candidates.filter(only)
        candidates = candidates.order_by("-priority", "next_attempt_at", "pk")
        skip_locked = connection.features.has_select_for_update_skip_locked
        if skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        # ``limit`` orders: every due kind of an order is one candidate row at most twice over.
        keys = set()
        for key in candidates.values_list("content_type_id", "object_id")[: limit * len(ALL_KINDS)]:
            keys.add(key)
            if len(keys) == limit:
                break
        if not keys:
            return None
        # Every due row of those orders, so one worker holds all of an order's kinds; rows
        # another worker is claiming right now are skipped, never waited for (no deadlock).
        siblings = OutboxItem.objects.due(now).filter(keys_condition(keys))
        if skip_locked:
            siblings = siblings.select_for_update(skip_locked=True)
        ids = list(siblings.values_list("pk", flat=True))
        OutboxItem.objects.due(now).filter(pk__in=ids).update(
            lease_until=now + timedelta(seconds=seconds),
            leased_by=worker_id[:100],
            lease_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    rows = list(OutboxItem.objects.filter(lease_token=token))
    if not rows:
        return None
    return Lease(token, seconds, started + seconds, rows, renewed_at=started)


# ---------------------------------------------------------------------- finishing a batch


@dataclass
class RowOutcome:
    """What became of one leased row.

    ``status``: ``DONE``; ``RETRY`` (at ``due``); ``DEAD``; ``WAITING`` (nothing to send yet,
    look again at ``due``); ``RELEASED`` (handed back unprocessed, no attempt counted, due now
    or at ``due``).
    """

    row: OutboxItem
    status: Outcome
    message: str = ""
    status_code: int | None = None
    due: datetime | None = None


def _grouped(outcomes: Iterable[RowOutcome], *fields: str) -> dict[tuple[Any, ...], list[int]]:
    """Row ids grouped by the values they are written with: one cheap UPDATE per group.

    A batch's outcomes repeat a handful of values (the same few messages, generation 1, one
    due time per retry round), so a few ``pk IN (...)`` updates beat one statement with a
    CASE branch per row, which costs the ORM milliseconds to compile.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for outcome in outcomes:
        key = tuple(
            getattr(outcome, name) if name != "generation" else outcome.row.generation
            for name in fields
        )
        groups.setdefault(key, []).append(outcome.row.pk)
    return groups


def _per_row(
    group: Sequence[RowOutcome],
    value: Callable[[RowOutcome], object],
    field: models.Field[Any, Any],
) -> Case:
    """One value per row in one UPDATE; NULLs cast, or PostgreSQL takes the CASE for text."""

    def typed(item: object) -> Any:
        return Cast(Value(None), field) if item is None else Value(item, output_field=field)

    return Case(
        *(When(pk=o.row.pk, then=typed(value(o))) for o in group),
        default=typed(None),
        output_field=field,
    )


def finish(lease: Lease, outcomes: Sequence[RowOutcome]) -> set[int]:
    """Write every outcome of a batch; returns the ids of rows that changed during the send.

    A row marked done or dead whose generation moved since the claim is instead due again now:
    the change made during the send is sent next. Runs in the caller's transaction, in a
    number of statements that depends on how many different outcomes there are (a handful),
    not on the size of the batch.
    """
    now = timezone.now()
    held = OutboxItem.objects.filter(lease_token=lease.token)
    lock_in_order(held)
    cleared = {"lease_until": None, "lease_token": "", "updated_at": now}
    by_status: dict[Outcome, list[RowOutcome]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome)
    finished = _finish_done(held, by_status.get(Outcome.DONE, []), now, cleared)
    finished += _finish_dead(held, by_status.get(Outcome.DEAD, []), now, cleared)
    _finish_retry(held, by_status.get(Outcome.RETRY, []), now, cleared)
    changed: set[int] = set()
    if finished:
        # Rows still held here were not finished: their generation moved during the send.
        changed = set(held.filter(pk__in=finished).values_list("pk", flat=True))
    for (message, due), ids in _grouped(
        by_status.get(Outcome.WAITING, ()), "message", "due"
    ).items():
        held.filter(pk__in=ids).update(
            next_attempt_at=due or now, result=message[:200], last_error="", **cleared
        )
    handed_back = list(by_status.get(Outcome.RELEASED, ()))
    for (due,), ids in _grouped(handed_back, "due").items():
        held.filter(pk__in=ids).update(
            attempts=F("attempts") - 1,  # the claim counted one; nothing was attempted
            next_attempt_at=due or now,
            **cleared,
        )
    if changed:
        held.filter(pk__in=changed).update(
            attempts=F("attempts") - 1, next_attempt_at=now, **cleared
        )
    return changed


_Held = models.QuerySet[OutboxItem]
#: Failures carry a message per row (with its order's id): one CASE per column.
_TEXT, _CODE = models.TextField(), models.PositiveSmallIntegerField()


def _finish_done(
    held: _Held, done: list[RowOutcome], now: datetime, cleared: dict[str, Any]
) -> list[int]:
    finished: list[int] = []
    for (message, generation), ids in _grouped(done, "message", "generation").items():
        held.filter(pk__in=ids, generation=generation).update(
            status=DONE,
            force=False,
            result=message[:200],
            last_error="",
            last_status_code=None,
            done_at=now,
            **cleared,
        )
        finished += ids
    return finished


def _finish_dead(
    held: _Held, dead: list[RowOutcome], now: datetime, cleared: dict[str, Any]
) -> list[int]:
    finished: list[int] = []
    for (generation,), ids in _grouped(dead, "generation").items():
        group = [o for o in dead if o.row.pk in set(ids)]
        held.filter(pk__in=ids, generation=generation).update(
            status=DEAD,
            force=False,
            last_error=_per_row(group, lambda o: o.message, _TEXT),
            last_status_code=_per_row(group, lambda o: o.status_code, _CODE),
            dead_at=now,
            **cleared,
        )
        finished += ids
    return finished


def _finish_retry(
    held: _Held, retry: list[RowOutcome], now: datetime, cleared: dict[str, Any]
) -> None:
    for (due,), ids in _grouped(retry, "due").items():
        group = [o for o in retry if o.row.pk in set(ids)]
        held.filter(pk__in=ids).update(
            next_attempt_at=due or now,
            last_error=_per_row(group, lambda o: o.message, _TEXT),
            last_status_code=_per_row(group, lambda o: o.status_code, _CODE),
            **cleared,
        )


def release_all(lease: Lease, *, delay: float | None = None) -> None:
    """Hand every row still held back at once (shutdown, the database gone, a bug).

    Without ``delay`` no attempt is counted and the rows are due as they were; with it (a bug
    of ours that may recur), the attempt counts and the rows wait ``delay`` seconds, so the
    same batch is not claimed first again and the rest of the outbox gets its turn.
    """
    held = OutboxItem.objects.filter(lease_token=lease.token)
    now = timezone.now()
    changes: dict[str, Any] = {"lease_until": None, "lease_token": "", "updated_at": now}
    if delay is None:
        changes["attempts"] = F("attempts") - 1
    else:
        changes["next_attempt_at"] = now + timedelta(seconds=delay)
    with transaction.atomic():
        lock_in_order(held)
        held.update(**changes)
