"""A django-oscar 4.2 shop around the app: the Oscar tier's settings (``--ds=tests.oscar.settings``).

Oscar's own apps, with its order app forked (``tests.oscar.order``), its dashboard, and
``vipps_order_management.contrib.oscar`` listed before Oscar's apps so that its dashboard
templates extend Oscar's. Tables are made from the models (no migrations): the fork has a
field of its own, as real forks do, and Oscar's migrations are not this suite's subject.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

from oscar.defaults import *  # noqa: F403 - Oscar's documented way to start its settings

BASE_DIR = Path(__file__).resolve().parent

#: Oscar and its dependencies call Django APIs that Django 6.1 deprecates; the suite turns
#: warnings into errors, so theirs (and only theirs) are ignored. See conftest.py for tests.
THIRD_PARTY_MODULES = r"(oscar|haystack|treebeard|django_tables2|widget_tweaks|phonenumber_field)"
for _category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
    warnings.filterwarnings("ignore", category=_category, module=THIRD_PARTY_MODULES)

SECRET_KEY = "oscar-tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Europe/Oslo"
LANGUAGE_CODE = "en"
ROOT_URLCONF = "tests.oscar.urls"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "rest_framework",
    "vipps_order_management",
    "vipps_order_management.contrib.oscar",
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    "oscar.apps.checkout.apps.CheckoutConfig",
    "oscar.apps.address.apps.AddressConfig",
    "oscar.apps.shipping.apps.ShippingConfig",
    "oscar.apps.catalogue.apps.CatalogueConfig",
    "oscar.apps.catalogue.reviews.apps.CatalogueReviewsConfig",
    "oscar.apps.communication.apps.CommunicationConfig",
    "oscar.apps.partner.apps.PartnerConfig",
    "oscar.apps.basket.apps.BasketConfig",
    "oscar.apps.payment.apps.PaymentConfig",
    "oscar.apps.offer.apps.OfferConfig",
    "tests.oscar.order.apps.OrderConfig",  # forked
    "oscar.apps.customer.apps.CustomerConfig",
    "oscar.apps.search.apps.SearchConfig",
    "oscar.apps.voucher.apps.VoucherConfig",
    "oscar.apps.wishlists.apps.WishlistsConfig",
    "oscar.apps.dashboard.apps.DashboardConfig",
    "oscar.apps.dashboard.reports.apps.ReportsDashboardConfig",
    "oscar.apps.dashboard.users.apps.UsersDashboardConfig",
    "oscar.apps.dashboard.orders.apps.OrdersDashboardConfig",
    "oscar.apps.dashboard.catalogue.apps.CatalogueDashboardConfig",
    "oscar.apps.dashboard.offers.apps.OffersDashboardConfig",
    "oscar.apps.dashboard.partners.apps.PartnersDashboardConfig",
    "oscar.apps.dashboard.pages.apps.PagesDashboardConfig",
    "oscar.apps.dashboard.ranges.apps.RangesDashboardConfig",
    "oscar.apps.dashboard.reviews.apps.ReviewsDashboardConfig",
    "oscar.apps.dashboard.vouchers.apps.VouchersDashboardConfig",
    "oscar.apps.dashboard.communications.apps.CommunicationsDashboardConfig",
    "oscar.apps.dashboard.shipping.apps.ShippingDashboardConfig",
    "widget_tweaks",
    "haystack",
    "treebeard",
    "django_tables2",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the shop's "My orders" override
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ]
        },
    }
]

_test_db = Path(tempfile.gettempdir()) / f"vipps-om-oscar-test-{os.getpid()}.sqlite3"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(BASE_DIR / ".db.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        "TEST": {"NAME": str(_test_db)},
    }
}


class _NoMigrations:
    """``MIGRATION_MODULES`` that has none: tables are made from the models."""

    def __contains__(self, item: str) -> bool:
        return True

    def __getitem__(self, item: str) -> None:
        return None


MIGRATION_MODULES = _NoMigrations()

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.BaseSignalProcessor"  # no search index here
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("VIPPS_OM_TEST_MEDIA_ROOT", str(BASE_DIR / ".media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OSCAR_SHOP_NAME = "Strikk og Sokk"
OSCAR_DEFAULT_CURRENCY = "NOK"
OSCAR_OFFERS_INCL_TAX = True  # Nordic prices and offers are incl. VAT
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_ORDER_STATUS_PIPELINE = {
    "Pending": ("Being processed", "Cancelled"),
    "Being processed": ("Shipped", "Cancelled"),
    "Shipped": ("Complete", "On hold"),
    "On hold": ("Complete",),
    "Complete": (),
    "Cancelled": (),
}
OSCAR_DASHBOARD_NAVIGATION = [
    *OSCAR_DASHBOARD_NAVIGATION,  # noqa: F405 - from oscar.defaults
    {
        "label": "Vipps",
        "icon": "fas fa-mobile-alt",
        "url_name": "vipps_oscar:vipps-order-list",
    },
]

VIPPS_ORDER_MANAGEMENT = {
    "ORDER_ADAPTERS": {"order.Order": "vipps_order_management.contrib.oscar.OscarOrderAdapter"},
    "DISPATCH": "worker",
    "SITE_URL": "https://shop.example",
    "SELLER_NAME": "Strikk og Sokk AS",
    "SELLER_ORGANISATION_NUMBER": "NO 912 345 678 MVA",
    "SELLER_ADDRESS": "Storgata 1, 0155 Oslo",
}
VIPPS_ORDER_MANAGEMENT.update(json.loads(os.environ.get("VIPPS_OM_TEST_OVERRIDES") or "{}"))
