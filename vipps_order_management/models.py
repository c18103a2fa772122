"""Our own tables, attached to the shop's orders without touching the shop's tables.

Every row points at a host order through a GenericForeignKey with a *string* ``object_id``, so
integer and UUID primary keys both work and no migration ever depends on a host app.

* :class:`VippsOrder` — per-order state: what Vipps holds, and whether it still matches.
* :class:`OrderLink` / :class:`OrderImage` — links and images staff or code add to an order.
* :class:`UploadedImage` — which prepared images each merchant already has at Vipps.
* :class:`OutboxItem` — the queue: one row per order and kind, the only source of truth for
  what still has to be sent.
* :class:`SyncAttempt` — one row per HTTP call, for staff and support. Never secrets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import OuterRef, Value
from django.db.models.functions import Cast, Replace
from django.utils.translation import gettext_lazy as _

from .conf import link_policy
from .payloads import CategoryType, PaymentType, link_errors
from .storage import image_storage

__all__ = [
    "CustomerStatus",
    "LinkCategory",
    "OrderImage",
    "OrderLink",
    "OutboxItem",
    "PublicLinkKey",
    "SyncAttempt",
    "SyncKind",
    "SyncStatus",
    "UploadedImage",
    "VippsOrder",
    "image_storage",
    "keys_condition",
    "order_key",
]

#: How an order is named in our tables: its content type's id and its primary key as a string.
OrderKey = tuple[int, str]


class LinkCategory(models.TextChoices):
    """The six categories, with the labels customers and staff read."""

    ORDER_CONFIRMATION = CategoryType.ORDER_CONFIRMATION.value, _("Order confirmation")
    DELIVERY = CategoryType.DELIVERY.value, _("Delivery")
    RECEIPT = CategoryType.RECEIPT.value, _("Receipt")
    TICKET = CategoryType.TICKET.value, _("Ticket")
    BOOKING = CategoryType.BOOKING.value, _("Booking")
    GENERAL = CategoryType.GENERAL.value, _("General")


class PaymentTypeChoices(models.TextChoices):
    ECOM = PaymentType.ECOM.value, _("eCom / ePayment")
    RECURRING = PaymentType.RECURRING.value, _("Recurring")


class SyncKind(models.TextChoices):
    """What an outbox row sends. Links carry their images; the receipt stands alone."""

    LINKS = "links", _("Links and images")
    RECEIPT = "receipt", _("Receipt")


def validate_link_url(value: str) -> None:
    """Model-field validator: links open in the Vipps app, so https or an app's own scheme."""
    errors = link_errors("url", value, policy=link_policy())
    if errors:
        raise ValidationError(
            _("Enter an https:// address or an app link (myapp://...): %(problem)s"),
            code="invalid_link",
            params={"problem": errors[0][1]},
        )


class SyncStatus(models.TextChoices):
    """One word for where an order stands with Vipps, for staff (the admin, the API)."""

    SYNCED = "synced", _("Synced")
    PENDING = "pending", _("Pending")
    FAILED = "failed", _("Failed")
    DRIFT = "drift", _("Differs from Vipps")
    NOT_SENT = "none", _("Not sent")


class CustomerStatus(models.TextChoices):
    """What an order's life in the Vipps app means to its customer, on the shop's own pages.

    Staff words (*Failed*, *Differs from Vipps*) are for staff: a customer cannot act on them.
    """

    IN_APP = "in_app", _("In the Vipps app")
    ON_ITS_WAY = "on_its_way", _("On its way to the Vipps app")
    NONE = "none", _("Not in the Vipps app")


def matching_outer_order(
    queryset: models.QuerySet[Any], model: type[models.Model]
) -> models.QuerySet[Any]:
    """Rows of ``queryset`` that belong to the host order ``OuterRef("pk")`` of ``model``.

    For ``Exists()`` subqueries that filter or annotate a host queryset in one SQL statement.
    UUIDs are compared without dashes: SQLite stores them as 32 hex digits, we store ``str()``.
    """
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    outer = Cast(OuterRef("pk"), output_field=models.CharField())
    if isinstance(model._meta.pk, models.UUIDField):
        dashless = Replace("object_id", Value("-"), Value(""))
        annotated: models.QuerySet[Any] = queryset.annotate(_dashless_id=dashless)
        return annotated.filter(
            content_type=content_type, _dashless_id=Replace(outer, Value("-"), Value(""))
        )
    return queryset.filter(content_type=content_type, object_id=outer)


class OrderAttachedQuerySet(models.QuerySet[Any]):
    def for_order(self, order: models.Model) -> OrderAttachedQuerySet:
        content_type = ContentType.objects.get_for_model(order, for_concrete_model=False)
        return self.filter(content_type=content_type, object_id=str(order.pk))


class OrderAttached(models.Model):
    """Abstract base: a row that belongs to one host order."""

    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, verbose_name=_("order type")
    )
    object_id = models.CharField(_("order id"), max_length=64, db_index=True)
    order = GenericForeignKey("content_type", "object_id")

    objects = OrderAttachedQuerySet.as_manager()

    class Meta:
        abstract = True


class VippsOrder(OrderAttached):
    """What we know of one order at Vipps: the reference, and the state of receipt and links."""

    class ReceiptState(models.TextChoices):
        WAITING = "waiting", _("Waiting for the order to be final")
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        DRIFT = "drift", _("Differs from Vipps")
        DEAD = "dead", _("Failed")

    class LinkState(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        DEAD = "dead", _("Failed")

    merchant_serial_number = models.CharField(
        _("merchant serial number"), max_length=16, blank=True
    )
    payment_type = models.CharField(
        _("payment type"), max_length=16, choices=PaymentTypeChoices.choices, blank=True
    )
    reference = models.CharField(
        _("Vipps order id"),
        max_length=128,
        blank=True,
        help_text=_("The payment's reference (ePayment), orderId (eCom) or chargeId (Recurring)."),
    )
    receipt_state = models.CharField(
        _("receipt"), max_length=16, choices=ReceiptState.choices, default=ReceiptState.PENDING
    )
    receipt_hash = models.CharField(_("hash of the sent receipt"), max_length=64, blank=True)
    receipt_accepted_hash = models.CharField(
        _("hash of the receipt accepted as it is"),
        max_length=64,
        blank=True,
        help_text=_(
            "Staff accepted this receipt although its total differs from what was paid; "
            "only this very receipt may go."
        ),
    )
    receipt_sent_at = models.DateTimeField(_("receipt sent"), null=True, blank=True)
    receipt_sent_via = models.CharField(
        _("receipt sent via"),
        max_length=16,
        blank=True,
        help_text=_(
            "api: posted by this shop; epayment: embedded in the payment; remote: found at Vipps."
        ),
    )
    drift = models.JSONField(
        _("differences from Vipps"),
        default=list,
        blank=True,
        help_text=_("Fields where the order now differs from the receipt Vipps holds."),
    )
    drift_detected_at = models.DateTimeField(_("drift detected"), null=True, blank=True)
    links_state = models.CharField(
        _("links"), max_length=16, choices=LinkState.choices, default=LinkState.PENDING
    )
    links_hash = models.CharField(_("hash of the sent links"), max_length=64, blank=True)
    links_sent_at = models.DateTimeField(_("links sent"), null=True, blank=True)
    links_error = models.TextField(_("links problem"), blank=True)
    receipt_error = models.TextField(_("receipt problem"), blank=True)
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("Vipps order")
        verbose_name_plural = _("Vipps orders")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="vipps_om_order_unique_per_order"
            ),
            # Vipps keys an order by these three: one order of the shop each (engine.references).
            models.UniqueConstraint(
                fields=["merchant_serial_number", "payment_type", "reference"],
                condition=~models.Q(reference=""),
                name="vipps_om_order_unique_reference",
            ),
        ]
        indexes = [models.Index(fields=["receipt_state"], name="vipps_om_order_receipt_state")]

    def __str__(self) -> str:
        return self.reference or f"{self.content_type_id}:{self.object_id}"


class PublicLinkKey(OrderAttached):
    """The random key an order's customer links are signed with.

    A link names the order by its primary key *and* this key, so it stops opening anything once
    the order is deleted, even if another order later gets the same primary key (SQLite reuses
    the highest one; shops import and renumber): the new order gets a key of its own.
    """

    key = models.CharField(_("key"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer link key")
        verbose_name_plural = _("customer link keys")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="vipps_om_link_key_unique_per_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id}"


class OrderImage(OrderAttached):
    """An image shown with the order in the app (several become one collage)."""

    image = models.ImageField(
        _("image"), upload_to="vipps_order_management/images/%Y/%m/", storage=image_storage
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("order image")
        verbose_name_plural = _("order images")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.description or self.image.name or ""


class OrderLink(OrderAttached):
    """A link on the order in the Vipps app: its category decides the button text and icon."""

    category = models.CharField(_("category"), max_length=32, choices=LinkCategory.choices)
    url = models.CharField(_("URL"), max_length=2048, validators=[validate_link_url])
    image = models.ForeignKey(
        OrderImage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="links",
        verbose_name=_("image"),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    category_id = models.CharField(
        _("Vipps category id"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("Set by Vipps when the link is sent through the v3 categories API."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order link")
        verbose_name_plural = _("order links")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.url}"


class UploadedImage(models.Model):
    """An image a merchant has at Vipps (or one being uploaded). Images are only ever added.

    A row without ``image_id`` is a claim: a worker is preparing and uploading the image until
    ``claimed_until``; others wait for it instead of uploading it again. A row with ``error``
    is a picture that cannot be made into a Vipps image; orders show no image until it changes.
    """

    merchant_serial_number = models.CharField(_("merchant serial number"), max_length=16)
    source_hash = models.CharField(
        _("source hash"),
        max_length=64,
        help_text=_("SHA-256 of the original image bytes, so a known image is not prepared again."),
    )
    image_id = models.CharField(_("Vipps image id"), max_length=128, blank=True)
    width = models.PositiveIntegerField(_("width"), default=0)
    height = models.PositiveIntegerField(_("height"), default=0)
    size = models.PositiveIntegerField(_("bytes"), default=0)
    error = models.TextField(_("why it cannot be used"), blank=True)
    claimed_by = models.CharField(_("being uploaded by"), max_length=32, blank=True, editable=False)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True, editable=False)
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("uploaded image")
        verbose_name_plural = _("uploaded images")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_serial_number", "source_hash"],
                name="vipps_om_image_unique_source",
            )
        ]
        indexes = [
            models.Index(fields=["merchant_serial_number", "image_id"], name="vipps_om_image_id")
        ]

    def __str__(self) -> str:
        return self.image_id or self.source_hash


class OutboxQuerySet(OrderAttachedQuerySet):
    def due(self, now: Any) -> OutboxQuerySet:
        """Pending rows whose time has come and that no live worker holds."""
        return self.filter(status=OutboxItem.Status.PENDING, next_attempt_at__lte=now).filter(
            models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now)
        )


class OutboxItem(OrderAttached):
    """Something to send for one order: one row per (order, kind), coalescing every change.

    No payload is stored: it is built from the order as it is when the row is sent, so ten
    saves make one send. ``generation`` grows with every change; a worker acknowledges only
    the generation it claimed, so a change made during a send is sent afterwards.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        DEAD = "dead", _("Failed")

    kind = models.CharField(_("kind"), max_length=16, choices=SyncKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    generation = models.PositiveBigIntegerField(_("generation"), default=1)
    force = models.BooleanField(
        _("force"), default=False, help_text=_("Send even if nothing changed since the last send.")
    )
    priority = models.SmallIntegerField(_("priority"), default=0)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    pending_since = models.DateTimeField(
        _("pending since"),
        help_text=_("A row is given up once it has waited too long, counted from this time."),
    )
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    leased_by = models.CharField(_("leased by"), max_length=100, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last status code"), null=True, blank=True
    )
    result = models.CharField(_("result"), max_length=200, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    dead_at = models.DateTimeField(_("failed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # the outbox's own queryset (due rows...) in place of the base's; mypy reads the
    # generated manager as a class variable the base declared
    objects = OutboxQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("outbox item")
        verbose_name_plural = _("outbox")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "kind"], name="vipps_om_outbox_unique_kind"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="vipps_om_outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.content_type_id}:{self.object_id}"


class SyncAttempt(OrderAttached):
    """One call to Vipps (or one local refusal) made while syncing an order."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        ALREADY_THERE = "already_there", _("Already at Vipps")
        TRANSIENT = "transient", _("Temporary failure")
        PERMANENT = "permanent", _("Refused")

    outbox_item = models.ForeignKey(
        OutboxItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attempts_log",
        verbose_name=_("outbox item"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=SyncKind.choices)
    method = models.CharField(_("method"), max_length=8, blank=True)
    endpoint = models.CharField(_("endpoint"), max_length=200)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.TextField(_("error"), blank=True)
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    merchant_serial_number = models.CharField(
        _("merchant serial number"),
        max_length=16,
        blank=True,
        help_text=_("The sales unit the call was made for."),
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("sync attempt")
        verbose_name_plural = _("sync attempts")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} -> {self.status_code or self.outcome}"


# ---------------------------------------------------------------------- keys of orders


def order_key(order: models.Model) -> OrderKey:
    """``(content_type_id, str(pk))``: how our tables name a host order (no query once cached)."""
    if order.pk is None:
        raise ValueError("save the order before syncing it with Vipps")
    content_type = ContentType.objects.get_for_model(order, for_concrete_model=False)
    return content_type.pk, str(order.pk)


def keys_condition(keys: Iterable[OrderKey]) -> models.Q:
    """A filter for the rows of these orders: one ``IN`` per content type."""
    by_type: dict[int, set[str]] = defaultdict(set)
    for content_type_id, object_id in keys:
        by_type[content_type_id].add(object_id)
    if not by_type:
        return models.Q(pk__in=[])
    return reduce(
        or_,
        (
            models.Q(content_type_id=content_type_id, object_id__in=sorted(ids))
            for content_type_id, ids in sorted(by_type.items())
        ),
    )
