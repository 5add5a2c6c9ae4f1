"""Encrypted Key Transport fields and parameter sets (RFC 8870 §4.1, §4.2, §4.4).

Wire formats, parsed backwards from the end of the packet (§4.1)::

    FullEKTField  = EKTCiphertext | SPI(2) | Epoch(2) | EKTMsgLength(2) | 0x02
    ShortEKTField = 0x00
    ExtensionEKTField = ExtensionData | EKTMsgLength(2) | type (0x03-0xFF)
    EKTPlaintext  = SRTPMasterKeyLength(1) | SRTPMasterKey | SSRC(4) | ROC(4)

EKTMsgLength counts the whole field, itself and the type byte included. A field of a type this
implementation does not know is discarded whole (its length says how much to cut).

The cipher is AES Key Wrap with Padding (RFC 5649) under a 128- or 256-bit EKTKey. Its output is
``8 * ceil(M / 8) + 8`` bytes; RFC 8870 §4.4.1 prints ``M + (M mod 8) + 8``, which is wrong in
general (perc.md §3.3). For the 16-byte inner key of the 128-bit double profile M = 25, so the
ciphertext is 40 bytes and the FullEKTField 47.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

from sipperc.keymaterial import redacted
from sipperc.srtp.ekt_cipher import EKTCipher
from sipperc.srtp.errors import EKTAuthenticationError, MalformedPacketError

SHORT_TYPE = 0x00
FULL_TYPE = 0x02
SHORT_EKT_FIELD = b"\x00"
FULL_TRAILER_LENGTH = 7  # SPI, Epoch, EKTMsgLength, type
MAX_TTL = (1 << 24) - 1


@dataclass(frozen=True, slots=True)
class FullEKTField:
    """A FullEKTField as it travels: the wrapped plaintext, the SPI and the epoch (§4.1)."""

    ciphertext: bytes
    spi: int
    epoch: int

    def __post_init__(self) -> None:
        if not 0 <= self.spi <= 0xFFFF:
            raise ValueError(f"SPI {self.spi} is not 16 bits")
        if not 0 <= self.epoch <= 0xFFFF:
            raise ValueError(f"epoch {self.epoch} is not 16 bits")
        if not 1 <= len(self.ciphertext) <= 0xFFFF - FULL_TRAILER_LENGTH:
            raise ValueError(f"EKT ciphertext of {len(self.ciphertext)} bytes")

    def __bytes__(self) -> bytes:
        return (self.ciphertext + self.spi.to_bytes(2) + self.epoch.to_bytes(2)
                + (len(self.ciphertext) + FULL_TRAILER_LENGTH).to_bytes(2) + bytes((FULL_TYPE,)))


@dataclass(frozen=True, slots=True, repr=False)
class EKTPlaintext:
    """What a FullEKTField carries: one SSRC's SRTP master key and its ROC (§4.1)."""

    master_key: bytes
    ssrc: int
    roc: int

    def __post_init__(self) -> None:
        if not 1 <= len(self.master_key) <= 255:
            raise ValueError(f"SRTP master key of {len(self.master_key)} bytes")

    def __repr__(self) -> str:
        return (f"EKTPlaintext(master_key={redacted(self.master_key)}, ssrc={self.ssrc:#010x}, "
                f"roc={self.roc})")

    def __bytes__(self) -> bytes:
        return (bytes((len(self.master_key),)) + self.master_key + self.ssrc.to_bytes(4)
                + self.roc.to_bytes(4))

    @classmethod
    def parse(cls, data: bytes) -> EKTPlaintext:
        """Parse an unwrapped plaintext; a wrong length is an authentication failure."""
        if not data or len(data) != 1 + data[0] + 8 or data[0] == 0:
            raise EKTAuthenticationError("EKT plaintext length does not match its key length")
        key_end = 1 + data[0]
        return cls(data[1:key_end], int.from_bytes(data[key_end:key_end + 4]),
                   int.from_bytes(data[key_end + 4:]))


def split_ekt_field(packet: bytes) -> tuple[bytes, bytes, FullEKTField | None]:
    """Cut the EKT field off the end of ``packet``: (SRTP packet, field bytes, Full field).

    The third item is None for a ShortEKTField and for a field of an unknown type, which is
    discarded (RFC 8870 §4.1). Raises :class:`MalformedPacketError` when the field's length
    does not fit the packet.
    """
    if not packet:
        raise MalformedPacketError("empty packet: no EKT field")
    message_type = packet[-1]
    if message_type == SHORT_TYPE:
        return packet[:-1], packet[-1:], None
    if len(packet) < 3:
        raise MalformedPacketError("EKT field too short for its length")
    length = packet[-3] << 8 | packet[-2]
    minimum = FULL_TRAILER_LENGTH + 1 if message_type == FULL_TYPE else 4
    if not minimum <= length <= len(packet):
        raise MalformedPacketError(f"EKT field of type {message_type} says {length} bytes; the "
                                   f"packet has {len(packet)}")
    wire = packet[-length:]
    if message_type != FULL_TYPE:
        return packet[:-length], wire, None
    return packet[:-length], wire, FullEKTField(wire[:-FULL_TRAILER_LENGTH],
                                                wire[-7] << 8 | wire[-6], wire[-5] << 8 | wire[-4])


@dataclass(frozen=True, slots=True)
class EKTParameterSet:
    """An EKT parameter set (RFC 8870 §4.2): cipher, EKTKey, shared SRTP master salt, TTL.

    The field names are those of the DTLS EKTKey message (§5.2.2), so the DTLS layer's
    ``EKTKeyReceived`` event maps onto it field by field; ``received_at`` starts the
    ``ekt_ttl`` clock (seconds, 24 bits). Keys never appear in ``repr()``.
    """

    ekt_key_value: bytes = field(repr=False)
    srtp_master_salt: bytes = field(repr=False)
    ekt_spi: int
    ekt_ttl: int
    cipher: EKTCipher
    received_at: float = 0.0

    def __post_init__(self) -> None:
        if len(self.ekt_key_value) != self.cipher.key_length:
            raise ValueError(f"{self.cipher.name} needs a {self.cipher.key_length}-byte EKTKey, "
                             f"got {redacted(self.ekt_key_value)}")
        if not 1 <= len(self.srtp_master_salt) <= 256:
            raise ValueError(f"SRTP master salt of {len(self.srtp_master_salt)} bytes")
        if not 0 <= self.ekt_spi <= 0xFFFF:
            raise ValueError(f"SPI {self.ekt_spi} is not 16 bits")
        if not 0 <= self.ekt_ttl <= MAX_TTL:
            raise ValueError(f"ekt_ttl {self.ekt_ttl} is not 24 bits")

    def __repr__(self) -> str:
        return (f"EKTParameterSet(ekt_key_value={redacted(self.ekt_key_value)}, "
                f"srtp_master_salt={redacted(self.srtp_master_salt)}, ekt_spi={self.ekt_spi}, "
                f"ekt_ttl={self.ekt_ttl}, cipher={self.cipher.name}, "
                f"received_at={self.received_at})")

    @property
    def expires_at(self) -> float:
        """When the EKTKey must stop being used (RFC 8870 §5.2.2, ``ekt_ttl``)."""
        return self.received_at + self.ekt_ttl

    def wrap(self, plaintext: EKTPlaintext) -> bytes:
        """EKTEncrypt (RFC 8870 §4.4.1): AES Key Wrap with Padding (RFC 5649)."""
        return aes_key_wrap_with_padding(self.ekt_key_value, bytes(plaintext))

    def unwrap(self, ciphertext: bytes) -> EKTPlaintext:
        """EKTDecrypt; an integrity failure is an :class:`EKTAuthenticationError` (§4.3.2)."""
        try:
            data = aes_key_unwrap_with_padding(self.ekt_key_value, ciphertext)
        except (InvalidUnwrap, ValueError):
            raise EKTAuthenticationError(f"EKT ciphertext does not unwrap under SPI "
                                      f"{self.ekt_spi}") from None
        return EKTPlaintext.parse(data)

    def full_field(self, plaintext: EKTPlaintext, epoch: int) -> bytes:
        """The FullEKTField carrying ``plaintext`` under this parameter set (§4.3.1)."""
        return bytes(FullEKTField(self.wrap(plaintext), self.ekt_spi, epoch))
