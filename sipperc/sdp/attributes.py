"""Typed SDP attribute values: what ``a=name:value`` means, one class per attribute.

A session description keeps every attribute as an :class:`Attribute` (name and value text, in
the order received) so that serialising gives back exactly what was parsed. The classes here
interpret the values of the attributes sipperc understands; each has ``parse(value)`` (raising
``ValueError`` naming the problem) and ``str()`` (the value text), and
:func:`validate_attribute` is what the parser calls so that a malformed known attribute is
reported with its line number.

Security attributes (``a=crypto``, ``a=fingerprint``, ``a=setup``, ``a=tls-id`` and sipperc's
PERC marker) live in :mod:`sipperc.sdp.crypto` and :mod:`sipperc.sdp.dtls`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from sipperc.sdp import grammar


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``a=`` line, exactly as received (RFC 8866 §5.13).

    ``value`` is None for a property attribute such as ``a=rtcp-mux``.
    """

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        if not grammar.ATTRIBUTE_NAME.fullmatch(self.name):
            raise ValueError(f"attribute name {self.name!r} is not a token (RFC 8866 §5.13)")
        if self.value is not None and not grammar.ATTRIBUTE_VALUE.fullmatch(self.value):
            raise ValueError(f"attribute {self.name!r} value is empty or holds CR, LF or NUL")

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    def __repr__(self) -> str:
        # a=crypto carries SRTP master keys (RFC 4568 §6.1): never print them.
        if self.name in SECRET_ATTRIBUTES and self.value is not None:
            return f"Attribute({self.name!r}, <redacted>)"
        return f"Attribute({self.name!r}, {self.value!r})"


SECRET_ATTRIBUTES = frozenset({"crypto"})
"""Attributes whose values hold key material and are redacted from repr and error messages."""


class Direction(enum.Enum):
    """The direction attributes of RFC 8866 §6.7 (RFC 3264 §5.1), from the describer's side."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """True if the side that wrote this direction sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """True if the side that wrote this direction receives media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @property
    def reversed(self) -> Direction:
        """The same stream seen from the other side (sendonly becomes recvonly)."""
        return _REVERSED[self]

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        """The direction of a side that sends and/or receives."""
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE

    def __and__(self, other: Direction) -> Direction:
        """Both restrictions at once: what is allowed by this direction and by ``other``."""
        return Direction.of(self.sends and other.sends, self.receives and other.receives)


_REVERSED = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}


def _decimal(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)


def _format_decimal(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap``: a payload type's encoding name, clock rate and channels (RFC 8866 §6.6)."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    encoding_parameters: int | None = None

    name: ClassVar[str] = "rtpmap"

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is outside 0-127 (RFC 3550 §5.1)")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=rtpmap`` line."""
        match = grammar.RTPMAP_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<payload type> <encoding>/<clock rate>[/<channels>]'")
        params = match["params"]
        return cls(int(match["pt"]), match["name"], int(match["rate"]),
                   int(params) if params is not None else None)

    @property
    def channels(self) -> int:
        """Audio channels; RFC 8866 §6.6 makes one the default."""
        return self.encoding_parameters or 1

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding_name}/{self.clock_rate}"
        return text if self.encoding_parameters is None else f"{text}/{self.encoding_parameters}"


@dataclass(frozen=True, slots=True)
class Fmtp:
    """``a=fmtp``: format-specific parameters of one format (RFC 8866 §6.15)."""

    format: str
    parameters: str

    name: ClassVar[str] = "fmtp"

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=fmtp`` line."""
        match = grammar.FMTP_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<format> <parameters>'")
        return cls(match["format"], match["params"])

    def parameter_map(self) -> dict[str, str]:
        """The ``key=value`` pairs of a ``;``-separated parameter list, keys lower-cased.

        Media types such as telephone-event use a bare list (``0-15``); such items appear with
        an empty value.
        """
        result: dict[str, str] = {}
        for item in self.parameters.split(";"):
            key, _, val = item.strip().partition("=")
            if key:
                result[key.strip().lower()] = val.strip()
        return result

    def __str__(self) -> str:
        return f"{self.format} {self.parameters}"


@dataclass(frozen=True, slots=True)
class PacketTime:
    """``a=ptime`` or ``a=maxptime`` in milliseconds (RFC 8866 §6.4, §6.5)."""

    milliseconds: int | float

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse a positive integer or decimal number of milliseconds."""
        if not grammar.NON_ZERO_INT_OR_REAL.fullmatch(value):
            raise ValueError("expected a positive number of milliseconds")
        return cls(_decimal(value))

    def __str__(self) -> str:
        return _format_decimal(self.milliseconds)


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp``: where RTCP goes when it is not the RTP port plus one (RFC 3605 §2.1)."""

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    name: ClassVar[str] = "rtcp"

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=rtcp`` line."""
        match = grammar.RTCP_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<port> [<nettype> <addrtype> <address>]'")
        port = int(match["port"])
        if port > 65535:
            raise ValueError(f"port {port} is above 65535")
        return cls(port, match["nettype"], match["addrtype"], match["address"])

    def __str__(self) -> str:
        if self.address is None:
            return str(self.port)
        return f"{self.port} {self.nettype} {self.addrtype} {self.address}"


EXTMAP_ONE_BYTE_IDS = range(1, 15)
"""Identifiers the one-byte header form can carry (RFC 8285 §4.2)."""
EXTMAP_TWO_BYTE_IDS = range(1, 256)
"""Identifiers the two-byte header form can carry (RFC 8285 §4.3)."""
EXTMAP_OFFER_ONLY_IDS = range(4096, 4352)
"""Identifiers an offer may use to let the answerer choose (RFC 8285 §7)."""

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
"""The client-to-mixer audio level header extension (RFC 6464 §4)."""


@dataclass(frozen=True, slots=True)
class ExtMap:
    """``a=extmap``: an RTP header extension and the local identifier it uses (RFC 8285 §8)."""

    id: int
    uri: str
    direction: Direction | None = None
    attributes: str | None = None

    name: ClassVar[str] = "extmap"

    def __post_init__(self) -> None:
        if self.id not in EXTMAP_TWO_BYTE_IDS and self.id not in EXTMAP_OFFER_ONLY_IDS:
            raise ValueError(f"extmap id {self.id} is outside 1-255 and 4096-4351 (RFC 8285 §8)")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=extmap`` line."""
        match = grammar.EXTMAP_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<id>[/<direction>] <URI> [<attributes>]'")
        direction = match["direction"]
        return cls(int(match["id"]), match["uri"],
                   Direction(direction) if direction else None, match["attributes"])

    @property
    def vad(self) -> bool | None:
        """Whether the RFC 6464 audio level's V (voice activity) bit is in use (``vad=on``).

        None for other extensions or when not stated (RFC 6464 §4).
        """
        if self.uri != AUDIO_LEVEL_URI or self.attributes is None:
            return None
        for item in self.attributes.split():
            key, _, val = item.partition("=")
            if key == "vad":
                return val == "on"
        return None

    def __str__(self) -> str:
        entry = str(self.id) if self.direction is None else f"{self.id}/{self.direction.value}"
        text = f"{entry} {self.uri}"
        return text if self.attributes is None else f"{text} {self.attributes}"


@dataclass(frozen=True, slots=True)
class Ssrc:
    """``a=ssrc``: a source-level attribute such as ``cname`` (RFC 5576 §4.1)."""

    ssrc: int
    attribute: str
    value: str | None = None

    name: ClassVar[str] = "ssrc"

    def __post_init__(self) -> None:
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError(f"SSRC {self.ssrc} does not fit 32 bits")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=ssrc`` line."""
        match = grammar.SSRC_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<ssrc> <attribute>[:<value>]'")
        return cls(int(match["ssrc"]), match["name"], match["value"])

    def __str__(self) -> str:
        text = f"{self.ssrc} {self.attribute}"
        return text if self.value is None else f"{text}:{self.value}"


@dataclass(frozen=True, slots=True)
class Group:
    """``a=group``: media sections grouped by their ``a=mid`` tags (RFC 5888 §5)."""

    semantics: str
    tags: tuple[str, ...] = ()

    name: ClassVar[str] = "group"

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=group`` line."""
        match = grammar.GROUP_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<semantics> *(SP <mid>)'")
        return cls(match["semantics"], tuple(match["tags"].split()))

    def __str__(self) -> str:
        return " ".join((self.semantics, *self.tags))


def _validate_mid(value: str) -> None:
    if not grammar.MID_VALUE.fullmatch(value):
        raise ValueError("identification-tag is not a token (RFC 5888 §4)")


def _validate_direction_property(value: str | None) -> None:
    if value is not None:
        raise ValueError("is a property attribute and takes no value (RFC 8866 §6.7)")


_Validator = Callable[[str], object]

_VALUE_VALIDATORS: dict[str, _Validator] = {
    "rtpmap": RtpMap.parse,
    "fmtp": Fmtp.parse,
    "ptime": PacketTime.parse,
    "maxptime": PacketTime.parse,
    "rtcp": Rtcp.parse,
    "extmap": ExtMap.parse,
    "ssrc": Ssrc.parse,
    "mid": _validate_mid,
    "group": Group.parse,
}
_PROPERTY_ATTRIBUTES = frozenset(
    {"sendrecv", "sendonly", "recvonly", "inactive", "rtcp-mux", "extmap-allow-mixed"}
)
_EXTRA_VALIDATORS: dict[str, _Validator] = {}


def register_validator(name: str, validator: _Validator) -> None:
    """Have the parser check values of attribute ``name`` with ``validator``.

    Used by :mod:`sipperc.sdp.crypto`, :mod:`sipperc.sdp.dtls` and :mod:`sipperc.sdp.perc` so
    that each security attribute's grammar stays in the module that interprets it.
    """
    _EXTRA_VALIDATORS[name] = validator


def validate_attribute(attribute: Attribute) -> None:
    """Raise ValueError if a known attribute's value does not follow its grammar."""
    name = attribute.name
    if name in _PROPERTY_ATTRIBUTES:
        _validate_direction_property(attribute.value)
        return
    validator = _VALUE_VALIDATORS.get(name) or _EXTRA_VALIDATORS.get(name)
    if validator is None:
        return  # unknown attributes are kept and ignored (RFC 8866 §5.13)
    if attribute.value is None:
        raise ValueError("needs a value")
    validator(attribute.value)
