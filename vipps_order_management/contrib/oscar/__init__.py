"""django-oscar support: an adapter for Oscar's orders, the Vipps tab in Oscar's dashboard, and
the Django admin beside Oscar's own ``OrderAdmin``.

::

    INSTALLED_APPS = [
        ...,
        "vipps_order_management",
        "vipps_order_management.contrib.oscar",  # before Oscar's apps: its dashboard templates
        "oscar.config.Shop",
        ...
    ]
    VIPPS_ORDER_MANAGEMENT = {
        "ORDER_ADAPTERS": {"order.Order": "vipps_order_management.contrib.oscar.OscarOrderAdapter"},
    }

See ``docs/oscar.rst``. The names are imported lazily: this package is imported while Django
loads its apps, before models may be.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OscarOrderAdapter", "vat_rate_from"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
