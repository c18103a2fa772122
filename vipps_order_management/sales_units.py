"""Each sales unit's keys, in one place: what a call for a merchant serial number authenticates with.

A shop with several sales units (a storefront per country, say) has keys per merchant serial
number; its own ePayment calls must use the keys of the order's unit, like the app's Order
Management calls. :func:`sales_unit_credentials` is where they are looked up. Today it reads the
single set of keys in the settings (``CLIENT_ID``, ``CLIENT_SECRET``, ``SUBSCRIPTION_KEY``), which
act for any merchant serial number it is asked about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .conf import SETTINGS_NAME, app_settings
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
    """The keys for a merchant serial number (the configured one when ``None``).

    Pass the order's unit: ``adapter.get_merchant_serial_number(order)``. Raises
    :class:`~.exceptions.VippsConfigurationError` naming the settings that are missing, never
    their values.
    """
    msn = str(merchant_serial_number or app_settings.MERCHANT_SERIAL_NUMBER or "")
    values = {
        "CLIENT_ID": app_settings.CLIENT_ID,
        "CLIENT_SECRET": app_settings.CLIENT_SECRET,
        "SUBSCRIPTION_KEY": app_settings.SUBSCRIPTION_KEY,
        "MERCHANT_SERIAL_NUMBER": msn,
    }
    missing = [f"{SETTINGS_NAME}[{key!r}]" for key, value in values.items() if not value]
    if missing:
        raise VippsConfigurationError(
            f"No Vipps keys for merchant serial number {msn or '(none)'}: set {', '.join(missing)} "
            "(or their environment variables)"
        )
    return SalesUnitCredentials(
        merchant_serial_number=msn,
        client_id=str(values["CLIENT_ID"]),
        client_secret=str(values["CLIENT_SECRET"]),
        subscription_key=str(values["SUBSCRIPTION_KEY"]),
        base_url=app_settings.BASE_URL,
    )
