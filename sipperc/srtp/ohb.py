"""The Original Header Block of double SRTP (RFC 8723 §4).

``OHB = [PT] [SEQ] Config``, read backwards from the end of the outer plaintext. The Config
octet is ``R R R R B M P Q``: Q says SEQ is present, P that PT is present, M that the marker
bit was recorded and B its value; the R bits are reserved and must be 0. The RFC's "C & 0x0C
MUST NOT have the value 0x80" cannot happen under that mask; the intended rule is "B set
without M" (0x08), which is what is enforced here (perc.md §1.3, pitfall 1).

Anything malformed is an :class:`~sipperc.srtp.errors.AuthenticationError`: the OHB sits inside
the outer authenticated encryption, so a bad one means a broken or hostile hop, and the packet
is discarded like any other that fails integrity.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.srtp.errors import AuthenticationError

SEQ_PRESENT = 0x01
"""The Q bit of the Config octet: the OHB records the original SEQ."""
_P_PT, _M_MARKER, _B_VALUE, _RESERVED = 0x02, 0x04, 0x08, 0xF0
MAX_LENGTH = 4


@dataclass(frozen=True, slots=True)
class OriginalHeaderBlock:
    """The original PT, SEQ and marker a Media Distributor replaced; None where unchanged."""

    payload_type: int | None = None
    sequence_number: int | None = None
    marker: bool | None = None

    def __post_init__(self) -> None:
        if self.payload_type is not None and not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is outside 0..127")
        if self.sequence_number is not None and not 0 <= self.sequence_number <= 0xFFFF:
            raise ValueError(f"sequence number {self.sequence_number} is not 16 bits")

    def __bytes__(self) -> bytes:
        return encode(self.payload_type, self.sequence_number, self.marker)

    @classmethod
    def parse_trailer(cls, plaintext: bytes) -> tuple[OriginalHeaderBlock, int]:
        """The OHB at the end of an outer plaintext, and its length (RFC 8723 §4, §5.3)."""
        if not plaintext:
            raise AuthenticationError("outer plaintext is empty: no Original Header Block")
        config = plaintext[-1]
        if config & _RESERVED:
            raise AuthenticationError(f"OHB config {config:#04x} has reserved bits set")
        if config & _B_VALUE and not config & _M_MARKER:
            raise AuthenticationError(f"OHB config {config:#04x} has B set without M")
        length = encoded_length(config)
        if len(plaintext) < length:
            raise AuthenticationError(f"OHB of {length} bytes is longer than the "
                                      f"{len(plaintext)}-byte outer plaintext")
        offset = len(plaintext) - length
        payload_type = sequence_number = None
        if config & _P_PT:
            payload_type = plaintext[offset]
            if payload_type > 127:
                raise AuthenticationError(f"OHB payload type {payload_type} is not 7 bits")
            offset += 1
        if config & SEQ_PRESENT:
            sequence_number = plaintext[offset] << 8 | plaintext[offset + 1]
        marker = bool(config & _B_VALUE) if config & _M_MARKER else None
        return cls(payload_type, sequence_number, marker), length

    @classmethod
    def recording(cls, original: tuple[int, int, bool],
                  current: tuple[int, int, bool]) -> OriginalHeaderBlock:
        """The OHB for a header carrying ``current`` (PT, SEQ, M), originally ``original``."""
        return cls(*recorded(original, current))

    def original(self, payload_type: int, sequence_number: int,
                 marker: bool) -> tuple[int, int, bool]:
        """The original (PT, SEQ, M) of a header carrying these values now."""
        return (payload_type if self.payload_type is None else self.payload_type,
                sequence_number if self.sequence_number is None else self.sequence_number,
                marker if self.marker is None else self.marker)


def recorded(original: tuple[int, int, bool],
             current: tuple[int, int, bool]) -> tuple[int | None, int | None, bool | None]:
    """What an OHB records for a header carrying ``current`` (PT, SEQ, M), originally ``original``.

    RFC 8723 §5.2 step 3: a field is recorded, with its original value, exactly when it
    differs from the original. So a field changed for the first time is added, a field put
    back to its original value is dropped, and a value an earlier distributor recorded is
    kept as it was.
    """
    return (None if current[0] == original[0] else original[0],
            None if current[1] == original[1] else original[1],
            None if current[2] == original[2] else original[2])


def encoded_length(config: int) -> int:
    """Length of the OHB whose Config octet is ``config`` (RFC 8723 §4)."""
    return 1 + (2 if config & SEQ_PRESENT else 0) + (1 if config & _P_PT else 0)


def encode(payload_type: int | None, sequence_number: int | None, marker: bool | None) -> bytes:
    """The OHB recording these original values (None: not recorded), in wire order."""
    config = 0
    out = b""
    if payload_type is not None:
        config = _P_PT
        out = bytes((payload_type,))
    if sequence_number is not None:
        config |= SEQ_PRESENT
        out += sequence_number.to_bytes(2)
    if marker is not None:
        config |= _M_MARKER | (_B_VALUE if marker else 0)
    return out + bytes((config,))


EMPTY = OriginalHeaderBlock()
"""No field was changed: the one-byte OHB ``0x00`` every endpoint sends (RFC 8723 §5.1)."""
