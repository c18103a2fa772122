"""What the fake remembers: merchants, stored receipts, categories, images and payments, issued
tokens, the request log and its clock, all behind one lock.

Handler threads write and test threads read at the same time, so every reader hands out deep
copies: a test can change what it got without changing what "Vipps" holds. Orders are keyed
``(msn, paymentType, orderId)`` with the payment type upper-case; images are per merchant.
What is stored (not tokens, clock or log) can be taken out and put back (:meth:`snapshot`,
:meth:`restore`), and every change of it calls a listener under the lock: the state file.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .http import Headers
from .validation import MSN_RE

__all__ = [
    "FakeMerchant",
    "FakeState",
    "IssuedToken",
    "MerchantData",
    "OrderKey",
    "RecordedRequest",
    "same_secret",
]

#: ``(merchant serial number, "ECOM" | "RECURRING", orderId)``
OrderKey = tuple[str, str, str]


def same_secret(given: str, expected: str) -> bool:
    """Compare keys and secrets in constant time, as a real server would."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class FakeMerchant:
    """One sales unit: its API keys and merchant serial number. ``FakeMerchant()`` is the default."""

    client_id: str = "fake-client-id"
    client_secret: str = field(default="fake-client-secret", repr=False)
    subscription_key: str = field(default="fake-subscription-key", repr=False)
    merchant_serial_number: str = "123456"
    #: Shown on the app preview; the MSN when empty.
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "subscription_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"FakeMerchant.{name} must be a non-empty string")
        msn = self.merchant_serial_number
        if not isinstance(msn, str) or not MSN_RE.fullmatch(msn):
            raise ValueError(f"FakeMerchant.merchant_serial_number must be 4-7 digits, not {msn!r}")

    @classmethod
    def generate(cls, *, msn: str | int | None = None) -> FakeMerchant:
        """A merchant with random keys (and a random 6-digit MSN unless ``msn`` is given)."""
        return cls(
            client_id=str(uuid.uuid4()),
            client_secret=secrets.token_urlsafe(24),
            subscription_key=secrets.token_hex(16),
            merchant_serial_number=str(msn)
            if msn is not None
            else str(secrets.randbelow(900000) + 100000),
        )

    @property
    def msn(self) -> str:
        return self.merchant_serial_number

    @property
    def credentials(self) -> dict[str, str]:
        """The four values a client needs, keyed as in ``FakeVippsServer.credentials``."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "subscription_key": self.subscription_key,
            "merchant_serial_number": self.merchant_serial_number,
        }


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it, with the access token and client secret redacted.

    ``status`` is what the fake answered, or ``None`` when the connection was dropped before any
    processing; for ``drop_next(after_processing=True)`` it is the status that was computed (and
    stored) but never delivered. ``note`` says why the fake refused a request, for debugging;
    ``connection`` numbers the TCP connection, so tests can check keep-alive reuse.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    json: Any
    status: int | None
    token_jti: str | None
    fault: str | None
    time: float
    connection: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the fake remembers of an access token it issued; the JWT itself is not stored."""

    jti: str
    msn: str
    subscription_key: str
    not_before: int
    expires_on: int


@dataclass(frozen=True, slots=True)
class MerchantData:
    """A consistent copy of everything stored for one merchant serial number, taken under the
    lock; ``name`` is the registered merchant's (empty for data of an MSN not registered)."""

    msn: str
    name: str
    receipts: dict[tuple[str, str], dict[str, Any]]
    categories: dict[tuple[str, str], dict[str, Any]]
    categories_v3: list[dict[str, Any]]
    images: dict[str, bytes]
    payments: dict[str, dict[str, Any]]


class FakeState:
    """The fake's memory. Merchants survive :meth:`clear`; everything else is forgotten."""

    def __init__(self, merchants: Iterable[FakeMerchant]) -> None:
        self.lock = threading.RLock()
        self._merchants: dict[str, FakeMerchant] = {}
        self._in_flight: list[tuple[str, str]] = []
        self._listener: Callable[[], None] | None = None
        self.generation = 0
        for merchant in merchants:
            self.add_merchant(merchant)
        if not self._merchants:
            raise ValueError("a FakeVippsServer needs at least one merchant")
        self.clear()

    def clear(self) -> None:
        """Forget stored data, tokens and requests and rewind the clock; start a new generation.

        Requests still in flight belong to the old generation: they must not change the new
        state nor appear in its log (see :meth:`record`).
        """
        with self.lock:
            self.generation += 1
            self._clock_offset = 0.0
            self._tokens: dict[str, IssuedToken] = {}
            self._receipts: dict[OrderKey, dict[str, Any]] = {}
            self._categories_v2: dict[OrderKey, dict[str, Any]] = {}
            self._categories_v3: dict[str, dict[str, dict[str, Any]]] = {}
            self._images: dict[str, dict[str, bytes]] = {}
            self._payments: dict[tuple[str, str], dict[str, Any]] = {}
            self._requests: list[RecordedRequest] = []
            self._changed()

    def on_change(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (holding the lock) after every change of what is stored."""
        with self.lock:
            self._listener = listener

    def _changed(self) -> None:
        if self._listener is not None:
            self._listener()

    # ---------------------------------------------------------------- merchants and clock

    @property
    def merchants(self) -> tuple[FakeMerchant, ...]:
        with self.lock:
            return tuple(self._merchants.values())

    def merchant(self, msn: str) -> FakeMerchant | None:
        with self.lock:
            return self._merchants.get(msn)

    def add_merchant(self, merchant: FakeMerchant) -> FakeMerchant:
        with self.lock:
            for other in self._merchants.values():
                if other.msn == merchant.msn:
                    raise ValueError(f"merchant serial number {merchant.msn} is already registered")
                if other.subscription_key == merchant.subscription_key:
                    raise ValueError("that subscription key belongs to another merchant")
                if other.client_id == merchant.client_id:
                    raise ValueError("that client_id belongs to another merchant")
            self._merchants[merchant.msn] = merchant
        return merchant

    def merchant_for_key(self, subscription_key: str) -> FakeMerchant | None:
        with self.lock:
            for merchant in self._merchants.values():
                if same_secret(subscription_key, merchant.subscription_key):
                    return merchant
        return None

    def now(self) -> float:
        """The fake's clock (epoch seconds): the wall clock plus :meth:`advance_clock` offsets."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self._clock_offset += seconds
        return self.now()

    # ---------------------------------------------------------------- tokens

    def add_token(self, token: IssuedToken) -> None:
        with self.lock:
            self._tokens[token.jti] = token

    def token(self, jti: str) -> IssuedToken | None:
        with self.lock:
            return self._tokens.get(jti)

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    # ---------------------------------------------------------------- receipts and v2 categories

    def receipt(self, key: OrderKey) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._receipts.get(key))

    def has_receipt(self, key: OrderKey) -> bool:
        with self.lock:
            return key in self._receipts

    def add_receipt(self, key: OrderKey, body: Mapping[str, Any], *, replace: bool = False) -> bool:
        """Store a copy of ``body``; ``False`` (and nothing changed) if one exists, unless ``replace``."""
        with self.lock:
            if key in self._receipts and not replace:
                return False
            self._receipts[key] = copy.deepcopy(dict(body))
            self._changed()
        return True

    def category(self, key: OrderKey) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._categories_v2.get(key))

    def put_category(self, key: OrderKey, category: Mapping[str, Any]) -> None:
        """Upsert: the previous category of the order is gone."""
        with self.lock:
            self._categories_v2[key] = copy.deepcopy(dict(category))
            self._changed()

    def order_keys(self) -> list[OrderKey]:
        """Every order that holds a receipt or a category (v2 or v3), sorted."""
        with self.lock:
            keys = set(self._receipts) | set(self._categories_v2)
            for msn, categories in self._categories_v3.items():
                keys |= {(msn, c["paymentType"], c["orderId"]) for c in categories.values()}
        return sorted(keys)

    # ---------------------------------------------------------------- v3 categories

    def categories_v3(
        self, msn: str, order_id: str, payment_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The order's v3 categories, oldest first; of any payment type unless one is given."""
        with self.lock:
            return [
                copy.deepcopy(item)
                for item in self._categories_v3.get(msn, {}).values()
                if item["orderId"] == order_id
                and (payment_type is None or item["paymentType"] == payment_type)
            ]

    def category_v3(self, msn: str, category_id: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._categories_v3.get(msn, {}).get(category_id))

    def add_category_v3(self, msn: str, category: Mapping[str, Any], *, cap: int | None) -> bool:
        """Store it under its ``categoryId``; ``False`` if its order already holds ``cap``."""
        with self.lock:
            stored = self._categories_v3.setdefault(msn, {})
            if cap is not None:
                count = sum(
                    1
                    for item in stored.values()
                    if item["orderId"] == category["orderId"]
                    and item["paymentType"] == category["paymentType"]
                )
                if count >= cap:
                    return False
            stored[category["categoryId"]] = copy.deepcopy(dict(category))
            self._changed()
        return True

    def delete_category_v3(self, msn: str, category_id: str) -> bool:
        with self.lock:
            if self._categories_v3.get(msn, {}).pop(category_id, None) is None:
                return False
            self._changed()
        return True

    # ---------------------------------------------------------------- images and payments

    def images(self, msn: str) -> dict[str, bytes]:
        with self.lock:
            return dict(self._images.get(msn, {}))

    def has_image(self, msn: str, image_id: str) -> bool:
        with self.lock:
            return image_id in self._images.get(msn, {})

    def add_image(self, msn: str, image_id: str, data: bytes, *, replace: bool = False) -> bool:
        """Store the bytes; ``False`` (and the first bytes kept) if the id exists, unless ``replace``."""
        with self.lock:
            stored = self._images.setdefault(msn, {})
            if image_id in stored and not replace:
                return False
            stored[image_id] = bytes(data)
            self._changed()
        return True

    def payments(self, msn: str) -> dict[str, dict[str, Any]]:
        """``{reference: payment record}`` of the merchant's ePayment payments (copies)."""
        with self.lock:
            return {
                ref: copy.deepcopy(record)
                for (owner, ref), record in self._payments.items()
                if owner == msn
            }

    def payment(self, msn: str, reference: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._payments.get((msn, reference)))

    def put_payment(self, msn: str, reference: str, record: Mapping[str, Any]) -> None:
        """Store (or replace) the payment's record: the ePayment module owns its shape."""
        with self.lock:
            self._payments[(msn, reference)] = copy.deepcopy(dict(record))
            self._changed()

    def find_payment(
        self, matches: Callable[[str, Mapping[str, Any]], bool]
    ) -> tuple[str, str, dict[str, Any]] | None:
        """``(msn, reference, record)`` of the first payment ``matches(msn, record)`` accepts."""
        with self.lock:
            for (msn, reference), record in self._payments.items():
                if matches(msn, record):
                    return msn, reference, copy.deepcopy(record)
        return None

    def payment_keys(self) -> list[tuple[str, str]]:
        """``(msn, reference)`` of every payment, oldest first."""
        with self.lock:
            return list(self._payments)

    # ---------------------------------------------------------------- all of it at once

    def merchant_data(self, msn: str) -> MerchantData | None:
        """Everything stored for the merchant, copied at one moment; ``None`` for an unknown MSN."""
        with self.lock:
            if msn not in self._merchants:
                return None
            return self._data_of(msn)

    def snapshot(self) -> list[MerchantData]:
        """Everything stored, per MSN: every registered merchant and any other MSN holding data
        (restored from a state file written when other merchants were registered)."""
        with self.lock:
            msns = set(self._merchants) | set(self._images) | set(self._categories_v3)
            msns |= {key[0] for key in (*self._receipts, *self._categories_v2, *self._payments)}
            return [self._data_of(msn) for msn in sorted(msns)]

    def restore(self, merchants: Iterable[MerchantData]) -> None:
        """Replace what is stored by ``merchants`` (a :meth:`snapshot`); tokens and log stay."""
        with self.lock:
            self._receipts, self._categories_v2, self._payments = {}, {}, {}
            self._categories_v3, self._images = {}, {}
            for data in merchants:
                msn = data.msn
                for (kind, order_id), body in data.receipts.items():
                    self._receipts[(msn, kind, order_id)] = copy.deepcopy(body)
                for (kind, order_id), category in data.categories.items():
                    self._categories_v2[(msn, kind, order_id)] = copy.deepcopy(category)
                self._categories_v3[msn] = {
                    item["categoryId"]: copy.deepcopy(item) for item in data.categories_v3
                }
                self._images[msn] = dict(data.images)
                for reference, body in data.payments.items():
                    self._payments[(msn, reference)] = copy.deepcopy(body)
            self._changed()

    def _data_of(self, msn: str) -> MerchantData:
        merchant = self._merchants.get(msn)
        return MerchantData(
            msn=msn,
            name=merchant.name if merchant is not None else "",
            receipts={
                (kind, order_id): copy.deepcopy(body)
                for (owner, kind, order_id), body in self._receipts.items()
                if owner == msn
            },
            categories={
                (kind, order_id): copy.deepcopy(category)
                for (owner, kind, order_id), category in self._categories_v2.items()
                if owner == msn
            },
            categories_v3=copy.deepcopy(list(self._categories_v3.get(msn, {}).values())),
            images=dict(self._images.get(msn, {})),
            payments=self.payments(msn),
        )

    # ---------------------------------------------------------------- request log

    def record(self, request: RecordedRequest, generation: int) -> None:
        """Log ``request`` unless it began before the last :meth:`clear`."""
        with self.lock:
            if generation == self.generation:
                self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (copies)."""
        with self.lock:
            records = list(self._requests)
        return [dataclasses.replace(record, json=copy.deepcopy(record.json)) for record in records]

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    @contextlib.contextmanager
    def in_flight(self, method: str, path: str) -> Iterator[None]:
        """Count the request as arrived and unanswered while the block runs."""
        entry = (method, path)
        with self.lock:
            self._in_flight.append(entry)
        try:
            yield
        finally:
            with self.lock:
                self._in_flight.remove(entry)

    def count_in_flight(self, method: str | None, path_contains: str | None) -> int:
        with self.lock:
            return sum(
                1
                for verb, path in self._in_flight
                if (method is None or verb == method.upper())
                and (path_contains is None or path_contains.lower() in path.lower())
            )
