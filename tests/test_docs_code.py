"""Every Python snippet in the docs and the README compiles, and what it imports exists.

A snippet a newcomer copies must not fail on its first line. The shop's own modules (``shop``,
``myshop``) and packages that are not installed here (django-oscar, in its own tier) are the
reader's; everything of this app, Django's and the standard library's is checked by name.
"""

from __future__ import annotations

import ast
import importlib
import re

import pytest

from .conftest import REPOSITORY

#: A ``.. code-block:: python`` of a page, its indented body, up to the first line less indented.
_RST_BLOCK = re.compile(
    r"^( *)\.\. code-block:: python\n(?:\1 +:\w+:.*\n)*\n((?:\1 +.*\n|\n)+)", re.M
)
_MD_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
#: Top-level modules a snippet may import that are the reader's own, or of another tier.
THE_READERS = {"shop", "myshop", "oscar", "apps", "yourshop"}


def _snippets() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPOSITORY / "docs").glob("*.rst")):
        text = path.read_text(encoding="utf-8")
        for match in _RST_BLOCK.finditer(text):
            lines = match.group(2).splitlines()
            indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
            code = "\n".join(line[indent:] for line in lines)
            line_number = text[: match.start()].count("\n") + 1
            found.append((f"{path.name}:{line_number}", code))
    for path in [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in _MD_BLOCK.finditer(text):
            line_number = text[: match.start()].count("\n") + 1
            found.append((f"{path.name}:{line_number}", match.group(1)))
    return found


SNIPPETS = _snippets()


def test_the_docs_have_python_snippets():
    assert len(SNIPPETS) > 20


@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_the_snippet_compiles_and_its_imports_exist(where, code):
    tree = ast.parse(code, filename=where)  # a SyntaxError names the page and line
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _module(alias.name, where)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = _module(node.module, where)
            if module is None:
                continue
            for alias in node.names:
                if alias.name == "*":
                    continue
                if not _has(module, alias.name):
                    try:  # a submodule: "from vipps_order_management import services"
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        pytest.fail(f"{where}: {node.module} has no {alias.name!r}")


def _has(module, name: str) -> bool:
    """Whether ``module`` has ``name``; a lazy name that needs the reader's package counts."""
    try:
        return hasattr(module, name)
    except ModuleNotFoundError as exc:
        return (exc.name or "").partition(".")[0] in THE_READERS


def _module(name: str, where: str):
    if name.partition(".")[0] in THE_READERS:
        return None
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in THE_READERS:  # contrib.oscar needs Oscar's tier
            return None
        pytest.fail(f"{where}: cannot import {name}: {exc}")
    except ImportError as exc:
        pytest.fail(f"{where}: cannot import {name}: {exc}")


def test_the_docs_send_no_pip_user_to_a_file_the_wheel_lacks():
    """The wheel holds the package; the example shop, the Makefile and the tests are only in
    the repository, so the docs link to it instead of naming the path alone."""
    pattern = re.compile(r"(?<![/\w])(example_project/[\w/.]+|tests/[\w/.]+\.py|Makefile)")
    for path in [*sorted((REPOSITORY / "docs").glob("*.rst")), REPOSITORY / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for match in pattern.finditer(text):
            line = text[: match.start()].count("\n") + 1
            context = text[max(0, match.start() - 200) : match.end() + 200]
            assert "github.com" in context or "make " in context or "repository" in context, (
                f"{path.name}:{line} names {match.group(0)}, which a pip user does not have; "
                "link to the repository"
            )


#: Lets the docs' examples say ``from shop.models import Order``: the reader's shop is the
#: test suite's own (``tests.shop``, whose app label is ``shop``).
_SHOP_ALIAS = """
import importlib
import importlib.abc
import importlib.util
import sys


class ShopIsTheTestShop(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "shop" or name.startswith("shop."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("tests." + spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, ShopIsTheTestShop())
"""


def test_the_testing_pages_examples_run_as_written(tmp_path):
    import os
    import subprocess
    import sys

    files = {}
    for where, code in SNIPPETS:
        first = code.splitlines()[0] if code.strip() else ""
        if where.startswith("testing.rst") and re.fullmatch(r"# (\w+\.py)", first):
            files[first[2:]] = code
    assert {"conftest.py", "test_vipps.py", "test_immediate.py"} <= set(files)
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "docs_shop_alias.py").write_text(_SHOP_ALIAS, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPOSITORY)]),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    env.pop("VIPPS_OM_TEST_OVERRIDES", None)
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "docs_shop_alias",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "6 passed" in finished.stdout, finished.stdout
