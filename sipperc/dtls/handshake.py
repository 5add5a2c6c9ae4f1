"""Handshake messages (RFC 5246 §7.4, RFC 6347 §4.2, RFC 8422 §5, RFC 8870 §5.2.2).

Each message is a frozen dataclass with ``encode()`` (the body) and ``decode(body)``; decoding
raises :class:`~sipperc.dtls.alert.DecodeError` naming the field that is wrong. The DTLS
handshake header and fragments are in :mod:`sipperc.dtls.fragments`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sipperc.dtls.alert import DecodeError
from sipperc.dtls.extensions import decode_extensions, encode_extensions
from sipperc.dtls.presentation import Reader, read_uint16_list, uint16_list, vector
from sipperc.keymaterial import redacted

RANDOM_LENGTH = 32
#: ``ECCurveType.named_curve`` (RFC 8422 §5.4).
NAMED_CURVE = 3
#: ``ClientCertificateType`` values (RFC 5246 §7.4.4, RFC 8422 §5.5).
RSA_SIGN = 1
ECDSA_SIGN = 64


class HandshakeType(enum.IntEnum):
    """RFC 5246 §7.4, RFC 6347 §4.3.2, RFC 8870 §5.2.2."""

    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20
    EKT_KEY = 26


@dataclass(frozen=True, slots=True)
class ClientHello:
    """RFC 6347 §4.2.1: TLS ClientHello plus the cookie."""

    version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: dict[int, bytes]

    def encode(self) -> bytes:
        """The message body."""
        return (self.version.to_bytes(2, "big") + self.random + vector(1, self.session_id)
                + vector(1, self.cookie) + uint16_list(self.cipher_suites)
                + vector(1, self.compression_methods) + encode_extensions(self.extensions))

    def encode_without_cookie(self) -> bytes:
        """The fields the server's cookie binds (everything but the cookie)."""
        return (self.version.to_bytes(2, "big") + self.random + vector(1, self.session_id)
                + uint16_list(self.cipher_suites) + vector(1, self.compression_methods)
                + encode_extensions(self.extensions))

    @classmethod
    def decode(cls, body: bytes) -> ClientHello:
        """Parse a ClientHello body."""
        r = Reader(body)
        version = r.uint(2, "client_version")
        random = r.take(RANDOM_LENGTH, "random")
        session_id = r.vector(1, "session_id", 0, 32)
        cookie = r.vector(1, "cookie")
        suites = read_uint16_list(r.vector(2, "cipher_suites", 2), "cipher_suites")
        compression = r.vector(1, "compression_methods", 1)
        extensions = decode_extensions(r.vector(2, "extensions")) if r.remaining else {}
        r.end("ClientHello")
        return cls(version, random, session_id, cookie, tuple(suites), compression, extensions)


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest:
    """RFC 6347 §4.2.1."""

    version: int
    cookie: bytes

    def encode(self) -> bytes:
        """The message body."""
        return self.version.to_bytes(2, "big") + vector(1, self.cookie)

    @classmethod
    def decode(cls, body: bytes) -> HelloVerifyRequest:
        """Parse a HelloVerifyRequest body."""
        r = Reader(body)
        version = r.uint(2, "server_version")
        cookie = r.vector(1, "cookie", 0, 255)
        r.end("HelloVerifyRequest")
        return cls(version, cookie)


@dataclass(frozen=True, slots=True)
class ServerHello:
    """RFC 5246 §7.4.1.3."""

    version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: dict[int, bytes]

    def encode(self) -> bytes:
        """The message body."""
        return (self.version.to_bytes(2, "big") + self.random + vector(1, self.session_id)
                + self.cipher_suite.to_bytes(2, "big") + bytes((self.compression_method,))
                + encode_extensions(self.extensions))

    @classmethod
    def decode(cls, body: bytes) -> ServerHello:
        """Parse a ServerHello body."""
        r = Reader(body)
        version = r.uint(2, "server_version")
        random = r.take(RANDOM_LENGTH, "random")
        session_id = r.vector(1, "session_id", 0, 32)
        suite = r.uint(2, "cipher_suite")
        compression = r.uint(1, "compression_method")
        extensions = decode_extensions(r.vector(2, "extensions")) if r.remaining else {}
        r.end("ServerHello")
        return cls(version, random, session_id, suite, compression, extensions)


@dataclass(frozen=True, slots=True)
class Certificate:
    """RFC 5246 §7.4.2: the DER certificates, sender's own first."""

    certificates: tuple[bytes, ...]

    def encode(self) -> bytes:
        """The message body."""
        return vector(3, b"".join(vector(3, c) for c in self.certificates))

    @classmethod
    def decode(cls, body: bytes) -> Certificate:
        """Parse a Certificate body."""
        r = Reader(body)
        inner = Reader(r.vector(3, "certificate_list"))
        r.end("Certificate")
        certificates = []
        while inner.remaining:
            certificates.append(inner.vector(3, "ASN.1Cert", 1))
        return cls(tuple(certificates))


@dataclass(frozen=True, slots=True)
class DigitallySigned:
    """RFC 5246 §4.7 ``digitally-signed`` with its SignatureAndHashAlgorithm."""

    scheme: int
    signature: bytes

    def encode(self) -> bytes:
        """The encoded struct."""
        return self.scheme.to_bytes(2, "big") + vector(2, self.signature)

    @classmethod
    def read(cls, r: Reader) -> DigitallySigned:
        """Read the struct from a reader."""
        scheme = r.uint(2, "signature algorithm")
        return cls(scheme, r.vector(2, "signature", 1))


@dataclass(frozen=True, slots=True)
class ServerKeyExchange:
    """RFC 8422 §5.4: ECDHE parameters over a named curve, signed."""

    group: int
    public: bytes
    signed: DigitallySigned

    def params(self) -> bytes:
        """``ServerECDHParams``: what the signature covers, after the two randoms."""
        return bytes((NAMED_CURVE,)) + self.group.to_bytes(2, "big") + vector(1, self.public)

    def encode(self) -> bytes:
        """The message body."""
        return self.params() + self.signed.encode()

    @classmethod
    def decode(cls, body: bytes) -> ServerKeyExchange:
        """Parse a ServerKeyExchange body."""
        r = Reader(body)
        curve_type = r.uint(1, "curve_type")
        if curve_type != NAMED_CURVE:
            raise DecodeError(f"ECCurveType {curve_type}, only named_curve(3) is allowed")
        group = r.uint(2, "namedcurve")
        public = r.vector(1, "ECPoint", 1)
        signed = DigitallySigned.read(r)
        r.end("ServerKeyExchange")
        return cls(group, public, signed)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """RFC 5246 §7.4.4."""

    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    authorities: bytes = b""

    def encode(self) -> bytes:
        """The message body."""
        return (vector(1, self.certificate_types) + uint16_list(self.signature_schemes)
                + vector(2, self.authorities))

    @classmethod
    def decode(cls, body: bytes) -> CertificateRequest:
        """Parse a CertificateRequest body."""
        r = Reader(body)
        types = r.vector(1, "certificate_types", 1)
        schemes = read_uint16_list(r.vector(2, "supported_signature_algorithms", 2),
                                   "supported_signature_algorithms")
        authorities = r.vector(2, "certificate_authorities")
        r.end("CertificateRequest")
        return cls(types, tuple(schemes), authorities)


@dataclass(frozen=True, slots=True)
class ClientKeyExchange:
    """RFC 8422 §5.7: the client's ephemeral ECDH public value."""

    public: bytes

    def encode(self) -> bytes:
        """The message body."""
        return vector(1, self.public)

    @classmethod
    def decode(cls, body: bytes) -> ClientKeyExchange:
        """Parse a ClientKeyExchange body."""
        r = Reader(body)
        public = r.vector(1, "ecdh_Yc", 1)
        r.end("ClientKeyExchange")
        return cls(public)


@dataclass(frozen=True, slots=True)
class CertificateVerify:
    """RFC 5246 §7.4.8."""

    signed: DigitallySigned

    def encode(self) -> bytes:
        """The message body."""
        return self.signed.encode()

    @classmethod
    def decode(cls, body: bytes) -> CertificateVerify:
        """Parse a CertificateVerify body."""
        r = Reader(body)
        signed = DigitallySigned.read(r)
        r.end("CertificateVerify")
        return cls(signed)


@dataclass(frozen=True, slots=True)
class Finished:
    """RFC 5246 §7.4.9."""

    verify_data: bytes

    def encode(self) -> bytes:
        """The message body."""
        return self.verify_data

    @classmethod
    def decode(cls, body: bytes) -> Finished:
        """Parse a Finished body (12 bytes for every suite here)."""
        if len(body) != 12:
            raise DecodeError(f"Finished of {len(body)} bytes, expected 12")
        return cls(body)


@dataclass(frozen=True, slots=True)
class EKTKey:
    """The EKTKey handshake message (RFC 8870 §5.2.2).

    ::

        struct { opaque ekt_key_value<1..256>; opaque srtp_master_salt<1..256>;
                 uint16 ekt_spi; uint24 ekt_ttl; } EKTKey;

    ``ekt_ttl`` is in seconds. The repr hides the key and the salt.
    """

    ekt_key_value: bytes = field(repr=False)
    srtp_master_salt: bytes = field(repr=False)
    ekt_spi: int
    ekt_ttl: int

    def __post_init__(self) -> None:
        if not 1 <= len(self.ekt_key_value) <= 256:
            raise ValueError("ekt_key_value must be 1..256 bytes")
        if not 1 <= len(self.srtp_master_salt) <= 256:
            raise ValueError("srtp_master_salt must be 1..256 bytes")
        if not 0 <= self.ekt_spi <= 0xFFFF:
            raise ValueError("ekt_spi is a uint16")
        if not 0 <= self.ekt_ttl <= 0xFFFFFF:
            raise ValueError("ekt_ttl is a uint24 (seconds)")

    def __repr__(self) -> str:
        return (f"EKTKey(ekt_key_value={redacted(self.ekt_key_value)}, "
                f"srtp_master_salt={redacted(self.srtp_master_salt)}, "
                f"ekt_spi={self.ekt_spi}, ekt_ttl={self.ekt_ttl})")

    def encode(self) -> bytes:
        """The message body."""
        # <1..256> needs a two-byte length (RFC 5246 §4.3).
        return (vector(2, self.ekt_key_value) + vector(2, self.srtp_master_salt)
                + self.ekt_spi.to_bytes(2, "big") + self.ekt_ttl.to_bytes(3, "big"))

    @classmethod
    def decode(cls, body: bytes) -> EKTKey:
        """Parse an EKTKey body."""
        r = Reader(body)
        key = r.vector(2, "ekt_key_value", 1, 256)
        salt = r.vector(2, "srtp_master_salt", 1, 256)
        spi = r.uint(2, "ekt_spi")
        ttl = r.uint(3, "ekt_ttl")
        r.end("EKTKey")
        return cls(key, salt, spi, ttl)


def empty_body(body: bytes, what: str) -> None:
    """ServerHelloDone and HelloRequest have empty bodies."""
    if body:
        raise DecodeError(f"{what} with a {len(body)}-byte body")
