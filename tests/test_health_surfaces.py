"""Where the health summary is read: ``vipps_om_check --health``, the JSON URL and the admin's
overview page."""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from tests.shop.models import Order
from vipps_order_management.engine import health
from vipps_order_management.models import OutboxItem, SyncAttempt, VippsOrder

from .conftest import REPOSITORY
from .test_health import NOW, every_state, frozen, grow, home_unit  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

HEALTH_URL = "/vipps/health/"
OVERVIEW = "/admin/vipps_order_management/outboxitem/overview/"
TOKEN = "0123456789abcdefghijklmnopqrstuvwxyz-_ABCDEF"


def staff_user(*codenames: str, username: str = "staff", is_staff: bool = True) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=is_staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def pending_row(age: timedelta) -> None:
    OutboxItem.objects.create(
        content_type=ContentType.objects.get_for_model(Order),
        object_id="1",
        kind="links",
        next_attempt_at=timezone.now() - age,
        pending_since=timezone.now() - age,
    )


def dead_row(age: timedelta) -> None:
    OutboxItem.objects.create(
        content_type=ContentType.objects.get_for_model(Order),
        object_id="2",
        kind="receipt",
        status="dead",
        last_error="400 Bad Request",
        last_status_code=400,
        next_attempt_at=timezone.now() - age,
        pending_since=timezone.now() - age,
        dead_at=timezone.now() - age,
    )


# ---------------------------------------------------------------------- vipps_om_check --health

SITUATIONS = {
    "healthy": (lambda: None, 0),
    "warning": (lambda: pending_row(timedelta(minutes=20)), 1),
    "critical": (lambda: dead_row(timedelta(days=2)), 2),
}


@pytest.mark.django_db(transaction=True)  # the command runs in a process of its own
@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_the_health_check_exits_0_1_or_2(worker_env, situation):
    make, code = SITUATIONS[situation]
    make()
    done = subprocess.run(
        [worker_env["_PYTHON"], "-m", "django", "vipps_om_check", "--health"],
        env=worker_env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stdout.startswith(f"Vipps health: {situation.capitalize()}\n")


@pytest.mark.usefixtures("every_state")
def test_the_health_check_prints_the_summary():
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("vipps_om_check", "--health", stdout=out)
    assert exited.value.code == 2
    text = out.getvalue().replace("\N{NO-BREAK SPACE}", " ")
    assert text.startswith("Vipps health: Critical\n")
    assert "  Critical: A send has waited for staff for 2 days (critical from 1 day)." in text
    assert re.search(r"  Retrying after a failure +1 +0 +1\n", text), text
    assert re.search(r"  Differs from Vipps +0 +1 +1\n", text), text
    assert "  Refused by Vipps: 1" in text
    assert "  654321: Pending: 0; Retrying after a failure: 1;" in text
    assert "Workers: At work; 1 row being sent" in text


@pytest.mark.usefixtures("every_state")
def test_the_health_check_prints_json():
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("vipps_om_check", "--health", "--json", stdout=out)
    assert exited.value.code == 2
    assert json.loads(out.getvalue()) == health.summary().as_json()


@pytest.mark.usefixtures("frozen", "home_unit")
def test_a_healthy_shop_exits_normally():
    out = StringIO()
    call_command("vipps_om_check", "--health", stdout=out)  # no SystemExit: exit status 0
    assert out.getvalue().startswith("Vipps health: Healthy\n")


def test_a_summary_that_cannot_be_computed_is_unknown(settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "HEALTH": {"X": 1}}
    err = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("vipps_om_check", "--health", stdout=StringIO(), stderr=err)
    assert exited.value.code == 3
    assert "Vipps health unknown: VippsConfigurationError: " in err.getvalue()
    assert "(vipps_order_management.E029)" in err.getvalue()


def test_json_without_health_says_how_to_ask(settings):
    with pytest.raises(CommandError, match="--json goes with --health"):
        call_command("vipps_om_check", "--json", stdout=StringIO())


# ---------------------------------------------------------------------- the JSON URL


@pytest.fixture
def with_token(settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "HEALTH_TOKEN": TOKEN}


def test_anonymous_readers_are_refused_without_a_reason(client, with_token):
    response = client.get(HEALTH_URL)
    assert response.status_code == 401
    assert response.content == b""
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Token {TOKEN}", "Bearer ", TOKEN],
    ids=["shorter", "longer", "other scheme", "empty", "no scheme"],
)
def test_a_wrong_token_is_refused(client, with_token, header):
    response = client.get(HEALTH_URL, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.content == b""


@pytest.mark.usefixtures("every_state")
def test_the_token_reads_the_summary(client, with_token):
    response = client.get(HEALTH_URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == health.summary().as_json()
    assert response.json()["level"] == "critical"


def test_no_token_is_configured_so_none_is_accepted(client, settings):
    settings.VIPPS_ORDER_MANAGEMENT = {**settings.VIPPS_ORDER_MANAGEMENT, "HEALTH_TOKEN": None}
    assert client.get(HEALTH_URL, headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get(HEALTH_URL, headers={"Authorization": "Bearer None"}).status_code == 401


@pytest.mark.parametrize(
    ("codenames", "is_staff", "status"),
    [
        (["view_outboxitem"], True, 200),
        (["change_outboxitem"], True, 200),
        (["view_order", "view_syncattempt"], True, 403),
        (["view_outboxitem"], False, 403),
    ],
    ids=["staff viewing the outbox", "staff changing it", "other staff", "not staff"],
)
def test_staff_who_may_view_the_outbox_read_it(client, codenames, is_staff, status):
    client.force_login(staff_user(*codenames, is_staff=is_staff))
    response = client.get(HEALTH_URL)
    assert response.status_code == status
    if status == 403:
        assert response.content == b""
    else:
        assert response.json()["level"] == "healthy"


def test_only_get_is_answered(client, with_token):
    response = client.post(HEALTH_URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


@pytest.mark.usefixtures("every_state")
def test_the_token_is_never_logged_nor_shown(client, with_token, caplog):
    caplog.set_level(logging.DEBUG)
    client.get(HEALTH_URL, headers={"Authorization": f"Bearer {TOKEN}"})
    client.get(HEALTH_URL, headers={"Authorization": f"Bearer {TOKEN[:-2]}"})
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("vipps_om_check", "--health", "--json", stdout=out)
    with contextlib.suppress(CommandError):  # what else is wrong does not matter here
        call_command("vipps_om_check", "--skip-token", stdout=out, stderr=out)
    shown = out.getvalue() + caplog.text
    assert TOKEN[:-2] not in shown
    assert TOKEN[-8:] not in shown


# ---------------------------------------------------------------------- the admin's overview


@pytest.fixture
def overseer(client):
    """Staff who may view and requeue the outbox and see the other records."""
    client.force_login(
        staff_user("view_outboxitem", "change_outboxitem", "view_vippsorder", "view_syncattempt")
    )
    return client


def links_on(page: str) -> dict[str, str]:
    """The overview's counts that are links: the count each link shows, by its address."""
    return {
        html.unescape(href): text for href, text in re.findall(r'<a href="([^"]+)">(\d+)</a>', page)
    }


def test_the_app_index_links_to_the_overview(overseer, client):
    page = client.get("/admin/vipps_order_management/").content.decode()
    assert f'<a href="{OVERVIEW}">Vipps overview</a>' in page
    client.force_login(staff_user("view_vippsorder", username="other"))
    page = client.get("/admin/vipps_order_management/").content.decode()
    assert "Vipps overview" not in page


def test_the_outbox_list_links_to_the_overview(overseer):
    page = overseer.get("/admin/vipps_order_management/outboxitem/").content.decode()
    assert f'<a href="{OVERVIEW}">Vipps overview</a>' in page


@pytest.mark.usefixtures("every_state")
def test_every_count_of_the_overview_opens_exactly_its_rows(overseer):
    page = overseer.get(OVERVIEW).content.decode()
    assert 'data-level="critical"' in page
    assert "2 sends wait for staff." in page
    links = links_on(page)
    assert len(links) == 5 * 3 + 1 + 2  # states x (kinds, total), those differing, 2 reasons
    for url, shown in links.items():
        response = overseer.get(url)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count == int(shown), url
    assert "/admin/vipps_order_management/outboxitem/?state=retrying&kind__exact=links" in links
    assert links["/admin/vipps_order_management/outboxitem/?reason=payload"] == "1"
    assert links["/admin/vipps_order_management/vippsorder/?receipt_state__exact=drift"] == "1"


@pytest.mark.usefixtures("every_state")
def test_the_overview_shows_calls_breaker_workers_and_units(overseer):
    page = overseer.get(OVERVIEW).content.decode().replace("\N{NO-BREAK SPACE}", " ")
    assert "Last successful call</th><td>" in page
    assert "(10 minutes ago)" in page
    assert "Closed" in page
    assert "At work" in page
    assert "1 row being sent" in page
    assert '<tr data-msn="654321">' in page
    assert "TOKEN_CACHE is a cache of this process only" in page


@pytest.mark.usefixtures("every_state")
def test_staff_who_may_change_the_outbox_requeue_a_reason_group(overseer):
    page = overseer.get(OVERVIEW).content.decode()
    assert page.count('value="Requeue them all"') == 2
    response = overseer.post(OVERVIEW, {"reason": "refused_by_vipps"}, follow=True)
    assert "1 row queued again." in response.content.decode()
    assert not OutboxItem.objects.filter(status="dead", last_status_code=400).exists()
    assert OutboxItem.objects.filter(status="dead").count() == 1  # the other reason stays


@pytest.mark.usefixtures("every_state")
def test_staff_who_may_only_view_see_no_requeue(client):
    client.force_login(staff_user("view_outboxitem"))
    page = client.get(OVERVIEW).content.decode()
    assert "Requeue them all" not in page
    assert client.post(OVERVIEW, {"reason": "refused_by_vipps"}).status_code == 403
    assert OutboxItem.objects.filter(status="dead").count() == 2


def test_staff_who_may_not_view_the_outbox_are_refused(client):
    client.force_login(staff_user("view_order"))
    assert client.get(OVERVIEW).status_code == 403


def overview_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(OVERVIEW)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.usefixtures("frozen")
def test_the_overview_costs_the_same_queries_for_10_orders_and_for_1000(overseer):
    grow(10)
    few = overview_queries(overseer)
    OutboxItem.objects.all().delete()
    VippsOrder.objects.all().delete()
    SyncAttempt.objects.all().delete()
    grow(1000)
    many = overview_queries(overseer)
    assert few == many
    assert few <= 10  # the summary's five, the session, the user and the permissions


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("nb", ["Vipps-oversikt", "Venter på de ansatte", "Avvist av Vipps", "Kritisk"]),
        ("da", ["Vipps-overblik", "Venter på personalet", "Afvist af Vipps", "Kritisk"]),
        ("fi", ["Vipps-yleiskatsaus", "Odottaa henkilökuntaa", "Vipps hylkäsi", "Kriittinen"]),
    ],
)
@pytest.mark.usefixtures("every_state")
def test_the_overview_and_the_health_check_speak_the_staff_language(overseer, lang, words):
    page = overseer.get(OVERVIEW, HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    for word in words:
        assert word in page, (lang, word)
    out = StringIO()
    with translation.override(lang), pytest.raises(SystemExit):
        call_command("vipps_om_check", "--health", stdout=out)
    assert words[1] in out.getvalue()
    assert words[3] in out.getvalue().splitlines()[0]
