"""Test helpers shipped with the app: a fake Vipps API server and pytest fixtures.

Names are imported lazily (from the ``fake`` package) so that ``python -m
vipps_order_management.testing.fake_server`` does not import that module twice (and warn), and
so importing this package stays cheap for the pytest plugin.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake import FakeMerchant, FakeVippsServer, FaultInjector, RecordedRequest

__all__ = ["FakeMerchant", "FakeVippsServer", "FaultInjector", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".fake", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
