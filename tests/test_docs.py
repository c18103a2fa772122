"""The documentation names every public setting, command, signal and system check."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipps_order_management import signals
from vipps_order_management.checks import CHECK_IDS
from vipps_order_management.conf import DEFAULTS, ENVIRONMENT_PREFIX, SCHEMA

DOCS = Path(__file__).resolve().parents[1] / "docs"
COMMANDS = (
    Path(__file__).resolve().parents[1] / "vipps_order_management" / "management" / "commands"
)


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_setting_is_in_the_settings_table(key):
    assert f"``{key}``" in page("settings.rst")


def settings_rows() -> dict[str, list[str]]:
    """The cells of each row of the settings tables, by the key in its first cell."""
    rows: dict[str, list[str]] = {}
    cells: list[str] | None = None
    for line in page("settings.rst").splitlines():
        if line.startswith("   * - "):
            cells = [line.removeprefix("   * - ")]
            rows[cells[0].strip("`")] = cells
        elif line.startswith("     - ") and cells is not None:
            cells.append(line.removeprefix("     - "))
        elif line.startswith("       ") and cells is not None:
            cells[-1] += " " + line.strip()
        else:
            cells = None
    return rows


@pytest.mark.parametrize("setting", SCHEMA, ids=lambda setting: setting.key)
def test_every_settings_row_says_its_type_environment_and_check(setting):
    _key, default, kind, environment, check, meaning = settings_rows()[setting.key]
    assert all((default, kind, meaning))
    expected = f"``{ENVIRONMENT_PREFIX}{setting.key}``" if setting.environment else "no"
    if setting.key == "SALES_UNITS":  # variables of its own, per unit
        expected = (
            f"``{ENVIRONMENT_PREFIX}SALES_UNITS`` and, per unit, "
            f"``{ENVIRONMENT_PREFIX}SALES_UNIT_<MSN>_<KEY>``"
        )
    assert environment == expected
    assert setting.check_id in check


@pytest.mark.parametrize("command", sorted(p.stem for p in COMMANDS.glob("vipps_om_*.py")))
def test_every_command_is_documented(command):
    assert f"``{command}``" in page("commands.rst")


@pytest.mark.parametrize("name", sorted(signals.__all__))
def test_every_signal_is_documented(name):
    assert f"``{name}``" in page("signals.rst")


@pytest.mark.parametrize("check_id", sorted(CHECK_IDS))
def test_every_check_id_is_documented(check_id):
    assert f"``{check_id}``" in page("checks.rst")


def test_every_page_is_in_the_toctree():
    index = page("index.rst")
    for path in DOCS.glob("*.rst"):
        if path.stem != "index":
            assert f"   {path.stem}\n" in index, path.name
