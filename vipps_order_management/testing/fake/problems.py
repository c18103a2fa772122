"""How Vipps says no: problem documents from the API, and Azure API Management's own bodies.

Two shapes reach a client and it must handle both: RFC 7807 ``application/problem+json``
documents with ``invalidParams`` (or ``extraDetails``, switchable) from the API itself, and
``{"statusCode", "message"}`` from the gateway in front of it (401s, 429s, unknown paths).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from .http import Response

__all__ = ["VALIDATION_TITLE", "Problem", "azure", "token_error"]

VALIDATION_TITLE = "One or more validation errors occurred."

_PROBLEM_TYPES = {
    400: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.1",
    401: "https://datatracker.ietf.org/doc/html/rfc7235#section-3.1",
    403: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.3",
    404: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.4",
    405: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.5",
    409: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.8",
    413: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.11",
    415: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.13",
    500: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.1",
    502: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.3",
    503: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.4",
    504: "https://datatracker.ietf.org/doc/html/rfc7231#section-6.6.5",
}


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


class Problem(Exception):
    """A refusal in the API's problem+json shape, raised by a handler.

    The server renders it (:meth:`response`) with the ``problem_details_key`` configured at that
    moment, so handlers need not know which variant of the body is being imitated.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        title: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        details_key: str | None = None,
    ) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.params = list(params)
        self.title = title
        self.headers = list(headers)
        #: The API's own spelling of the field list (ePayment: ``extraDetails``), whatever the
        #: server is configured to imitate for Order Management.
        self.details_key = details_key

    @classmethod
    def invalid(
        cls,
        problems: Sequence[tuple[str, str]],
        status: int = 400,
        *,
        details_key: str | None = None,
    ) -> Problem:
        """One 400 listing every problem; the detail is the reason itself when there is only one."""
        reasons = list(dict.fromkeys(reason for _, reason in problems))
        if len(reasons) == 1:
            detail = reasons[0]
        else:
            detail = "; ".join(f"{name}: {reason}" if name else reason for name, reason in problems)
        return cls(status, detail, problems, title=VALIDATION_TITLE, details_key=details_key)

    def response(self, details_key: str = "invalidParams") -> Response:
        details_key = self.details_key or details_key
        trace = _trace_id()
        body: dict[str, Any] = {
            "type": _PROBLEM_TYPES.get(self.status, "about:blank"),
            "title": self.title or HTTPStatus(self.status).phrase,
            "detail": self.detail,
            "instance": trace,
            details_key: [{"name": name, "reason": reason} for name, reason in self.params],
        }
        if details_key == "extraDetails":  # the newer APIs' shape (ePayment's Problem)
            body["status"] = self.status
            body["traceId"] = trace
        return Response.json(
            self.status,
            body,
            content_type="application/problem+json; charset=utf-8",
            headers=self.headers,
            note=self.detail,
        )


def azure(
    status: int, message: str, *, headers: Iterable[tuple[str, str]] = (), note: str | None = None
) -> Response:
    """The body Azure API Management sends for its own refusals (not a problem document)."""
    return Response.json(
        status, {"statusCode": status, "message": message}, headers=headers, note=note or message
    )


def token_error(status: int, error: str, description: str) -> Response:
    """The access token endpoint's OAuth-style error body."""
    return Response.json(
        status, {"error": error, "error_description": description}, note=description
    )
