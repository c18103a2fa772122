"""The words of :data:`~vipps_order_management.display.APP_LABELS`, translated (Django)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from . import APP_LABELS

__all__ = ["APP_LABELS_TRANSLATED", "app_labels"]

#: The app preview's words in the language of whoever looks (staff in the admin).
APP_LABELS_TRANSLATED = {key: gettext_lazy(text) for key, text in APP_LABELS.items()}


def app_labels() -> dict[str, str]:
    """The preview's words in the active language."""
    return {key: str(value) for key, value in APP_LABELS_TRANSLATED.items()}
