from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve


def media(request, path):
    """Product images for the browser tests (MEDIA_ROOT is per test)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),  # Oscar's language switcher
    path("admin/", admin.site.urls),
    path("vipps/", include("vipps_order_management.urls")),
    path("dashboard/vipps/", apps.get_app_config("vipps_oscar").urls),
    re_path(r"^media/(?P<path>.*)$", media),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
