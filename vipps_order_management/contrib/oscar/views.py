"""The dashboard's Vipps views: the orders that need attention, and the staff actions.

Access is decided twice, as Oscar's own order views do it: by the URL's permissions (the app
config's ``permissions_map``: anonymous users are sent to the dashboard login, others without
the permission get a 403), and by Oscar's ``queryset_orders_for_user``, so a partner's staff
act only on orders with their partner's lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views import generic
from oscar.core.loading import get_class, get_model

from ...admin.operations import (
    ACCEPT_RECEIPT,
    ORDER_OPERATIONS,
    Follow,
    accept_held_receipt,
    run_for_orders,
)
from ...engine.status import status_expression
from ...models import SyncStatus

__all__ = ["BulkOperationView", "OrderOperationView", "VippsOrderListView", "orders_for_user"]

STATUS_ANNOTATION = "vipps_status"
#: What the list shows unless asked for a status: what needs staff.
ATTENTION = (SyncStatus.FAILED.value, SyncStatus.DRIFT.value, SyncStatus.PENDING.value)


def orders_for_user(user: Any) -> models.QuerySet[Any]:
    """The orders Oscar's dashboard lets ``user`` see (all for staff, a partner's for partners)."""
    queryset_orders_for_user = get_class("dashboard.orders.views", "queryset_orders_for_user")
    return queryset_orders_for_user(user)


if TYPE_CHECKING:
    _ListView = generic.ListView[Any]
else:
    _ListView = generic.ListView  # generic only in django-stubs


class VippsOrderListView(_ListView):
    """Orders by Vipps status; by default those that failed, differ from Vipps or are pending."""

    template_name = "vipps_order_management/oscar/order_list.html"
    context_object_name = "orders"
    paginate_by = 20

    def status_filter(self) -> tuple[str, ...]:
        value = self.request.GET.get("status", "")
        return (value,) if value in SyncStatus.values else ATTENTION

    def get_queryset(self) -> models.QuerySet[Any]:
        order_model = get_model("order", "Order")
        queryset = orders_for_user(self.request.user)
        return (
            queryset.annotate(**{STATUS_ANNOTATION: status_expression(order_model)})
            .filter(**{f"{STATUS_ANNOTATION}__in": self.status_filter()})
            .order_by("-date_placed", "-pk")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        for order in context["orders"]:
            order.vipps_status_label = SyncStatus(getattr(order, STATUS_ANNOTATION)).label
        context["statuses"] = SyncStatus.choices
        context["current_status"] = self.request.GET.get("status", "")
        context["title"] = _("Vipps")
        return context


def _notify(request: HttpRequest) -> Any:
    """How the dashboard tells staff: Django's messages, which Oscar's pages show."""
    return lambda level, text: messages.add_message(request, level, text)


class _OperationView(generic.View):
    http_method_names = ["post"]

    def operation(self) -> str | None:
        key = self.request.POST.get("vipps_operation", "")
        if key not in ORDER_OPERATIONS:
            messages.error(self.request, _("Unknown Vipps action."))
            return None
        return key


class OrderOperationView(_OperationView):
    """One order's action from its Vipps tab; back to the order detail page's tab.

    Only here can staff send a held receipt as it is: the tab shows them both figures.
    """

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        order = orders_for_user(request.user).filter(number=number).first()
        if order is None:
            raise Http404
        if request.POST.get("vipps_operation") == ACCEPT_RECEIPT:
            receipt_hash = request.POST.get("receipt_hash", "")
            by = request.user.get_username()
            accept_held_receipt(order, receipt_hash, _notify(request), by=by)
        elif (key := self.operation()) is not None:
            run_for_orders([order], key, _notify(request))
        return HttpResponseRedirect(
            reverse("dashboard:order-detail", kwargs={"number": order.number}) + "#vipps"
        )


class BulkOperationView(_OperationView):
    """The action chosen under Oscar's order list, on the orders ticked there."""

    def post(self, request: HttpRequest) -> HttpResponse:
        key = self.operation()
        ids = [value for value in request.POST.getlist("selected_order") if value.isdigit()]
        if key is not None:
            if not ids:
                messages.warning(request, _("Select at least one order."))
            else:
                orders = list(orders_for_user(request.user).filter(pk__in=ids).order_by("pk"))
                run_for_orders(orders, key, _notify(request), follow=self.follow())
        return HttpResponseRedirect(self.next_url())

    def follow(self) -> Follow:
        """Where staff see orders queued by an action over many: the pending ones."""
        url = reverse("vipps_oscar:vipps-order-list") + f"?status={SyncStatus.PENDING.value}"
        return url, _("See them in the Vipps list")

    def next_url(self) -> str:
        candidate = self.request.POST.get("vipps_next", "")
        if candidate and url_has_allowed_host_and_scheme(
            candidate,
            allowed_hosts={self.request.get_host()},
            require_https=self.request.is_secure(),
        ):
            return candidate
        return reverse("dashboard:order-list")
