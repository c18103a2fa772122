"""Signal receivers: a save of a configured order (or of a row it depends on) records it.

Connected in ``AppConfig.ready()`` with ``sender=`` per configured model, and reconnected when
the settings change (tests use ``override_settings``). What the shop's request pays is one
outbox statement per order per transaction, and reading the order's key: no adapter work, no
query to load an order from a line (the foreign key's value is read, not the object).
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import post_delete, post_save

from ..adapters import get_adapter, registered_models
from ..conf import app_settings
from ..engine import cleanup, outbox
from ..exceptions import VippsConfigurationError
from ..models import OrderImage, OrderLink, SyncKind
from . import dispatch  # noqa: F401 - registers the kick on commit

__all__ = ["connect", "disconnect"]

logger = logging.getLogger(__name__)

_connected: list[tuple[Any, type[models.Model], str]] = []
#: For each watched model: ``(order model, path from the row to the order)`` pairs.
_paths: dict[type[models.Model], list[tuple[type[models.Model], list[str]]]] = {}


def _record(model: type[models.Model], pk: Any, kinds: tuple[str, ...] = outbox.ALL_KINDS) -> None:
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    outbox.record_change((content_type.pk, str(pk)), kinds)


def order_saved(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """A configured order was saved: its links and receipt may need sending."""
    if raw or not app_settings.AUTO_SYNC or instance.pk is None:
        return  # loaddata, or the shop enqueues itself
    _record(type(instance), instance.pk)


def related_saved(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """A row the adapter watches (an order line, say) changed: record its order."""
    if raw or not app_settings.AUTO_SYNC:
        return
    for order_model, path in _paths.get(sender, ()):
        pk = _order_pk(instance, path)
        if pk is not None:
            _record(order_model, pk)


def _order_pk(instance: models.Model, path: list[str]) -> Any:
    """The order's primary key at the end of ``path``; the last hop reads the foreign key only."""
    current: Any = instance
    for part in path[:-1]:
        current = getattr(current, part, None)
        if current is None:
            return None
    last = path[-1]
    try:
        field = current._meta.get_field(last)
    except Exception:
        field = None
    if isinstance(field, models.ForeignKey):
        return getattr(current, field.attname, None)
    order = getattr(current, last, None)
    return getattr(order, "pk", None)


def order_deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """A configured order was deleted: our rows go with it, in the same transaction.

    Whatever primary key the next order gets, it starts with no links, images, state or
    customer links of this one. (``QuerySet.delete()`` sends this signal for every row too;
    raw SQL does not: ``vipps_om_sweep`` finds what is left.)
    """
    if instance.pk is None:
        return
    content_type = ContentType.objects.get_for_model(type(instance), for_concrete_model=False)
    cleanup.forget_orders([(content_type.pk, str(instance.pk))])


def attachment_changed(
    sender: type[models.Model], instance: OrderLink | OrderImage, **kwargs: Any
) -> None:
    """A link or image of an order was added, changed or removed: resend the links."""
    if kwargs.get("raw") or not app_settings.AUTO_SYNC or cleanup.forgetting.get():
        return
    model = ContentType.objects.get_for_id(instance.content_type_id).model_class()
    if model is None:  # the order's model is no longer installed
        return
    try:
        get_adapter(model)
    except VippsConfigurationError:
        logger.warning("%s belongs to %s, which has no Vipps adapter", instance, model.__name__)
        return
    outbox.record_change((instance.content_type_id, str(instance.object_id)), (SyncKind.LINKS,))


def connect() -> None:
    """(Re)connect the receivers for the models in ``ORDER_ADAPTERS``."""
    disconnect()
    try:
        configured = registered_models()
    except VippsConfigurationError as exc:
        # The system checks report this with a hint; starting the project must still work.
        logger.error("Vipps order sync is not connected: %s", exc)
        return
    for model in configured:
        _connect(post_save, order_saved, model, "order_saved")
        _connect(post_delete, order_deleted, model, "order_deleted")
        for label, path in get_adapter(model).sync_on.items():
            try:
                related = apps.get_model(label)
            except (LookupError, ValueError):
                logger.error("%s.sync_on names %r, which is not installed", model.__name__, label)
                continue
            _paths.setdefault(related, []).append((model, path.split(".")))
            for signal in (post_save, post_delete):
                _connect(signal, related_saved, related, "related")
    for model in (OrderLink, OrderImage):
        for signal in (post_save, post_delete):
            _connect(signal, attachment_changed, model, "attachment")


def _connect(signal: Any, receiver: Any, sender: type[models.Model], name: str) -> None:
    kind = "save" if signal is post_save else "delete"
    uid = f"vipps_order_management.{name}.{kind}.{sender._meta.label_lower}"
    if any(uid == known for _signal, _sender, known in _connected):
        return
    signal.connect(receiver, sender=sender, dispatch_uid=uid)
    _connected.append((signal, sender, uid))


def disconnect() -> None:
    while _connected:
        signal, sender, uid = _connected.pop()
        signal.disconnect(sender=sender, dispatch_uid=uid)
    _paths.clear()


app_settings.on_reload("receivers", connect)
