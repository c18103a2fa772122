"""The worker says how it works: one progress line a minute at most (calls only at DEBUG),
and a heartbeat the health summary sees."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from django.db import connections

from vipps_order_management.engine import health
from vipps_order_management.models import OutboxItem
from vipps_order_management.runners.worker import Worker

pytestmark = pytest.mark.postgres


def progress_lines(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "vipps_order_management.runners.worker"
    ]


@pytest.mark.django_db(transaction=True)  # the worker loop closes stale connections
def test_a_pass_of_the_worker_logs_one_line_and_no_call_at_info(vipps, make_order, caplog):
    caplog.set_level(logging.DEBUG, logger="vipps_order_management")
    for _ in range(3):
        make_order()
    said = []
    Worker(worker_id="w1", once=True, say=said.append).run()
    assert said == ["6 processed: 6 done, 0 to retry, 0 failed"]  # --once reports its pass
    [line] = progress_lines(caplog)
    assert re.fullmatch(
        r"Vipps worker w1, last \d+ s: 6 sent, 0 waiting for a Vipps payment, 0 failed "
        r"\(0 to retry, 0 waiting for staff\); 0 rows in the queue",
        line,
    )
    calls = [r for r in caplog.records if r.name == "vipps_order_management.client"]
    assert calls
    assert {r.levelno for r in calls} == {logging.DEBUG}


@pytest.mark.django_db(transaction=True)  # the worker runs in a thread of its own
def test_a_busy_worker_logs_a_line_per_interval_at_most(vipps, make_order, caplog):
    caplog.set_level(logging.INFO, logger="vipps_order_management.runners.worker")
    worker = Worker(worker_id="busy", poll_seconds=0.02, progress_seconds=0.5, each_drain=False)
    said = []
    worker.say = said.append

    def run() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()  # the thread's own connection

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    try:
        for _ in range(12):
            make_order()
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while OutboxItem.objects.exclude(status="done").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.stop.set()
        thread.join(timeout=20)
    elapsed = time.monotonic() - started
    lines = progress_lines(caplog)
    assert 2 <= len(lines) <= elapsed / 0.5 + 1
    # Every row, and those saved again while they were sent (an order's items follow it).
    assert sum(int(re.search(r": (\d+) sent", line).group(1)) for line in lines) >= 24
    assert said == []  # logged, so not printed a second time
    assert health.summary().heartbeat.worker == "busy"
