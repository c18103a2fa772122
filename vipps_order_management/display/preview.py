"""How an order looks in the Vipps app: one HTML rendering for the fake's preview and the admin.

Standard library only, because the fake Vipps server renders it without Django. It takes the
API's own JSON (a receipt body, a v2 category or v3 categories, image bytes) so that what is
previewed is exactly what was, or would be, sent. Labels are English by default; the admin
passes translated ones.

The page imitates the app's payment detail screen: merchant and total on top, the category
button with its icon, the image, the order lines (shipping apart, returns negative), VAT per
rate and the total. It is a sketch of the app, not a copy of its design.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import link_policy
from . import APP, APP_LABELS, format_money, icon_svg, signed_amount, vat_rows

__all__ = ["PreviewLink", "render_preview"]


@dataclass(frozen=True)
class PreviewLink:
    """A category button: its type (``RECEIPT``...) and where it leads."""

    category: str
    url: str
    image_id: str | None = None


@dataclass
class _Page:
    merchant: str
    receipt: Mapping[str, Any] | None
    links: Sequence[PreviewLink]
    image: bytes | None
    labels: Mapping[str, str]
    reference: str
    extra_notes: list[str] = field(default_factory=list)


def render_preview(
    *,
    receipt: Mapping[str, Any] | None,
    links: Iterable[PreviewLink] = (),
    image: bytes | None = None,
    merchant: str = "",
    reference: str = "",
    labels: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """A complete, self-contained HTML page (no external resources) of the app's order view."""
    page = _Page(
        merchant=merchant or "Merchant",
        receipt=receipt,
        links=list(links),
        image=image,
        labels={**APP_LABELS, **(labels or {})},
        reference=reference,
        extra_notes=list(notes),
    )
    return _TEMPLATE.format(
        title=_e(page.labels["title"]),
        style=_STYLE,
        body=_body(page),
    )


# ---------------------------------------------------------------------- pieces


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _body(page: _Page) -> str:
    labels = page.labels
    receipt = page.receipt or {}
    lines = [line for line in receipt.get("orderLines") or () if isinstance(line, Mapping)]
    bottom = receipt.get("bottomLine") or {}
    currency = str(bottom.get("currency") or "NOK")
    total = sum(signed_amount(line, "totalAmount") for line in lines)
    parts = [
        '<div class="phone"><header class="top">',
        f'<p class="merchant">{_e(page.merchant)}</p>',
        f'<p class="amount">{_e(format_money(total, currency, APP)) if lines else "&nbsp;"}</p>',
        f'<p class="reference">{_e(page.reference)}</p>' if page.reference else "",
        "</header>",
        _links(page),
        _image(page),
        _lines(page, lines, bottom, currency),
        f'<p class="note">{_e(labels["preview_note"])}</p>',
        *(f'<p class="note">{_e(note)}</p>' for note in page.extra_notes),
        "</div>",
    ]
    return "".join(parts)


def _links(page: _Page) -> str:
    if not page.links:
        return f'<p class="empty">{_e(page.labels["no_link"])}</p>'
    buttons = []
    for link in page.links:
        label = page.labels.get(link.category, link.category.replace("_", " ").title())
        href = _e(_clickable(link.url))
        buttons.append(
            f'<a class="button" href="{href}" target="_blank" rel="noopener noreferrer">'
            f'<span class="icon">{icon_svg(link.category)}</span><span>{_e(label)}</span>'
            '<span class="chevron" aria-hidden="true">&rsaquo;</span></a>'
        )
    return f'<nav class="links">{"".join(buttons)}</nav>'


def _clickable(url: str) -> str:
    """The link as a browser may follow it from the preview, else ``#``: parsed as the link
    policy parses it (a control character or a space before ``javascript:`` fools no one), and
    no scheme the policy refuses. Plain http stays clickable: the preview shows what is held."""
    parsed, _reason = link_policy.parse(url)
    if parsed is None or (parsed.scheme in link_policy.REFUSED_SCHEMES and parsed.scheme != "http"):
        return "#"
    return parsed.url


def _image(page: _Page) -> str:
    if not page.image:
        return ""
    kind = "png" if page.image[:8] == b"\x89PNG\r\n\x1a\n" else "jpeg"
    data = base64.b64encode(page.image).decode("ascii")
    return f'<img class="product" alt="" src="data:image/{kind};base64,{data}">'


def _lines(
    page: _Page, lines: Sequence[Mapping[str, Any]], bottom: Mapping[str, Any], currency: str
) -> str:
    labels = page.labels
    if not lines:
        return f'<p class="empty">{_e(labels["no_receipt"])}</p>'
    goods = [line for line in lines if not line.get("isShipping")]
    shipping = [line for line in lines if line.get("isShipping")]
    rows = [_line_row(line, currency, labels) for line in goods]
    rows += [_line_row(line, currency, labels, shipping=True) for line in shipping]
    vat_table = "".join(
        f"<tr><td>{_e(labels['vat'])} {_e(_rate(row.rate))}</td>"
        f'<td class="num">{_e(labels["net"])} {_e(format_money(row.net, currency, APP))}</td>'
        f'<td class="num">{_e(format_money(row.vat, currency, APP))}</td></tr>'
        for row in vat_rows({"orderLines": list(lines), "bottomLine": dict(bottom)})
    )
    total = sum(signed_amount(line, "totalAmount") for line in lines)
    number = bottom.get("receiptNumber")
    return (
        f'<section class="details"><h2>{_e(labels["order_details"])}</h2>'
        f'<table class="lines">{"".join(rows)}</table>'
        f'<table class="vat">{vat_table}</table>'
        f'<p class="total"><span>{_e(labels["total"])}</span>'
        f"<span>{_e(format_money(total, currency, APP))}</span></p>"
        + (
            f'<p class="receipt-number">{_e(labels["receipt_number"])} {_e(number)}</p>'
            if number
            else ""
        )
        + "</section>"
    )


def _rate(rate: Any) -> str:
    return f"{rate.normalize():f}\u00a0%" if rate is not None else "?"


def _line_row(
    line: Mapping[str, Any], currency: str, labels: Mapping[str, str], *, shipping: bool = False
) -> str:
    name = _e(line.get("name") or "")
    unit = line.get("unitInfo") or {}
    detail = ""
    if isinstance(unit, Mapping) and unit.get("quantity"):
        quantity = _e(unit["quantity"])
        unit_name = _e(str(unit.get("quantityUnit") or "PCS").lower())
        price = unit.get("unitPrice")
        each = (
            f" &times; {_e(format_money(price, currency, APP))}" if isinstance(price, int) else ""
        )
        detail = f"{quantity} {unit_name}{each}"
    discount = line.get("discount")
    if isinstance(discount, int) and discount > 0:
        detail += f" · {_e(labels['discount'])} {_e(format_money(discount, currency, APP))}"
    tags = []
    if shipping:
        tags.append(labels["shipping"])
    if line.get("isReturn"):
        tags.append(labels["returned"])
    tag_html = "".join(f'<span class="tag">{_e(tag)}</span>' for tag in tags)
    return (
        f'<tr class="{"shipping" if shipping else "item"}"><td>{name} {tag_html}'
        f"<small>{detail}</small></td>"
        f'<td class="num">{_e(format_money(signed_amount(line, "totalAmount"), currency, APP))}</td></tr>'
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title><style>{style}</style></head>
<body>{body}</body></html>
"""

_STYLE = """
:root { --brand: #ff5b24; --ink: #1e1e1e; --muted: #6e6e73; --line: #e6e6e9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px; background: #f0f0f3; font: 15px/1.4 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--ink); }
.phone { max-width: 390px; min-height: 700px; margin: 0 auto; background: #fff; border-radius: 28px;
  box-shadow: 0 8px 30px rgba(0,0,0,.12); overflow: hidden; padding-bottom: 16px; }
.top { background: var(--brand); color: #fff; padding: 28px 20px 20px; text-align: center; }
.merchant { margin: 0; font-weight: 600; }
.amount { margin: 6px 0 0; font-size: 32px; font-weight: 700; }
.reference { margin: 4px 0 0; opacity: .85; font-size: 12px; }
.links { padding: 12px 16px 0; display: grid; gap: 8px; }
.button { display: flex; align-items: center; gap: 12px; padding: 12px 14px; border-radius: 14px;
  background: #fff4ef; color: var(--ink); text-decoration: none; font-weight: 600; }
.button .icon { color: var(--brand); display: inline-flex; }
.button .icon svg { width: 24px; height: 24px; }
.button .chevron { margin-left: auto; color: var(--muted); font-size: 22px; }
.product { display: block; width: 168px; height: 168px; margin: 14px auto 0; border-radius: 14px;
  object-fit: contain; background: #fafafa; border: 1px solid var(--line); }
.details { padding: 4px 16px; }
.details h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
table { width: 100%; border-collapse: collapse; }
.lines td { padding: 8px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
.lines small { display: block; color: var(--muted); }
.num { text-align: right; white-space: nowrap; padding-left: 12px; }
.vat td { padding: 4px 0; color: var(--muted); font-size: 13px; }
.tag { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 8px;
  background: var(--line); color: var(--muted); margin-left: 4px; }
.total { display: flex; justify-content: space-between; font-weight: 700; font-size: 17px;
  border-top: 2px solid var(--ink); padding-top: 8px; }
.note, .empty { color: var(--muted); font-size: 12px; padding: 0 16px; }
.receipt-number { color: var(--muted); font-size: 12px; }
"""
