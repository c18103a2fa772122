"""``make bench``: the app's real costs against the real alternatives, measured honestly.

    python -m benchmarks [--quick] [--only NAME] [--database sqlite|postgres|both] [--json PATH]

Every benchmark runs in a process of its own (``benchmarks.child``) on a freshly migrated
database, against a fake Vipps in yet another process reached over HTTP on 127.0.0.1
(``benchmarks.fake``). Within a benchmark the two sides alternate after a warm-up of each
(``benchmarks.harness``); the table gives both medians in absolute units and the median of the
per-pair ratios with its spread, judged against the targets of the issue:

* checkout: an order + 5 lines with the app's receivers connected vs disconnected (<= 1.3x);
* worker: ``drain(concurrency=1)`` vs a bare pooled ``requests`` loop, same calls (>= 0.8x);
* latency: with 20 ms at the fake, ``drain(concurrency=N)`` vs the latency limit (>= 0.8x),
  and vs a bare pooled loop in N threads, the machine's own ceiling (>= 0.8x);
* ceiling: a raw urllib3 loop in 16 threads at 20 ms, spending 0 to 2.5 ms more CPU per
  order, vs the same limit: how much CPU per order one process can spend and still reach it;
* images: ``prepare_image`` of a 4000x3000 camera JPEG vs a plain decode (<= 2x), run once;
* uploads: 4 ``vipps_om_worker --once`` on 1,000 orders with 20 images (exactly 20 uploads);
* enqueue: ``vipps_om_sync --all`` over 100,000 orders (>= 3,000 orders/s; memory flat).

``--database both`` (what ``make bench`` runs) does SQLite, then PostgreSQL on a private server
started by ``scripts/with-services --postgres`` (skipped, with the reason, when PostgreSQL is
not installed). Targets missed are reported, not fatal; a benchmark that fails exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .django_setup import POSTGRES_ENV, ROOT
from .harness import Row, Target, log, read_rows, table, write_json

#: Benchmark modules, in the order they run, and the rows each one produces.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "checkout": ("checkout",),
    "worker": ("worker",),
    "latency": tuple(f"latency-c{n}{suffix}" for n in (1, 4, 16) for suffix in ("", "-loop")),
    "ceiling": tuple(f"ceiling-x{extra}" for extra in ("0", "0.75", "1.5", "2.5")),
    "images": ("images",),
    "uploads": ("uploads",),
    "enqueue": ("enqueue-rate", "enqueue-memory"),
}
#: Benchmarks that touch no database: run once, not once per database.
DATABASE_INDEPENDENT = frozenset({"images", "ceiling"})
PAIRS, QUICK_PAIRS = 7, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and 2 pairs: checks it runs"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these benchmarks (repeat or comma-separate): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help=f"pairs per comparison ({PAIRS}; quick {QUICK_PAIRS})",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON here")
    parser.add_argument("--no-table", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}")
    args.names = [name for name in BENCHMARKS if not names or name in names]
    if args.pairs is None:
        args.pairs = QUICK_PAIRS if args.quick else PAIRS
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def failed_rows(name: str, database: str, error: str) -> list[Row]:
    where = "-" if name in DATABASE_INDEPENDENT else database
    return [Row.failed(row, row, where, Target("==", 1.0, "-"), error) for row in BENCHMARKS[name]]


def run_child(name: str, database: str, args: argparse.Namespace, workdir: Path) -> list[Row]:
    """One benchmark in its own process; its rows, or error rows saying why there are none."""
    out = workdir / f"{name}-{database}.json"
    command = [sys.executable, "-m", "benchmarks.child", name, "--database", database]
    command += ["--pairs", str(args.pairs), "--out", str(out)]
    if args.quick:
        command.append("--quick")
    log(f"== {name} ({'-' if name in DATABASE_INDEPENDENT else database})")
    started = time.perf_counter()
    limit = 900 if args.quick else 7200
    returncode = run_process(command, timeout=limit)
    if returncode is None:
        return failed_rows(name, database, f"timed out after {limit} s")
    log(f"   {name} took {time.perf_counter() - started:.0f} s")
    if returncode != 0 or not out.exists():
        return failed_rows(name, database, f"exited {returncode}; see stderr above")
    return read_rows(str(out))


def run_process(command: list[str], *, timeout: float | None = None) -> int | None:
    """Run ``command``; its exit status, or None when it ran out of time.

    On a timeout or Ctrl-C the process gets SIGINT and time to clean up (its fake Vipps, its
    databases, with-services its PostgreSQL) before it is killed.
    """
    process = subprocess.Popen(command, cwd=ROOT)  # noqa: S603 - our own programs
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(process, interrupted=False)
        return None
    except BaseException:
        stop(process, interrupted=True)
        raise


def stop(process: subprocess.Popen[bytes], *, interrupted: bool) -> None:
    """Let ``process`` clean up after SIGINT; kill it only when it does not finish."""
    if interrupted:
        # Ctrl-C reached the whole process group: a second SIGINT would cut short the
        # clean-up the first one started, so wait before sending one.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_postgres_elsewhere(
    names: list[str], args: argparse.Namespace, workdir: Path
) -> tuple[list[Row], str | None]:
    """Run ``names`` on a private PostgreSQL started by scripts/with-services; (rows, skip reason)."""
    out = workdir / "postgres.json"
    command = [
        str(ROOT / "scripts" / "with-services"),
        "--postgres",
        "--name",
        "PostgreSQL benchmarks",
        "--",
        sys.executable,
        "-m",
        "benchmarks",
        "--database",
        "postgres",
        "--only",
        ",".join(names),
        "--pairs",
        str(args.pairs),
        "--json",
        str(out),
        "--no-table",
    ]
    if args.quick:
        command.append("--quick")
    returncode = run_process(command)
    if out.exists():
        return read_rows(str(out)), None
    if returncode == 0:
        return [], "PostgreSQL is not installed (apt-get install postgresql); skipped"
    return [
        row for name in names for row in failed_rows(name, "postgres", "with-services failed")
    ], None


def git_commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return found.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    rows: list[Row] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vipps-om-bench-") as tmp:
        workdir = Path(tmp)
        for position, database in enumerate(databases):
            names = [
                name
                for name in args.names
                if position == 0 or name not in DATABASE_INDEPENDENT  # those run once
            ]
            if not names:
                continue
            if database == "postgres" and not os.environ.get(POSTGRES_ENV):
                found, reason = run_postgres_elsewhere(names, args, workdir)
                rows.extend(found)
                if reason:
                    skipped[database] = reason
                continue
            for name in names:
                rows.extend(run_child(name, database, args, workdir))
    seconds = time.perf_counter() - started
    meta: dict[str, Any] = {
        "quick": args.quick,
        "pairs": args.pairs,
        "databases": databases,
        "skipped": skipped,
        "seconds": round(seconds, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "commit": git_commit(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.json:
        write_json(args.json, rows, meta)
    if not args.no_table:
        print()
        print(table(rows))
        for database, reason in skipped.items():
            print(f"* {database}: {reason}")
        print(f"\n{len(rows)} rows in {seconds:.0f} s; {json.dumps(meta['machine'])[1:-1]}.")
    return 1 if any(row.error is not None for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
