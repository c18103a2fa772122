"""Receipts, order links and product images for a Django shop's orders in the Vipps MobilePay app."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vipps-order-management")
except (
    PackageNotFoundError
):  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
