"""The drain as a Celery task (``DISPATCH = "celery"``), for shops that scale out with Celery.

Celery only wakes workers; the outbox stays the source of truth, so a lost message, a broker
outage or a killed worker delays a send but never loses it. Add the sweep to beat so backoffs
end even when nothing new happens::

    from vipps_order_management.contrib.celery import BEAT_SCHEDULE
    app.conf.beat_schedule = {**app.conf.beat_schedule, **BEAT_SCHEDULE}

Run a worker on the queue (``CELERY_QUEUE``, default ``vipps_om``) with
``worker_prefetch_multiplier=1``; keep ``LEASE_SECONDS`` below the broker's visibility timeout.
"""

from __future__ import annotations

from celery import shared_task

from ..engine.pipeline import drain

__all__ = ["BEAT_SCHEDULE", "TASK_NAME", "drain_outbox"]

TASK_NAME = "vipps_order_management.drain"

BEAT_SCHEDULE = {
    "vipps-order-management-sweep": {
        "task": TASK_NAME,
        "schedule": 30.0,
        "options": {"queue": "vipps_om", "expires": 60},
    }
}


@shared_task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drain_outbox(limit: int = 200, time_budget: float = 25.0) -> str:
    """Send what is due, for at most ``time_budget`` seconds."""
    return str(drain(limit=limit, time_budget=time_budget))
