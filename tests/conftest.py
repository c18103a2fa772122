"""Shared fixtures, and the rule for tests that need a service that may be missing.

Locally such a test skips with a reason that says how to enable it; under ``CI=true`` it
fails instead, so CI can never go green by skipping a tier.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_service(reason: str) -> None:
    """Skip (locally) or fail (under CI=true) because a service the test needs is missing."""
    if IN_CI:
        pytest.fail(f"{reason} -- CI=true requires this tier to run", pytrace=False)
    pytest.skip(reason)


def openapi_spec_path() -> Path | None:
    """Vipps's official spec, read in place from ../shared (never copied into the project)."""
    candidates = [
        os.environ.get("VIPPS_OM_OPENAPI_SPEC"),
        REPOSITORY.parent / "shared" / "vipps" / "order-management-openapi.yaml",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


# --------------------------------------------------------------------------- the fake shop


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Tokens cached by one test must not leak into the next (the fake forgets them on reset)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def png_bytes(
    size: tuple[int, int] = (400, 400), colour: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A real PNG made with Pillow, for product and order images."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()
