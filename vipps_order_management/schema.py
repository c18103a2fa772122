"""The machinery of a settings schema: one :class:`Setting` per key, and a lazy view through it.

Each key is declared once with its default, its parser, its check ID and a hint. A parser turns
what the project wrote (or the environment, or the default) into the typed value the code uses,
or refuses it by raising :class:`Invalid` with reasons. :class:`AppSettings` caches either
outcome until Django's ``setting_changed`` resets it: a typed value is returned, a refusal raised
as :class:`~.exceptions.VippsConfigurationError` naming the setting, wherever it is read, so a
process that runs no system checks (gunicorn, Celery) refuses what ``manage.py check`` reports.

Nested values fit without rework: a parser may read entries below its key (reporting each
refusal with its :attr:`Problem.path`), read variables of its own from :attr:`Context.environ`
(``SALES_UNITS``: one set of keys per merchant serial number) and return any frozen value.

No Django here but ``settings``; the declarations are in :mod:`.conf`.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from django.conf import settings

from .exceptions import VippsConfigurationError

__all__ = [
    "AppSettings",
    "Context",
    "Invalid",
    "Problem",
    "Refusal",
    "Setting",
    "Source",
    "closest",
]

#: Where a value came from: the settings dict, an environment variable, or the default.
Source = Literal["settings", "environment", "default"]


@dataclass(frozen=True)
class Context:
    """What a parser may depend on besides the value itself."""

    debug: bool
    source: Source
    #: The process environment, for parsers that read variables of their own (per entry).
    environ: Mapping[str, str]
    #: ``VIPPS_ORDER_MANAGEMENT_``: how those variables start.
    environment_prefix: str


@dataclass(frozen=True)
class Problem:
    """One reason a value is refused: it completes the sentence the setting's name begins.

    ``reason`` reads ``"is 0, not a positive number"``; ``path`` names an entry below the key
    (``("BASE_SECONDS",)``); ``hint`` and ``check_id`` replace the setting's own for this one.
    A secret's reason never quotes its value.
    """

    reason: str
    path: tuple[str, ...] = ()
    hint: str | None = None
    check_id: str | None = None
    #: What the value was probably meant to be: "Did you mean ...?" before the hint.
    suggestion: str | None = None


class Invalid(Exception):
    """Raised by a parser: the value cannot be used, for these reasons."""

    def __init__(self, *problems: Problem | str) -> None:
        self.problems = tuple(p if isinstance(p, Problem) else Problem(p) for p in problems)
        super().__init__("; ".join(problem.reason for problem in self.problems))


#: A parser: the value as written (or the default) -> the typed value, or :class:`Invalid`.
Parser = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Setting:
    """One key of the settings dict, declared once."""

    key: str
    default: Any
    parse: Parser
    #: The system check that reports a refusal, e.g. ``"E016"``.
    check_id: str
    #: What to do about a refusal.
    hint: str
    #: Whether ``<prefix><KEY>`` in the environment may give it when the dict leaves it out.
    environment: bool = False
    #: Never shown, logged or quoted in full.
    secret: bool = False


@dataclass(frozen=True)
class Refusal:
    """A refused value as the system checks report it and the error raised when it is read."""

    key: str
    check_id: str
    message: str
    hint: str


@dataclass(frozen=True)
class _Entry:
    source: Source
    value: Any = None
    refusals: tuple[Refusal, ...] = ()


class AppSettings:
    """Lazy, cached, typed view of the settings dict ``name`` through ``schema``."""

    def __init__(
        self, schema: Iterable[Setting], *, name: str, environment_prefix: str, check_tag: str
    ) -> None:
        self.schema: dict[str, Setting] = {setting.key: setting for setting in schema}
        self.name = name
        self.environment_prefix = environment_prefix
        self.check_tag = check_tag
        self._cached: dict[str, _Entry] = {}
        self._reset_hooks: dict[str, Callable[[], None]] = {}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, self.name, None)
        return value if isinstance(value, Mapping) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.schema:
            raise AttributeError(f"{self.name} has no setting {name!r}")
        entry = self._entry(name)
        if entry.refusals:
            raise VippsConfigurationError(
                " ".join(
                    f"{r.message} {r.hint} ({self.check_tag}.{r.check_id})" for r in entry.refusals
                )
            )
        return entry.value

    def get(self, key: str, fallback: Any = None) -> Any:
        """The typed value, or ``fallback`` when it is refused: for reports that list refusals."""
        entry = self._entry(key)
        return fallback if entry.refusals else entry.value

    def source(self, key: str) -> Source:
        """Where the value of ``key`` comes from: ``"settings"``, ``"environment"`` or ``"default"``."""
        return self._entry(key).source

    def raw(self, key: str) -> Any:
        """The value as written (or the default), before its parser: for showing a refusal."""
        return self._raw(self.schema[key])[0]

    def refusals(self, key: str | None = None) -> list[Refusal]:
        """Why the value of ``key`` (every key by default) is refused; empty when it is not."""
        keys = self.schema if key is None else (key,)
        return [refusal for name in keys for refusal in self._entry(name).refusals]

    def label(self, key: str, path: Iterable[str] = ()) -> str:
        """How a setting is named in messages: ``VIPPS_ORDER_MANAGEMENT['RETRY']['JITTER']``, and,
        when it comes from the environment, the variable's name too."""
        return self._label(key, path, self.source(key))

    def _label(self, key: str, path: Iterable[str], source: Source) -> str:
        text = f"{self.name}[{key!r}]" + "".join(f"[{part!r}]" for part in path)
        if source == "environment":
            text += f" (from the environment variable {self.environment_prefix}{key})"
        return text

    def unknown_keys(self) -> list[str]:
        """Keys in the project's settings dict that this app does not read (likely typos)."""
        return sorted(key for key in self.user_settings if key not in self.schema)

    def reload(self) -> None:
        """Forget cached values, then reset everything built from them (see :meth:`on_reload`)."""
        self._cached.clear()
        for hook in list(self._reset_hooks.values()):
            hook()

    def on_reload(self, name: str, hook: Callable[[], None]) -> None:
        """Call ``hook`` on every :meth:`reload`: for caches built from these settings.

        The adapter registry, the HTTP clients and the signal receivers register here, so one
        ``setting_changed`` receiver resets them all, in the order they registered. ``name``
        makes registering twice (a module imported again) replace rather than add.
        """
        self._reset_hooks[name] = hook

    def _raw(self, setting: Setting) -> tuple[Any, Source]:
        user = self.user_settings
        if setting.key in user:
            return user[setting.key], "settings"
        if setting.environment:
            value = os.environ.get(self.environment_prefix + setting.key)
            if value:
                return value, "environment"
        return setting.default, "default"

    def _entry(self, key: str) -> _Entry:
        try:
            return self._cached[key]
        except KeyError:
            pass
        setting = self.schema[key]
        value, source = self._raw(setting)
        context = Context(bool(settings.DEBUG), source, os.environ, self.environment_prefix)
        entry = self._parsed(setting, value, context)
        self._cached[key] = entry
        return entry

    def _parsed(self, setting: Setting, value: Any, context: Context) -> _Entry:
        """The value through its parser; a refusal, never an exception, whatever it raises
        (a parser's own slip, say ``urlsplit`` on ``https://[::1``, must not stop the checks)."""
        try:
            return _Entry(context.source, setting.parse(value, context))
        except Invalid as exc:
            problems = exc.problems
        except Exception as exc:
            shown = "a secret" if setting.secret else repr(value)
            problems = (Problem(f"is {shown}, which cannot be read ({type(exc).__name__})"),)
        refusals = tuple(self._refusal(setting, problem, context.source) for problem in problems)
        return _Entry(context.source, refusals=refusals)

    def parse(self, key: str, value: Any, *, given_as: str) -> Any:
        """``value`` for ``key`` given elsewhere (``--poll-interval`` for WORKER_POLL_SECONDS),
        through the key's own parser; refused, a ``VippsConfigurationError`` naming both."""
        setting = self.schema[key]
        context = Context(bool(settings.DEBUG), "settings", os.environ, self.environment_prefix)
        entry = self._parsed(setting, value, context)
        if entry.refusals:
            label = f"{self.name}[{key!r}]"
            reasons = " ".join(
                r.message.replace(label, f"{given_as} (for {label})", 1) for r in entry.refusals
            )
            raise VippsConfigurationError(f"{reasons} {setting.hint}")
        return entry.value

    def _refusal(self, setting: Setting, problem: Problem, source: Source) -> Refusal:
        hint = problem.hint or setting.hint
        if problem.suggestion is not None:
            hint = f"Did you mean {problem.suggestion!r}? {hint}"
        return Refusal(
            setting.key,
            problem.check_id or setting.check_id,
            f"{self._label(setting.key, problem.path, source)} {problem.reason}.",
            hint,
        )


# ---------------------------------------------------------------------- parsers any key may use


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice ``value`` was probably meant to be (case first, then spelling), or ``None``."""
    choices = list(choices)
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    matches = difflib.get_close_matches(value.upper(), [c.upper() for c in choices], n=1)
    if not matches:
        matches = difflib.get_close_matches(value, choices, n=1)
    if not matches:
        return None
    return next(c for c in choices if c.upper() == matches[0].upper())


def is_number(value: Any) -> bool:
    """A finite int or float; ``True`` is no number of seconds."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds_between(low: float, high: float) -> Parser:
    """A number of seconds from ``low`` to ``high``: a lease too short to renew, a poll that
    spins, a timeout no socket takes are refused, not found out later."""

    def parse(value: Any, context: Context) -> float:
        if is_number(value) and low <= value <= high:
            return float(value)
        raise Invalid(f"is {value!r}, not a number of seconds from {low:g} to {high:g}")

    return parse


def positive_integer(value: Any, context: Context) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise Invalid(f"is {value!r}, not a positive integer")


def as_duration(value: Any) -> timedelta | None:
    """A positive ``timedelta``, or a positive number of seconds as one; ``None`` otherwise."""
    if isinstance(value, timedelta):
        return value if value > timedelta(0) else None
    if not is_number(value) or value <= 0:
        return None
    try:
        found = timedelta(seconds=value)
    except OverflowError:  # more than timedelta holds (about 2.7 million years)
        return None
    return found if found > timedelta(0) else None  # 1e-9 s rounds to nothing


def duration(value: Any, context: Context) -> timedelta:
    found = as_duration(value)
    if found is None:
        raise Invalid(f"is {value!r}, not a positive timedelta or number of seconds")
    return found


def optional_duration(value: Any, context: Context) -> timedelta | None:
    found = as_duration(value)
    if found is None and value is not None:
        raise Invalid(f"is {value!r}, not a positive timedelta, a number of seconds or None")
    return found


def text(value: Any, context: Context) -> str:
    """A string; ``None`` is the empty one."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise Invalid(f"is {value!r}, not a string")


def name(value: Any, context: Context) -> str:
    """A non-empty string: an alias, a queue, a code."""
    if isinstance(value, str) and value.strip():
        return value
    raise Invalid(f"is {value!r}, not a name")


def flag(value: Any, context: Context) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"is {value!r}, not True or False")


def choice(kind: type[StrEnum]) -> Parser:
    """A parser for one of ``kind``'s values; a near miss is named in the hint."""
    values = [member.value for member in kind]

    def parse(value: Any, context: Context) -> StrEnum:
        if isinstance(value, str) and value in values:
            return kind(value)
        known = ", ".join(repr(v) for v in values)
        raise Invalid(
            Problem(f"is {value!r}, not one of {known}", suggestion=closest(str(value), values))
        )

    return parse


def sub_dict(value: Any, defaults: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A dict of sub-keys merged over ``defaults``: a project gives only those it changes.

    ``None`` is the defaults; refuses what is not a dict, and every sub-key ``defaults`` lacks.
    """
    if value is None:
        return dict(defaults)
    if not isinstance(value, Mapping):
        raise Invalid(
            Problem(
                f"must be a dict, not {type(value).__name__}",
                hint=f"Give only the keys you change, out of {', '.join(defaults)}.",
            )
        )
    unknown = [sub for sub in value if sub not in defaults]
    if unknown:
        problems = []
        article = "an" if key[:1] in "AEIOU" else "a"
        for sub in unknown:
            problems.append(
                Problem(
                    f"is not {article} {key} setting",
                    (str(sub),),
                    f"The keys are {', '.join(defaults)}.",
                    suggestion=closest(str(sub), defaults),
                )
            )
        raise Invalid(*problems)
    return {**defaults, **value}
