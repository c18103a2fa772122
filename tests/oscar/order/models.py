"""A forked ``Order`` with a field of its own: the app must find it through ``get_model``."""

from __future__ import annotations

from django.db import models
from oscar.apps.order.abstract_models import AbstractOrder


class Order(AbstractOrder):
    sales_channel = models.CharField(max_length=32, blank=True, default="web")


from oscar.apps.order.models import *  # noqa: E402, F403 - Oscar's fork recipe
