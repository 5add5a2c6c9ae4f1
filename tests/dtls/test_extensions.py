"""Hello extension bodies."""

from __future__ import annotations

import pytest

from sipperc.dtls.alert import DecodeError, DtlsAlertError
from sipperc.dtls.extensions import (
    UseSrtp,
    decode_ekt_cipher_selection,
    decode_ekt_ciphers_offer,
    decode_extensions,
    decode_external_session_id,
    decode_point_formats,
    decode_renegotiation_info,
    decode_uint16_vector,
    encode_ekt_ciphers_offer,
    encode_extensions,
    encode_external_session_id,
)


def test_extensions_block_round_trip_keeps_order() -> None:
    extensions = {0xFF01: b"\x00", 14: b"\x00\x02\x00\x07\x00", 23: b""}
    block = encode_extensions(extensions)
    assert list(decode_extensions(block[2:]).items()) == list(extensions.items())
    assert encode_extensions({}) == b""


def test_duplicate_extension_is_illegal_parameter() -> None:
    with pytest.raises(DtlsAlertError, match="twice"):
        decode_extensions(b"\x00\x17\x00\x00\x00\x17\x00\x00")


def test_use_srtp_wire_format() -> None:
    # RFC 5764 §4.1.1: SRTPProtectionProfiles<2..2^16-1> then opaque srtp_mki<0..255>.
    assert UseSrtp((9, 7)).encode() == b"\x00\x04\x00\x09\x00\x07\x00"
    assert UseSrtp.decode(b"\x00\x02\x00\x01\x01\xaa") == UseSrtp((1,), b"\xaa")
    for bad in (b"\x00\x00\x00", b"\x00\x03\x00\x01\x00\x00", b"\x00\x02\x00\x01"):
        with pytest.raises(DecodeError):
            UseSrtp.decode(bad)


def test_ekt_cipher_extension() -> None:
    # RFC 8870 §5.2.1: client lists EKTCipherType<1..255>, server returns one value.
    assert encode_ekt_ciphers_offer([1, 2]) == b"\x02\x01\x02"
    assert decode_ekt_ciphers_offer(b"\x02\x02\x01") == [2, 1]
    assert decode_ekt_cipher_selection(b"\x01") == 1
    for bad in (b"\x00", b"\x02\x01"):
        with pytest.raises(DecodeError):
            decode_ekt_ciphers_offer(bad)
    with pytest.raises(DecodeError):
        decode_ekt_cipher_selection(b"\x01\x02")


def test_external_session_id() -> None:
    # RFC 8844 §4.3: opaque session_id<20..255>, the ASCII tls-id.
    tls_id = b"abcdefghijklmnopqrst"
    assert decode_external_session_id(encode_external_session_id(tls_id)) == tls_id
    with pytest.raises(DecodeError):
        decode_external_session_id(encode_external_session_id(b"short"))


def test_small_vectors() -> None:
    assert decode_uint16_vector(b"\x00\x04\x00\x1d\x00\x17", "groups") == [29, 23]
    assert decode_point_formats(b"\x01\x00") == [0]
    assert decode_renegotiation_info(b"\x00") == b""
    with pytest.raises(DecodeError):
        decode_uint16_vector(b"\x00\x03\x00\x1d\x00", "groups")
    with pytest.raises(DecodeError):
        decode_point_formats(b"\x00")
