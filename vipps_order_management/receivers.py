"""Signal receivers: a save of a configured order (or of our link and image rows) enqueues it.

Connected in ``AppConfig.ready()`` with ``sender=`` per configured model, and reconnected when
the ``VIPPS_ORDER_MANAGEMENT`` setting changes (tests use ``override_settings``). The enqueue is
one UPDATE or INSERT in the shop's own transaction; the runner is kicked after commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.signals import setting_changed
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .adapters import get_adapter, registered_models
from .conf import SETTINGS_NAME, app_settings
from .exceptions import VippsConfigurationError
from .models import OrderImage, OrderLink, SyncKind

logger = logging.getLogger(__name__)

_connected: list[tuple[Any, type[models.Model], str]] = []


def order_saved(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """A configured order was saved: its links and receipt may need sending."""
    if raw or not app_settings.AUTO_SYNC:
        return  # loaddata, or the shop enqueues itself
    from .services import enqueue

    enqueue(instance)


def related_saved(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """A row the adapter watches (an order line, say) changed: enqueue its order."""
    if raw or not app_settings.AUTO_SYNC:
        return
    from .services import enqueue

    for adapter_model in registered_models():
        adapter = get_adapter(adapter_model)
        for label, path in adapter.sync_on.items():
            if sender._meta.label_lower == label.lower():
                order = instance
                for part in path.split("."):
                    order = getattr(order, part, None)
                    if order is None:
                        break
                if isinstance(order, adapter_model) and order.pk is not None:
                    enqueue(order)


def attachment_changed(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """A link or image of an order was added, changed or removed: resend the links."""
    if kwargs.get("raw") or not app_settings.AUTO_SYNC:
        return
    order = instance.order
    if order is None:
        return
    from .services import enqueue

    try:
        enqueue(order, kinds=[SyncKind.LINKS])
    except VippsConfigurationError:
        logger.warning(
            "%s belongs to %s, which has no Vipps adapter", instance, type(order).__name__
        )


def connect() -> None:
    """(Re)connect the receivers for the models in ``ORDER_ADAPTERS``."""
    disconnect()
    try:
        models_ = registered_models()
    except VippsConfigurationError as exc:
        # The system checks report this with a hint; starting the project must still work.
        logger.error("Vipps order sync is not connected: %s", exc)
        return
    from django.apps import apps

    for model in models_:
        uid = f"vipps_order_management.order_saved.{model._meta.label_lower}"
        post_save.connect(order_saved, sender=model, dispatch_uid=uid)
        _connected.append((post_save, model, uid))
        for label in get_adapter(model).sync_on:
            try:
                related = apps.get_model(label)
            except (LookupError, ValueError):
                logger.error("%s.sync_on names %r, which is not installed", model.__name__, label)
                continue
            for signal in (post_save, post_delete):
                uid = f"vipps_order_management.related.{signal is post_save}.{related._meta.label_lower}"
                signal.connect(related_saved, sender=related, dispatch_uid=uid)
                _connected.append((signal, related, uid))
    for model in (OrderLink, OrderImage):
        for signal in (post_save, post_delete):
            uid = (
                f"vipps_order_management.attachment.{signal is post_save}.{model._meta.label_lower}"
            )
            signal.connect(attachment_changed, sender=model, dispatch_uid=uid)
            _connected.append((signal, model, uid))


def disconnect() -> None:
    while _connected:
        signal, sender, uid = _connected.pop()
        signal.disconnect(sender=sender, dispatch_uid=uid)


@receiver(setting_changed, dispatch_uid="vipps_order_management.receivers.reconnect")
def _reconnect(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        from .adapters import _registry

        _registry.cache_clear()
        connect()
