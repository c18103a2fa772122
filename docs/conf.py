"""Sphinx configuration; built with warnings as errors by ``make test``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from vipps_order_management import __version__  # noqa: E402

project = "vipps-order-management"
author = "vipps-order-management maintainers"
copyright = "2026, the vipps-order-management maintainers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",  # performance.md: figures and tables kept as Markdown
]
myst_enable_extensions = ["colon_fence", "deflist"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
nitpicky = False

intersphinx_mapping = {}  # no network at build time

templates_path = []
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "vipps-order-management"
html_static_path = ["_static"]
