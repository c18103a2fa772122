"""Signed links to an order's customer pages (order status, printable receipt).

The pages open from the Vipps app in the phone's browser, without a login, so the link itself is
the credential. A token is ``django.core.signing`` output: a readable (not encrypted) payload
``[model label, order pk as string, optional revocation fingerprint]``, a timestamp and an
HMAC-SHA256 signature keyed by ``SECRET_KEY`` and salted with :data:`SALT`. So a token

* cannot be guessed or enumerated: changing one character of it, or putting another order's id
  in it, breaks the signature;
* expires after ``PUBLIC_LINK_MAX_AGE`` (``None``: never);
* means nothing anywhere else: the salt is this app's alone, so no other value the project
  signs (sessions, password reset tokens...) can be replayed as an order link, and back.

Revoking links:

* every link of every order: rotate ``SECRET_KEY`` (old keys in ``SECRET_KEY_FALLBACKS`` keep
  links working during a rotation), or lower ``PUBLIC_LINK_MAX_AGE``, or change the app's
  ``PUBLIC_LINK_SALT`` setting when there is one;
* one order's links: the adapter's ``get_public_link_secret(order)``. Links carry a keyed hash of
  that value; change it (a counter, a random string stored on the order) and earlier links fail.

The timestamp is the start of the current UTC day rather than the current second: a token for an
order is then the same all day, so the links sent to Vipps do not change (and are not sent
again) on every save of the order. A link lives ``PUBLIC_LINK_MAX_AGE`` plus at most one day.
"""

from __future__ import annotations

import binascii
import time
import zlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from .adapters import OrderAdapter, get_adapter
from .conf import SETTINGS_NAME, app_settings
from .exceptions import VippsConfigurationError

__all__ = [
    "SALT",
    "order_from_token",
    "order_status_url",
    "order_token",
    "receipt_url",
    "token_key",
    "url_for_token",
]

#: Namespaces this app's signatures; never reused for anything else.
SALT = "vipps_order_management.public_links"
_FINGERPRINT_SALT = f"{SALT}.order_secret"
_DAY = 86_400
_URL_NAMES = ("vipps_order_management:order_status", "vipps_order_management:order_receipt")


class _DailySigner(signing.TimestampSigner):
    """A ``TimestampSigner`` whose timestamp is the start of the UTC day (see the module doc)."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) // _DAY * _DAY)


def _signer() -> _DailySigner:
    extra = app_settings.PUBLIC_LINK_SALT
    return _DailySigner(salt=f"{SALT}:{extra}" if extra else SALT)


def _max_age() -> float | None:
    value = app_settings.PUBLIC_LINK_MAX_AGE
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _order_secret(adapter: OrderAdapter, order: models.Model) -> str:
    return str(adapter.get_public_link_secret(order) or "")


def _fingerprint(label: str, object_id: str, secret: str, key: Any = None) -> str:
    value = f"{label}:{object_id}:{secret}"
    return salted_hmac(_FINGERPRINT_SALT, value, secret=key, algorithm="sha256").hexdigest()[:16]


def order_token(order: models.Model) -> str:
    """The signed token that opens ``order``'s customer pages.

    Raises ``ValueError`` for an unsaved order and ``VippsConfigurationError`` for a model that
    has no adapter (its pages would only ever answer 404).
    """
    if order.pk is None:
        raise ValueError("save the order before making links to it")
    adapter = get_adapter(order)
    label = order._meta.label_lower
    object_id = str(order.pk)
    payload = [label, object_id]
    secret = _order_secret(adapter, order)
    if secret:
        payload.append(_fingerprint(label, object_id, secret))
    return _signer().sign_object(payload, compress=True)


def _payload(token: str) -> list[str] | None:
    """The verified, unexpired payload of a token, or ``None``."""
    try:
        payload = _signer().unsign_object(str(token), max_age=_max_age())
    except (
        signing.BadSignature,
        ValueError,
        TypeError,
        binascii.Error,
        zlib.error,
        UnicodeError,
    ):
        return None
    if not (
        isinstance(payload, list)
        and len(payload) in (2, 3)
        and all(isinstance(part, str) for part in payload)
    ):
        return None
    return payload


def token_key(token: str) -> tuple[str, str] | None:
    """``(model label, order pk)`` named by a valid token, without loading the order; else None.

    Lets a page recognise links to itself among an order's links, with no database query.
    """
    payload = _payload(token)
    return (payload[0], payload[1]) if payload is not None else None


def order_from_token(token: str) -> models.Model:
    """The order a token was made for; ``Http404`` (without detail) for anything else.

    Tampered, expired, malformed, revoked, for a model without adapter, or for an order that no
    longer exists: the caller cannot tell which, so the answer says nothing about other orders.
    """
    payload = _payload(token)
    if payload is None:
        raise Http404
    label, object_id, *fingerprint = payload
    try:
        model = apps.get_model(label)
        adapter = get_adapter(model)
    except (LookupError, ValueError, VippsConfigurationError):
        raise Http404 from None
    try:
        order = adapter.get_queryset().filter(pk=object_id).first()
    except (ValidationError, ValueError, TypeError):
        raise Http404 from None
    if order is None:
        raise Http404
    secret = _order_secret(adapter, order)
    if secret or fingerprint:
        keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        if not (
            secret
            and fingerprint
            and any(
                constant_time_compare(fingerprint[0], _fingerprint(label, object_id, secret, key))
                for key in keys
            )
        ):
            raise Http404
    return order


def _site_url() -> str:
    site_url = app_settings.SITE_URL
    if not site_url:
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}['SITE_URL'] is not set: absolute links to the order pages need the "
            "shop's public address, e.g. 'https://shop.example' (or pass absolute=False)"
        )
    parts = urlsplit(str(site_url))
    allowed = ("https", "http") if settings.DEBUG else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise VippsConfigurationError(
            f"{SETTINGS_NAME}['SITE_URL'] must be an https:// address such as "
            f"'https://shop.example', not {site_url!r}; the Vipps app opens only https links"
        )
    return str(site_url).rstrip("/")


def _absolute(path: str) -> str:
    base = _site_url()
    base_path = urlsplit(base).path
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        # reverse() already added the script prefix that SITE_URL ends with.
        base = base[: -len(base_path)]
    return base + path


def _url(name: str, token: str, absolute: bool) -> str:
    try:
        path = reverse(name, kwargs={"token": token})
    except NoReverseMatch:
        raise VippsConfigurationError(
            "The order pages have no URL: include 'vipps_order_management.urls' in your URLconf, "
            "e.g. path('vipps/', include('vipps_order_management.urls'))"
        ) from None
    return _absolute(path) if absolute else path


def url_for_token(name: str, token: str, *, absolute: bool = True) -> str:
    """The URL of page ``name`` ("order_status" or "order_receipt") for an existing token.

    The pages link to each other with the token they were opened with, so visiting a page never
    issues a fresher token (which would make a link's expiry meaningless).
    """
    full_name = f"vipps_order_management:{name}"
    if full_name not in _URL_NAMES:
        raise ValueError(f"unknown page {name!r}; use 'order_status' or 'order_receipt'")
    return _url(full_name, token, absolute)


def order_status_url(order: models.Model, *, absolute: bool = True) -> str:
    """The signed URL of the order's status page; absolute (from ``SITE_URL``) by default."""
    return url_for_token("order_status", order_token(order), absolute=absolute)


def receipt_url(order: models.Model, *, absolute: bool = True) -> str:
    """The signed URL of the order's printable receipt; absolute (from ``SITE_URL``) by default."""
    return url_for_token("order_receipt", order_token(order), absolute=absolute)
