"""Celery support (``DISPATCH = "celery"``): the drain task and the beat schedule for the sweep.

The task lives in :mod:`vipps_order_management.runners.celery`; this is its public address::

    from vipps_order_management.contrib.celery import BEAT_SCHEDULE
    app.conf.beat_schedule = {**app.conf.beat_schedule, **BEAT_SCHEDULE}
"""

from __future__ import annotations

from ..runners.celery import BEAT_SCHEDULE, TASK_NAME, drain_outbox

__all__ = ["BEAT_SCHEDULE", "TASK_NAME", "drain_outbox"]
