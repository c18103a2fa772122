"""``python -m vipps_order_management.testing.fake_server --port 8765``: the fake Vipps on the
command line. The fake itself is the ``fake`` package beside this module; see ``fake.cli``."""

from __future__ import annotations

import sys

from .fake.cli import main

if __name__ == "__main__":
    sys.exit(main())
