"""Benchmarks: run with `make bench` (python -m benchmarks)."""

from __future__ import annotations
