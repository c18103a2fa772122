"""Run one benchmark in a process of its own: ``python -m benchmarks.child NAME --out PATH``.

The parent (``python -m benchmarks``) never imports Django; each benchmark gets a fresh
interpreter, a fresh database, its own out-of-process fake Vipps and a temporary media root,
and everything it started is stopped in ``finally``. The rows are written as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from . import django_setup
from .fake import OutOfProcessFake
from .harness import Row, write_json


@dataclass
class Context:
    """What a benchmark module's ``run(context)`` gets."""

    name: str
    database: str  # "sqlite", "postgres", or "-" for database-independent benchmarks
    quick: bool
    pairs: int
    workdir: Path
    fake: OutOfProcessFake | None = None
    env: dict[str, str] = field(default_factory=dict)  # for Django subprocesses


def run(name: str, database: str, quick: bool, pairs: int) -> list[Row]:
    module = importlib.import_module(f"benchmarks.{name}")
    uses_django: bool = getattr(module, "USES_DJANGO", True)
    uses_fake: bool = uses_django or getattr(module, "USES_FAKE", False)
    with (
        tempfile.TemporaryDirectory(prefix=f"vipps-om-bench-{name}-") as tmp,
        ExitStack() as cleanup,
    ):
        workdir = Path(tmp)
        context = Context(name, database if uses_django else "-", quick, pairs, workdir)
        if uses_fake:
            context.fake = cleanup.enter_context(OutOfProcessFake())
        if uses_django:
            assert context.fake is not None
            db_name = django_setup.create_database(database, f"bench_{name}_{os.getpid()}", workdir)
            cleanup.callback(django_setup.drop_database, database, db_name)
            context.env = django_setup.django_env(
                database, db_name, workdir / "media", context.fake.app_settings()
            )
            django_setup.setup_django(context.env)
            cleanup.callback(django_setup.close_connections)
        return list(module.run(context))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        rows = run(args.name, args.database, args.quick, args.pairs)
    except Exception:
        traceback.print_exc()
        return 1
    write_json(args.out, rows, {"name": args.name, "database": args.database})
    return 0


if __name__ == "__main__":
    sys.exit(main())
