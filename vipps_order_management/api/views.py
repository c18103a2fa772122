"""API views. Like every surface they use the services layer and querysets, never the client.

Orders are addressed as ``orders/<app_label.model>/<pk>/``; only models configured in
``ORDER_ADAPTERS`` exist here, everything else (an unknown model, a malformed or missing key,
another customer's order) is the same 404, so nothing can be enumerated. Staff permissions:
see :mod:`.permissions`. A failure to reach or satisfy Vipps is a 502/503 JSON answer, never
a 500.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, cast

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONOpenAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema, SchemaGenerator
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from .. import services
from ..adapters import OrderAdapter, get_adapter, registered_models
from ..engine.plan import plan, plans_for
from ..engine.status import status_of
from ..exceptions import VippsConfigurationError, VippsError, VippsTransientError
from ..models import OrderAttachedQuerySet, OrderImage, OrderLink, SyncAttempt, VippsOrder
from ..order_rows import attached_rows
from .parsers import ApiFormParser, ApiJSONParser
from .permissions import CHANGE, StaffPermissionsMixin
from .serializers import (
    MAX_UPLOAD_BYTES,
    NOW_SENDS_EVERYTHING,
    CustomerOrderSerializer,
    OrderImageSerializer,
    OrderLinkSerializer,
    OutboxItemSerializer,
    SyncAttemptSerializer,
    SyncRequestSerializer,
    SyncResponseSerializer,
    SyncStatusSerializer,
    VippsOrderStateSerializer,
    customer_order_data,
    order_label,
)

__all__ = [
    "ApiPagination",
    "MyOrderLinksView",
    "MyOrderListView",
    "OrderImageViewSet",
    "OrderLinkViewSet",
    "SchemaView",
    "SyncAttemptListView",
    "SyncStatusView",
    "SyncView",
]

logger = logging.getLogger(__name__)

STAFF_TAGS = ["staff"]
CUSTOMER_TAGS = ["customer"]


# ---------------------------------------------------------------------- errors


class VippsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("Vipps cannot be reached at the moment; the order stays queued.")
    default_code = "vipps_unavailable"


class VippsBadGateway(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = _("Vipps did not accept the request.")
    default_code = "vipps_error"


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The upload is too large.")
    default_code = "too_large"


def _as_api_exception(exc: VippsError) -> APIException:
    """A VippsError as JSON: 503 when it may pass (or is configuration), else 502."""
    if isinstance(exc, VippsConfigurationError | VippsTransientError):
        return VippsUnavailable(str(exc))
    return VippsBadGateway(str(exc))


# ---------------------------------------------------------------------- base classes


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class BaseApiView(GenericAPIView[Any]):
    """Settings that must not come from the host project's ``REST_FRAMEWORK`` defaults."""

    pagination_class = ApiPagination
    filter_backends: list[Any] = []
    versioning_class = None  # the version is in the URL and the namespace (api-v1)
    #: Bounded in size and depth: an abusive body is a 413 or a 400, never a 500.
    parser_classes = [ApiJSONParser, ApiFormParser, MultiPartParser]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, VippsError):
            logger.warning("Vipps API request %s failed: %s", self.request.path, exc)
            exc = _as_api_exception(exc)
        return super().handle_exception(exc)


def _lookup(queryset: models.QuerySet[Any], value: str) -> models.Model:
    """The row with primary key ``value`` (int or UUID as text), or 404 for anything else."""
    try:
        pk = queryset.model._meta.pk.to_python(value)
    except (ValidationError, ValueError, TypeError):
        raise Http404 from None
    order: models.Model | None = queryset.filter(pk=pk).first()
    if order is None:
        raise Http404
    return order


class OrderLookupMixin:
    """Resolves the ``model`` and ``order_pk`` URL arguments to a configured order, or 404."""

    kwargs: dict[str, Any]

    def get_order_adapter(self) -> OrderAdapter:
        cached: OrderAdapter | None = getattr(self, "_order_adapter", None)
        if cached is not None:
            return cached
        label = str(self.kwargs.get("model", "")).lower()
        for model in registered_models():
            if model._meta.label_lower == label:
                self._order_adapter = get_adapter(model)
                return self._order_adapter
        raise Http404

    def get_order(self) -> models.Model:
        cached = getattr(self, "_order", None)
        if cached is None:
            adapter = self.get_order_adapter()
            cached = self._order = _lookup(adapter.get_queryset(), self.order_pk)
        return cached

    @property
    def order_pk(self) -> str:
        return str(self.kwargs.get("order_pk", ""))

    def has_order_kwargs(self) -> bool:
        """False while the schema generator inspects the view (no URL arguments then)."""
        return "model" in self.kwargs and "order_pk" in self.kwargs

    def order_ref(self, order: models.Model) -> dict[str, str]:
        return {
            "model": order_label(order),
            "pk": str(order.pk),
            "name": self.get_order_adapter().get_display_name(order),
        }


#: Descriptions of the URL arguments in the OpenAPI document.
PATH_PARAMETERS = {
    "model": _("The order model as app_label.model (e.g. shop.order), one of ORDER_ADAPTERS."),
    "order_pk": _("The order's primary key: an integer or a UUID."),
    "link_id": _("The id of the stored link."),
    "image_id": _("The id of the image."),
}


class ApiSchema(AutoSchema):
    """AutoSchema that documents the order URL arguments."""

    def get_path_parameters(self, path: str, method: str) -> list[dict[str, Any]]:
        parameters = super().get_path_parameters(path, method)
        for parameter in parameters:
            description = PATH_PARAMETERS.get(parameter["name"])
            if description is not None:
                parameter["description"] = str(description)
            if parameter["name"] in ("link_id", "image_id"):
                parameter["schema"] = {"type": "integer"}
        return parameters


class StaffOrderView(StaffPermissionsMixin, OrderLookupMixin, BaseApiView):
    """Base of the staff views; ``get_queryset()`` is the model whose permissions apply."""


# ---------------------------------------------------------------------- staff: links, images


class OrderRowsView(StaffOrderView):
    """For our own per-order tables: the list and detail lookups are limited to the order."""

    def filter_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return cast(OrderAttachedQuerySet, queryset).for_order(self.get_order())

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if self.has_order_kwargs():
            context["order"] = self.get_order()
        return context

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        order = self.get_order()
        serializer.save(
            content_type=ContentType.objects.get_for_model(order, for_concrete_model=False),
            object_id=str(order.pk),
        )


class OrderLinkViewSet(OrderRowsView, viewsets.ModelViewSet[OrderLink]):
    """The links stored for an order, for staff (adapter defaults are not rows and not listed).

    Needs view / add / change / delete permission on order links. Saving a link queues the
    order's links for sending.
    """

    queryset = OrderLink.objects.all()
    serializer_class = OrderLinkSerializer
    lookup_url_kwarg = "link_id"
    schema = ApiSchema(operation_id_base="OrderLink", tags=STAFF_TAGS)


class OrderImageViewSet(
    OrderRowsView,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[OrderImage],
):
    """Upload (multipart, field ``image``), list and delete an order's images, for staff.

    Images can never be replaced at Vipps, so there is no update: delete and upload anew.
    Needs view / add / delete permission on order images.
    """

    queryset = OrderImage.objects.all()
    serializer_class = OrderImageSerializer
    parser_classes = [MultiPartParser, ApiFormParser]
    lookup_url_kwarg = "image_id"
    schema = ApiSchema(operation_id_base="OrderImage", tags=STAFF_TAGS)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_UPLOAD_BYTES + 64 * 1024:  # room for the multipart framing
            raise UploadTooLarge
        return super().create(request, *args, **kwargs)

    def perform_destroy(self, instance: OrderImage) -> None:
        storage, name = instance.image.storage, instance.image.name
        instance.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name))


# ---------------------------------------------------------------------- staff: sync


class SyncSchema(ApiSchema):
    def get_response_serializer(self, path: str, method: str) -> BaseSerializer[Any]:
        return SyncResponseSerializer()


class SyncView(StaffOrderView):
    """Send an order to Vipps (staff). Needs the change permission on the order's model.

    By default the order is queued (202) and the runner sends it. With ``now`` (``?now=1`` or
    ``{"now": true}``) it is sent while the caller waits, with a result per kind: 200 when all
    arrived, 503 when Vipps is unavailable (the order stays queued and is retried), 502 when
    Vipps refused something, 422 when it was refused here (the order's data, the shop's code or
    the configuration) before reaching Vipps. Every failure is also recorded in the attempt log
    and the status.
    """

    serializer_class = SyncRequestSerializer
    model_perms_map = {"POST": [CHANGE]}
    schema = SyncSchema(operation_id_base="OrderSync", tags=STAFF_TAGS)

    def get_queryset(self) -> models.QuerySet[Any]:
        return self.get_order_adapter().get_queryset()

    @method_decorator(sensitive_variables())  # it reaches the client: no frame on error pages
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        order = self.get_order()
        query = self.get_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        now = query.validated_data["now"] or body.validated_data["now"]
        force = query.validated_data["force"] or body.validated_data["force"]
        kinds = sorted(body.validated_data.get("kinds") or query.validated_data.get("kinds") or ())
        if now and kinds:
            return Response(
                {"kinds": [NOW_SENDS_EVERYTHING]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if not now:
            services.enqueue(order, kinds=kinds or None, force=force)
            return Response(
                {
                    "detail": _("The order is queued for sending to Vipps."),
                    "queued": kinds or list(services.ALL_KINDS),
                    "force": force,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        results = services.sync_now(order, force=force)
        return self._results_response(results, force=force)

    def _results_response(self, results: list[services.SyncResult], *, force: bool) -> Response:
        data: dict[str, Any] = {
            "force": force,
            "results": [
                {"kind": r.kind, "status": r.status, "ok": r.ok, "message": r.message}
                for r in results
            ],
        }
        failed = [r for r in results if not r.ok and r.status != "released"]
        sent = [r for r in results if r.ok]
        if not failed and not sent:
            data.update(ok=True, detail=_("A worker is sending this order right now."))
            return Response(data, status=status.HTTP_202_ACCEPTED)
        if not failed:
            data.update(ok=True, detail=_("The order was sent to Vipps."))
            return Response(data, status=status.HTTP_200_OK)
        # A drain may try a row more than once (no backoff in tests); say each problem once.
        messages = "; ".join(dict.fromkeys(f"{r.kind}: {r.message}" for r in failed))
        data["ok"] = False
        if all(r.status == "retry" for r in failed):
            data["detail"] = _("Vipps is unavailable; the order stays queued: %(messages)s") % {
                "messages": messages
            }
            return Response(data, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if any(r.status == "dead" and r.status_code is not None for r in failed):
            data["detail"] = _("Vipps did not accept the order: %(messages)s") % {
                "messages": messages
            }
            return Response(data, status=status.HTTP_502_BAD_GATEWAY)
        data["detail"] = _(
            "The order cannot be sent as it is; nothing was sent for it: %(messages)s"
        ) % {"messages": messages}
        return Response(data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)


class SyncStatusView(StaffOrderView, RetrieveAPIView[Any]):
    """Where the order stands with Vipps, and its outbox rows (staff; view on Vipps orders)."""

    queryset = VippsOrder.objects.all()
    serializer_class = SyncStatusSerializer
    schema = ApiSchema(operation_id_base="OrderSyncStatus", tags=STAFF_TAGS)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        order = self.get_order()
        rows = attached_rows(order)
        state, outbox = rows.state, rows.outbox
        summary = status_of(state, outbox)
        data = {
            "order": self.order_ref(order),
            "status": summary.value,
            "status_label": str(summary.label),
            "vipps": VippsOrderStateSerializer(state).data if state is not None else None,
            "outbox": OutboxItemSerializer(outbox, many=True).data,
        }
        return Response(data)


class SyncAttemptListView(StaffOrderView, ListAPIView[SyncAttempt]):
    """The calls made to Vipps for the order, newest first (staff; view on sync attempts)."""

    queryset = SyncAttempt.objects.all()
    serializer_class = SyncAttemptSerializer
    schema = ApiSchema(operation_id_base="SyncAttempt", tags=STAFF_TAGS)

    def filter_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        rows = cast(OrderAttachedQuerySet, queryset).for_order(self.get_order())
        return rows.order_by("-created_at", "-pk")


# ---------------------------------------------------------------------- customers


class CustomerView(OrderLookupMixin, BaseApiView):
    """A signed-in customer, who sees their own orders (the adapter decides which) and no other."""

    permission_classes = [IsAuthenticated]
    serializer_class = CustomerOrderSerializer


class MyOrderListView(CustomerView, ListAPIView[Any]):
    """The signed-in customer's orders of every configured model, each with its links."""

    schema = ApiSchema(operation_id_base="MyOrder", tags=CUSTOMER_TAGS)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        keys: list[tuple[OrderAdapter, Any]] = []
        for model in registered_models():
            adapter = get_adapter(model)
            orders = adapter.get_orders_for_user(request.user)
            if not orders.ordered:
                orders = orders.order_by("-pk")
            keys.extend((adapter, pk) for pk in orders.values_list("pk", flat=True))
        page = self.paginate_queryset(keys) or []  # never None: the view has a paginator
        by_adapter: dict[OrderAdapter, list[Any]] = defaultdict(list)
        for adapter, pk in page:
            by_adapter[adapter].append(pk)
        loaded = {
            (adapter, order.pk): order
            for adapter, pks in by_adapter.items()
            for order in adapter.get_queryset().filter(pk__in=pks)
        }
        visible = [
            order
            for adapter, pk in page
            if (order := loaded.get((adapter, pk))) is not None
            and _may_view(adapter, order, request.user)
        ]
        data = [customer_order_data(sync_plan) for sync_plan in plans_for(visible)]
        return self.get_paginated_response(CustomerOrderSerializer(data, many=True).data)


class MyOrderLinksView(CustomerView, RetrieveAPIView[Any]):
    """One of the customer's own orders with its links; any other order is a 404."""

    schema = ApiSchema(operation_id_base="MyOrderLinks", tags=CUSTOMER_TAGS)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        adapter = self.get_order_adapter()
        order = _lookup(adapter.get_orders_for_user(request.user), self.order_pk)
        if not _may_view(adapter, order, request.user):
            raise Http404
        return Response(CustomerOrderSerializer(customer_order_data(plan(order, adapter))).data)


def _may_view(adapter: OrderAdapter, order: models.Model, user: Any) -> bool:
    """The adapter's ``user_can_view``; when it raises, the order stays hidden (logged), and
    the customer's other orders are still listed."""
    try:
        return bool(adapter.user_can_view(order, user))
    except Exception:
        logger.exception(
            "%s.user_can_view failed for %s; the order is not shown", type(adapter).__name__, order
        )
        return False


# ---------------------------------------------------------------------- schema


class SchemaView(APIView):
    """The OpenAPI document of this API version, for any signed-in user."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONOpenAPIRenderer]
    versioning_class = None
    schema = None  # not part of its own document
    #: The routes the document describes; ``urls`` passes its own list to ``as_view``.
    patterns: list[Any] = []

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        generator = SchemaGenerator(
            title="Vipps Order Management",
            version="1",
            description=str(
                _(
                    "Order links, images and receipts of the shop's orders in the Vipps MobilePay app."
                )
            ),
            patterns=self.patterns,
            url=request.path.removesuffix("schema/"),
        )
        return Response(generator.get_schema(request=request, public=True))
