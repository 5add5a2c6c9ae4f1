"""Media formats for offer/answer: what we can send and receive, and what was agreed.

A :class:`Codec` is one local capability (``opus/48000/2``, ``telephone-event/8000``...). Two
descriptions name the same codec when encoding name (case-insensitive, RFC 4855 §3), clock rate
and channels agree and the few format parameters that change the bitstream agree too (the table
in :data:`FMTP_MUST_MATCH`); payload type numbers do not matter, which is what lets an answer
map a dynamic payload type to another number (RFC 3264 §6.1, RFC 4317 §2.3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipperc.sdp import grammar
from sipperc.sdp.attributes import Fmtp, RtpMap

_Parameters = dict[str, str]


def _fmtp_map(parameters: str | None) -> _Parameters:
    return Fmtp("0", parameters).parameter_map() if parameters else {}


def _same(name: str, default: str) -> Callable[[_Parameters, _Parameters], bool]:
    def check(ours: _Parameters, theirs: _Parameters) -> bool:
        return ours.get(name, default) == theirs.get(name, default)
    return check


def _h264_compatible(ours: _Parameters, theirs: _Parameters) -> bool:
    # RFC 6184 §8.2.2: the packetization mode must be the same; the profile (profile_idc, the
    # first byte of profile-level-id) must be the same, the level may differ.
    if ours.get("packetization-mode", "0") != theirs.get("packetization-mode", "0"):
        return False
    return (ours.get("profile-level-id", "42")[:2].lower()
            == theirs.get("profile-level-id", "42")[:2].lower())


FMTP_MUST_MATCH: dict[str, Callable[[_Parameters, _Parameters], bool]] = {
    "h264": _h264_compatible,
    # RFC 4867 §8.3.1: octet-aligned and bandwidth-efficient AMR are different payload formats.
    "amr": _same("octet-align", "0"),
    "amr-wb": _same("octet-align", "0"),
}
"""Codec-specific rules for format parameters that must agree for two formats to be one."""

AUXILIARY_FORMATS = frozenset({"telephone-event", "cn", "red", "rtx", "ulpfec", "flexfec"})
"""Formats that ride along with a media codec rather than replacing it (RFC 4733, RFC 3389,
RFC 2198, RFC 4588)."""


@dataclass(frozen=True, slots=True)
class Codec:
    """A format we can send and receive: what an ``a=rtpmap`` and ``a=fmtp`` describe.

    ``payload_type`` is the static payload type of the codec, or the dynamic number we prefer in
    our offers; None lets the engine pick the lowest free number from 96 to 127 (RFC 3551 §3).
    ``fmtp`` is what we put in our ``a=fmtp``: the parameters of what we receive.
    """

    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None
    payload_type: int | None = None

    def __post_init__(self) -> None:
        if not grammar.ENCODING_NAME.fullmatch(self.name):
            raise ValueError(f"encoding name {self.name!r} is not a token")
        if self.clock_rate <= 0 or self.channels <= 0:
            raise ValueError("clock rate and channels must be positive")
        if self.payload_type is not None and not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is outside 0-127")

    @property
    def auxiliary(self) -> bool:
        """True for DTMF events, comfort noise, redundancy and retransmission formats."""
        return self.name.lower() in AUXILIARY_FORMATS

    def rtpmap(self, payload_type: int) -> RtpMap:
        """The ``a=rtpmap`` describing this codec under ``payload_type``."""
        channels = self.channels if self.channels != 1 else None
        return RtpMap(payload_type, self.name, self.clock_rate, channels)

    def matches(self, rtpmap: RtpMap, fmtp: str | None) -> bool:
        """True if ``rtpmap`` and ``fmtp`` from a description name this codec."""
        name = self.name.lower()
        if (rtpmap.encoding_name.lower() != name or rtpmap.clock_rate != self.clock_rate
                or rtpmap.channels != self.channels):
            return False
        rule = FMTP_MUST_MATCH.get(name)
        return rule is None or rule(_fmtp_map(self.fmtp), _fmtp_map(fmtp))


@dataclass(frozen=True, slots=True)
class NegotiatedCodec:
    """A codec both sides agreed on, with the payload type to use in each direction.

    We send with ``send_payload_type`` (the number in the peer's description, RFC 3264 §6.1)
    and receive with ``receive_payload_type`` (the number in ours). ``remote_fmtp`` is what the
    peer said about what it receives; encoders should honour it.
    """

    codec: Codec
    send_payload_type: int
    receive_payload_type: int
    remote_fmtp: str | None = None

    @property
    def name(self) -> str:
        """The encoding name."""
        return self.codec.name

    @property
    def clock_rate(self) -> int:
        """The RTP clock rate."""
        return self.codec.clock_rate
