"""URIs in SIP.

SIP and SIPS URIs (RFC 3261 §19.1), tel URIs (RFC 3966) and any other absolute URI (RFC 3986 §4.3),
kept as the text they were written in.

Parsed URIs remember their original text, so ``str(uri)`` gives back exactly what was
received (a proxy forwards what it did not change). Components are exposed unescaped.
Equality of SIP URIs follows RFC 3261 §19.1.4 and of tel URIs RFC 3966 §4; other URIs
compare by scheme (case-insensitively) and the rest of their text.

"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote_to_bytes

from sipperc.sip import grammar
from sipperc.sip.errors import SipParseError

__all__ = [
    "AbsoluteUri",
    "Parameters",
    "SipUri",
    "TelUri",
    "Uri",
    "parse_uri",
    "unescape",
]


def unescape(text: str) -> str:
    """Replace ``%HH`` escapes (RFC 3261 §19.1.2) by the octets they stand for.

    The octets are decoded as UTF-8 with ``surrogateescape``, so any octet, even NUL
    (RFC 4475 §3.1.1.4), survives and encodes back to itself.
    """
    if "%" not in text:
        return text
    octets = unquote_to_bytes(text.encode("utf-8", "surrogateescape"))
    return octets.decode("utf-8", "surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


# Characters that need no escaping, per component (RFC 3261 §25.1).
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_PASSWORD_SAFE = "-_.!~*'()&=+$,"  # noqa: S105 - a character set, not a secret
_PARAM_SAFE = "-_.!~*'()[]/:&+$"
_HEADER_SAFE = "-_.!~*'()[]/?:+$"


class Parameters:
    """An ordered, immutable list of ``;name[=value]`` parameters.

    Names match case-insensitively (RFC 3261 §7.3.1 and §19.1.4); values are kept as written
    (quoted strings keep their quotes: use :meth:`unquoted` for the text inside).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str | None]] = ()) -> None:
        self._items: tuple[tuple[str, str | None], ...] = tuple(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first parameter called ``name`` (None for a valueless one)."""
        lname = name.lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return default

    def unquoted(self, name: str) -> str | None:
        """The value with surrounding quotes and quoted-pairs removed (RFC 3261 §25.1)."""
        value = self.get(name)
        if value is None or not value.startswith('"'):
            return value
        return unquote_string(value)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameters):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Parameters({list(self._items)!r})"

    def names(self) -> list[str]:
        """The parameter names, lower-cased, in order."""
        return [key.lower() for key, _ in self._items]

    def with_param(self, name: str, value: str | None = None) -> Parameters:
        """A copy with ``name`` set to ``value`` (replacing it in place if present)."""
        lname = name.lower()
        items = list(self._items)
        for i, (key, _) in enumerate(items):
            if key.lower() == lname:
                items[i] = (key, value)
                return Parameters(items)
        items.append((name, value))
        return Parameters(items)

    def without(self, name: str) -> Parameters:
        """A copy without any parameter called ``name``."""
        lname = name.lower()
        return Parameters((k, v) for k, v in self._items if k.lower() != lname)

    def to_string(self) -> str:
        """``;name=value;name`` as written on the wire."""
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self._items)


def unquote_string(text: str) -> str:
    """The content of a quoted-string, with quoted-pairs resolved (RFC 3261 §25.1)."""
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def quote_string(text: str) -> str:
    """``text`` as a quoted-string (RFC 3261 §25.1).

    Quotes, backslashes and control characters become quoted-pairs; CR and LF cannot be
    represented and raise ValueError.
    """
    if "\r" in text or "\n" in text:
        raise ValueError("a quoted-string cannot contain CR or LF")
    if grammar.NOT_QDTEXT.search(text) is None:  # the usual case: nothing to escape
        return f'"{text}"'
    return '"' + grammar.NOT_QDTEXT.sub(_quoted_pair, text) + '"'


def _quoted_pair(match: re.Match[str]) -> str:
    return "\\" + match.group()


def _uri_params(text: str) -> Parameters:
    items: list[tuple[str, str | None]] = []
    pos = 0
    match = grammar.URI_PARAMETER.match
    while pos < len(text):
        m = match(text, pos)
        if m is None:  # pragma: no cover - callers pass text that matched uri-parameters
            raise SipParseError(400, "Bad URI parameters")
        value = m.group("value")
        items.append((unescape(m.group("name")), None if value is None else unescape(value)))
        pos = m.end()
    return Parameters(items)


@dataclass(frozen=True, slots=True, eq=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1). Components are unescaped."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    parameters: Parameters = field(default_factory=Parameters)
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self._compose())

    def _compose(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                parts += [":", _escape(self.password, _PASSWORD_SAFE)]
            parts.append("@")
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        parts.append(host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.parameters:
            parts.append(";" + _escape(name, _PARAM_SAFE))
            if value is not None:
                parts.append("=" + _escape(value, _PARAM_SAFE))
        if self.headers:
            parts.append("?")
            parts.append(
                "&".join(
                    f"{_escape(n, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}"
                    for n, v in self.headers
                )
            )
        return "".join(parts)

    @property
    def secure(self) -> bool:
        """True for ``sips:`` (RFC 3261 §19.1: TLS on every hop)."""
        return self.scheme == "sips"

    @property
    def host_key(self) -> str:
        """The host in the form used for comparison: lower case, IPv6 without brackets."""
        host = self.host.lower()
        return host[1:-1] if host.startswith("[") else host

    @property
    def transport(self) -> str | None:
        """The ``transport`` URI parameter, lower-cased (RFC 3261 §19.1.1)."""
        value = self.parameters.get("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        """True if the URI carries ``lr`` (a loose router, RFC 3261 §19.1.1)."""
        return "lr" in self.parameters

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` URI parameter."""
        return self.parameters.get("maddr")

    def with_changes(self, **changes: object) -> SipUri:
        """A new URI with the given components replaced and its text recomposed, e.g.

        ``uri.with_changes(parameters=uri.parameters.with_param("lr"))``.
        """
        return replace(self, text="", **changes)  # type: ignore[arg-type]

    def without_headers(self) -> SipUri:
        """The URI without its ``?headers`` part (not allowed in a Request-URI, §19.1.5)."""
        return self.with_changes(headers=()) if self.headers else self

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"SipUri({self.text!r})"

    def __eq__(self, other: object) -> bool:
        """RFC 3261 §19.1.4 URI comparison."""
        if not isinstance(other, SipUri):
            return NotImplemented
        if (
            self.scheme != other.scheme
            or self.user != other.user
            or self.password != other.password
            or self.host_key != other.host_key
            or self.port != other.port
        ):
            return False
        mine = {k.lower(): v for k, v in self.parameters}
        theirs = {k.lower(): v for k, v in other.parameters}
        for name in ("user", "ttl", "method", "maddr", "transport"):
            if (name in mine) != (name in theirs):
                return False
        for name in mine.keys() & theirs.keys():
            a, b = mine[name], theirs[name]
            if (a or "").lower() != (b or "").lower() or (a is None) != (b is None):
                return False
        own_headers = {(k.lower(), v) for k, v in self.headers}
        return own_headers == {(k.lower(), v) for k, v in other.headers}

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.host_key, self.port))


@dataclass(frozen=True, slots=True, eq=False)
class TelUri:
    """A ``tel:`` URI (RFC 3966 §3)."""

    number: str
    parameters: Parameters = field(default_factory=Parameters)
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", f"tel:{self.number}{self.parameters.to_string()}")

    scheme = "tel"

    @property
    def is_global(self) -> bool:
        """True for a global number (starts with ``+``, RFC 3966 §5.1.4)."""
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (RFC 3966 §4 compares this way)."""
        return "".join(c for c in self.number if c not in "-.()")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"TelUri({self.text!r})"

    def __eq__(self, other: object) -> bool:
        """RFC 3966 §4: same digits, same parameters (names and values case-insensitive)."""
        if not isinstance(other, TelUri):
            return NotImplemented
        mine = {(k.lower(), (v or "").lower()) for k, v in self.parameters}
        theirs = {(k.lower(), (v or "").lower()) for k, v in other.parameters}
        return self.digits.lower() == other.digits.lower() and mine == theirs

    def __hash__(self) -> int:
        return hash(self.digits.lower())


@dataclass(frozen=True, slots=True, eq=False)
class AbsoluteUri:
    """Any other absolute URI (RFC 3986 §4.3), e.g. ``http:``, ``urn:``, ``isbn:``."""

    text: str

    @property
    def scheme(self) -> str:
        """The scheme, lower-cased (schemes are case-insensitive, RFC 3986 §3.1)."""
        return self.text.partition(":")[0].lower()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"AbsoluteUri({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteUri):
            return NotImplemented
        return (
            self.scheme == other.scheme
            and self.text.partition(":")[2] == other.text.partition(":")[2]
        )

    def __hash__(self) -> int:
        return hash(self.text)


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a URI as it appears in a Request-URI or inside ``<...>`` (RFC 3261 §25.1).

    Raises :class:`SipParseError` (400) when the text is not a URI. URIs are immutable
    values, and the same few (our own, the peers') come back in every message of a call and
    in every call: the last :data:`URI_CACHE_SIZE` distinct texts are remembered.
    """
    return _parse_uri_cached(text)


URI_CACHE_SIZE = 4096
"""Distinct URI texts whose parse is kept (least recently used dropped first)."""


@functools.lru_cache(maxsize=URI_CACHE_SIZE)
def _parse_uri_cached(text: str) -> Uri:
    scheme = text[:5].lower()
    if scheme.startswith(("sip:", "sips:")):
        m = grammar.SIP_URI.fullmatch(text)
        if m is None:
            raise SipParseError(400, "Malformed SIP URI", detail=text)
        user, password, port, headers = m.group("user", "password", "port", "headers")
        header_items: tuple[tuple[str, str], ...] = ()
        if headers:
            pairs = [h.partition("=") for h in headers.split("&")]
            header_items = tuple((unescape(n), unescape(v)) for n, _, v in pairs)
        port_number = None if port is None else int(port)
        if port_number is not None and port_number > 65535:
            raise SipParseError(400, "Port out of range in SIP URI", detail=text)
        params = m.group("params")
        return SipUri(
            host=m.group("host"),
            user=None if user is None else unescape(user),
            password=None if password is None else unescape(password),
            port=port_number,
            parameters=_uri_params(params) if params else Parameters(),
            headers=header_items,
            scheme=m.group("scheme").lower(),
            text=text,
        )
    if scheme.startswith("tel:"):
        m = grammar.TEL_URI.fullmatch(text)
        if m is None:
            raise SipParseError(400, "Malformed tel URI", detail=text)
        items: list[tuple[str, str | None]] = []
        pos = 0
        params = m.group("params")
        while pos < len(params):
            p = grammar.TEL_PARAMETER.match(params, pos)
            assert p is not None
            items.append((p.group("name"), p.group("value")))
            pos = p.end()
        if not m.group("number").startswith("+") and "phone-context" not in Parameters(items):
            # RFC 3966 §5.1.5: a local number MUST carry a phone-context.
            raise SipParseError(400, "Local tel URI without phone-context", detail=text)
        return TelUri(number=m.group("number"), parameters=Parameters(items), text=text)
    if grammar.ABSOLUTE_URI.fullmatch(text) is None:
        raise SipParseError(400, "Malformed URI", detail=text)
    return AbsoluteUri(text)
