"""The fake Vipps server's historical import path, and its ``python -m`` entry point::

    python -m vipps_order_management.testing.fake_server --port 8765

The fake itself lives in the ``fake`` package beside this module; the names below were public
here before it was split, and stay importable from here.
"""

from __future__ import annotations

import sys

from .fake.auth import (
    INVALID_KEY_MESSAGE,
    INVALID_TOKEN_MESSAGE,
    MISSING_KEY_MESSAGE,
    SYSTEM_HEADER_MAX,
    SYSTEM_HEADER_PREFIX,
    TOKEN_ISSUER,
    TOKEN_RESOURCE,
)
from .fake.cli import add_arguments, main, serve_until_stopped, server_from_options
from .fake.faults import FaultInjector
from .fake.http import Handler, Headers, Request, Response, Route, Router
from .fake.problems import VALIDATION_TITLE
from .fake.server import REDACTED, FakeVippsServer, logger
from .fake.state import FakeMerchant, RecordedRequest
from .fake.validation import (
    BARCODE_FORMATS,
    CATEGORY_TYPES,
    CURRENCIES,
    EPAYMENT_METHODS,
    EPAYMENT_REFERENCE_RE,
    IDENTITY_MISMATCH,
    IMAGE_ID_RE,
    INT64_MAX,
    INT64_MIN,
    MSN_RE,
    ORDER_ID_RE,
    PAYMENT_TYPES,
    QUANTITY_RE,
    QUANTITY_UNITS,
    REFUSED_LINK_SCHEMES,
    UUID_RE,
    Problems,
    category_v2_problems,
    category_v3_problems,
    image_dimensions,
    receipt_problems,
)

__all__ = [
    "BARCODE_FORMATS",
    "CATEGORY_TYPES",
    "CURRENCIES",
    "EPAYMENT_METHODS",
    "EPAYMENT_REFERENCE_RE",
    "IDENTITY_MISMATCH",
    "IMAGE_ID_RE",
    "INT64_MAX",
    "INT64_MIN",
    "INVALID_KEY_MESSAGE",
    "INVALID_TOKEN_MESSAGE",
    "MISSING_KEY_MESSAGE",
    "MSN_RE",
    "ORDER_ID_RE",
    "PAYMENT_TYPES",
    "QUANTITY_RE",
    "QUANTITY_UNITS",
    "REDACTED",
    "REFUSED_LINK_SCHEMES",
    "SYSTEM_HEADER_MAX",
    "SYSTEM_HEADER_PREFIX",
    "TOKEN_ISSUER",
    "TOKEN_RESOURCE",
    "UUID_RE",
    "VALIDATION_TITLE",
    "FakeMerchant",
    "FakeVippsServer",
    "FaultInjector",
    "Handler",
    "Headers",
    "Problems",
    "RecordedRequest",
    "Request",
    "Response",
    "Route",
    "Router",
    "add_arguments",
    "category_v2_problems",
    "category_v3_problems",
    "image_dimensions",
    "logger",
    "main",
    "receipt_problems",
    "serve_until_stopped",
    "server_from_options",
]

if __name__ == "__main__":
    sys.exit(main())
