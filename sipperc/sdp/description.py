"""Session descriptions (RFC 8866): parse, inspect, change and serialise.

:func:`parse_sdp` turns text into a :class:`SessionDescription` and ``str(description)`` turns it
back. Every line is kept, including attributes sipperc does not understand and their order, so
a description that was parsed and not changed serialises to exactly the text received (with
CRLF line ends, RFC 8866 §5). The values are frozen dataclasses: change one with
:func:`dataclasses.replace` or the ``with_*`` helpers.

Strictness follows RFC 8866 §5: lines must come in the order of the grammar, an unknown line
type rejects the whole description, and a malformed value of an attribute sipperc interprets
(``a=rtpmap``, ``a=crypto``, ``a=fingerprint``...) is an error naming its line. Two deviations
are accepted because deployed stacks need them: lines ending in a bare LF (RFC 8866 §5 allows
it), and an empty ``s=`` line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sipperc.sdp import grammar
from sipperc.sdp.attributes import (
    SECRET_ATTRIBUTES,
    Attribute,
    Direction,
    ExtMap,
    Fmtp,
    Group,
    PacketTime,
    Rtcp,
    RtpMap,
    Ssrc,
    validate_attribute,
)
from sipperc.sdp.crypto import Crypto
from sipperc.sdp.dtls import Fingerprint, Setup, TlsId
from sipperc.sdp.perc import PERC_ATTRIBUTE, PercMarker


class SdpParseError(ValueError):
    """A session description that does not follow the SDP grammar.

    ``line_number`` (1-based) and ``line`` say where; ``problem`` says what. Lines that carry
    keys (``a=crypto``, ``k=``) are shown without their value.
    """

    def __init__(self, problem: str, line_number: int | None = None,
                 line: str | None = None) -> None:
        self.problem = problem
        self.line_number = line_number
        self.line = line
        if line_number is None:
            super().__init__(problem)
        else:
            shown = line if line is None or len(line) <= 80 else line[:77] + "..."
            super().__init__(f"line {line_number} ({shown!r}): {problem}")


UNSPECIFIED_ADDRESSES = frozenset({"0.0.0.0", "::"})  # noqa: S104 - compared, never bound
"""Connection addresses meaning "do not send here" (RFC 3264 §8.4)."""

STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, None), (3, "GSM", 8000, None), (4, "G723", 8000, None),
        (5, "DVI4", 8000, None), (6, "DVI4", 16000, None), (7, "LPC", 8000, None),
        (8, "PCMA", 8000, None), (9, "G722", 8000, None), (10, "L16", 44100, 2),
        (11, "L16", 44100, None), (12, "QCELP", 8000, None), (13, "CN", 8000, None),
        (14, "MPA", 90000, None), (15, "G728", 8000, None), (16, "DVI4", 11025, None),
        (17, "DVI4", 22050, None), (18, "G729", 8000, None), (25, "CelB", 90000, None),
        (26, "JPEG", 90000, None), (28, "nv", 90000, None), (31, "H261", 90000, None),
        (32, "MPV", 90000, None), (33, "MP2T", 90000, None), (34, "H263", 90000, None),
    )
}
"""The static RTP payload types of RFC 3551 §6, used when an offer lists one without rtpmap."""


def _remember(value: Any, text: str) -> None:
    # Keep the received text of a line whose numbers could be written with leading zeros, so
    # an unchanged value serialises exactly as received. dataclasses.replace() starts afresh.
    object.__setattr__(value, "_source", text)


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=``: who made the description and its version (RFC 8866 §5.2, RFC 3264 §5)."""

    username: str
    session_id: int
    session_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"
    _source: str | None = field(default=None, init=False, compare=False, repr=False)

    def __str__(self) -> str:
        if self._source is not None:
            return self._source
        return (f"{self.username} {self.session_id} {self.session_version} {self.nettype} "
                f"{self.addrtype} {self.address}")

    def next_version(self) -> Origin:
        """The same origin with the version incremented by one (RFC 3264 §8)."""
        return dataclasses.replace(self, session_version=self.session_version + 1)


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=``: the address media goes to (RFC 8866 §5.7).

    ``ttl`` and ``count`` are the multicast suffixes (``224.2.1.1/127/3``; IPv6 has only the
    count).
    """

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"
    ttl: int | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.addrtype == "IP6" and self.ttl is not None:
            raise ValueError("an IP6 connection address has no TTL (RFC 8866 §5.7)")
        if self.ttl is not None and self.ttl > 255:
            raise ValueError(f"TTL {self.ttl} is above 255")

    @property
    def unspecified(self) -> bool:
        """True for ``0.0.0.0`` (or ``::``): the RFC 2543 hold, still sent (RFC 3264 §8.4)."""
        return self.address in UNSPECIFIED_ADDRESSES

    def __str__(self) -> str:
        address = self.address
        if self.ttl is not None:
            address += f"/{self.ttl}"
        if self.count is not None:
            address += f"/{self.count}"
        return f"{self.nettype} {self.addrtype} {address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=``: a bandwidth limit in kbit/s, or bit/s for TIAS (RFC 8866 §5.8, RFC 3890)."""

    bwtype: str
    bandwidth: int
    _source: str | None = field(default=None, init=False, compare=False, repr=False)

    def __str__(self) -> str:
        return self._source if self._source is not None else f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True)
class TimeDescription:
    """``t=`` with its ``r=`` lines and an optional ``z=`` line (RFC 8866 §5.9-5.11).

    Start and stop are NTP seconds; ``t=0 0`` means a session that is always on, which is what
    every SIP offer uses. Repeats and zone adjustments are kept as validated text.
    """

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()
    zone_adjustments: str | None = None

    def lines(self) -> Iterator[str]:
        """The ``t=``, ``r=`` and ``z=`` lines of this description."""
        yield f"t={self.start} {self.stop}"
        for repeat in self.repeats:
            yield f"r={repeat}"
        if self.zone_adjustments is not None:
            yield f"z={self.zone_adjustments}"


class _AttributeAccess:
    """Typed views of the ``a=`` lines of one level (session or media)."""

    __slots__ = ()
    attributes: tuple[Attribute, ...]

    def values(self, name: str) -> list[str | None]:
        """The values of every attribute called ``name``, in order."""
        return [a.value for a in self.attributes if a.name == name]

    def value(self, name: str) -> str | None:
        """The value of the first attribute called ``name`` (None if absent or valueless)."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute.value
        return None

    def has(self, name: str) -> bool:
        """True if an attribute called ``name`` is present."""
        return any(a.name == name for a in self.attributes)

    def _parsed(self, name: str, parse: Any) -> list[Any]:
        return [parse(a.value) for a in self.attributes if a.name == name and a.value]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute at this level, if any (RFC 8866 §6.7)."""
        for attribute in self.attributes:
            if attribute.name in _DIRECTIONS:
                return Direction(attribute.name)
        return None

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """``a=fingerprint`` values at this level; several are allowed (RFC 8122 §5)."""
        return tuple(self._parsed(Fingerprint.name, Fingerprint.parse))

    @property
    def setup(self) -> Setup | None:
        """``a=setup`` at this level (RFC 4145 §4)."""
        value = self.value("setup")
        return Setup.parse(value) if value else None

    @property
    def extmaps(self) -> tuple[ExtMap, ...]:
        """``a=extmap`` values at this level (RFC 8285 §8)."""
        return tuple(self._parsed(ExtMap.name, ExtMap.parse))

    @property
    def extmap_allow_mixed(self) -> bool:
        """``a=extmap-allow-mixed``: one- and two-byte extensions may mix (RFC 8285 §6)."""
        return self.has("extmap-allow-mixed")

    @property
    def groups(self) -> tuple[Group, ...]:
        """``a=group`` values (RFC 5888 §5)."""
        return tuple(self._parsed(Group.name, Group.parse))


_DIRECTIONS = frozenset(d.value for d in Direction)


@dataclass(frozen=True, slots=True)
class MediaDescription(_AttributeAccess):
    """One media section: the ``m=`` line and the lines after it (RFC 8866 §5.14)."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    title: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    _source: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0-65535")
        if not self.formats:
            raise ValueError("a media description needs at least one format (RFC 8866 §5.14)")

    @property
    def rejected(self) -> bool:
        """Port zero: the stream is rejected or removed (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def connection(self) -> Connection | None:
        """The first media-level ``c=`` line, if any."""
        return self.connections[0] if self.connections else None

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """``a=rtpmap`` values by payload type (RFC 8866 §6.6)."""
        return {m.payload_type: m for m in self._parsed(RtpMap.name, RtpMap.parse)}

    @property
    def fmtps(self) -> dict[str, Fmtp]:
        """``a=fmtp`` values by format (RFC 8866 §6.15)."""
        return {f.format: f for f in self._parsed(Fmtp.name, Fmtp.parse)}

    def rtpmap(self, fmt: str) -> RtpMap | None:
        """What an RTP format is: its ``a=rtpmap``, else the static mapping of RFC 3551 §6."""
        if not fmt.isdigit() or len(fmt) > 3:
            return None
        payload_type = int(fmt)
        mapped = self.rtpmaps.get(payload_type)
        return mapped if mapped is not None else STATIC_PAYLOAD_TYPES.get(payload_type)

    @property
    def ptime(self) -> int | float | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4)."""
        value = self.value("ptime")
        return PacketTime.parse(value).milliseconds if value else None

    @property
    def maxptime(self) -> int | float | None:
        """``a=maxptime`` in milliseconds (RFC 8866 §6.5)."""
        value = self.value("maxptime")
        return PacketTime.parse(value).milliseconds if value else None

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux``: RTP and RTCP share one port (RFC 5761 §5.1.1)."""
        return self.has("rtcp-mux")

    @property
    def rtcp(self) -> Rtcp | None:
        """``a=rtcp``: an explicit RTCP port and address (RFC 3605)."""
        value = self.value(Rtcp.name)
        return Rtcp.parse(value) if value else None

    @property
    def crypto(self) -> tuple[Crypto, ...]:
        """``a=crypto`` values, in the offerer's order of preference (RFC 4568 §5.1.1)."""
        return tuple(self._parsed(Crypto.name, Crypto.parse))

    @property
    def tls_id(self) -> TlsId | None:
        """``a=tls-id`` (RFC 8842 §4; media level only)."""
        value = self.value(TlsId.name)
        return TlsId.parse(value) if value else None

    @property
    def ssrcs(self) -> tuple[Ssrc, ...]:
        """``a=ssrc`` values (RFC 5576 §4.1)."""
        return tuple(self._parsed(Ssrc.name, Ssrc.parse))

    @property
    def cnames(self) -> dict[int, str]:
        """The RTCP CNAME of each SSRC announced with ``a=ssrc:<ssrc> cname:<cname>``."""
        return {s.ssrc: s.value for s in self.ssrcs if s.attribute == "cname" and s.value}

    @property
    def mid(self) -> str | None:
        """``a=mid``: this section's identification tag (RFC 5888 §4)."""
        return self.value("mid")

    @property
    def perc(self) -> PercMarker | None:
        """The ``a=sipperc-perc`` marker (see :mod:`sipperc.sdp.perc`)."""
        value = self.value(PERC_ATTRIBUTE)
        return PercMarker.parse(value) if value else None

    def media_line(self) -> str:
        """The ``m=`` line without its ``m=`` prefix."""
        if self._source is not None:
            return self._source
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return f"{self.kind} {port} {self.proto} {' '.join(self.formats)}"

    def lines(self) -> Iterator[str]:
        """Every line of this media section, in order, without line ends."""
        yield "m=" + self.media_line()
        if self.title is not None:
            yield f"i={self.title}"
        for connection in self.connections:
            yield f"c={connection}"
        for bandwidth in self.bandwidths:
            yield f"b={bandwidth}"
        if self.key is not None:
            yield f"k={self.key}"
        for attribute in self.attributes:
            yield f"a={attribute}"

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())


@dataclass(frozen=True, slots=True)
class SessionDescription(_AttributeAccess):
    """A whole session description (RFC 8866 §5): session lines, then media sections."""

    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    times: tuple[TimeDescription, ...] = (TimeDescription(),)
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        if not self.times:
            raise ValueError("a description needs at least one t= line (RFC 8866 §5.9)")

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """Where a media section's media goes: its own ``c=``, else the session's."""
        return media.connection or self.connection

    def direction_of(self, media: MediaDescription) -> Direction:
        """A section's direction: its own, else the session's, else sendrecv (RFC 8866 §6.7)."""
        return media.direction or self.direction or Direction.SENDRECV

    def fingerprints_of(self, media: MediaDescription) -> tuple[Fingerprint, ...]:
        """A section's fingerprints: media level replaces session level (RFC 8122 §5)."""
        return media.fingerprints or self.fingerprints

    def setup_of(self, media: MediaDescription) -> Setup | None:
        """A section's setup role: media level, else session level (RFC 4145 §4)."""
        return media.setup or self.setup

    def lines(self) -> Iterator[str]:
        """Every line of the description, in order, without line ends."""
        yield f"v={self.version}"
        yield f"o={self.origin}"
        yield f"s={self.session_name}"
        if self.information is not None:
            yield f"i={self.information}"
        if self.uri is not None:
            yield f"u={self.uri}"
        for email in self.emails:
            yield f"e={email}"
        for phone in self.phones:
            yield f"p={phone}"
        if self.connection is not None:
            yield f"c={self.connection}"
        for bandwidth in self.bandwidths:
            yield f"b={bandwidth}"
        for time in self.times:
            yield from time.lines()
        if self.key is not None:
            yield f"k={self.key}"
        for attribute in self.attributes:
            yield f"a={attribute}"
        for media in self.media:
            yield from media.lines()

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def redacted(self) -> str:
        """The description as text with SDES keys and ``k=`` values hidden, for logs."""
        return "".join(_shown(line) + "\r\n" for line in self.lines())

    def __repr__(self) -> str:
        return (f"SessionDescription(origin={self.origin!r}, media="
                f"{[m.media_line() for m in self.media]!r})")

    def with_media(self, index: int, media: MediaDescription) -> SessionDescription:
        """A copy with media section ``index`` replaced."""
        sections = list(self.media)
        sections[index] = media
        return dataclasses.replace(self, media=tuple(sections))


# --- Parsing -----------------------------------------------------------------------------------

_SESSION_ORDER = "vosiuepcbtka"
_SESSION_REPEATABLE = frozenset("epbta")
_MEDIA_ORDER = "micbka"
_MEDIA_REPEATABLE = frozenset("cba")
_KNOWN_TYPES = frozenset(_SESSION_ORDER + _MEDIA_ORDER + "rz")
_SECRET_LINE_PREFIXES = ("k=", *(f"a={name}:" for name in SECRET_ATTRIBUTES))


def _shown(line: str) -> str:
    for prefix in _SECRET_LINE_PREFIXES:
        if line.startswith(prefix):
            return prefix + "<redacted>"
    return line


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    result = []
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if "\r" in line:
            raise SdpParseError("carriage return inside a line", number, _shown(line))
        if "\x00" in line:
            raise SdpParseError("NUL character", number, _shown(line))
        result.append(line)
    return result


def _port(text: str) -> int:
    port = int(text)
    if port > 65535:
        raise ValueError(f"port {port} is above 65535")
    return port


def _parse_connection(value: str) -> Connection:
    match = grammar.CONNECTION_FIELD.fullmatch(value)
    if match is None:
        raise ValueError("expected '<nettype> <addrtype> <address>' (RFC 8866 §5.7)")
    nettype, addrtype, address = match["nettype"], match["addrtype"], match["address"]
    if addrtype not in ("IP4", "IP6"):
        return Connection(address, nettype, addrtype)
    parts = grammar.CONNECTION_ADDRESS.fullmatch(address)
    if parts is None:
        raise ValueError("malformed connection address")
    first, second = parts["first"], parts["second"]
    if addrtype == "IP6":
        if second is not None:
            raise ValueError("an IP6 connection address has only a count suffix")
        return Connection(parts["host"], nettype, addrtype, None,
                          int(first) if first is not None else None)
    return Connection(parts["host"], nettype, addrtype,
                      int(first) if first is not None else None,
                      int(second) if second is not None else None)


def _parse_origin(value: str) -> Origin:
    match = grammar.ORIGIN_FIELD.fullmatch(value)
    if match is None:
        raise ValueError("expected '<username> <sess-id> <sess-version> <nettype> <addrtype> "
                         "<address>' (RFC 8866 §5.2)")
    origin = Origin(match["username"], int(match["sess_id"]), int(match["sess_version"]),
                    match["address"], match["nettype"], match["addrtype"])
    _remember(origin, value)
    return origin


def _parse_bandwidth(value: str) -> Bandwidth:
    match = grammar.BANDWIDTH_FIELD.fullmatch(value)
    if match is None:
        raise ValueError("expected '<bwtype>:<bandwidth>' (RFC 8866 §5.8)")
    bandwidth = Bandwidth(match["bwtype"], int(match["bandwidth"]))
    _remember(bandwidth, value)
    return bandwidth


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    attribute = Attribute(name, rest if colon else None)
    validate_attribute(attribute)
    return attribute


def _text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty (RFC 8866 §9 text)")
    return value


class _MediaBuilder:
    __slots__ = ("attributes", "bandwidths", "connections", "key", "line", "title")

    def __init__(self, line: str) -> None:
        self.line = line
        self.title: str | None = None
        self.connections: list[Connection] = []
        self.bandwidths: list[Bandwidth] = []
        self.key: str | None = None
        self.attributes: list[Attribute] = []

    def build(self) -> MediaDescription:
        match = grammar.MEDIA_FIELD.fullmatch(self.line)
        assert match is not None  # checked when the line was read
        count = match["count"]
        media = MediaDescription(
            match["media"], _port(match["port"]), match["proto"],
            tuple(match["formats"].split(" ")), int(count) if count is not None else None,
            self.title, tuple(self.connections), tuple(self.bandwidths), self.key,
            tuple(self.attributes),
        )
        _remember(media, self.line)
        return media


def parse_sdp(text: str | bytes) -> SessionDescription:
    """Parse a session description (RFC 8866 §5, §9).

    Raises :class:`SdpParseError` naming the line number and the problem; never another
    exception type.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        data = bytes(text)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            number = data.count(b"\n", 0, error.start) + 1
            raise SdpParseError("not UTF-8 text (RFC 8866 §5)", number) from None
    lines = _split_lines(text)
    if not lines:
        raise SdpParseError("empty session description")
    return _Parser(lines).parse()


class _Parser:
    __slots__ = ("fields", "lines", "media", "times")

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.fields: dict[str, Any] = {
            "emails": [], "phones": [], "bandwidths": [], "attributes": [],
        }
        self.times: list[TimeDescription] = []
        self.media: list[_MediaBuilder] = []

    def parse(self) -> SessionDescription:
        session_rank = -1
        media_rank = -1
        seen: set[str] = set()
        for number, line in enumerate(self.lines, 1):
            if len(line) < 2 or line[1] != "=":
                raise SdpParseError("not a '<type>=<value>' line", number, _shown(line))
            kind, value = line[0], line[2:]
            if kind not in _KNOWN_TYPES:
                raise SdpParseError(
                    f"unknown line type {kind!r} (RFC 8866 §5: the description is rejected)",
                    number, _shown(line))
            try:
                if kind == "m":
                    if grammar.MEDIA_FIELD.fullmatch(value) is None:
                        raise ValueError("expected '<media> <port>[/<count>] <proto> <fmt> ...' "
                                         "(RFC 8866 §5.14)")
                    if session_rank < _SESSION_ORDER.index("t"):
                        raise ValueError("media section before the session's t= line")
                    _port(value.split(" ", 2)[1].split("/")[0])
                    self.media.append(_MediaBuilder(value))
                    media_rank = 0
                elif self.media:
                    media_rank = self._media_line(kind, value, media_rank)
                else:
                    session_rank = self._session_line(kind, value, session_rank, seen)
            except SdpParseError:
                raise
            except ValueError as error:
                raise SdpParseError(str(error), number, _shown(line)) from None
        if session_rank < _SESSION_ORDER.index("t"):
            missing = next(t for t in "vost" if t not in seen)
            raise SdpParseError(f"the description has no {missing}= line (RFC 8866 §5)")
        try:
            return self._build()
        except ValueError as error:
            raise SdpParseError(str(error)) from None

    def _session_line(self, kind: str, value: str, rank: int, seen: set[str]) -> int:
        if kind in "rz":
            if rank != _SESSION_ORDER.index("t"):
                raise ValueError(f"{kind}= must follow a t= line (RFC 8866 §5.10, §5.11)")
            last = self.times[-1]
            if kind == "r":
                if last.zone_adjustments is not None:
                    raise ValueError("r= after z=")
                if not grammar.REPEAT_FIELD.fullmatch(value):
                    raise ValueError("expected '<interval> <duration> <offset>...' (§5.10)")
                self.times[-1] = dataclasses.replace(last, repeats=(*last.repeats, value))
            else:
                if last.zone_adjustments is not None:
                    raise ValueError("a second z= line")
                if not grammar.ZONE_FIELD.fullmatch(value):
                    raise ValueError("expected '<time> <offset> ...' (RFC 8866 §5.11)")
                self.times[-1] = dataclasses.replace(last, zone_adjustments=value)
            return rank
        new_rank = _SESSION_ORDER.find(kind)
        if new_rank < 0:  # i-only media types never reach here; 'm' is handled by the caller
            raise ValueError(f"{kind}= is not a session-level line")
        if new_rank < rank or (new_rank == rank and kind not in _SESSION_REPEATABLE):
            expected = ", ".join(f"{t}=" for t in _SESSION_ORDER[rank + 1:]) or "m="
            raise ValueError(f"{kind}= is out of order here (RFC 8866 §5); expected {expected}")
        if new_rank > 0 and "v" not in seen:
            raise ValueError("a description starts with v=")
        for required in "vost":
            if _SESSION_ORDER.index(required) < new_rank and required not in seen:
                raise ValueError(f"{kind}= before the required {required}= line")
        seen.add(kind)
        fields = self.fields
        if kind == "v":
            if not grammar.VERSION_FIELD.fullmatch(value):
                raise ValueError("only SDP version 0 exists (RFC 8866 §5.1)")
        elif kind == "o":
            fields["origin"] = _parse_origin(value)
        elif kind == "s":
            if "\x00" in value:
                raise ValueError("NUL in session name")
            fields["session_name"] = value
        elif kind == "i":
            fields["information"] = _text(value)
        elif kind == "u":
            fields["uri"] = _text(value)
        elif kind == "e":
            fields["emails"].append(_text(value))
        elif kind == "p":
            fields["phones"].append(_text(value))
        elif kind == "c":
            fields["connection"] = _parse_connection(value)
        elif kind == "b":
            fields["bandwidths"].append(_parse_bandwidth(value))
        elif kind == "t":
            match = grammar.TIME_FIELD.fullmatch(value)
            if match is None:
                raise ValueError("expected '<start> <stop>' NTP times (RFC 8866 §5.9)")
            self.times.append(TimeDescription(int(match["start"]), int(match["stop"])))
        elif kind == "k":
            fields["key"] = _text(value)
        else:
            fields["attributes"].append(_parse_attribute(value))
        return new_rank

    def _media_line(self, kind: str, value: str, rank: int) -> int:
        new_rank = _MEDIA_ORDER.find(kind)
        if new_rank < 0:
            raise ValueError(f"{kind}= is not allowed in a media section (RFC 8866 §5)")
        if new_rank < rank or (new_rank == rank and kind not in _MEDIA_REPEATABLE):
            expected = ", ".join(f"{t}=" for t in _MEDIA_ORDER[rank + 1:]) or "m="
            raise ValueError(f"{kind}= is out of order here (RFC 8866 §5); expected {expected}")
        media = self.media[-1]
        if kind == "i":
            media.title = _text(value)
        elif kind == "c":
            media.connections.append(_parse_connection(value))
        elif kind == "b":
            media.bandwidths.append(_parse_bandwidth(value))
        elif kind == "k":
            media.key = _text(value)
        else:
            media.attributes.append(_parse_attribute(value))
        return new_rank

    def _build(self) -> SessionDescription:
        fields = self.fields
        return SessionDescription(
            origin=fields["origin"],
            session_name=fields["session_name"],
            information=fields.get("information"),
            uri=fields.get("uri"),
            emails=tuple(fields["emails"]),
            phones=tuple(fields["phones"]),
            connection=fields.get("connection"),
            bandwidths=tuple(fields["bandwidths"]),
            times=tuple(self.times),
            key=fields.get("key"),
            attributes=tuple(fields["attributes"]),
            media=tuple(builder.build() for builder in self.media),
        )
