"""Hello extensions (RFC 5246 §7.4.1.4) and the bodies of the ones sipperc speaks.

=====================  ======  =========================================
extension              type    defined by
=====================  ======  =========================================
supported_groups       10      RFC 8422 §5.1.1
ec_point_formats       11      RFC 8422 §5.1.2
signature_algorithms   13      RFC 5246 §7.4.1.4.1
use_srtp               14      RFC 5764 §4.1.1
extended_master_secret 23      RFC 7627 §5.1
supported_ekt_ciphers  39      RFC 8870 §5.2.1
external_session_id    56      RFC 8844 §4.3
renegotiation_info     0xff01  RFC 5746 §3.2
=====================  ======  =========================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.dtls.alert import AlertDescription, DecodeError, DtlsAlertError
from sipperc.dtls.presentation import Reader, read_uint16_list, uint16_list, vector


class ExtensionType(enum.IntEnum):
    """IANA TLS ExtensionType values used here."""

    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13
    USE_SRTP = 14
    EXTENDED_MASTER_SECRET = 23
    SESSION_TICKET = 35
    SUPPORTED_EKT_CIPHERS = 39
    EXTERNAL_SESSION_ID = 56
    RENEGOTIATION_INFO = 0xFF01


#: ``ECPointFormat.uncompressed`` (RFC 8422 §5.1.2).
UNCOMPRESSED = 0


def decode_extensions(data: bytes) -> dict[int, bytes]:
    """The ``extensions<0..2^16-1>`` block (without its length) as type -> data, in order."""
    reader = Reader(data)
    result: dict[int, bytes] = {}
    while reader.remaining:
        ext_type = reader.uint(2, "extension type")
        body = reader.vector(2, f"extension {ext_type}")
        if ext_type in result:
            # RFC 5246 §7.4.1.4: "There MUST NOT be more than one extension of the same type."
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"extension {ext_type} appears twice")
        result[ext_type] = body
    return result


def encode_extensions(extensions: dict[int, bytes]) -> bytes:
    """The extensions block with its 2-byte length; empty bytes if there are none."""
    if not extensions:
        return b""
    return vector(2, b"".join(t.to_bytes(2, "big") + vector(2, d)
                              for t, d in extensions.items()))


@dataclass(frozen=True, slots=True)
class UseSrtp:
    """``UseSRTPData`` (RFC 5764 §4.1.1): protection profiles and the MKI."""

    profiles: tuple[int, ...]
    mki: bytes = b""

    def encode(self) -> bytes:
        """The extension_data."""
        return uint16_list(self.profiles) + vector(1, self.mki)

    @classmethod
    def decode(cls, data: bytes) -> UseSrtp:
        """Parse extension_data."""
        reader = Reader(data)
        profiles = read_uint16_list(reader.vector(2, "use_srtp profiles", 2), "use_srtp")
        mki = reader.vector(1, "use_srtp MKI")
        reader.end("use_srtp")
        return cls(tuple(profiles), mki)


def encode_ekt_ciphers_offer(ciphers: list[int]) -> bytes:
    """Client's ``EKTCipherType supported_ciphers<1..255>`` (RFC 8870 §5.2.1)."""
    return vector(1, bytes(ciphers))


def decode_ekt_ciphers_offer(data: bytes) -> list[int]:
    """Parse the client's supported_ekt_ciphers."""
    reader = Reader(data)
    ciphers = reader.vector(1, "supported_ekt_ciphers", 1)
    reader.end("supported_ekt_ciphers")
    return list(ciphers)


def decode_ekt_cipher_selection(data: bytes) -> int:
    """Parse the server's ``EKTCipherType selected_cipher``."""
    if len(data) != 1:
        raise DecodeError(f"supported_ekt_ciphers in ServerHello of {len(data)} bytes")
    return data[0]


def encode_external_session_id(session_id: bytes) -> bytes:
    """``opaque session_id<20..255>`` (RFC 8844 §4.3)."""
    return vector(1, session_id)


def decode_external_session_id(data: bytes) -> bytes:
    """Parse external_session_id."""
    reader = Reader(data)
    value = reader.vector(1, "external_session_id", 20, 255)
    reader.end("external_session_id")
    return value


def decode_uint16_vector(data: bytes, what: str) -> list[int]:
    """A ``uint16 x<2..2^16-2>`` extension body (supported_groups, signature_algorithms)."""
    reader = Reader(data)
    values = read_uint16_list(reader.vector(2, what, 2), what)
    reader.end(what)
    return values


def decode_point_formats(data: bytes) -> list[int]:
    """ec_point_formats: ``ECPointFormat ec_point_format_list<1..2^8-1>``."""
    reader = Reader(data)
    formats = reader.vector(1, "ec_point_formats", 1)
    reader.end("ec_point_formats")
    return list(formats)


def decode_renegotiation_info(data: bytes) -> bytes:
    """``opaque renegotiated_connection<0..255>``."""
    reader = Reader(data)
    value = reader.vector(1, "renegotiation_info")
    reader.end("renegotiation_info")
    return value
