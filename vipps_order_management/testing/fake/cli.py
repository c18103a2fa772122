"""Running the fake by hand: ``python -m vipps_order_management.testing.fake_server``.

The options are shared with ``manage.py vipps_om_fake_server``. The banner is valid shell: the
settings as ``export VIPPS_ORDER_MANAGEMENT_...=...`` lines (the environment variables the app
reads), everything else as ``#`` comments, so it can be pasted into a shell or captured to a
file and sourced.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .inspection import STATE_PATH
from .server import FakeVippsServer
from .state import FakeMerchant

__all__ = ["add_arguments", "environment", "main", "serve_until_stopped", "server_from_options"]


def _unknown_image_status(text: str) -> int | None:
    """``--unknown-image-status``: ``404`` or ``400``, or ``accept`` (``None``)."""
    if text == "accept":
        return None
    if text in ("404", "400"):
        return int(text)
    raise argparse.ArgumentTypeError(f"choose 404, 400 or accept, not {text!r}")


def _whole_number(low: int, high: int, what: str) -> Any:
    """An argparse type: a whole number from ``low`` to ``high``, or a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} from {low} to {high}, not {text!r}")
        return value

    return parse


def add_arguments(
    parser: argparse.ArgumentParser, *, default_state_file: str | None = None
) -> None:
    """The options of the fake's command line, shared with ``manage.py vipps_om_fake_server``
    (which keeps its state in ``default_state_file`` unless told otherwise)."""
    _add_server_arguments(parser)
    _add_behaviour_arguments(parser)
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--state-file",
        default=default_state_file,
        metavar="PATH",
        help="keep receipts, categories and images in this JSON file across restarts"
        + (f" (default {default_state_file})" if default_state_file else ""),
    )
    state.add_argument(
        "--no-state-file",
        dest="state_file",
        action="store_const",
        const=None,
        help="keep state in memory only: it is gone when the fake stops",
    )


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where it listens, and the one merchant it knows."""
    default = FakeMerchant()
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=_whole_number(0, 65535, "a port"),
        default=8765,
        help="port (0 picks a free one; default 8765)",
    )
    parser.add_argument("--client-id", default=default.client_id, help="client_id to accept")
    parser.add_argument(
        "--client-secret", default=default.client_secret, help="client_secret to accept"
    )
    parser.add_argument(
        "--subscription-key",
        default=default.subscription_key,
        help="Ocp-Apim-Subscription-Key to accept",
    )
    parser.add_argument(
        "--msn", default=default.merchant_serial_number, help="merchant serial number (4-7 digits)"
    )
    parser.add_argument(
        "--token-lifetime",
        type=_whole_number(1, 366 * 86400, "seconds"),
        default=3600,
        help="access token lifetime, seconds",
    )


def _add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    """Which of Vipps's answers it imitates, and what it allows for development."""
    parser.add_argument(
        "--duplicate-image-status",
        type=int,
        choices=(400, 409),
        default=409,
        help="answer to an image uploaded twice: 409 (default, as today) or 400 (as in 2022)",
    )
    parser.add_argument(
        "--success-body",
        choices=("text", "json"),
        default="text",
        help="ids as text/plain (default, as Vipps answers) or as a JSON string (the spec)",
    )
    parser.add_argument(
        "--problem-details-key",
        choices=("invalidParams", "extraDetails"),
        default="invalidParams",
        help="the key of the field list in error bodies",
    )
    parser.add_argument(
        "--unknown-image-status",
        type=_unknown_image_status,
        default=404,
        metavar="{404,400,accept}",
        help="answer to a category naming an image never uploaded for its merchant: 404 "
        "(default, as the spec lists), 400, or accept it",
    )
    parser.add_argument(
        "--allow-http-link-host",
        action="append",
        default=[],
        metavar="HOST",
        help="accept plain-http links to HOST (development only; Vipps opens https links only)",
    )


def server_from_options(options: Mapping[str, Any]) -> FakeVippsServer:
    """A (not yet started) server configured by the options of :func:`add_arguments`."""
    merchant = FakeMerchant(
        options["client_id"], options["client_secret"], options["subscription_key"], options["msn"]
    )
    return FakeVippsServer(
        host=options["host"],
        port=options["port"],
        merchants=[merchant],
        token_lifetime=options["token_lifetime"],
        duplicate_image_status=options["duplicate_image_status"],
        success_body=options["success_body"],
        problem_details_key=options["problem_details_key"],
        http_link_hosts=options.get("allow_http_link_host") or (),
        unknown_image_status=options.get("unknown_image_status", 404),
        state_file=options.get("state_file"),
    )


def environment(server: FakeVippsServer) -> dict[str, str]:
    """The environment variables that point the app at ``server`` (its default merchant).

    The names are the app's (``conf.ENVIRONMENT_PREFIX`` + setting); ``conf`` is not imported
    because it needs Django, which the fake does not.
    """
    credentials = server.credentials
    return {
        "VIPPS_ORDER_MANAGEMENT_BASE_URL": server.url,
        "VIPPS_ORDER_MANAGEMENT_CLIENT_ID": credentials["client_id"],
        "VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET": credentials["client_secret"],
        "VIPPS_ORDER_MANAGEMENT_SUBSCRIPTION_KEY": credentials["subscription_key"],
        "VIPPS_ORDER_MANAGEMENT_MERCHANT_SERIAL_NUMBER": credentials["merchant_serial_number"],
    }


def _banner(server: FakeVippsServer) -> str:
    exports = [f"export {name}={shlex.quote(value)}" for name, value in environment(server).items()]
    hosts = ", ".join(sorted(server.http_link_hosts))
    return "\n".join(
        [
            f"# Fake Vipps API listening on {server.url}",
            *exports,
            f"# App preview of what was sent: {server.url}/preview/",
            f"# ePayment payments and their landing pages: {server.url}/payments/",
            f"# What it holds, as JSON: {server.url}{STATE_PATH}",
            f"# Plain-http links allowed to: {hosts}"
            if hosts
            else "# Plain-http links refused, as by Vipps (--allow-http-link-host HOST allows them)",
            f"# State kept across restarts in {shlex.quote(str(server.state_file))}"
            if server.state_file
            else "# State kept in memory only (--state-file PATH keeps it across restarts)",
            "# Press Ctrl+C to stop.",
        ]
    )


def serve_until_stopped(server: FakeVippsServer, announce: Callable[[], None]) -> None:
    """Start ``server``, call ``announce``, and serve until SIGINT or SIGTERM; then stop it."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        announce()
        while not stopping.wait(0.2):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake until SIGINT or SIGTERM; print the URL and settings, log one line per request."""
    parser = argparse.ArgumentParser(
        prog="python -m vipps_order_management.testing.fake_server",
        description="Serve a fake Vipps MobilePay Order Management API for local development.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    try:
        server = server_from_options(vars(args))
        serve_until_stopped(server, lambda: print(_banner(server), flush=True))
    except (ValueError, OSError) as error:  # bad options, a bad state file, a port in use
        parser.exit(1, f"{parser.prog}: cannot start the fake Vipps: {error}\n")
    print("Fake Vipps API stopped.", file=sys.stderr, flush=True)
    return 0
