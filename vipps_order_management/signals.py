"""Signals sent while syncing, for shops that want to react (alerts, audit, their own UI).

All are sent by the worker after the database change they describe has been saved, with
``sender`` set to the order's model class and ``order`` to the order itself, through
``send_robust``: a receiver that raises is logged and stops neither the others nor the sync.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = [
    "category_sent",
    "dead_lettered",
    "image_uploaded",
    "order_synced",
    "receipt_drift",
    "receipt_sent",
    "sync_failed",
]

#: A receipt reached Vipps (or was found there). Arguments: ``order``, ``receipt``
#: (:class:`~vipps_order_management.payloads.Receipt`), ``via`` ("api", "epayment", "remote").
receipt_sent = Signal()

#: Links reached Vipps. Arguments: ``order``, ``categories`` (list of
#: :class:`~vipps_order_management.payloads.Category`), ``api`` ("v2" or "v3").
category_sent = Signal()

#: An image was uploaded. Arguments: ``order``, ``image_id``, ``merchant_serial_number``.
image_uploaded = Signal()

#: One outbox row of the order finished. Arguments: ``order``, ``kind``, ``result`` (text).
order_synced = Signal()

#: A send failed and will be retried. Arguments: ``order``, ``kind``, ``error`` (exception),
#: ``next_attempt_at``.
sync_failed = Signal()

#: The order's receipt differs from the one Vipps holds, which can never be changed.
#: Arguments: ``order``, ``differences`` (list of
#: :class:`~vipps_order_management.payloads.Difference`).
receipt_drift = Signal()

#: A send failed for good and needs a person. Arguments: ``order`` (``None`` if the order was
#: deleted), ``kind``, ``error`` (text), ``outbox_item``.
dead_lettered = Signal()
