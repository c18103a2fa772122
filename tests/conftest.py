"""Shared fixtures, and the rule for tests that need a service that may be missing.

Locally such a test skips with a reason that says how to enable it; under ``CI=true`` it
fails instead, so CI can never go green by skipping a tier.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

try:  # Django 6 ships the task framework; on Django 5.2 it is the django-tasks backport
    import django.tasks as tasks_framework
    from django.tasks.backends.base import BaseTaskBackend
except ImportError:  # pragma: no cover - Django 5.2
    import django_tasks as tasks_framework  # type: ignore[no-redef]
    from django_tasks.backends.base import BaseTaskBackend  # type: ignore[no-redef]  # noqa: F401

#: "django.tasks" or "django_tasks": where TASKS backends live on this Django.
TASKS_PACKAGE = tasks_framework.__name__


def missing_service(reason: str) -> None:
    """Skip (locally) or fail (under CI=true) because a service the test needs is missing."""
    if IN_CI:
        pytest.fail(f"{reason} -- CI=true requires this tier to run", pytrace=False)
    pytest.skip(reason)


def openapi_spec_path() -> Path | None:
    """Vipps's official spec, read in place from ../shared (never copied into the project)."""
    candidates = [
        os.environ.get("VIPPS_OM_OPENAPI_SPEC"),
        REPOSITORY.parent / "shared" / "vipps" / "order-management-openapi.yaml",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


# --------------------------------------------------------------------------- the fake shop


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Tokens cached by one test must not leak into the next (the fake forgets them on reset)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """A request through LocaleMiddleware leaves its language active in the thread; the next
    test must start in the project's default language, whatever ran before it."""
    from django.utils import translation

    yield
    translation.deactivate()


def printed_until(process: subprocess.Popen[str], last: str, timeout: float = 30) -> str:
    """The lines ``process`` prints up to and including ``last``, without blocking forever."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for text in process.stdout:
            lines.put(text)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while not seen or seen[-1].strip() != last:
        text = lines.get(timeout=timeout)
        assert text is not None, "".join(seen)
        seen.append(text)
    return "".join(seen)


def png_bytes(
    size: tuple[int, int] = (400, 400), colour: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A real PNG made with Pillow, for product and order images."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


#: What a shop's order staff may do with orders and their Vipps rows (no superuser: the
#: admin and the API check permissions as they do in a shop).
STAFF_PERMISSIONS = (
    "shop.view_order",
    "shop.change_order",
    "shop.view_booking",
    "shop.change_booking",
    "vipps_order_management.view_outboxitem",
    "vipps_order_management.change_outboxitem",
    "vipps_order_management.view_syncattempt",
    "vipps_order_management.view_vippsorder",
    "vipps_order_management.view_uploadedimage",
)


def make_user(username: str, *, staff: bool = False, perms=()):
    """A user with the given ``app_label.codename`` permissions."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, password="pw", is_staff=staff)
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def staff(client):
    """The test client, logged in as a member of the order staff."""
    client.force_login(make_user("staff", staff=True, perms=STAFF_PERMISSIONS))
    return client


@pytest.fixture
def vipps(vipps_fake_settings, settings):
    """The fake Vipps, with the app's settings pointing at it and retries without long waits."""
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 0, "CAP_SECONDS": 0, "JITTER": 0},
    }
    return vipps_fake_settings


@pytest.fixture
def product(db, tmp_path, settings):
    from decimal import Decimal

    from django.core.files.base import ContentFile

    from tests.shop.models import Product

    settings.MEDIA_ROOT = str(tmp_path / "media")
    item = Product(name="Wool socks", sku="SOCK-1", price=Decimal("129.00"), vat_rate=Decimal(25))
    item.image.save("socks.png", ContentFile(png_bytes()), save=False)
    item.save()
    return item


@pytest.fixture
def make_order(db, product):
    """Create a paid order (or what the keyword arguments say) with one line of socks."""
    from decimal import Decimal

    from tests.shop.models import Order, OrderItem

    counter = iter(range(1001, 100_000))

    def make(
        *,
        status="paid",
        reference=True,
        quantity=2,
        unit_price=None,
        shipping="49.00",
        items=None,
        **fields,
    ):
        number = str(next(counter))
        order = Order.objects.create(
            number=number,
            status=status,
            vipps_reference=f"order-{number}" if reference is True else (reference or ""),
            shipping_price=Decimal(shipping),
            **fields,
        )
        for item_product, item_quantity, item_price in items or [(product, quantity, unit_price)]:
            OrderItem.objects.create(
                order=order,
                product=item_product,
                unit_price=item_price or item_product.price,
                quantity=Decimal(item_quantity),
            )
        return order

    return make


# --------------------------------------------------------------------------- worker processes


@pytest.fixture
def worker_env(vipps, settings, transactional_db, product):
    """Environment for ``vipps_om_worker`` subprocesses: this test's database, fake and media."""
    import json
    import sys

    from django.db import connection

    overrides = {
        key: value
        for key, value in settings.VIPPS_ORDER_MANAGEMENT.items()
        if key not in ("ORDER_ADAPTERS",) and isinstance(value, str | int | float | dict | list)
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPOSITORY),
        "VIPPS_OM_TEST_DB_NAME": connection.settings_dict["NAME"],
        "VIPPS_OM_TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VIPPS_OM_TEST_OVERRIDES": json.dumps(overrides),
        "PYTHONWARNINGS": "error",
    }
    env["_PYTHON"] = sys.executable
    return env


def start_worker(env, *args, **popen):
    """Start ``manage.py vipps_om_worker`` in its own process (output captured)."""
    import subprocess

    command = [env["_PYTHON"], "-m", "django", "vipps_om_worker", *args]
    return subprocess.Popen(
        command,
        env=env,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_worker(env, *args, timeout=60):
    process = start_worker(env, *args)
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker failed ({process.returncode}):\n{out}\n{err}"
    return out
