"""Serializers of the API: validation errors name the field, messages are translatable."""

from __future__ import annotations

from typing import Any, cast

from django.core.files.base import ContentFile
from django.db import models
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..adapters import Link
from ..engine.plan import SyncPlan
from ..exceptions import ImageValidationError
from ..images import prepare_image
from ..models import (
    LinkCategory,
    OrderImage,
    OrderLink,
    OutboxItem,
    SyncAttempt,
    SyncKind,
    SyncStatus,
    VippsOrder,
)

__all__ = [
    "MAX_UPLOAD_BYTES",
    "POSITION_MAX",
    "CustomerLinkSerializer",
    "CustomerOrderSerializer",
    "OrderImageSerializer",
    "OrderLinkSerializer",
    "OutboxItemSerializer",
    "SyncAttemptSerializer",
    "SyncRequestSerializer",
    "SyncResponseSerializer",
    "SyncStatusSerializer",
    "customer_order_data",
    "order_label",
]

#: Largest image upload accepted; Vipps takes at most 2 MB after preparation, and a product
#: photo straight from a camera fits well within this.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}

POSITION_MAX = 2_147_483_647
"""The largest ``position`` of a link or image: the range of a ``PositiveIntegerField`` that
every database Django supports holds. The model field's own validators follow the database in
use (SQLite takes 64 bits), so the API states the portable range itself, and a larger number is
a field error rather than a database error."""

#: ``position`` as the API takes it: a field error outside the model field's portable range.
_POSITION = {"min_value": 0, "max_value": POSITION_MAX}

NOW_SENDS_EVERYTHING = _("Sending now always sends everything; leave kinds out.")


def order_label(order: models.Model) -> str:
    """``app_label.model`` as used in the API's URLs."""
    return order._meta.label_lower


# ---------------------------------------------------------------------- staff: links and images


class OrderLinkSerializer(serializers.ModelSerializer[Any]):
    """A stored link of an order; ``url`` runs the model's validator (https or an app link)."""

    category_label = serializers.CharField(source="get_category_display", read_only=True)
    image = serializers.PrimaryKeyRelatedField(
        queryset=OrderImage.objects.none(),
        allow_null=True,
        required=False,
        help_text=_(
            "An image of the same order to show with this link instead of the order's own image."
        ),
    )

    class Meta:
        model = OrderLink
        fields = [
            "id",
            "category",
            "category_label",
            "url",
            "image",
            "position",
            "category_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["category_id", "created_at", "updated_at"]
        extra_kwargs = {"position": _POSITION}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        order = self.context.get("order")
        if order is not None:
            # Only images of this order can be chosen: others are "does not exist".
            image = cast(serializers.RelatedField[OrderImage, Any, Any], self.fields["image"])
            # mypy reads the stubs' `QuerySet | Manager` attribute as the Manager's descriptor
            image.queryset = OrderImage.objects.for_order(order)  # type: ignore[arg-type]


class OrderImageSerializer(serializers.ModelSerializer[Any]):
    """An uploaded order image; refused unless it can be made into an image Vipps accepts.

    What is stored is the prepared image (square, at most 2 MB, no metadata such as GPS
    positions), i.e. exactly what Vipps will receive.
    """

    image = serializers.FileField(
        allow_empty_file=False,
        help_text=_("A PNG or JPEG (other common formats are converted), at least 167 px high."),
    )

    class Meta:
        model = OrderImage
        fields = ["id", "image", "description", "position", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"position": _POSITION}

    def validate_image(self, upload: Any) -> ContentFile[bytes]:
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(
                _("The image is %(size)s; upload at most %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(MAX_UPLOAD_BYTES)},
                code="too_large",
            )
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        try:
            prepared = prepare_image(data, max_input_bytes=MAX_UPLOAD_BYTES)
        except ImageValidationError as exc:
            raise serializers.ValidationError(exc.reason, code="invalid_image") from None
        name = f"{prepared.image_id[:32]}.{_EXTENSIONS[prepared.format]}"
        return ContentFile(prepared.data, name=name)


# ---------------------------------------------------------------------- staff: sync


class SyncRequestSerializer(serializers.Serializer[Any]):
    """What to send: ``now`` sends while the caller waits; else the order is queued."""

    now = serializers.BooleanField(
        default=False,
        help_text=_("Send now and wait for the result, instead of queueing for the worker."),
    )
    force = serializers.BooleanField(
        default=False,
        help_text=_("Send links even if unchanged, and compare the receipt with Vipps's copy."),
    )
    kinds = serializers.MultipleChoiceField(
        choices=SyncKind.choices,
        required=False,
        help_text=_("What to queue (default: everything). Not combined with now."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("now") and attrs.get("kinds"):
            raise serializers.ValidationError(
                {"kinds": NOW_SENDS_EVERYTHING},
                code="invalid",
            )
        return attrs


class SyncResultSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    status = serializers.CharField(
        help_text=_("done, changed (sent, but changed meanwhile), retry, dead or released.")
    )
    ok = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)


class SyncResponseSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    queued = serializers.ListField(child=serializers.CharField(), required=False)
    force = serializers.BooleanField()
    ok = serializers.BooleanField(required=False)
    results = SyncResultSerializer(many=True, required=False)


class VippsOrderStateSerializer(serializers.ModelSerializer[Any]):
    receipt_state_label = serializers.CharField(source="get_receipt_state_display", read_only=True)
    links_state_label = serializers.CharField(source="get_links_state_display", read_only=True)

    class Meta:
        model = VippsOrder
        fields = [
            "reference",
            "payment_type",
            "merchant_serial_number",
            "receipt_state",
            "receipt_state_label",
            "receipt_error",
            "receipt_sent_at",
            "receipt_sent_via",
            "drift",
            "drift_detected_at",
            "links_state",
            "links_state_label",
            "links_error",
            "links_sent_at",
            "last_synced_at",
        ]
        read_only_fields = fields


class OutboxItemSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = OutboxItem
        fields = [
            "kind",
            "status",
            "attempts",
            "force",
            "next_attempt_at",
            "pending_since",
            "last_error",
            "last_status_code",
            "result",
            "done_at",
            "dead_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderRefSerializer(serializers.Serializer[Any]):
    model = serializers.CharField(help_text=_("app_label.model, as in the URL."))
    pk = serializers.CharField()
    name = serializers.CharField()


class SyncStatusSerializer(serializers.Serializer[Any]):
    """Where the order stands with Vipps; ``vipps`` is null before anything was sent."""

    order = OrderRefSerializer()
    status = serializers.ChoiceField(
        choices=SyncStatus.choices,
        help_text=_("One word for where the order stands; the worst state wins."),
    )
    status_label = serializers.CharField()
    vipps = VippsOrderStateSerializer(allow_null=True)
    outbox = OutboxItemSerializer(many=True)


class SyncAttemptSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = SyncAttempt
        fields = [
            "id",
            "kind",
            "method",
            "endpoint",
            "status_code",
            "outcome",
            "duration_ms",
            "error",
            "merchant_serial_number",
            "worker",
            "created_at",
        ]
        read_only_fields = fields


# ---------------------------------------------------------------------- customers


def customer_link_data(link: Link) -> dict[str, Any]:
    """A link as the customer sees it (stored rows and the adapter's defaults alike)."""
    category = LinkCategory(link.category.value)
    return {
        "category": category.value,
        "label": str(category.label),
        "url": link.url,
        "position": link.position,
        "has_image": link.image is not None,
    }


def customer_order_data(sync_plan: SyncPlan) -> dict[str, Any]:
    """One of the customer's orders with its links, for :class:`CustomerOrderSerializer`.

    The links are the plan's :attr:`~SyncPlan.customer_links`, as the template tags and the
    signed pages show them.
    """
    order = sync_plan.order
    return {
        "model": order_label(order),
        "pk": str(order.pk),
        "name": sync_plan.display_name,
        "has_image": bool(sync_plan.images),
        "links": [customer_link_data(link) for link in sync_plan.customer_links],
    }


class CustomerLinkSerializer(serializers.Serializer[Any]):
    category = serializers.ChoiceField(choices=LinkCategory.choices)
    # DRF's metaclass takes declared fields off the class, so this does not replace Field.label
    label = serializers.CharField(  # type: ignore[assignment]
        help_text=_("The category's name in the customer's language.")
    )
    url = serializers.CharField()
    position = serializers.IntegerField()
    has_image = serializers.BooleanField(help_text=_("Whether the link has an image of its own."))


class CustomerOrderSerializer(serializers.Serializer[Any]):
    model = serializers.CharField(help_text=_("app_label.model, as in the URL."))
    pk = serializers.CharField()
    name = serializers.CharField()
    has_image = serializers.BooleanField(
        help_text=_("Whether the order has an image to show with its links.")
    )
    links = CustomerLinkSerializer(many=True)
