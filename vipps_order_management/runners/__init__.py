"""What sets the engine in motion: signal receivers, and the runners that drain the outbox.

* :mod:`.receivers` — a save of a configured order records it in the outbox.
* :mod:`.dispatch` — how a committed change wakes a runner (the ``DISPATCH`` setting).
* :mod:`.worker` — the loop of ``manage.py vipps_om_worker`` (the default runner).
* :mod:`.tasks` — the drain as a task of Django's task framework.
* :mod:`.celery` — the drain as a Celery task (re-exported by ``contrib.celery``).

Runners call the engine; the engine never imports them.
"""

from __future__ import annotations
