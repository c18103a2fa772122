"""Queue, send or preview the Vipps sync of chosen orders.

    manage.py vipps_om_sync --order shop.Order:1001              # queue one order for the worker
    manage.py vipps_om_sync --order shop.Order:1 --order shop.Order:2 --now   # send here, now
    manage.py vipps_om_sync --model shop.Order --since 2024-01-01 --until 2024-03-31
    manage.py vipps_om_sync --model shop.Order --since 2024-06-01 --date-field placed_at
    manage.py vipps_om_sync --all --kinds links --force          # resend every order's links
    manage.py vipps_om_sync --order shop.Order:1001 --dry-run    # print the JSON, send nothing
    manage.py vipps_om_sync --all --verify --now     # ask Vipps, resend what it lost, here

By default orders are queued (``services.enqueue``) and the configured runner sends them;
``--now`` sends in this process and reports each order; ``--dry-run`` prints what would be sent
without sending or queuing anything; ``--verify`` asks Vipps what it holds for each order and
resends (queues, or with ``--now`` sends) only what is missing or stale there. Big selections
are read in chunks, with a progress bar (tqdm) on stderr when it is a terminal and the run is
long (``--progress`` / ``--no-progress`` decide otherwise).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from tqdm import tqdm

from vipps_order_management import services
from vipps_order_management.adapters import (
    ORDER_DATE_FIELDS,
    OrderAdapter,
    get_adapter,
    registered_models,
)
from vipps_order_management.conf import app_settings
from vipps_order_management.engine.plan import plan
from vipps_order_management.exceptions import VippsConfigurationError

#: Fields tried, in order, when ``--since``/``--until`` are given without ``--date-field``;
#: the same names ``OrderAdapter.get_order_date`` reads.
DEFAULT_CHUNK_SIZE = 500

#: Below this many orders a run is short: no progress bar unless ``--progress`` asks for one.
PROGRESS_THRESHOLD = 50


# ---------------------------------------------------------------------- progress


def wants_progress(stream: Any, forced: bool | None, total: int) -> bool:
    """``--progress`` (True) or ``--no-progress`` (False) decide; else a TTY and a long run."""
    if forced is not None:
        return forced
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and total >= PROGRESS_THRESHOLD


class ProgressBar(tqdm):
    """tqdm without its monitor thread: the bar advances once per order, never stalls long."""

    monitor_interval = 0


class _Unstyled:
    """A command's stderr as tqdm writes to it: as given, without Django's style or newline."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=lambda message: message, ending="")

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding
        return getattr(self._wrapper, name)


@contextmanager
def bar_cleared(bar: tqdm) -> Iterator[None]:
    """Erase the bar while the command writes a line of its own, then draw it again below."""
    bar.clear()
    try:
        yield
    finally:
        bar.refresh()


# ---------------------------------------------------------------------- argument helpers
# Shared with vipps_om_requeue.


def resolve_model(label: str, option: str = "--model") -> type[models.Model]:
    """The installed model called ``label`` ("app_label.ModelName"), or a CommandError."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(
            _("%(option)s %(label)s: no installed model has that name; use app_label.ModelName.")
            % {"option": option, "label": label}
        ) from None


def resolve_adapter(model: type[models.Model], option: str = "--model") -> OrderAdapter:
    """The model's adapter, or a CommandError that says how to configure one."""
    try:
        return get_adapter(model)
    except VippsConfigurationError:
        raise CommandError(
            _(
                "%(option)s %(label)s: the model has no Vipps adapter; add it to "
                "VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS']."
            )
            % {"option": option, "label": model._meta.label}
        ) from None


def parse_order_ref(value: str) -> tuple[type[models.Model], Any]:
    """``app_label.Model:pk`` -> (model, primary key in the model's own type)."""
    label, colon, raw_pk = value.rpartition(":")
    if not colon or not label or not raw_pk:
        raise CommandError(
            _("--order %(value)s: write it as app_label.Model:pk, e.g. shop.Order:1001.")
            % {"value": value}
        )
    model = resolve_model(label, "--order")
    resolve_adapter(model, "--order")
    try:
        pk = model._meta.pk.to_python(raw_pk)
    except ValidationError:
        raise CommandError(
            _("--order %(value)s: %(pk)r is not a valid primary key for %(label)s.")
            % {"value": value, "pk": raw_pk, "label": model._meta.label}
        ) from None
    return model, pk


def parse_when(value: str | None, option: str) -> date | datetime | None:
    """An ISO date (2024-01-31) or date-time (2024-01-31T12:00, with or without an offset)."""
    if value is None:
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _(
                "%(option)s %(value)r: not a date; use YYYY-MM-DD or an ISO date-time such as "
                "2024-01-31T12:00+01:00."
            )
            % {"option": option, "value": value}
        ) from None
    if timezone.is_naive(moment) and timezone.is_aware(timezone.now()):
        moment = timezone.make_aware(moment)
    return moment


def _start_of(day: date) -> datetime:
    moment = datetime.combine(day, time.min)
    return timezone.make_aware(moment) if timezone.is_aware(timezone.now()) else moment


def date_range_q(
    field_name: str,
    field: models.Field,
    since: date | datetime | None,
    until: date | datetime | None,
) -> models.Q:
    """``since <= field <= until``; a date for ``until`` includes that whole day."""
    is_datetime = isinstance(field, models.DateTimeField)
    q = models.Q()
    if since is not None:
        if is_datetime:
            value = since if isinstance(since, datetime) else _start_of(since)
        else:
            value = since.date() if isinstance(since, datetime) else since
        q &= models.Q(**{f"{field_name}__gte": value})
    if until is not None:
        if isinstance(until, datetime):
            value = until if is_datetime else until.date()
            q &= models.Q(**{f"{field_name}__lte": value})
        elif is_datetime:
            q &= models.Q(**{f"{field_name}__lt": _start_of(until + timedelta(days=1))})
        else:
            q &= models.Q(**{f"{field_name}__lte": until})
    return q


def order_label(order: models.Model) -> str:
    return f"{order._meta.label}:{order.pk}"


def _bound(value: date | datetime) -> datetime:
    """A comparable instant for checking ``--since`` against ``--until``."""
    return value if isinstance(value, datetime) else _start_of(value)


# ---------------------------------------------------------------------- selection


@dataclass
class Selection:
    """Orders of one model: all of them (``pks`` is None) or the listed ones."""

    model: type[models.Model]
    adapter: OrderAdapter
    pks: list[Any] | None = field(default_factory=list)
    queryset: models.QuerySet | None = None
    #: When the adapter computes an order's date itself: the orders it keeps, asked one by one.
    keep: Callable[[models.Model], bool] | None = None

    def orders(self, chunk_size: int) -> Iterator[models.Model]:
        assert self.queryset is not None
        for order in self.queryset.iterator(chunk_size=chunk_size):
            if self.keep is None or self.keep(order):
                yield order

    @property
    def label(self) -> str:
        return self.model._meta.label


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]  # translated when shown
        return _(
            "Queue, send now (--now) or preview (--dry-run) the Vipps receipts and links of chosen "
            "orders: by --order, --model, --since/--until, or --all."
        )

    def add_arguments(self, parser: Any) -> None:
        which = parser.add_argument_group(_("which orders"))
        which.add_argument(
            "--order",
            action="append",
            default=[],
            metavar="APP_LABEL.MODEL:PK",
            help=_("One order, e.g. shop.Order:1001. Repeat for several."),
        )
        which.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="APP_LABEL.MODEL",
            help=_("Every order of this model (one of ORDER_ADAPTERS). Repeatable."),
        )
        which.add_argument(
            "--all", action="store_true", help=_("Every order of every model in ORDER_ADAPTERS.")
        )
        which.add_argument(
            "--since",
            metavar="DATE",
            help=_("Only orders placed on or after this ISO date or date-time."),
        )
        which.add_argument(
            "--until",
            metavar="DATE",
            help=_("Only orders placed on or before this ISO date (the whole day) or date-time."),
        )
        which.add_argument(
            "--date-field",
            metavar="NAME",
            help=_(
                "The model's date field that --since/--until filter on (default: the first of "
                "%(fields)s that the model has)."
            )
            % {"fields": ", ".join(ORDER_DATE_FIELDS)},
        )
        what = parser.add_argument_group(_("what to do"))
        what.add_argument(
            "--kinds",
            default=",".join(services.ALL_KINDS),
            help=_("What to sync, comma-separated: %(kinds)s (default: both).")
            % {"kinds": ", ".join(services.ALL_KINDS)},
        )
        what.add_argument(
            "--force",
            action="store_true",
            help=_(
                "Send links even if unchanged, and compare receipts already sent with Vipps's copy."
            ),
        )
        mode = what.add_mutually_exclusive_group()
        mode.add_argument(
            "--now",
            action="store_true",
            help=_("Send in this process, now, and report each order (instead of queuing)."),
        )
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Print the JSON that would be sent; send and queue nothing."),
        )
        what.add_argument(
            "--verify",
            action="store_true",
            help=_(
                "Ask Vipps what it holds for each order and resend only what is missing or "
                "stale there (after Vipps lost data); with --now, send it here. Safe to repeat."
            ),
        )
        output = parser.add_argument_group(_("output"))
        output.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK_SIZE,
            help=_("Orders read from the database at a time (default %(default)s)."),
        )
        bar = output.add_mutually_exclusive_group()
        bar.add_argument(
            "--progress",
            dest="progress",
            action="store_true",
            default=None,
            help=_("Show a progress bar on stderr even when it is not a terminal."),
        )
        bar.add_argument(
            "--no-progress",
            dest="progress",
            action="store_false",
            help=_("Never show a progress bar."),
        )

    # ------------------------------------------------------------------ handle

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = self._parse_kinds(options["kinds"])
        if options["chunk_size"] < 1:
            raise CommandError(_("--chunk-size must be at least 1."))
        selections = self._select(options)
        total = sum(selection.queryset.count() for selection in selections)
        progress = ProgressBar(
            total=total,
            desc=_("Orders"),
            unit=" " + _("order"),
            file=_Unstyled(self.stderr),
            disable=not wants_progress(self.stderr, options["progress"], total),
            miniters=1,  # look at the clock every order: no monitor thread tunes this
            dynamic_ncols=True,
        )
        self.verbosity = options["verbosity"]
        orders = self._iterate(selections, options["chunk_size"])
        if options["verify"] and options["dry_run"]:
            raise CommandError(_("--verify sends what Vipps lacks; it cannot be a --dry-run."))
        with progress:
            if options["verify"]:
                self._verify(orders, kinds, options["now"], progress)
            elif options["dry_run"]:
                self._dry_run(orders, kinds, progress)
            elif options["now"]:
                self._send_now(orders, kinds, options["force"], progress)
            else:
                self._enqueue(selections, kinds, options["force"], progress, options["chunk_size"])

    def _parse_kinds(self, value: str) -> list[str]:
        kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
        unknown = [kind for kind in kinds if kind not in services.ALL_KINDS]
        if unknown or not kinds:
            raise CommandError(
                _("--kinds %(value)r: use %(kinds)s, comma-separated.")
                % {"value": value, "kinds": ", ".join(services.ALL_KINDS)}
            )
        return list(dict.fromkeys(kinds))

    def _select(self, options: dict[str, Any]) -> list[Selection]:
        if options["all"] and (options["order"] or options["model"]):
            raise CommandError(_("--all selects every order; leave out --order and --model."))
        if not (options["all"] or options["order"] or options["model"]):
            raise CommandError(_("Say which orders: --order APP_LABEL.MODEL:PK, --model or --all."))
        by_model: dict[type[models.Model], Selection] = {}
        if options["all"]:
            try:
                configured = registered_models()
            except VippsConfigurationError as exc:
                raise CommandError(str(exc)) from None
            if not configured:
                raise CommandError(
                    _("No order models are configured in VIPPS_ORDER_MANAGEMENT['ORDER_ADAPTERS'].")
                )
            for model in configured:
                by_model[model] = Selection(model, resolve_adapter(model), pks=None)
        for label in options["model"]:
            model = resolve_model(label)
            by_model[model] = Selection(model, resolve_adapter(model), pks=None)
        for value in options["order"]:
            model, pk = parse_order_ref(value)
            selection = by_model.setdefault(model, Selection(model, resolve_adapter(model)))
            if selection.pks is not None and pk not in selection.pks:
                selection.pks.append(pk)

        since = parse_when(options["since"], "--since")
        until = parse_when(options["until"], "--until")
        if since is not None and until is not None and _bound(since) > _bound(until):
            raise CommandError(_("--since is after --until."))
        for selection in by_model.values():
            queryset = selection.adapter.get_queryset()
            if selection.pks is not None:
                queryset = queryset.filter(pk__in=selection.pks)
                found = set(queryset.values_list("pk", flat=True))
                missing = [pk for pk in selection.pks if pk not in found]
                if missing:
                    raise CommandError(
                        _("No such order: %(orders)s.")
                        % {"orders": ", ".join(f"{selection.label}:{pk}" for pk in missing)}
                    )
            if since is not None or until is not None:
                found = self._date_field(selection, options["date_field"])
                if found is None:  # the adapter's own get_order_date decides, order by order
                    selection.keep = partial(_placed_within, selection.adapter, since, until)
                else:
                    name, date_field = found
                    queryset = queryset.filter(date_range_q(name, date_field, since, until))
            selection.queryset = queryset.order_by("pk")
        return list(by_model.values())

    def _date_field(
        self, selection: Selection, name: str | None
    ) -> tuple[str, models.Field] | None:
        """The field ``--since``/``--until`` filter on: ``--date-field``, the adapter's
        ``order_date_field``, or a usual name; ``None`` when the adapter computes the date."""
        model, adapter = selection.model, selection.adapter
        label = model._meta.label
        name = name or adapter.order_date_field
        if name:
            try:
                found = model._meta.get_field(name)
            except FieldDoesNotExist:
                raise CommandError(
                    _("--date-field %(name)s: %(model)s has no such field.")
                    % {"name": name, "model": label}
                ) from None
            if not isinstance(found, models.DateField):
                raise CommandError(
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
        raise CommandError(
            _(
                "%(model)s has no order date field (looked for %(fields)s); name the field to "
                "filter --since/--until on with --date-field, or set the adapter's "
                "order_date_field."
            )
            % {"model": label, "fields": ", ".join(ORDER_DATE_FIELDS)}
        )

    def _iterate(self, selections: Sequence[Selection], chunk_size: int) -> Iterator[models.Model]:
        for selection in selections:
            yield from selection.orders(chunk_size)

    def _say(self, progress: ProgressBar, message: str, *, style: Any = None) -> None:
        with bar_cleared(progress):
            self.stdout.write(message, style_func=style)

    # ------------------------------------------------------------------ queue

    def _enqueue(
        self,
        selections: Sequence[Selection],
        kinds: list[str],
        force: bool,
        progress: ProgressBar,
        chunk_size: int,
    ) -> None:
        """Queue by key, in chunks: no order is loaded, so memory stays flat at any size."""
        queued = 0
        for selection in selections:
            assert selection.queryset is not None
            content_type = ContentType.objects.get_for_model(
                selection.model, for_concrete_model=False
            )
            if selection.keep is None:
                pks: Iterable[Any] = selection.queryset.values_list("pk", flat=True).iterator(
                    chunk_size=chunk_size
                )
            else:  # the adapter's date decides: the orders themselves are read
                pks = (order.pk for order in selection.orders(chunk_size))
            keys = ((content_type.pk, str(pk)) for pk in pks)
            queued += services.enqueue_many(
                keys, kinds, force, chunk_size=chunk_size, progress=progress.update
            )
        progress.close()
        if self.verbosity >= 1:
            self.stdout.write(
                ngettext(
                    "Queued %(count)d order for sending (%(kinds)s).",
                    "Queued %(count)d orders for sending (%(kinds)s).",
                    queued,
                )
                % {"count": queued, "kinds": ", ".join(kinds)},
                style_func=self.style.SUCCESS,
            )
            if queued and app_settings.DISPATCH == "worker":
                self.stdout.write(
                    _(
                        "manage.py vipps_om_worker sends them; run it with --once if no worker "
                        "is running."
                    )
                )

    # ------------------------------------------------------------------ now

    def _send_now(
        self, orders: Iterator[models.Model], kinds: list[str], force: bool, progress: ProgressBar
    ) -> None:
        ok = failed = 0
        for order in orders:
            try:
                results = services.sync_now(order, force=force, kinds=kinds)
            except VippsConfigurationError as exc:
                progress.leave = False  # closing erases the bar: the error is the last word
                raise CommandError(
                    _("%(error)s. Run manage.py vipps_om_check for details.") % {"error": exc}
                ) from None
            good = all(result.ok for result in results)
            if good:
                ok += 1
            else:
                failed += 1
            if self.verbosity >= 1:
                parts = [f"{result.kind}: {result.status} - {result.message}" for result in results]
                if not results:
                    parts = [_("nothing to send")]
                self._say(
                    progress,
                    f"{order_label(order)} ({plan(order).display_name}): " + "; ".join(parts),
                    style=None if good else self.style.WARNING,
                )
            progress.update()
        progress.close()
        if self.verbosity >= 1:
            self.stdout.write(
                ngettext(
                    "Sent %(count)d order: %(ok)d in sync, %(failed)d not.",
                    "Sent %(count)d orders: %(ok)d in sync, %(failed)d not.",
                    ok + failed,
                )
                % {"count": ok + failed, "ok": ok, "failed": failed},
                style_func=self.style.SUCCESS if not failed else self.style.WARNING,
            )
        if failed:
            raise CommandError(
                ngettext(
                    "%(failed)d order could not be sent now; see the lines above. If it will be "
                    "retried, it stays in the outbox.",
                    "%(failed)d orders could not be sent now; see the lines above. Those that "
                    "will be retried stay in the outbox.",
                    failed,
                )
                % {"failed": failed}
            )

    # ------------------------------------------------------------------ verify

    def _verify(
        self, orders: Iterator[models.Model], kinds: list[str], now: bool, progress: ProgressBar
    ) -> None:
        counts: Counter[str] = Counter()
        try:
            for checked in services.verify_with_vipps(orders, kinds, now=now):
                status = checked.verdict.status
                if status == "repair" and any(not result.ok for result in checked.results):
                    status = "failed"
                counts[status] += 1
                loud = status in ("repair", "drift", "failed")
                if self.verbosity >= 2 or (loud and self.verbosity >= 1):
                    self._say(
                        progress,
                        f"{order_label(checked.order)} ({checked.display_name}): "
                        f"{_VERIFIED[status]}: "
                        f"{checked.verdict.message}",
                        style=self.style.WARNING if status in ("drift", "failed") else None,
                    )
                progress.update()
        except VippsConfigurationError as exc:
            progress.leave = False
            raise CommandError(
                _("%(error)s. Run manage.py vipps_om_check for details.") % {"error": exc}
            ) from None
        progress.close()
        if self.verbosity >= 1:
            summary = _(
                "Checked %(count)d orders against Vipps: %(in_sync)d in sync, %(repair)d "
                "%(resent)s, %(drift)d differ from Vipps (a receipt cannot be changed), "
                "%(failed)d could not be checked or sent, %(skipped)d without a Vipps payment."
            ) % {
                "count": sum(counts.values()),
                "in_sync": counts["in_sync"],
                "repair": counts["repair"],
                "resent": _("sent again") if now else _("queued to be sent again"),
                "drift": counts["drift"],
                "failed": counts["failed"],
                "skipped": counts["skipped"],
            }
            troubled = counts["drift"] or counts["failed"]
            self.stdout.write(
                summary, style_func=self.style.WARNING if troubled else self.style.SUCCESS
            )
        if counts["failed"]:
            raise CommandError(
                ngettext(
                    "%(count)d order could not be checked or sent; see the lines above.",
                    "%(count)d orders could not be checked or sent; see the lines above.",
                    counts["failed"],
                )
                % {"count": counts["failed"]}
            )

    # ------------------------------------------------------------------ dry run

    def _dry_run(
        self,
        orders: Iterator[models.Model],
        kinds: list[str],
        progress: ProgressBar,
    ) -> None:
        """Stream a JSON array on stdout (one object per order); the summary goes to stderr."""
        count = invalid = 0
        previous: str | None = None  # held back until we know whether a comma follows it
        self._say(progress, "[")  # the bar is already drawn: "[" goes on a line of its own
        for order in orders:
            preview = self._preview(order, kinds)
            invalid += bool(preview.get("receiptErrors") or preview.get("categoryErrors"))
            text = json.dumps(preview, indent=2, ensure_ascii=False, default=str)
            if previous is not None:
                self._say(progress, previous + ",")
            previous = "\n".join("  " + line for line in text.splitlines())
            count += 1
            progress.update()
        progress.close()
        if previous is not None:
            self.stdout.write(previous)
        self.stdout.write("]")
        if self.verbosity >= 1:
            self.stderr.write(
                ngettext(
                    "Dry run: %(count)d order, %(invalid)d with problems; nothing was sent "
                    "or queued.",
                    "Dry run: %(count)d orders, %(invalid)d with problems; nothing was sent "
                    "or queued.",
                    count,
                )
                % {"count": count, "invalid": invalid},
                style_func=self.style.WARNING if invalid else self.style.SUCCESS,
            )

    def _preview(self, order: models.Model, kinds: list[str]) -> dict[str, Any]:
        """The order's plan as JSON: exactly what the worker would send now."""
        sync_plan = plan(order)
        target = sync_plan.target
        preview: dict[str, Any] = {
            "order": order_label(order),
            "name": sync_plan.display_name,
            "orderId": target.reference if target else None,
            "paymentType": target.payment_type.value if target else None,
        }
        if sync_plan.target_problem is not None:
            preview["note"] = str(sync_plan.target_problem)
            preview["orderErrors"] = _errors(sync_plan.target_problem)
        elif target is None:
            preview["note"] = _("The order has no Vipps payment yet: nothing would be sent.")
        if "links" in kinds:
            preview.update(self._preview_links(sync_plan))
        if "receipt" in kinds:
            preview["receiptReady"] = sync_plan.is_final
            if not sync_plan.is_final:
                preview["note"] = preview.get("note") or _(
                    "The order is not final: the receipt waits until it is."
                )
            receipt = sync_plan.receipt
            preview["receipt"] = receipt.to_api() if receipt is not None else None
            problem = sync_plan.final_problem or sync_plan.receipt_problem
            if problem is not None:
                preview["receiptErrors"] = _errors(problem)
        return preview

    def _preview_links(self, sync_plan: Any) -> dict[str, Any]:
        api = sync_plan.category_api
        target = sync_plan.target
        categories: list[dict[str, Any]] = []
        for link in sync_plan.links:
            category = link.category_payload()
            body = (
                category.to_api_v3(target.reference, target.payment_type)
                if api == "v3" and target is not None
                else category.to_api()
            )
            if link.sources:
                body["images"] = [source.name for source in link.sources]
            categories.append(body)
        images = [source.name for source in sync_plan.images]
        result: dict[str, Any] = {"categoryApi": api, "categories": categories, "images": images}
        if len(images) > 1:
            result["imageNote"] = _("Several images are sent as one collage.")
        if sync_plan.links_problem is not None:
            result["categoryErrors"] = _errors(sync_plan.links_problem)
        return result


#: How each outcome of --verify reads, per order.
_VERIFIED = {
    "in_sync": _("in sync"),
    "repair": _("resent"),
    "drift": _("differs from Vipps"),
    "failed": _("not checked"),
    "skipped": _("skipped"),
}


def _placed_within(
    adapter: OrderAdapter,
    since: date | datetime | None,
    until: date | datetime | None,
    order: models.Model,
) -> bool:
    """Whether the adapter's own date of ``order`` lies within ``--since`` and ``--until``."""
    placed = adapter.get_order_date(order)
    if placed is None:
        return False
    moment = _bound(placed)
    if since is not None and moment < _bound(since):
        return False
    if isinstance(until, datetime):
        return moment <= until
    return until is None or moment < _start_of(until + timedelta(days=1))


def _errors(problem: Any) -> list[dict[str, str]]:
    """A problem of the plan as ``[{"path", "message"}]``: the fields, else where it came from."""
    if problem.errors:
        return [{"path": path, "message": message} for path, message in problem.errors]
    return [{"path": problem.source, "message": problem.message}]
