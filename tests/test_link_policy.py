"""The one link policy: what may reach the Vipps app, normalised or refused with the reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipps_order_management.link_policy import (
    LinkPolicy,
    app_scheme_errors,
    is_this_machine,
    normalise,
    parse,
)
from vipps_order_management.payloads import BottomLine, Category, OrderLine, Receipt

STRICT = LinkPolicy()
DEVELOPMENT = LinkPolicy.configured(http_hosts=["127.0.0.1", "localhost"], local_hosts=True)
#: A shop whose own apps open these schemes.
SHOP = LinkPolicy.configured(app_schemes=["myapp", "ruter", "vipps-app"])


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://shop.example/orders/1", "https://shop.example/orders/1"),
        ("HTTPS://Shop.Example/Orders", "https://shop.example/Orders"),
        ("https://shop.example:8443/x?a=1&b=2#top", "https://shop.example:8443/x?a=1&b=2#top"),
        ("https://blåbær.no/ordre", "https://xn--blbr-roah.no/ordre"),
        ("https://shop.example/bær?q=ø#å", "https://shop.example/b%C3%A6r?q=%C3%B8#%C3%A5"),
        ("https://shop.example/{x}|^`", "https://shop.example/%7Bx%7D%7C%5E%60"),
        ("https://shop.example/a#b#c", "https://shop.example/a#b%23c"),
        ("https://shop.example/%C3%A6", "https://shop.example/%C3%A6"),
        ("https://8.8.8.8/x", "https://8.8.8.8/x"),
        ("https://[2001:4860:4860::8888]/x", "https://[2001:4860:4860::8888]/x"),
        ("https://[::ffff:8.8.8.8]/x", "https://[::ffff:8.8.8.8]/x"),  # a public IPv4 inside
        ("https://[64:ff9b::808:808]/x", "https://[64:ff9b::808:808]/x"),
        ("myapp://tickets/42", "myapp://tickets/42"),
        ("ruter:///min/bilett", "ruter:///min/bilett"),
        ("Vipps-App:open?id=ø", "vipps-app:open?id=%C3%B8"),
    ],
)
def test_valid_links_are_sent_as_rfc_3986_uris(url, sent):
    assert SHOP.check(url) == (sent, [])
    assert normalise(url) == sent
    assert normalise(sent) == sent  # normalising twice changes nothing


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # not RFC 3986 URIs
        ("https://[::1/x", "unclosed IPv6"),
        ("https://[12345::1]/", "not an IPv6 address"),
        ("https://[fe80::1%25eth0]/", "zone id"),
        ("https://shop.example:99999/x", "port"),
        ("https://shop.example:0/x", "port"),
        ("https://shop.example:80a/x", "port"),
        ("https://shop.example:/x", "port"),
        ("https://shop.example/%zz", "percent-escape"),
        ("https://shop.example/100%", "percent-escape"),
        ("https://shop.example/%4", "percent-escape"),
        ("https://shop.example/a b", "U+0020"),
        ("https://shop.example/\tx", "U+0009"),
        ("https://shop.example/\u200bx", "U+200B"),
        ("https://shop.example/\u202ecod.exe", "U+202E"),
        ("https://shop.example/a\\b", "backslash"),
        ("https://sho p.example/", "U+0020"),
        ("https://ex_ample.com/", "not a domain name"),
        ("https://-shop.example/", "not a domain name"),
        ("https://a..b/", "not a domain name"),
        ("https://" + "a" * 64 + ".example/", "not a domain name"),
        ("https://%73hop.example/", "percent-escape in its host"),
        ("https:shop.example", "no host name"),
        ("https:///shop.example", "no host name"),
        ("https://", "no host name"),
        ("shop.example/orders", "absolute https"),
        ("/orders/1", "absolute https"),
        # look-alikes
        ("https://\u0430pple.com/", "mixes Latin, Cyrillic or Greek"),
        ("https://paypa\u04cf.com/", "mixes Latin, Cyrillic or Greek"),
        ("https://2130706433/", "IPv4"),
        ("https://0x7f.1/", "IPv4"),
        ("https://127.1/", "IPv4"),
        ("https://017700000001/", "IPv4"),
        # credentials
        ("https://user:pass@shop.example/", "user name or password"),
        ("https://user@shop.example/", "user name or password"),
        ("https://evil.example\\@shop.example/", "user name or password"),
        ("myapp://token@open", "user name or password"),
        # schemes
        ("http://shop.example/x", "http: scheme"),
        ("javascript:alert(1)", "javascript: scheme"),
        ("JaVaScRiPt:alert(1)", "javascript: scheme"),
        ("data:text/html,<b>x</b>", "data: scheme"),
        ("file:///etc/passwd", "file: scheme"),
        ("intent://x#Intent;end", "intent: scheme"),
        ("vbscript:msgbox", "vbscript: scheme"),
        # this machine, private networks, local names
        ("https://localhost/x", "localhost"),
        ("https://LOCALHOST./x", "localhost"),
        ("https://api.localhost/x", "api.localhost"),
        ("https://127.0.0.1/", "this machine"),
        ("https://127.8.9.10/", "this machine"),
        ("https://0.0.0.0/", "this machine"),
        ("https://[::1]/", "this machine"),
        ("https://[::ffff:127.0.0.1]/", "this machine"),
        ("https://10.0.0.1/", "private"),
        ("https://172.16.5.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://100.64.0.1/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[fe80::1]/", "private"),
        ("https://intranet/", "without a domain"),
        ("https://printer.local/", "local network"),
        ("https://nas.home.arpa/", "local network"),
        ("https://db.internal/", "local network"),
        # multicast, site-local, and IPv4 addresses carried inside IPv6 ones
        ("https://224.0.0.1/", "multicast"),
        ("https://239.255.255.250/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[ff0e::1]/", "multicast"),
        ("https://[fec0::1]/", "private or reserved"),
        ("https://240.0.0.1/", "private or reserved"),
        ("https://[::127.0.0.1]/", "this machine"),  # IPv4-compatible
        ("https://[::a00:1]/", "private"),
        ("https://[::ffff:0:127.0.0.1]/", "this machine"),  # SIIT
        ("https://[64:ff9b::7f00:1]/", "this machine"),  # NAT64
        ("https://[64:ff9b::a00:1]/", "private"),
        ("https://[64:ff9b:1::c0a8:101]/", "private"),  # local-use NAT64
        ("https://[2002:7f00:1::]/", "this machine"),  # 6to4
        ("https://[2002:c0a8:101::1]/", "private"),
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "this machine"),  # Teredo
        # names reserved never to be public sites
        ("https://shop.test/", "reserved"),
        ("https://foo.invalid/", "reserved"),
        ("https://hidden.onion/", "reserved"),
        ("https://x.alt/", "reserved"),
        ("https://SHOP.TEST./x", "reserved"),
        # length
        ("https://shop.example/" + "a" * 2048, "characters long"),
        ("https://shop.example/" + "ø" * 700, "once percent-encoded"),
    ],
)
def test_links_that_are_not_what_they_look_like_are_refused_with_the_reason(url, reason):
    sent, errors = STRICT.check(url, path="links[0].url")
    assert sent is None
    assert [path for path, _ in errors] == ["links[0].url"]
    assert reason in errors[0][1]


@pytest.mark.parametrize(
    "url",
    [
        "myapp://tickets/42",  # the shop's app, but not declared
        "itms-services://?action=download-manifest&url=https://evil.example/m.plist",
        "ms-settings:network",
        "chrome://settings",
        "https+x://shop.example/",
        "tel:+4712345678",
        "sms:+4712345678",
        "market://details?id=evil",
        "x-apple-health://",
    ],
)
def test_a_scheme_the_shop_did_not_declare_is_refused_saying_how_to_declare_it(url):
    sent, errors = STRICT.check(url, path="links[0].url")
    assert sent is None
    scheme = url.split(":", 1)[0]
    assert errors == [
        (
            "links[0].url",
            f"uses the {scheme}: scheme, which is not declared as the shop's app's own; if it "
            f"opens your app, add {scheme!r} to APP_LINK_SCHEMES",
        )
    ]
    assert (SHOP.check(url)[0] is not None) is (scheme == "myapp")  # once declared, it is sent


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "intent://x#end"]
)
def test_refused_schemes_stay_refused_whatever_is_declared(url):
    lenient = LinkPolicy.configured(app_schemes=["javascript", "data", "file", "intent", "myapp"])
    assert lenient.app_schemes == frozenset({"myapp"})
    assert lenient.check(url)[1][0][1].endswith("scheme, which is not allowed")


@pytest.mark.parametrize(
    ("schemes", "reason"),
    [
        ("myapp", "not a list of scheme names"),
        (["myapp://"], "write 'myapp'"),
        (["MyApp"], "write 'myapp'"),
        (["my app"], "not a scheme name"),
        (["1app"], "not a scheme name"),
        ([""], "not a scheme name"),
        ([42], "not a scheme name"),
        (["https"], "https is always allowed"),
        (["http"], "not an app's own scheme"),
        (["javascript"], "not an app's own scheme"),
        (["view-source"], "not an app's own scheme"),
    ],
)
def test_declared_app_schemes_are_checked(schemes, reason):
    reasons = app_scheme_errors(schemes)
    assert len(reasons) == 1
    assert reason in reasons[0]


def test_good_app_schemes_pass():
    assert app_scheme_errors(["myapp", "vipps-app", "no.shop.app", "a+b"]) == []
    assert app_scheme_errors(()) == []


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "shop.localhost",
        "127.0.0.1",
        "127.1",
        "127.255.255.254",
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "0.0.0.0",  # noqa: S104 - a host name, not a bind
        "[::1]",
        "::1",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[64:ff9b::7f00:1]",
    ],
)
def test_this_machine_however_it_is_written(host):
    assert is_this_machine(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "shop.example",
        "10.0.0.1",
        "8.8.8.8",
        "[::2]",
        "[2001:db8::1]",
        "[::1",
        "printer.local",
        "1e100",
        "0x7g.0.0.1",
        None,
        2130706433,
    ],
)
def test_other_hosts_are_not_this_machine(host):
    assert not is_this_machine(host)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost:8000/x",
        "https://127.0.0.1/x",
        "https://[::1]:8000/x",
        "https://10.0.0.1/",
        "https://intranet/",
        "http://127.0.0.1:8000/orders/1",
        "http://localhost/x",
    ],
)
def test_development_allows_this_machine_and_http_to_listed_hosts(url):
    assert STRICT.check(url)[0] is None
    assert DEVELOPMENT.check(url)[0] is not None


def test_development_allowances_are_narrow():
    assert DEVELOPMENT.check("http://shop.example/x")[0] is None  # http only to listed hosts
    assert DEVELOPMENT.check("https://user:pass@localhost/")[0] is None
    assert DEVELOPMENT.check("javascript:alert(1)")[0] is None
    only_hosts = LinkPolicy.configured(http_hosts=["127.0.0.1"])
    assert only_hosts.check("http://127.0.0.1:8000/x")[0] == "http://127.0.0.1:8000/x"
    assert only_hosts.check("https://127.0.0.1/x")[0] == "https://127.0.0.1/x"
    assert only_hosts.check("https://localhost/x")[0] is None
    assert only_hosts.check("https://10.1.1.1/x")[0] is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_link_is_required_or_absent(value):
    assert STRICT.check(value, path="url") == (None, [("url", "is required")])
    assert STRICT.check(value, path="url", required=False) == (None, [])


@pytest.mark.parametrize("value", [42, b"https://shop.example/", ["https://shop.example/"]])
def test_a_link_that_is_not_text_is_refused(value):
    assert STRICT.errors("url", value) == [("url", f"must be a string, not {type(value).__name__}")]


@given(st.text(max_size=300))
def test_the_policy_never_raises_and_what_it_allows_is_plain_ascii(url):
    for policy in (STRICT, DEVELOPMENT):
        sent, errors = policy.check(url)
        assert (sent is None) == bool(errors)
        if sent is not None:
            assert sent.isascii()
            assert sent.isprintable()
            assert " " not in sent
            assert policy.check(sent) == (sent, [])


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_any_path_text_is_sent_encoded_or_refused(text):
    parsed, reason = parse("https://shop.example/" + text)
    assert (parsed is None) != (reason is None)


def test_payloads_send_the_normalised_link_and_compare_by_it():
    category = Category("RECEIPT", "https://blåbær.no/kvittering/ø")
    assert category.to_api()["orderDetailsUrl"] == "https://xn--blbr-roah.no/kvittering/%C3%B8"
    assert category.to_api_v3("order-1", "ECOM")["url"] == category.to_api()["orderDetailsUrl"]
    assert category.same_link(Category("RECEIPT", category.to_api()["orderDetailsUrl"]))
    line = OrderLine.from_gross(
        name="Socks", id="1", unit_price=10, vat_rate=25, product_url="https://blåbær.no/sokk"
    )
    receipt = Receipt([line], BottomLine("NOK"))
    assert receipt.errors() == []
    assert receipt.to_api()["orderLines"][0]["productUrl"] == "https://xn--blbr-roah.no/sokk"


def test_a_product_url_to_this_machine_is_refused_naming_the_line():
    line = OrderLine.from_gross(
        name="Socks", id="1", unit_price=10, vat_rate=25, product_url="https://127.0.0.1/sokk"
    )
    errors = Receipt([line], BottomLine("NOK")).errors()
    assert [path for path, _ in errors] == ["orderLines[0].productUrl"]
    assert Receipt([line], BottomLine("NOK")).errors(policy=DEVELOPMENT) == []


@pytest.mark.parametrize(
    "url",
    [
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "blob:https://shop.example/1",
        "file:///etc/passwd",
        'https://shop.example/"onmouseover="alert(1)',
    ],
)
def test_the_preview_of_what_vipps_holds_never_makes_a_script_clickable(url):
    """What Vipps holds is outside input too: the admin's preview parses it as the policy does."""
    from vipps_order_management.display.preview import PreviewLink, render_preview

    page = render_preview(receipt=None, links=[PreviewLink("GENERAL", url)])
    hrefs = re.findall(r'<a class="button" href="([^"]*)"', page)
    assert len(hrefs) == 1
    assert hrefs[0] == "#" or hrefs[0].startswith("https://shop.example/%22")
    assert "javascript" not in hrefs[0].lower()


def test_the_preview_keeps_real_links_clickable():
    from vipps_order_management.display.preview import PreviewLink, render_preview

    page = render_preview(
        receipt=None,
        links=[
            PreviewLink("DELIVERY", "https://track.example/1"),
            PreviewLink("GENERAL", "http://127.0.0.1:8000/x"),
        ],
    )
    assert re.findall(r'<a class="button" href="([^"]*)"', page) == [
        "https://track.example/1",
        "http://127.0.0.1:8000/x",
    ]
