"""Each sales unit's keys, in one place: what a call for a merchant serial number authenticates with.

A shop with several sales units (a storefront per country, say) has keys per merchant serial
number; its own ePayment calls must use the keys of the order's unit, like the app's Order
Management calls. :func:`sales_unit_credentials` gives them: ``SALES_UNITS``' keys for the unit,
the single-unit settings for ``MERCHANT_SERIAL_NUMBER``, or partner keys (``PARTNER_KEYS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .conf import SETTINGS_NAME, app_settings
from .engine.clients import sales_unit
from .exceptions import VippsConfigurationError

__all__ = ["SalesUnitCredentials", "sales_unit_credentials"]


@dataclass(frozen=True)
class SalesUnitCredentials:
    """The keys of one sales unit and the API root they are used at; secrets stay out of repr."""

    merchant_serial_number: str
    client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str = field(repr=False)
    base_url: str

    def token_headers(self) -> dict[str, str]:
        """The headers of ``POST {base_url}/accesstoken/get`` (its body is empty)."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "Ocp-Apim-Subscription-Key": self.subscription_key,
            "Merchant-Serial-Number": self.merchant_serial_number,
        }


def sales_unit_credentials(merchant_serial_number: str | None = None) -> SalesUnitCredentials:
    """The keys for a merchant serial number (the configured one when ``None``), as the app's
    own calls use them (:func:`~vipps_order_management.engine.clients.sales_unit`).

    Pass the order's unit: ``adapter.get_merchant_serial_number(order)``. Raises
    :class:`~.exceptions.VippsConfigurationError` naming what is missing, never a value.
    """
    unit = sales_unit(merchant_serial_number)
    msn = unit.merchant_serial_number
    missing = [
        name
        for name, value in (
            ("CLIENT_ID", unit.client_id),
            ("CLIENT_SECRET", unit.client_secret),
            ("SUBSCRIPTION_KEY", unit.subscription_key),
            ("MERCHANT_SERIAL_NUMBER", msn),
        )
        if not value
    ]
    if missing:
        raise VippsConfigurationError(
            f"No Vipps keys for merchant serial number {msn or '(none)'}: set "
            f"{', '.join(f'{SETTINGS_NAME}[{name!r}]' for name in missing)} (or their "
            "environment variables)"
        )
    assert unit.client_id
    assert unit.client_secret
    assert unit.subscription_key
    return SalesUnitCredentials(
        merchant_serial_number=msn,
        client_id=unit.client_id,
        client_secret=unit.client_secret.reveal(),
        subscription_key=unit.subscription_key.reveal(),
        base_url=app_settings.BASE_URL,
    )
