"""What a shop mixes into its order admin: the status column and filter, inlines, actions.

Every action goes through :mod:`vipps_order_management.services`, needs the change permission
on the order model, reports per order, and turns any failure into a message rather than an
error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import django
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.contrib.contenttypes.admin import GenericTabularInline
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import loader
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _

from ..engine.plan import plan
from ..engine.status import status_expression, status_of
from ..models import OrderImage, OrderLink, OutboxItem, SyncStatus
from ..order_rows import attached_rows
from .filters import VippsSalesUnitFilter
from .operations import (
    ACCEPT_RECEIPT,
    ORDER_OPERATIONS,
    SEND_IN_REQUEST_MAX,
    Follow,
    accept_held_receipt,
    refused_in_bulk,
    run_for_orders,
)
from .order_page import order_page_context

__all__ = [
    "BREADCRUMBS_AS_LIST",
    "VIPPS_ACTIONS",
    "OrderImageInline",
    "OrderLinkInline",
    "VippsOrderAdminMixin",
    "VippsSalesUnitFilter",
    "VippsStatusFilter",
]

logger = logging.getLogger(__name__)

#: The annotation that carries each order's status (computed in SQL by ``status_expression``).
STATUS_ANNOTATION = "_vipps_status"

#: Django 6.1's admin writes breadcrumbs as ``<ol class="breadcrumbs">`` with one ``<li>`` per
#: crumb, and styles only that; 5.2 and 6.0 write ``<div class="breadcrumbs">`` with
#: ``&rsaquo;`` between the links. Our pages write what the running admin writes.
BREADCRUMBS_AS_LIST = django.VERSION[:2] >= (6, 1)

_STATUS_COLOURS = {
    SyncStatus.SYNCED: "#2e7d32",
    SyncStatus.PENDING: "#8a6d00",
    SyncStatus.FAILED: "#c62828",
    SyncStatus.DRIFT: "#ad4e00",
    SyncStatus.NOT_SENT: "#666",
}


class VippsStatusFilter(admin.SimpleListFilter):
    """Filter orders by their Vipps status: synced, pending, failed or differs from Vipps."""

    title = _("Vipps")
    parameter_name = "vipps_status"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, Any]]:
        return [
            (SyncStatus.SYNCED.value, SyncStatus.SYNCED.label),
            (SyncStatus.PENDING.value, SyncStatus.PENDING.label),
            (SyncStatus.FAILED.value, SyncStatus.FAILED.label),
            (SyncStatus.DRIFT.value, SyncStatus.DRIFT.label),
            (SyncStatus.NOT_SENT.value, SyncStatus.NOT_SENT.label),
        ]

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        value = self.value()
        if value not in SyncStatus.values:
            return queryset
        if STATUS_ANNOTATION not in queryset.query.annotations:
            queryset = queryset.annotate(**{STATUS_ANNOTATION: status_expression(queryset.model)})
        return queryset.filter(**{STATUS_ANNOTATION: value})


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

if TYPE_CHECKING:
    _OrderAdmin = admin.ModelAdmin[Any]
else:
    _OrderAdmin = object  # a mixin: the shop's ModelAdmin comes after it


class VippsOrderAdminMixin(_OrderAdmin):
    """Mix into the shop's order ``ModelAdmin`` (before ``admin.ModelAdmin``)."""

    vipps_confirmation_template = "vipps_order_management/admin/confirm_action.html"
    vipps_order_template = "vipps_order_management/admin/order_vipps.html"
    #: Wraps the order's change form to add a "Vipps" button to its object tools. It extends
    #: whatever the change form would have been without it (the admin's own
    #: ``change_form_template``, else Django's per-model and per-app lookup), so a shop's own
    #: change form keeps working and gets the button too. ``None`` leaves the change form alone.
    vipps_change_form_template: str | None = "vipps_order_management/admin/change_form.html"

    # -- the status column

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        queryset = super().get_queryset(request)
        annotated: models.QuerySet[Any] = queryset.annotate(
            **{STATUS_ANNOTATION: status_expression(queryset.model)}
        )
        return annotated

    @admin.display(description=_("Vipps"))
    def vipps_status(self, order: models.Model) -> str:
        value = getattr(order, STATUS_ANNOTATION, None)
        status = SyncStatus(value) if value is not None else _status_of(order)
        url = reverse(
            f"admin:{order._meta.app_label}_{order._meta.model_name}_vipps",
            args=[quote(order.pk)],
            current_app=self.admin_site.name,
        )
        return format_html(
            '<a href="{}" style="color:{};font-weight:600">{}</a>',
            url,
            _STATUS_COLOURS[status],
            status.label,
        )

    # -- actions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Added to the shop's own actions (None means the shop turned actions off). Django
        # filters them by their permissions: staff without change permission see none.
        if self.actions is not None:
            self.actions = [*self.actions, *VIPPS_ACTIONS]

    # -- the per-order page

    def get_urls(self) -> list[Any]:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.vipps_order_view)
        return [
            path(
                "<path:object_id>/vipps/",
                view,
                name=f"{opts.app_label}_{opts.model_name}_vipps",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: models.Model | None = None,
    ) -> HttpResponse:
        """The change form, wrapped in :attr:`vipps_change_form_template` for a saved order."""
        response = super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
        wrapper = self.vipps_change_form_template
        if not wrapper or not change or obj is None or not isinstance(response, TemplateResponse):
            return response
        response.context_data = {
            **(response.context_data or {}),
            "vipps_change_form_base": self._vipps_change_form_base(response.template_name),
        }
        response.template_name = wrapper
        return response

    def _vipps_change_form_base(self, names: Any) -> Any:
        """The template the change form extends: the one the admin chose, never ours again."""
        template = loader.select_template([names] if isinstance(names, str) else list(names))
        if template.origin.template_name != self.vipps_change_form_template:
            return template
        opts = self.model._meta
        return loader.select_template(  # what Django renders when no template is named
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        )

    def vipps_breadcrumbs(
        self, request: HttpRequest, current: Any, order: models.Model | None = None
    ) -> list[tuple[str | None, Any]]:
        """``(url, label)`` from the admin's home to ``current`` (the page, without a link)."""
        opts = self.model._meta
        site = self.admin_site.name
        can_see_list = self.has_view_or_change_permission(request)
        crumbs: list[tuple[str | None, Any]] = [
            (reverse("admin:index", current_app=site), _("Home")),
            (
                reverse("admin:app_list", kwargs={"app_label": opts.app_label}, current_app=site),
                opts.app_config.verbose_name,
            ),
            (
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=site)
                if can_see_list
                else None,
                capfirst(opts.verbose_name_plural),
            ),
        ]
        if order is not None:
            crumbs.append(
                (
                    reverse(
                        f"admin:{opts.app_label}_{opts.model_name}_change",
                        args=[quote(order.pk)],
                        current_app=site,
                    ),
                    Truncator(str(order)).words(18),
                )
            )
        crumbs.append((None, current))
        return crumbs

    def vipps_order_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The order beside what Vipps holds: receipts, links, previews, the queue and the log."""
        # As the admin's change view: the permission first (so that staff without it cannot
        # tell which orders exist), then the order; a key that is no key is "not found".
        order = self.get_object(request, unquote(object_id))
        if not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        if order is None:
            raise Http404
        can_change = self.has_change_permission(request, order)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            key = request.POST.get("operation", "")
            if key == ACCEPT_RECEIPT:
                receipt_hash = request.POST.get("receipt_hash", "")
                by = request.user.get_username()
                accept_held_receipt(order, receipt_hash, _notify(self, request), by=by)
            elif key in ORDER_OPERATIONS:
                run_for_orders([order], key, _notify(self, request))
            return HttpResponseRedirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),
            **order_page_context(order, fetch_remote=request.GET.get("remote") != "0"),
            "opts": self.model._meta,
            "original": order,
            "title": _("Vipps: %(order)s") % {"order": plan(order).display_name},
            "can_change": can_change,
            "operations": [(key, label) for key, (label, _unused) in ORDER_OPERATIONS.items()],
            "vipps_breadcrumbs": self.vipps_breadcrumbs(request, _("Vipps"), order),
            "vipps_breadcrumbs_as_list": BREADCRUMBS_AS_LIST,
        }
        return TemplateResponse(request, self.vipps_order_template, context)


def _status_of(order: models.Model) -> SyncStatus:
    rows = attached_rows(order)
    return status_of(rows.state, rows.outbox)


def _notify(model_admin: Any, request: HttpRequest) -> Callable[[int, str], None]:
    """How the admin tells staff: its own messages."""
    return lambda level, text: model_admin.message_user(request, text, level)


def _bulk_action(key: str, description: Any) -> Callable[..., HttpResponse | None]:
    """An admin action that asks for confirmation when several orders are selected."""

    def action(
        model_admin: Any, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> HttpResponse | None:
        orders = list(queryset)
        queued = len(orders) > SEND_IN_REQUEST_MAX
        if refused_in_bulk(key, len(orders)):  # nothing to confirm: it says to select fewer
            run_for_orders(orders, key, _notify(model_admin, request))
            return None
        if len(orders) > 1 and request.POST.get("post") != "yes":
            context = {
                **model_admin.admin_site.each_context(request),
                "title": _("Are you sure?"),
                "action_name": key_to_action[key],
                "action_label": description,
                "orders": orders,
                "queued": queued,
                "send_in_request_max": SEND_IN_REQUEST_MAX,
                "selected": [str(order.pk) for order in orders],
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": model_admin.model._meta,
                "media": model_admin.media,
                "vipps_breadcrumbs": model_admin.vipps_breadcrumbs(request, description),
                "vipps_breadcrumbs_as_list": BREADCRUMBS_AS_LIST,
            }
            return TemplateResponse(request, model_admin.vipps_confirmation_template, context)
        follow = _outbox_follow(model_admin, request, orders) if queued else None
        run_for_orders(orders, key, _notify(model_admin, request), follow=follow)
        return None

    return action


#: Queued orders are linked to by their ids in the outbox's list up to this many (a longer
#: address is refused by some servers); more link to the model's pending rows.
OUTBOX_LINK_MAX_IDS = 100


def _outbox_follow(
    model_admin: Any, request: HttpRequest, orders: list[models.Model]
) -> Follow | None:
    """The outbox's list filtered to these orders, if this admin site shows it to the user."""
    site = model_admin.admin_site
    if not site.is_registered(OutboxItem):
        return None
    if not site.get_model_admin(OutboxItem).has_view_permission(request):
        return None
    content_type = ContentType.objects.get_for_model(model_admin.model, for_concrete_model=False)
    query = {"content_type__id__exact": str(content_type.pk)}
    ids = [str(order.pk) for order in orders]
    if len(ids) <= OUTBOX_LINK_MAX_IDS and not any("," in pk for pk in ids):
        query["object_id__in"] = ",".join(ids)
    else:
        query["status__exact"] = OutboxItem.Status.PENDING.value
    url = reverse("admin:vipps_order_management_outboxitem_changelist", current_app=site.name)
    return f"{url}?{urlencode(query)}", _("See them in the outbox")


key_to_action = {
    "send": "send_to_vipps_now",
    "links": "resend_links",
    "image": "reupload_image",
    "requeue": "requeue_failed",
    "compare": "fetch_and_compare",
}


def _make_action(key: str) -> Callable[..., HttpResponse | None]:
    label = ORDER_OPERATIONS[key][0]
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
