"""Signed tokens that open one order's customer pages, and the URLs they go in.

The pages open from the Vipps app in the phone's browser, without a login, so the link itself is
the credential. A token is ``django.core.signing`` output: a readable (not encrypted) payload
``[model label, order pk, fingerprint]``, a timestamp and an HMAC-SHA256 signature keyed by
``SECRET_KEY`` and salted with :data:`SALT`. The fingerprint is a keyed hash of the order's
random :class:`~.models.PublicLinkKey` and of the adapter's ``get_public_link_secret``. So a
token

* cannot be guessed or enumerated: changing one character of it, or putting another order's id
  in it, breaks the signature;
* stops opening anything once its order is deleted, even if another order later gets the same
  primary key: that order has a key of its own;
* dies with the adapter's secret for the order, when the shop changes it;
* expires after ``PUBLIC_LINK_MAX_AGE`` (``None``: never);
* means nothing anywhere else: the salt is this app's alone, so no other value the project
  signs (sessions, password reset tokens...) can be replayed as an order link, and back.

The timestamp is the start of the current UTC day rather than the current second: a token for an
order is then the same all day, so the links sent to Vipps do not change (and are not sent
again) on every save of the order. A link lives ``PUBLIC_LINK_MAX_AGE`` plus at most one day.

This module knows no adapter: :mod:`.public_links` is the shop-facing side that finds the
adapter and its order, and the adapter's default links use this module directly.
"""

from __future__ import annotations

import binascii
import time
import zlib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from .conf import SETTINGS_NAME, app_settings
from .exceptions import VippsConfigurationError
from .order_rows import attached_rows

__all__ = ["PAGES", "SALT", "make_token", "matches", "read_token", "site_url", "url_for_token"]

#: Namespaces this app's signatures; never reused for anything else.
SALT = "vipps_order_management.public_links"
_FINGERPRINT_SALT = f"{SALT}.order_key"
_DAY = 86_400
#: The customer pages a token opens, by the name :func:`url_for_token` takes.
PAGES = {
    "order_status": "vipps_order_management:order_status",
    "order_receipt": "vipps_order_management:order_receipt",
}


class _DailySigner(signing.TimestampSigner):
    """A ``TimestampSigner`` whose timestamp is the start of the UTC day (see the module doc)."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) // _DAY * _DAY)


def _signer() -> _DailySigner:
    extra = app_settings.PUBLIC_LINK_SALT
    return _DailySigner(salt=f"{SALT}:{extra}" if extra else SALT)


def _max_age() -> float | None:
    value = app_settings.PUBLIC_LINK_MAX_AGE
    return None if value is None else value.total_seconds()


def _fingerprint(label: str, object_id: str, key: str, secret: str, signing_key: Any = None) -> str:
    """72 bits of a keyed hash of the order's key and secret: enough to tell keys apart, short
    enough to keep links compact (the token's own signature is what stops forgery)."""
    value = f"{label}:{object_id}:{key}:{secret}"
    digest = salted_hmac(_FINGERPRINT_SALT, value, secret=signing_key, algorithm="sha256")
    return signing.b64_encode(digest.digest()[:9]).decode()


def make_token(order: models.Model, secret: str = "") -> str:
    """The signed token that opens ``order``'s customer pages (its link key made if need be).

    ``secret`` is the adapter's ``get_public_link_secret(order)``. Raises ``ValueError`` for an
    unsaved order.
    """
    if order.pk is None:
        raise ValueError("save the order before making links to it")
    label = order._meta.label_lower
    object_id = str(order.pk)
    key = attached_rows(order).link_key
    return _signer().sign_object([label, object_id, _fingerprint(label, object_id, key, secret)])


def read_token(token: str) -> tuple[str, str, str] | None:
    """``(model label, order pk, fingerprint)`` of a valid, unexpired token; else ``None``."""
    try:
        payload = _signer().unsign_object(str(token), max_age=_max_age())
    except (signing.BadSignature, ValueError, TypeError, binascii.Error, zlib.error, UnicodeError):
        return None
    if not (
        isinstance(payload, list)
        and len(payload) == 3
        and all(isinstance(part, str) for part in payload)
    ):
        return None
    label, object_id, fingerprint = payload
    return label, object_id, fingerprint


def matches(fingerprint: str, order: models.Model, key: str, secret: str) -> bool:
    """Whether a token's fingerprint was made for this order, its key and its secret.

    Every key of ``SECRET_KEY_FALLBACKS`` counts too, so links survive a key rotation.
    """
    if not key:
        return False
    label, object_id = order._meta.label_lower, str(order.pk)
    return any(
        constant_time_compare(fingerprint, _fingerprint(label, object_id, key, secret, signing_key))
        for signing_key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )


def site_url() -> str:
    """``SITE_URL`` without its trailing slash; a configuration error when it is not set (or
    refused: see check E010)."""
    value: str | None = app_settings.SITE_URL
    if value is None:
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}['SITE_URL'] is not set: absolute links to the order pages need the "
            "shop's public address, e.g. 'https://shop.example' (or pass absolute=False)"
        )
    return value


def _absolute(path: str) -> str:
    base = site_url()
    base_path = urlsplit(base).path
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        # reverse() already added the script prefix that SITE_URL ends with.
        base = base[: -len(base_path)]
    return base + path


def url_for_token(name: str, token: str, *, absolute: bool = True) -> str:
    """The URL of page ``name`` ("order_status" or "order_receipt") for an existing token.

    The pages link to each other with the token they were opened with, so visiting a page never
    issues a fresher token (which would make a link's expiry meaningless).
    """
    if name not in PAGES:
        raise ValueError(f"unknown page {name!r}; use 'order_status' or 'order_receipt'")
    try:
        path = reverse(PAGES[name], kwargs={"token": token})
    except NoReverseMatch:
        raise VippsConfigurationError(
            "The order pages have no URL: include 'vipps_order_management.urls' in your URLconf, "
            "e.g. path('vipps/', include('vipps_order_management.urls'))"
        ) from None
    return _absolute(path) if absolute else path
