"""Which orders a command (or a shop's own code) means: by key, number, reference, model, date.

``select_orders`` turns what staff type into querysets of the configured order models, read
later in chunks (memory stays flat over a whole shop). An order is named as the shop knows it:

* ``shop.Order:17``: the primary key, as before;
* ``shop.Order:1001``: when no order has that key, the shop's own number (the adapter's
  ``number_field``), then its Vipps reference (``reference_field``, or the reference the app
  recorded when it sent the order);
* ``1001`` or ``order-1001`` alone: that number or reference in any configured model.

Nothing here sends anything. Errors are :class:`SelectionError`, naming the option and value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from ..adapters import (
    ORDER_DATE_FIELDS,
    OrderAdapter,
    get_adapter,
    registered_models,
    resolve_model,
)
from ..exceptions import VippsConfigurationError, VippsError
from ..models import OrderKey, VippsOrder

__all__ = [
    "Selection",
    "SelectionError",
    "date_range_q",
    "find_order",
    "model_named",
    "select_orders",
]

When = date | datetime

logger = logging.getLogger(__name__)


class SelectionError(VippsError):
    """The orders asked for cannot be selected: the message says why, and what to write."""


@dataclass
class Selection:
    """Orders of one model: all of them (``pks`` is None) or the listed ones."""

    model: type[models.Model]
    adapter: OrderAdapter
    pks: list[Any] | None = field(default_factory=list)
    queryset: models.QuerySet[Any] | None = None
    #: When the adapter computes an order's date itself: the orders it keeps, asked one by one.
    keep: Callable[[models.Model], bool] | None = None
    #: The orders :attr:`keep` could not judge (the adapter's date raised or was no date),
    #: each with the reason: left out, for the command to report.
    left_out: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model._meta.label

    def count(self) -> int:
        assert self.queryset is not None
        return self.queryset.count()

    def orders(self, chunk_size: int) -> Iterator[models.Model]:
        assert self.queryset is not None
        for order in self.queryset.iterator(chunk_size=chunk_size):
            if self.keep is None or self.keep(order):
                yield order

    def keys(self, chunk_size: int) -> Iterator[OrderKey]:
        """The orders' keys, loading no order unless the adapter's own date must be asked."""
        assert self.queryset is not None
        content_type = ContentType.objects.get_for_model(self.model, for_concrete_model=False)
        if self.keep is None:
            pks: Iterable[Any] = self.queryset.values_list("pk", flat=True).iterator(
                chunk_size=chunk_size
            )
        else:
            pks = (order.pk for order in self.orders(chunk_size))
        return ((content_type.pk, str(pk)) for pk in pks)


def model_named(label: str, option: str = "--model") -> tuple[type[models.Model], OrderAdapter]:
    """The configured order model called ``label`` and its adapter, or a SelectionError."""
    try:
        model = resolve_model(label)
    except VippsConfigurationError:
        raise SelectionError(
            _("%(option)s %(label)s: no installed model has that name; use app_label.ModelName.")
            % {"option": option, "label": label}
        ) from None
    try:
        return model, get_adapter(model)
    except VippsConfigurationError:
        raise SelectionError(
            _(
                "%(option)s %(label)s: the model has no Vipps adapter; add it to "
                "VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS']."
            )
            % {"option": option, "label": model._meta.label}
        ) from None


def find_order(value: str, option: str = "--order") -> tuple[type[models.Model], Any]:
    """``(model, primary key)`` of the one order ``value`` names (see the module's doc)."""
    label, colon, wanted = value.rpartition(":")
    if (colon and not wanted) or any(value == m._meta.label for m in registered_models()):
        raise SelectionError(
            _("%(option)s %(value)s: write it as app_label.Model:KEY, e.g. shop.Order:1001.")
            % {"option": option, "value": value}
        )
    if colon and "." in label:
        model, adapter = model_named(label, option)
        candidates = [(model, adapter)]
    else:
        wanted = value
        candidates = [(model, get_adapter(model)) for model in registered_models()]
    found = {
        (model, pk)
        for model, adapter in candidates
        for pk in _matches(model, adapter, wanted, by_key=len(candidates) == 1)
    }
    if len(found) == 1:
        return found.pop()
    if not found:
        where = candidates[0][0]._meta.label if len(candidates) == 1 else _("any order model")
        raise SelectionError(
            _(
                "%(option)s %(value)s: no order of %(where)s has that key, number or Vipps "
                "reference; write app_label.Model:key, e.g. shop.Order:1001."
            )
            % {"option": option, "value": value, "where": where}
        )
    names = ", ".join(sorted(f"{model._meta.label}:{pk}" for model, pk in found))
    raise SelectionError(
        _("%(option)s %(value)s names several orders (%(orders)s); write one of them.")
        % {"option": option, "value": value, "orders": names}
    )


def _matches(
    model: type[models.Model], adapter: OrderAdapter, value: str, *, by_key: bool
) -> set[Any]:
    """Primary keys of ``model``'s orders that ``value`` names: its key, else its number, else
    its reference."""
    manager = model._default_manager
    if by_key:
        try:
            pk = model._meta.pk.to_python(value)
        except ValidationError:
            pk = None
        if pk is not None and manager.filter(pk=pk).exists():
            return {pk}
    for name in (adapter.number_field, adapter.reference_field):
        if name:
            found = set(manager.filter(**{name: value}).values_list("pk", flat=True))
            if found:
                return found
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    recorded = VippsOrder.objects.filter(content_type=content_type, reference=value)
    ids = list(recorded.values_list("object_id", flat=True))
    field_ = model._meta.pk
    return {field_.to_python(object_id) for object_id in ids}


def select_orders(
    *,
    orders: Sequence[str] = (),
    model_labels: Sequence[str] = (),
    every_model: bool = False,
    since: When | None = None,
    until: When | None = None,
    date_field: str | None = None,
) -> list[Selection]:
    """The selections of orders the arguments mean, each with its queryset (ordered by key)."""
    if every_model and (orders or model_labels):
        raise SelectionError(_("--all selects every order; leave out --order and --model."))
    if not (every_model or orders or model_labels):
        raise SelectionError(_("Say which orders: --order APP_LABEL.MODEL:PK, --model or --all."))
    if since is not None and until is not None and _bound(since) > _bound(until):
        raise SelectionError(_("--since is after --until."))
    by_model: dict[type[models.Model], Selection] = {}
    if every_model:
        configured = registered_models()
        if not configured:
            raise SelectionError(
                _("No order models are configured in VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS'].")
            )
        for model in configured:
            by_model[model] = Selection(model, get_adapter(model), pks=None)
    for label in model_labels:
        model, adapter = model_named(label)
        by_model[model] = Selection(model, adapter, pks=None)
    for value in orders:
        model, pk = find_order(value)
        selection = by_model.setdefault(model, Selection(model, get_adapter(model)))
        if selection.pks is not None and pk not in selection.pks:
            selection.pks.append(pk)
    for selection in by_model.values():
        queryset = selection.adapter.get_queryset()
        if selection.pks is not None:
            queryset = queryset.filter(pk__in=selection.pks)
        if since is not None or until is not None:
            found = _date_field(selection, date_field)
            if found is None:  # the adapter's own get_order_date decides, order by order
                selection.keep = partial(
                    _placed_within, selection.adapter, since, until, selection.left_out
                )
            else:
                queryset = queryset.filter(date_range_q(found[0], found[1], since, until))
        selection.queryset = queryset.order_by("pk")
    return list(by_model.values())


def _date_field(
    selection: Selection, name: str | None
) -> tuple[str, models.Field[Any, Any]] | None:
    """The field ``--since``/``--until`` filter on: ``--date-field``, the adapter's
    ``order_date_field``, or a usual name; ``None`` when the adapter computes the date."""
    model, adapter = selection.model, selection.adapter
    label = model._meta.label
    name = name or adapter.order_date_field
    if name:
        try:
            found = model._meta.get_field(name)
        except FieldDoesNotExist:
            raise SelectionError(
                _("--date-field %(name)s: %(model)s has no such field.")
                % {"name": name, "model": label}
            ) from None
        if not isinstance(found, models.DateField):
            raise SelectionError(
                _("--date-field %(name)s: %(model)s.%(name)s is not a date or date-time field.")
                % {"name": name, "model": label}
            )
        return name, found
    if type(adapter).get_order_date is not OrderAdapter.get_order_date:
        return None
    for candidate in ORDER_DATE_FIELDS:
        try:
            found = model._meta.get_field(candidate)
        except FieldDoesNotExist:
            continue
        if isinstance(found, models.DateField):
            return candidate, found
    raise SelectionError(
        _(
            "%(model)s has no order date field (looked for %(fields)s); name the field to "
            "filter --since/--until on with --date-field, or set the adapter's "
            "order_date_field."
        )
        % {"model": label, "fields": ", ".join(ORDER_DATE_FIELDS)}
    )


def _start_of(day: date) -> datetime:
    moment = datetime.combine(day, time.min)
    return timezone.make_aware(moment) if timezone.is_aware(timezone.now()) else moment


def _bound(value: When) -> datetime:
    """A comparable instant for checking ``since`` against ``until``."""
    return value if isinstance(value, datetime) else _start_of(value)


def date_range_q(
    field_name: str, field_: models.Field[Any, Any], since: When | None, until: When | None
) -> models.Q:
    """``since <= field <= until``; a date for ``until`` includes that whole day."""
    is_datetime = isinstance(field_, models.DateTimeField)
    q = models.Q()
    if since is not None:
        value: When
        if is_datetime:
            value = since if isinstance(since, datetime) else _start_of(since)
        else:
            value = since.date() if isinstance(since, datetime) else since
        q &= models.Q(**{f"{field_name}__gte": value})
    if until is not None:
        if isinstance(until, datetime):
            q &= models.Q(**{f"{field_name}__lte": until if is_datetime else until.date()})
        elif is_datetime:
            q &= models.Q(**{f"{field_name}__lt": _start_of(until + timedelta(days=1))})
        else:
            q &= models.Q(**{f"{field_name}__lte": until})
    return q


def _placed_within(
    adapter: OrderAdapter,
    since: When | None,
    until: When | None,
    left_out: list[str],
    order: models.Model,
) -> bool:
    """Whether the adapter's own date of ``order`` lies within ``since`` and ``until``. An
    order whose date cannot be had is left out with the reason, never the end of the run."""
    try:
        moment = _placed_at(adapter, order)
    except Exception as exc:  # the shop's code: this order is left out, the others go on
        reason = f"{order}: {type(adapter).__name__}.get_order_date: {type(exc).__name__}: {exc}"
        logger.warning("Left out of the selection: %s", reason)
        left_out.append(reason)
        return False
    if moment is None:
        return False
    if since is not None and moment < _bound(since):
        return False
    if isinstance(until, datetime):
        return moment <= until
    return until is None or moment < _start_of(until + timedelta(days=1))


def _placed_at(adapter: OrderAdapter, order: models.Model) -> datetime | None:
    """The adapter's date of ``order`` as an instant comparable with the command's bounds."""
    placed = adapter.get_order_date(order)
    if placed is None:
        return None
    if not isinstance(placed, date):
        raise TypeError(f"returned {type(placed).__name__} {placed!r:.40}, not a date or datetime")
    moment = _bound(placed)
    aware = timezone.is_aware(timezone.now())
    if aware and timezone.is_naive(moment):  # as Django reads a naive datetime: local time
        return timezone.make_aware(moment)
    if not aware and timezone.is_aware(moment):
        return timezone.make_naive(moment)
    return moment
