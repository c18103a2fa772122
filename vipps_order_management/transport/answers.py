"""What Vipps answered: the body of a success, or the typed exception of a failure.

Vipps answers errors in several shapes (``application/problem+json``, Azure's
``{"statusCode", "message"}``, the token endpoint's ``{"error"}``, plain text); every shape
becomes the same fields of :class:`~vipps_order_management.exceptions.VippsAPIError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ..exceptions import (
    InvalidParam,
    VippsAPIError,
    VippsAuthError,
    VippsConflict,
    VippsNotFound,
    VippsTransientError,
)
from ..outcomes import Outcome, classify_status

__all__ = ["Answer", "already_there", "as_id", "error_for", "retry_after", "success_body"]

#: How much of an error body a message quotes.
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Answer:
    """What Vipps answered: status, the whole body, headers (case-insensitive) and reason."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]
    reason: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def success_body(answer: Answer) -> Any:
    """JSON when it parses, else the stripped text (a bare id), else ``None`` for no body."""
    raw = answer.content
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return answer.text.strip()


def as_id(body: Any) -> str | None:
    """The id a success body names, whether bare text or a JSON object."""
    if isinstance(body, str):
        return body.strip().strip('"') or None
    if isinstance(body, Mapping):
        for key in ("id", "categoryId", "imageId"):
            if body.get(key):
                return str(body[key])
    return None


def error_for(
    answer: Answer, method: str, path: str, redact: Callable[[str], str] = str
) -> VippsAPIError:
    """The exception for an error answer: its class says what the engine does next.

    ``redact`` removes secrets from every text taken from the answer.
    """
    status = answer.status_code
    title, detail, instance, params = problem_details(answer)
    wait = retry_after(answer.headers.get("Retry-After"))
    summary = ": ".join(part for part in (title, detail) if part) or answer.reason or ""
    message = f"{method} {path}: Vipps answered {status}"
    if summary:
        message += f" ({summary})"
    if params:
        message += ": " + "; ".join(str(param) for param in params)
    if wait is not None:
        message += f"; retry after {wait:g} s"
    cls = _error_class(status, f"{title}:{detail}")
    return cls(
        redact(message),
        status_code=status,
        title=redact(title),
        detail=redact(detail),
        invalid_params=params,
        retry_after=wait,
        instance=instance,
        method=method,
        path=path,
    )


def already_there(answer: Answer) -> bool:
    """Whether Vipps refused to create what already exists (409, or a 400 saying "duplicate"):
    the engine takes that as done, and the call log files the call so."""
    if answer.status_code not in (400, 409):
        return False
    title, detail, _instance, _params = problem_details(answer)
    return _conflict(answer.status_code, f"{title}:{detail}")


def _conflict(status: int, text: str) -> bool:
    return status == 409 or (status == 400 and "duplicate" in " ".join(text.split()).lower())


def _error_class(status: int, text: str) -> type[VippsAPIError]:
    if status in (401, 403):
        return VippsAuthError
    if status == 404:
        return VippsNotFound
    if _conflict(status, text):
        return VippsConflict
    if classify_status(status) is Outcome.RETRY:
        return VippsTransientError
    return VippsAPIError


def problem_details(answer: Answer) -> tuple[str, str, str, tuple[InvalidParam, ...]]:
    """``(title, detail, instance, invalid params)`` from any error body shape Vipps uses."""
    try:
        body = answer.json()
    except ValueError:
        return "", " ".join(answer.text.split())[:ERROR_TEXT_LIMIT], "", ()
    if isinstance(body, str):
        return "", body[:ERROR_TEXT_LIMIT], "", ()
    if not isinstance(body, Mapping):
        return "", "", "", ()
    title = str(body.get("title") or "")
    detail = body.get("detail") or body.get("message") or body.get("error_description") or ""
    if not detail and isinstance(body.get("error"), str):
        detail = body["error"]
    instance = str(body.get("instance") or body.get("traceId") or "")
    return title, str(detail)[:ERROR_TEXT_LIMIT], instance, _invalid_params(body)


def _invalid_params(body: Mapping[str, Any]) -> tuple[InvalidParam, ...]:
    """The fields Vipps names, as a list of ``{name, reason}`` or a map of name to reasons."""
    params: list[InvalidParam] = []
    for key in ("invalidParams", "extraDetails"):
        value = body.get(key)
        if isinstance(value, list):
            params.extend(
                InvalidParam(
                    str(item.get("name") or item.get("field") or ""),
                    str(item.get("reason") or item.get("message") or ""),
                )
                for item in value
                if isinstance(item, Mapping)
            )
        elif isinstance(value, Mapping):
            for name, reasons in value.items():
                for reason in reasons if isinstance(reasons, list) else [reasons]:
                    params.append(InvalidParam(str(name), str(reason)))
    return tuple(params)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
