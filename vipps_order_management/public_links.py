"""Signed links to an order's customer pages (order status, printable receipt).

What a shop's code calls: :func:`order_status_url` and :func:`receipt_url` make the links,
:func:`order_from_token` finds the order a link opens (or answers 404). How a token is made and
why it cannot be guessed, replayed or outlive its order: :mod:`.tokens`.

Revoking links:

* every link of every order: rotate ``SECRET_KEY`` (old keys in ``SECRET_KEY_FALLBACKS`` keep
  links working during a rotation), or lower ``PUBLIC_LINK_MAX_AGE``, or change the app's
  ``PUBLIC_LINK_SALT`` setting;
* one order's links: the adapter's ``get_public_link_secret(order)``. Links carry a keyed hash of
  that value; change it (a counter, a random string stored on the order) and earlier links fail;
* a deleted order's links die with it, whatever primary key the next order gets.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404
from django.urls import Resolver404, resolve

from . import tokens
from .adapters import OrderAdapter, get_adapter
from .exceptions import VippsConfigurationError
from .order_rows import existing_link_key

logger = logging.getLogger(__name__)

__all__ = [
    "SALT",
    "order_from_token",
    "order_status_url",
    "order_token",
    "own_page",
    "receipt_url",
    "status_page_beside",
    "token_key",
    "url_for_token",
]

SALT = tokens.SALT
url_for_token = tokens.url_for_token


def _secret(adapter: OrderAdapter, order: models.Model) -> str:
    return str(adapter.get_public_link_secret(order) or "")


def order_token(order: models.Model) -> str:
    """The signed token that opens ``order``'s customer pages.

    Raises ``ValueError`` for an unsaved order and ``VippsConfigurationError`` for a model that
    has no adapter (its pages would only ever answer 404).
    """
    return tokens.make_token(order, _secret(get_adapter(order), order))


def token_key(token: str) -> tuple[str, str] | None:
    """``(model label, order pk)`` named by a valid token, without loading the order; else None.

    Lets a page recognise links to itself among an order's links, with no database query.
    """
    payload = tokens.read_token(token)
    return (payload[0], payload[1]) if payload is not None else None


def order_from_token(token: str) -> models.Model:
    """The order a token was made for; ``Http404`` (without detail) for anything else.

    Tampered, expired, malformed, revoked, for a model without adapter, for an order that no
    longer exists or for another order that took its primary key: the caller cannot tell which,
    so the answer says nothing about other orders.
    """
    payload = tokens.read_token(token)
    if payload is None:
        raise Http404
    label, object_id, fingerprint = payload
    try:
        adapter = get_adapter(apps.get_model(label))
    except (LookupError, ValueError, VippsConfigurationError):
        raise Http404 from None
    try:
        order: models.Model | None = adapter.get_queryset().filter(pk=object_id).first()
    except (ValidationError, ValueError, TypeError):
        raise Http404 from None
    if order is None:
        raise Http404
    try:
        secret = _secret(adapter, order)
    except Exception:  # the shop's hook: a page it cannot vouch for stays shut
        logger.exception(
            "%s.get_public_link_secret failed for %s; its customer pages answer 404",
            type(adapter).__name__,
            order,
        )
        raise Http404 from None
    if not tokens.matches(fingerprint, order, existing_link_key(order), secret):
        raise Http404
    return order


def own_page(url: str, order: models.Model) -> tuple[str, str] | None:
    """``(page, token)`` when ``url`` opens one of ``order``'s own customer pages (``page`` is
    "order_status" or "order_receipt"), else ``None``; no database query. Any string may come:
    a malformed one is no page of ours (the link policy names its problem)."""
    try:
        match = resolve(urlsplit(url).path)
    except (Resolver404, ValueError, TypeError, AttributeError):
        return None
    page = next((name for name, view in tokens.PAGES.items() if view == match.view_name), None)
    token = match.kwargs.get("token", "")
    if page is None or token_key(token) != (order._meta.label_lower, str(order.pk)):
        return None
    return page, token


def status_page_beside(url: str, token: str) -> str:
    """The order status page at the address of the customer page ``url``, with its token."""
    parts = urlsplit(url)
    path = url_for_token("order_status", token, absolute=False)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def order_status_url(order: models.Model, *, absolute: bool = True) -> str:
    """The signed URL of the order's status page; absolute (from ``SITE_URL``) by default."""
    return url_for_token("order_status", order_token(order), absolute=absolute)


def receipt_url(order: models.Model, *, absolute: bool = True) -> str:
    """The signed URL of the order's printable receipt; absolute (from ``SITE_URL``) by default."""
    return url_for_token("order_receipt", order_token(order), absolute=absolute)
