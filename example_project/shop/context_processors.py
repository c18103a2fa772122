from __future__ import annotations

from django.http import HttpRequest

from . import storefronts
from .cart import Cart


def cart(request: HttpRequest) -> dict:
    """The current storefront (its currency, its cart) and the others to switch to."""
    if not hasattr(request, "session"):
        return {"cart_count": 0}
    return {
        "cart_count": Cart(request).count,
        "storefront": storefronts.current(request),
        "storefronts": storefronts.all_storefronts().values(),
    }
