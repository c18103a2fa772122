"""The Celery app of the test project: a broker on the private Redis of the Celery tier."""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

app = Celery("tests")
app.conf.update(
    broker_url=os.environ.get("VIPPS_OM_TEST_REDIS", "redis://127.0.0.1:1/0"),
    task_default_queue="vipps_om",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=1,
    broker_transport_options={"max_retries": 0, "visibility_timeout": 300},
    worker_hijack_root_logger=False,
    imports=["vipps_order_management.contrib.celery"],
)
