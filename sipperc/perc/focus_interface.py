"""The interface through which the call processing tells the Key Distributor whom to expect.

RFC 9185 §5.4 requires the Key Distributor to match each endpoint's DTLS certificate and
``external_session_id`` against the ``a=fingerprint`` and ``a=tls-id`` of the endpoint's SDP, and
leaves how those values reach it "outside the scope". This is sipperc's answer: a small protocol
of our own between the SIP focus (the conference's call processing) and the Key Distributor.

Trust. RFC 8871 §3 does not trust the call processing with media keys, so the interface is
built so that it cannot obtain any: the focus may only *announce* an expected participant and
*withdraw* one. The answer to an announcement is what the focus needs for its SDP answer and is
public anyway (the conference's Key Distributor fingerprint and the Key Distributor's tls-id
for that endpoint). No message carries a key, a salt or an SPI, and nothing the focus sends can
widen the conference policy: in a listed room an announcement of an unlisted endpoint is refused
on the spot, and every endpoint is checked again against the policy with the certificate it
shows in DTLS. What a malicious focus *can* do is what it could do anyway through signalling:
deny service (not announce, withdraw people), let in whoever it likes in an open room, and
assert identities, which is why identity entries in a policy are weaker than fingerprint ones.
The Key Distributor reports, per participant, whether it was admitted, refused (with the reason)
or has left, so the focus can keep its roster (RFC 4575) honest.

Transport. TLS 1.3 over TCP with both sides authenticated (:mod:`sipperc.perc.tunnel_tls`: the
Key Distributor pins the focus's certificate or trusts a CA, and the focus the Key
Distributor's), on a port of its own. Messages use the framing of RFC 9185 ``TunnelMessage`` (one
octet type, two octets body length, body in the RFC 8446 §3 presentation language)::

    struct { opaque hash_name<1..16>; opaque digest<1..64>; } FingerprintValue;  /* RFC 8122 */

    /* focus -> Key Distributor */
    Hello(1)        { uint8 version; opaque focus_name<0..255>; }        /* first, always */
    Announce(2)     { uint32 request_id; opaque room<1..64>; opaque participant_id<1..255>;
                      opaque tls_id<20..255>; opaque identity<0..1024>;
                      FingerprintValue fingerprints<1..2^16-1>; }
    Withdraw(3)     { uint32 request_id; opaque room<1..64>; opaque participant_id<1..255>; }

    /* Key Distributor -> focus */
    Welcome(16)     { uint8 version; opaque key_distributor_instance[16]; }
    Accepted(17)    { uint32 request_id; FingerprintValue key_distributor_fingerprint;
                      opaque key_distributor_tls_id<20..255>; }
    Refused(18)     { uint32 request_id; opaque reason<0..1024>; }
    Withdrawn(19)   { uint32 request_id; }
    ParticipantStatus(20) { opaque room<1..64>; opaque participant_id<1..255>;
                      uint8 status;  /* admitted(1), refused(2), left(3) */
                      opaque reason<0..1024>; }
    VersionRefused(21) { uint8 highest_version; }                        /* then close */

The version is 0. The focus sends Hello first on every connection; the Key Distributor answers
Welcome with a random identifier of its current run. Announcements live in the Key Distributor's
memory only, so the focus re-announces every participant it expects after each (re)connection,
and when ``key_distributor_instance`` changed (the Key Distributor restarted and lost its DTLS
associations) it re-INVITEs the conference's endpoints with the new Key Distributor tls-id it got
in the Accepted answers, so they handshake again (RFC 8842 §5: a new tls-id means a new
association). Malformed input closes the connection with a reason, as in the tunnel.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from sipperc.dtls import Fingerprint
from sipperc.dtls.alert import DecodeError
from sipperc.dtls.presentation import Reader, vector
from sipperc.perc.key_distributor import (
    AnnouncementAccepted,
    EndpointAdmitted,
    EndpointLeft,
    EndpointRefused,
    KeyDistributor,
    KeyDistributorAction,
    ParticipantAnnouncement,
)
from sipperc.perc.tunnel_messages import TunnelMessageReader

FOCUS_INTERFACE_VERSION = 0


class FocusInterfaceError(Exception):
    """Bytes on the focus interface that are not a well-formed message, or misuse."""


class FocusMessageType(enum.IntEnum):
    """Message types of the focus interface."""

    HELLO = 1
    ANNOUNCE = 2
    WITHDRAW = 3
    WELCOME = 16
    ACCEPTED = 17
    REFUSED = 18
    WITHDRAWN = 19
    PARTICIPANT_STATUS = 20
    VERSION_REFUSED = 21


class ParticipantState(enum.IntEnum):
    """What became of an announced participant."""

    ADMITTED = 1
    REFUSED = 2
    LEFT = 3


@dataclass(frozen=True, slots=True)
class Hello:
    """The focus's first message on every connection."""

    version: int = FOCUS_INTERFACE_VERSION
    focus_name: str = ""


@dataclass(frozen=True, slots=True)
class Announce:
    """Expect this participant (the values come from its SDP)."""

    request_id: int
    announcement: ParticipantAnnouncement


@dataclass(frozen=True, slots=True)
class Withdraw:
    """This participant's call is over (or a moderator removed it)."""

    request_id: int
    room: str
    participant_id: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """The Key Distributor accepts the version; ``instance`` changes when it restarts."""

    version: int
    instance: uuid.UUID


@dataclass(frozen=True, slots=True)
class Accepted:
    """Announcement accepted: the Key Distributor's values for the SDP answer."""

    request_id: int
    key_distributor_fingerprint: Fingerprint
    key_distributor_tls_id: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """Announcement refused (the call can be rejected now)."""

    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The withdrawal is done."""

    request_id: int


@dataclass(frozen=True, slots=True)
class ParticipantStatus:
    """What the Key Distributor did with an announced participant."""

    room: str
    participant_id: str
    state: ParticipantState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VersionRefused:
    """The Key Distributor does not speak the focus's version; it closes after this."""

    highest_version: int


FocusMessage = (Hello | Announce | Withdraw | Welcome | Accepted | Refused | Withdrawn
                | ParticipantStatus | VersionRefused)


@dataclass(frozen=True, slots=True)
class FocusInterfaceClosed:
    """The connection is over; ``error`` is True when a protocol failure ended it."""

    reason: str
    error: bool


FocusEvent = FocusMessage | FocusInterfaceClosed


# -- codec ------------------------------------------------------------------------------------


def encode_focus_message(message: FocusMessage) -> bytes:
    """The wire form of one message: type, body length, body."""
    kind, body = _encode_body(message)
    if len(body) > 0xFFFF:
        raise ValueError(f"{kind.name}: body of {len(body)} bytes does not fit")
    return bytes([kind]) + len(body).to_bytes(2, "big") + body


def _encode_body(message: FocusMessage) -> tuple[FocusMessageType, bytes]:
    if isinstance(message, Hello):
        return FocusMessageType.HELLO, bytes([message.version]) + _text(message.focus_name, 1)
    if isinstance(message, Announce):
        a = message.announcement
        fingerprints = b"".join(_fingerprint(fp) for fp in a.fingerprints)
        return FocusMessageType.ANNOUNCE, b"".join((
            message.request_id.to_bytes(4, "big"), _text(a.room, 1),
            _text(a.participant_id, 1), vector(1, a.tls_id), _text(a.identity or "", 2),
            vector(2, fingerprints)))
    if isinstance(message, Withdraw):
        return FocusMessageType.WITHDRAW, (message.request_id.to_bytes(4, "big")
                                           + _text(message.room, 1)
                                           + _text(message.participant_id, 1))
    if isinstance(message, Welcome):
        return FocusMessageType.WELCOME, bytes([message.version]) + message.instance.bytes
    if isinstance(message, Accepted):
        return FocusMessageType.ACCEPTED, (message.request_id.to_bytes(4, "big")
                                           + _fingerprint(message.key_distributor_fingerprint)
                                           + vector(1, message.key_distributor_tls_id))
    if isinstance(message, Refused):
        return FocusMessageType.REFUSED, (message.request_id.to_bytes(4, "big")
                                          + _text(message.reason, 2))
    if isinstance(message, Withdrawn):
        return FocusMessageType.WITHDRAWN, message.request_id.to_bytes(4, "big")
    if isinstance(message, ParticipantStatus):
        return FocusMessageType.PARTICIPANT_STATUS, (
            _text(message.room, 1) + _text(message.participant_id, 1)
            + bytes([message.state]) + _text(message.reason, 2))
    return FocusMessageType.VERSION_REFUSED, bytes([message.highest_version])


def decode_focus_body(kind: FocusMessageType, body: bytes) -> FocusMessage:
    """Parse a message body; FocusInterfaceError naming the field if malformed."""
    r = Reader(body)
    message: FocusMessage
    try:
        if kind is FocusMessageType.HELLO:
            message = Hello(r.uint(1, "version"), _read_text(r, 1, "focus_name", 0, 255))
        elif kind is FocusMessageType.ANNOUNCE:
            request_id = r.uint(4, "request_id")
            room = _read_text(r, 1, "room", 1, 64)
            participant = _read_text(r, 1, "participant_id", 1, 255)
            tls_id = r.vector(1, "tls_id", 20, 255)
            identity = _read_text(r, 2, "identity", 0, 1024)
            listed = Reader(r.vector(2, "fingerprints", 1))
            fingerprints = []
            while listed.remaining:
                fingerprints.append(_read_fingerprint(listed))
            message = Announce(request_id, ParticipantAnnouncement(
                room, participant, tls_id, tuple(fingerprints), identity or None))
        elif kind is FocusMessageType.WITHDRAW:
            message = Withdraw(r.uint(4, "request_id"), _read_text(r, 1, "room", 1, 64),
                               _read_text(r, 1, "participant_id", 1, 255))
        elif kind is FocusMessageType.WELCOME:
            message = Welcome(r.uint(1, "version"), uuid.UUID(bytes=r.take(16, "instance")))
        elif kind is FocusMessageType.ACCEPTED:
            message = Accepted(r.uint(4, "request_id"), _read_fingerprint(r),
                               r.vector(1, "key_distributor_tls_id", 20, 255))
        elif kind is FocusMessageType.REFUSED:
            message = Refused(r.uint(4, "request_id"), _read_text(r, 2, "reason", 0, 1024))
        elif kind is FocusMessageType.WITHDRAWN:
            message = Withdrawn(r.uint(4, "request_id"))
        elif kind is FocusMessageType.PARTICIPANT_STATUS:
            room = _read_text(r, 1, "room", 1, 64)
            participant = _read_text(r, 1, "participant_id", 1, 255)
            state = ParticipantState(r.uint(1, "status"))
            message = ParticipantStatus(room, participant, state,
                                        _read_text(r, 2, "reason", 0, 1024))
        else:
            message = VersionRefused(r.uint(1, "highest_version"))
        r.end("body")
    except DecodeError as exc:
        raise FocusInterfaceError(f"{kind.name}: {exc.message}") from None
    except ValueError as exc:
        raise FocusInterfaceError(f"{kind.name}: {exc}") from None
    return message


def _text(value: str, length_size: int) -> bytes:
    return vector(length_size, value.encode())


def _read_text(r: Reader, length_size: int, what: str, minimum: int, maximum: int) -> str:
    raw = r.vector(length_size, what, minimum, maximum)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise DecodeError(f"{what}: not UTF-8") from None


def _fingerprint(fingerprint: Fingerprint) -> bytes:
    return _text(fingerprint.hash_name, 1) + vector(1, fingerprint.digest)


def _read_fingerprint(r: Reader) -> Fingerprint:
    name = _read_text(r, 1, "hash_name", 1, 16)
    digest = r.vector(1, "digest", 1, 64)
    return Fingerprint.parse(f"{name} {digest.hex(':')}")


# -- one connection, either side -------------------------------------------------------------


class FocusRole(enum.Enum):
    """Which end of the focus interface this connection is."""

    FOCUS = "focus"
    KEY_DISTRIBUTOR = "key-distributor"


class FocusState(enum.Enum):
    """The life of one focus interface connection."""

    IDLE = "idle"
    AWAITING_HELLO = "awaiting-hello"  # Key Distributor
    AWAITING_WELCOME = "awaiting-welcome"  # focus
    OPEN = "open"
    CLOSED = "closed"


_F, _K = FocusRole.FOCUS, FocusRole.KEY_DISTRIBUTOR
_T = FocusMessageType

RECEIVABLE: dict[tuple[FocusRole, FocusState], frozenset[FocusMessageType]] = {
    (_K, FocusState.AWAITING_HELLO): frozenset({_T.HELLO}),
    (_K, FocusState.OPEN): frozenset({_T.ANNOUNCE, _T.WITHDRAW}),
    (_F, FocusState.AWAITING_WELCOME): frozenset({_T.WELCOME, _T.VERSION_REFUSED}),
    (_F, FocusState.OPEN): frozenset({_T.ACCEPTED, _T.REFUSED, _T.WITHDRAWN,
                                      _T.PARTICIPANT_STATUS}),
}
"""What each side accepts in each state; anything else closes the connection."""

SENDABLE: dict[tuple[FocusRole, FocusState], frozenset[FocusMessageType]] = {
    (_F, FocusState.AWAITING_WELCOME): frozenset({_T.ANNOUNCE, _T.WITHDRAW}),
    (_F, FocusState.OPEN): frozenset({_T.ANNOUNCE, _T.WITHDRAW}),
    (_K, FocusState.OPEN): frozenset({_T.ACCEPTED, _T.REFUSED, _T.WITHDRAWN,
                                      _T.PARTICIPANT_STATUS}),
}
"""What the application may send in each state (Hello, Welcome and VersionRefused are sent
by the connection itself)."""


class FocusInterfaceConnection:
    """The focus interface on one TLS connection, for one side (sans-I/O, like the tunnel)."""

    def __init__(self, role: FocusRole, *, focus_name: str = "",
                 instance: uuid.UUID | None = None,
                 supported_versions: tuple[int, ...] = (FOCUS_INTERFACE_VERSION,)) -> None:
        if role is FocusRole.KEY_DISTRIBUTOR and instance is None:
            raise ValueError("the Key Distributor's side needs its instance identifier")
        self.role = role
        self.state = FocusState.IDLE
        self.focus_name = focus_name
        self.instance = instance
        self.peer_instance: uuid.UUID | None = None
        self._versions = supported_versions
        self._reader = TunnelMessageReader()
        self._outgoing = bytearray()
        self._next_request = 1

    @property
    def is_open(self) -> bool:
        """True while the application may send."""
        return (self.role, self.state) in SENDABLE

    def connection_made(self) -> None:
        """TLS is up: the focus sends Hello."""
        if self.role is FocusRole.FOCUS:
            self.state = FocusState.AWAITING_WELCOME
            self._outgoing += encode_focus_message(Hello(max(self._versions), self.focus_name))
        else:
            self.state = FocusState.AWAITING_HELLO

    def receive_data(self, data: bytes) -> list[FocusEvent]:
        """Bytes from the TLS stream; the events they make, in order."""
        if self.state in (FocusState.CLOSED, FocusState.IDLE):
            return [] if self.state is FocusState.CLOSED else [
                self._close("data before the connection was made", True)]
        self._reader.feed(data)
        events: list[FocusEvent] = []
        try:
            for frame in self._reader.frames():
                events += self._receive(frame.msg_type, frame.body)
                if self._is_closed():
                    break
        except FocusInterfaceError as exc:
            events.append(self._close(str(exc), True))
        return events

    def connection_lost(self, reason: str = "connection lost") -> list[FocusEvent]:
        """The TLS connection went away."""
        if self.state is FocusState.CLOSED:
            return []
        return [self._close(reason, False)]

    def send(self, message: FocusMessage) -> None:
        """Queue a message (FocusInterfaceError if this side may not send it now)."""
        kind, _ = _encode_body(message)
        if kind not in SENDABLE.get((self.role, self.state), frozenset()):
            raise FocusInterfaceError(f"the {self.role.value} cannot send {kind.name} while "
                                      f"the connection is {self.state.value}")
        self._outgoing += encode_focus_message(message)

    def announce(self, announcement: ParticipantAnnouncement) -> int:
        """Focus side: announce a participant; returns the request id its answer will carry."""
        request_id = self._request_id()
        self.send(Announce(request_id, announcement))
        return request_id

    def withdraw(self, room: str, participant_id: str) -> int:
        """Focus side: withdraw a participant; returns the request id."""
        request_id = self._request_id()
        self.send(Withdraw(request_id, room, participant_id))
        return request_id

    def data_to_send(self) -> bytes:
        """The bytes to write now."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def _request_id(self) -> int:
        request_id = self._next_request
        self._next_request = self._next_request % 0xFFFFFFFF + 1
        return request_id

    def _receive(self, code: int, body: bytes) -> list[FocusEvent]:
        try:
            kind = FocusMessageType(code)
        except ValueError:
            raise FocusInterfaceError(f"unknown message type {code}") from None
        if kind not in RECEIVABLE.get((self.role, self.state), frozenset()):
            peer = "Key Distributor" if self.role is FocusRole.FOCUS else "focus"
            raise FocusInterfaceError(f"{kind.name} is not allowed from the {peer} while the "
                                      f"connection is {self.state.value}")
        if kind is FocusMessageType.HELLO and body and body[0] not in self._versions:
            highest = max(self._versions)
            self._outgoing += encode_focus_message(VersionRefused(highest))
            return [self._close(f"the focus asked for version {body[0]}; highest supported "
                                f"is {highest}", True)]
        message = decode_focus_body(kind, body)
        if isinstance(message, Hello):
            assert self.instance is not None
            self._outgoing += encode_focus_message(Welcome(message.version, self.instance))
            self.state = FocusState.OPEN
        elif isinstance(message, Welcome):
            self.peer_instance = message.instance
            self.state = FocusState.OPEN
        elif isinstance(message, VersionRefused):
            return [message, self._close(f"the Key Distributor's highest version is "
                                         f"{message.highest_version}", True)]
        return [message]

    def _is_closed(self) -> bool:
        return self.state is FocusState.CLOSED

    def _close(self, reason: str, error: bool) -> FocusInterfaceClosed:
        self.state = FocusState.CLOSED
        return FocusInterfaceClosed(reason, error)


# -- the Key Distributor's side, applied to its key logic ----------------------------------------


class FocusInterfaceServer:
    """Applies one focus connection's requests to the :class:`KeyDistributor`.

    Feed it the connection's bytes with :meth:`receive_data`; it answers the focus itself and
    returns the key logic's actions (a withdrawal closes associations and may rekey). Pass every
    action of the key logic to :meth:`notify` so the focus hears who was admitted, refused or
    left.
    """

    def __init__(self, key_distributor: KeyDistributor, instance: uuid.UUID) -> None:
        self.key_distributor = key_distributor
        self.connection = FocusInterfaceConnection(FocusRole.KEY_DISTRIBUTOR,
                                                   instance=instance)
        self._participants: set[tuple[str, str]] = set()

    def connection_made(self) -> None:
        """TLS is up."""
        self.connection.connection_made()

    def receive_data(self, data: bytes, now: float) -> tuple[list[KeyDistributorAction],
                                                              FocusInterfaceClosed | None]:
        """Handle the focus's bytes; returns the key logic's actions, and the close if any."""
        actions: list[KeyDistributorAction] = []
        closed: FocusInterfaceClosed | None = None
        for event in self.connection.receive_data(data):
            if isinstance(event, Announce):
                result = self.key_distributor.announce(event.announcement, now)
                if isinstance(result, AnnouncementAccepted):
                    self._participants.add((result.room, result.participant_id))
                    self.connection.send(Accepted(event.request_id,
                                                  result.key_distributor_fingerprint,
                                                  result.key_distributor_tls_id))
                else:
                    self.connection.send(Refused(event.request_id, result.reason))
            elif isinstance(event, Withdraw):
                actions += self.key_distributor.withdraw(event.room, event.participant_id, now)
                self._participants.discard((event.room, event.participant_id))
                self.connection.send(Withdrawn(event.request_id))
            elif isinstance(event, FocusInterfaceClosed):
                closed = event
        return actions, closed

    def notify(self, actions: list[KeyDistributorAction]) -> None:
        """Tell the focus what became of the participants it announced."""
        if not self.connection.is_open:
            return
        for action in actions:
            status: ParticipantStatus | None = None
            if isinstance(action, EndpointAdmitted) and action.joined:
                status = ParticipantStatus(action.room, action.participant_id,
                                           ParticipantState.ADMITTED)
            elif isinstance(action, EndpointRefused) and action.room and action.participant_id:
                status = ParticipantStatus(action.room, action.participant_id,
                                           ParticipantState.REFUSED, action.reason)
            elif isinstance(action, EndpointLeft):
                status = ParticipantStatus(action.room, action.participant_id,
                                           ParticipantState.LEFT)
            if status is not None and (status.room, status.participant_id) in self._participants:
                self.connection.send(status)

    def data_to_send(self) -> bytes:
        """The bytes to write to the focus now."""
        return self.connection.data_to_send()
