"""`make demo`: the example shop, the fake Vipps and the worker come up together and stop cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from .conftest import REPOSITORY
from .test_browser import free_port


def demo_command(tmp_path, *args):
    return [
        sys.executable,
        "-m",
        "example_project.demo",
        "--port",
        str(free_port()),
        "--fake-port",
        "0",
        "--data-dir",
        str(tmp_path / "demo"),
        *args,
    ]


def test_the_demo_brings_up_shop_fake_and_worker_and_the_orders_reach_the_fake(tmp_path):
    finished = subprocess.run(
        demo_command(tmp_path, "--smoke"),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Smoke test passed: 3 demo orders reached the fake Vipps" in finished.stdout
    assert "Demo data: 5 products, 3 orders" in finished.stdout
    assert "Stopped." in finished.stdout

    # A second run keeps the shop's data, but its fake Vipps starts empty: everything is resent.
    again = subprocess.run(
        demo_command(tmp_path, "--smoke"),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Smoke test passed: 3 demo orders reached the fake Vipps" in again.stdout


def test_the_demo_prints_where_everything_is_and_stops_on_ctrl_c(tmp_path):
    demo = subprocess.Popen(
        demo_command(tmp_path),
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 120
    try:
        for line in demo.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        banner = "".join(lines)
        assert "Admin ............. http" in banner, banner
        assert "(admin / admin)" in banner
        assert "Vipps app preview . http://127.0.0.1:" in banner
        assert "Vipps payments .... http://127.0.0.1:" in banner
        assert "/payments/     (each payment's landing page)" in banner
        assert "Shop .............. http://127.0.0.1:" in banner
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0
    assert "Stopped." in rest
