"""A fresh database and Django for one benchmark process, and the test shop's data.

Every benchmark runs in its own process on its own freshly migrated database (a file for
SQLite, a database on the private server for PostgreSQL), so no row inherits another's outbox,
tables or garbage. Django is configured by ``tests.settings`` through environment variables,
the same way the test suite starts worker subprocesses (``tests/conftest.py`` ``worker_env``),
so ``vipps_om_worker`` and ``vipps_om_sync`` subprocesses open the very same database.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "VIPPS_OM_TEST_POSTGRES"


# --------------------------------------------------------------------------- databases


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        raise RuntimeError(
            f"{POSTGRES_ENV} is not set: run under scripts/with-services --postgres "
            "(python -m benchmarks --database postgres does that itself)"
        )
    return url


def _admin_connection() -> Any:
    """An autocommit connection to the server's maintenance database, for CREATE/DROP."""
    import psycopg

    parts = urlsplit(postgres_url())
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    return f'"{name}"'


def create_database(database: str, name: str, workdir: Path, *, template: str | None = None) -> str:
    """Create an empty (or ``template``-copied) database; returns what VIPPS_OM_TEST_DB_NAME takes."""
    if database == "sqlite":
        path = workdir / f"{name}.sqlite3"
        if template is not None:
            shutil.copyfile(template, path)
        return str(path)
    with _admin_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {_quoted(name)}")
        clause = f" TEMPLATE {_quoted(template)}" if template else ""
        connection.execute(f"CREATE DATABASE {_quoted(name)}{clause}")
    return name


def drop_database(database: str, name: str) -> None:
    if database == "sqlite":
        Path(name).unlink(missing_ok=True)
        return
    with _admin_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def django_env(
    database: str, db_name: str, media_root: Path, app_settings: Mapping[str, Any]
) -> dict[str, str]:
    """The environment of a Django process on this benchmark's database and fake Vipps."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "VIPPS_OM_TEST_DB_NAME": db_name,
        "VIPPS_OM_TEST_MEDIA_ROOT": str(media_root),
        "VIPPS_OM_TEST_OVERRIDES": json.dumps(dict(app_settings)),
    }
    if database == "sqlite":
        env.pop(POSTGRES_ENV, None)  # tests.settings would switch to PostgreSQL
    else:
        postgres_url()
    return env


def setup_django(env: Mapping[str, str]) -> None:
    """Configure Django in this process from ``env`` and migrate its database."""
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def django_command(
    env: Mapping[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m django ARGS`` in a subprocess on the benchmark's database."""
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "django", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def close_connections() -> None:
    from django.db import connections

    connections.close_all()


# --------------------------------------------------------------------------- the app


def receivers_module() -> ModuleType:
    """The module whose ``connect()``/``disconnect()`` turn the app's signal receivers on and off."""
    from vipps_order_management.runners import receivers

    return receivers


def drain(worker_id: str, concurrency: int) -> None:
    """``services.drain`` everything due, with ``concurrency`` threads for the calls."""
    from vipps_order_management import services

    services.drain(worker_id=worker_id, concurrency=concurrency)


# --------------------------------------------------------------------------- the test shop

_numbers = itertools.count(1)


def make_products(count: int, images: Sequence[bytes] = (), prefix: str = "P") -> list[Any]:
    """``count`` products; the first ``len(images)`` get those bytes as their image."""
    from django.core.files.base import ContentFile

    from tests.shop.models import Product

    products = []
    for number in range(count):
        product = Product(
            name=f"Product {prefix}{number}",
            sku=f"{prefix}{number}",
            price=Decimal("129.00") + number,
            vat_rate=Decimal(25),
        )
        if number < len(images):
            product.image.save(
                f"{prefix.lower()}{number}.jpg", ContentFile(images[number]), save=False
            )
        product.save()
        products.append(product)
    return products


def make_orders(
    count: int, products: Sequence[Any], *, lines: int = 1, status: str = "paid"
) -> list[Any]:
    """``count`` orders of ``lines`` lines each, each order saved in its own transaction.

    With the receivers connected every order is enqueued as a checkout would enqueue it.
    """
    from django.db import transaction

    from tests.shop.models import Order, OrderItem

    orders = []
    for _ in range(count):
        number = next(_numbers)
        with transaction.atomic():
            order = Order.objects.create(
                number=f"B{os.getpid()}-{number}",
                status=status,
                vipps_reference=f"bench-{os.getpid()}-{number}",
            )
            for line in range(lines):
                product = products[(number + line) % len(products)]
                OrderItem.objects.create(
                    order=order, product=product, unit_price=product.price, quantity=1
                )
        orders.append(order)
    return orders
