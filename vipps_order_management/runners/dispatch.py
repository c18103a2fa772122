"""How a committed change reaches a runner: the ``DISPATCH`` setting.

A kick carries no data: the outbox is the only source of truth, so a lost kick (a broker
outage, a crashed task) only delays a send until the next sweep. A kick never raises into the
shop's request and never waits on a broker.

* ``"worker"`` (default): nothing to do; ``manage.py vipps_om_worker`` polls the outbox.
* ``"immediate"``: send in this process right after the commit (tests and tiny shops; the
  request waits for Vipps).
* ``"django_tasks"``: enqueue the drain task on Django's task framework.
* ``"celery"``: publish the Celery drain task, without retrying if the broker is down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import models

from ..conf import Dispatch, app_settings
from ..engine import outbox
from ..engine.pipeline import default_worker_id, drain
from ..models import OrderKey

__all__ = ["kick"]

logger = logging.getLogger(__name__)


def kick(keys: Sequence[OrderKey] = ()) -> None:
    """Wake a runner for these orders (``()``: whatever is due). Never raises."""
    try:
        mode = app_settings.DISPATCH  # a refused one is logged below, with its reason
        if mode is Dispatch.IMMEDIATE:
            _drain_here(keys)
        elif mode is Dispatch.DJANGO_TASKS:
            from .tasks import drain_outbox

            drain_outbox.using(backend=app_settings.TASK_BACKEND).enqueue()
        elif mode is Dispatch.CELERY:
            from .celery import drain_outbox as celery_drain

            celery_drain.apply_async(queue=app_settings.CELERY_QUEUE, retry=False)
    except Exception:
        # The change is safe in the outbox; the worker or the next sweep will send it.
        logger.exception(
            "Could not kick the Vipps sync runner (DISPATCH=%r); the outbox keeps the change",
            app_settings.raw("DISPATCH"),
        )


def _drain_here(keys: Sequence[OrderKey]) -> None:
    only = None
    if keys:
        only = models.Q()
        for content_type_id, object_id in keys:
            only |= models.Q(content_type_id=content_type_id, object_id=object_id)
    drain(only=only, worker_id=f"immediate:{default_worker_id()}")


outbox.on_commit(kick)
