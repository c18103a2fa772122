"""Is what Vipps holds what the shop would send? For when Vipps (or the fake) lost data.

The outbox sends what changed; it never sends again what it believes was sent. If Vipps lost
an order's data (a new fake in development, a merchant serial number that changed), nothing
would ever repair it. :func:`verify` asks Vipps what it holds for an order, compares it with the
order's plan, and says what must be sent again: the links (missing or different), the receipt
(missing). A receipt Vipps holds that differs cannot be replaced; it is reported as drift.

Reading is safe to repeat and the repairs go through the outbox with ``force``, where every
call is idempotent: running it twice sends nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..conf import CategoryAPI
from ..exceptions import VippsError
from ..payloads import Category
from .clients import get_client
from .plan import SyncPlan

__all__ = ["Verdict", "verify"]

LINKS = "links"
RECEIPT = "receipt"


@dataclass
class Verdict:
    """What one order's check found: what to send again, and why."""

    status: str  # "in_sync", "repair", "drift", "skipped", "failed"
    resend: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons) or self.status.replace("_", " ")


def verify(sync_plan: SyncPlan) -> Verdict:
    """Compare what Vipps holds for the order with its plan (one or two GETs)."""
    target = sync_plan.target
    if target is None:
        reason = str(sync_plan.target_problem or "no Vipps payment")
        return Verdict("skipped", reasons=[reason])
    client = get_client(target.merchant_serial_number)
    verdict = Verdict("in_sync")
    try:
        view = client.get_order(target.payment_type, target.reference)
        links_ok, why = _links_held(sync_plan, view.category if view else None)
        if not links_ok:
            verdict.resend.append(LINKS)
            verdict.reasons.append(why)
        if sync_plan.is_final and sync_plan.receipt is not None:
            remote = view.receipt if view is not None else None
            if remote is None:
                verdict.resend.append(RECEIPT)
                verdict.reasons.append("Vipps holds no receipt")
            elif differences := sync_plan.receipt.diff(remote):
                verdict.status = "drift"
                verdict.reasons.append(
                    f"the receipt at Vipps differs in {len(differences)} field(s), which cannot "
                    "be changed: " + ", ".join(d.path for d in differences[:5])
                )
    except VippsError as exc:
        return Verdict("failed", reasons=[str(exc)])
    if verdict.resend and verdict.status == "in_sync":
        verdict.status = "repair"
    return verdict


def _links_held(sync_plan: SyncPlan, category: Category | None) -> tuple[bool, str]:
    """Whether Vipps shows the links the plan would send (v3: all of them)."""
    if sync_plan.links_problem is not None:
        return True, ""  # nothing valid to send: the outbox reports the problem
    links = sync_plan.links
    target = sync_plan.target
    assert target is not None
    if sync_plan.category_api is CategoryAPI.V3:
        if not links:
            return True, ""
        client = get_client(target.merchant_serial_number)
        held = {
            (str(c.category), c.url, bool(c.image_id))
            for c in client.list_categories(target.reference)
        }
        wanted = {(str(link.category), link.url, bool(link.sources)) for link in links}
        if wanted != held:
            return False, "the links at Vipps are not the order's links"
        return True, ""
    if not links:
        return True, ""
    wanted_link = links[0]
    if category is None:
        return False, "Vipps holds no link"
    if (str(category.category), category.url) != (str(wanted_link.category), wanted_link.url):
        return False, "the link at Vipps is not the order's link"
    if bool(category.image_id) != bool(wanted_link.sources):
        return False, "the link at Vipps has no image" if wanted_link.sources else (
            "the link at Vipps shows an image the order no longer has"
        )
    return True, ""
