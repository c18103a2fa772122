"""Request parsers of the API: bounded, so that no body can cost more than a bad request.

DRF's parsers read the whole body and hand JSON to a recursive decoder: a body nested 100,000
levels deep ends in a ``RecursionError`` (a 500), and a large one is read into memory whole
(Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not apply to the stream DRF reads). These read at
most :data:`MAX_BODY_BYTES`, check the nesting before decoding, and answer 413 or 400 with a
JSON ``detail`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.utils import json

if TYPE_CHECKING:
    from django.http.request import _ImmutableQueryDict  # what request.POST is, in the stubs

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "ApiFormParser", "ApiJSONParser", "BodyTooLarge"]

MAX_BODY_BYTES = 64 * 1024
"""The largest JSON or form body accepted. The largest valid body, a link with a 2,048-character
URL, is a few KiB even with every character escaped; uploads are multipart, with their own
limit."""

MAX_JSON_DEPTH = 16
"""The deepest nesting of arrays and objects accepted; the API's bodies are two levels deep."""


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "too_large"


def _read_bounded(stream: IO[bytes], limit: int) -> bytes:
    """The body, read up to ``limit`` bytes; more is a 413, without reading the rest."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:  # a stream may return less than asked before its end
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BodyTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": limit})
    return b"".join(chunks)


def _too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit``, counted without recursion.

    Brackets inside strings do not count. Malformed JSON is left for the decoder to refuse.
    """
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _encoding(parser_context: Mapping[str, Any] | None) -> str:
    """The body's charset; only text encodings (not ``bz2_codec`` and the like) are taken."""
    encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError):
        raise ParseError(
            _('Unsupported charset "%(charset)s" in the Content-Type header.')
            % {"charset": encoding}
        ) from None
    return encoding


class ApiJSONParser(JSONParser):
    """DRF's JSON parser with a bounded read and a depth check before decoding."""

    max_bytes = MAX_BODY_BYTES
    max_depth = MAX_JSON_DEPTH

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = _encoding(parser_context)
        data = _read_bounded(stream, self.max_bytes)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        if _too_deep(text, self.max_depth):
            raise ParseError(
                _("JSON parse error - arrays and objects nest deeper than %(depth)d levels.")
                % {"depth": self.max_depth}
            )
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None


class ApiFormParser(FormParser):
    """DRF's form parser (``application/x-www-form-urlencoded``) with a bounded read."""

    max_bytes = MAX_BODY_BYTES

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> _ImmutableQueryDict:
        encoding = _encoding(parser_context)
        return QueryDict(_read_bounded(stream, self.max_bytes), encoding=encoding)
