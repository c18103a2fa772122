"""Who may call: the access token endpoint and the checks in front of every API call.

Tokens are real HS256 JWTs (signed with PyJWT) whose ``exp``, ``nbf`` and ``iat`` match the
token response's string fields, because Vipps's own SDKs read ``exp`` from the token to decide
when to refresh it; an opaque string would hide bugs in exactly that code. Each server signs
with its own random key, so a token from another fake, a tampered one or a forged one fails
as a foreign token fails at Vipps. Expiry is judged by the fake's clock, not the wall clock,
so a test can expire tokens by advancing that clock.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import jwt

from .config import FakeConfig
from .http import Abort, Request, Response
from .problems import Problem, azure, token_error
from .state import FakeMerchant, FakeState, IssuedToken, same_secret

__all__ = [
    "INVALID_KEY_MESSAGE",
    "INVALID_TOKEN_MESSAGE",
    "MISSING_KEY_MESSAGE",
    "SYSTEM_HEADER_MAX",
    "SYSTEM_HEADER_PREFIX",
    "TOKEN_ISSUER",
    "TOKEN_RESOURCE",
    "Auth",
]

TOKEN_RESOURCE = "00000002-0000-0000-c000-000000000000"  # noqa: S105 - a public, fixed id
TOKEN_ISSUER = "https://fake-vipps.invalid/"  # noqa: S105 - not a secret
_ALGORITHM = "HS256"
_KEY_ID = "fake-vipps"
MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
INVALID_TOKEN_MESSAGE = "Unauthorized. Access token is missing or invalid."  # noqa: S105
SYSTEM_HEADER_PREFIX = "vipps-system-"
SYSTEM_HEADER_MAX = 100


def _key_hash(subscription_key: str) -> str:
    return hashlib.sha256(subscription_key.encode("utf-8")).hexdigest()[:16]


#: How many checked tokens the fake remembers before it forgets them all and checks again.
_VERIFIED_TOKENS = 1024


class Auth:
    """Issues and checks access tokens for the merchants in ``state``."""

    def __init__(self, state: FakeState, config: FakeConfig) -> None:
        self._state = state
        self._config = config
        self._signing_key = secrets.token_bytes(32)
        # Tokens whose signature, audience and issuer were checked once: a client sends the
        # same token for an hour, and decoding it again on every call cost the fake a third
        # of its time. Revocation and expiry are still checked on every request.
        self._verified: dict[str, dict[str, Any]] = {}

    def token(self, request: Request) -> Response:
        """``POST /accesstoken/get``: keys in headers, an empty body, every field a string."""
        headers = request.headers
        key = headers.get("Ocp-Apim-Subscription-Key")
        if not key:
            return azure(401, MISSING_KEY_MESSAGE)
        merchant = self._state.merchant_for_key(key)
        if merchant is None:
            return azure(401, INVALID_KEY_MESSAGE)
        client_id, client_secret = headers.get("client_id"), headers.get("client_secret")
        if not client_id or not client_secret:
            missing = [
                name
                for name, value in (("client_id", client_id), ("client_secret", client_secret))
                if not value
            ]
            return token_error(
                400, "invalid_request", f"Missing required header: {', '.join(missing)}"
            )
        if not (
            same_secret(client_id, merchant.client_id)
            and same_secret(client_secret, merchant.client_secret)
        ):
            return token_error(
                401,
                "unauthorized_client",
                "Wrong client_id or client_secret for this subscription key",
            )
        msn = headers.get("Merchant-Serial-Number")
        if msn and msn.strip() != merchant.msn:
            return token_error(
                401, "unauthorized_client", "Merchant-Serial-Number does not belong to these keys"
            )
        return self._issue(request, merchant)

    def _issue(self, request: Request, merchant: FakeMerchant) -> Response:
        """A signed token bound to the merchant's MSN and subscription key, as Azure AD answers."""
        now = int(self._state.now())
        lifetime = int(self._config.token_lifetime)
        expires = now + lifetime
        jti = uuid.uuid4().hex
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_RESOURCE,
            "sub": merchant.client_id,
            "appid": merchant.client_id,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": jti,
            "msn": merchant.msn,
            "skh": _key_hash(merchant.subscription_key),
        }
        access_token = jwt.encode(
            claims, self._signing_key, algorithm=_ALGORITHM, headers={"kid": _KEY_ID}
        )
        self._state.add_token(
            IssuedToken(jti, merchant.msn, merchant.subscription_key, now, expires)
        )
        request.token_jti = jti
        body = {
            "token_type": "Bearer",
            "expires_in": str(lifetime),
            "ext_expires_in": "0",
            "expires_on": str(expires),
            "not_before": str(now),
            "resource": TOKEN_RESOURCE,
            "access_token": access_token,
        }
        return Response.json(200, body, content_type="application/json;charset=UTF-8")

    def authenticate(self, request: Request) -> FakeMerchant:
        """Subscription key, then Bearer token, then Merchant-Serial-Number, as APIM orders them.

        Returns the calling merchant or raises ``Abort``/``Problem`` with the refusal.
        """
        headers = request.headers
        key = headers.get("Ocp-Apim-Subscription-Key")
        if not key:
            raise Abort(azure(401, MISSING_KEY_MESSAGE))
        merchant = self._state.merchant_for_key(key)
        if merchant is None:
            raise Abort(azure(401, INVALID_KEY_MESSAGE))
        token = self._check_bearer(request, merchant)
        msn = headers.get("Merchant-Serial-Number")
        if not msn:
            raise Problem.invalid(
                [("Merchant-Serial-Number", "The Merchant-Serial-Number header is required")]
            )
        if msn.strip() != token.msn:
            raise Abort(
                azure(
                    401,
                    INVALID_TOKEN_MESSAGE,
                    note=f"Merchant-Serial-Number {msn!r} does not belong to the token's merchant",
                )
            )
        too_long = [
            (name, f"must be at most {SYSTEM_HEADER_MAX} characters, not {len(value)}")
            for name, value in headers.items()
            if name.lower().startswith(SYSTEM_HEADER_PREFIX) and len(value) > SYSTEM_HEADER_MAX
        ]
        if too_long:
            raise Problem.invalid(too_long)
        return merchant

    def _check_bearer(self, request: Request, merchant: FakeMerchant) -> IssuedToken:
        def refuse(why: str) -> Abort:
            return Abort(
                azure(
                    401, INVALID_TOKEN_MESSAGE, headers=[("WWW-Authenticate", "Bearer")], note=why
                )
            )

        authorization = request.headers.get("Authorization")
        if not authorization:
            raise refuse("no Authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise refuse("Authorization is not 'Bearer <token>'")
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self._signing_key,
                    algorithms=[_ALGORITHM],
                    audience=TOKEN_RESOURCE,
                    issuer=TOKEN_ISSUER,
                    # The times are checked below against the fake's clock, which tests move.
                    options={
                        "require": ["exp", "nbf", "iat", "jti"],
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidTokenError as error:
                raise refuse(f"token was not issued by this server ({error})") from None
            if len(self._verified) >= _VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        jti = claims["jti"]
        request.token_jti = jti if isinstance(jti, str) else None
        issued = self._state.token(jti) if isinstance(jti, str) else None
        if issued is None:
            raise refuse("token is unknown or was revoked")
        now = self._state.now()
        if now >= issued.expires_on:
            raise refuse("token has expired")
        if now < issued.not_before:
            raise refuse("token is not valid yet")
        if not same_secret(issued.subscription_key, merchant.subscription_key):
            raise refuse("token was issued for another subscription key")
        return issued
