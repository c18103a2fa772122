"""URLs of the app: signed customer pages, the API and the health summary. Include them under
any prefix::

path("vipps/", include("vipps_order_management.urls")),
"""

from __future__ import annotations

from django.urls import include, path

from . import monitoring, views

app_name = "vipps_order_management"

urlpatterns = [
    path("orders/<str:token>/", views.order_status, name="order_status"),
    path("orders/<str:token>/receipt/", views.order_receipt, name="order_receipt"),
    path("api/", include("vipps_order_management.api.urls")),
    path("health/", monitoring.health, name="health"),
]
