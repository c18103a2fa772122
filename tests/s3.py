"""moto's standalone S3 server on 127.0.0.1, for tests of django-storages' S3 backend.

django-storages tests its S3 backend against moto; so do we, over real HTTP on the loopback
interface, with dummy credentials: no AWS account, no network. Import this module only after
checking that moto, boto3 and django-storages are installed (``tests/test_storages.py`` does,
and skips or fails with the reason otherwise).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

#: Dummy credentials and region: moto accepts any, AWS would accept none of them.
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"

#: The environment boto3 sees while the server runs: the credentials above, no shared config
#: or credentials file, no instance metadata service, and no proxy for the loopback address.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


@dataclass
class MotoS3:
    """A running moto server: its ``endpoint_url`` and the requests it answered."""

    endpoint_url: str
    _requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request moto answered, e.g. ``("GET", "/bucket/key")``."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, bucket: str, key: str) -> list[str]:
        """The methods of the requests for one object (path-style addressing)."""
        return [method for method, path in self.requests if path == f"/{bucket}/{key}"]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def client(self) -> Any:
        """A plain boto3 S3 client for the server, to create buckets and put objects."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def storage_options(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """``OPTIONS`` of a ``storages.backends.s3.S3Storage`` entry in ``STORAGES``."""
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint_url,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": REGION,
            "addressing_style": "path",  # bucket.127.0.0.1 would need DNS
            **extra,
        }


def _recording(app: Callable[..., Iterable[bytes]], moto: MotoS3) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        moto.record(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        return app(environ, start_response)

    return wsgi


@contextmanager
def moto_s3_server() -> Iterator[MotoS3]:
    """Run moto's ``ThreadedMotoServer`` on a free port of 127.0.0.1 until the block ends.

    boto3 sees :data:`ENVIRONMENT` meanwhile. moto keeps its buckets in this process, so
    they are reset when the block ends.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in UNSET:
            patch.delenv(name, raising=False)
        for name in ("NO_PROXY", "no_proxy"):
            patch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))
        with _serving() as moto:
            yield moto


@contextmanager
def _serving() -> Iterator[MotoS3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        moto = MotoS3(endpoint_url=f"http://{host}:{port}")
        # The werkzeug server ThreadedMotoServer made: wrap its WSGI app to record requests.
        wsgi_server = server._server
        wsgi_server.app = _recording(wsgi_server.app, moto)
        yield moto
        requests.post(f"{moto.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    finally:
        server.stop()
