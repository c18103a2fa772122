"""`make bench` keeps working: a tiny run of every benchmark, checking the ratios' direction."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import REPOSITORY


def test_the_benchmarks_run_and_the_design_wins_on_what_it_promises():
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--orders", "12"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    ratios = {
        (name.strip(), measure.strip()): float(ratio)
        for name, measure, ratio in re.findall(
            r"^(.{34}) (.{16}) .* ([\d.]+)x$", finished.stdout, flags=re.MULTILINE
        )
    }
    # Counted work (not time, which depends on the machine) must show the design's gains.
    assert ratios[("12 orders x 5 saves", "calls to Vipps")] >= 4.5
    assert ratios[("1 product image on 12 orders", "image uploads")] == 12
    assert ratios[("My orders page, 12 orders", "SQL queries")] >= 10
    assert ratios[("12 API calls", "token fetches")] == 12
