"""The Oscar tier: a django-oscar shop, run by ``make test-oscar`` in ``.venv-oscar``.

Its tests run only under this shop's settings (``--ds=tests.oscar.settings``); the main
suite (``tests.settings``, no Oscar installed) does not collect them.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

OSCAR_SETTINGS = "tests.oscar.settings"

if django_settings.SETTINGS_MODULE != OSCAR_SETTINGS:
    collect_ignore_glob = ["*"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Oscar's own deprecation warnings are not errors here (the suite's filter makes them so)."""
    modules = getattr(django_settings, "THIRD_PARTY_MODULES", None)
    if not modules:
        return
    for item in items:
        for category in ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning"):
            item.add_marker(pytest.mark.filterwarnings(f"ignore::{category}:{modules}"))
        # Treebeard's own, raised through functools.partialmethod (so from "functools").
        item.add_marker(
            pytest.mark.filterwarnings("ignore::treebeard.deprecation.RemovedInTreebeard8Warning")
        )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def catalogue(db, media):
    from .shop import make_catalogue

    return make_catalogue()


@pytest.fixture
def customer(db, django_user_model):
    return django_user_model.objects.create_user(
        username="kari", email="kari@example.com", password="kari"
    )


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_superuser(
        username="staff", email="staff@example.com", password="staff"
    )


@pytest.fixture
def viewer(db, django_user_model):
    """Staff who may see orders in Oscar's dashboard (``order.view_order``) but not change them."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        "viewer", "viewer@example.com", "viewer", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    return user


@pytest.fixture
def place_order(catalogue, customer):
    """``place_order("Wool socks", 2, "Coffee", 3, ...)``: an order of the test shop, paid."""
    from .shop import place_order as place

    def make(*names_and_quantities, user=None, **options):
        pairs = list(zip(names_and_quantities[::2], names_and_quantities[1::2], strict=True))
        items = [(catalogue.products[name], quantity) for name, quantity in pairs]
        return place(user or customer, items, **options)

    return make
