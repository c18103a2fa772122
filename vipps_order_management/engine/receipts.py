"""The receipt at Vipps: sent once, compared when it is already there, drift when it differs.

Vipps keeps the first receipt of an order for ever and answers a second with 409. So a receipt
is posted once; a 409 (or a receipt sent inside an ePayment payment) means "already there": the
order is fetched and compared, equal is done, different is *drift* with the differing fields.
A receipt that changes after it was sent is compared the same way.

HTTP only, on a snapshot of the order's state that the pipeline writes back in bulk.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone

from .. import signals
from ..client import OrderManagementClient
from ..exceptions import VippsConflict, VippsTransientError
from ..models import VippsOrder
from ..payloads import Receipt
from .plan import Problem, Refused, Target

__all__ = ["Events", "mark_sent", "sync_receipt"]

logger = logging.getLogger(__name__)

States = VippsOrder.ReceiptState
#: Signals to send once the batch is saved: ``(signal, keyword arguments besides order)``.
Events = list[tuple[Any, dict[str, Any]]]


def mark_sent(state: VippsOrder, receipt_hash: str, via: str, when: datetime | None = None) -> None:
    """The one way a state records that a receipt reached Vipps (``via`` api, epayment, remote)."""
    state.receipt_state = States.SENT
    state.receipt_hash = receipt_hash
    state.receipt_sent_at = when or timezone.now()
    state.receipt_sent_via = via
    state.drift = []
    state.drift_detected_at = None
    state.receipt_error = ""


def sync_receipt(
    client: OrderManagementClient,
    target: Target,
    state: VippsOrder,
    *,
    receipt: Receipt | None,
    problem: Problem | None,
    is_final: bool,
    force: bool,
    events: Events,
) -> str:
    """Bring the receipt at Vipps in line with the order; returns what happened."""
    already = state.receipt_state in (States.SENT, States.DRIFT) and bool(state.receipt_hash)
    if not is_final:
        if not already:
            state.receipt_state = States.WAITING
        return "Waiting for the order to be final before sending the receipt."
    if receipt is None:
        assert problem is not None
        if not already:
            state.receipt_state = States.DEAD
            state.receipt_error = str(problem)
        raise Refused(problem)
    digest = receipt.content_hash()
    if already and digest == state.receipt_hash and not force:
        # receipt_hash is the hash of Vipps's copy: equal means the order matches it (again).
        if state.receipt_state == States.DRIFT:
            state.receipt_state = States.SENT
            state.drift, state.drift_detected_at = [], None
            return "The receipt matches Vipps's copy again."
        return "Receipt unchanged."
    if already:
        # Vipps keeps the first receipt for ever; see whether ours still matches it.
        return _compare(client, target, state, receipt, "changed after it was sent", events)
    try:  # the plan validated it, with the same rules
        client.post_receipt(target.payment_type, target.reference, receipt, validate=False)
    except VippsConflict:
        return _compare(client, target, state, receipt, "already at Vipps", events)
    mark_sent(state, digest, "api")
    events.append((signals.receipt_sent, {"receipt": receipt, "via": "api"}))
    return "Sent the receipt."


def _compare(
    client: OrderManagementClient,
    target: Target,
    state: VippsOrder,
    receipt: Receipt,
    reason: str,
    events: Events,
) -> str:
    view = client.get_order(target.payment_type, target.reference)
    remote = view.receipt if view is not None else None
    if remote is None:
        if reason == "already at Vipps":
            raise VippsTransientError(
                "Vipps says a receipt exists but returned none; trying again later"
            )
        # We believed it was sent, but Vipps has none (its data was lost): send it again.
        client.post_receipt(target.payment_type, target.reference, receipt)
        mark_sent(state, receipt.content_hash(), "api")
        events.append((signals.receipt_sent, {"receipt": receipt, "via": "api"}))
        return "Vipps had no receipt; sent it."
    differences = receipt.diff(remote)
    drift = [{"path": d.path, "local": d.local, "remote": d.remote} for d in differences]
    first_time = state.receipt_state not in (States.SENT, States.DRIFT)
    new_drift = bool(drift) and (state.receipt_state != States.DRIFT or state.drift != drift)
    detected = state.drift_detected_at
    # The hash of Vipps's copy: an order that comes to match it again is "sent" again.
    mark_sent(
        state, remote.content_hash(), state.receipt_sent_via or "remote", state.receipt_sent_at
    )
    if drift:
        state.receipt_state = States.DRIFT
        state.drift = drift
        state.drift_detected_at = timezone.now() if new_drift else detected
    if first_time:
        events.append((signals.receipt_sent, {"receipt": remote, "via": "remote"}))
    if not drift:
        return f"Receipt {reason}; it matches what Vipps holds."
    if new_drift:
        logger.warning(
            "The receipt of %s differs from the one Vipps holds: %s",
            target.reference,
            "; ".join(str(d) for d in differences[:5]),
        )
        events.append((signals.receipt_drift, {"differences": differences}))
    return f"Receipt {reason} and differs from Vipps's copy in {len(differences)} field(s)."
