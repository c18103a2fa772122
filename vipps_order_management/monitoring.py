"""The health summary for monitoring systems, as JSON at ``health/`` under the app's URLs.

Readable by staff who may view the outbox (a logged-in session), or by anyone who sends
``Authorization: Bearer <HEALTH_TOKEN>``. Anything else is 401 (no credentials, or a wrong
token) or 403 (a user without the permission), with an empty body: the answer never says
why. The token is compared in constant time and never logged. Answers are never cached.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .conf import app_settings
from .engine.health import summary

__all__ = ["for_health_readers", "health", "refusal"]

#: What the health URL's readers need on the outbox, either of them.
VIEW_PERMISSIONS = (
    "vipps_order_management.view_outboxitem",
    "vipps_order_management.change_outboxitem",
)


def _bearer(request: HttpRequest) -> str | None:
    scheme, _space, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def refusal(request: HttpRequest) -> HttpResponse | None:
    """``None`` when the request may read the summary, else the empty 401 or 403 to answer.

    Shared by every view that shows the summary (the Prometheus metrics view too).
    """
    token = app_settings.HEALTH_TOKEN
    given = _bearer(request)
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return None
    user = getattr(request, "user", None)
    if given is None and user is not None and user.is_authenticated:
        if user.is_active and user.is_staff and any(user.has_perm(p) for p in VIEW_PERMISSIONS):
            return None
        return HttpResponse(status=403)
    response = HttpResponse(status=401)
    response["WWW-Authenticate"] = 'Bearer realm="vipps_order_management"'
    return response


def for_health_readers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only, never cached, and answered only to those :func:`refusal` lets through."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = refusal(request)
        return refused if refused is not None else view(request, *args, **kwargs)

    return never_cache(require_GET(guarded))


@for_health_readers
def health(request: HttpRequest) -> HttpResponse:
    """The summary's JSON (``Health.as_json``); its ``level`` is healthy, warning or critical."""
    return JsonResponse(summary().as_json())
