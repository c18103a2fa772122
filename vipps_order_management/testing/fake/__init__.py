"""The fake Vipps MobilePay API, one module per concern.

``server`` wires the rest together: ``state`` (what it remembers), ``statefile`` (the same
across restarts), ``config`` (its switches), ``validation`` (what Vipps accepts), ``auth``
(tokens and the gateway's checks), ``endpoints`` (Order Management), ``epayment`` and
``epayment_rules`` (ePayment as far as a web checkout needs), ``landing`` (the page where a
payment is approved by hand), ``problems`` (how Vipps refuses), ``faults`` (injected
failures), ``http`` (sockets and routing), ``preview`` and ``inspection`` (pages for looking
at it) and ``cli`` (running it by hand).
"""

from __future__ import annotations

from .faults import FaultInjector
from .server import FakeVippsServer
from .state import FakeMerchant, RecordedRequest

__all__ = ["FakeMerchant", "FakeVippsServer", "FaultInjector", "RecordedRequest"]
