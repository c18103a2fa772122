"""The one link policy: which links may reach the Vipps app or a customer's browser.

Every link the app handles passes here, whoever made it: the shop's adapter (order links and
``productUrl``), staff (the admin, the API), and settings (``SITE_URL``). The sync refuses a link
the policy refuses (the order waits for staff, naming the field), and the template tags, the
signed pages and the customer API leave it out, so a customer is never shown a link that is not
sent, and never sent one that is not what it looks like.

A link is allowed when it is

* ``https`` (or plain ``http`` to a host in ``http_hosts``: development with the fake Vipps), or
  a scheme the shop declared as its app's own (``app_schemes``, e.g. ``myapp://tickets/42``).
  Any other scheme is refused: an allowlist, since a phone opens ``itms-services:``,
  ``intent:`` or ``ms-settings:`` as readily as the shop's app. :data:`REFUSED_SCHEMES` can
  never be declared;
* a valid RFC 3986 URI once normalised (below): no spaces, control or invisible characters, no
  backslash, no malformed percent-escape, a port from 1 to 65535;
* without credentials (``https://user:pass@...``);
* to a public host: not this machine (``localhost``, ``127.0.0.1``, ``[::1]``), not a private,
  link-local, reserved or multicast network (nor an IPv6 address carrying such an IPv4 one), not
  a single-label, local-only or reserved name (``.test``...), not an IPv4 address written the way
  only browsers read it (``https://2130706433/`` is 127.0.0.1), unless ``local_hosts`` (the
  project's ``DEBUG``) or ``http_hosts`` allow it;
* at most :data:`LINK_MAX_LENGTH` characters.

Normalised, not refused: an internationalised host name becomes its punycode (IDNA 2008 with
UTS 46 mapping, ``blåbær.no`` → ``xn--blbr-roah.no``), the scheme and host become lower case, and
characters RFC 3986 does not allow in a path, query or fragment (non-ASCII text such as
``/bær``, and ``" < > ^ ` { | }``) are percent-encoded as UTF-8. That is what a browser would do
with the link; sending it encoded means Vipps receives a valid URI that opens the same page.

Pure Python, no Django: :func:`vipps_order_management.conf.link_policy` builds the project's
policy from its settings.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import idna

__all__ = [
    "LINK_MAX_LENGTH",
    "REFUSED_SCHEMES",
    "LinkPolicy",
    "ParsedLink",
    "app_scheme_errors",
    "is_this_machine",
    "normalise",
    "parse",
]

LINK_MAX_LENGTH = 2048
"""The longest link accepted, once normalised: what every browser and the app's tables hold."""

#: Schemes that are never an app's own, so never declared as one, and never clickable in a
#: preview; ``http`` passes only to development hosts.
REFUSED_SCHEMES = frozenset(
    {
        "about",
        "blob",
        "content",
        "data",
        "file",
        "filesystem",
        "ftp",
        "http",
        "intent",
        "jar",
        "javascript",
        "mhtml",
        "vbscript",
        "view-source",
        "ws",
        "wss",
    }
)

#: Names that only ever reach the local network, never a customer's phone.
_LOCAL_SUFFIXES = (".local", ".localdomain", ".internal", ".lan", ".home.arpa")

#: Top-level names reserved never to be a public site (RFC 2606, 6761, 7686, 9476). Not
#: ``.example``: documentation and test suites (this one too) use it for the shop's address.
_RESERVED_SUFFIXES = (".test", ".invalid", ".onion", ".alt")

_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]*):")
_SCHEME_NAME = re.compile(r"\A[a-z][a-z0-9+.\-]*\Z")
_DNS_LABEL = re.compile(r"\A(?!-)[a-z0-9\-]{1,63}(?<!-)\Z")
_PORT = re.compile(r"\A[0-9]{1,5}\Z")
_HEX = frozenset("0123456789abcdefABCDEF")

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class ParsedLink:
    """A link taken apart: the whole normalised URL, its scheme and, for http(s), its host."""

    url: str
    scheme: str
    host: str | None = None
    #: Why the host is not public ("this machine", "a private network"...), or "".
    local: str = ""


def _invisible(char: str) -> bool:
    """Control, format (zero-width, direction marks) and space characters: not seen, or
    not kept in a link."""
    return char.isspace() or unicodedata.category(char) in (
        "Cc",
        "Cf",
        "Cs",
        "Co",
        "Cn",
        "Zl",
        "Zp",
    )


def _shown(url: str, limit: int = 80) -> str:
    text = repr(url)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="
#: What RFC 3986 allows, besides percent-escapes, in each part of a URI.
_PCHAR = frozenset(_UNRESERVED + _SUB_DELIMS + ":@")
_ALLOWED = {
    "authority": frozenset(_UNRESERVED + _SUB_DELIMS + ":[]"),
    "path": _PCHAR | {"/"},
    "query": _PCHAR | {"/", "?"},
    "fragment": _PCHAR | {"/", "?"},
}


#: Each part when it needs no change: allowed characters and well-formed escapes only.
_VALID = {
    part: re.compile("(?:[" + re.escape("".join(sorted(chars))) + "]|%[0-9A-Fa-f]{2})*")
    for part, chars in _ALLOWED.items()
}


def _encode(text: str, part: str) -> tuple[str, str | None]:
    """One part of a URI with what RFC 3986 does not allow there percent-encoded, as a browser
    does (UTF-8), or ``("", reason)`` for what cannot be a URI at all."""
    if _VALID[part].fullmatch(text):
        return text, None
    allowed = _ALLOWED[part]
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            escape = text[index + 1 : index + 3]
            if len(escape) < 2 or not set(escape) <= _HEX:
                return "", (
                    f"holds {('%' + escape)!r}, which is not a percent-escape (a % is followed "
                    "by two hex digits; write a % itself as %25)"
                )
            out.append("%" + escape)
            index += 3
            continue
        if char == "\\":
            return "", "holds a backslash, which browsers read as '/'; percent-encode it as %5C"
        if char in allowed:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        index += 1
    return "".join(out), None


_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


def _mixed_scripts(label: str) -> bool:
    """Whether a host label mixes Latin, Cyrillic and Greek letters: a look-alike of a name."""
    found = set()
    for char in label:
        if char.isalpha():
            script = unicodedata.name(char, "").split(" ", 1)[0]
            if script in _SCRIPTS:
                found.add(script)
    return len(found) > 1


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (IPv4-compatible, SIIT,
#: NAT64 well-known and local-use): the embedded address is where the link leads.
_EMBEDDING_IPV4 = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, SIIT, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in network for network in _EMBEDDING_IPV4) and int(address) & 0xFFFFFFFF:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _classify_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address is not a public host, or "": global unicast only, and where it embeds
    an IPv4 address, that one must be public too."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and address != ipaddress.IPv6Address("::1"):
            return _classify_ip(embedded)
        if address.is_site_local:
            return "a private or reserved network"
    if address.is_loopback or address.is_unspecified:
        return _THIS_MACHINE
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or address.is_link_local or address.is_reserved or not address.is_global:
        return "a private or reserved network"
    return ""


_THIS_MACHINE = "this machine"


def is_this_machine(host: Any) -> bool:
    """Whether ``host`` (a URL's host, bracketed or not) is this machine: ``localhost`` and its
    subdomains, or a loopback or unspecified address however it is written (``127.1``,
    ``0x7f.0.0.1``, ``[::ffff:127.0.0.1]``). The one answer for links, ``BASE_URL`` and the
    admin. Anything but a string is no host, so not this machine."""
    if not isinstance(host, str):
        return False
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(name)
    except ValueError:
        if not _numeric_ipv4(name) or not re.fullmatch(r"[0-9a-fx.]+", name):
            return False
        try:  # the shorthand the resolver reads too: 127.1, 2130706433, 0x7f.1
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    return _classify_ip(address) == _THIS_MACHINE


def _numeric_ipv4(host: str) -> bool:
    """Whether a browser reads ``host`` as an IPv4 address: its last label is a number."""
    labels = host.rstrip(".").split(".")
    last = labels[-1] if labels else ""
    return bool(last) and (last.isdigit() or bool(re.fullmatch(r"0[xX][0-9A-Fa-f]*", last)))


def _ipv6_host(raw: str) -> tuple[str, str, str | None]:
    """:func:`_host` for a bracketed IPv6 literal."""
    inside = raw[1:-1] if raw.endswith("]") else None
    if inside is None:
        return "", "", f"has an unclosed IPv6 address {raw!r}; write it as [2001:db8::1]"
    if "%" in inside:
        return "", "", "has an IPv6 zone id, which only this machine understands"
    try:
        v6 = ipaddress.IPv6Address(inside)
    except ValueError:
        return "", "", f"has {raw!r}, which is not an IPv6 address"
    return f"[{v6.compressed}]", _classify_ip(v6), None


@lru_cache(maxsize=1024)  # a shop's links name a handful of hosts
def _host(raw: str) -> tuple[str, str, str | None]:
    """``(normalised host, why it is not public, reason it is refused)`` for an http(s) host."""
    if raw.startswith("["):
        return _ipv6_host(raw)
    if not raw:
        return "", "", "has no host name"
    if "%" in raw:
        return "", "", f"has a percent-escape in its host name {raw!r}; write the name itself"
    if not raw.isascii() and any(_mixed_scripts(label) for label in raw.split(".")):
        return (
            "",
            "",
            (
                f"has the host name {raw!r}, which mixes Latin, Cyrillic or Greek letters in one "
                "label: a look-alike of another name"
            ),
        )
    try:
        host = raw.lower() if raw.isascii() else idna.encode(raw, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        return "", "", f"has the host name {raw!r}, which is not a valid domain name ({exc})"
    if _numeric_ipv4(host):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            return (
                "",
                "",
                (
                    f"has the host {raw!r}, which browsers read as an IPv4 address; write an "
                    "address as four decimal numbers (192.0.2.1), or use a host name"
                ),
            )
        return host, _classify_ip(address), None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        return (
            "",
            "",
            (
                f"has the host name {raw!r}, which is not a domain name (letters, digits and "
                "hyphens, in labels of at most 63 characters)"
            ),
        )
    if is_this_machine(name):
        return host, _THIS_MACHINE, None
    if name.endswith(_LOCAL_SUFFIXES):
        return host, "a name of the local network", None
    if name.endswith(_RESERVED_SUFFIXES):
        return (
            host,
            "a name reserved never to be a public site (.test, .invalid, .onion, .alt)",
            None,
        )
    if "." not in name:
        return host, "a name without a domain, known only on a local network", None
    return host, "", None


def _authority(scheme: str, authority: str) -> tuple[str, str | None, str, str | None]:
    """``(normalised authority, host, why the host is not public, reason it is refused)``."""
    if "@" in authority:
        return "", None, "", "must not carry a user name or password (user:password@...)"
    if scheme not in ("https", "http"):  # an app's own: its authority is no network host
        encoded, reason = _encode(authority, "authority")
        return encoded, None, "", reason
    host_part, port_text = authority, None
    if authority.startswith("["):
        close = authority.find("]")
        if close != -1 and close + 1 < len(authority):
            host_part, after = authority[: close + 1], authority[close + 1 :]
            if not after.startswith(":"):
                return "", None, "", f"has {authority!r}, which is not a host and a port"
            port_text = after[1:]
    elif ":" in authority:
        host_part, _, port_text = authority.rpartition(":")
    port = ""
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            return "", None, "", f"has the port {port_text!r}; a port is a number from 1 to 65535"
        port = f":{int(port_text)}"
    host, local, reason = _host(host_part)
    return host + port, host, local, reason


def _split(text: str, delimiter: str) -> tuple[str, str | None]:
    """``text`` before and after the first ``delimiter`` (``None`` after when it has none)."""
    before, found, after = text.partition(delimiter)
    return (before, after) if found else (before, None)


def parse(url: Any) -> tuple[ParsedLink | None, str | None]:
    """The link taken apart and normalised, or ``(None, reason)`` when it is not a valid URI
    (or not a string). Never raises.

    Says nothing about whether the link is allowed: that is :meth:`LinkPolicy.errors`.
    """
    if not isinstance(url, str):
        return None, f"must be a string, not {type(url).__name__}"
    plain = url.isascii() and url.isprintable() and " " not in url
    bad = None if plain else next((char for char in url if _invisible(char)), None)
    if bad is not None:
        name = unicodedata.name(bad, "")
        return None, (
            f"holds U+{ord(bad):04X}{f' {name}' if name else ''}, a space, control or invisible "
            "character; percent-encode it (a space is %20)"
        )
    found = _SCHEME.match(url)
    if found is None:
        return None, (
            f"must be an absolute https:// URL or an app link (myapp://...), not {_shown(url)}"
        )
    scheme = found.group(1).lower()
    rest = url[found.end() :]
    authority, host, local = None, None, ""
    if rest.startswith("//"):
        end = min((p for p in (rest.find(c, 2) for c in "/?#") if p != -1), default=len(rest))
        authority, host, local, reason = _authority(scheme, rest[2:end])
        if reason is not None:
            return None, reason
        rest = rest[end:]
    elif scheme in ("https", "http"):
        return None, f"has no host name: {_shown(url)}"
    rest, fragment = _split(rest, "#")
    path, query = _split(rest, "?")
    parts = [f"{scheme}:"]
    if authority is not None:
        parts.append(f"//{authority}")
    for text, part, prefix in (
        (path, "path", ""),
        (query, "query", "?"),
        (fragment, "fragment", "#"),
    ):
        if text is None:
            continue
        encoded, reason = _encode(text, part)
        if reason is not None:
            return None, reason
        parts.append(prefix + encoded)
    return ParsedLink("".join(parts), scheme, host, local), None


def normalise(url: Any) -> Any:
    """``url`` as it is sent: normalised when it is a valid URI, else unchanged (for the checks
    to refuse with their reason). Anything but a string is returned as it is."""
    if not isinstance(url, str):
        return url
    parsed, _reason = parse(url)
    return parsed.url if parsed is not None else url


def app_scheme_errors(schemes: Any) -> list[str]:
    """Why ``schemes`` cannot be the app schemes a shop declares (scheme names such as
    ``"myapp"``: lower-case RFC 3986, neither http(s) nor one of :data:`REFUSED_SCHEMES`);
    empty when they can. Never raises."""
    if isinstance(schemes, str) or not isinstance(schemes, list | tuple | set | frozenset):
        return [f"is {schemes!r}, not a list of scheme names such as ['myapp']"]
    reasons = []
    for scheme in schemes:
        if not isinstance(scheme, str) or not _SCHEME_NAME.fullmatch(scheme):
            shown = scheme.split(":", 1)[0] if isinstance(scheme, str) else ""
            hint = f"; write {shown.lower()!r}" if _SCHEME_NAME.fullmatch(shown.lower()) else ""
            reasons.append(
                f"holds {scheme!r}, which is not a scheme name (a lower-case letter, then "
                f"letters, digits, '+', '-' or '.', without ':'){hint}"
            )
        elif scheme in ("https", "http") or scheme in REFUSED_SCHEMES:
            reasons.append(
                f"holds {scheme!r}, which is not an app's own scheme"
                + (": https is always allowed" if scheme == "https" else "")
            )
    return reasons


@dataclass(frozen=True)
class LinkPolicy:
    """Which links are allowed: strict by default, as Vipps is; looser only for development.

    ``app_schemes``: the schemes of the shop's own app (``myapp``), the only others than https.
    ``http_hosts``: hosts whose plain-http links pass (development with the fake Vipps).
    ``local_hosts``: links to this machine or a private network pass (the project's ``DEBUG``).
    """

    http_hosts: frozenset[str] = field(default_factory=frozenset)
    local_hosts: bool = False
    max_length: int = LINK_MAX_LENGTH
    app_schemes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def configured(
        cls,
        *,
        app_schemes: Collection[str] = (),
        http_hosts: Collection[str] = (),
        local_hosts: bool = False,
    ) -> LinkPolicy:
        """A policy from settings: host names and schemes compared as the policy spells them.
        Schemes :func:`app_scheme_errors` refuses are left out, never allowed."""
        hosts = frozenset(str(host).strip("[]").lower() for host in http_hosts)
        schemes = frozenset(scheme for scheme in app_schemes if not app_scheme_errors([scheme]))
        return cls(hosts, bool(local_hosts), app_schemes=schemes)

    def check(
        self, url: Any, *, path: str = "url", required: bool = True
    ) -> tuple[str | None, Errors]:
        """``(the link as sent, [])`` when allowed, else ``(None, [(path, reason)])``.

        ``None`` or a blank string is ``(None, [])`` unless ``required``. Never raises.
        """
        if url is not None and not isinstance(url, str):
            return None, [(path, f"must be a string, not {type(url).__name__}")]
        if url is None or not url.strip():
            return None, ([(path, "is required")] if required else [])
        if len(url) > self.max_length:
            return None, [
                (path, f"is {len(url)} characters long; at most {self.max_length} are allowed")
            ]
        parsed, reason = parse(url)
        if parsed is None:
            return None, [(path, reason or "is not a valid link")]
        refusal = self._refusal(parsed)
        if refusal is not None:
            return None, [(path, refusal)]
        if len(parsed.url) > self.max_length:
            return None, [
                (
                    path,
                    f"is {len(parsed.url)} characters long once percent-encoded; at most "
                    f"{self.max_length} are allowed",
                )
            ]
        return parsed.url, []

    def errors(self, path: str, url: Any, *, required: bool = True) -> Errors:
        """Why ``url`` may not be sent, as ``(path, reason)`` pairs; empty when it may."""
        return self.check(url, path=path, required=required)[1]

    def clean(self, url: Any) -> str | None:
        """The link as it is sent and shown, or ``None`` when it is refused (for display)."""
        return self.check(url, required=False)[0]

    def _refusal(self, link: ParsedLink) -> str | None:
        development_host = (link.host or "").strip("[]") in self.http_hosts
        if link.scheme == "http" and not development_host:
            return (
                "uses the http: scheme; the Vipps app opens only https links. For local "
                "development list the host in DEVELOPMENT_LINK_HOSTS"
            )
        if link.scheme not in ("https", "http") and link.scheme not in self.app_schemes:
            if link.scheme in REFUSED_SCHEMES:
                return f"uses the {link.scheme}: scheme, which is not allowed"
            return (
                f"uses the {link.scheme}: scheme, which is not declared as the shop's app's own; "
                f"if it opens your app, add {link.scheme!r} to APP_LINK_SCHEMES"
            )
        if link.local and not (self.local_hosts or development_host):
            return (
                f"points at {link.host}, {link.local}, which the customer's phone cannot reach; "
                "use the shop's public address (in development set DEBUG or list the host in "
                "DEVELOPMENT_LINK_HOSTS)"
            )
        return None


#: Vipps's own rule, with no app scheme and no development allowance: the client's default.
STRICT = LinkPolicy()
