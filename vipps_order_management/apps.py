from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VippsOrderManagementConfig(AppConfig):
    name = "vipps_order_management"
    label = "vipps_order_management"
    verbose_name = _("Vipps MobilePay order management")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # registers the system checks
        from .runners import receivers

        receivers.connect()
        if checks.importable("prometheus_client"):  # the [prometheus] extra
            from .contrib import prometheus

            prometheus.register()
