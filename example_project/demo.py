"""`make demo`: the fake Vipps plus a scripted sync of sample orders, printing what Vipps received.

    python -m example_project.demo [--port 8765] [--exit]

Runs without a database: it drives the real client, payloads and image pipeline against the
embedded fake Vipps server, the same way the shop's worker does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import threading
from decimal import Decimal

from PIL import Image, ImageDraw

from vipps_order_management.client import OrderManagementClient
from vipps_order_management.exceptions import ReceiptValidationError
from vipps_order_management.images import make_collage, prepare_image
from vipps_order_management.payloads import BottomLine, Category, OrderLine, PaymentSources, Receipt
from vipps_order_management.testing import FakeVippsServer


def product_photo(colour: tuple[int, int, int], label: str) -> bytes:
    image = Image.new("RGB", (640, 480), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.ellipse((170, 90, 470, 390), fill=colour)
    draw.text((20, 20), label, fill=(40, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


SAMPLE_ORDERS = [
    {
        "reference": "demo-order-1001",
        "currency": "NOK",
        "category": Category("ORDER_CONFIRMATION", "https://shop.example/orders/1001"),
        "photos": [product_photo((200, 40, 40), "Wool socks")],
        "lines": [
            {
                "name": "Wool socks",
                "id": "SOCK-1",
                "unit_price": Decimal("129.00"),
                "quantity": 3,
                "vat_rate": Decimal(25),
            },
            {
                "name": "Shipping",
                "id": "shipping",
                "unit_price": Decimal("49.00"),
                "quantity": 1,
                "vat_rate": Decimal(25),
                "is_shipping": True,
            },
        ],
    },
    {
        "reference": "demo-order-1002",
        "currency": "EUR",
        "category": Category("DELIVERY", "https://tracking.example/1002"),
        "photos": [
            product_photo((30, 90, 200), "Rain jacket"),
            product_photo((40, 160, 60), "Cap"),
        ],
        "lines": [
            {
                "name": "Rain jacket",
                "id": "JACKET-2",
                "unit_price": Decimal("129.90"),
                "quantity": 1,
                "vat_rate": Decimal("25.5"),
                "discount": Decimal("13.00"),
            },
            {
                "name": "Cap",
                "id": "CAP-3",
                "unit_price": Decimal("19.90"),
                "quantity": 2,
                "vat_rate": Decimal("25.5"),
            },
            {
                "name": "Returned scarf",
                "id": "SCARF-4",
                "unit_price": Decimal("24.90"),
                "quantity": 1,
                "vat_rate": Decimal("25.5"),
                "is_return": True,
            },
        ],
    },
    {
        "reference": "demo-order-1003",
        "currency": "NOK",
        "category": Category("RECEIPT", "https://shop.example/receipts/1003"),
        "photos": [product_photo((230, 180, 20), "Cheese")],
        "lines": [
            {
                "name": "Cheese",
                "id": "CHEESE-5",
                "unit_price": Decimal("189.00"),
                "quantity": Decimal("0.822"),
                "quantity_unit": "KG",
                "vat_rate": Decimal(15),
            },
        ],
    },
]


def sync(client: OrderManagementClient, order: dict) -> None:
    photos = order["photos"]
    image = prepare_image(photos[0]) if len(photos) == 1 else make_collage(photos)
    client.upload_image(image.image_id, image.data)
    category = order["category"]
    category.image_id = image.image_id
    client.put_category("ECOM", order["reference"], category)
    lines = [OrderLine.from_gross(currency=order["currency"], **line) for line in order["lines"]]
    receipt = Receipt(
        lines, BottomLine(order["currency"], receipt_number=order["reference"].rsplit("-", 1)[1])
    )
    receipt.bottom_line.payment_sources = PaymentSources(card=receipt.total_amount)
    client.post_receipt("ECOM", order["reference"], receipt)


def show(fake: FakeVippsServer, reference: str) -> None:
    receipt = fake.receipt(reference)
    category = fake.category(reference)
    print(f"\n== {reference}")
    print(f"   link : {category['category']} -> {category['orderDetailsUrl']}")
    image = fake.images()[category["imageId"]]
    print(f"   image: {category['imageId'][:16]}... ({len(image)} bytes)")
    currency = receipt["bottomLine"]["currency"]
    for line in receipt["orderLines"]:
        sign = "-" if line.get("isReturn") else " "
        flags = (
            " (shipping)"
            if line.get("isShipping")
            else " (returned)"
            if line.get("isReturn")
            else ""
        )
        print(
            f"   {sign}{line['totalAmount'] / 100:>9.2f} {currency}  VAT {line['taxRate'] / 100:g} % "
            f"= {line['totalTaxAmount'] / 100:.2f}  {line['name']}{flags}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=8765, help="port of the fake Vipps (0: any free port)"
    )
    parser.add_argument(
        "--exit", action="store_true", help="exit after the sync instead of serving"
    )
    args = parser.parse_args()

    with FakeVippsServer(port=args.port) as fake:
        print(f"Fake Vipps listening on {fake.url}")
        print("Credentials:", json.dumps(fake.credentials))
        with OrderManagementClient(
            base_url=fake.url, system_name="demo", **fake.credentials
        ) as client:
            for order in SAMPLE_ORDERS:
                sync(client, order)
            for order in SAMPLE_ORDERS:
                show(fake, order["reference"])

            bad = OrderLine.from_gross(
                name="Socks", id="SOCK-1", unit_price=Decimal(10), quantity=1, vat_rate=Decimal(25)
            )
            bad.total_tax_amount += 1
            try:
                client.post_receipt("ECOM", "demo-order-1004", Receipt([bad], BottomLine("NOK")))
            except ReceiptValidationError as exc:
                print(f"\n== demo-order-1004 was refused before sending:\n   {exc}")
        sent = [r for r in fake.requests if "/order-management/" in r.path]
        print(
            f"\nVipps received {len(sent)} calls: {len(fake.images())} images, 3 links, 3 receipts."
        )
        if args.exit:
            return
        print(f"The fake keeps serving on {fake.url}; press Ctrl-C to stop.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        print("\nStopped.")


if __name__ == "__main__":
    main()
