"""`make bench` keeps working: a quick run of every benchmark on SQLite, checked by its JSON.

Timings depend on the machine, so nothing here judges speed or a verdict; what is checked is
that every row ran, produced finite medians and ratios, and the facts that are *counted*
(calls per order, uploads, queued orders) rather than timed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from .conftest import REPOSITORY

pytestmark = pytest.mark.bench

ROWS = {
    "checkout",
    "worker",
    *(f"latency-c{n}{suffix}" for n in (1, 4, 16) for suffix in ("", "-loop")),
    "images",
    *(f"ceiling-x{extra}" for extra in ("0", "0.75", "1.5", "2.5")),
    "uploads",
    "enqueue-rate",
    "enqueue-memory",
}


def finite(values):
    return bool(values) and all(
        isinstance(value, int | float) and math.isfinite(value) for value in values
    )


def test_every_benchmark_runs_quickly_and_reports_what_it_counted(tmp_path):
    report = tmp_path / "bench.json"
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--database",
            "sqlite",
            "--json",
            str(report),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr[-6000:]
    document = json.loads(report.read_text())
    rows = {row["name"]: row for row in document["rows"]}
    assert set(rows) == ROWS
    assert document["meta"]["quick"] is True

    for name, row in rows.items():
        assert row["error"] is None, (name, row["error"])
        independent = name == "images" or name.startswith("ceiling")
        assert row["database"] == ("-" if independent else "sqlite"), name
        for side in ("ours", "baseline", "ratio"):
            assert finite([row[side]["median"], row[side]["min"], row[side]["max"]]), (name, side)
            assert finite(row[side]["samples"]), (name, side)
        assert len(row["ours"]["samples"]) == len(row["baseline"]["samples"]), name
        assert row["verdict"] in ("meets", "misses"), name
        assert row["target"]["text"], name
    # Everything compared alternates over the same number of pairs (2 in --quick).
    for name in (
        "checkout",
        "worker",
        "images",
        *(n for n in rows if n.startswith(("latency", "ceiling"))),
    ):
        assert len(rows[name]["ours"]["samples"]) == 2, name

    # The app really ran in the checkouts it is charged for: it adds queries to each one.
    checkout = rows["checkout"]["counts"]
    assert checkout["queries_with_app"] > checkout["queries_without_app"]

    # The worker and the bare loop send the same calls: a category PUT and a receipt POST.
    worker = rows["worker"]["counts"]
    assert worker["calls_per_order_ours"] == worker["calls_per_order_baseline"] == 2
    for concurrency in (1, 4, 16):
        latency = rows[f"latency-c{concurrency}"]
        assert latency["counts"]["calls_per_order"] == 2
        # The baseline is the computed limit N / (2 calls x 20 ms)...
        assert math.isclose(latency["baseline"]["median"], concurrency / (2 * 0.020))
        # ...and the same drains are compared with a bare loop in N threads, same calls.
        assert latency["counts"]["calls_per_order_bare_loop"] == 2
        loop = rows[f"latency-c{concurrency}-loop"]
        assert loop["ours"]["samples"] == latency["ours"]["samples"]
        assert 0 < latency["counts"]["bare_loop_of_limit"] < 1.5
        # The CPU each side spent per order, to set beside the ceiling rows.
        assert latency["counts"]["cpu_ms_per_order"] > 0
        assert latency["counts"]["cpu_ms_per_order_bare_loop"] > 0

    # The ceiling: the same limit, a raw loop that spends more CPU per order the further down.
    ceiling = [rows[f"ceiling-x{extra}"] for extra in ("0", "0.75", "1.5", "2.5")]
    for row in ceiling:
        assert math.isclose(row["baseline"]["median"], 16 / (2 * 0.020))
    spent = [row["counts"]["cpu_ms_per_order"] for row in ceiling]
    assert spent[-1] > spent[0] + 2.0  # the extra CPU was really spent

    images = rows["images"]["counts"]
    assert 2_000_000 <= images["input_bytes"] <= 4_000_000
    assert images["output_bytes"] <= 2 * 1024 * 1024

    uploads = rows["uploads"]["counts"]
    assert uploads["distinct_images"] == 20
    assert uploads["receipts_sent"] == uploads["orders"]
    # Counted, not timed: four workers upload each distinct image exactly once.
    assert uploads["uploads"] == 20
    assert uploads["conflicts_409"] == 0

    for name in ("enqueue-rate", "enqueue-memory"):
        assert rows[name]["counts"]["small"] == 2_000
        assert rows[name]["counts"]["large"] == 10_000
    assert all(rss > 10_000_000 for rss in rows["enqueue-memory"]["ours"]["samples"])
