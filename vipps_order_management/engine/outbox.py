"""The outbox: record a change, claim due rows with a lease, keep the lease, finish in bulk.

Database only; it never talks to Vipps. One row per (order, kind); no payload is stored, so ten
saves before a send make one send. ``generation`` grows with every change; a row is marked done
only if its generation is still the one claimed, so a change made during a send is sent
afterwards.

* :func:`record` is what the shop's request pays: one ``INSERT ... ON CONFLICT DO UPDATE``
  statement for every order and kind it names, in the shop's own transaction.
* :func:`.leases.claim` leases due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; the lease
  itself is a conditional ``UPDATE`` on every database, so two workers never hold one row).
* :class:`.leases.Lease` is renewed while the worker works (:meth:`Lease.renew`) and checked before
  each order's calls; a worker that stalls past its lease lets another take the rows over.
* :func:`.leases.finish` writes a whole batch's outcomes in a constant number of statements.

Every statement that writes several rows takes their locks in one order, the order's key and
then the kind (:func:`lock_in_order`): the shop's upsert sorts its rows the same way, so a checkout
and a worker finishing a batch with the same order in it wait for each other, never deadlock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ..conf import Retry, app_settings
from ..models import OrderKey, OutboxItem, SyncKind, keys_condition

__all__ = [
    "ALL_KINDS",
    "AWAITING_PAYMENT",
    "backoff_seconds",
    "forget_recorded",
    "give_up_after",
    "lock_in_order",
    "on_commit",
    "record",
    "record_change",
    "requeue",
]

ALL_KINDS: tuple[str, ...] = (SyncKind.LINKS.value, SyncKind.RECEIPT.value)
PENDING = OutboxItem.Status.PENDING
DONE = OutboxItem.Status.DONE
DEAD = OutboxItem.Status.DEAD


# ---------------------------------------------------------------------- record


def record(
    keys: Iterable[OrderKey],
    kinds: Iterable[str] = ALL_KINDS,
    *,
    force: bool = False,
    priority: int = 0,
    due_now: bool = False,
) -> None:
    """Mark the orders' ``kinds`` as needing a send, in the caller's transaction.

    A row that is done or dead becomes pending, due now, with a fresh age; a row backing off
    after a failure keeps its schedule (so a Vipps outage's backoff is not defeated by a busy
    shop) unless ``due_now`` (staff asking for a send now) or ``force``; its generation grows
    either way.
    """
    kinds = list(dict.fromkeys(str(kind) for kind in kinds))
    rows = [(key, kind) for key in dict.fromkeys(keys) for kind in kinds]
    if not rows:
        return
    if connection.vendor in ("sqlite", "postgresql"):
        _upsert(rows, force=force, priority=priority, due_now=due_now)
    else:  # pragma: no cover - other databases take the portable way
        _record_portably(rows, force=force, priority=priority, due_now=due_now)


_COLUMNS = (
    "content_type_id",
    "object_id",
    "kind",
    "status",
    "generation",
    "force",
    "priority",
    "attempts",
    "next_attempt_at",
    "pending_since",
    "leased_by",
    "lease_token",
    "last_error",
    "result",
    "created_at",
    "updated_at",
)


def _upsert(
    rows: Sequence[tuple[OrderKey, str]], *, force: bool, priority: int, due_now: bool
) -> None:
    """One ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL), chunked by parameters.

    Written as SQL because the ORM cannot express an upsert whose update depends on the row's
    own values, and compiling the equivalent UPDATE with CASE expressions cost milliseconds on
    every save of an order.
    """
    qn = connection.ops.quote_name
    table = qn(OutboxItem._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    pending = str(PENDING)
    set_clause, update_params = _update_clause(table, pending, keep_schedule=not (force or due_now))
    # The values that differ per row travel as a VALUES list of three; the rest are written
    # once, which keeps a bulk enqueue's statements (and their binding) small.
    selected = "column1, column2, column3, %s, 1, %s, %s, 0, %s, %s, '', '', '', '', %s, %s"
    select_params: list[Any] = [pending, force, priority, now, now, now, now]
    fixed = len(select_params) + len(update_params)
    # PostgreSQL binds on the client and has no limit of its own: keep statements sensible.
    limit = min(connection.features.max_query_params or 30_000, 30_000)
    chunk = max(1, (limit - fixed) // 3)
    columns = ", ".join(qn(c) for c in _COLUMNS)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values: list[object] = []
            for (content_type_id, object_id), kind in part:
                values += [content_type_id, object_id, kind]
            # Names are quoted by the backend; every value is a parameter. "WHERE true" lets
            # SQLite tell the upsert's ON CONFLICT from a join's ON.
            # Sorted in SQL, in the database's own collation, as lock_in_order sorts: the rows
            # are inserted or locked in that order.
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {selected} "  # noqa: S608
                f"FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(part))}) AS v WHERE true "
                "ORDER BY column1, column2, column3 "
                f"ON CONFLICT ({qn('content_type_id')}, {qn('object_id')}, {qn('kind')}) "
                f"DO UPDATE SET {set_clause}"
            )
            cursor.execute(sql, select_params + values + update_params)


def _update_clause(table: str, pending: str, *, keep_schedule: bool) -> tuple[str, list[Any]]:
    """The upsert's ``SET`` for a row that exists, with its parameters.

    A row backing off after a failure keeps its due time (a busy shop must not defeat a Vipps
    outage's backoff) unless ``keep_schedule`` is off (staff want it now, or it is forced).
    """
    qn = connection.ops.quote_name

    def own(name: str) -> str:  # the column as the row that exists holds it
        return f"{table}.{qn(name)}"

    update = {
        "generation": f"{own('generation')} + 1",
        "next_attempt_at": (
            f"CASE WHEN {own('status')} = %s AND {own('last_error')} <> '' "
            f"THEN {own('next_attempt_at')} ELSE excluded.{qn('next_attempt_at')} END"
            if keep_schedule
            else f"excluded.{qn('next_attempt_at')}"
        ),
        "pending_since": f"CASE WHEN {own('status')} = %s THEN "
        f"{own('pending_since')} ELSE excluded.{qn('pending_since')} END",
        "attempts": f"CASE WHEN {own('status')} = %s THEN {own('attempts')} ELSE 0 END",
        "status": "%s",
        "priority": f"CASE WHEN {own('priority')} > excluded.{qn('priority')} "
        f"THEN {own('priority')} ELSE excluded.{qn('priority')} END",
        "force": f"CASE WHEN excluded.{qn('force')} THEN excluded.{qn('force')} "
        f"ELSE {own('force')} END",
        "updated_at": f"excluded.{qn('updated_at')}",
    }
    params = ([pending] if keep_schedule else []) + [pending, pending, pending]
    set_clause = ", ".join(f"{qn(name)} = {expression}" for name, expression in update.items())
    return set_clause, params


def _record_portably(  # pragma: no cover - exercised only on databases without ON CONFLICT
    rows: Sequence[tuple[OrderKey, str]], *, force: bool, priority: int, due_now: bool
) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {
        "generation": F("generation") + 1,
        "next_attempt_at": Case(
            When(status=PENDING, then=F("next_attempt_at")), default=Value(now)
        ),
        "pending_since": Case(When(status=PENDING, then=F("pending_since")), default=Value(now)),
        "attempts": Case(When(status=PENDING, then=F("attempts")), default=Value(0)),
        "status": Value(PENDING),
        "priority": Case(When(priority__gt=priority, then=F("priority")), default=Value(priority)),
        "updated_at": now,
    }
    if force:
        changes["force"] = True
    if force or due_now:
        changes["next_attempt_at"] = Value(now)
    for (content_type_id, object_id), kind in rows:
        existing = OutboxItem.objects.filter(
            content_type_id=content_type_id, object_id=object_id, kind=kind
        )
        if existing.update(**changes):
            continue
        try:
            with transaction.atomic():
                OutboxItem.objects.create(
                    content_type_id=content_type_id,
                    object_id=object_id,
                    kind=kind,
                    force=force,
                    priority=priority,
                    next_attempt_at=now,
                    pending_since=now,
                )
        except IntegrityError:
            existing.update(**changes)


def lock_in_order(rows: models.QuerySet[OutboxItem]) -> None:
    """Lock ``rows`` (in the caller's transaction) in the order :func:`_upsert` writes them.

    PostgreSQL locks the rows an UPDATE changes in whatever order its plan reads them; a
    checkout's upsert waiting on a row a worker's batch holds, while the batch waits on the
    checkout's other row, is a deadlock that fails the checkout. Taking the locks first, sorted,
    makes every writer queue in one order. A database without row locks (SQLite locks the whole
    database for a write) needs nothing, and is spared the query.
    """
    if not connection.features.has_select_for_update:
        return
    # Through pk__in, so that any queryset serves (an admin changelist's may be DISTINCT).
    locked = (
        OutboxItem.objects.filter(pk__in=rows.order_by().values("pk"))
        .select_for_update()
        .order_by("content_type_id", "object_id", "kind")
    )
    list(locked.values_list("pk", flat=True))


# ---------------------------------------------------------------------- the request path


#: Called with the keys a transaction recorded, once it commits (runners register themselves).
_after_commit: list[Callable[[list[OrderKey]], None]] = []


def on_commit(callback: Callable[[list[OrderKey]], None]) -> None:
    """Register what wakes a runner once a transaction that recorded changes commits."""
    if callback not in _after_commit:
        _after_commit.append(callback)


class _Recorded:
    """The orders one transaction (at one savepoint depth) wrote to the outbox.

    Registered with ``transaction.on_commit``, which also makes it savepoint-aware: Django drops
    the callbacks of a savepoint that is rolled back, so a marker still registered means its
    write still stands, and one that was dropped means the order must be written again.
    """

    def __init__(self, sids: tuple[str, ...]) -> None:
        self.sids = sids
        self.keys: dict[OrderKey, set[str]] = {}

    def __call__(self) -> None:
        keys = sorted(self.keys)
        for callback in _after_commit:
            callback(keys)


def _live_markers(db: Any) -> list[_Recorded]:
    """This transaction's markers whose writes still stand.

    Django keeps no public record of which ``on_commit`` callbacks a savepoint rollback (or
    the end of a transaction) dropped; ``run_on_commit`` is that record (its entries have been
    ``(savepoint ids, callback, robust)`` since Django 4.2). The open savepoints alone cannot
    tell a rolled-back write from one that stands, nor this transaction from the last one.
    """
    registered = {id(entry[1]) for entry in db.run_on_commit}
    live = [m for m in getattr(db, "_vipps_om_recorded", ()) if id(m) in registered]
    db._vipps_om_recorded = live
    return live


def record_change(
    key: OrderKey,
    kinds: Iterable[str] = ALL_KINDS,
    *,
    force: bool = False,
    priority: int = 0,
    due_now: bool = False,
    coalesce: bool = True,
) -> None:
    """:func:`record` for the shop's request path: once per order per transaction.

    However many rows of one order a transaction saves (the order, every line, the status),
    the outbox gets one write; a savepoint rolled back takes its write with it, and the next
    save writes again. ``coalesce=False`` writes anyway (an explicit request to send). The
    runner is woken once the transaction commits.
    """
    kinds = set(kinds)
    db = transaction.get_connection()
    plain = coalesce and not (force or priority or due_now)
    if not db.in_atomic_block:
        record([key], kinds, force=force, priority=priority, due_now=due_now)
        for callback in _after_commit:
            callback([key])
        return
    live = _live_markers(db)
    if plain and any(kinds <= marker.keys.get(key, set()) for marker in live):
        return
    record([key], kinds, force=force, priority=priority, due_now=due_now)
    sids = tuple(db.savepoint_ids)
    marker = next((m for m in live if m.sids == sids), None)
    if marker is None:
        marker = _Recorded(sids)
        transaction.on_commit(marker, robust=True)
        db._vipps_om_recorded.append(marker)
    marker.keys.setdefault(key, set()).update(kinds)


def forget_recorded(keys: Iterable[OrderKey] | None = None) -> None:
    """The next save of these orders (of every order, by default) in the caller's transaction
    must write again: after a drain, or after the rows of deleted orders were removed."""
    db = transaction.get_connection()
    forgotten = None if keys is None else set(keys)
    for marker in getattr(db, "_vipps_om_recorded", ()):
        if forgotten is None:
            marker.keys.clear()
        else:
            for key in forgotten:
                marker.keys.pop(key, None)


# ---------------------------------------------------------------------- backoff, requeue


#: The shortest wait before a failed row is tried again, whatever ``RETRY`` says: no row is
#: claimed more than once a second, so a failure that repeats at once cannot spin a worker.
BACKOFF_FLOOR_SECONDS = 1.0


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped, never sooner than Vipps's ``Retry-After`` and
    never below :data:`BACKOFF_FLOOR_SECONDS`."""
    retry: Retry = app_settings.RETRY
    base = retry.base_seconds
    cap = retry.cap_seconds
    jitter = retry.jitter
    doublings: int = min(max(0, attempts - 1), 32)
    delay = min(cap, base * (1 << doublings))
    delay *= 1 + random.uniform(-jitter, jitter)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(BACKOFF_FLOOR_SECONDS, delay)


#: The result of a row looked at while its order has no Vipps payment yet: it is pending, but
#: nothing is wrong (the health summary counts it apart).
AWAITING_PAYMENT = "Waiting for the order to get a Vipps payment."


def payment_wait() -> timedelta:
    """How long an order without a Vipps payment is looked at again (``PAYMENT_WAIT``)."""
    wait: timedelta = app_settings.PAYMENT_WAIT
    return wait


def wait_seconds(attempts: int) -> float:
    """Pauses between looks at an order waiting for its payment: 5 s, doubling, at most 10 min."""
    doublings: int = min(max(0, attempts - 1), 10)
    return min(600.0, 5.0 * (1 << doublings))


def give_up_after() -> timedelta:
    """How long a row may stay pending through failures before it waits for staff."""
    retry: Retry = app_settings.RETRY
    return retry.give_up_after


def requeue(rows: models.QuerySet[OutboxItem]) -> int:
    """Make rows pending again, due now, with a fresh age; returns how many.

    Rows already pending are only made due now (their age stays); others get a new
    generation, so a worker still finishing an old send cannot mark them done.
    """
    now = timezone.now()
    with transaction.atomic():
        lock_in_order(rows)
        waiting = rows.filter(status=PENDING).update(next_attempt_at=now, updated_at=now)
        return waiting + rows.exclude(status=PENDING).update(
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            pending_since=now,
            lease_until=None,
            lease_token="",
            dead_at=None,
            generation=F("generation") + 1,
            updated_at=now,
        )


def rows_of(
    keys: Iterable[OrderKey], kinds: Iterable[str] | None = None
) -> models.QuerySet[OutboxItem]:
    """The outbox rows of these orders (and kinds)."""
    rows = OutboxItem.objects.filter(keys_condition(keys))
    return rows.filter(kind__in=list(kinds)) if kinds is not None else rows


def held_elsewhere(key: OrderKey, kinds: Iterable[str]) -> set[str]:
    """The kinds of one order whose rows a worker holds at this moment (an unexpired lease)."""
    kinds = list(kinds)
    if not kinds:
        return set()
    held = rows_of([key], kinds).filter(lease_until__gt=timezone.now())
    return set(held.values_list("kind", flat=True))
