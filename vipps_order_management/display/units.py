"""How a sales unit (a merchant serial number) is named to people: one function, so that the
name can later come from the sales units' own settings."""

from __future__ import annotations

__all__ = ["sales_unit_name"]


def sales_unit_name(merchant_serial_number: str) -> str:
    """The unit's display name; for now its merchant serial number."""
    return merchant_serial_number
