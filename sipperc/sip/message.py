"""SIP requests and responses (RFC 3261 §7): parsing, serializing, building.

:func:`parse_message` turns one message's bytes into a :class:`Request` or :class:`Response`;
``bytes(message)`` turns it back. Header fields keep their original text, so an unmodified
field is forwarded byte for byte; typed values (``message.via``, ``message.cseq``,
``message.typed(RACK)``...) are parsed from it when first asked for. The fields every
transaction and dialog needs (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact,
Content-Type, Content-Length) are checked while parsing, so a message that parses can be
matched and answered.

Messages are immutable: ``with_*``/``prepend``/``replace``/``remove`` return new messages.
New messages are made with :meth:`Request.build` and :meth:`Request.response` (RFC 3261
§8.1.1, §8.2.6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

from sipperc.sip import grammar
from sipperc.sip import headers as h
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import (
    Address,
    CSeq,
    HeaderField,
    MediaType,
    TypedHeader,
    Via,
    header_key,
    parse_fields,
)
from sipperc.sip.identifiers import new_tag
from sipperc.sip.multipart import find_part
from sipperc.sip.status import reason_phrase
from sipperc.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_HEADER_SIZE",
    "DEFAULT_URI_SCHEMES",
    "SIP_VERSION",
    "Message",
    "Request",
    "Response",
    "parse_message",
]

T = TypeVar("T")
M = TypeVar("M", bound="Message")

SIP_VERSION = "SIP/2.0"

DEFAULT_MAX_HEADER_SIZE = 16 * 1024
"""Largest start line plus header section accepted (larger: 513 Message Too Large)."""

DEFAULT_MAX_BODY_SIZE = 64 * 1024
"""Largest body accepted (larger: 413 Request Entity Too Large, RFC 3261 §21.4.11)."""

DEFAULT_URI_SCHEMES = frozenset({"sip", "sips", "tel"})
"""Request-URI schemes accepted unless told otherwise (others: 416, RFC 3261 §8.2.2.1)."""

# Fields checked while parsing - the ones transactions, dialogs and framing rely on - and
# the grammar rule each whole value must match. All but Via and Contact may occur once.
_CHECKS: dict[str, re.Pattern[str]] = {
    "via": grammar.VIA_VALUE,
    "from": grammar.ADDRESS_VALUE,
    "to": grammar.ADDRESS_VALUE,
    "call-id": grammar.CALLID,
    "cseq": grammar.CSEQ_VALUE,
    "max-forwards": grammar.DIGITS,
    "content-length": grammar.DIGITS,
    "content-type": grammar.MEDIA_TYPE,
    "contact": grammar.CONTACT_VALUE,
}
_RECOVERABLE = frozenset({"via", "from", "to", "call-id", "cseq", "timestamp"})


class Message:
    """What requests and responses share: header fields, body, protocol version."""

    __slots__ = ("_cache", "_fields", "_index", "body", "version")

    def __init__(
        self,
        fields: Iterable[HeaderField],
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self._fields: tuple[HeaderField, ...] = tuple(fields)
        self.body = body
        self.version = version
        self._index: dict[str, list[HeaderField]] | None = None
        self._cache: dict[str, tuple[object, ...]] = {}

    # --- start line and serialization -----------------------------------------------------

    @property
    def start_line(self) -> str:
        """The Request-Line or Status-Line, without CRLF."""
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        parts = [self.start_line, "\r\n"]
        parts.extend([f.raw for f in self._fields])
        parts.append("\r\n")
        return "".join(parts).encode("utf-8", "surrogateescape") + self.body

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Message)
        return (
            self.start_line == other.start_line
            and self._fields == other._fields
            and self.body == other.body
        )

    def __hash__(self) -> int:
        return hash((self.start_line, self._fields, self.body))

    # --- raw field access -----------------------------------------------------------------

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        """Every header field row in order, as received or built."""
        return self._fields

    def _rows(self, key: str) -> list[HeaderField]:
        index = self._index
        if index is None:
            index = {}
            for f in self._fields:
                index.setdefault(f.key, []).append(f)
            self._index = index
        return index.get(key, [])

    def fields_named(self, name: str) -> tuple[HeaderField, ...]:
        """The rows of one header, any spelling or compact form of its name."""
        return tuple(self._rows(header_key(name)))

    def get(self, name: str) -> str | None:
        """The (unfolded) value of the first row of a header, or None."""
        rows = self._rows(header_key(name))
        return rows[0].value if rows else None

    def get_all(self, name: str) -> list[str]:
        """The values of every row of a header.

        Rows, not comma-separated elements: use :meth:`typed` for those.
        """
        return [f.value for f in self._rows(header_key(name))]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._rows(header_key(name)))

    # --- typed access -----------------------------------------------------------------------

    def typed(self, header: TypedHeader[T]) -> tuple[T, ...]:
        """Every element of a header, parsed: ``message.typed(VIA)`` -> ``(Via, ...)``.

        A malformed value raises :class:`SipParseError` (400, naming the header).
        """
        cached = self._cache.get(header.key)
        if cached is None:
            rows = self._rows(header.key)
            if header.single and len(rows) > 1:
                raise SipParseError(400, f"Multiple {header.name} headers", header=header.name)
            if len(rows) == 1:
                cached = header.parse_field(rows[0].value)
            else:
                items: list[object] = []
                for row in rows:
                    items.extend(header.parse_field(row.value))
                cached = tuple(items)
            self._cache[header.key] = cached
        return cached  # type: ignore[return-value]

    def first(self, header: TypedHeader[T]) -> T | None:
        """The first element of a header, parsed, or None when absent."""
        values = self.typed(header)
        return values[0] if values else None

    def validate(self) -> None:
        """Parse every header that has a typed reader, raising the first problem found.

        :func:`parse_message` already checks the fields transactions need; this also
        checks the rest (Date, Expires, RAck, Session-Expires...), e.g. before a UAS acts.
        """
        for f in self._fields:
            header = h.TYPED_HEADERS.get(f.key)
            if header is not None:
                self.typed(header)

    @property
    def via(self) -> tuple[Via, ...]:
        """All Via values, topmost first (RFC 3261 §20.42)."""
        return self.typed(h.VIA)

    @property
    def top_via(self) -> Via:
        """The topmost Via: the one naming this hop (RFC 3261 §17.2.3 matches on it).

        Only the first element is parsed (the transaction layer reads it for every message).
        """
        cached = self._cache.get("via") or self._cache.get("top-via")
        if cached is None:
            rows = self._rows("via")
            if not rows:
                raise SipParseError(400, "Missing Via header", header="Via")
            cached = (h.parse_first_via(rows[0].value),)
            self._cache["top-via"] = cached
        via = cached[0]
        assert isinstance(via, Via)
        return via

    @property
    def from_(self) -> Address:
        """The From header (RFC 3261 §20.20)."""
        return self._required(h.FROM)

    @property
    def to(self) -> Address:
        """The To header (RFC 3261 §20.39)."""
        return self._required(h.TO)

    @property
    def from_tag(self) -> str | None:
        """The From tag (RFC 3261 §19.3), read cheaply (see :func:`headers.address_tag`)."""
        return self._tag(h.FROM)

    @property
    def to_tag(self) -> str | None:
        """The To tag: None outside a dialog (RFC 3261 §8.2.6.2, §12.2.2)."""
        return self._tag(h.TO)

    def _tag(self, header: TypedHeader[Address]) -> str | None:
        cached = self._cache.get(header.key)
        if cached:
            address = cached[0]
            assert isinstance(address, Address)
            return address.tag
        rows = self._rows(header.key)
        if len(rows) != 1:
            return self._required(header).tag  # missing or repeated: the usual error
        return h.address_tag(rows[0].value)

    @property
    def call_id(self) -> str:
        """The Call-ID (RFC 3261 §20.8); compared case-sensitively."""
        return self._required(h.CALL_ID)

    @property
    def cseq(self) -> CSeq:
        """The CSeq (RFC 3261 §20.16)."""
        return self._required(h.CSEQ)

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (RFC 3261 §20.22), None when absent (e.g. RFC 2543 peers)."""
        return self.first(h.MAX_FORWARDS)

    @property
    def contacts(self) -> tuple[Address, ...]:
        """The Contact values; empty for ``Contact: *`` (see :attr:`contact_wildcard`)."""
        return self.typed(h.CONTACT)

    @property
    def contact_wildcard(self) -> bool:
        """True for ``Contact: *`` (a REGISTER removing all bindings, RFC 3261 §10.2.2)."""
        return any(f.value == "*" for f in self._rows("contact"))

    @property
    def route(self) -> tuple[Address, ...]:
        """Route values in order (RFC 3261 §20.34)."""
        return self.typed(h.ROUTE)

    @property
    def record_route(self) -> tuple[Address, ...]:
        """Record-Route values in order (RFC 3261 §20.30)."""
        return self.typed(h.RECORD_ROUTE)

    @property
    def content_type(self) -> MediaType | None:
        """The body's media type (RFC 3261 §20.15)."""
        return self.first(h.CONTENT_TYPE)

    @property
    def content_length(self) -> int | None:
        """The Content-Length header's value, None when absent."""
        return self.first(h.CONTENT_LENGTH)

    def _required(self, header: TypedHeader[T]) -> T:
        cached = self._cache.get(header.key)
        if cached:  # parsed already: From, To, Call-ID, CSeq are read many times per message
            return cached[0]  # type: ignore[return-value]
        value = self.first(header)
        if value is None:
            raise SipParseError(400, f"Missing {header.name} header", header=header.name)
        return value

    # --- body ---------------------------------------------------------------------------------

    def find_body(self, mime: str) -> bytes | None:
        """The body of the given media type, or None; looks inside multipart (RFC 5621 §3)."""
        content_type = self.content_type
        if content_type is None:
            return None
        return find_part(content_type, self.body, mime.lower())

    # --- building modified copies ---------------------------------------------------------

    def _copy(self: M, fields: Iterable[HeaderField], body: bytes | None = None) -> M:
        clone = object.__new__(type(self))
        Message.__init__(clone, fields, self.body if body is None else body, self.version)
        self._copy_start_line(clone)
        return clone

    def _copy_start_line(self, clone: Message) -> None:
        raise NotImplementedError

    def with_fields(self: M, fields: Iterable[HeaderField]) -> M:
        """A copy with these header fields (same start line and body)."""
        return self._copy(fields)

    def prepend(self: M, name: str, value: object) -> M:
        """A copy with a new row in front of all others.

        E.g. a proxy's Via (RFC 3261 §16.6 step 8) or Record-Route (step 4).
        """
        return self._copy((HeaderField.make(name, value), *self._fields))

    def append(self: M, name: str, value: object) -> M:
        """A copy with a new row after all others."""
        return self._copy((*self._fields, HeaderField.make(name, value)))

    def replace(self: M, name: str, *values: object) -> M:
        """A copy where the rows of ``name`` are replaced by one row per value.

        The new rows go where the first old row was (at the end when there was none); no
        values removes the header.
        """
        key = header_key(name)
        fields: list[HeaderField] = []
        placed = False
        new = [HeaderField.make(name, v) for v in values]
        for f in self._fields:
            if f.key == key:
                if not placed:
                    fields.extend(new)
                    placed = True
            else:
                fields.append(f)
        if not placed:
            fields.extend(new)
        return self._copy(fields)

    def remove(self: M, name: str) -> M:
        """A copy without any row of ``name``."""
        return self.replace(name)

    def remove_first_value(self: M, name: str) -> M:
        """A copy without the first element of a list header.

        E.g. a hop popping the top Route (RFC 3261 §16.4) or a response losing its top Via
        (§18.1.2).
        """
        key = header_key(name)
        header = h.TYPED_HEADERS.get(key)
        for i, f in enumerate(self._fields):
            if f.key != key:
                continue
            rest: tuple[object, ...] = ()
            if header is not None:
                rest = header.parse_field(f.value)[1:]
            fields = list(self._fields)
            if rest:
                fields[i] = HeaderField.make(f.name, ", ".join(str(v) for v in rest))
            else:
                del fields[i]
            return self._copy(fields)
        return self

    def with_body(self: M, body: bytes, content_type: str | MediaType | None = None) -> M:
        """A copy with a new body and Content-Length set to match.

        Content-Type is set to ``content_type``, or removed for an empty body without one.
        """
        msg = self._copy(self._fields, body)
        if content_type is not None:
            msg = msg.replace("Content-Type", content_type)
        elif not body:
            msg = msg.remove("Content-Type")
        return msg.replace("Content-Length", len(body))

    def with_content_length(self: M) -> M:
        """A copy whose Content-Length matches the body.

        Mandatory on stream transports (RFC 3261 §18.3) even when the message arrived over UDP
        without one.
        """
        if self.get("Content-Length") == str(len(self.body)):
            return self
        return self.replace("Content-Length", len(self.body))


class Request(Message):
    """A SIP request (RFC 3261 §7.1)."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: Uri,
        fields: Iterable[HeaderField],
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(fields, body, version)
        self.method = method
        self.uri = uri

    @property
    def start_line(self) -> str:
        """``METHOD Request-URI SIP/2.0``."""
        return f"{self.method} {self.uri} {self.version}"

    def _copy_start_line(self, clone: Message) -> None:
        assert isinstance(clone, Request)
        clone.method = self.method
        clone.uri = self.uri

    def with_uri(self, uri: Uri | str) -> Request:
        """A copy with a new Request-URI (a proxy retargeting, RFC 3261 §16.6 step 2)."""
        clone = self._copy(self._fields)
        clone.uri = parse_uri(uri) if isinstance(uri, str) else uri
        return clone

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    @classmethod
    def build(
        cls,
        method: str,
        uri: Uri | str,
        *,
        from_: Address | str,
        to: Address | str,
        call_id: str,
        cseq: int,
        via: Via | str | Sequence[Via | str] = (),
        max_forwards: int = 70,
        contact: Address | str | Sequence[Address | str] = (),
        route: Sequence[Address | str] = (),
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: MediaType | str | None = None,
    ) -> Request:
        """A new request with the header fields of RFC 3261 §8.1.1, in the usual order.

        ``via`` may be left empty for the transaction layer to prepend the Via carrying its
        branch (§8.1.1.7). ``headers`` adds further rows (``("Supported", "100rel")``).
        Values given as text are parsed, so mistakes fail here and not at the peer.
        """
        if grammar.TOKEN.fullmatch(method) is None:
            raise ValueError(f"method {method!r} is not a token")
        if not 0 <= cseq < 2**31:
            raise ValueError("CSeq must be below 2**31 (RFC 3261 §8.1.1.5)")
        if grammar.CALLID.fullmatch(call_id) is None:
            raise ValueError(f"Call-ID {call_id!r} is not a callid (RFC 3261 §25.1)")
        request_uri = parse_uri(uri) if isinstance(uri, str) else uri
        fields = [HeaderField.make("Via", _via(v)) for v in _as_list(via)]
        fields.append(HeaderField.make("Max-Forwards", max_forwards))
        fields.extend(HeaderField.make("Route", _address(r)) for r in route)
        fields.append(HeaderField.make("From", _address(from_)))
        fields.append(HeaderField.make("To", _address(to)))
        fields.append(HeaderField.make("Call-ID", call_id))
        fields.append(HeaderField.make("CSeq", CSeq(cseq, method)))
        fields.extend(HeaderField.make("Contact", _address(c)) for c in _as_list(contact))
        fields.extend(HeaderField.make(name, value) for name, value in headers)
        if content_type is not None:
            fields.append(HeaderField.make("Content-Type", _media_type(content_type)))
        fields.append(HeaderField.make("Content-Length", len(body)))
        return cls(method, request_uri, fields, body)

    def response(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        contact: Address | str | Sequence[Address | str] = (),
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: MediaType | str | None = None,
    ) -> Response:
        """A response to this request, built as RFC 3261 §8.2.6 says.

        Via (all values, in order), From, Call-ID and CSeq are copied byte for byte; To too,
        with ``to_tag`` added when the request's To has no tag and the code is not 100
        (§8.2.6.2; a fresh random tag when ``to_tag`` is None — pass the dialog's tag for
        every response of one dialog). A 100 copies Timestamp (§8.2.6.1). Record-Route is
        copied into dialog-establishing responses (101-299, §12.1.1).
        """
        if not 100 <= status_code <= 699:
            raise ValueError(f"status code {status_code} is outside 100-699")
        fields: list[HeaderField] = []
        for f in self._fields:
            key = f.key
            if key == "to":
                to = self.to
                if to.tag is None and status_code != 100:
                    fields.append(HeaderField(f.name, f"{f.value};tag={to_tag or new_tag()}"))
                else:
                    fields.append(f)
            elif (
                key in ("via", "from", "call-id", "cseq")
                or (key == "timestamp" and status_code == 100)
                or (key == "record-route" and 101 <= status_code <= 299)
            ):
                fields.append(f)
        fields.extend(HeaderField.make("Contact", _address(c)) for c in _as_list(contact))
        fields.extend(HeaderField.make(name, value) for name, value in headers)
        if content_type is not None:
            fields.append(HeaderField.make("Content-Type", _media_type(content_type)))
        fields.append(HeaderField.make("Content-Length", len(body)))
        phrase = reason_phrase(status_code) if reason is None else reason
        if grammar.REASON_PHRASE.fullmatch(phrase) is None:
            raise ValueError(f"reason phrase {phrase!r} is not a Reason-Phrase")
        return Response(status_code, phrase, fields, body)

    def cancel(self) -> Request:
        """The CANCEL for this request (RFC 3261 §9.1).

        Same Request-URI, Call-ID, To, From, CSeq number and top Via; Route copied; no body.
        """
        fields = [HeaderField.make("Via", self.top_via)]
        for f in self._fields:
            if f.key in ("route", "from", "to", "call-id"):
                fields.append(f)
        fields.insert(1, HeaderField.make("Max-Forwards", 70))
        fields.append(HeaderField.make("CSeq", CSeq(self.cseq.seq, "CANCEL")))
        fields.append(HeaderField.make("Content-Length", 0))
        return Request("CANCEL", self.uri, fields)

    def ack_for(self, response: Response) -> Request:
        """The ACK for a non-2xx final response to this INVITE (RFC 3261 §17.1.1.3).

        Request-URI, Call-ID, From, top Via and Route of the INVITE, To of the response, CSeq number
        of the INVITE with method ACK.
        """
        fields = [HeaderField.make("Via", self.top_via), HeaderField.make("Max-Forwards", 70)]
        for f in self._fields:
            if f.key in ("route", "from", "call-id"):
                fields.append(f)
        fields.extend(response.fields_named("to"))
        fields.append(HeaderField.make("CSeq", CSeq(self.cseq.seq, "ACK")))
        fields.append(HeaderField.make("Content-Length", 0))
        return Request("ACK", self.uri, fields)


class Response(Message):
    """A SIP response (RFC 3261 §7.2)."""

    __slots__ = ("reason", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: str,
        fields: Iterable[HeaderField],
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(fields, body, version)
        self.status_code = status_code
        self.reason = reason

    @property
    def start_line(self) -> str:
        """``SIP/2.0 code reason``."""
        return f"{self.version} {self.status_code} {self.reason}"

    def _copy_start_line(self, clone: Message) -> None:
        assert isinstance(clone, Response)
        clone.status_code = self.status_code
        clone.reason = self.reason

    @property
    def is_provisional(self) -> bool:
        """1xx (RFC 3261 §7.2)."""
        return self.status_code < 200

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status_code < 300

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"

    @classmethod
    def for_parse_error(cls, error: SipParseError, *, to_tag: str | None = None) -> Response | None:
        """The response to a request that failed to parse (RFC 3261 §8.2, §21.4).

        None when there is nothing to answer: the message was a response or an ACK, its Via
        was malformed (RFC 3261 §18.2.1: no way back), or Via, From, To, Call-ID or CSeq could
        not be recovered. A malformed From or To is copied as received.
        """
        if error.method is None or error.method == "ACK" or error.header == "Via":
            return None  # a response, an ACK, or no Via to send the answer back along
        recovered = error.recovered
        keys = {f.key for f in recovered}
        if not {"via", "from", "to", "call-id", "cseq"} <= keys:
            return None
        fields: list[HeaderField] = []
        for f in recovered:
            if f.key == "to" and ";tag=" not in f.value.replace(" ", "").lower():
                fields.append(HeaderField(f.name, f"{f.value};tag={to_tag or new_tag()}"))
            elif f.key != "timestamp":
                fields.append(f)
        fields.append(HeaderField.make("Content-Length", 0))
        reason = error.reason
        if grammar.REASON_PHRASE.fullmatch(reason) is None:
            reason = reason_phrase(error.status_code)
        return cls(error.status_code, reason, fields)


def _as_list(value: T | str | Sequence[T | str]) -> list[T | str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _address(value: Address | str) -> Address:
    return Address.parse(value) if isinstance(value, str) else value


def _via(value: Via | str) -> Via:
    return Via.parse(value) if isinstance(value, str) else value


def _media_type(value: MediaType | str) -> MediaType:
    return MediaType.parse(value) if isinstance(value, str) else value


# --- parsing ----------------------------------------------------------------------------------


def parse_message(
    data: bytes,
    *,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    uri_schemes: frozenset[str] = DEFAULT_URI_SCHEMES,
) -> Request | Response:
    """Parse one SIP message (RFC 3261 §7) from a datagram or a framed stream message.

    The body is the ``Content-Length`` octets after the blank line; octets beyond it are
    ignored (RFC 3261 §18.3, RFC 4475 §3.1.1.8). Without Content-Length the body is the rest
    of ``data`` (allowed on UDP only; stream framing requires the header).

    Raises :class:`SipParseError` with the status code a UAS should answer with and, when
    they could be read, the Via/From/To/Call-ID/CSeq fields to answer with.
    """
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if len(data) - start > max_header_size:
            raise SipParseError(513, "Message Too Large")
        raise SipParseError(400, "Incomplete message: no empty line after the header fields")
    if end - start > max_header_size:
        raise SipParseError(513, "Message Too Large")
    if end == start:
        raise SipParseError(400, "Empty start line")
    head = data[start:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    first = lines[0]

    # Start line (RFC 3261 §7.1, §7.2).
    method: str | None = None
    try:
        request_line = None
        status_line = None
        if first[:4].upper() == "SIP/":
            status_line = grammar.STATUS_LINE.fullmatch(first)
            if status_line is None:
                raise SipParseError(400, "Malformed Status-Line", detail=first)
        else:
            candidate = first.partition(" ")[0]
            if grammar.TOKEN.fullmatch(candidate) is not None:
                method = candidate  # known even when the rest of the line is bad
            request_line = grammar.REQUEST_LINE.fullmatch(first)
            if request_line is None:
                raise SipParseError(400, "Malformed Request-Line", detail=first)
        fields = parse_fields(lines, 1)
        message = _build(data, end + 4, fields, request_line, status_line, max_body_size)
        if isinstance(message, Request) and message.uri.scheme not in uri_schemes:
            error = SipParseError(416, "Unsupported URI Scheme", detail=str(message.uri))
            error.message = message
            raise error
    except SipParseError as exc:
        exc.method = method
        exc.recovered = _recover(lines)
        raise
    return message


def _recover(lines: list[str]) -> tuple[HeaderField, ...]:
    """The Via, From, To, Call-ID, CSeq and Timestamp rows of a message that failed to parse.

    Found leniently: the error response needs them (RFC 3261 §8.2).
    """
    recovered: list[HeaderField] = []
    for i in range(1, len(lines)):
        line = lines[i]
        if line[:1] in (" ", "\t"):
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.rstrip(" \t")
        key = header_key(name)
        if key not in _RECOVERABLE or grammar.TOKEN.fullmatch(name) is None:
            continue
        raw = line
        j = i + 1
        while j < len(lines) and lines[j][:1] in (" ", "\t"):
            raw = f"{raw}\r\n{lines[j]}"
            value += lines[j]
            j += 1
        recovered.append(HeaderField(name, value.strip(" \t"), raw + "\r\n", key))
    return tuple(recovered)


def _build(  # noqa: PLR0917 - private, called once
    data: bytes,
    body_start: int,
    fields: list[HeaderField],
    request_line: object,
    status_line: object,
    max_body_size: int,
) -> Request | Response:
    message: Request | Response
    if status_line is not None:
        assert hasattr(status_line, "group")
        version, code, reason = status_line.group("version", "code", "reason")
        _check_version(version)
        if grammar.STATUS_CODE.fullmatch(code) is None or not 100 <= int(code) <= 699:
            raise SipParseError(400, "Bad status code", detail=code)
        if grammar.REASON_PHRASE.fullmatch(reason) is None:
            raise SipParseError(400, "Bad Reason-Phrase", detail=reason)
        message = Response(int(code), reason, fields, b"", version)
    else:
        assert hasattr(request_line, "group")
        method, uri_text, version = request_line.group("method", "uri", "version")
        _check_version(version)
        try:
            uri = parse_uri(uri_text)
        except SipParseError as exc:
            raise SipParseError(400, "Malformed Request-URI", detail=uri_text) from exc
        if isinstance(uri, SipUri) and uri.headers:
            # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475
            # §3.1.2.10 says to answer 400).
            raise SipParseError(400, "Headers in Request-URI", detail=uri_text)
        message = Request(method, uri, fields, b"", version)

    # The fields transactions and dialogs need must be present, unique where the RFC says
    # so (§7.3.1) and well-formed; one fullmatch of the whole value each. Typed values are
    # extracted later, when asked for.
    seen: dict[str, str] = {}
    has_via = False
    checks = _CHECKS
    for f in fields:
        key = f.key
        pattern = checks.get(key)
        if pattern is None:
            continue
        if pattern.fullmatch(f.value) is None:
            name = h.canonical_name(key)
            raise SipParseError(400, f"Bad {name} header", header=name, detail=f.value)
        if key == "via":
            has_via = True
        elif key == "contact":
            continue
        elif key in seen:
            name = h.canonical_name(key)
            raise SipParseError(400, f"Multiple {name} headers", header=name)
        else:
            seen[key] = f.value
    if not has_via:
        raise SipParseError(400, "Missing Via header", header="Via")
    for key in ("from", "to", "call-id", "cseq"):
        if key not in seen:
            name = h.canonical_name(key)
            raise SipParseError(400, f"Missing {name} header", header=name)
    seq, _, cseq_method = seen["cseq"].partition(" ")
    if int(seq) >= 2**31:  # RFC 3261 §8.1.1.5
        raise SipParseError(400, "Bad CSeq header", header="CSeq", detail=seen["cseq"])
    cseq_method = cseq_method.lstrip(" \t")
    if isinstance(message, Request) and cseq_method != message.method:
        raise SipParseError(400, "CSeq method does not match the request method", header="CSeq")
    max_forwards = seen.get("max-forwards")
    if max_forwards is not None and int(max_forwards) > 255:  # RFC 3261 §20.22
        raise SipParseError(400, "Bad Max-Forwards header", header="Max-Forwards")

    content_length = seen.get("content-length")
    available = len(data) - body_start
    if content_length is None:
        length = available
    else:
        length = int(content_length)
        if length > available:
            raise SipParseError(400, "Content-Length larger than the body", header="Content-Length")
    if length > max_body_size:
        raise SipParseError(413, "Request Entity Too Large")
    message.body = data[body_start : body_start + length]
    return message


def _check_version(version: str) -> None:
    if version.upper() != SIP_VERSION:  # case-insensitive, RFC 3261 §7.1
        if grammar.SIP_VERSION.fullmatch(version) is None:
            raise SipParseError(400, "Malformed SIP-Version", detail=version)
        # RFC 3261 §8.2.2.3 / §21.5.7.
        raise SipParseError(505, "Version Not Supported", detail=version)
