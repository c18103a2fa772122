"""Timing, alternation and the report: what makes one benchmark row honest and comparable.

A row compares *ours* with a *baseline* measured in the same process, alternating
(ours, baseline, ours, baseline, ...) after a warm-up of each, so that drift (CPU frequency,
caches, a busy neighbour) hits both sides alike. The row keeps every sample; it reports both
medians in absolute units and the median of the per-pair ratios ``ours / baseline`` with their
spread (min-max and the interquartile range), and judges the median ratio against the target.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: Units a measure can have; ``seconds`` and ``bytes`` are scaled for display.
UNITS = ("seconds", "orders/s", "bytes", "count")


def log(message: str) -> None:
    """Progress on stderr, so a long ``make bench`` shows where it is."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Target:
    """The goal a row's median ratio (ours / baseline) is judged against."""

    op: str  # "<=", ">=" or "=="
    value: float
    text: str  # how the issue states it, e.g. "<= 1.3x"

    def met_by(self, ratio: float) -> bool:
        if not math.isfinite(ratio):
            return False
        if self.op == "<=":
            return ratio <= self.value
        if self.op == ">=":
            return ratio >= self.value
        if self.op == "==":
            return math.isclose(ratio, self.value, rel_tol=1e-9)
        raise ValueError(f"unknown target operator {self.op!r}")


@dataclass
class Spread:
    """Median, extremes and quartiles of a list of numbers."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, 0)
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))


@dataclass
class Row:
    """One line of the report: ours against a baseline, on one database."""

    name: str  # stable id, e.g. "checkout", "latency-c16"
    title: str  # what is measured, for people
    database: str  # "sqlite", "postgres" or "-" (database-independent)
    unit: str  # one of UNITS, for both sides
    ours_label: str
    baseline_label: str
    ours: list[float]
    baseline: list[float]
    target: Target
    counts: dict[str, Any] = field(default_factory=dict)  # counted facts, machine-independent
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ratios(self) -> list[float]:
        return [
            ours / base if base else float("inf")
            for ours, base in zip(self.ours, self.baseline, strict=True)
        ]

    @property
    def ratio(self) -> Spread:
        return Spread.of(self.ratios)

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        return "meets" if self.target.met_by(self.ratio.median) else "misses"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "database": self.database,
            "unit": self.unit,
            "ours": {
                "label": self.ours_label,
                **asdict(Spread.of(self.ours)),
                "samples": self.ours,
            },
            "baseline": {
                "label": self.baseline_label,
                **asdict(Spread.of(self.baseline)),
                "samples": self.baseline,
            },
            "ratio": {**asdict(self.ratio), "samples": self.ratios},
            "target": asdict(self.target),
            "verdict": self.verdict,
            "counts": self.counts,
            "notes": self.notes,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(
            name=data["name"],
            title=data["title"],
            database=data["database"],
            unit=data["unit"],
            ours_label=data["ours"]["label"],
            baseline_label=data["baseline"]["label"],
            ours=_numbers(data["ours"]["samples"]),
            baseline=_numbers(data["baseline"]["samples"]),
            target=Target(**data["target"]),
            counts=dict(data.get("counts") or {}),
            notes=list(data.get("notes") or []),
            error=data.get("error"),
        )

    @classmethod
    def failed(cls, name: str, title: str, database: str, target: Target, error: str) -> Row:
        return cls(name, title, database, "count", "", "", [], [], target, error=error)


def _numbers(values: Iterable[float | None]) -> list[float]:
    return [float("nan") if value is None else float(value) for value in values]


# --------------------------------------------------------------------------- timing


def alternate(
    ours: Callable[[], float],
    baseline: Callable[[], float],
    *,
    pairs: int,
    warmup: int = 1,
    label: str = "",
) -> tuple[list[float], list[float]]:
    """Run ``ours`` and ``baseline`` in turns; each call returns its own measure.

    The callables do their set-up outside the part they time. A full collection before each
    sample keeps one side's garbage from being collected on the other side's clock.
    """
    for _ in range(warmup):
        ours()
        baseline()
    ours_samples: list[float] = []
    baseline_samples: list[float] = []
    for number in range(1, pairs + 1):
        gc.collect()
        ours_samples.append(ours())
        gc.collect()
        baseline_samples.append(baseline())
        if label:
            log(
                f"  {label}: pair {number}/{pairs}: ours {ours_samples[-1]:.4g}, "
                f"baseline {baseline_samples[-1]:.4g}"
            )
    return ours_samples, baseline_samples


def repeat(measure: Callable[[], float], *, times: int, warmup: int = 1) -> list[float]:
    """Samples of one side, for rows whose baseline is computed rather than measured."""
    for _ in range(warmup):
        measure()
    samples = []
    for _ in range(times):
        gc.collect()
        samples.append(measure())
    return samples


class Stopwatch:
    """``with Stopwatch() as clock: ...`` then ``clock.seconds`` (and ``clock.cpu_seconds``,
    the CPU this whole process spent meanwhile, in every thread)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu_started = time.process_time()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.cpu_seconds = time.process_time() - self._cpu_started


# --------------------------------------------------------------------------- report


def show(value: float, unit: str) -> str:
    """A value with a readable unit: 1.23 ms, 512 orders/s, 3.1 MB."""
    if not math.isfinite(value):
        return "-"
    if unit == "seconds":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale or suffix == "us":
                return f"{value / scale:.3g} {suffix}"
    if unit == "bytes":
        return f"{value / 1e6:.1f} MB"
    if unit == "orders/s":
        return f"{value:,.0f} orders/s" if value >= 100 else f"{value:.3g} orders/s"
    if unit == "count":
        return f"{value:g}"
    return f"{value:.4g} {unit}"


def _ratio_text(row: Row) -> str:
    ratio = row.ratio
    if ratio.n == 0:
        return "-"
    if ratio.n == 1:
        return f"{ratio.median:.3g}x (1 run)"
    return f"{ratio.median:.3g}x [{ratio.min:.3g}-{ratio.max:.3g}]"


def table(rows: Iterable[Row]) -> str:
    """The report as fixed-width text: one line per row, then its notes."""
    rows = list(rows)
    header = ("benchmark", "database", "ours (median)", "baseline (median)", "ratio [min-max]")
    header += ("target", "verdict")
    lines_data = []
    for row in rows:
        ours = Spread.of(row.ours).median
        base = Spread.of(row.baseline).median
        lines_data.append(
            (
                row.title,
                row.database,
                show(ours, row.unit),
                show(base, row.unit),
                _ratio_text(row),
                row.target.text,
                row.verdict,
            )
        )
    widths = [
        max(len(header[column]), *(len(line[column]) for line in lines_data))
        if lines_data
        else len(header[column])
        for column in range(len(header))
    ]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    out = [render(header), "  ".join("-" * width for width in widths)]
    out.extend(render(line) for line in lines_data)
    notes = []
    for row in rows:
        where = f"{row.title} ({row.database})"
        if row.error is not None:
            notes.append(f"* {where}: ERROR {row.error}")
            if not row.ours:
                continue
        described = f"ours = {row.ours_label}; baseline = {row.baseline_label}"
        ratio = row.ratio
        if ratio.n > 1:
            described += f"; ratio IQR {ratio.q1:.3g}-{ratio.q3:.3g} over {ratio.n} pairs"
        notes.append(f"* {where}: {described}")
        if row.counts:
            counted = ", ".join(f"{key}={value}" for key, value in row.counts.items())
            notes.append(f"    counted: {counted}")
        notes.extend(f"    {note}" for note in row.notes)
    out.append("")
    out.append(
        "ratio = ours / baseline, per pair (median [min-max]); the verdict judges the median."
    )
    out.extend(notes)
    return "\n".join(out)


def _strict(value: Any) -> Any:
    """JSON has no NaN or infinity: a value that is not finite is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def write_json(path: str, rows: Iterable[Row], meta: dict[str, Any]) -> None:
    document = {"meta": meta, "rows": [row.to_json() for row in rows]}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_strict(document), handle, indent=2, default=str, allow_nan=False)
        handle.write("\n")


def read_rows(path: str) -> list[Row]:
    with open(path, encoding="utf-8") as handle:
        return [Row.from_json(item) for item in json.load(handle)["rows"]]
