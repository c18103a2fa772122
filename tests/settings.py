"""Settings for the test suite; a minimal host project around the app."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
# Off, as in production; a subprocess that plays a developer's machine sets VIPPS_OM_TEST_DEBUG.
DEBUG = os.environ.get("VIPPS_OM_TEST_DEBUG") == "1"
USE_TZ = True
TIME_ZONE = "Europe/Oslo"
LANGUAGE_CODE = "en"
ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "vipps_order_management",
    "tests.shop.apps.ShopConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# SQLite by default. VIPPS_OM_TEST_POSTGRES (a libpq URL, set by scripts/with-postgres) runs the
# same suite on PostgreSQL. VIPPS_OM_TEST_DB_NAME lets a worker subprocess open the very
# database pytest created for the test.
_postgres = os.environ.get("VIPPS_OM_TEST_POSTGRES")
if _postgres:
    from urllib.parse import urlsplit

    _url = urlsplit(_postgres)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("VIPPS_OM_TEST_DB_NAME") or _url.path.lstrip("/"),
            "USER": _url.username or "",
            "PASSWORD": _url.password or "",
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
        }
    }
else:
    # One file per test run, so runs side by side (two Django versions, say) never collide.
    _test_db = Path(tempfile.gettempdir()) / f"vipps-om-test-{os.getpid()}.sqlite3"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("VIPPS_OM_TEST_DB_NAME") or str(BASE_DIR / ".db.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
            # A file, not memory, so worker subprocesses can open the test database.
            "TEST": {"NAME": str(_test_db)},
        }
    }

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("VIPPS_OM_TEST_MEDIA_ROOT", str(BASE_DIR / ".media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

VIPPS_ORDER_MANAGEMENT = {
    "ORDER_ADAPTERS": {
        "shop.Order": "tests.shop.vipps.ShopOrderAdapter",
        "shop.Booking": "tests.shop.vipps.BookingAdapter",
    },
    "DISPATCH": "worker",
    "SITE_URL": "https://shop.example",
    # The test shop's own app opens myapp:// links (tickets, orders).
    "APP_LINK_SCHEMES": ("myapp",),
    "SELLER_NAME": "Strikk og Sokk AS",
    "SELLER_ORGANISATION_NUMBER": "NO 912 345 678 MVA",
    "SELLER_ADDRESS": "Storgata 1, 0155 Oslo",
}
# Worker subprocesses started by the tests get the test's own settings through this variable.
VIPPS_ORDER_MANAGEMENT.update(json.loads(os.environ.get("VIPPS_OM_TEST_OVERRIDES") or "{}"))
