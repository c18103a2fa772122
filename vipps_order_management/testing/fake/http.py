"""HTTP plumbing: a threaded keep-alive server on a real socket, requests, responses, routing.

Nothing here knows Vipps. The server reads each request (plain or chunked body, with a size
limit), hands it to the application's ``process`` callable and writes back the ``Response``;
``None`` closes the connection without a word, which is how a dropped connection is injected.
HTTP/1.1 keep-alive is on, so a client's connection pooling is exercised as against Vipps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

__all__ = [
    "Abort",
    "HTTPServer",
    "Handler",
    "Headers",
    "Match",
    "Process",
    "Request",
    "Response",
    "Route",
    "Router",
]

logger = logging.getLogger(__name__)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping; names keep the client's spelling.

    HTTP header names are case-insensitive, so tests can write ``headers["authorization"]``
    whatever the client sent. A repeated header keeps its first value.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            self._items.setdefault(name.lower(), (name, value))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


@dataclass(slots=True)
class Request:
    """What a route handler receives. ``params`` are the route's named groups, still %-encoded."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    connection: int = 0
    params: dict[str, str] = field(default_factory=dict)
    token_jti: str | None = None

    def param(self, name: str) -> str:
        """A path parameter, %-decoded."""
        return unquote(self.params[name])


@dataclass(slots=True)
class Response:
    """What a route handler returns; ``note`` is recorded (never sent) to explain refusals."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None
    close: bool = False

    @classmethod
    def json(
        cls,
        status: int,
        data: Any,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
        note: str | None = None,
    ) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status, body, content_type, list(headers), note)

    @classmethod
    def text(
        cls, status: int, text: str, *, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return cls(status, text.encode("utf-8"), content_type)


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint. ``inspection`` marks the fake's own pages (not Vipps's API): see ``add``."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str
    inspection: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """What ``Router.resolve`` found: the route and its path parameters, or the allowed methods."""

    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()


class Router:
    """Method + regular expression -> handler; paths match case-insensitively, first match wins.

    Adding an endpoint (say an HTML preview page) is one ``add`` call; a path that matches a route
    under another method answers 405 with ``Allow``, an unknown path 404.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        name: str | None = None,
        inspection: bool = False,
    ) -> Route:
        """Register ``handler`` for ``method`` (``"*"`` for any) and a full-match ``pattern``.

        ``inspection`` routes are for looking at the fake (previews, its state): the server
        never injects faults into them nor records them, so looking changes nothing.
        """
        route = Route(
            method.upper(),
            re.compile(pattern, re.IGNORECASE),
            handler,
            name or str(getattr(handler, "__name__", pattern)),
            inspection,
        )
        self._routes.append(route)
        return route

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def resolve(self, method: str, path: str) -> Match:
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method in ("*", method.upper()):
                return Match(route, found.groupdict())
            allowed.append(route.method)
        return Match(None, {}, tuple(dict.fromkeys(allowed)))


class Abort(Exception):
    """Raised inside a handler to answer with ``response`` at once (auth and body checks)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


#: The application: answers a request (``early`` is the server's own answer to a body it could
#: not read, still to be recorded); ``None`` closes the connection unanswered.
Process = Callable[[Request, Response | None], Response | None]


class HTTPServer(ThreadingHTTPServer):
    """Serves ``process`` on ``address``; ``body_limit()`` is read per request (it can change)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections when a worker's threads connect
    # at once while requests are slow (a state file being written); Vipps accepts them.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        process: Process,
        body_limit: Callable[[], int],
        connection_numbers: Iterator[int],
    ) -> None:
        self.process = process
        self.body_limit = body_limit
        self._connection_numbers = connection_numbers
        self._open: dict[int, socket.socket] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall startup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> int:
        number = next(self._connection_numbers)
        with self._open_lock:
            self._open[number] = connection
        return number

    def untrack(self, number: int) -> None:
        with self._open_lock:
            self._open.pop(number, None)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections so they exit."""
        with self._open_lock:
            connections = list(self._open.values())
            self._open.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away; nothing to report
            logger.debug("connection from %s ended: %r", client_address, error)
            return
        logger.exception("fake Vipps server: unexpected error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so requests.Session pooling is exercised
    server_version = "FakeVipps/1.0"
    timeout = 120  # an idle keep-alive connection is closed eventually
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to every keep-alive reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_number = self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection_number)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the fake logs one line per request itself, without client noise."""

    def _serve(self) -> None:
        raw_path, _, query = self.path.partition("?")
        query = query.partition("#")[0]
        request = Request(
            method=self.command.upper(),
            path=raw_path or "/",
            query=dict(reversed(parse_qsl(query, keep_blank_values=True))),
            headers=Headers(self.headers.items()),
            body=b"",
            connection=self.connection_number,
        )
        body, early = self._read_body(self.server.body_limit())
        request.body = body
        response = self.server.process(request, early)
        if response is None:  # an injected drop: close without a word
            self.close_connection = True
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def _read_body(self, limit: int) -> tuple[bytes, Response | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if not length:
            return b"", None
        try:
            size = int(length)
            if size < 0:
                raise ValueError(length)
        except ValueError:
            return b"", _bad_framing()
        if size > limit:
            return b"", _too_large(limit)
        return self.rfile.read(size), None

    def _read_chunked(self, limit: int) -> tuple[bytes, Response | None]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return b"", _bad_framing()
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks), None
            total += size
            if total > limit:
                return b"", _too_large(limit)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            if response.close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True


def _bad_framing() -> Response:
    response = Response.json(400, {"statusCode": 400, "message": "Malformed request body framing"})
    response.close = True
    return response


def _too_large(limit: int) -> Response:
    response = Response.json(
        413, {"statusCode": 413, "message": f"Request body is larger than {limit} bytes"}
    )
    response.close = True
    return response
