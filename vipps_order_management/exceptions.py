"""The exception tree every layer raises.

``VippsError`` is the root, so a shop can catch everything this app raises with one clause.
API errors carry what Vipps answered (status, problem details, invalid parameters, Retry-After)
so that callers can branch on data rather than on message text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ImageMissingAtVipps",
    "ImageSourceError",
    "ImageValidationError",
    "InvalidParam",
    "PayloadValidationError",
    "ReceiptValidationError",
    "StorageUnavailable",
    "VippsAPIError",
    "VippsAuthError",
    "VippsConfigurationError",
    "VippsConflict",
    "VippsError",
    "VippsNotFound",
    "VippsTransientError",
]


class VippsError(Exception):
    """Base class of every error raised by vipps_order_management."""


class VippsConfigurationError(VippsError):
    """The app is configured in a way that cannot work (missing credentials, unknown adapter...)."""


@dataclass(frozen=True, slots=True)
class InvalidParam:
    """One entry of a problem response's ``invalidParams`` (or ``extraDetails``)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}" if self.name else self.reason


class VippsAPIError(VippsError):
    """Vipps answered with an error, or could not be reached.

    ``status_code`` is ``None`` when no HTTP response arrived (timeout, refused or dropped
    connection; ``network_error`` says which). ``retry_after`` is in seconds, taken from the
    ``Retry-After`` header.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        title: str = "",
        detail: str = "",
        invalid_params: Sequence[InvalidParam] = (),
        retry_after: float | None = None,
        instance: str = "",
        method: str = "",
        path: str = "",
        network_error: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.detail = detail
        self.invalid_params: tuple[InvalidParam, ...] = tuple(invalid_params)
        self.retry_after = retry_after
        self.instance = instance
        self.method = method
        self.path = path
        #: Why no answer came, when none did: "timeout", "tls" or "connection".
        self.network_error = network_error

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return isinstance(self, VippsTransientError)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={str(self)!r})"


class VippsAuthError(VippsAPIError):
    """401 or 403: credentials, subscription key, token or merchant serial number were refused."""


class VippsConflict(VippsAPIError):
    """409, or 400 with "duplicate": what we tried to create already exists at Vipps."""


class VippsNotFound(VippsAPIError):
    """404: the resource does not exist at Vipps."""


class VippsTransientError(VippsAPIError):
    """5xx, 429, 423, timeouts and connection errors: retry later, honouring ``retry_after``."""


class ImageMissingAtVipps(VippsTransientError):
    """Vipps answered 404 to a link naming an image it no longer has (its data was reset, a
    new merchant): the image is uploaded again and the link sent after it."""

    def __init__(self, image_id: str, merchant_serial_number: str, error: VippsAPIError) -> None:
        super().__init__(
            f"Vipps no longer has the image {image_id}; it is uploaded again ({error})",
            status_code=error.status_code,
            method=error.method,
            path=error.path,
        )
        self.image_id = image_id
        self.merchant_serial_number = merchant_serial_number


class PayloadValidationError(VippsError, ValueError):
    """A payload failed local validation; nothing was sent.

    ``errors`` is a list of ``(path, message)`` pairs, the path in the API's JSON spelling,
    e.g. ``("orderLines[1].totalTaxAmount", "...")``, so every problem is reported at once.
    """

    def __init__(self, errors: Iterable[tuple[str, str]], *, subject: str = "payload") -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        self.subject = subject
        lines = "; ".join(
            f"{path}: {message}" if path else message for path, message in self.errors
        )
        count = len(self.errors)
        super().__init__(f"Invalid {subject} ({count} problem{'s' if count != 1 else ''}): {lines}")

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.errors]


class ReceiptValidationError(PayloadValidationError):
    """A receipt (order lines and bottom line) failed local validation; it was not sent."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        super().__init__(errors, subject="receipt")


class ImageValidationError(VippsError, ValueError):
    """An image cannot be made acceptable to Vipps; ``reason`` says why in a shop owner's words."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class ImageSourceError(VippsError):
    """An image cannot be read, and waiting will not change that: a name outside the storage, a
    storage alias that does not exist, no permission to read. Staff must fix the source."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class StorageUnavailable(VippsError):
    """The storage holding an image could not be read just now (a timeout, S3 failing): retry.

    The backend's own exception is the ``__cause__``.
    """
