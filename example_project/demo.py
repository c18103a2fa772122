"""``make demo``: the example shop, the embedded fake Vipps and the worker, together.

    python -m example_project.demo [--port 8000] [--fake-port 8765] [--reset]

Sets up the database, seeds demo data, starts the fake Vipps (in this process), the worker and
the shop (``runserver``), prints where everything is, and stops all of it on Ctrl-C.
``--smoke`` starts everything, waits until the demo orders have reached the fake Vipps, checks
that the pages answer, and exits: that is what the test suite runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from vipps_order_management.testing import FakeMerchant, FakeVippsServer

ROOT = Path(__file__).resolve().parents[1]
MANAGE = [sys.executable, str(ROOT / "example_project" / "manage.py")]
DEMO_ORDERS = 3  # what seed_demo creates: delivered, shipped, paid
DENMARK_MSN = "654321"  # the Danish storefront's sales unit, with keys of its own at the fake


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers do: a port a previous run just closed (TIME_WAIT) is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"Gave up waiting for {what} after {timeout:.0f} s.")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback
            return response.status < 500
    except OSError:
        return False


class Demo:
    def __init__(self, *, port: int, fake_port: int, data_dir: Path) -> None:
        self.port = port
        self.site = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir
        # Two sales units, each with its own keys: the Norwegian storefront's and the Danish one's.
        self.fake = FakeVippsServer(
            port=fake_port,
            merchants=[
                FakeMerchant(name="Strikk og Sokk AS"),
                replace(FakeMerchant.generate(msn=DENMARK_MSN), name="Strikk og Sokk Danmark ApS"),
            ],
            http_link_hosts={"127.0.0.1", "localhost"},
        )
        self.children: list[subprocess.Popen] = []

    @property
    def denmark(self) -> FakeMerchant:
        return self.fake.merchants[1]

    def environment(self) -> dict[str, str]:
        credentials = self.fake.credentials
        danish = f"VIPPS_ORDER_MANAGEMENT_SALES_UNIT_{DENMARK_MSN}_"
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "PYTHONPATH": str(ROOT),
            "VIPPS_DEMO_DATA_DIR": str(self.data_dir),
            "VIPPS_DEMO_SITE_URL": self.site,
            "VIPPS_DEMO_FAKE_URL": self.fake.url,
            "VIPPS_ORDER_MANAGEMENT_CLIENT_ID": credentials["client_id"],
            "VIPPS_ORDER_MANAGEMENT_CLIENT_SECRET": credentials["client_secret"],
            "VIPPS_ORDER_MANAGEMENT_SUBSCRIPTION_KEY": credentials["subscription_key"],
            "VIPPS_ORDER_MANAGEMENT_MERCHANT_SERIAL_NUMBER": credentials["merchant_serial_number"],
            "VIPPS_DEMO_DENMARK_MSN": DENMARK_MSN,
            danish + "CLIENT_ID": self.denmark.client_id,
            danish + "CLIENT_SECRET": self.denmark.client_secret,
            danish + "SUBSCRIPTION_KEY": self.denmark.subscription_key,
        }

    def manage(self, *args: str) -> None:
        subprocess.run([*MANAGE, *args], env=self.environment(), cwd=ROOT, check=True)

    def spawn(self, *args: str) -> subprocess.Popen:
        child = subprocess.Popen([*MANAGE, *args], env=self.environment(), cwd=ROOT)
        self.children.append(child)
        return child

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.fake.start()
        print(f"== Fake Vipps on {self.fake.url}", flush=True)
        print("== Preparing the database and demo data", flush=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo", "--fresh-vipps")
        print("== Starting the worker and the shop", flush=True)
        self.spawn("vipps_om_worker", "--poll-interval", "1", "--worker-id", "demo-worker")
        self.spawn("runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks")
        wait_until(lambda: answers(self.site + "/"), 60, "the shop to answer")

    def banner(self) -> None:
        print(
            f"""
  The example shop is running.

    Shop .............. {self.site}/no/   (Norwegian storefront, NOK, MSN {self.fake.merchant.msn})
    Danish shop ....... {self.site}/dk/   (Danish storefront, DKK, MSN {DENMARK_MSN})
    My orders ......... {self.site}/my-orders/        (customer / customer)
    Admin ............. {self.site}/admin/            (admin / admin)
    Vipps payments .... {self.fake.url}/payments/     (each payment's landing page)
    Vipps app preview . {self.fake.url}/preview/
    API schema ........ {self.site}/vipps/api/v1/schema/   (logged in)

  Place an order and pay with Vipps: the checkout creates an ePayment payment at the fake
  Vipps with the receipt inside and sends you to its landing page, where you approve (or
  reject) the payment; back in the shop the payment is captured. Then watch the order's links
  and image arrive in the Vipps app preview; its receipt came with the payment. In the admin,
  mark it shipped, then delivered: the link moves from order confirmation to delivery to
  receipt.

  Press Ctrl-C to stop.
""",
            flush=True,
        )

    def report_received(self, stopping: threading.Event, timeout: float = 20) -> None:
        """Print what the fake Vipps received for the demo orders, once the worker sent them."""
        deadline = time.monotonic() + timeout
        while not self.synced() and time.monotonic() < deadline and not stopping.wait(0.2):
            pass
        print("  What Vipps received for the demo orders:")
        for msn, kind, reference in self.fake._preview_keys():
            receipt = self.fake.receipt(reference, kind, msn) or {}
            category = self.fake.category(reference, kind, msn) or {}
            lines = receipt.get("orderLines") or []
            total = sum(
                -line["totalAmount"] if line.get("isReturn") else line["totalAmount"]
                for line in lines
            )
            image = "with image" if category.get("imageId") else "no image"
            print(
                f"    {reference:<24} {category.get('category', '-'):<19} {len(lines)} lines, "
                f"{total / 100:.2f} {receipt.get('bottomLine', {}).get('currency', '')}, {image}"
            )
            print(f"      {self.fake.preview_url(reference, kind, msn)}")
        print(flush=True)

    def synced(self) -> bool:
        receipts = [r for r in self.fake.requests_for("POST", "/receipts/") if r.status == 201]
        links = [r for r in self.fake.requests_for("PUT", "/categories/") if r.status == 200]
        return (
            len(receipts) >= DEMO_ORDERS and len(links) >= DEMO_ORDERS and bool(self.fake.images())
        )

    def smoke(self) -> None:
        wait_until(self.synced, 60, "the demo orders to reach the fake Vipps")
        for url in (
            self.site + "/",
            self.site + "/accounts/login/",
            self.site + "/admin/login/",
            self.fake.url + "/preview/",
            self.fake.url + "/payments/",
        ):
            if not answers(url):
                raise SystemExit(f"{url} does not answer")
        for key in self.fake._preview_keys():
            url = self.fake.preview_url(key[2], key[1], key[0])
            if not answers(url):
                raise SystemExit(f"{url} does not answer")
        print(
            f"Smoke test passed: {DEMO_ORDERS} demo orders reached the fake Vipps with "
            f"receipt, link and image; the shop, the admin, the preview and the payments answer.",
            flush=True,
        )

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.fake.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--fake-port", type=int, default=None, help="default: 8765, or free")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("VIPPS_DEMO_DATA_DIR", ROOT / "example_project" / ".demo")),
    )
    parser.add_argument("--reset", action="store_true", help="start from an empty database")
    parser.add_argument("--smoke", action="store_true", help="start, check, stop (for tests)")
    args = parser.parse_args(argv)

    if not port_is_free(args.port):
        raise SystemExit(f"Port {args.port} is in use; run with PORT=8001 (make demo PORT=8001).")
    fake_port = args.fake_port
    if fake_port is None:
        fake_port = 8765 if port_is_free(8765) and args.port != 8765 else 0
    if args.reset and args.data_dir.exists():
        shutil.rmtree(args.data_dir)

    demo = Demo(port=args.port, fake_port=fake_port, data_dir=args.data_dir)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        demo.start()
        if args.smoke:
            demo.smoke()
            return 0
        demo.banner()
        demo.report_received(stopping)
        while not stopping.wait(0.5):
            for child in demo.children:
                if child.poll() is not None:
                    print(f"A demo process exited ({child.args[2]}); stopping.", flush=True)
                    return 1
        return 0
    finally:
        print("== Stopping the shop, the worker and the fake Vipps", flush=True)
        demo.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
