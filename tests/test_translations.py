"""The shipped catalogues (nb, da, fi): complete, well-formed, compiled, and used when rendering.

The .po files are read with a small stdlib parser (no polib); the shipped .mo files with
:mod:`gettext`, the same reader Django uses.
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

import vipps_order_management
from tests.conftest import missing_service

LOCALE_DIR = Path(vipps_order_management.__file__).resolve().parent / "locale"
LANGUAGES = ["nb", "da", "fi"]
NPLURALS = 2
PLURAL_FORMS = "nplurals=2; plural=(n != 1);"

#: Msgids that end in an abbreviation's full stop, which a language may write without one
#: (Finnish "nro").
ABBREVIATIONS = {"Receipt no."}


# ---------------------------------------------------------------------- a small .po reader


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0

    @property
    def key(self) -> str:
        """The key gettext uses: the context and the msgid joined by EOT."""
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"

    @property
    def translations(self) -> list[str]:
        if self.msgid_plural is None:
            return [self.msgstr]
        count = max([NPLURALS - 1, *self.msgstr_plural]) + 1
        return [self.msgstr_plural.get(i, "") for i in range(count)]

    def source_for(self, index: int) -> str:
        """The English text a translation renders: the singular for form 0, else the plural."""
        if self.msgid_plural is None or index == 0:
            return self.msgid
        return self.msgid_plural


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


def _unquote(text: str, path: Path, number: int) -> str:
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:  # pragma: no cover - a broken file fails here
        raise AssertionError(f"{path}:{number}: not a quoted string: {text!r}") from exc
    assert isinstance(value, str), f"{path}:{number}: not a string: {text!r}"
    return value


def parse_po(path: Path) -> list[Entry]:
    """Every entry of a .po file, the header (msgid "") first."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None  # where a continuation line goes

    def start_entry(number: int) -> Entry:
        nonlocal current, target
        if current is not None and target is not None:
            entries.append(current)  # an entry not followed by a blank line
        current, target = Entry(msgid=None, line=number), None  # type: ignore[arg-type]
        return current

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            if current is not None and target is not None:
                entries.append(current)
            current, target = None, None
            continue
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if line.startswith("#"):
            entry = current if current is not None and target is None else start_entry(number)
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            entry.obsolete |= obsolete
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, index, quoted = match.groups()
            value = _unquote(quoted, path, number)
            if current is None or (
                keyword in ("msgctxt", "msgid")
                and target is not None
                and target[0] in ("msgstr", "msgstr_plural")
            ):
                start_entry(number)
            assert current is not None
            current.obsolete |= obsolete
            if index is not None:
                target = ("msgstr_plural", int(index))
                current.msgstr_plural[int(index)] = value
            else:
                target = (keyword, None)
                setattr(current, keyword, value)
            continue
        assert line.startswith('"'), f"{path}:{number}: unexpected line {raw!r}"
        assert current is not None, f"{path}:{number}: a continuation outside an entry"
        assert target is not None, f"{path}:{number}: a continuation after a comment"
        value = _unquote(line, path, number)
        name, index = target
        if name == "msgstr_plural":
            current.msgstr_plural[index] += value  # type: ignore[index]
        else:
            setattr(current, name, getattr(current, name) + value)
    if current is not None and target is not None:
        entries.append(current)
    for entry in entries:
        assert entry.msgid is not None, f"{path}:{entry.line}: an entry without msgid"
    return entries


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "django.po"


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo"


def header_of(entries: list[Entry]) -> dict[str, str]:
    header = entries[0]
    assert header.msgid == "", "the header must come first"
    assert header.msgctxt is None, "the header has no context"
    fields = {}
    for line in header.msgstr.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def messages(lang: str) -> list[Entry]:
    return [entry for entry in parse_po(po_path(lang)) if entry.msgid != ""]


def test_the_po_reader_reads_what_gettext_writes(tmp_path):
    sample = tmp_path / "django.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: nb\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgid "Hi %(name)s"\nmsgstr "Hei %(name)s"\n\n'
        'msgctxt "unit"\nmsgid "pcs"\nmsgstr "stk"\n\n'
        'msgid ""\n"Two \\"quoted\\" "\n"lines"\nmsgid_plural "many"\n'
        'msgstr[0] "to"\nmsgstr[1] ""\n"mange"\n\n'
        '#~ msgid "old"\n#~ msgstr "gammel"\n',
        encoding="utf-8",
    )
    header, formatted, unit, plural, old = parse_po(sample)

    assert header.msgstr == "Language: nb\n"
    assert (formatted.msgid, formatted.msgstr) == ("Hi %(name)s", "Hei %(name)s")
    assert formatted.flags == {"fuzzy", "python-format"}
    assert (unit.key, unit.msgstr) == ("unit\x04pcs", "stk")
    assert plural.msgid == 'Two "quoted" lines'
    assert plural.translations == ["to", "mange"]
    assert plural.source_for(1) == "many"
    assert old.obsolete
    assert not formatted.obsolete


# ---------------------------------------------------------------------- placeholders


# printf-style conversions as Python's % operator reads them; "%%" is a literal percent.
_PRINTF = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>[diouxXeEfFgGcrsa%])"
)
_BRACE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def printf_placeholders(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(named placeholders as written, positional ones in order), without "%%"."""
    named, positional = set(), []
    for match in _PRINTF.finditer(text):
        if match.group("type") == "%":
            continue
        (named.add if match.group("name") is not None else positional.append)(match.group(0))
    return frozenset(named), tuple(positional)


def test_the_placeholder_reader_sees_what_python_formats():
    assert printf_placeholders("%(count)d rows, %(ms).0f ms, 100%% done, %s and %r") == (
        frozenset({"%(count)d", "%(ms).0f"}),
        ("%s", "%r"),
    )
    assert printf_placeholders("%(count)s rows") != printf_placeholders("%(count)d rows")


# ---------------------------------------------------------------------- the .po files


def test_every_language_has_a_catalogue_and_they_hold_the_same_messages():
    keys = {
        lang: [(e.msgctxt, e.msgid, e.msgid_plural) for e in messages(lang)] for lang in LANGUAGES
    }
    assert keys["nb"], "the nb catalogue is empty"
    for lang in LANGUAGES:
        assert keys[lang] == keys["nb"], f"{lang} holds other messages than nb"
        assert len(set(keys[lang])) == len(keys[lang]), f"{lang} has duplicate entries"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_header_is_filled_in(lang):
    entries = parse_po(po_path(lang))
    header = header_of(entries)

    assert header.get("Language") == lang
    assert header.get("Plural-Forms") == PLURAL_FORMS
    assert header.get("Content-Type") == "text/plain; charset=UTF-8"
    assert header.get("Content-Transfer-Encoding") == "8bit"
    assert header.get("Language-Team"), "no Language-Team"
    assert "LANGUAGE" not in header["Language-Team"]
    assert "LL@li.org" not in header["Language-Team"]
    assert header.get("Last-Translator") == "vipps-order-management maintainers"
    assert "PACKAGE" not in header.get("Project-Id-Version", "PACKAGE")
    assert not header.get("PO-Revision-Date", "YEAR").startswith("YEAR")
    text = po_path(lang).read_text(encoding="utf-8")
    for placeholder in ("FULL NAME", "EMAIL@ADDRESS", "SOME DESCRIPTIVE TITLE", "FIRST AUTHOR"):
        assert placeholder not in text, f"{lang}: the template's {placeholder!r} is left"
    assert "fuzzy" not in entries[0].flags, f"{lang}: the header is still fuzzy"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_in_every_plural_form(lang):
    untranslated = []
    for entry in messages(lang):
        forms = entry.translations
        if entry.msgid_plural is not None:
            assert sorted(entry.msgstr_plural) == list(range(NPLURALS)), (
                f"{lang}: {entry.msgid!r} needs exactly msgstr[0]..msgstr[{NPLURALS - 1}]"
            )
        untranslated += [entry.msgid for form in forms if not form.strip()]
    assert untranslated == [], f"{lang}: {len(untranslated)} untranslated: {untranslated[:5]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_nothing_is_fuzzy_or_obsolete(lang):
    entries = parse_po(po_path(lang))
    assert [e.msgid for e in entries if "fuzzy" in e.flags] == []
    assert [e.msgid for e in entries if e.obsolete] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_the_english(lang):
    problems = []
    for entry in messages(lang):
        for index, translated in enumerate(entry.translations):
            source = entry.source_for(index)
            if "python-format" in entry.flags:
                if printf_placeholders(translated) != printf_placeholders(source):
                    problems.append((entry.msgid, index, translated))
                # Python's % operator must accept the translation with the English arguments.
                named, positional = printf_placeholders(source)
                if named and not positional:
                    names = {re.match(r"%\(([^)]*)\)", p).group(1) for p in named}
                    try:
                        translated % dict.fromkeys(names, 1)
                    except (TypeError, ValueError, KeyError) as exc:
                        problems.append((entry.msgid, index, f"{translated} -> {exc!r}"))
            else:
                # Not a format string: the translation must not introduce one either.
                if "%(" in translated and "%(" not in source:
                    problems.append((entry.msgid, index, translated))
            if set(_BRACE.findall(translated)) != set(_BRACE.findall(source)):
                problems.append((entry.msgid, index, translated))
    assert problems == [], f"{lang}: placeholders differ: {problems}"


def leading_space(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def trailing_space(text: str) -> str:
    return text[len(text.rstrip()) :]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_tags_spacing_and_final_punctuation_follow_the_english(lang):
    problems = []
    for entry in messages(lang):
        for index, translated in enumerate(entry.translations):
            source = entry.source_for(index)
            if sorted(_TAG.findall(translated)) != sorted(_TAG.findall(source)):
                problems.append(("tags", entry.msgid, translated))
            if leading_space(translated) != leading_space(source):
                problems.append(("leading space", entry.msgid, translated))
            if trailing_space(translated) != trailing_space(source):
                problems.append(("trailing space", entry.msgid, translated))
            end = source.rstrip()[-1:]
            if (
                end in {".", ":", "?", "!"}
                and entry.msgid not in ABBREVIATIONS
                and not translated.rstrip().endswith(end)
            ):
                problems.append(("final punctuation", entry.msgid, translated))
    assert problems == [], f"{lang}: {problems}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_product_settings_and_option_names_are_kept(lang):
    """Names that are code or product names must appear in the translation as in the English."""
    kept = re.compile(
        r"--[a-z][a-z-]*|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\bvipps_om_[a-z_]+|https?://[^\s,;)]+"
        r"|\bBASE_URL\b|\bTIMEOUT\b|\bMobilePay\b"
    )
    problems = []
    for entry in messages(lang):
        for index, translated in enumerate(entry.translations):
            for name in set(kept.findall(entry.source_for(index))):
                # Followed by anything but a letter: Finnish may add a case ending after a
                # hyphen ("--chunk-size-arvon").
                if not re.search(rf"(?<![\w-]){re.escape(name)}(?!\w)", translated):
                    problems.append((entry.msgid, name))
    assert problems == [], f"{lang}: {problems}"


# ---------------------------------------------------------------------- the compiled .mo files


#: Header fields msgfmt leaves out of the .mo.
NOT_COMPILED_HEADER_FIELDS = ("POT-Creation-Date:",)


def expected_catalog(lang: str) -> dict:
    """What gettext should read from a .mo compiled from the .po (header included)."""
    catalog: dict = {}
    for entry in parse_po(po_path(lang)):
        if "fuzzy" in entry.flags and entry.msgid:
            continue
        if entry.msgid_plural is None:
            catalog[entry.key] = entry.msgstr
        else:
            for index, translated in enumerate(entry.translations):
                catalog[(entry.key, index)] = translated
    return comparable(catalog)


def comparable(catalog: dict) -> dict:
    """The catalogue without the header fields some msgfmt versions leave out."""
    result = dict(catalog)
    if "" in result:
        result[""] = "".join(
            line
            for line in result[""].splitlines(keepends=True)
            if not line.startswith(NOT_COMPILED_HEADER_FIELDS)
        )
    return result


def read_mo(path: Path) -> gettext.GNUTranslations:
    with path.open("rb") as handle:
        return gettext.GNUTranslations(handle)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_shipped_mo_holds_exactly_the_po(lang):
    assert mo_path(lang).is_file(), f"{lang}: django.mo is missing; run compilemessages"
    shipped = read_mo(mo_path(lang))

    assert comparable(shipped._catalog) == expected_catalog(lang), (
        f"{lang}: django.mo is out of date with django.po; run "
        "`cd vipps_order_management && django-admin compilemessages -l nb -l da -l fi`"
    )
    assert shipped.info().get("language") == lang
    for entry in messages(lang):
        if entry.msgid_plural is None and entry.msgctxt is None:
            assert shipped.gettext(entry.msgid) == entry.msgstr
        elif entry.msgid_plural is None:
            assert shipped.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr
        else:
            assert shipped.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
            assert shipped.ngettext(entry.msgid, entry.msgid_plural, 5) == entry.msgstr_plural[1]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_msgfmt_accepts_the_po_and_compiles_what_is_shipped(lang, tmp_path):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        missing_service("needs GNU gettext's msgfmt (install Debian's gettext)")
    checked = subprocess.run(
        [msgfmt, "--check-format", "--check-header", "-o", "/dev/null", str(po_path(lang))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")

    compiled = tmp_path / "django.mo"
    subprocess.run([msgfmt, "-o", str(compiled), str(po_path(lang))], check=True)
    assert comparable(read_mo(compiled)._catalog) == comparable(read_mo(mo_path(lang))._catalog), (
        f"{lang}: the shipped django.mo differs from a fresh compile of django.po"
    )


# ---------------------------------------------------------------------- rendered in the app


CATEGORY_LABELS = {
    "nb": {
        "ORDER_CONFIRMATION": "Ordrebekreftelse",
        "DELIVERY": "Levering",
        "RECEIPT": "Kvittering",
        "TICKET": "Billett",
        "BOOKING": "Booking",
        "GENERAL": "Generelt",
    },
    "da": {
        "ORDER_CONFIRMATION": "Ordrebekræftelse",
        "DELIVERY": "Levering",
        "RECEIPT": "Kvittering",
        "TICKET": "Billet",
        "BOOKING": "Booking",
        "GENERAL": "Generelt",
    },
    "fi": {
        "ORDER_CONFIRMATION": "Tilausvahvistus",
        "DELIVERY": "Toimitus",
        "RECEIPT": "Kuitti",
        "TICKET": "Lippu",
        "BOOKING": "Varaus",
        "GENERAL": "Yleinen",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_category_labels_follow_the_active_language(lang):
    from vipps_order_management.models import LinkCategory

    with translation.override(lang):
        labels = {category.name: str(category.label) for category in LinkCategory}
        receipt = str(LinkCategory.RECEIPT.label)
    with translation.override("en"):
        english = str(LinkCategory.RECEIPT.label)

    assert labels == CATEGORY_LABELS[lang]
    assert receipt != "Receipt"
    assert english == "Receipt"


ADMIN_STRINGS = {
    # what, nb, da, fi
    "preview DELIVERY button": ("Spor leveringen", "Følg leveringen", "Seuraa toimitusta"),
    "preview VAT": ("MVA", "Moms", "ALV"),
    "status DRIFT": ("Avviker fra Vipps", "Afviger fra Vipps", "Poikkeaa Vippsin tiedoista"),
    "outbox plural": ("utboks", "udbakke", "lähetysjono"),
    "merchant serial number field": (
        "salgsstedsnummer (MSN)",
        "salgsstedsnummer (MSN)",
        "myyntipisteen numero (MSN)",
    ),
    "app name": (
        "Vipps MobilePay-ordrehåndtering",
        "Vipps MobilePay-ordrehåndtering",
        "Vipps MobilePay -tilaustenhallinta",
    ),
    "requeued, plural": (
        "3 rader lagt i kø igjen.",
        "3 rækker sat i kø igen.",
        "3 riviä palautettu jonoon.",
    ),
    "requeued, singular": (
        "1 rad lagt i kø igjen.",
        "1 række sat i kø igen.",
        "1 rivi palautettu jonoon.",
    ),
    "quantity unit pcs": ("stk", "stk.", "kpl"),
}


def admin_strings() -> dict[str, str]:
    from django.apps import apps

    from vipps_order_management.admin import PREVIEW_LABELS
    from vipps_order_management.models import OutboxItem, SyncStatus, VippsOrder
    from vipps_order_management.views import QUANTITY_UNITS

    def requeued(count: int) -> str:
        return translation.ngettext(
            "%(count)d row queued again.", "%(count)d rows queued again.", count
        ) % {"count": count}

    return {
        "preview DELIVERY button": str(PREVIEW_LABELS["DELIVERY"]),
        "preview VAT": str(PREVIEW_LABELS["vat"]),
        "status DRIFT": str(SyncStatus.DRIFT.label),
        "outbox plural": str(OutboxItem._meta.verbose_name_plural),
        "merchant serial number field": str(
            VippsOrder._meta.get_field("merchant_serial_number").verbose_name
        ),
        "app name": str(apps.get_app_config("vipps_order_management").verbose_name),
        "requeued, plural": requeued(3),
        "requeued, singular": requeued(1),
        "quantity unit pcs": str(QUANTITY_UNITS["PCS"]),
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_admin_strings_follow_the_active_language(lang):
    column = LANGUAGES.index(lang)
    with translation.override(lang):
        got = admin_strings()
    with translation.override("en"):
        english = admin_strings()

    assert got == {what: words[column] for what, words in ADMIN_STRINGS.items()}
    assert english["preview DELIVERY button"] == "Track delivery"
    assert english["requeued, plural"] == "3 rows queued again."


RECEIPT_PAGE_WORDS = {
    "nb": [
        "Kvittering",
        "Ordrelinjer",
        "Antall",
        "MVA-sats",
        "Totalt eks. MVA",
        "Tilbake til ordren",
    ],
    "da": [
        "Kvittering",
        "Ordrelinjer",
        "Antal",
        "Momssats",
        "I alt ekskl. moms",
        "Tilbage til ordren",
    ],
    "fi": [
        "Kuitti",
        "Tilausrivit",
        "Määrä",
        "ALV-kanta",
        "Yhteensä ilman ALV:tä",
        "Takaisin tilaukseen",
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_printable_receipt_is_rendered_in_the_customers_language(client, make_order, lang):
    from vipps_order_management import public_links

    order = make_order()
    response = client.get(
        public_links.receipt_url(order, absolute=False), HTTP_ACCEPT_LANGUAGE=lang
    )
    html = response.content.decode()

    assert response.status_code == 200
    assert f'<html lang="{lang}">' in html
    for word in RECEIPT_PAGE_WORDS[lang]:
        assert word in html, f"{lang}: {word!r} missing from the receipt page"
    for english in ("Order lines", "Unit price", "Total excluding VAT", "Back to the order"):
        assert english not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("nb", ["Send til Vipps nå", "Synkronisert", "Avviker fra Vipps", "Ikke sendt"]),
        ("da", ["Send til Vipps nu", "Synkroniseret", "Afviger fra Vipps", "Ikke sendt"]),
        (
            "fi",
            ["Lähetä Vippsiin nyt", "Synkronoitu", "Poikkeaa Vippsin tiedoista", "Ei lähetetty"],
        ),
    ],
)
def test_the_order_changelist_is_rendered_in_the_staff_language(client, make_order, lang, words):
    from django.contrib.auth.models import User

    make_order()
    client.force_login(User.objects.create_superuser("admin", password="pw"))
    response = client.get("/admin/shop/order/", HTTP_ACCEPT_LANGUAGE=lang)
    html = response.content.decode()

    assert response.status_code == 200
    for word in words:
        assert word in html, f"{lang}: {word!r} missing from the order changelist"
    assert "Send to Vipps now" not in html
