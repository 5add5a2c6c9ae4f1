"""The messages of the DTLS tunnel between Media Distributor and Key Distributor (RFC 9185 §6).

Each message travels inside the TLS stream as a ``TunnelMessage``: a one-octet ``msg_type``, a
two-octet body ``length`` and the body, all in the RFC 8446 §3 presentation language
(big-endian, vectors prefixed with their length)::

    enum { supported_profiles(1), unsupported_version(2), media_keys(3),
           tunneled_dtls(4), endpoint_disconnect(5), (255) } MsgType;

This module holds the messages as frozen values and the codec (:func:`encode_message`,
:class:`TunnelMessageReader`); who may send what, and when, is :mod:`sipperc.perc.tunnel`.
Malformed input raises :class:`TunnelDecodeError`, naming the field that is wrong.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipperc.dtls.alert import DecodeError
from sipperc.dtls.presentation import Reader, read_uint16_list, uint16_list, vector
from sipperc.keymaterial import redacted
from sipperc.srtp import Profile

PROTOCOL_VERSION = 0
"""The tunnel protocol version RFC 9185 §6.2 specifies (0x00)."""

HEADER_LENGTH = 3
MAX_BODY_LENGTH = 0xFFFF
UUID_LENGTH = 16
MAX_DTLS_MESSAGE_LENGTH = MAX_BODY_LENGTH - UUID_LENGTH - 2
"""The largest ``dtls_message`` that fits a TunneledDtls body under the 16-bit ``length``."""


class TunnelError(Exception):
    """A tunnel protocol failure."""


class TunnelDecodeError(TunnelError):
    """Bytes from the peer that are not a well-formed tunnel message."""


class MessageType(enum.IntEnum):
    """``MsgType`` (RFC 9185 §6.1, IANA "DTLS Tunnel Protocol Message Types"); 0 is reserved."""

    SUPPORTED_PROFILES = 1
    UNSUPPORTED_VERSION = 2
    MEDIA_KEYS = 3
    TUNNELED_DTLS = 4
    ENDPOINT_DISCONNECT = 5


def new_association_id() -> uuid.UUID:
    """A fresh association identifier: a random (version 4) UUID, as RFC 9185 §5.3 requires."""
    return uuid.uuid4()


@dataclass(frozen=True, slots=True)
class SupportedProfiles:
    """The SRTP protection profiles the Media Distributor can handle (RFC 9185 §6.2).

    Always the first message on a tunnel connection, from the Media Distributor. Code points are
    kept as integers so a profile this implementation does not know still round-trips;
    :attr:`profiles` gives the known ones.
    """

    protection_profiles: tuple[int, ...]
    version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 8)
        if not self.protection_profiles:
            raise ValueError("protection_profiles: at least one profile is required")
        if len(self.protection_profiles) * 2 > MAX_BODY_LENGTH - 3:
            raise ValueError("protection_profiles: too many profiles for one message")
        for code in self.protection_profiles:
            _check_uint("protection profile", code, 16)

    @classmethod
    def of(cls, profiles: Iterable[Profile], version: int = PROTOCOL_VERSION) -> SupportedProfiles:
        """The message advertising ``profiles``, in the given order of preference."""
        return cls(tuple(profile.dtls_id for profile in profiles), version)

    @property
    def profiles(self) -> tuple[Profile, ...]:
        """The advertised profiles this implementation knows, in the advertised order."""
        known = {profile.value for profile in Profile}
        return tuple(Profile(code) for code in self.protection_profiles if code in known)


@dataclass(frozen=True, slots=True)
class UnsupportedVersion:
    """The Key Distributor's refusal of the tunnel version, with its highest one (RFC 9185 §6.3)."""

    highest_version: int

    def __post_init__(self) -> None:
        _check_uint("highest_version", self.highest_version, 8)


@dataclass(frozen=True, slots=True)
class MediaKeys:
    """The hop-by-hop keying material of one endpoint's association (RFC 9185 §6.4).

    For a double profile the keys and salts are the outer halves only, so half the length the
    profile normally has (RFC 9185 §5.4, RFC 8723 §3). Keys and salts never appear in ``repr``.
    """

    association_id: uuid.UUID
    protection_profile: int
    client_write_master_key: bytes
    server_write_master_key: bytes
    client_write_master_salt: bytes
    server_write_master_salt: bytes
    mki: bytes = b""

    def __post_init__(self) -> None:
        _check_uint("protection_profile", self.protection_profile, 16)
        if len(self.mki) > 255:
            raise ValueError(f"mki: at most 255 bytes, got {len(self.mki)}")
        for name in ("client_write_master_key", "server_write_master_key",
                     "client_write_master_salt", "server_write_master_salt"):
            length = len(getattr(self, name))
            if not 1 <= length <= 255:
                raise ValueError(f"{name}: expected 1 to 255 bytes, got {length}")

    def __repr__(self) -> str:
        return (f"MediaKeys(association_id={self.association_id}, "
                f"protection_profile=0x{self.protection_profile:04x}, "
                f"client_write_master_key={redacted(self.client_write_master_key)}, "
                f"server_write_master_key={redacted(self.server_write_master_key)}, "
                f"client_write_master_salt={redacted(self.client_write_master_salt)}, "
                f"server_write_master_salt={redacted(self.server_write_master_salt)}, "
                f"mki={redacted(self.mki)})")

    def check_hop_by_hop_lengths(self) -> None:
        """Raise ValueError unless the keys and salts are the outer halves of a double profile.

        RFC 9185 §5.4: the key length advertised is "half the length of the key normally
        associated with the selected 'double' protection profile".
        """
        try:
            profile = Profile.from_dtls_id(self.protection_profile)
        except ValueError:
            raise ValueError(
                f"protection_profile: unknown profile 0x{self.protection_profile:04x}") from None
        if not profile.is_double:
            raise ValueError(f"protection_profile: {profile.name} is not a double profile")
        key_length = profile.master_key_length // 2
        salt_length = profile.master_salt_length // 2
        for name, expected in (("client_write_master_key", key_length),
                               ("server_write_master_key", key_length),
                               ("client_write_master_salt", salt_length),
                               ("server_write_master_salt", salt_length)):
            actual = len(getattr(self, name))
            if actual != expected:
                raise ValueError(f"{name}: {profile.name} carries {expected} bytes hop-by-hop, "
                                 f"got {actual}")


@dataclass(frozen=True, slots=True)
class TunneledDtls:
    """One or more whole DTLS records to or from an endpoint (RFC 9185 §6.5)."""

    association_id: uuid.UUID
    dtls_message: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.dtls_message) <= MAX_DTLS_MESSAGE_LENGTH:
            raise ValueError(f"dtls_message: expected 1 to {MAX_DTLS_MESSAGE_LENGTH} bytes, "
                             f"got {len(self.dtls_message)}")

    def __repr__(self) -> str:
        return (f"TunneledDtls(association_id={self.association_id}, "
                f"dtls_message=<{len(self.dtls_message)} bytes>)")


@dataclass(frozen=True, slots=True)
class EndpointDisconnect:
    """The endpoint of an association is gone (RFC 9185 §6.6); sent in both directions."""

    association_id: uuid.UUID


TunnelMessage = (SupportedProfiles | UnsupportedVersion | MediaKeys | TunneledDtls
                 | EndpointDisconnect)


def type_of(message: TunnelMessage) -> MessageType:
    """The ``msg_type`` that carries this message."""
    if isinstance(message, SupportedProfiles):
        return MessageType.SUPPORTED_PROFILES
    if isinstance(message, UnsupportedVersion):
        return MessageType.UNSUPPORTED_VERSION
    if isinstance(message, MediaKeys):
        return MessageType.MEDIA_KEYS
    if isinstance(message, TunneledDtls):
        return MessageType.TUNNELED_DTLS
    return MessageType.ENDPOINT_DISCONNECT


def encode_message(message: TunnelMessage) -> bytes:
    """The wire form of one ``TunnelMessage``: type, body length, body."""
    body: bytes
    if isinstance(message, SupportedProfiles):
        body = bytes([message.version]) + uint16_list(message.protection_profiles)
    elif isinstance(message, UnsupportedVersion):
        body = bytes([message.highest_version])
    elif isinstance(message, MediaKeys):
        body = b"".join((
            message.association_id.bytes,
            message.protection_profile.to_bytes(2, "big"),
            vector(1, message.mki),
            vector(1, message.client_write_master_key),
            vector(1, message.server_write_master_key),
            vector(1, message.client_write_master_salt),
            vector(1, message.server_write_master_salt),
        ))
    elif isinstance(message, TunneledDtls):
        body = message.association_id.bytes + vector(2, message.dtls_message)
    else:
        body = message.association_id.bytes
    return bytes([type_of(message)]) + len(body).to_bytes(2, "big") + body


def decode_body(msg_type: MessageType, body: bytes) -> TunnelMessage:
    """Parse the body of a message whose type is known; TunnelDecodeError if malformed."""
    reader = Reader(body)
    message: TunnelMessage
    try:
        if msg_type is MessageType.SUPPORTED_PROFILES:
            version = reader.uint(1, "version")
            profiles = reader.vector(2, "protection_profiles", minimum=2)
            codes = tuple(read_uint16_list(profiles, "protection_profiles"))
            message = SupportedProfiles(codes, version)
        elif msg_type is MessageType.UNSUPPORTED_VERSION:
            message = UnsupportedVersion(reader.uint(1, "highest_version"))
        elif msg_type is MessageType.MEDIA_KEYS:
            association = _association_id(reader)
            profile = reader.uint(2, "protection_profile")
            mki = reader.vector(1, "mki")
            keys = [reader.vector(1, name, minimum=1) for name in (
                "client_write_SRTP_master_key", "server_write_SRTP_master_key",
                "client_write_SRTP_master_salt", "server_write_SRTP_master_salt")]
            message = MediaKeys(association, profile, keys[0], keys[1], keys[2], keys[3], mki)
        elif msg_type is MessageType.TUNNELED_DTLS:
            association = _association_id(reader)
            message = TunneledDtls(association, reader.vector(2, "dtls_message", minimum=1))
        else:
            message = EndpointDisconnect(_association_id(reader))
        reader.end("body")
    except DecodeError as exc:
        raise TunnelDecodeError(f"{msg_type.name}: {exc.message}") from None
    except ValueError as exc:
        raise TunnelDecodeError(f"{msg_type.name}: {exc}") from None
    return message


def _association_id(reader: Reader) -> uuid.UUID:
    return uuid.UUID(bytes=reader.take(UUID_LENGTH, "association_id"))


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A framed message as read from the stream, before its body is interpreted."""

    msg_type: int
    body: bytes = field(repr=False)


class TunnelMessageReader:
    """Splits the TLS byte stream into ``TunnelMessage`` frames.

    Feed whatever the TLS layer delivers; :meth:`frames` returns every complete frame so far and
    keeps the remainder. A frame holds at most 3 + 65535 bytes, so the buffer stays bounded.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        self._buffer += data

    @property
    def buffered(self) -> bytes:
        """The bytes received but not yet returned as a frame."""
        return bytes(self._buffer)

    def frames(self) -> list[RawMessage]:
        """Every complete frame in the buffer, in order."""
        found: list[RawMessage] = []
        while len(self._buffer) >= HEADER_LENGTH:
            length = int.from_bytes(self._buffer[1:3], "big")
            end = HEADER_LENGTH + length
            if len(self._buffer) < end:
                break
            found.append(RawMessage(self._buffer[0], bytes(self._buffer[HEADER_LENGTH:end])))
            del self._buffer[:end]
        return found


def message_type(code: int) -> MessageType | None:
    """The known message type with this code, None for an unassigned one.

    Code 0 is reserved (RFC 9185 §8) and is malformed, not merely unknown.
    """
    if code == 0:
        raise TunnelDecodeError("msg_type 0 is reserved")
    try:
        return MessageType(code)
    except ValueError:
        return None


def _check_uint(name: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ValueError(f"{name}: expected an unsigned {bits}-bit integer, got {value!r}")
