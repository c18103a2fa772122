from __future__ import annotations

from django.http import HttpRequest

from .cart import Cart


def cart(request: HttpRequest) -> dict:
    return {"cart_count": Cart(request).count if hasattr(request, "session") else 0}
