"""The drain as a task of Django's task framework (``DISPATCH = "django_tasks"``).

Django 6 ships ``django.tasks``; on Django 5.2 install the ``django-tasks`` backport. The task
carries no data: it drains whatever is due, then schedules one sweep for the next row that is
waiting on a backoff, so retries happen even when no new change kicks it. Use a backend that
stores tasks durably, such as ``django-tasks-db`` with its ``db_worker``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.cache import caches
from django.db.models import Min
from django.utils import timezone

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # pragma: no cover - Django 5.2 with the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]

from ..conf import app_settings
from ..engine.pipeline import drain
from ..models import OutboxItem

__all__ = ["SWEEP_KEY", "drain_outbox"]

#: At most one sweep is scheduled at a time; this cache key remembers that one is.
SWEEP_KEY = "vipps_order_management:sweep-scheduled"


@task(queue_name="default")
def drain_outbox(limit: int = 500, time_budget: float = 60.0) -> dict[str, Any]:
    """Send what is due, then schedule a sweep for the next backoff that ends."""
    result = drain(limit=limit, time_budget=time_budget)
    _schedule_sweep()
    return {
        "processed": result.processed,
        "done": result.done,
        "retried": result.retried,
        "dead": result.dead,
    }


def _schedule_sweep() -> None:
    next_due = OutboxItem.objects.filter(status=OutboxItem.Status.PENDING).aggregate(
        due=Min("next_attempt_at")
    )["due"]
    if next_due is None:
        return
    run_after = max(next_due, timezone.now() + timedelta(seconds=1))
    delay = (run_after - timezone.now()).total_seconds()
    if not caches[app_settings.TOKEN_CACHE].add(SWEEP_KEY, True, timeout=max(1, int(delay))):
        return  # a sweep is already scheduled
    task_ = drain_outbox.using(backend=app_settings.TASK_BACKEND)
    if task_.get_backend().supports_defer:
        task_ = task_.using(run_after=run_after)
    task_.enqueue()
