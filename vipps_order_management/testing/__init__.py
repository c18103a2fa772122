"""Test helpers shipped with the app: a fake Vipps API server, pytest fixtures, and
:func:`drain_until_idle` to send what the outbox holds from a test.

Names are imported lazily (from the ``fake`` package and ``outbox``) so that ``python -m
vipps_order_management.testing.fake_server`` does not import that module twice (and warn), and
so importing this package stays cheap for the pytest plugin.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake import FakeMerchant, FakeVippsServer, FaultInjector, RecordedRequest
    from .outbox import drain_until_idle

__all__ = [
    "FakeMerchant",
    "FakeVippsServer",
    "FaultInjector",
    "RecordedRequest",
    "drain_until_idle",
]

#: Where each name lives: the fake needs no Django; the outbox helper needs the models.
_MODULES = dict.fromkeys(__all__, ".fake") | {"drain_until_idle": ".outbox"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
