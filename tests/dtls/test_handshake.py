"""Handshake message codecs: round trips, and truncation or garbage is a DecodeError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls.alert import DecodeError, DtlsAlertError
from sipperc.dtls.handshake import (
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    DigitallySigned,
    EKTKey,
    Finished,
    HelloVerifyRequest,
    ServerHello,
    ServerKeyExchange,
    empty_body,
)

MESSAGES = [
    ClientHello(0xFEFD, bytes(32), b"", b"cookie", (0xC02B, 0x00FF), b"\x00",
                {10: b"\x00\x02\x00\x1d", 23: b""}),
    ClientHello(0xFEFD, b"r" * 32, b"s" * 32, b"", (0xC02B,), b"\x00", {}),
    HelloVerifyRequest(0xFEFF, b"c" * 32),
    ServerHello(0xFEFD, b"r" * 32, b"", 0xC02B, 0, {23: b"", 14: b"\x00\x02\x00\x07\x00"}),
    Certificate((b"cert one", b"cert two")),
    Certificate(()),
    ServerKeyExchange(29, b"k" * 32, DigitallySigned(0x0403, b"sig")),
    CertificateRequest(b"\x40\x01", (0x0403, 0x0401)),
    ClientKeyExchange(b"k" * 65),
    CertificateVerify(DigitallySigned(0x0403, b"s" * 70)),
    Finished(b"f" * 12),
    EKTKey(b"k" * 16, b"s" * 12, 0xABCD, 0xFFFFFF),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_and_every_truncation(message: object) -> None:
    body = message.encode()  # type: ignore[attr-defined]
    cls = type(message)
    assert cls.decode(body) == message  # type: ignore[attr-defined]
    for cut in range(len(body)):
        try:
            decoded = cls.decode(body[:cut])  # type: ignore[attr-defined]
        except DecodeError:
            continue
        # Only structures with optional trailing parts (hello extensions) may still parse.
        assert isinstance(decoded, ClientHello | ServerHello)
    with pytest.raises(DecodeError):
        cls.decode(body + b"\x00")  # type: ignore[attr-defined]


def test_ekt_key_wire_format() -> None:
    # RFC 8870 §5.2.2: opaque<1..256> has a 2-byte length; uint16 SPI; uint24 TTL.
    body = EKTKey(b"\xaa" * 16, b"\xbb" * 12, 0x0102, 0x030405).encode()
    assert body == (b"\x00\x10" + b"\xaa" * 16 + b"\x00\x0c" + b"\xbb" * 12
                    + b"\x01\x02" + b"\x03\x04\x05")
    assert "aaaa" not in repr(EKTKey(b"\xaa" * 16, b"\xbb" * 12, 1, 2))
    for bad in ({"ekt_key_value": b""}, {"srtp_master_salt": b"x" * 257}, {"ekt_spi": 70000},
                {"ekt_ttl": 1 << 24}):
        fields = {"ekt_key_value": b"k", "srtp_master_salt": b"s", "ekt_spi": 1, "ekt_ttl": 1}
        fields.update(bad)
        with pytest.raises(ValueError):
            EKTKey(**fields)  # type: ignore[arg-type]


def test_client_hello_cookie_binding_excludes_only_the_cookie() -> None:
    a = MESSAGES[0]
    assert isinstance(a, ClientHello)
    b = ClientHello(a.version, a.random, a.session_id, b"other", a.cipher_suites,
                    a.compression_methods, a.extensions)
    assert a.encode_without_cookie() == b.encode_without_cookie()
    assert a.encode() != b.encode()


def test_key_exchange_refuses_explicit_curves() -> None:
    body = ServerKeyExchange(23, b"k", DigitallySigned(0x0403, b"s")).encode()
    with pytest.raises(DecodeError, match="named_curve"):
        ServerKeyExchange.decode(b"\x01" + body[1:])


def test_empty_bodies() -> None:
    empty_body(b"", "ServerHelloDone")
    with pytest.raises(DecodeError):
        empty_body(b"x", "ServerHelloDone")


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    for cls in (ClientHello, ServerHello, HelloVerifyRequest, Certificate, ServerKeyExchange,
                CertificateRequest, ClientKeyExchange, CertificateVerify, Finished, EKTKey):
        with contextlib.suppress(DtlsAlertError):
            cls.decode(data)  # type: ignore[attr-defined]
