"""The DTLS 1.2 record layer (RFC 6347 §4.1).

Record framing, AEAD protection, epochs and the anti-replay window.

A datagram carries one or more records::

    struct {
        ContentType type; ProtocolVersion version; uint16 epoch;
        uint48 sequence_number; uint16 length; opaque fragment[length];
    } DTLSPlaintext;

Records from epoch 1 on are protected with the negotiated AEAD. The additional data is
``epoch || sequence_number || type || version || length`` (RFC 5246 §6.2.3.3 with the DTLS
64-bit sequence number). For AES-GCM the 8-byte explicit nonce that travels in the record is
the same 64-bit value (RFC 5288 §3); ChaCha20-Poly1305 XORs it into its 12-byte IV (RFC 7905 §2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sipperc.dtls.alert import AlertDescription, DtlsAlertError
from sipperc.dtls.cipher_suite import CipherSuite
from sipperc.dtls.key_schedule import TrafficKeys

DTLS_1_0 = 0xFEFF
DTLS_1_2 = 0xFEFD
RECORD_HEADER_LENGTH = 13
MAX_PLAINTEXT = 2**14  # RFC 5246 §6.2.1
MAX_SEQUENCE = 2**48 - 1
TAG_LENGTH = 16


class ContentType(enum.IntEnum):
    """RFC 5246 §6.2.1; ``ACK`` is RFC 9147 §7, used here for EKTKey (RFC 8870 §5.2.2)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    ACK = 26


@dataclass(frozen=True, slots=True)
class Record:
    """One record as received (fragment still protected if epoch > 0)."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes

    @property
    def number(self) -> tuple[int, int]:
        """(epoch, sequence_number): the RecordNumber of RFC 9147 §4."""
        return self.epoch, self.sequence_number


def parse_records(datagram: bytes) -> list[Record]:
    """Split a datagram into records.

    A truncated tail is dropped and the records before it kept: RFC 6347 §4.1.2.7 says invalid
    records are silently discarded, and the framing of the ones before is intact.
    """
    records = []
    pos = 0
    end = len(datagram)
    while pos < end:
        if end - pos < RECORD_HEADER_LENGTH:
            break
        h = datagram[pos:pos + RECORD_HEADER_LENGTH]
        length = (h[11] << 8) | h[12]
        start = pos + RECORD_HEADER_LENGTH
        if start + length > end:
            break
        records.append(Record(h[0], (h[1] << 8) | h[2], (h[3] << 8) | h[4],
                              int.from_bytes(h[5:11], "big"), datagram[start:start + length]))
        pos = start + length
    return records


def encode_record(content_type: int, epoch: int, sequence_number: int, fragment: bytes,
                  version: int = DTLS_1_2) -> bytes:
    """A record header followed by its (already protected) fragment."""
    return (bytes((content_type,)) + version.to_bytes(2, "big") + epoch.to_bytes(2, "big")
            + sequence_number.to_bytes(6, "big") + len(fragment).to_bytes(2, "big") + fragment)


class RecordProtection:
    """AEAD protection of one direction of one epoch (RFC 5288, RFC 7905)."""

    __slots__ = ("_aead", "_chacha", "_iv", "overhead")

    def __init__(self, suite: CipherSuite, keys: TrafficKeys) -> None:
        p = suite.parameters
        self._chacha = p.chacha
        self._aead: AESGCM | ChaCha20Poly1305 = (ChaCha20Poly1305(keys.key) if p.chacha
                                                  else AESGCM(keys.key))
        self._iv = keys.iv
        self.overhead = p.explicit_nonce_length + TAG_LENGTH

    def __repr__(self) -> str:
        return "RecordProtection(<keys hidden>)"

    def _nonce(self, seq64: bytes) -> bytes:
        if self._chacha:
            padded = bytes(4) + seq64
            return bytes(a ^ b for a, b in zip(self._iv, padded, strict=True))
        return self._iv + seq64

    def seal(self, content_type: int, epoch: int, sequence_number: int, plaintext: bytes) -> bytes:
        """The protected fragment for a record."""
        seq64 = ((epoch << 48) | sequence_number).to_bytes(8, "big")
        aad = (seq64 + bytes((content_type,)) + DTLS_1_2.to_bytes(2, "big")
               + len(plaintext).to_bytes(2, "big"))
        sealed = self._aead.encrypt(self._nonce(seq64), plaintext, aad)
        return sealed if self._chacha else seq64 + sealed

    def open(self, record: Record) -> bytes:
        """The plaintext of a protected record; DtlsAlertError(bad_record_mac) if it fails."""
        fragment = record.fragment
        seq64 = ((record.epoch << 48) | record.sequence_number).to_bytes(8, "big")
        if self._chacha:
            nonce = self._nonce(seq64)
            body = fragment
        else:
            # The explicit nonce is whatever the sender put there (RFC 5288 §3).
            nonce = self._iv + fragment[:8]
            body = fragment[8:]
        if len(body) < TAG_LENGTH:
            raise DtlsAlertError(AlertDescription.BAD_RECORD_MAC, "protected record too short")
        aad = (seq64 + bytes((record.content_type,)) + record.version.to_bytes(2, "big")
               + (len(body) - TAG_LENGTH).to_bytes(2, "big"))
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise DtlsAlertError(AlertDescription.BAD_RECORD_MAC,
                                 "record authentication failed") from None


class ReplayWindow:
    """The 64-record sliding window of RFC 6347 §4.1.2.6 (RFC 4303 §3.4.3)."""

    __slots__ = ("_bitmap", "_highest", "size")

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._highest = -1
        self._bitmap = 0  # bit i set: highest - i was received

    def is_replay(self, sequence_number: int) -> bool:
        """True if this number was seen already or is too old to tell."""
        if sequence_number > self._highest:
            return False
        offset = self._highest - sequence_number
        if offset >= self.size:
            return True
        return bool(self._bitmap >> offset & 1)

    def mark(self, sequence_number: int) -> None:
        """Record a number whose record passed authentication."""
        if sequence_number > self._highest:
            shift = sequence_number - self._highest
            # A jump past the window forgets it (and never shifts by 2^48 bits).
            self._bitmap = (((self._bitmap << shift) | 1) & ((1 << self.size) - 1)
                            if shift < self.size else 1)
            self._highest = sequence_number
        else:
            self._bitmap |= 1 << (self._highest - sequence_number)
