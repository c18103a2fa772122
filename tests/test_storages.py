"""Product images in S3 through django-storages, against moto's standalone S3 server.

Images are only ever read through a configured storage (``STORAGES``): here django-storages'
``S3Storage``, talking real HTTP to moto on 127.0.0.1 with dummy credentials (the way
django-storages tests its own backend). Two buckets: the shop's media (``default``, where
``Product.image`` lives) and the app's ``IMAGE_STORAGE`` alias ``vipps_images``.

Needs the ``tests`` extra (moto[server], boto3, django-storages[s3]); without it the module
skips with that reason locally and fails under ``CI=true``.
"""

from __future__ import annotations

import io
import math
import socket
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from PIL import Image

from tests.shop.models import Order, Product
from vipps_order_management import services
from vipps_order_management.adapters import ImageSource
from vipps_order_management.admin.orders import OrderImageInline
from vipps_order_management.exceptions import ImageValidationError
from vipps_order_management.images import MAX_BYTES, MIN_HEIGHT, prepare_image
from vipps_order_management.models import OrderImage, OutboxItem, SyncAttempt, VippsOrder
from vipps_order_management.storage import read_stored_image
from vipps_order_management.templatetags.vipps_order_management import order_image
from vipps_order_management.testing import drain_until_idle

from .conftest import missing_service, png_bytes

pytestmark = pytest.mark.django_db

S3_BACKEND = "storages.backends.s3.S3Storage"
IMAGE_ALIAS = "vipps_images"


@pytest.fixture(scope="module")
def moto_s3():
    """moto's S3 server on a free port of 127.0.0.1 for this module; stopped at its end."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
        import storages.backends.s3  # noqa: F401
    except ImportError as exc:
        missing_service(
            f"the S3 storage tests need moto[server], boto3 and django-storages[s3] "
            f"({exc.name} is not installed); pip install -e '.[tests]' installs them"
        )
    from tests.s3 import moto_s3_server

    with moto_s3_server() as server:
        yield server


@dataclass
class S3:
    moto: Any  # tests.s3.MotoS3
    client: Any  # a boto3 S3 client
    media: str  # the bucket of STORAGES["default"]: the shop's product photos
    images: str  # the bucket of STORAGES["vipps_images"], the IMAGE_STORAGE alias

    def requests_for(self, bucket: str, key: str) -> list[str]:
        return self.moto.requests_for(bucket, key)


@pytest.fixture
def s3(moto_s3, settings, tmp_path):
    """Fresh buckets, ``STORAGES`` pointing at them and ``IMAGE_STORAGE = "vipps_images"``."""
    suffix = uuid.uuid4().hex[:12]
    media, images = f"shop-media-{suffix}", f"vipps-images-{suffix}"
    client = moto_s3.client()
    for bucket in (media, images):
        client.create_bucket(Bucket=bucket)
    settings.MEDIA_ROOT = str(tmp_path / "media")  # whatever still uses the file system
    settings.STORAGES = {
        **settings.STORAGES,
        # Public product photos: plain bucket URLs.
        "default": {
            "BACKEND": S3_BACKEND,
            "OPTIONS": moto_s3.storage_options(media, querystring_auth=False),
        },
        # The app's images: signed URLs, as for a private bucket.
        IMAGE_ALIAS: {"BACKEND": S3_BACKEND, "OPTIONS": moto_s3.storage_options(images)},
    }
    settings.VIPPS_ORDER_MANAGEMENT = {
        **settings.VIPPS_ORDER_MANAGEMENT,
        "IMAGE_STORAGE": IMAGE_ALIAS,
    }
    moto_s3.clear()
    return S3(moto=moto_s3, client=client, media=media, images=images)


def scarf(*, image: bytes | None = None, key: str = "products/scarf.png") -> Product:
    """A product whose photo is in the media bucket, or only named there (``image=None``)."""
    product = Product(name="Wool scarf", sku=f"SCARF-{uuid.uuid4().hex[:8]}", price=Decimal(349))
    if image is None:
        product.image.name = key  # the database names a key the bucket does not have
    else:
        product.image.save(key.removeprefix("products/"), ContentFile(image), save=False)
        assert product.image.name == key
    product.save()
    return product


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 x side x side bytes."""
    buffer = io.BytesIO()
    Image.effect_noise((side, side), 80).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- end to end


def test_a_product_photo_in_the_bucket_is_read_prepared_and_uploaded_once(s3, vipps, make_order):
    source = png_bytes(size=(600, 300), colour=(30, 120, 60))  # not square
    product = scarf(image=source)
    stored = s3.client.get_object(Bucket=s3.media, Key="products/scarf.png")
    assert stored["Body"].read() == source
    s3.moto.clear()

    order = make_order(items=[(product, 1, None)])
    result = drain_until_idle()

    assert result.dead == 0
    [(image_id, data)] = vipps.images().items()
    assert vipps.category(order.vipps_reference)["imageId"] == image_id
    assert len(vipps.requests_for("POST", "/v1/images")) == 1
    prepared = Image.open(io.BytesIO(data))
    assert prepared.width == prepared.height >= MIN_HEIGHT
    assert len(data) <= MAX_BYTES
    assert image_id == prepare_image(source).image_id  # these very bytes, from the bucket
    assert "GET" in s3.requests_for(s3.media, "products/scarf.png")

    # Another order of the same scarf: Vipps has the picture, nothing is uploaded again.
    second = make_order(items=[(product, 2, None)])
    drain_until_idle()
    assert vipps.category(second.vipps_reference)["imageId"] == image_id
    assert len(vipps.requests_for("POST", "/v1/images")) == 1
    assert len(vipps.images()) == 1


def test_a_key_missing_from_the_bucket_sends_the_link_without_an_image(s3, vipps, make_order):
    product = scarf(image=None)
    order = make_order(items=[(product, 1, None)])

    result = drain_until_idle()

    assert result.dead == 0
    category = vipps.category(order.vipps_reference)
    assert category["orderDetailsUrl"].endswith(order.number)
    assert category.get("imageId") is None
    assert vipps.images() == {}
    assert vipps.receipt(order.vipps_reference) is not None
    state = VippsOrder.objects.for_order(order).get()
    assert state.links_state == VippsOrder.LinkState.SENT
    assert "Image left out" in state.links_error
    assert "not found in storage" in state.links_error
    attempt = SyncAttempt.objects.for_order(order).get(endpoint="image preparation")
    assert attempt.outcome == SyncAttempt.Outcome.PERMANENT
    assert {row.status for row in OutboxItem.objects.for_order(order)} == {OutboxItem.Status.DONE}
    # Asked for its size, found nothing, never tried to download it.
    methods = s3.requests_for(s3.media, "products/scarf.png")
    assert methods
    assert "GET" not in methods


def test_an_order_image_row_in_image_storage_is_read_from_its_bucket(s3, vipps, make_order):
    plain = Product.objects.create(name="Gift card", sku="GIFT-1", price=Decimal(500))
    order = make_order(items=[(plain, 1, None)])
    source = png_bytes(size=(300, 500), colour=(200, 180, 20))
    row = OrderImage(order=order, description="Gift wrapping")
    row.image.save("gift.png", ContentFile(source), save=True)
    assert s3.client.get_object(Bucket=s3.images, Key=row.image.name)["Body"].read() == source
    s3.moto.clear()

    drain_until_idle()

    [(image_id, data)] = vipps.images().items()
    assert image_id == prepare_image(source).image_id
    assert vipps.category(order.vipps_reference)["imageId"] == image_id
    assert "GET" in s3.requests_for(s3.images, row.image.name)
    assert Image.open(io.BytesIO(data)).size == (500, 500)

    # The admin's preview and the customer's page show the (signed) bucket URL.
    bucket_url = f"{s3.moto.endpoint_url}/{s3.images}/{row.image.name}"
    thumbnail = OrderImageInline(Order, admin.site).thumbnail(row)
    assert f'src="{bucket_url}?' in thumbnail
    displayed = urlsplit(order_image(order).url)
    assert f"{displayed.scheme}://{displayed.netloc}{displayed.path}" == bucket_url
    assert "Signature=" in displayed.query


def test_order_image_rows_follow_a_changed_image_storage(s3, make_order):
    order = make_order()
    row = OrderImage(order=order)
    row.image.save("moved.png", ContentFile(png_bytes()), save=True)
    listed = s3.client.list_objects_v2(Bucket=s3.images).get("Contents", [])
    assert [entry["Key"] for entry in listed] == [row.image.name]


# --------------------------------------------------------------------------- reading


def test_image_source_from_storage_reads_the_alias_bucket(s3):
    data = png_bytes()
    s3.client.put_object(Bucket=s3.images, Key="vipps/socks.png", Body=data)

    assert ImageSource.from_storage("vipps/socks.png", IMAGE_ALIAS).read() == data
    assert ImageSource.from_storage("vipps/socks.png").read() == data  # IMAGE_STORAGE
    assert read_stored_image("vipps/socks.png", IMAGE_ALIAS) == data
    with pytest.raises(ImageValidationError, match="not found in storage") as missing:
        ImageSource.from_storage("vipps/gone.png").read()
    assert missing.value.source == "vipps/gone.png"
    # The alias decides the bucket: the shop's media bucket has no such key.
    with pytest.raises(ImageValidationError, match="not found in storage"):
        ImageSource.from_storage("vipps/socks.png", "default").read()


def test_a_file_over_the_limit_is_refused_from_its_size_before_it_is_downloaded(s3):
    data = noise_png(128)  # about 48 KB
    limit = 16 * 1024
    assert len(data) > limit
    s3.client.put_object(Bucket=s3.images, Key="vipps/huge.png", Body=data)
    s3.moto.clear()

    with pytest.raises(ImageValidationError) as refused:
        read_stored_image("vipps/huge.png", IMAGE_ALIAS, max_bytes=limit)

    # The exact size in the reason: it came from S3Storage.size (a HEAD), not from a read.
    assert f"{math.ceil(len(data) / 1024)} KB, over the 16 KB limit" in refused.value.reason
    assert refused.value.source == "vipps/huge.png"
    assert s3.requests_for(s3.images, "vipps/huge.png") == ["HEAD"]

    assert read_stored_image("vipps/huge.png", IMAGE_ALIAS, max_bytes=len(data)) == data
    assert "GET" in s3.requests_for(s3.images, "vipps/huge.png")


# --------------------------------------------------------------------------- URLs


def test_a_product_photo_shows_with_its_bucket_url(s3, make_order):
    product = scarf(image=png_bytes())
    bucket_url = f"{s3.moto.endpoint_url}/{s3.media}/products/scarf.png"

    assert storages["default"].url("products/scarf.png") == bucket_url
    assert ImageSource.from_field(product.image).url == bucket_url
    order = make_order(items=[(product, 1, None)])
    s3.moto.clear()
    assert order_image(order).url == bucket_url
    assert s3.moto.requests == []  # making a URL reads nothing from the bucket


# --------------------------------------------------------------------------- outages


def test_an_unreachable_bucket_is_retried_later_not_given_up(s3, vipps, make_order, settings):
    from botocore.config import Config

    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = s3.moto.storage_options(
        s3.media,
        endpoint_url=f"http://127.0.0.1:{port}",
        client_config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": options},
    }
    settings.VIPPS_ORDER_MANAGEMENT = {  # a real backoff, or one drain would spin on the row
        **settings.VIPPS_ORDER_MANAGEMENT,
        "RETRY": {"BASE_SECONDS": 60, "CAP_SECONDS": 60, "JITTER": 0},
    }
    order = make_order(items=[(scarf(image=None), 1, None)])

    services.drain(worker_id="test-s3")

    links = OutboxItem.objects.for_order(order).get(kind="links")
    assert links.status == OutboxItem.Status.PENDING, (links.status, links.last_error)
    assert links.next_attempt_at > timezone.now()
    assert vipps.category(order.vipps_reference) is None
