"""Settings of the example shop (development only): the app wired to the embedded fake Vipps.

``make demo`` sets the ``VIPPS_DEMO_*`` variables below; run by hand, the shop expects the fake
at http://127.0.0.1:8765 (``python manage.py vipps_om_fake_server``).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("VIPPS_DEMO_DATA_DIR", BASE_DIR / ".demo"))
DATA_DIR.mkdir(parents=True, exist_ok=True)
SITE_URL = os.environ.get("VIPPS_DEMO_SITE_URL", "http://127.0.0.1:8000")

SECRET_KEY = os.environ.get("VIPPS_DEMO_SECRET_KEY", "example-shop-development-only")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "vipps_order_management",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

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
                "example_project.shop.context_processors.cart",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        # The shop and the worker write at the same time: queue writers instead of failing.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nb", "Norsk bokmål"), ("da", "Dansk"), ("fi", "Suomi")]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shop:my_orders"
LOGOUT_REDIRECT_URL = "shop:products"

# Shared by the shop and the worker (tokens, and the worker's heartbeat on the Vipps overview).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": DATA_DIR / "cache",
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"vipps_order_management": {"handlers": ["console"], "level": "INFO"}},
}

# Two storefronts, each with a sales unit of its own (shop/storefronts.py). Their merchant
# serial numbers come from the environment; make demo sets them to the fake's.
NORWAY_MSN = os.environ.get("VIPPS_ORDER_MANAGEMENT_MERCHANT_SERIAL_NUMBER", "123456")
DENMARK_MSN = os.environ.get("VIPPS_DEMO_DENMARK_MSN", "654321")
SHOP_STOREFRONTS = {
    "no": {
        "NAME": "Strikk og Sokk Norge",
        "CURRENCY": "NOK",
        "MERCHANT_SERIAL_NUMBER": NORWAY_MSN,
        "SHIPPING": "49.00",
        "PRICE_FIELD": "price",
    },
    "dk": {
        "NAME": "Strikk og Sokk Danmark",
        "CURRENCY": "DKK",
        "MERCHANT_SERIAL_NUMBER": DENMARK_MSN,
        "SHIPPING": "39.00",
        "PRICE_FIELD": "price_dkk",
    },
}

VIPPS_ORDER_MANAGEMENT = {
    # The credentials come from the environment: VIPPS_ORDER_MANAGEMENT_CLIENT_ID and so on for
    # the Norwegian unit (the default), VIPPS_ORDER_MANAGEMENT_SALES_UNIT_<MSN>_CLIENT_ID and so
    # on for the Danish one. make demo sets them to the fake's.
    "SALES_UNITS": {
        NORWAY_MSN: {"NAME": "Strikk og Sokk Norge"},
        DENMARK_MSN: {"NAME": "Strikk og Sokk Danmark"},
    },
    "BASE_URL": os.environ.get("VIPPS_DEMO_FAKE_URL", "http://127.0.0.1:8765"),
    "ORDER_ADAPTERS": {"shop.Order": "example_project.shop.vipps.ShopOrderAdapter"},
    "SITE_URL": SITE_URL,
    # The demo runs on plain http; Vipps itself opens only https links (check E022).
    "DEVELOPMENT_LINK_HOSTS": ("127.0.0.1", "localhost"),
    "SELLER_NAME": "Strikk og Sokk AS",
    "SELLER_ORGANISATION_NUMBER": "NO 912 345 678 MVA",
    "SELLER_ADDRESS": "Storgata 1, 0155 Oslo",
    "WORKER_POLL_SECONDS": 1.0,
}
