"""One RFC 9185 tunnel connection, from either side, as a sans-I/O state machine.

A :class:`TunnelConnection` is fed the bytes its TLS stream delivers and returns events (the
messages the peer sent, :class:`TunnelOpened`, :class:`TunnelClosed`...); what it has to send
waits in :meth:`TunnelConnection.data_to_send`. It never touches a socket or a clock, so the
same object runs under Twisted (:mod:`sipperc.perc.tunnel_service`) and in tests.

Who may send what, and when, is one table (:data:`TRANSITIONS`):

- the Media Distributor sends ``SupportedProfiles`` first on every connection (RFC 9185 §5.3),
  then ``TunneledDtls`` and ``EndpointDisconnect``;
- the Key Distributor answers a version it does not support with ``UnsupportedVersion`` and
  closes (§5.5); otherwise it sends ``TunneledDtls``, ``MediaKeys`` and ``EndpointDisconnect``;
- the Media Distributor recognises ``UnsupportedVersion`` "from the first four octets", even
  if a later version gave the message a longer body (§5.5), and remembers the version.

Anything else, or a malformed message, closes the connection with a :class:`TunnelClosed` event
whose ``reason`` says what was wrong. Unassigned message types (6-255, §8) are skipped: their
length is known, and a later specification may define them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.perc.tunnel_messages import (
    PROTOCOL_VERSION,
    EndpointDisconnect,
    MediaKeys,
    MessageType,
    SupportedProfiles,
    TunnelDecodeError,
    TunneledDtls,
    TunnelError,
    TunnelMessage,
    TunnelMessageReader,
    UnsupportedVersion,
    decode_body,
    encode_message,
    message_type,
    type_of,
)

SUPPORTED_VERSIONS: tuple[int, ...] = (PROTOCOL_VERSION,)
"""The tunnel protocol versions this implementation speaks."""


class TunnelRole(enum.Enum):
    """Which end of the tunnel this connection is."""

    MEDIA_DISTRIBUTOR = "media-distributor"
    KEY_DISTRIBUTOR = "key-distributor"


class TunnelState(enum.Enum):
    """The life of one tunnel connection."""

    IDLE = "idle"  # the TLS connection is not up yet
    AWAITING_PROFILES = "awaiting-profiles"  # KD: nothing received yet
    AWAITING_FIRST_REPLY = "awaiting-first-reply"  # MD: profiles sent, nothing received yet
    OPEN = "open"
    CLOSED = "closed"


class TunnelInput(enum.Enum):
    """What can happen to a connection besides receiving a message."""

    CONNECTION_MADE = "connection-made"


_MD = TunnelRole.MEDIA_DISTRIBUTOR
_KD = TunnelRole.KEY_DISTRIBUTOR
_S = TunnelState
_M = MessageType

TRANSITIONS: dict[tuple[TunnelRole, TunnelState, TunnelInput | MessageType], TunnelState] = {
    (_MD, _S.IDLE, TunnelInput.CONNECTION_MADE): _S.AWAITING_FIRST_REPLY,
    (_KD, _S.IDLE, TunnelInput.CONNECTION_MADE): _S.AWAITING_PROFILES,
    # Received by the Key Distributor.
    (_KD, _S.AWAITING_PROFILES, _M.SUPPORTED_PROFILES): _S.OPEN,
    (_KD, _S.OPEN, _M.TUNNELED_DTLS): _S.OPEN,
    (_KD, _S.OPEN, _M.ENDPOINT_DISCONNECT): _S.OPEN,
    # Received by the Media Distributor.
    (_MD, _S.AWAITING_FIRST_REPLY, _M.UNSUPPORTED_VERSION): _S.CLOSED,
    (_MD, _S.AWAITING_FIRST_REPLY, _M.MEDIA_KEYS): _S.OPEN,
    (_MD, _S.AWAITING_FIRST_REPLY, _M.TUNNELED_DTLS): _S.OPEN,
    (_MD, _S.AWAITING_FIRST_REPLY, _M.ENDPOINT_DISCONNECT): _S.OPEN,
    (_MD, _S.OPEN, _M.MEDIA_KEYS): _S.OPEN,
    (_MD, _S.OPEN, _M.TUNNELED_DTLS): _S.OPEN,
    (_MD, _S.OPEN, _M.ENDPOINT_DISCONNECT): _S.OPEN,
}
"""``(role, state, what was received) -> next state``; a missing entry is a protocol error."""

SENDABLE: dict[TunnelRole, dict[TunnelState, frozenset[MessageType]]] = {
    _MD: {
        _S.AWAITING_FIRST_REPLY: frozenset({_M.TUNNELED_DTLS, _M.ENDPOINT_DISCONNECT}),
        _S.OPEN: frozenset({_M.TUNNELED_DTLS, _M.ENDPOINT_DISCONNECT}),
    },
    _KD: {
        _S.OPEN: frozenset({_M.TUNNELED_DTLS, _M.MEDIA_KEYS, _M.ENDPOINT_DISCONNECT}),
    },
}
"""What the application may send in each state (SupportedProfiles and UnsupportedVersion are
sent by the connection itself)."""


@dataclass(frozen=True, slots=True)
class TunnelOpened:
    """The Key Distributor accepted the Media Distributor's SupportedProfiles."""

    profiles: SupportedProfiles


@dataclass(frozen=True, slots=True)
class TunnelClosed:
    """The connection is over; ``error`` is True when a protocol failure ended it."""

    reason: str
    error: bool


@dataclass(frozen=True, slots=True)
class UnknownMessageIgnored:
    """A message of an unassigned type was skipped (RFC 9185 §8 leaves 6-255 for the future)."""

    msg_type: int
    length: int


TunnelEvent = (TunnelOpened | TunnelClosed | UnknownMessageIgnored | UnsupportedVersion
               | MediaKeys | TunneledDtls | EndpointDisconnect)


class TunnelConnection:
    """The tunnel protocol on one TLS connection, for one role.

    Use :meth:`media_distributor` or :meth:`key_distributor` to build one, call
    :meth:`connection_made` when the TLS connection is up, feed received bytes to
    :meth:`receive_data`, send with :meth:`send`, and write :meth:`data_to_send` to the
    connection after every call. When :attr:`state` is ``CLOSED`` the connection should be
    dropped once the pending bytes are written.
    """

    def __init__(self, role: TunnelRole, profiles: SupportedProfiles | None = None,
                 supported_versions: tuple[int, ...] = SUPPORTED_VERSIONS) -> None:
        if role is TunnelRole.MEDIA_DISTRIBUTOR and profiles is None:
            raise ValueError("a Media Distributor connection needs its SupportedProfiles")
        if not supported_versions:
            raise ValueError("at least one supported version is required")
        self.role = role
        self.state = TunnelState.IDLE
        self._own_profiles = profiles
        self._peer_profiles: SupportedProfiles | None = None
        self._versions = supported_versions
        self._reader = TunnelMessageReader()
        self._outgoing = bytearray()
        self.close_reason: TunnelClosed | None = None

    @classmethod
    def media_distributor(cls, profiles: SupportedProfiles) -> TunnelConnection:
        """The Media Distributor's end: it will open with ``profiles`` (and their version)."""
        return cls(TunnelRole.MEDIA_DISTRIBUTOR, profiles)

    @classmethod
    def key_distributor(cls, supported_versions: tuple[int, ...] = SUPPORTED_VERSIONS,
                        ) -> TunnelConnection:
        """The Key Distributor's end, accepting the given protocol versions."""
        return cls(TunnelRole.KEY_DISTRIBUTOR, supported_versions=supported_versions)

    # -- what the peer agreed to ----------------------------------------------------------------

    @property
    def profiles(self) -> SupportedProfiles | None:
        """The SupportedProfiles in force: sent (MD) or received (KD); None before that."""
        if self.role is TunnelRole.MEDIA_DISTRIBUTOR:
            return self._own_profiles
        return self._peer_profiles

    @property
    def is_open(self) -> bool:
        """True while the application may send messages."""
        return self.state in SENDABLE[self.role]

    # -- inputs ---------------------------------------------------------------------------------

    def connection_made(self) -> None:
        """The TLS connection is up; the Media Distributor queues its SupportedProfiles."""
        self.state = self._next(TunnelInput.CONNECTION_MADE)
        if self.role is TunnelRole.MEDIA_DISTRIBUTOR:
            assert self._own_profiles is not None
            self._outgoing += encode_message(self._own_profiles)

    def receive_data(self, data: bytes) -> list[TunnelEvent]:
        """Bytes from the TLS stream; returns what they mean, in order."""
        if self.state is TunnelState.CLOSED:
            return []
        if self.state is TunnelState.IDLE:
            return [self._fail("data received before the connection was made")]
        self._reader.feed(data)
        events: list[TunnelEvent] = []
        try:
            if self.state is TunnelState.AWAITING_FIRST_REPLY:
                rejection = self._unsupported_version_prefix()
                if rejection is not None:
                    return rejection
            for frame in self._reader.frames():
                events.extend(self._receive_frame(frame.msg_type, frame.body))
                if self.close_reason is not None:
                    break
        except TunnelDecodeError as exc:
            events.append(self._fail(str(exc)))
        return events

    def connection_lost(self, reason: str = "connection lost") -> list[TunnelEvent]:
        """The TLS connection went away; reports the close unless it was already reported."""
        if self.state is TunnelState.CLOSED:
            return []
        incomplete = len(self._reader.buffered)
        if incomplete:
            reason = f"{reason} (with {incomplete} bytes of an incomplete message)"
        return [self._close(reason, error=False)]

    def close(self, reason: str) -> TunnelClosed | None:
        """Close from this side (shutdown, or the application found the peer misbehaving)."""
        if self.state is TunnelState.CLOSED:
            return None
        return self._close(reason, error=False)

    # -- outputs --------------------------------------------------------------------------------

    def send(self, message: TunnelMessage) -> None:
        """Queue a message for the peer.

        Raises TunnelError if this role may not send it now, and ValueError for MediaKeys with
        a profile the Media Distributor did not offer or with keys that are not hop-by-hop halves.
        """
        kind = type_of(message)
        if kind not in SENDABLE[self.role].get(self.state, frozenset()):
            raise TunnelError(f"{self.role.value} cannot send {kind.name} "
                              f"while the tunnel is {self.state.value}")
        if isinstance(message, MediaKeys):
            peer = self._peer_profiles
            assert peer is not None
            if message.protection_profile not in peer.protection_profiles:
                raise ValueError(f"MediaKeys: profile 0x{message.protection_profile:04x} was not "
                                 "offered by the Media Distributor")
            message.check_hop_by_hop_lengths()
        self._outgoing += encode_message(message)

    def data_to_send(self) -> bytes:
        """The bytes to write to the TLS connection now (and forget)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # -- internals ------------------------------------------------------------------------------

    def _next(self, event: TunnelInput | MessageType) -> TunnelState:
        try:
            return TRANSITIONS[(self.role, self.state, event)]
        except KeyError:
            name = event.name
            raise TunnelDecodeError(
                f"{name} is not allowed from the {_peer(self.role)} "
                f"while the tunnel is {self.state.value}") from None

    def _unsupported_version_prefix(self) -> list[TunnelEvent] | None:
        """RFC 9185 §5.5: recognise UnsupportedVersion from its first four octets alone."""
        head = self._reader.buffered[:4]
        if not head or head[0] != MessageType.UNSUPPORTED_VERSION:
            return None
        if len(head) < 4:
            return []
        rejection = UnsupportedVersion(head[3])
        sent = self._own_profiles.version if self._own_profiles else PROTOCOL_VERSION
        closed = self._close(f"the Key Distributor does not support tunnel version {sent}; "
                             f"its highest is {rejection.highest_version}", error=True)
        return [rejection, closed]

    def _receive_frame(self, code: int, body: bytes) -> list[TunnelEvent]:
        kind = message_type(code)
        if kind is None:
            if self.state is TunnelState.AWAITING_PROFILES:
                raise TunnelDecodeError(f"unassigned msg_type {code} as the first message")
            return [UnknownMessageIgnored(code, len(body))]
        if kind is MessageType.SUPPORTED_PROFILES and self.state is TunnelState.AWAITING_PROFILES:
            version = body[0] if body else None
            if version is not None and version not in self._versions:
                return self._reject_version(version)
        next_state = self._next(kind)
        message = decode_body(kind, body)
        events: list[TunnelEvent] = []
        if isinstance(message, SupportedProfiles):
            self._peer_profiles = message
            events.append(TunnelOpened(message))
        else:
            # The table lets only MediaKeys, TunneledDtls and EndpointDisconnect get here.
            assert not isinstance(message, UnsupportedVersion)
            if isinstance(message, MediaKeys):
                self._check_media_keys(message)
            events.append(message)
        self.state = next_state
        return events

    def _check_media_keys(self, message: MediaKeys) -> None:
        assert self._own_profiles is not None
        if message.protection_profile not in self._own_profiles.protection_profiles:
            raise TunnelDecodeError(f"MediaKeys: profile 0x{message.protection_profile:04x} "
                                    "was not offered in SupportedProfiles")
        try:
            message.check_hop_by_hop_lengths()
        except ValueError as exc:
            raise TunnelDecodeError(f"MediaKeys: {exc}") from None

    def _reject_version(self, version: int) -> list[TunnelEvent]:
        highest = max(self._versions)
        self._outgoing += encode_message(UnsupportedVersion(highest))
        return [self._close(f"the Media Distributor asked for tunnel version {version}; "
                            f"highest supported is {highest}", error=True)]

    def _fail(self, reason: str) -> TunnelClosed:
        return self._close(reason, error=True)

    def _close(self, reason: str, error: bool) -> TunnelClosed:
        self.state = TunnelState.CLOSED
        self.close_reason = TunnelClosed(reason, error)
        return self.close_reason


def _peer(role: TunnelRole) -> str:
    return ("Key Distributor" if role is TunnelRole.MEDIA_DISTRIBUTOR
            else "Media Distributor")


__all__ = [
    "SENDABLE",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "TunnelClosed",
    "TunnelConnection",
    "TunnelEvent",
    "TunnelInput",
    "TunnelOpened",
    "TunnelRole",
    "TunnelState",
    "UnknownMessageIgnored",
]
