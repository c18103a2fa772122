"""The admin: what a shop adds to its own order admin, and the admin of our own tables.

A shop mixes :class:`VippsOrderAdminMixin` into its order ``ModelAdmin``::

    @admin.register(Order)
    class OrderAdmin(VippsOrderAdminMixin, admin.ModelAdmin):
        list_display = ["number", "status", "vipps_status"]
        list_filter = ["status", VippsStatusFilter]
        inlines = [OrderLinkInline, OrderImageInline]

and gets the actions (send now, resend links, re-upload image, requeue failed, fetch and
compare), a status column and filter, and a per-order Vipps page that sets the order beside
what Vipps holds, with a preview of the app. Every action goes through the services layer,
needs the change permission on the order model, reports per order, and turns a Vipps failure
into a message rather than an error page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import outbox, services
from .adapters import get_adapter
from .conf import app_settings
from .exceptions import VippsError
from .models import (
    OrderImage,
    OrderLink,
    OutboxItem,
    SyncAttempt,
    SyncStatus,
    UploadedImage,
    VippsOrder,
    matching_outer_order,
    sync_status,
)
from .display.preview import PreviewLink, render_preview

__all__ = [
    "OrderImageInline",
    "OrderLinkInline",
    "VippsOrderAdminMixin",
    "VippsStatusFilter",
]

#: Labels for the app preview, translated for the staff member looking at it.
PREVIEW_LABELS = {
    "RECEIPT": _("Receipt"),
    "ORDER_CONFIRMATION": _("Order confirmation"),
    "DELIVERY": _("Track delivery"),
    "TICKET": _("Ticket"),
    "BOOKING": _("Booking"),
    "GENERAL": _("More information"),
    "title": _("Payment details"),
    "order_details": _("Order details"),
    "shipping": _("Shipping"),
    "returned": _("Returned"),
    "discount": _("Discount"),
    "vat": _("VAT"),
    "net": _("Net"),
    "total": _("Total"),
    "receipt_number": _("Receipt no."),
    "no_receipt": _("No order lines have been sent for this payment."),
    "no_link": _("No link has been sent for this payment."),
    "preview_note": _("Preview: how the Vipps MobilePay app shows this order."),
}

_STATUS_COLOURS = {
    SyncStatus.SYNCED: "#2e7d32",
    SyncStatus.PENDING: "#8a6d00",
    SyncStatus.FAILED: "#c62828",
    SyncStatus.DRIFT: "#ad4e00",
    SyncStatus.NOT_SENT: "#666",
}


# ---------------------------------------------------------------------- status in SQL


def _status_exists(model: type[models.Model]) -> dict[str, Exists]:
    """One EXISTS subquery per fact the status is made of, for annotating a host queryset."""
    states = matching_outer_order(VippsOrder.objects.all(), model)
    rows = matching_outer_order(OutboxItem.objects.all(), model)
    return {
        "_vipps_dead": Exists(rows.filter(status=OutboxItem.Status.DEAD))
        | Exists(
            states.filter(
                Q(receipt_state=VippsOrder.ReceiptState.DEAD)
                | Q(links_state=VippsOrder.LinkState.DEAD)
            )
        ),
        "_vipps_drift": Exists(states.filter(receipt_state=VippsOrder.ReceiptState.DRIFT)),
        "_vipps_pending": Exists(rows.filter(status=OutboxItem.Status.PENDING)),
        "_vipps_sent": Exists(
            states.filter(
                Q(receipt_state=VippsOrder.ReceiptState.SENT)
                | Q(links_state=VippsOrder.LinkState.SENT)
            )
        ),
    }


def _status_from_annotations(order: models.Model) -> SyncStatus:
    if order._vipps_dead:
        return SyncStatus.FAILED
    if order._vipps_drift:
        return SyncStatus.DRIFT
    if order._vipps_pending:
        return SyncStatus.PENDING
    if order._vipps_sent:
        return SyncStatus.SYNCED
    return SyncStatus.NOT_SENT


class VippsStatusFilter(admin.SimpleListFilter):
    """Filter orders by their Vipps status: synced, pending, failed or differs from Vipps."""

    title = _("Vipps")
    parameter_name = "vipps_status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [
            (SyncStatus.SYNCED.value, SyncStatus.SYNCED.label),
            (SyncStatus.PENDING.value, SyncStatus.PENDING.label),
            (SyncStatus.FAILED.value, SyncStatus.FAILED.label),
            (SyncStatus.DRIFT.value, SyncStatus.DRIFT.label),
            (SyncStatus.NOT_SENT.value, SyncStatus.NOT_SENT.label),
        ]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        value = self.value()
        if not value:
            return queryset
        queryset = queryset.annotate(**_status_exists(queryset.model))
        dead, drift = Q(_vipps_dead=True), Q(_vipps_drift=True)
        pending, sent = Q(_vipps_pending=True), Q(_vipps_sent=True)
        conditions = {
            SyncStatus.FAILED.value: dead,
            SyncStatus.DRIFT.value: drift & ~dead,
            SyncStatus.PENDING.value: pending & ~dead & ~drift,
            SyncStatus.SYNCED.value: sent & ~pending & ~dead & ~drift,
            SyncStatus.NOT_SENT.value: ~sent & ~pending & ~dead & ~drift,
        }
        return queryset.filter(conditions.get(value, Q()))


# ---------------------------------------------------------------------- inlines


class OrderLinkInline(GenericTabularInline):
    """Links staff add to an order: a category and an https:// (or app) address."""

    model = OrderLink
    fields = ("category", "url", "image", "position", "category_id")
    readonly_fields = ("category_id",)
    extra = 0
    verbose_name = _("Vipps link")
    verbose_name_plural = _("Vipps links")


class OrderImageInline(GenericTabularInline):
    """Images shown with the order in the Vipps app (several become one collage)."""

    model = OrderImage
    fields = ("image", "thumbnail", "description", "position")
    readonly_fields = ("thumbnail",)
    extra = 0
    verbose_name = _("Vipps image")
    verbose_name_plural = _("Vipps images")

    @admin.display(description=_("Preview"))
    def thumbnail(self, obj: OrderImage) -> str:
        if not obj.pk or not obj.image:
            return "-"
        return format_html(
            '<img src="{}" alt="" style="max-height:80px;max-width:80px;object-fit:contain">',
            obj.image.url,
        )


# ---------------------------------------------------------------------- the mixin


class VippsOrderAdminMixin:
    """Mix into the shop's order ``ModelAdmin`` (before ``admin.ModelAdmin``)."""

    vipps_confirmation_template = "vipps_order_management/admin/confirm_action.html"
    vipps_order_template = "vipps_order_management/admin/order_vipps.html"

    # -- the status column

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return queryset.annotate(**_status_exists(queryset.model))

    @admin.display(description=_("Vipps"))
    def vipps_status(self, order: models.Model) -> str:
        status = (
            _status_from_annotations(order) if hasattr(order, "_vipps_dead") else _status_of(order)
        )
        url = reverse(
            f"admin:{order._meta.app_label}_{order._meta.model_name}_vipps", args=[order.pk]
        )
        return format_html(
            '<a href="{}" style="color:{};font-weight:600">{}</a>',
            url,
            _STATUS_COLOURS[status],
            status.label,
        )

    # -- actions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        # Added to the shop's own actions (None means the shop turned actions off). Django
        # filters them by their permissions: staff without change permission see none.
        if self.actions is not None:  # type: ignore[has-type]
            self.actions = [*self.actions, *VIPPS_ACTIONS]  # type: ignore[has-type]

    # -- the per-order page

    def get_urls(self) -> list[Any]:
        opts = self.model._meta  # type: ignore[attr-defined]
        view = self.admin_site.admin_view(self.vipps_order_view)  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/vipps/",
                view,
                name=f"{opts.app_label}_{opts.model_name}_vipps",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def vipps_order_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The order beside what Vipps holds: receipts, links, previews, the queue and the log."""
        order = get_object_or_404(self.get_queryset(request), pk=object_id)  # type: ignore[attr-defined]
        if not self.has_view_or_change_permission(request, order):  # type: ignore[attr-defined]
            raise PermissionDenied
        can_change = self.has_change_permission(request, order)  # type: ignore[attr-defined]
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            operation = _ORDER_OPERATIONS.get(request.POST.get("operation", ""))
            if operation is not None:
                _run_for_orders(self, request, [order], operation)
            return HttpResponseRedirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            **_order_page_context(order, fetch_remote=request.GET.get("remote") != "0"),
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "original": order,
            "title": _("Vipps: %(order)s") % {"order": get_adapter(order).get_display_name(order)},
            "can_change": can_change,
            "operations": [(key, label) for key, (label, _unused) in _ORDER_OPERATIONS.items()],
        }
        return TemplateResponse(request, self.vipps_order_template, context)


def _status_of(order: models.Model) -> SyncStatus:
    state = VippsOrder.objects.for_order(order).first()
    return sync_status(state, OutboxItem.objects.for_order(order))


# ---------------------------------------------------------------------- action plumbing


#: An operation on one order returns what to tell staff and whether it went well.
Operation = Callable[[models.Model], tuple[str, bool]]


def _send_now(order: models.Model) -> tuple[str, bool]:
    return _describe_results(services.sync_now(order))


def _resend_links(order: models.Model) -> tuple[str, bool]:
    return _describe_results(services.sync_now(order, force=True, kinds=["links"]))


def _reupload_image(order: models.Model) -> tuple[str, bool]:
    forgotten = services.forget_images(order)
    message, ok = _describe_results(services.sync_now(order, force=True, kinds=["links"]))
    note = ngettext(
        "%(count)d remembered upload dropped first",
        "%(count)d remembered uploads dropped first",
        forgotten,
    ) % {"count": forgotten}
    return f"{message} ({note})", ok


def _requeue(order: models.Model) -> tuple[str, bool]:
    count = outbox.requeue(
        OutboxItem.objects.for_order(order).filter(status=OutboxItem.Status.DEAD)
    )
    if not count:
        return str(_("nothing had failed")), True
    message = ngettext(
        "%(count)d failed send queued again", "%(count)d failed sends queued again", count
    ) % {"count": count}
    return message, True


def _compare(order: models.Model) -> tuple[str, bool]:
    comparison = services.compare_with_vipps(order)
    if comparison.local_error and comparison.remote is None:
        return comparison.local_error, False
    if comparison.remote is None:
        return str(_("Vipps holds nothing for this order")), False
    if comparison.remote.receipt is None:
        return str(_("Vipps holds a link but no receipt")), True
    if not comparison.differences:
        return str(_("the receipt matches what Vipps holds")), True
    count = len(comparison.differences)
    message = ngettext(
        "differs from Vipps in %(count)d field: %(fields)s",
        "differs from Vipps in %(count)d fields: %(fields)s",
        count,
    ) % {"count": count, "fields": ", ".join(d.path for d in comparison.differences[:5])}
    return message, False


#: What the per-order page's buttons and the bulk actions do: (label, operation).
_ORDER_OPERATIONS: dict[str, tuple[Any, Operation]] = {
    "send": (_("Send to Vipps now"), _send_now),
    "links": (_("Resend links"), _resend_links),
    "image": (_("Re-upload image"), _reupload_image),
    "requeue": (_("Requeue failed"), _requeue),
    "compare": (_("Fetch from Vipps and compare"), _compare),
}


def _describe_results(results: Iterable[services.SyncResult]) -> tuple[str, bool]:
    parts, ok = [], True
    for result in results:
        kind = _("links") if result.kind == "links" else _("receipt")
        if result.ok:
            parts.append(f"{kind}: {result.message.rstrip('.')}")
            continue
        ok = False
        if result.status == "retry":
            text = _("%(kind)s: will retry (%(error)s)")
        elif result.status == "dead":
            text = _("%(kind)s: failed (%(error)s)")
        else:
            text = _("%(kind)s: busy in another worker%(error)s")
        parts.append(str(text) % {"kind": kind, "error": result.message})
    return "; ".join(parts) or str(_("nothing to send")), ok


def _run_for_orders(
    model_admin: Any,
    request: HttpRequest,
    orders: Iterable[models.Model],
    operation: tuple[Any, Operation],
) -> None:
    """Run one operation per order: a message for each, then a summary. Never raises."""
    label, function = operation
    done = failed = 0
    for order in orders:
        name = get_adapter(order).get_display_name(order)
        try:
            message, ok = function(order)
        except VippsError as exc:
            failed += 1
            model_admin.message_user(request, f"{name}: {exc}", messages.ERROR)
            continue
        if ok:
            done += 1
        else:
            failed += 1
        model_admin.message_user(
            request, f"{name}: {message}", messages.SUCCESS if ok else messages.WARNING
        )
    if done + failed > 1:
        model_admin.message_user(
            request,
            _("%(action)s: %(done)d done, %(failed)d with problems.")
            % {"action": label, "done": done, "failed": failed},
            messages.INFO,
        )


def _bulk_action(key: str, description: Any) -> Callable[..., HttpResponse | None]:
    """An admin action that asks for confirmation when several orders are selected."""

    def action(
        model_admin: Any, request: HttpRequest, queryset: models.QuerySet
    ) -> HttpResponse | None:
        orders = list(queryset)
        if len(orders) > 1 and request.POST.get("post") != "yes":
            context = {
                **model_admin.admin_site.each_context(request),
                "title": _("Are you sure?"),
                "action_name": key_to_action[key],
                "action_label": description,
                "orders": orders,
                "selected": [str(order.pk) for order in orders],
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": model_admin.model._meta,
                "media": model_admin.media,
            }
            return TemplateResponse(request, model_admin.vipps_confirmation_template, context)
        _run_for_orders(model_admin, request, orders, _ORDER_OPERATIONS[key])
        return None

    return action


key_to_action = {
    "send": "send_to_vipps_now",
    "links": "resend_links",
    "image": "reupload_image",
    "requeue": "requeue_failed",
    "compare": "fetch_and_compare",
}


def _make_action(key: str) -> Callable[..., HttpResponse | None]:
    label = _ORDER_OPERATIONS[key][0]
    action = admin.action(description=label, permissions=["change"])(_bulk_action(key, label))
    action.__name__ = key_to_action[key]
    return action


send_to_vipps_now = _make_action("send")
resend_links = _make_action("links")
reupload_image = _make_action("image")
requeue_failed = _make_action("requeue")
fetch_and_compare = _make_action("compare")

#: The actions the mixin adds to a shop's order admin.
VIPPS_ACTIONS = (send_to_vipps_now, resend_links, reupload_image, requeue_failed, fetch_and_compare)


# ---------------------------------------------------------------------- the per-order page


def _preview(
    receipt: dict | None, links: list[PreviewLink], reference: str, image: bytes | None
) -> str:
    labels = {key: str(value) for key, value in PREVIEW_LABELS.items()}
    return render_preview(
        receipt=receipt,
        links=links,
        image=image,
        merchant=app_settings.SELLER_NAME or "",
        reference=reference,
        labels=labels,
    )


def _order_page_context(order: models.Model, *, fetch_remote: bool) -> dict[str, Any]:
    adapter = get_adapter(order)
    state = VippsOrder.objects.for_order(order).first()
    rows = list(OutboxItem.objects.for_order(order).order_by("kind"))
    reference = adapter.get_reference(order) or ""
    context: dict[str, Any] = {
        "state": state,
        "status": _status_of(order),
        "outbox_rows": rows,
        "attempts": list(SyncAttempt.objects.for_order(order)[:25]),
        "reference": reference,
        "remote_error": "",
    }
    comparison = None
    if fetch_remote and reference:
        try:
            comparison = services.compare_with_vipps(order)
        except VippsError as exc:
            context["remote_error"] = str(exc)
    if comparison is None:
        local_error = ""
        try:
            local_receipt = services.build_receipt(order) if reference else None
        except (VippsError, NotImplementedError) as exc:
            local_receipt, local_error = None, str(exc)
        links = adapter.get_links(order) if reference else []
        primary = adapter.get_primary_link(order, links)
        local_category = (primary.category, primary.url) if primary else None
        remote = None
        differences: list = []
    else:
        local_receipt, local_error = comparison.local_receipt, comparison.local_error
        local_category = (
            (str(comparison.local_category.category), comparison.local_category.url)
            if comparison.local_category
            else None
        )
        remote, differences = comparison.remote, comparison.differences
    local_body = local_receipt.to_api() if local_receipt is not None else None
    remote_body = remote.receipt.to_api() if remote is not None and remote.receipt else None
    prepared = services.order_image(order) if reference else None
    local_links = [PreviewLink(*local_category)] if local_category else []
    remote_links = (
        [PreviewLink(str(remote.category.category), remote.category.url, remote.category.image_id)]
        if remote is not None and remote.category is not None
        else []
    )
    context.update(
        {
            "local_error": local_error,
            "local_json": json.dumps(local_body, indent=2, ensure_ascii=False)
            if local_body
            else "",
            "remote_json": json.dumps(remote_body, indent=2, ensure_ascii=False)
            if remote_body
            else "",
            "remote_fetched": comparison is not None,
            "remote_category": remote.category if remote is not None else None,
            "local_category": local_category,
            "differences": differences,
            "local_preview": _preview(
                local_body, local_links, reference, prepared.data if prepared else None
            ),
            # Vipps never gives an image back; when it holds the very image the shop would
            # send (same content-addressed id), that image is what the app shows.
            "remote_preview": _preview(
                remote_body,
                remote_links,
                reference,
                prepared.data
                if prepared and remote_links and remote_links[0].image_id == prepared.image_id
                else None,
            )
            if comparison is not None
            else "",
            "fake_preview_url": _fake_preview_url(reference, adapter, order),
        }
    )
    return context


def _fake_preview_url(reference: str, adapter: Any, order: models.Model) -> str:
    """The fake Vipps's own preview page, when the project talks to the fake (development)."""
    base = str(app_settings.BASE_URL or "")
    if not reference or not base.startswith(("http://127.0.0.1", "http://localhost")):
        return ""
    payment_type = adapter.get_payment_type(order)
    msn = adapter.get_merchant_serial_number(order) or app_settings.MERCHANT_SERIAL_NUMBER
    return f"{base.rstrip('/')}/preview/{msn}/{str(payment_type).upper()}/{reference}"


# ---------------------------------------------------------------------- our own tables


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: staff look, nobody edits. Rows link to their order's page."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description=_("order"))
    def order_display(self, obj: Any) -> str:
        return _order_link(obj)


def _order_link(obj: Any) -> str:
    order = obj.order
    if order is None:
        return f"{obj.content_type}:{obj.object_id}"
    opts = order._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_vipps", args=[order.pk])
    except NoReverseMatch:  # the shop's admin for this model has no Vipps mixin
        return str(order)
    return format_html('<a href="{}">{}</a>', url, order)


@admin.register(OutboxItem)
class OutboxItemAdmin(ReadOnlyAdmin):
    list_display = (
        "order_display",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "short_error",
        "updated_at",
    )
    list_filter = ("status", "kind", "content_type", "last_status_code")
    search_fields = ("object_id", "last_error")
    date_hierarchy = "updated_at"
    actions = ["requeue"]

    @admin.display(description=_("last error"))
    def short_error(self, obj: OutboxItem) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description=_("Requeue selected rows"), permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        count = outbox.requeue(queryset)
        self.message_user(
            request,
            ngettext("%(count)d row queued again.", "%(count)d rows queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(SyncAttempt)
class SyncAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "order_display",
        "kind",
        "method",
        "endpoint",
        "status_code",
        "outcome",
        "duration_ms",
        "worker",
    )
    list_filter = ("outcome", "kind", "status_code", "content_type")
    search_fields = ("object_id", "error", "endpoint")
    date_hierarchy = "created_at"


@admin.register(VippsOrder)
class VippsOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_display",
        "reference",
        "payment_type",
        "receipt_state",
        "links_state",
        "last_synced_at",
    )
    list_filter = ("receipt_state", "links_state", "payment_type", "content_type")
    search_fields = ("reference", "object_id")


@admin.register(UploadedImage)
class UploadedImageAdmin(ReadOnlyAdmin):
    list_display = ("image_id", "merchant_serial_number", "width", "height", "size", "uploaded_at")
    list_filter = ("merchant_serial_number",)
    search_fields = ("image_id", "source_hash")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a row only makes the next send upload the image again.
        return super().has_delete_permission(request, obj)
