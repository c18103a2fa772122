"""pytest fixtures for the fake Vipps server, registered through the ``pytest11`` entry point.

Loaded by every pytest run in a project that installs this app, so it imports neither Django nor
the server at import time: Django may not be configured yet when plugins load, and projects that
never use the fixtures should pay nothing for them.

* ``vipps_fake_server``: one server for the whole session (starting one per test is wasted time).
* ``vipps_fake``: that server, reset before and after the test, so tests cannot see each other.
* ``vipps_fake_settings``: ``vipps_fake`` plus ``settings.VIPPS_ORDER_MANAGEMENT`` pointing at it.
* ``vipps_fake_server_options``: override in a conftest to configure the session server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .fake import FakeVippsServer


@pytest.fixture(scope="session")
def vipps_fake_server_options() -> dict[str, Any]:
    """Keyword arguments for the session's ``FakeVippsServer``; override to change them."""
    return {}


@pytest.fixture(scope="session")
def vipps_fake_server(vipps_fake_server_options: dict[str, Any]) -> Iterator[FakeVippsServer]:
    """A started fake Vipps server shared by the whole session; prefer ``vipps_fake`` in tests."""
    from .fake import FakeVippsServer

    with FakeVippsServer(**vipps_fake_server_options) as server:
        yield server


@pytest.fixture
def vipps_fake(vipps_fake_server: FakeVippsServer) -> Iterator[FakeVippsServer]:
    """The session's fake server with empty state, no faults and its original configuration."""
    vipps_fake_server.reset()
    yield vipps_fake_server
    vipps_fake_server.reset()


def _settings_for(fake: FakeVippsServer, current: Any) -> dict[str, Any]:
    credentials = fake.credentials
    return {
        **(current or {}),
        "BASE_URL": fake.url,
        "CLIENT_ID": credentials["client_id"],
        "CLIENT_SECRET": credentials["client_secret"],
        "SUBSCRIPTION_KEY": credentials["subscription_key"],
        "MERCHANT_SERIAL_NUMBER": credentials["merchant_serial_number"],
    }


@pytest.fixture
def vipps_fake_settings(
    request: pytest.FixtureRequest, vipps_fake: FakeVippsServer
) -> Iterator[FakeVippsServer]:
    """``vipps_fake`` with ``VIPPS_ORDER_MANAGEMENT`` merged to use it (restored afterwards).

    Uses pytest-django's ``settings`` fixture when it is installed, else Django's
    ``override_settings``; Django is imported only here.
    """
    try:
        settings = request.getfixturevalue("settings")
    except pytest.FixtureLookupError:
        settings = None
    if settings is not None:
        settings.VIPPS_ORDER_MANAGEMENT = _settings_for(
            vipps_fake, getattr(settings, "VIPPS_ORDER_MANAGEMENT", None)
        )
        yield vipps_fake
        return
    from django.conf import settings as django_settings
    from django.test import override_settings

    merged = _settings_for(vipps_fake, getattr(django_settings, "VIPPS_ORDER_MANAGEMENT", None))
    with override_settings(VIPPS_ORDER_MANAGEMENT=merged):
        yield vipps_fake
