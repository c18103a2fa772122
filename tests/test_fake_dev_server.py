"""The fake Vipps as a development server: its state file, and the two ways of starting it.

A shop's database outlives the fake: the app uploads each image once and then only names it,
so a restarted fake must still hold what it was sent. Everything here runs over real HTTP on
127.0.0.1, through the app's own client or ``requests``, and the command lines as processes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from vipps_order_management.client import OrderManagementClient
from vipps_order_management.exceptions import VippsConflict
from vipps_order_management.link_policy import LinkPolicy
from vipps_order_management.payloads import BottomLine, Category, OrderLine, Receipt
from vipps_order_management.testing import FakeMerchant, FakeVippsServer
from vipps_order_management.testing.fake.cli import add_arguments

from .conftest import REPOSITORY, png_bytes, printed_until

OM = "/order-management"
#: The fake's own command line, on a free port.
FAKE_CLI = [sys.executable, "-m", "vipps_order_management.testing.fake_server", "--port", "0"]


def a_receipt(name: str = "Socks") -> Receipt:
    line = OrderLine.from_gross(
        name=name, id="SKU-1", unit_price=Decimal("99.00"), quantity=2, vat_rate=Decimal(25)
    )
    return Receipt([line], BottomLine("NOK", receipt_number="1001"))


def client_for(fake: FakeVippsServer, merchant: FakeMerchant | None = None) -> Any:
    credentials = (merchant or fake.merchant).credentials
    shop_app = LinkPolicy.configured(app_schemes=["myshop"])
    return OrderManagementClient(base_url=fake.url, link_policy=shop_app, **credentials)


def data_uri_image(page: str) -> bytes:
    """The bytes of the one image the preview page draws (it is inlined as a data: URI)."""
    [encoded] = re.findall(r'<img[^>]* src="data:image/png;base64,([^"]+)"', page)
    return base64.b64decode(encoded)


MERCHANT_B = FakeMerchant(
    client_id="b-client",
    client_secret="b-secret",
    subscription_key="b-key",
    merchant_serial_number="654321",
)


def send_everything(fake: FakeVippsServer, image: bytes) -> dict[str, Any]:
    """Through the app's client: an image, a v2 and a v3 link naming it, a receipt; and a
    receipt for the second merchant. Returns what a restarted fake must give back."""
    with client_for(fake) as client:
        client.upload_image("img-1", image)
        client.put_category("ECOM", "order-1", Category("RECEIPT", "https://x.example/1", "img-1"))
        category_id = client.create_category(
            "ECOM", "order-1", Category("TICKET", "myshop://tickets/1", "img-1")
        )
        client.post_receipt("ECOM", "order-1", a_receipt())
        client.post_receipt("RECURRING", "sub-1", a_receipt("Subscription"))
        sent = {
            "order": client.get_order("ECOM", "order-1"),
            "subscription": client.get_order("RECURRING", "sub-1"),
            "v3": client.list_categories("order-1"),
        }
    assert [c.category_id for c in sent["v3"]] == [category_id]
    with client_for(fake, MERCHANT_B) as client:
        client.post_receipt("ECOM", "order-1", a_receipt("B's socks"))
        sent["b"] = client.get_order("ECOM", "order-1")
    return sent


# --------------------------------------------------------------------------- the state file


def test_stopped_and_started_again_on_its_state_file_the_fake_holds_everything(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    image = png_bytes((300, 300))
    with FakeVippsServer(merchants=[FakeMerchant(), MERCHANT_B], state_file=path) as fake:
        sent = send_everything(fake, image)

    with FakeVippsServer(merchants=[FakeMerchant(), MERCHANT_B], state_file=path) as again:
        with client_for(again) as client:
            assert client.get_order("ECOM", "order-1") == sent["order"]
            assert client.get_order("RECURRING", "sub-1") == sent["subscription"]
            assert client.list_categories("order-1") == sent["v3"]
            # The image is known: another link may name it, and uploading it again is refused.
            client.put_category(
                "ECOM", "order-2", Category("GENERAL", "https://x.example/2", "img-1")
            )
            with pytest.raises(VippsConflict):
                client.upload_image("img-1", image)
        with client_for(again, MERCHANT_B) as client:
            assert client.get_order("ECOM", "order-1") == sent["b"]
        assert again.images() == {"img-1": image}

        index = requests.get(f"{again.url}/preview/", timeout=5).text
        assert 'href="/preview/123456/ECOM/order-1"' in index
        assert 'href="/preview/654321/ECOM/order-1"' in index
        page = requests.get(again.preview_url("order-1"), timeout=5)
        assert page.status_code == 200
        assert "Socks" in page.text
        assert data_uri_image(page.text) == image


def test_the_state_file_is_readable_json_written_after_every_change(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    image = png_bytes((200, 240))
    with FakeVippsServer(state_file=path) as fake:
        assert fake.state_file == path
        assert json.loads(path.read_text())["merchants"]["123456"]["receipts"] == {
            "ECOM": {},
            "RECURRING": {},
        }  # written at start, so a path that cannot be written is refused at once
        with client_for(fake) as client:
            client.upload_image("img-1", image)
            document = json.loads(path.read_text())
            client.post_receipt("ECOM", "order-1", a_receipt())
            text = path.read_text()

    assert document["merchants"]["123456"]["receipts"]["ECOM"] == {}
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    stored = json.loads(text)
    assert stored["format"] == "vipps-order-management fake Vipps state"
    assert stored["version"] == 1
    merchant = stored["merchants"]["123456"]
    assert merchant["receipts"]["ECOM"]["order-1"] == a_receipt().to_api()
    assert merchant["images"]["img-1"] == {
        "base64": base64.b64encode(image).decode(),
        "format": "PNG",
        "width": 200,
        "height": 240,
        "size": len(image),
        "sha256": merchant["images"]["img-1"]["sha256"],
    }
    # Neither tokens, nor keys, nor the request log.
    for secret in ("fake-client-secret", "fake-subscription-key", "access_token", "Bearer"):
        assert secret not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left


def test_reset_empties_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with FakeVippsServer(state_file=path) as fake:
        with client_for(fake) as client:
            client.upload_image("img-1", png_bytes())
        fake.reset()
    with FakeVippsServer(state_file=path) as again:
        assert again.images() == {}
    assert json.loads(path.read_text())["merchants"]["123456"]["images"] == {}


def test_the_fake_in_tests_keeps_no_state_file() -> None:
    with FakeVippsServer() as fake:
        assert fake.state_file is None


def test_concurrent_changes_all_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with FakeVippsServer(state_file=path) as fake:
        with client_for(fake) as client:
            client.access_token()

            def send(number: int) -> None:
                link = Category("GENERAL", f"https://x.example/{number}", f"img-{number}")
                client.upload_image(f"img-{number}", png_bytes((200, 200), (number, 0, 0)))
                client.put_category("ECOM", f"order-{number}", link)
                client.post_receipt("ECOM", f"order-{number}", a_receipt())

            # Each change rewrites the file; were two writes to interleave (or an older
            # snapshot land after a newer one), the file would miss some of them.
            threads = [threading.Thread(target=send, args=(n,)) for n in range(32)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        held = fake.images()
    merchant = json.loads(path.read_text())["merchants"]["123456"]
    assert sorted(merchant["images"]) == sorted(held) == sorted(f"img-{n}" for n in range(32))
    assert len(merchant["categories"]["ECOM"]) == len(merchant["receipts"]["ECOM"]) == 32


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"merchants": ', "is not valid JSON"),
        ('{"merchants": {}}', "no state file"),
        (
            '{"format": "vipps-order-management fake Vipps state", "version": 9, "merchants": {}}',
            "version is 9",
        ),
        (
            '{"format": "vipps-order-management fake Vipps state", "version": 1, "merchants": '
            '{"123456": {"images": {"img-1": {"base64": "not base64!"}}}}}',
            "merchants['123456'].images['img-1'].base64 is not valid base64",
        ),
        (
            '{"format": "vipps-order-management fake Vipps state", "version": 1, "merchants": '
            '{"123456": {"receipts": {"ECOM": {"order-1": []}}}}}',
            "merchants['123456'].receipts.ECOM['order-1'] must be a JSON object",
        ),
    ],
)
def test_a_corrupt_state_file_is_refused_and_left_as_it_is(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="cannot be used") as refused:
        FakeVippsServer(state_file=path)
    message = str(refused.value)
    assert str(path) in message
    assert problem in message
    assert path.read_text() == content


def test_an_unreadable_or_unwritable_state_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        FakeVippsServer(state_file=tmp_path)  # a directory
    with pytest.raises(ValueError, match="cannot be written"):
        FakeVippsServer(state_file=tmp_path / "missing" / "state.json")


# --------------------------------------------------------------------------- command lines


def start(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONWARNINGS": "error", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait, and return what it wrote on stderr."""
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=15)
    assert process.returncode == 0, errors
    return errors


def token(url: str, merchant: FakeMerchant) -> str:
    headers = {
        "client_id": merchant.client_id,
        "client_secret": merchant.client_secret,
        "Ocp-Apim-Subscription-Key": merchant.subscription_key,
    }
    return requests.post(f"{url}/accesstoken/get", headers=headers, timeout=5).json()[
        "access_token"
    ]


def put_link(url: str, order_id: str, link: str, image_id: str | None = None) -> requests.Response:
    merchant = FakeMerchant()
    headers = {
        "Authorization": f"Bearer {token(url, merchant)}",
        "Ocp-Apim-Subscription-Key": merchant.subscription_key,
        "Merchant-Serial-Number": merchant.msn,
    }
    body = {"category": "GENERAL", "orderDetailsUrl": link, "imageId": image_id}
    return requests.put(
        f"{url}{OM}/v2/ECOM/categories/{order_id}", json=body, headers=headers, timeout=5
    )


def test_the_fakes_own_command_line_takes_a_state_file_and_the_development_switches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    command = [
        *FAKE_CLI,
        "--state-file",
        str(path),
        "--unknown-image-status",
        "accept",
        "--allow-http-link-host",
        "127.0.0.1",
    ]
    process = start(command, cwd=tmp_path)
    try:
        banner = printed_until(process, "# Press Ctrl+C to stop.")
        url = re.search(r"listening on (\S+)", banner).group(1)
        assert f"# State kept across restarts in {path}" in banner
        assert "# Plain-http links allowed to: 127.0.0.1" in banner
        assert put_link(url, "o-1", "http://127.0.0.1:8000/o/1", "never-sent").status_code == 200
        refused = put_link(url, "o-2", "http://shop.example/o/2")
    finally:
        stop(process)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert "Vipps opens only https links" in detail
    assert "DEVELOPMENT_LINK_HOSTS" in detail
    assert "--allow-http-link-host shop.example" in detail
    stored = json.loads(path.read_text())["merchants"]["123456"]["categories"]["ECOM"]
    assert stored == {
        "o-1": {
            "category": "GENERAL",
            "orderDetailsUrl": "http://127.0.0.1:8000/o/1",
            "imageId": "never-sent",
        }
    }


def test_the_fakes_own_command_line_refuses_a_corrupt_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("not json")
    command = [
        *FAKE_CLI,
        "--state-file",
        str(path),
    ]
    finished = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 1
    assert f"state file {path} cannot be used: it is not valid JSON" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert path.read_text() == "not json"


def manage(tmp_path: Path, *args: str, overrides: dict[str, Any], debug: bool = True) -> Any:
    """``manage.py vipps_om_fake_server`` in ``tmp_path``, the tests' settings plus ``overrides``,
    on a developer's machine (``DEBUG`` on) unless ``debug=False``."""
    command = [sys.executable, "-m", "django", "vipps_om_fake_server", "--port", "0", *args]
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "VIPPS_OM_TEST_OVERRIDES": json.dumps(overrides),
        "VIPPS_OM_TEST_DEBUG": "1" if debug else "",
    }
    return start(command, cwd=tmp_path, env=env)


def test_the_command_allows_the_development_link_hosts_and_keeps_state_by_default(
    tmp_path: Path,
) -> None:
    process = manage(
        tmp_path,
        "--allow-http-link-host",
        "127.0.0.1",
        "--unknown-image-status",
        "400",
        overrides={"DEVELOPMENT_LINK_HOSTS": ["localhost"]},
    )
    try:
        banner = printed_until(process, "Press Ctrl-C to stop.")
        url = re.search(r"listening on (\S+)", banner).group(1)
        assert "Plain-http links are accepted to: 127.0.0.1, localhost" in banner
        assert f"approve or reject it: {url}/payments/" in banner
        default = tmp_path / ".vipps-fake-state.json"
        assert f"State is kept across restarts in {default}" in banner
        assert put_link(url, "o-1", "http://localhost:8000/o/1").status_code == 200
        assert put_link(url, "o-2", "http://127.0.0.1:8000/o/2").status_code == 200
        assert put_link(url, "o-3", "http://shop.example/o/3").status_code == 400
        assert put_link(url, "o-4", "https://shop.example/o/4", "never-sent").status_code == 400
    finally:
        stop(process)
    stored = json.loads(default.read_text())["merchants"]["123456"]["categories"]["ECOM"]
    assert sorted(stored) == ["o-1", "o-2"]


def test_the_command_ignores_a_malformed_setting_and_can_keep_state_in_memory(
    tmp_path: Path,
) -> None:
    process = manage(tmp_path, "--no-state-file", overrides={"DEVELOPMENT_LINK_HOSTS": "localhost"})
    try:
        banner = printed_until(process, "Press Ctrl-C to stop.")
        url = re.search(r"listening on (\S+)", banner).group(1)
        assert "Plain-http links are refused" in banner
        assert "State is kept in memory only" in banner
        assert put_link(url, "o-1", "http://localhost:8000/o/1").status_code == 400
        assert put_link(url, "o-2", "https://shop.example/o/2", "never-sent").status_code == 404
    finally:
        errors = stop(process)
    assert "'DEVELOPMENT_LINK_HOSTS'] is 'localhost', not a list of host names" in errors
    assert list(tmp_path.iterdir()) == []


def test_the_options_say_what_they_accept() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, default_state_file="fake.json")
    assert parser.parse_args([]).unknown_image_status == 404
    assert parser.parse_args([]).state_file == "fake.json"
    parsed = parser.parse_args(["--unknown-image-status", "accept", "--no-state-file"])
    assert (parsed.unknown_image_status, parsed.state_file) == (None, None)
    assert parser.parse_args(["--unknown-image-status", "400"]).unknown_image_status == 400
    for wrong in (["--unknown-image-status", "403"], ["--state-file", "x", "--no-state-file"]):
        with pytest.raises(SystemExit):
            parser.parse_args(wrong)
    assert parser.parse_args(["--port", "0"]).port == 0  # a free one
    assert parser.parse_args(["--token-lifetime", "1"]).token_lifetime == 1


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--port", "99999", "a port from 0 to 65535"),
        ("--port", "-1", "a port from 0 to 65535"),
        ("--port", "http", "a port from 0 to 65535"),
        ("--token-lifetime", "-5", "seconds from 1 to"),
        ("--token-lifetime", "0", "seconds from 1 to"),
    ],
)
def test_an_option_no_fake_could_use_is_refused_naming_it(capsys, option, value, says) -> None:
    """Never the traceback of bind() (99999 used to end in OverflowError)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([option, value])
    error = capsys.readouterr().err
    assert f"argument {option}: {says}" in error


def test_the_command_ignores_development_hosts_without_debug(tmp_path: Path) -> None:
    process = manage(
        tmp_path,
        "--no-state-file",
        overrides={"DEVELOPMENT_LINK_HOSTS": ["localhost"]},
        debug=False,
    )
    try:
        banner = printed_until(process, "Press Ctrl-C to stop.")
        url = re.search(r"listening on (\S+)", banner).group(1)
        assert "Plain-http links are refused" in banner
        assert put_link(url, "o-1", "http://localhost:8000/o/1").status_code == 400
    finally:
        errors = stop(process)
    assert "is set while DEBUG is False" in errors
    assert "It is ignored." in errors
