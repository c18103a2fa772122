"""The sync engine: what to send (the plan), the queue (the outbox) and the batch pipeline.

* :mod:`.plan` — ``plan(order) -> SyncPlan``: what this shop would send now. Every surface
  (drain, compare, admin, dry run, previews, template tags) reads it; no rule is written twice.
* :mod:`.outbox` — record a change (one statement in the shop's transaction), claim with a
  lease, renew it, finish a batch in bulk.
* :mod:`.pipeline` — :func:`~.pipeline.drain`: claim → load → plan → calls to Vipps → one
  bulk write, a constant number of queries per batch, calls overlapped in threads.
* :mod:`.uploads`, :mod:`.links`, :mod:`.receipts` — the calls for images, categories and the
  receipt; HTTP only, no database, so they run in worker threads.
* :mod:`.calllog`, :mod:`.clients`, :mod:`.status` — the call log, the configured clients, and
  the one rule for an order's status.

The engine never imports a runner; runners (``vipps_om_worker``, django.tasks, Celery) call it.
"""

from __future__ import annotations
