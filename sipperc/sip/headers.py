"""Header fields: the raw field as received, and typed values for the common headers.

A :class:`HeaderField` keeps the exact text it arrived as (folding, compact name, spacing),
so a proxy or B2BUA forwards untouched fields byte for byte (RFC 3261 §16.6 step 1: "the
proxy MUST NOT reorder or modify ... header fields" it does not process). Typed values are
parsed from the unfolded value on demand through a :class:`TypedHeader` (``VIA``, ``CSEQ``,
``RACK``...), each built on the named rules of :mod:`sipperc.sip.grammar`.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from sipperc.sip import grammar
from sipperc.sip.errors import SipParseError
from sipperc.sip.uri import (
    Parameters,
    Uri,
    parse_uri,
    quote_string,
    unquote_string,
)

__all__ = [
    "COMPACT_FORMS",
    "Address",
    "AuthValue",
    "CSeq",
    "EventValue",
    "HeaderField",
    "MediaType",
    "RAck",
    "ReasonValue",
    "Replaces",
    "SessionExpires",
    "TypedHeader",
    "Via",
    "address_tag",
    "canonical_name",
    "header_key",
    "parse_first_via",
]
# The TypedHeader constants (VIA, CSEQ, RACK...) are exported too; see TYPED_HEADERS.

# RFC 3261 §7.3.3 and §20, plus the later RFCs that define a compact form (IANA "Header
# Fields" registry): compact form -> full name, lower case.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Spellings that plain capitalisation of each dash-separated word would get wrong.
_SPECIAL_NAMES = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "rseq": "RSeq",
    "rack": "RAck",
    "min-se": "Min-SE",
    "mime-version": "MIME-Version",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

# Header fields whose grammar is a comma-separated list, so several field rows may be
# combined into one and one row split into several (RFC 3261 §7.3.1). WWW-Authenticate,
# Authorization and their Proxy- twins are the RFC's stated exceptions and are absent.
LIST_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "error-info",
        "in-reply-to",
        "path",
        "proxy-require",
        "reason",
        "record-route",
        "require",
        "route",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    }
)

_key_cache: dict[str, str] = {}


def header_key(name: str) -> str:
    """The lower-case full name used to look a header up (compact forms expanded).

    Header names are case-insensitive (RFC 3261 §7.3.1).
    """
    key = _key_cache.get(name)
    if key is None:
        lower = name.lower()
        key = COMPACT_FORMS.get(lower, lower)
        if len(_key_cache) < 4096:
            _key_cache[name] = key
    return key


def canonical_name(key: str) -> str:
    """The usual spelling of a header name: ``call-id`` -> ``Call-ID``, ``v`` -> ``Via``."""
    key = header_key(key)
    special = _SPECIAL_NAMES.get(key)
    if special is not None:
        return special
    return "-".join(part.capitalize() for part in key.split("-"))


class HeaderField:
    """One header field row, exactly as received or as built.

    ``name`` is the name as written (``v``, ``MaX-fOrWaRdS``), ``key`` the lower-case full name
    (``via``), ``value`` the unfolded value without leading or trailing whitespace, and ``raw``
    the complete original text of the row including folding and the final CRLF, which is what
    gets serialized.
    """

    __slots__ = ("key", "name", "raw", "value")

    def __init__(
        self, name: str, value: str, raw: str | None = None, key: str | None = None
    ) -> None:
        self.name = name
        self.key = header_key(name) if key is None else key
        self.value = value
        self.raw = f"{name}: {value}\r\n" if raw is None else raw

    @classmethod
    def make(cls, name: str, value: object) -> HeaderField:
        """A new field written with the canonical full name, ``value`` converted by ``str``.

        ``HeaderField.make("v", via)`` gives ``Via: ...``.
        """
        text = str(value)
        if grammar.HEADER_VALUE.fullmatch(text) is None:
            raise ValueError(f"header {name!r}: {text!r} is not a header-value")
        if grammar.TOKEN.fullmatch(name) is None:
            raise ValueError(f"header name {name!r} is not a token")
        return cls(canonical_name(name), text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HeaderField):
            return NotImplemented
        return self.key == other.key and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.key, self.value))

    def __repr__(self) -> str:
        return f"HeaderField({self.name!r}, {self.value!r})"


T = TypeVar("T")


def parse_fields(lines: Sequence[str], first: int) -> list[HeaderField]:
    """Header fields from ``lines[first:]``, a header section split at CRLF.

    Continuation lines are unfolded (RFC 3261 §7.3.1); names must be tokens and values
    header-values.
    """
    fields: list[HeaderField] = []
    append = fields.append
    names = _valid_names
    header_value = grammar.HEADER_VALUE.fullmatch
    n = len(lines)
    i = first
    while i < n:
        line = lines[i]
        i += 1
        raw = line
        # Continuation lines start with whitespace and belong to this field.
        while i < n and lines[i][:1] in (" ", "\t"):
            raw = f"{raw}\r\n{lines[i]}"
            line = line + lines[i]
            i += 1
        written, colon, value = line.partition(":")
        known = names.get(written)
        if known is None or not colon:
            name = written.rstrip(" \t")
            if not colon or grammar.TOKEN.fullmatch(name) is None:
                raise SipParseError(400, "Malformed header field", detail=raw)
            known = (name, header_key(name))
            if len(names) < 4096:
                names[written] = known
        value = value.strip(" \t")
        # str.isprintable() is a fast pre-check: printable text is always a header-value.
        if not value.isprintable() and header_value(value) is None:
            raise SipParseError(400, f"Bad {known[0]} header", header=known[0], detail=raw)
        append(HeaderField(known[0], value, raw + "\r\n", known[1]))
    return fields


# Header names already seen to be tokens (spelling before the colon -> name, key): messages
# use a few dozen spellings, and checking each once keeps the per-field cost low.
_valid_names: dict[str, tuple[str, str]] = {}


class TypedHeader(Generic[T]):
    """How to read one header's values as Python objects: ``message.typed(VIA)``.

    ``parse`` turns one field's value into a tuple of items (several for comma-separated
    lists). ``single`` headers may appear only once in a message (RFC 3261 §7.3.1).
    """

    __slots__ = ("key", "name", "parse", "single")

    def __init__(self, key: str, parse: Callable[[str], tuple[T, ...]], *, single: bool) -> None:
        self.key = key
        self.name = canonical_name(key)
        self.parse = parse
        self.single = single

    def parse_field(self, value: str) -> tuple[T, ...]:
        """Parse one field value; a malformed one raises a 400 naming this header."""
        try:
            return self.parse(value)
        except SipParseError as exc:
            raise SipParseError(
                400, f"Bad {self.name} header", header=self.name, detail=value
            ) from exc

    def __repr__(self) -> str:
        return f"TypedHeader({self.name})"


def _bad(value: str) -> SipParseError:
    return SipParseError(400, "Malformed header value", detail=value)


def _elements(whole: re.Pattern[str], element: re.Pattern[str], value: str) -> list[re.Match[str]]:
    """Validate ``value`` against a list rule and return the match of each element."""
    if whole.fullmatch(value) is None:
        raise _bad(value)
    matches = []
    pos = 0
    end = len(value)
    while True:
        m = element.match(value, pos)
        if m is None:  # pragma: no cover - guaranteed by the fullmatch above
            raise _bad(value)
        matches.append(m)
        pos = m.end()
        if pos >= end:
            return matches
        sep = grammar.COMMA_RE.match(value, pos)
        if sep is None:  # pragma: no cover - guaranteed by the fullmatch above
            raise _bad(value)
        pos = sep.end()


def _params(text: str, pattern: re.Pattern[str] = grammar.GENERIC_PARAM) -> Parameters:
    """``*(SEMI generic-param)`` as :class:`Parameters` (text already validated)."""
    if not text:
        return Parameters()
    items: list[tuple[str, str | None]] = []
    pos = 0
    while pos < len(text):
        m = pattern.match(text, pos)
        if m is None:  # pragma: no cover - callers validated the text
            raise _bad(text)
        items.append((m.group("name"), m.group("value")))
        pos = m.end()
    return Parameters(items)


def _delta(text: str, limit: int = 2**32 - 1) -> int:
    """delta-seconds; RFC 3261 §25.1 allows any 1*DIGIT, values above 2**32-1 are refused."""
    number = int(text)
    if number > limit:
        raise SipParseError(400, "Number out of range", detail=text)
    return number


# --- Via (RFC 3261 §20.42, RFC 3581, RFC 5118) ------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Via:
    """One via-parm: how a response gets back (RFC 3261 §18.2.2, §20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: Parameters = field(default_factory=Parameters)
    protocol: str = "SIP"
    version: str = "2.0"
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            port = "" if self.port is None else f":{self.port}"
            host = self.host
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            object.__setattr__(
                self,
                "text",
                f"{self.protocol}/{self.version}/{self.transport.upper()} {host}{port}"
                f"{self.params.to_string()}",
            )

    @property
    def branch(self) -> str | None:
        """The transaction id (RFC 3261 §8.1.1.7); RFC 3261 branches start ``z9hG4bK``."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The source address the next hop saw (RFC 3261 §18.2.1)."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The source port filled in by the server (RFC 3581 §4); None when empty/absent."""
        value = self.params.get("rport")
        return None if value is None else int(value)

    @property
    def wants_rport(self) -> bool:
        """True when the client asked for symmetric response routing (RFC 3581 §3)."""
        return "rport" in self.params

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter (RFC 3261 §18.2.2)."""
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter (multicast, RFC 3261 §18.2.2)."""
        value = self.params.get("ttl")
        return None if value is None else int(value)

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """(host, port) as the sender wrote them."""
        return self.host, self.port

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm, e.g. ``SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK...``."""
        vias = _parse_via(text.strip(" \t"))
        if len(vias) != 1:
            raise _bad(text)
        return vias[0]

    def with_params(self, params: Parameters) -> Via:
        """A copy with new parameters (e.g. ``received``/``rport`` added by a server)."""
        return replace(self, params=params, text="")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Via({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


def _parse_via(value: str) -> tuple[Via, ...]:
    return tuple(_via(m, value) for m in _elements(grammar.VIA_VALUE, grammar.VIA_PARM, value))


def parse_first_via(value: str) -> Via:
    """The first via-parm of a Via field value, without reading the ones after it.

    The transaction layer's hot path needs only the top Via (RFC 3261 §17.2.3); a message
    from :func:`~sipperc.sip.message.parse_message` had its whole Via value checked already.
    Raises :class:`SipParseError` when the first element is malformed.
    """
    m = grammar.VIA_PARM.match(value)
    if m is None:
        raise SipParseError(400, "Bad Via header", header="Via", detail=value)
    end = m.end()
    if end != len(value) and grammar.COMMA_RE.match(value, end) is None:
        raise SipParseError(400, "Bad Via header", header="Via", detail=value)
    try:
        return _via(m, value)
    except SipParseError as exc:
        raise SipParseError(400, "Bad Via header", header="Via", detail=value) from exc


def _via(m: re.Match[str], value: str) -> Via:
    params = _params(m.group("params"), grammar.VIA_PARAM)
    for name, val in params:
        lname = name.lower()
        if lname == "ttl" and (val is None or not val.isdigit() or int(val) > 255):
            raise _bad(value)
        if lname == "rport" and val is not None and (not val.isdigit() or int(val) > 65535):
            raise _bad(value)
        if lname == "branch" and (val is None or grammar.TOKEN.fullmatch(val) is None):
            raise _bad(value)
        if lname == "maddr" and (val is None or grammar.HOST.fullmatch(val) is None):
            raise _bad(value)
    port = m.group("port")
    if port is not None and int(port) > 65535:
        raise _bad(value)
    return Via(
        transport=m.group("transport").upper(),
        host=m.group("host"),
        port=None if port is None else int(port),
        params=params,
        protocol=m.group("protocol"),
        version=m.group("version"),
        text=m.group(),
    )


# --- addresses: From, To, Contact, Route, Record-Route, Refer-To (RFC 3261 §20.10) ---------------


@dataclass(frozen=True, slots=True, eq=False)
class Address:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route...).

    ``display_name`` is unquoted; ``params`` are the header's parameters (``tag``, ``q``,
    ``expires``...), not the URI's.
    """

    uri: Uri
    display_name: str | None = None
    params: Parameters = field(default_factory=Parameters)
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            name = "" if self.display_name is None else quote_string(self.display_name) + " "
            object.__setattr__(self, "text", f"{name}<{self.uri}>{self.params.to_string()}")

    @property
    def tag(self) -> str | None:
        """The dialog tag (RFC 3261 §19.3)."""
        return self.params.get("tag")

    @property
    def q(self) -> float | None:
        """Contact preference (RFC 3261 §20.10)."""
        value = self.params.get("q")
        return None if value is None else float(value)

    @property
    def expires(self) -> int | None:
        """Contact ``expires`` parameter (RFC 3261 §20.10)."""
        value = self.params.get("expires")
        return None if value is None else int(value)

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse a name-addr or addr-spec with parameters, e.g. ``"Bob" <sip:bob@b.example>``."""
        return _parse_address(text.strip(" \t"))[0]

    def with_tag(self, tag: str) -> Address:
        """A copy with ``tag`` set (e.g. the To tag a UAS adds, RFC 3261 §8.2.6.2)."""
        return replace(self, params=self.params.with_param("tag", tag), text="")

    def with_params(self, params: Parameters) -> Address:
        """A copy with new header parameters."""
        return replace(self, params=params, text="")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Address({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self.uri == other.uri and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.uri)


def _address(m: re.Match[str]) -> Address:
    display, uri_text, bare, params_text = m.group("display", "uri", "bare", "params")
    if uri_text is None:
        uri_text = bare
    uri = parse_uri(uri_text)
    params = _params(params_text)
    for name, val in params:
        lname = name.lower()
        if lname == "q" and (val is None or grammar.QVALUE.fullmatch(val) is None):
            raise _bad(m.group())
        if lname == "expires" and (val is None or not val.isdigit()):
            raise _bad(m.group())
        if lname == "tag" and (val is None or grammar.TOKEN.fullmatch(val) is None):
            raise _bad(m.group())
    display_name: str | None = None
    if display is not None:
        display_name = unquote_string(display) if display.startswith('"') else display
    text = m.group().rstrip(" \t")
    return Address(uri=uri, display_name=display_name, params=params, text=text)


def address_tag(value: str) -> str | None:
    """The ``tag`` parameter of a From or To value (RFC 3261 §19.3), cheaply.

    Reads it without the full address grammar, for values that
    :func:`~sipperc.sip.message.parse_message` already checked against it: the header
    parameters are whatever follows the ``>`` of a name-addr, or the first ``;`` of a bare
    addr-spec (§20.10: a URI with ``;`` must be in angle brackets). Values with quoted
    strings take the full parse.
    """
    if '"' in value:
        return _parse_address(value)[0].tag
    if "<" in value:
        params = value[value.rfind(">") + 1 :]
    else:
        cut = value.find(";")
        if cut < 0:
            return None
        params = value[cut:]
    for part in params.split(";")[1:]:
        name, equal, tag = part.partition("=")
        if name.strip(" \t").lower() == "tag":
            return tag.strip(" \t") if equal else None
    return None


def _parse_address(value: str) -> tuple[Address, ...]:
    m = grammar.ADDRESS.fullmatch(value)
    if m is None:
        raise _bad(value)
    return (_address(m),)


def _parse_contact(value: str) -> tuple[Address, ...]:
    if value == "*":
        return ()
    if grammar.CONTACT_VALUE.fullmatch(value) is None:
        raise _bad(value)
    return tuple(_address(m) for m in _elements(grammar.CONTACT_VALUE, grammar.ADDRESS, value))


def _parse_route(value: str) -> tuple[Address, ...]:
    if grammar.ROUTE_VALUE.fullmatch(value) is None:
        raise _bad(value)
    return tuple(_address(m) for m in _elements(grammar.ROUTE_VALUE, grammar.ADDRESS, value))


# --- CSeq, Call-ID, numbers, token lists -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CSeq:
    """Sequence number and method (RFC 3261 §20.16); the number is below 2**31 (§8.1.1.5)."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def _parse_cseq(value: str) -> tuple[CSeq, ...]:
    m = grammar.CSEQ_VALUE.fullmatch(value)
    if m is None:
        raise _bad(value)
    seq = int(m.group("seq"))
    if seq >= 2**31:
        raise SipParseError(400, "CSeq number out of range", detail=value)
    return (CSeq(seq, m.group("method")),)


def _parse_call_id(value: str) -> tuple[str, ...]:
    if grammar.CALLID.fullmatch(value) is None:
        raise _bad(value)
    return (value,)


def _number(limit: int) -> Callable[[str], tuple[int, ...]]:
    def parse(value: str) -> tuple[int, ...]:
        if grammar.DIGITS.fullmatch(value) is None:
            raise _bad(value)
        number = int(value)
        if number > limit:
            raise SipParseError(400, "Number out of range", detail=value)
        return (number,)

    return parse


def _parse_token_list(value: str) -> tuple[str, ...]:
    if grammar.TOKEN_LIST.fullmatch(value) is None:
        raise _bad(value)
    return tuple(grammar.COMMA_RE.split(value)) if value else ()


def _parse_accept(value: str) -> tuple[str, ...]:
    if grammar.ACCEPT_VALUE.fullmatch(value) is None:
        raise _bad(value)
    return tuple(grammar.COMMA_RE.split(value)) if value else ()


# --- Content-Type (RFC 3261 §20.15) ----------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class MediaType:
    """A MIME media type with parameters. Type and subtype compare case-insensitively."""

    type: str
    subtype: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def mime(self) -> str:
        """``type/subtype`` in lower case, e.g. ``application/sdp``."""
        return f"{self.type}/{self.subtype}".lower()

    @property
    def boundary(self) -> str | None:
        """The multipart boundary (RFC 2046 §5.1.1), unquoted."""
        return self.params.unquoted("boundary")

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{self.params.to_string()}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MediaType):
            return NotImplemented
        return self.mime == other.mime and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.mime)

    @classmethod
    def parse(cls, value: str) -> MediaType:
        """Parse ``type/subtype;param=value`` (RFC 3261 §20.15)."""
        m = grammar.MEDIA_TYPE.fullmatch(value)
        if m is None:
            raise _bad(value)
        params = _params(m.group("params"), grammar.M_PARAMETER)
        return cls(m.group("type"), m.group("subtype"), params)


def _parse_media_type(value: str) -> tuple[MediaType, ...]:
    return (MediaType.parse(value),)


# --- authentication (RFC 3261 §20.7, §20.27, §20.44, §22; RFC 7616, RFC 8760) ------------------


@dataclass(frozen=True, slots=True)
class AuthValue:
    """A challenge (WWW-/Proxy-Authenticate) or credentials (Authorization...).

    A scheme and its ``name=value`` parameters, values as written.

    The ``repr`` omits the parameters: credentials carry a response digest.

    """

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """A parameter's value, unquoted; names match case-insensitively."""
        lname = name.lower()
        for key, value in self.params:
            if key.lower() == lname:
                return unquote_string(value) if value.startswith('"') else value
        return None

    def __str__(self) -> str:
        return f"{self.scheme} " + ", ".join(f"{k}={v}" for k, v in self.params)

    def __repr__(self) -> str:
        return f"AuthValue({self.scheme!r}, <{len(self.params)} params>)"


def _parse_auth(value: str) -> tuple[AuthValue, ...]:
    m = grammar.CHALLENGE.fullmatch(value)
    if m is None:
        raise _bad(value)
    params = m.group("params")
    items = []
    pos = 0
    while pos < len(params):
        p = grammar.AUTH_PARAM.match(params, pos)
        assert p is not None
        items.append((p.group("name"), p.group("value")))
        pos = p.end()
        sep = grammar.COMMA_RE.match(params, pos)
        if sep is not None:
            pos = sep.end()
    return (AuthValue(m.group("scheme"), tuple(items)),)


# --- RAck (RFC 3262 §7.2), Session-Expires/Min-SE (RFC 4028), Event/Subscription-State
# (RFC 6665), Replaces (RFC 3891), Reason (RFC 3326) ------------------------------------------


@dataclass(frozen=True, slots=True)
class RAck:
    """The reliable provisional response a PRACK acknowledges (RFC 3262 §7.2)."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def _parse_rack(value: str) -> tuple[RAck, ...]:
    m = grammar.RACK_VALUE.fullmatch(value)
    if m is None:
        raise _bad(value)
    rseq, seq = _delta(m.group("rseq")), int(m.group("seq"))
    if seq >= 2**31:
        raise _bad(value)
    return (RAck(rseq, seq, m.group("method")),)


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """Session interval and parameters (RFC 4028 §4 Session-Expires, §5 Min-SE)."""

    delta: int
    params: Parameters = field(default_factory=Parameters)

    @property
    def refresher(self) -> str | None:
        """``uac`` or ``uas``: who refreshes the session (RFC 4028 §4)."""
        value = self.params.get("refresher")
        return None if value is None else value.lower()

    def __str__(self) -> str:
        return f"{self.delta}{self.params.to_string()}"


def _parse_session_expires(value: str) -> tuple[SessionExpires, ...]:
    m = grammar.DELTA_WITH_PARAMS.fullmatch(value)
    if m is None:
        raise _bad(value)
    params = _params(m.group("params"))
    refresher = params.get("refresher")
    if "refresher" in params and (refresher is None or refresher.lower() not in ("uac", "uas")):
        raise _bad(value)
    return (SessionExpires(_delta(m.group("delta")), params),)


@dataclass(frozen=True, slots=True)
class EventValue:
    """Event package (RFC 6665 §8.2.1) or subscription state (§8.2.3) with parameters."""

    value: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def id(self) -> str | None:
        """The Event ``id`` parameter (RFC 6665 §8.2.1)."""
        return self.params.get("id")

    @property
    def reason(self) -> str | None:
        """The Subscription-State ``reason`` (RFC 6665 §8.2.3)."""
        return self.params.get("reason")

    @property
    def expires(self) -> int | None:
        """The Subscription-State ``expires`` in seconds."""
        value = self.params.get("expires")
        return None if value is None else int(value)

    @property
    def retry_after(self) -> int | None:
        """The Subscription-State ``retry-after`` in seconds."""
        value = self.params.get("retry-after")
        return None if value is None else int(value)

    def __str__(self) -> str:
        return f"{self.value}{self.params.to_string()}"


def _parse_event(value: str) -> tuple[EventValue, ...]:
    m = grammar.EVENT_VALUE.fullmatch(value)
    if m is None:
        raise _bad(value)
    params = _params(m.group("params"))
    for name in ("expires", "retry-after"):
        if name in params and not (params.get(name) or "").isdigit():
            raise _bad(value)
    return (EventValue(m.group("value"), params),)


@dataclass(frozen=True, slots=True)
class Replaces:
    """The dialog a new INVITE replaces (RFC 3891 §6.1)."""

    call_id: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def to_tag(self) -> str | None:
        """``to-tag``."""
        return self.params.get("to-tag")

    @property
    def from_tag(self) -> str | None:
        """``from-tag``."""
        return self.params.get("from-tag")

    @property
    def early_only(self) -> bool:
        """``early-only`` flag (RFC 3891 §3)."""
        return "early-only" in self.params

    def __str__(self) -> str:
        return f"{self.call_id}{self.params.to_string()}"


def _parse_replaces(value: str) -> tuple[Replaces, ...]:
    m = grammar.REPLACES_VALUE.fullmatch(value)
    if m is None:
        raise _bad(value)
    return (Replaces(m.group("callid"), _params(m.group("params"))),)


@dataclass(frozen=True, slots=True)
class ReasonValue:
    """Why a request was issued (RFC 3326 §2): protocol, ``cause``, ``text``."""

    protocol: str
    params: Parameters = field(default_factory=Parameters)

    @property
    def cause(self) -> int | None:
        """The protocol's cause code (a SIP status code, or a Q.850 cause)."""
        value = self.params.get("cause")
        return None if value is None else int(value)

    @property
    def text(self) -> str | None:
        """The reason text, unquoted."""
        return self.params.unquoted("text")

    def __str__(self) -> str:
        return f"{self.protocol}{self.params.to_string()}"


def _parse_reason(value: str) -> tuple[ReasonValue, ...]:
    out = []
    for m in _elements(grammar.REASON_VALUE, grammar.REASON_ELEMENT, value):
        params = _params(m.group("params"))
        if "cause" in params and not (params.get("cause") or "").isdigit():
            raise _bad(value)
        out.append(ReasonValue(m.group("protocol"), params))
    return tuple(out)


def _parse_date(value: str) -> tuple[float, ...]:
    """rfc1123-date, always GMT (RFC 3261 §20.17); returned as a POSIX timestamp."""
    if grammar.RFC1123_DATE.fullmatch(value) is None:
        raise _bad(value)
    try:
        parsed = time.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
    except ValueError as exc:
        raise _bad(value) from exc
    return (float(calendar.timegm(parsed)),)


def _parse_timestamp(value: str) -> tuple[str, ...]:
    if grammar.TIMESTAMP_VALUE.fullmatch(value) is None:
        raise _bad(value)
    return (value,)


def _parse_any(value: str) -> tuple[str, ...]:
    return (value,)


# --- the table of typed headers ------------------------------------------------------------

VIA = TypedHeader("via", _parse_via, single=False)
FROM = TypedHeader("from", _parse_address, single=True)
TO = TypedHeader("to", _parse_address, single=True)
CALL_ID = TypedHeader("call-id", _parse_call_id, single=True)
CSEQ = TypedHeader("cseq", _parse_cseq, single=True)
MAX_FORWARDS = TypedHeader("max-forwards", _number(255), single=True)
CONTENT_LENGTH = TypedHeader("content-length", _number(2**32 - 1), single=True)
CONTENT_TYPE = TypedHeader("content-type", _parse_media_type, single=True)
CONTACT = TypedHeader("contact", _parse_contact, single=False)
ROUTE = TypedHeader("route", _parse_route, single=False)
RECORD_ROUTE = TypedHeader("record-route", _parse_route, single=False)
REFER_TO = TypedHeader("refer-to", _parse_address, single=True)
REFERRED_BY = TypedHeader("referred-by", _parse_address, single=True)
REPLY_TO = TypedHeader("reply-to", _parse_address, single=True)
ALLOW = TypedHeader("allow", _parse_token_list, single=False)
SUPPORTED = TypedHeader("supported", _parse_token_list, single=False)
REQUIRE = TypedHeader("require", _parse_token_list, single=False)
PROXY_REQUIRE = TypedHeader("proxy-require", _parse_token_list, single=False)
UNSUPPORTED = TypedHeader("unsupported", _parse_token_list, single=False)
ALLOW_EVENTS = TypedHeader("allow-events", _parse_token_list, single=False)
ACCEPT = TypedHeader("accept", _parse_accept, single=False)
WWW_AUTHENTICATE = TypedHeader("www-authenticate", _parse_auth, single=False)
PROXY_AUTHENTICATE = TypedHeader("proxy-authenticate", _parse_auth, single=False)
AUTHORIZATION = TypedHeader("authorization", _parse_auth, single=False)
PROXY_AUTHORIZATION = TypedHeader("proxy-authorization", _parse_auth, single=False)
RSEQ = TypedHeader("rseq", _number(2**32 - 1), single=True)
RACK = TypedHeader("rack", _parse_rack, single=True)
SESSION_EXPIRES = TypedHeader("session-expires", _parse_session_expires, single=True)
MIN_SE = TypedHeader("min-se", _parse_session_expires, single=True)
EVENT = TypedHeader("event", _parse_event, single=True)
SUBSCRIPTION_STATE = TypedHeader("subscription-state", _parse_event, single=True)
REPLACES = TypedHeader("replaces", _parse_replaces, single=True)
REASON = TypedHeader("reason", _parse_reason, single=False)
EXPIRES = TypedHeader("expires", _number(2**32 - 1), single=True)
MIN_EXPIRES = TypedHeader("min-expires", _number(2**32 - 1), single=True)
DATE = TypedHeader("date", _parse_date, single=True)
TIMESTAMP = TypedHeader("timestamp", _parse_timestamp, single=True)
SUBJECT = TypedHeader("subject", _parse_any, single=True)

TYPED_HEADERS: dict[str, TypedHeader[object]] = {
    h.key: h  # type: ignore[misc]
    for h in (
        VIA,
        FROM,
        TO,
        CALL_ID,
        CSEQ,
        MAX_FORWARDS,
        CONTENT_LENGTH,
        CONTENT_TYPE,
        CONTACT,
        ROUTE,
        RECORD_ROUTE,
        REFER_TO,
        REFERRED_BY,
        REPLY_TO,
        ALLOW,
        SUPPORTED,
        REQUIRE,
        PROXY_REQUIRE,
        UNSUPPORTED,
        ALLOW_EVENTS,
        ACCEPT,
        WWW_AUTHENTICATE,
        PROXY_AUTHENTICATE,
        AUTHORIZATION,
        PROXY_AUTHORIZATION,
        RSEQ,
        RACK,
        SESSION_EXPIRES,
        MIN_SE,
        EVENT,
        SUBSCRIPTION_STATE,
        REPLACES,
        REASON,
        EXPIRES,
        MIN_EXPIRES,
        DATE,
        TIMESTAMP,
        SUBJECT,
    )
}
"""Every header with a typed reader, by key; :meth:`Message.validate` checks them all."""
