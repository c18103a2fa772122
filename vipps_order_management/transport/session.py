"""The connection to one API root: the pooled session, and the root itself checked."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .. import __version__
from ..exceptions import VippsConfigurationError
from .credentials import without_password

__all__ = ["clean_base_url", "os_reason", "pooled_session"]


def pooled_session(base_url: str, pool_size: int = 16) -> requests.Session:
    """A session for one API root, with the environment's settings read once, not per call.

    Proxies (``HTTPS_PROXY``, ``NO_PROXY``) and a CA bundle (``REQUESTS_CA_BUNDLE``) from the
    environment apply as they would by default; requests would otherwise look them (and
    ``~/.netrc``) up again on every call, which costs a worker a tenth of its time.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    # No transport retries here: the outbox retries with backoff, and a blind retry of a
    # receipt POST is exactly what must not happen. One kept connection per thread that shares
    # the session (``vipps_om_worker --concurrency``).
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = (
        f"vipps-order-management/{__version__} {requests.utils.default_user_agent()}"
    )
    return session


def clean_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; a configuration error when it is not an API root."""
    url = (base_url or "").strip().rstrip("/")
    shown = repr(without_password(base_url))  # a message never shows a password
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range raises here
    except ValueError as exc:
        raise VippsConfigurationError(
            f"BASE_URL must be an absolute URL such as https://api.vipps.no, not {shown} ({exc})"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise VippsConfigurationError(
            f"BASE_URL must be an absolute URL such as https://api.vipps.no, not {shown}"
        )
    extra = [
        what
        for what, present in (
            ("a query", parts.query or "?" in url),
            ("a fragment", parts.fragment or "#" in url),
            ("credentials", "@" in parts.netloc),
            ("spaces or control characters", any(c.isspace() or ord(c) < 32 for c in url)),
        )
        if present
    ]
    if extra:
        raise VippsConfigurationError(
            f"BASE_URL is the API root, with no {' or '.join(extra)}: not {shown}"
        )
    if parts.path.lower().endswith("/order-management"):
        raise VippsConfigurationError(
            f"BASE_URL is the API root without /order-management: use {url[: -len('/order-management')]!r}"
        )
    return url


def os_reason(error: BaseException) -> str:
    """The operating system's words (``[Errno 111] Connection refused``), else the error's type.

    Never the library's whole message, which may quote the request.
    """
    found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(error))
    return found.group(0).strip() if found else type(error).__name__
