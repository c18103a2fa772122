"""Benchmarks: ``make bench`` (``python -m benchmarks --database both``).

* ``__main__``: the command line; runs each benchmark in its own process, once per database,
  and prints the table (and ``--json``).
* ``child``: one benchmark in a fresh process with a fresh database and its own fake Vipps.
* ``harness``: alternation, medians and spreads, rows, the table and the JSON.
* ``fake``: the fake Vipps in a separate process, reached over HTTP; counts what it received.
* ``django_setup``: databases (SQLite files, PostgreSQL databases), Django, the test shop's data.
* One module per benchmark: ``checkout``, ``worker``, ``latency``, ``images``, ``uploads``,
  ``enqueue`` (``vipps_om_sync --all``).
"""

from __future__ import annotations
