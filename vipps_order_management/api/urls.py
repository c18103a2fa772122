"""URLs of the REST API, one namespace per version: ``vipps_order_management:api-v1:<name>``.

``vipps_order_management.urls`` mounts this module under ``api/``, so with the app at
``vipps/`` the links of order 17 of ``shop.Order`` are ``/vipps/api/v1/orders/shop.order/17/links/``.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from . import views

ORDER = "orders/<str:model>/<str:order_pk>/"

link_list = views.OrderLinkViewSet.as_view({"get": "list", "post": "create"})
link_detail = views.OrderLinkViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
image_list = views.OrderImageViewSet.as_view({"get": "list", "post": "create"})
image_detail = views.OrderImageViewSet.as_view({"get": "retrieve", "delete": "destroy"})

#: The routes of version 1, relative to ``v1/`` (the schema view documents exactly these).
v1_patterns: list[URLPattern | URLResolver] = [
    path(f"{ORDER}links/", link_list, name="order-links"),
    path(f"{ORDER}links/<int:link_id>/", link_detail, name="order-link-detail"),
    path(f"{ORDER}images/", image_list, name="order-images"),
    path(f"{ORDER}images/<int:image_id>/", image_detail, name="order-image-detail"),
    path(f"{ORDER}sync/", views.SyncView.as_view(), name="order-sync"),
    path(f"{ORDER}status/", views.SyncStatusView.as_view(), name="order-status"),
    path(f"{ORDER}attempts/", views.SyncAttemptListView.as_view(), name="order-attempts"),
    path("my/orders/", views.MyOrderListView.as_view(), name="my-orders"),
    path(
        "my/orders/<str:model>/<str:order_pk>/links/",
        views.MyOrderLinksView.as_view(),
        name="my-order-links",
    ),
]
v1_patterns.append(path("schema/", views.SchemaView.as_view(patterns=v1_patterns), name="schema"))

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", include((v1_patterns, "api-v1"))),
]
