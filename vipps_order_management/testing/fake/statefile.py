"""The fake's memory on disk (``--state-file``), so that a restart keeps what the app has sent.

The app uploads an image once per merchant and from then on only names it; a fake that forgot
its images when restarted would refuse every later category that names one. The file is the
document of ``GET /_fake/state`` (the ePayment payments included) with what that document
leaves out put back: each image's bytes (base64, beside its size, height and format). Tokens
and the request log are not kept: clients fetch new tokens. It is indented JSON with sorted keys, so a
person can read it, and it is rewritten whole after every change: a temporary file in the same
directory, then ``os.replace``, so a crash leaves the previous version, never half of one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .inspection import merchant_document
from .state import FakeState, MerchantData
from .validation import MSN_RE, PAYMENT_TYPES

__all__ = ["FORMAT", "VERSION", "StateFile", "StateFileError"]

FORMAT = "vipps-order-management fake Vipps state"
VERSION = 1


class StateFileError(ValueError):
    """The state file cannot be read or written; the message names it and says what to do."""


def _document(merchants: list[MerchantData]) -> dict[str, Any]:
    documents = {}
    for data in merchants:
        document = merchant_document(data)
        for image_id, facts in document["images"].items():
            facts["base64"] = base64.b64encode(data.images[image_id]).decode("ascii")
        documents[data.msn] = document
    return {"format": FORMAT, "version": VERSION, "merchants": documents}


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def _by_order(value: Any, where: str) -> dict[tuple[str, str], Any]:
    """``{"ECOM": {orderId: item}, ...}`` as ``{(kind, orderId): item}``."""
    found = {}
    for kind, orders in _mapping(value, where).items():
        if kind not in PAYMENT_TYPES:
            raise ValueError(f"{where} has {kind!r}, not ECOM or RECURRING")
        for order_id, item in _mapping(orders, f"{where}.{kind}").items():
            found[(kind, order_id)] = item
    return found


def _bodies_by_order(value: Any, where: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (kind, order_id): dict(_mapping(body, f"{where}.{kind}[{order_id!r}]"))
        for (kind, order_id), body in _by_order(value, where).items()
    }


def _images(value: Any, where: str) -> dict[str, bytes]:
    images = {}
    for image_id, facts in _mapping(value, where).items():
        encoded = _mapping(facts, f"{where}[{image_id!r}]").get("base64")
        try:
            images[image_id] = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}[{image_id!r}].base64 is not valid base64") from None
    return images


def _merchant_data(msn: str, value: Any) -> MerchantData:
    where = f"merchants[{msn!r}]"
    if not MSN_RE.fullmatch(msn):
        raise ValueError(f"{where}: {msn!r} is no merchant serial number (4-7 digits)")
    document = _mapping(value, where)
    categories_v3 = []
    for (kind, order_id), items in _by_order(
        document.get("categoriesV3", {}), f"{where}.categoriesV3"
    ).items():
        if not isinstance(items, list):
            raise ValueError(f"{where}.categoriesV3.{kind}[{order_id!r}] must be a list")
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("categoryId"), str):
                raise ValueError(f"{where}.categoriesV3 holds a category without categoryId")
            categories_v3.append(dict(item))
    return MerchantData(
        msn=msn,
        name="",
        receipts=_bodies_by_order(document.get("receipts", {}), f"{where}.receipts"),
        categories=_bodies_by_order(document.get("categories", {}), f"{where}.categories"),
        categories_v3=categories_v3,
        images=_images(document.get("images", {}), f"{where}.images"),
        payments=dict(_mapping(document.get("payments", {}), f"{where}.payments")),
    )


def _parse(text: str) -> list[MerchantData]:
    document = _mapping(json.loads(text), "the document")
    if document.get("format") != FORMAT:
        raise ValueError(f'it has no "format": {json.dumps(FORMAT)}, so it is no state file')
    if document.get("version") != VERSION:
        raise ValueError(f"its version is {document.get('version')!r}; this fake reads {VERSION}")
    merchants = _mapping(document.get("merchants"), "merchants")
    return [_merchant_data(msn, value) for msn, value in merchants.items()]


class StateFile:
    """One JSON file holding a :class:`FakeState`'s stored data; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()

    def _error(self, problem: str) -> StateFileError:
        return StateFileError(
            f"The fake Vipps state file {self.path} cannot be used: {problem}. It was left as "
            "it is: fix it, move it away, or start the fake with another --state-file PATH "
            "(or --no-state-file)."
        )

    def load(self) -> list[MerchantData] | None:
        """What the file holds; ``None`` when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise self._error(f"it cannot be read ({error})") from None
        try:
            return _parse(text)
        except json.JSONDecodeError as error:
            raise self._error(f"it is not valid JSON ({error})") from None
        except ValueError as error:
            raise self._error(str(error)) from None

    def save(self, merchants: list[MerchantData]) -> None:
        """Write ``merchants`` atomically; the caller holds the state's lock, so writes never
        interleave and the file always follows the latest change."""
        text = json.dumps(_document(merchants), indent=2, sort_keys=True, ensure_ascii=False)
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as error:
            raise self._error(f"its directory cannot be written ({error})") from None
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(text + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise self._error(f"it cannot be written ({error})") from None

    def attach(self, state: FakeState) -> None:
        """Load the file into ``state`` (or write it, when there is none yet, so that a path
        that cannot be written is refused now) and write it after every change."""
        stored = self.load()
        with state.lock:
            if stored is not None:
                state.restore(stored)
            else:
                self.save(state.snapshot())
            state.on_change(lambda: self.save(state.snapshot()))
