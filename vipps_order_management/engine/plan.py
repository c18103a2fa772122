"""``plan(order) -> SyncPlan``: what this shop would send to Vipps for an order, now.

The one place where the rules about what is sent live: which links (the adapter's, the
status page by default, the primary one for the v2 API, and the status page instead of the
receipt page while that page has no receipt to show), which images, which merchant serial
number, the receipt and whether it may go yet (final, and its total what the customer paid,
or accepted by staff as it is). The drain, the comparison with Vipps, the admin's
order page, ``vipps_om_sync --dry-run``, the previews and the template tags all read a plan.

A plan asks the shop's adapter lazily, one part at a time, and never lets the adapter's
exceptions escape: an error in the shop's code, or a payload the shop built that cannot be a
valid Vipps body, becomes a :class:`Problem` that names the method, the exception and the
field, so the order waits for staff at once instead of being retried for days. No HTTP here.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from django.db import models
from django.utils.translation import gettext

from .. import public_links
from ..adapters import ImageSource, Link, OrderAdapter, get_adapter, returned_list
from ..conf import CategoryAPI, app_settings, link_policy
from ..display import format_money
from ..exceptions import (
    PayloadValidationError,
    ReceiptValidationError,
    VippsConfigurationError,
    VippsError,
)
from ..link_policy import normalise
from ..models import OrderKey, order_key
from ..money import to_minor_units
from ..order_rows import attach_rows, attached_rows
from ..payloads import Category, CategoryType, PaymentType, Receipt, order_id_errors

__all__ = [
    "PaymentCheck",
    "PlannedLink",
    "Problem",
    "Refused",
    "SyncPlan",
    "Target",
    "plan",
    "plans_for",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """Why part of an order cannot be sent as the shop's code made it; it waits for staff.

    ``source`` names where it came from ("ShopOrderAdapter.get_order_lines"), ``errors`` the
    fields (``("orderLines[1].totalTaxAmount", "...")``) when a payload failed validation.
    """

    message: str
    source: str = ""
    errors: tuple[tuple[str, str], ...] = ()
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message

    @classmethod
    def from_exception(cls, exc: BaseException, adapter: OrderAdapter, method: str) -> Problem:
        """The exception's type, message and fields, with the adapter method it came from."""
        source = f"{type(adapter).__name__}.{_raising_method(exc, adapter) or method}"
        if isinstance(exc, PayloadValidationError):
            return cls(str(exc), source, tuple(exc.errors), exc)
        return cls(f"{type(exc).__name__}: {exc}", source, (), exc)

    @classmethod
    def invalid(cls, errors: Sequence[tuple[str, str]], subject: str, source: str) -> Problem:
        error = (
            ReceiptValidationError(errors)
            if subject == "receipt"
            else PayloadValidationError(errors, subject=subject)
        )
        return cls(str(error), source, tuple(errors), error)


class Refused(VippsError):
    """A part cannot be sent as the shop's code made it: it waits for staff with the reason."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _one_of(primary: Any, links: Sequence[Link]) -> Link | None:
    """``get_primary_link``'s answer: one of the order's links, or ``None``."""
    if primary is None or (isinstance(primary, Link) and primary in links):
        return primary
    raise TypeError(
        f"get_primary_link() returned {type(primary).__name__} {primary!r:.60}, not one of "
        "the links it was given or None"
    )


def _raising_method(exc: BaseException, adapter: OrderAdapter) -> str | None:
    """The innermost method of ``adapter`` in the traceback: the shop's code that raised."""
    found = None
    for frame, _line in traceback.walk_tb(exc.__traceback__):
        if frame.f_locals.get("self") is adapter:
            found = frame.f_code.co_name
    return found


@dataclass(frozen=True)
class Target:
    """Where the order's data goes at Vipps."""

    reference: str
    payment_type: PaymentType
    merchant_serial_number: str


@dataclass(frozen=True)
class PlannedLink:
    """A link as it will be sent: the category, the URL and the images it carries."""

    category: CategoryType
    url: str
    sources: tuple[ImageSource, ...] = ()

    def category_payload(self, image_id: str | None = None) -> Category:
        return Category(self.category, self.url, image_id)


@dataclass(frozen=True)
class PaymentCheck:
    """A receipt's total beside what the customer paid, in minor units.

    A receipt is proof of purchase: one whose total differs is held until the figures agree,
    or until staff accept this very receipt (by its content hash) as it is.
    """

    receipt: Receipt
    paid: int
    accepted: bool = False

    @property
    def currency(self) -> str:
        return str(self.receipt.bottom_line.currency)

    @property
    def total(self) -> int:
        return self.receipt.total_amount

    @property
    def difference(self) -> int:
        """What was paid, less the receipt's total."""
        return self.paid - self.total

    @property
    def held(self) -> bool:
        return self.difference != 0 and not self.accepted

    @cached_property
    def receipt_hash(self) -> str:
        return self.receipt.content_hash()

    def money(self, minor: int) -> str:
        return format_money(minor, self.currency)

    def problem(self, source: str) -> Problem:
        lines = "; ".join(
            f"{line.name} {self.money(line.signed_total)}" for line in self.receipt.order_lines
        )
        message = (
            f"the receipt's lines add up to {self.money(self.total)}, but "
            f"{self.money(self.paid)} was paid (a difference of {self.money(self.difference)}); "
            f"it is not sent. Lines: {lines}"
        )
        return Problem(message, source, (("orderLines", message),))


_UNSET: Any = object()


class SyncPlan:
    """What the shop would send for one order now; each part computed once, when first read.

    Read :attr:`target` (``None`` while the order has no Vipps payment), :attr:`links`,
    :attr:`receipt` and their problems (:attr:`target_problem`, :attr:`links_problem`,
    :attr:`receipt_problem`).
    """

    def __init__(self, order: models.Model, adapter: OrderAdapter | None = None) -> None:
        self.order = order
        self.adapter = adapter or get_adapter(order)
        self.key: OrderKey = order_key(order)
        self._problems: dict[str, Problem] = {}

    def __repr__(self) -> str:
        return f"<SyncPlan {self.order._meta.label}:{self.order.pk}>"

    # -- asking the adapter ----------------------------------------------------------------

    def _ask(self, part: str, method: str, call: Callable[[], T], default: T) -> T:
        """``call()``, or ``default`` with a :class:`Problem` recorded for ``part``."""
        try:
            return call()
        except VippsConfigurationError:
            raise  # the project, not this order, is misconfigured: the caller must see it
        except Exception as exc:  # the shop's code: any error waits for staff with its reason
            problem = Problem.from_exception(exc, self.adapter, method)
            logger.warning("%s cannot be sent: %s", self, problem, exc_info=exc)
            self._problems.setdefault(part, problem)
            return default

    def _problem(self, part: str) -> Problem | None:
        return self._problems.get(part)

    # -- where it goes -----------------------------------------------------------------------

    @cached_property
    def target(self) -> Target | None:
        """Reference, payment type and sales unit; ``None`` until the order has a Vipps payment."""
        adapter, order = self.adapter, self.order
        reference = self._ask("target", "get_reference", lambda: adapter.get_reference(order), None)
        payment_type = self._ask(
            "target", "get_payment_type", lambda: adapter.get_payment_type(order), None
        )
        if self._problem("target") or not reference or not payment_type:
            return None
        source = f"{type(adapter).__name__}.get_reference"
        errors = order_id_errors(reference if isinstance(reference, str) else str(reference))
        if not isinstance(reference, str):
            errors = [("orderId", f"must be a string, not {type(reference).__name__}")]
        if errors:
            self._problems["target"] = Problem.invalid(errors, "orderId", source)
            return None
        try:
            parsed = PaymentType.parse(payment_type)
        except ValueError as exc:
            self._problems["target"] = Problem.invalid(
                [("paymentType", str(exc).partition(": ")[2])],
                "paymentType",
                f"{type(adapter).__name__}.get_payment_type",
            )
            return None
        msn = self._ask(
            "target",
            "get_merchant_serial_number",
            lambda: adapter.get_merchant_serial_number(order),
            None,
        )
        if self._problem("target"):
            return None
        return Target(reference, parsed, str(msn or app_settings.MERCHANT_SERIAL_NUMBER or ""))

    @property
    def target_problem(self) -> Problem | None:
        self.target  # noqa: B018 - computing it records the problem
        return self._problem("target")

    # -- links and images ----------------------------------------------------------------------

    @property
    def category_api(self) -> CategoryAPI:
        return CategoryAPI(app_settings.CATEGORY_API)  # parsed already: typed for mypy

    @cached_property
    def all_links(self) -> list[Link]:
        """Every link of the order as the adapter gives them (stored rows, then its defaults,
        the status page unless it chose its own), before the link policy.

        A link to the order's own receipt page, while that page shows no receipt (see
        :attr:`receipt_shown`), is the order's status page instead: it says something true.
        """
        links: list[Link] = self._ask(
            "links",
            "get_links",
            lambda: returned_list(self.adapter.get_links(self.order), Link, "get_links"),
            [],
        )
        return self._status_page_for_receipt_page(links)

    def _status_page_for_receipt_page(self, links: list[Link]) -> list[Link]:
        pages = [public_links.own_page(link.url, self.order) for link in links]
        if not any(page and page[0] == "order_receipt" for page in pages) or self.receipt_shown:
            return links
        has_status_page = any(page and page[0] == "order_status" for page in pages)
        chosen = []
        for link, page in zip(links, pages, strict=True):
            if page is None or page[0] != "order_receipt":
                chosen.append(link)
            elif not has_status_page:
                url = public_links.status_page_beside(link.url, page[1])
                chosen.append(
                    dataclasses.replace(link, category=CategoryType.ORDER_CONFIRMATION, url=url)
                )
                has_status_page = True
        return chosen

    @cached_property
    def customer_links(self) -> list[Link]:
        """The links a customer is shown, on every surface (template tags, signed pages, API):
        those of :attr:`all_links` the link policy allows, each as it is sent."""
        policy = link_policy()
        shown = []
        for link in self.all_links:
            url = policy.clean(link.url)
            if url is not None:
                shown.append(dataclasses.replace(link, url=url))
        return shown

    @cached_property
    def images(self) -> list[ImageSource]:
        """The order's own images (stored rows, else the products'); a collage when several."""
        images: list[ImageSource] = self._ask(
            "links",
            "get_images",
            lambda: returned_list(self.adapter.get_images(self.order), ImageSource, "get_images"),
            [],
        )
        return images

    @cached_property
    def links(self) -> list[PlannedLink]:
        """The links that are sent: all of them (v3), or the one the adapter thinks best (v2)."""
        chosen = list(self.all_links)
        if self.category_api is CategoryAPI.V2 and chosen:
            primary = self._ask(
                "links",
                "get_primary_link",
                lambda: _one_of(self.adapter.get_primary_link(self.order, chosen), chosen),
                None,
            )
            chosen = [primary] if primary is not None else []
        planned = []
        errors = []
        v3 = self.category_api is CategoryAPI.V3
        policy = link_policy()
        for index, link in enumerate(chosen):
            sources = (link.image,) if link.image is not None else tuple(self.images)
            planned.append(PlannedLink(link.category, normalise(link.url), sources))
            for path, message in Category(link.category, link.url).errors(v3=v3, policy=policy):
                errors.append((f"links[{index}].{path}", message))
        if errors and not self._problem("links"):
            self._problems["links"] = Problem.invalid(
                errors, "category", f"{type(self.adapter).__name__}.get_links"
            )
        return planned

    @property
    def links_problem(self) -> Problem | None:
        self.links  # noqa: B018
        return self._problem("links")

    # -- the receipt ------------------------------------------------------------------------------

    @cached_property
    def is_final(self) -> bool:
        """Whether the order lines can no longer change: the receipt goes only then."""
        return bool(
            self._ask("final", "is_final", lambda: self.adapter.is_final(self.order), False)
        )

    @property
    def final_problem(self) -> Problem | None:
        """An error in the shop's ``is_final``: the receipt cannot be judged ready."""
        self.is_final  # noqa: B018
        return self._problem("final")

    @cached_property
    def _built_receipt(self) -> Receipt | None:
        """The receipt as the shop's adapter builds it, validated; ``None`` with a problem."""
        built = self._ask(
            "receipt", "get_receipt", lambda: self.adapter.get_receipt(self.order), None
        )
        if built is None:
            if not self._problem("receipt"):
                self._problems["receipt"] = Problem(
                    "returned None; return a Receipt", f"{type(self.adapter).__name__}.get_receipt"
                )
            return None
        source = f"{type(self.adapter).__name__}.get_receipt"
        if not isinstance(built, Receipt):
            self._problems["receipt"] = Problem(
                f"returned {type(built).__name__}; return a Receipt", source
            )
            return None
        if not isinstance(built.order_lines, list | tuple):
            self._problems["receipt"] = Problem(
                f"the order lines are {type(built.order_lines).__name__}, not a list of OrderLine "
                "(does get_order_lines() return its list?)",
                f"{type(self.adapter).__name__}.get_order_lines",
            )
            return None
        built.order_lines = list(built.order_lines)
        errors = built.errors(policy=link_policy())
        if errors:
            self._problems["receipt"] = Problem.invalid(errors, "receipt", source)
            return None
        return built

    @cached_property
    def payment_check(self) -> PaymentCheck | None:
        """The receipt's total beside what the customer paid (the adapter's
        ``get_paid_amount``); ``None`` without a receipt or without a paid amount."""
        built = self._built_receipt
        if built is None:
            return None
        paid = self._ask(
            "receipt", "get_paid_amount", lambda: self.adapter.get_paid_amount(self.order), None
        )
        if paid is None or self._problem("receipt") is not None:
            return None
        currency = str(built.bottom_line.currency)
        try:
            check = PaymentCheck(built, to_minor_units(paid, currency, field="paid amount"))
        except (TypeError, ValueError) as exc:
            source = f"{type(self.adapter).__name__}.get_paid_amount"
            self._problems["receipt"] = Problem(f"{type(exc).__name__}: {exc}", source, (), exc)
            return None
        if check.difference:
            state = attached_rows(self.order).state
            accepted = state.receipt_accepted_hash if state is not None else ""
            check = dataclasses.replace(check, accepted=accepted == check.receipt_hash)
        return check

    @cached_property
    def receipt(self) -> Receipt | None:
        """The receipt that may go: built, valid, and its total what was paid (or accepted)."""
        built, check = self._built_receipt, self.payment_check
        if built is None or self._problem("receipt") is not None:
            return None
        if check is not None and check.held:
            self._problems["receipt"] = check.problem(
                f"{type(self.adapter).__name__}.get_paid_amount"
            )
            return None
        return built

    @property
    def receipt_shown(self) -> bool:
        """Whether the order's printable receipt page shows a receipt: a final order, with a
        receipt that may go. Links to that page are offered only then."""
        return self.is_final and self.receipt is not None

    @property
    def receipt_problem(self) -> Problem | None:
        self.receipt  # noqa: B018
        return self._problem("receipt")

    def require_receipt(self) -> Receipt:
        """The receipt, or the shop's own exception (or a ``ReceiptValidationError``) raised."""
        receipt = self.receipt
        if receipt is not None:
            return receipt
        problem = self.final_problem or self._problem("receipt")
        assert problem is not None
        if problem.exception is not None:
            raise problem.exception
        raise ReceiptValidationError(problem.errors or [("", str(problem))])

    # -- describing it -----------------------------------------------------------------------------

    @cached_property
    def order_date(self) -> Any:
        """When the order was placed (the adapter's ``get_order_date``), or ``None``."""
        return self._ask(
            "display", "get_order_date", lambda: self.adapter.get_order_date(self.order), None
        )

    @cached_property
    def receipt_number(self) -> str | None:
        return self._ask(
            "display",
            "get_receipt_number",
            lambda: self.adapter.get_receipt_number(self.order),
            None,
        )

    # -- as JSON ------------------------------------------------------------------------------

    def as_json(self, kinds: Sequence[str] = ("links", "receipt")) -> dict[str, Any]:
        """The plan as the JSON a person reads: exactly the bodies that would be sent now, and
        why a part would not be (``vipps_om_sync --dry-run``, the admin's order page)."""
        target = self.target
        found: dict[str, Any] = {
            "order": f"{self.order._meta.label}:{self.order.pk}",
            "name": self.display_name,
            "orderId": target.reference if target else None,
            "paymentType": target.payment_type.value if target else None,
            "merchantSerialNumber": target.merchant_serial_number if target else None,
        }
        if self.target_problem is not None:
            found["note"] = str(self.target_problem)
            found["orderErrors"] = _errors(self.target_problem)
        elif target is None:
            found["note"] = gettext("The order has no Vipps payment yet: nothing would be sent.")
        if "links" in kinds:
            found.update(self._links_json())
        if "receipt" in kinds:
            found["receiptReady"] = self.is_final
            if not self.is_final:
                found["note"] = found.get("note") or gettext(
                    "The order is not final: the receipt waits until it is."
                )
            receipt = self.receipt
            found["receipt"] = receipt.to_api() if receipt is not None else None
            problem = self.final_problem or self.receipt_problem
            if problem is not None:
                found["receiptErrors"] = _errors(problem)
        return found

    def _links_json(self) -> dict[str, Any]:
        target = self.target
        categories: list[dict[str, Any]] = []
        for link in self.links:
            category = link.category_payload()
            body = (
                category.to_api_v3(target.reference, target.payment_type)
                if self.category_api is CategoryAPI.V3 and target is not None
                else category.to_api()
            )
            if link.sources:
                body["images"] = [source.name for source in link.sources]
            categories.append(body)
        images = [source.name for source in self.images]
        found: dict[str, Any] = {
            "categoryApi": self.category_api.value,
            "categories": categories,
            "images": images,
        }
        if len(images) > 1:
            found["imageNote"] = gettext("Several images are sent as one collage.")
        if self.links_problem is not None:
            found["categoryErrors"] = _errors(self.links_problem)
        return found

    @cached_property
    def display_name(self) -> str:
        return str(
            self._ask(
                "display",
                "get_display_name",
                lambda: self.adapter.get_display_name(self.order),
                str(self.order),
            )
        )


def _errors(problem: Problem) -> list[dict[str, str]]:
    """A problem as ``[{"path", "message"}]``: the fields, else where it came from."""
    if problem.errors:
        return [{"path": path, "message": message} for path, message in problem.errors]
    return [{"path": problem.source, "message": problem.message}]


def plan(order: models.Model, adapter: OrderAdapter | None = None) -> SyncPlan:
    """What the shop would send for ``order`` now (parts computed when read)."""
    return SyncPlan(order, adapter)


def plans_for(orders: Sequence[models.Model], *, outbox: bool = False) -> list[SyncPlan]:
    """Plans for many orders, with our rows and the adapters' relations loaded in bulk.

    A constant number of queries for the whole list (per order model): our links, images and
    state rows (and outbox rows with ``outbox=True``), and each adapter's
    ``select_related``/``prefetch_related`` applied to orders that were loaded without them.
    """
    orders = [order for order in orders if order is not None and order.pk is not None]
    by_adapter: dict[int, tuple[OrderAdapter, list[models.Model]]] = {}
    for order in orders:
        adapter = get_adapter(order)
        by_adapter.setdefault(id(adapter), (adapter, []))[1].append(order)
    for adapter, group in by_adapter.values():
        adapter.prefetch(group)  # what is already loaded (select_related, prefetched) is skipped
    attach_rows(orders, outbox=outbox)
    return [SyncPlan(order, get_adapter(order)) for order in orders]
