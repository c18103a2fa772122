"""The fake Vipps in its own process, so its work never runs on the interpreter being timed.

The fake's command line (``python -m vipps_order_management.testing.fake_server``) can neither
inject latency nor show its request log, and both live only in the ``FakeVippsServer`` Python
API. So ``python -m benchmarks.fake`` is a tiny runner: it builds a ``FakeVippsServer`` (public
API only), prints its URL and credentials as one JSON line, and then answers one-line commands
on stdin (``delay SECONDS``, ``take``, ``reset``, ``quit``). The code being timed talks to it over
HTTP on 127.0.0.1 only; the pipe is the benchmark's control channel, outside every timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Request classes counted by ``take``; "token" is the access token call.
KINDS = ("token", "image", "category", "receipt", "other")


def request_kind(path: str) -> str:
    lowered = path.lower()
    if "/accesstoken/" in lowered:
        return "token"
    if lowered.endswith("/v1/images") or "/v1/images/" in lowered:
        return "image"
    if "/categories" in lowered:
        return "category"
    if "/receipts/" in lowered:
        return "receipt"
    return "other"


class Traffic:
    """What reached the fake since the last ``take``: counts by (kind, method, status)."""

    def __init__(self, counts: dict[str, int], bodies: dict[str, Any]) -> None:
        self.by_key = Counter(counts)
        self.bodies = bodies  # one JSON body per kind, to check what was sent

    def count(self, kind: str, *, ok: bool | None = None, status: int | None = None) -> int:
        total = 0
        for key, value in self.by_key.items():
            key_kind, _, code = key.split(" ")
            if key_kind != kind:
                continue
            code_int = int(code) if code.isdigit() else None
            if status is not None and code_int != status:
                continue
            if ok is not None and (code_int is not None and 200 <= code_int < 300) != ok:
                continue
            total += value
        return total

    @property
    def api_calls(self) -> int:
        """Order Management calls (everything but the access token)."""
        return sum(self.count(kind) for kind in KINDS if kind != "token")

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.by_key.items()))


class OutOfProcessFake:
    """Parent side: start ``python -m benchmarks.fake``, read its credentials, send commands."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.credentials: dict[str, str] = {}

    def start(self) -> OutOfProcessFake:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fake"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._read()
        self.url = hello["url"]
        self.credentials = dict(hello["credentials"])
        return self

    def _read(self) -> Any:
        assert self.process is not None
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake Vipps process exited ({self.process.poll()})")
        return json.loads(line)

    def command(self, text: str) -> Any:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        reply = self._read()
        if isinstance(reply, dict) and reply.get("error"):
            raise RuntimeError(f"fake Vipps: {reply['error']}")
        return reply

    def set_delay(self, seconds: float) -> None:
        """Latency before every Order Management call (the token call is not delayed)."""
        self.command(f"delay {seconds!r}")

    def take(self) -> Traffic:
        """Counts of requests since the last ``take``, which forgets them."""
        reply = self.command("take")
        return Traffic(reply["counts"], reply["bodies"])

    def reset(self) -> None:
        self.command("reset")

    def app_settings(self) -> dict[str, str]:
        """The ``VIPPS_ORDER_MANAGEMENT`` keys that point the app at this fake."""
        return {
            "BASE_URL": self.url,
            **{key.upper(): value for key, value in self.credentials.items()},
        }

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.poll() is None and process.stdin is not None:
                process.stdin.write("quit\n")
                process.stdin.close()
            process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(10)
        finally:
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> OutOfProcessFake:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- the child


def serve() -> int:
    """Child side: serve the fake on 127.0.0.1 and answer commands until ``quit`` or EOF."""
    from vipps_order_management.testing import FakeVippsServer

    server = FakeVippsServer(host="127.0.0.1", port=0)
    server.start()
    try:
        reply({"url": server.url, "credentials": server.credentials})
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "quit":
                    reply({"ok": True})
                    break
                if words[0] == "delay":
                    server.faults.clear()
                    if float(words[1]) > 0:
                        server.faults.delay(float(words[1]))
                    reply({"ok": True})
                elif words[0] == "take":
                    records = server.requests
                    server.clear_requests()
                    counts: Counter[str] = Counter()
                    bodies: dict[str, Any] = {}
                    for record in records:
                        kind = request_kind(record.path)
                        counts[f"{kind} {record.method} {record.status}"] += 1
                        if kind in ("category", "receipt") and record.json is not None:
                            bodies.setdefault(kind, record.json)
                    reply({"counts": dict(counts), "bodies": bodies})
                elif words[0] == "reset":
                    server.reset()
                    reply({"ok": True})
                else:
                    reply({"error": f"unknown command {words[0]!r}"})
            except Exception as error:  # report, keep serving
                reply({"error": repr(error)})
    finally:
        server.stop()
    return 0


def reply(data: Any) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(serve())
