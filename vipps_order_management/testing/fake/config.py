"""The switches of a fake Vipps: limits, and which of Vipps's observed behaviours to imitate.

One mutable object shared by the server and its handlers, so a test can flip a switch on a
running server (``fake.duplicate_image_status = 400``) and the next request sees it; ``reset``
puts back the values given to the constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["FakeConfig"]


@dataclass(slots=True)
class FakeConfig:
    """Keyword arguments of ``FakeVippsServer`` beyond host, port and merchants."""

    token_lifetime: int = 3600
    max_image_bytes: int = 2 * 1024 * 1024
    min_image_height: int = 167
    #: 409, as Vipps answers today; 400 (+"duplicate") as it did in 2022.
    duplicate_image_status: int = 409
    #: "text": a bare id as text/plain, as Vipps really answers; "json": as the spec says.
    success_body: str = "text"
    #: A category naming an image never uploaded for its MSN: 404, as the spec lists (Vipps's
    #: guide says images are uploaded first; what it really answers is unknown, so refuse);
    #: 400; or None to accept it.
    unknown_image_status: int | None = 404
    v3_category_cap: int | None = None
    problem_details_key: str = "invalidParams"
    #: Hosts whose plain-http links are accepted: a development allowance (the example shop
    #: on http://127.0.0.1). Empty by default, like Vipps, which opens https links only.
    http_link_hosts: Collection[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.duplicate_image_status not in (400, 409):
            raise ValueError("duplicate_image_status must be 409 or 400")
        if self.success_body not in ("text", "json"):
            raise ValueError('success_body must be "text" or "json"')
        if self.unknown_image_status not in (None, 400, 404):
            raise ValueError(
                "unknown_image_status must be 404 (the default), 400, or None to accept, "
                f"not {self.unknown_image_status!r}"
            )
        if self.problem_details_key not in ("invalidParams", "extraDetails"):
            raise ValueError('problem_details_key must be "invalidParams" or "extraDetails"')
        self.http_link_hosts = frozenset(self.http_link_hosts)

    @property
    def max_request_bytes(self) -> int:
        """Bodies above this are refused with 413 unread: room for a max-size image in base64."""
        return self.max_image_bytes * 4 // 3 * 2 + 1024 * 1024

    def restore(self, other: FakeConfig) -> None:
        """Take every value of ``other``, in place (handlers hold this object)."""
        for item in dataclasses.fields(self):
            setattr(self, item.name, getattr(other, item.name))
