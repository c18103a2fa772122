"""Drive the outbox from a test: send what it holds, as a worker would, until it is idle.

::

    from vipps_order_management.testing import drain_until_idle

    order.status = "paid"
    order.save()                  # the app records the order in its outbox
    result = drain_until_idle()   # ... and this sends it to the fake Vipps
    assert result.dead == 0

It runs in the test's own process and database connection (no worker process, no on_commit
callbacks needed), which is what a test of "save -> outbox -> send" wants.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..engine.pipeline import drain
from ..engine.results import DrainResult
from ..models import OutboxItem

__all__ = ["drain_until_idle"]


def drain_until_idle(
    *, skip_backoff: bool = True, rounds: int = 100, worker_id: str = "test", **kwargs: Any
) -> DrainResult:
    """Drain until nothing is due; returns every row's result, summed up.

    ``skip_backoff`` (the default) makes a row that failed and waits to be retried due at once,
    so a test of retries need not wait for the backoff, which never goes below a second in
    production. Orders waiting for a Vipps payment are not hurried: they stay as they are.
    ``kwargs`` go to :func:`~vipps_order_management.services.drain`. Raises ``AssertionError``
    when ``rounds`` drains were not enough (something is retried for ever).
    """
    total = DrainResult()
    for _ in range(rounds):
        result = drain(worker_id=worker_id, **kwargs)
        for item in result.results:
            total.add(item)
        hurried = _hurry_retries() if skip_backoff else 0
        if not result.processed and not hurried:
            return total
    raise AssertionError(
        f"the outbox was still sending after {rounds} drains; last results: {total.results[-3:]}"
    )


def _hurry_retries() -> int:
    """Make rows backing off after a failure due now; how many there were."""
    now = timezone.now()
    backing_off = OutboxItem.objects.filter(
        status=OutboxItem.Status.PENDING, next_attempt_at__gt=now
    ).exclude(last_error="")
    return backing_off.update(next_attempt_at=now)
