"""The test shop's fork of Oscar's order app, as ``oscar_fork_app order`` makes one."""

from __future__ import annotations

import oscar.apps.order.apps as apps


class OrderConfig(apps.OrderConfig):
    name = "tests.oscar.order"
