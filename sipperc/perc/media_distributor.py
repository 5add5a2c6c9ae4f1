"""The Media Distributor: forwards media it can only hop-by-hop decrypt (RFC 8871 §3, sans-I/O).

One object serves every room of a Media Distributor process. Each room has its own UDP port
(the SIP focus puts that port in its SDP answers), so the port a datagram arrives on says which
conference it belongs to; on that port all the room's endpoints are told apart by their
address (the 5-tuple). The edge feeds :meth:`MediaDistributor.datagram_received` and the
tunnel's messages and writes what comes back: datagrams ``(port, address, bytes)`` and
:class:`ToKeyDistributor` messages; events report the roster.

**Demultiplexing** (RFC 7983 §7, :func:`sipperc.dtls.classify`): DTLS, RTP and RTCP share the
port. DTLS is relayed to the Key Distributor as TunneledDtls (RFC 9185 §5.3): a ClientHello
from an address with no association, or with a ``random`` other than the current
association's (a new handshake), starts a new association with a random UUIDv4; every other
DTLS record goes on the current one, and the Key Distributor's records go back to the address
of their association.

**Keys.** The Media Distributor only ever holds hop-by-hop keys: MediaKeys carries the outer
halves, checked to be half the profile's length (RFC 9185 §5.4). Per endpoint it keeps two
:class:`~sipperc.srtp.HopByHopSession` objects: the endpoint's ``client_write`` half to open
what it sends, and its ``server_write`` half to protect what it receives, so no packet is ever
re-encrypted under its sender's key (RFC 8723 §5.2, §9). A re-handshake's new keys replace the
old ones; the old inbound keys still open packets already in flight for a couple of seconds,
and the superseded association is ended at the Key Distributor (EndpointDisconnect) only once
the new one is keyed, so a re-handshake is not a departure.

**Forwarding** (RFC 8723 §5.2): each RTP packet is outer-decrypted, its RFC 6464 audio level
read from the (hop-by-hop) header extension, and :class:`~sipperc.perc.switching.MediaSwitch`
decides who gets a copy and with which SEQ/PT/M; each copy is outer-encrypted for its receiver
with the OHB recording the original values and the EKT field carried through unchanged.

**Copies as they are taken.** With ``lazy=True`` :meth:`MediaDistributor.datagram_received`
returns a packet's copies as one :class:`FanOut`, which encrypts each copy only when the edge
takes it: the edge can start sending (or hand copies to another process) while the rest are
still being encrypted, so the first receivers do not wait for the last one's encryption. The
switching decisions are made before it returns; the edge must take the copies before it
feeds the next datagram. Without ``lazy`` the copies come as datagrams in the list.

**RTCP is hop-by-hop** (RFC 8723 §6, RFC 8871 §4.4): what endpoints send is terminated here.
Sender reports are used for the hop's round-trip time and passed on (sender information only)
to the receivers that get the sender's stream; receiver reports about other sources end here;
RTCP BYE is passed on to the room. NACK and PLI (RFC 4585) go to the sender of the stream they
name, under that sender's keys, a NACK's sequence numbers translated back from the receiver's
(rewritten) numbering. Every ``rtcp_interval`` each endpoint gets a receiver report from the
Media Distributor about the streams it sends (loss and jitter as received here, LSR/DLSR for
its RTT, RFC 3550 §6.4.2): RTCP is terminated and regenerated (RFC 7667 §3.7).

**Endpoint loss.** An endpoint from which nothing arrives for the room's ``silence_timeout``
is reported to the Key Distributor as gone (EndpointDisconnect, RFC 9185 §5.3) and removed
from the roster; so is one whose DTLS handshake does not produce keys within
``handshake_timeout``.

**Restart recovery.** After a Media Distributor restart the Key Distributor re-sends the
MediaKeys of every endpoint it still has keys for (it re-adopts them, see
:mod:`sipperc.perc.key_distributor_associations`), but the new process no longer knows which
address goes with which association. Such *unbound* keys are tried on packets from unknown
addresses of a room, at a bounded rate; the first key under which a packet authenticates binds
that address to that association, and forwarding resumes without any new handshake.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import secrets
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sipperc.dtls import DtlsAlertError, external_session_id, initial_client_hello
from sipperc.media.reception import ReceptionStatistics, ntp_short
from sipperc.perc.switching import (
    ConferenceStatistics,
    EndpointSilent,
    Forward,
    KeyframeNeeded,
    MediaKind,
    MediaSwitch,
    ParticipantStatistics,
    RtpPacketInfo,
    SpeakersChanged,
    SsrcConflict,
    SwitchEvent,
    SwitchingConfig,
    TalkingChanged,
)
from sipperc.perc.tunnel_messages import (
    EndpointDisconnect,
    MediaKeys,
    TunneledDtls,
    new_association_id,
)
from sipperc.rtp import (
    PSFB,
    RTPFB,
    FeedbackMessage,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtpError,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    find_audio_level,
    parse_rtcp,
    serialize_rtcp,
)
from sipperc.srtp import HopByHopSession, Profile, RelayedPacket, SrtpError

PortKey = Hashable
"""How the edge names one room's UDP port."""
Address = tuple[str, int]
Datagram = tuple[PortKey, Address, bytes]
"""A datagram to send: from which port, to which address, what."""
_Opened = TypeVar("_Opened", RelayedPacket, bytes)

MAX_REPORT_BLOCKS = 31
MAX_ROC_GUESS = 7
"""Restart recovery finds streams that wrapped up to 7 times (about 2.5 hours at 50 pps)."""
MAX_BINDING_ADDRESSES = 10_000
GENERIC_NACK = 1
PLI = 1
STATIC_CLOCK_RATES = {0: 8000, 3: 8000, 4: 8000, 5: 8000, 7: 8000, 8: 8000, 9: 8000,
                      12: 8000, 13: 8000, 15: 8000, 18: 8000}
"""RFC 3551 §6 audio payload types; dynamic ones default to 48000 (Opus)."""


class DropReason(enum.Enum):
    """Why a datagram was not forwarded (counted in the statistics)."""

    UNKNOWN_SOURCE = "unknown source"
    NOT_KEYED = "endpoint not keyed yet"
    AUTHENTICATION = "failed hop-by-hop authentication"
    MALFORMED = "malformed"
    NO_TUNNEL = "no tunnel to the Key Distributor"
    NOT_FORWARDED = "not selected or nobody to forward to"
    UNSUPPORTED = "STUN/ZRTP/TURN or unknown"

    # Members are singletons compared by identity, so identity hashing is right, and it is done
    # in C: Enum's own __hash__ is Python, and every silent participant's packet is counted.
    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """One conference on this Media Distributor.

    ``audio_level_id`` is the ``a=extmap`` id the focus negotiates for RFC 6464 in this room
    (None: no levels, the first ``last_n`` senders are forwarded); ``vad`` False if it was
    negotiated with ``vad=off``; ``clock_rates`` maps payload types to RTP clock rates for the
    jitter in regenerated reports.
    """

    room: str
    switching: SwitchingConfig = field(default_factory=SwitchingConfig)
    audio_level_id: int | None = 1
    vad: bool = True
    clock_rates: Mapping[int, int] = field(default_factory=dict)
    max_endpoints: int = 1000

    def clock_rate(self, payload_type: int) -> int:
        """The RTP clock rate of a payload type in this room."""
        rate = self.clock_rates.get(payload_type)
        if rate is not None:
            return rate
        return STATIC_CLOCK_RATES.get(payload_type, 48000)


# -- outputs and events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToKeyDistributor:
    """Send this message through the tunnel."""

    message: TunneledDtls | EndpointDisconnect


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    """An endpoint's hop-by-hop keys are installed: it is forwarded to and from now on."""

    room: str
    participant: str
    address: Address
    association_id: uuid.UUID
    recovered: bool = False
    """True when the keys came from the Key Distributor after a restart of this process."""


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    """An endpoint is no longer in the room; ``reason`` says why."""

    room: str
    participant: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoomSwitchEvent:
    """Something the room's switching decided (speakers changed, an SSRC conflict)."""

    room: str
    event: SwitchEvent


class FanOut:
    """One received RTP packet's copies for its receivers, encrypted one by one as iterated.

    ``len()`` is the number of copies; iterating yields each as a :data:`Datagram`, outer-
    encrypted under its receiver's hop-by-hop key with the SEQ/PT/M the switching chose
    (RFC 8723 §5.2). Iterate it once, before feeding the Media Distributor anything else.
    """

    __slots__ = ("_forwards", "_marker", "_members", "_payload_type", "_relayed")

    def __init__(self, relayed: RelayedPacket, forwards: tuple[Forward, ...],
                 members: Mapping[str, _Endpoint]) -> None:
        self._relayed = relayed
        self._forwards = forwards
        self._members = members
        self._payload_type = relayed.payload_type
        self._marker = relayed.marker

    def __len__(self) -> int:
        return len(self._forwards)

    def __repr__(self) -> str:
        return f"<FanOut of {self._relayed!r} to {len(self._forwards)} receivers>"

    def __iter__(self) -> Iterator[Datagram]:
        relayed = self._relayed
        members = self._members
        payload_type = self._payload_type
        marker = self._marker
        for name, copy_sequence, copy_type, copy_marker in self._forwards:
            receiver = members[name]
            outbound = receiver.outbound
            assert outbound is not None
            yield (receiver.port, receiver.address, outbound.send(
                relayed, sequence_number=copy_sequence,
                payload_type=copy_type if copy_type != payload_type else None,
                marker=copy_marker if copy_marker != marker else None))


@dataclass(frozen=True, slots=True)
class SpeakerTalking:
    """The endpoint whose ClientHello carried ``tls_id`` started or stopped talking.

    The endpoint is named by its ``a=tls-id`` (RFC 8842; ``external_session_id``, RFC 8844
    §4.3), which is public (it is in the endpoint's SDP) and which the focus knows: so the
    focus can flag the right roster entry while the Media Distributor never learns a SIP
    identity, and a NAT between them changes nothing.
    """

    room: str
    tls_id: bytes
    talking: bool


DistributorEvent = ParticipantJoined | ParticipantLeft | RoomSwitchEvent | SpeakerTalking
Output = Datagram | ToKeyDistributor | DistributorEvent | FanOut
"""What the core asks of the edge; a :class:`FanOut` only where ``lazy=True`` was asked."""


@dataclass(frozen=True, slots=True)
class DistributorStatistics:
    """Counters of the whole Media Distributor and every room."""

    rooms: dict[str, ConferenceStatistics]
    participants: dict[str, tuple[ParticipantStatistics, ...]]
    datagrams_received: int
    datagrams_sent: int
    dtls_relayed: int
    dropped: dict[DropReason, int]
    recovered_bindings: int


# -- state ---------------------------------------------------------------------------------------


class _Endpoint:
    __slots__ = ("address", "association", "cname", "created_at", "hello_random", "inbound",
                 "joined", "last_sr", "name", "outbound", "port", "previous_inbound",
                 "previous_until", "reception", "room", "superseded", "tls_id")

    def __init__(self, room: _Room, port: PortKey, address: Address, association: uuid.UUID,
                 now: float) -> None:
        self.room = room
        self.port = port
        self.address = address
        self.name = f"{address[0]}:{address[1]}"
        self.association = association
        self.superseded: uuid.UUID | None = None
        self.hello_random: bytes | None = None
        self.tls_id: bytes | None = None
        """The ``external_session_id`` of its last ClientHello (RFC 8844): its ``a=tls-id``."""
        self.inbound: HopByHopSession | None = None
        self.outbound: HopByHopSession | None = None
        self.previous_inbound: HopByHopSession | None = None
        self.previous_until = 0.0
        self.joined = False
        self.created_at = now
        self.reception: dict[int, ReceptionStatistics] = {}
        self.last_sr: dict[int, tuple[int, float]] = {}
        self.cname: bytes | None = None


class _Room:
    __slots__ = ("config", "endpoints", "members", "owners", "port", "switch")

    def __init__(self, config: RoomConfig, port: PortKey) -> None:
        self.config = config
        self.port = port
        self.switch = MediaSwitch(config.switching)
        self.endpoints: dict[Address, _Endpoint] = {}
        self.members: dict[str, _Endpoint] = {}
        self.owners: dict[int, _Endpoint] = {}


@dataclass(slots=True)
class _Unbound:
    inbound: HopByHopSession
    outbound: HopByHopSession
    expires_at: float


class MediaDistributor:
    """Every room of one Media Distributor (see the module docstring)."""

    def __init__(self, rooms: Mapping[PortKey, RoomConfig], profiles: Sequence[Profile], *,
                 now: float, rtcp_interval: float = 5.0, handshake_timeout: float = 30.0,
                 unbound_lifetime: float = 60.0,
                 binding_trials_per_second: float = 200_000.0,
                 previous_keys_lifetime: float = 2.0, ssrc: int | None = None) -> None:
        if not rooms:
            raise ValueError("a Media Distributor needs at least one room")
        names = [config.room for config in rooms.values()]
        if len(set(names)) != len(names):
            raise ValueError("each room needs its own port")
        if not profiles or not all(p.is_double for p in profiles):
            raise ValueError("a Media Distributor forwards the RFC 8723 double profiles only")
        if rtcp_interval <= 0 or handshake_timeout <= 0:
            raise ValueError("rtcp_interval and handshake_timeout must be positive")
        self.profiles = tuple(profiles)
        self.rtcp_interval = rtcp_interval
        self.handshake_timeout = handshake_timeout
        self.unbound_lifetime = unbound_lifetime
        self.binding_trials_per_second = binding_trials_per_second
        self.previous_keys_lifetime = previous_keys_lifetime
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.cname = f"sipperc-md-{secrets.token_hex(6)}".encode()
        self._rooms: dict[PortKey, _Room] = {port: _Room(config, port)
                                             for port, config in rooms.items()}
        self._by_name = {room.config.room: room for room in self._rooms.values()}
        self._associations: dict[uuid.UUID, _Endpoint] = {}
        self._unbound: dict[uuid.UUID, _Unbound] = {}
        self._rtcp_due: list[tuple[float, int, _Endpoint]] = []
        self._sequence = itertools.count()
        self._trial_tokens = binding_trials_per_second
        self._trial_time = now
        self._binding: dict[tuple[PortKey, Address], tuple[set[uuid.UUID], set[uuid.UUID]]] = {}
        self._tunnel_up = False
        self._received = 0
        self._sent = 0
        self._relayed = 0
        self._recovered = 0
        self._dropped = dict.fromkeys(DropReason, 0)

    # -- what the edge asks -----------------------------------------------------------------------

    @property
    def rooms(self) -> dict[str, PortKey]:
        """Room name -> the port key it listens on."""
        return {name: room.port for name, room in self._by_name.items()}

    def members(self, room: str) -> tuple[str, ...]:
        """The keyed participants of a room (their ``host:port`` names)."""
        return tuple(self._by_name[room].members)

    def statistics(self, now: float) -> DistributorStatistics:
        """Everything counted so far."""
        rooms = {name: room.switch.statistics() for name, room in self._by_name.items()}
        participants = {name: tuple(room.switch.participant_statistics(member, now)
                                    for member in room.members)
                        for name, room in self._by_name.items()}
        return DistributorStatistics(rooms, participants, self._received, self._sent,
                                     self._relayed, dict(self._dropped), self._recovered)

    # -- the tunnel ---------------------------------------------------------------------------

    def tunnel_up(self) -> None:
        """The tunnel to the Key Distributor is open: DTLS can be relayed."""
        self._tunnel_up = True

    def tunnel_down(self) -> None:
        """The tunnel is gone: media keeps flowing under the keys we have; DTLS waits."""
        self._tunnel_up = False

    def tunnel_message(self, message: MediaKeys | TunneledDtls | EndpointDisconnect,
                       now: float) -> list[Output]:
        """A message from the Key Distributor."""
        if isinstance(message, TunneledDtls):
            endpoint = self._associations.get(message.association_id)
            if endpoint is None:
                return []
            self._sent += 1
            return [(endpoint.port, endpoint.address, message.dtls_message)]
        if isinstance(message, MediaKeys):
            return self._install(message, now)
        return self._disconnected(message.association_id, now)

    # -- datagrams ------------------------------------------------------------------------------

    def datagram_received(self, port: PortKey, address: Address, data: bytes,
                          now: float, *, lazy: bool = False) -> list[Output]:
        """One UDP datagram on a room's port; ``lazy``: copies as a :class:`FanOut`."""
        self._received += 1
        room = self._rooms[port]
        if not data:
            self._dropped[DropReason.MALFORMED] += 1
            return []
        first = data[0]
        if 128 <= first <= 191:
            endpoint = room.endpoints.get(address)
            rtcp = len(data) >= 2 and 192 <= data[1] <= 223  # RFC 5761 §4
            if endpoint is None or endpoint.inbound is None:
                if self._unbound:
                    return self._bind(room, address, data, rtcp, now)
                self._dropped[DropReason.UNKNOWN_SOURCE if endpoint is None
                              else DropReason.NOT_KEYED] += 1
                return []
            if rtcp:
                return self._rtcp(room, endpoint, data, now)
            return self._rtp(room, endpoint, data, now, lazy)
        if 20 <= first <= 63:
            return self._dtls(room, port, address, data, now)
        self._dropped[DropReason.UNSUPPORTED] += 1
        return []

    # -- time ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do next."""
        deadlines = [t for room in self._rooms.values()
                     if (t := room.switch.get_timer()) is not None]
        if self._rtcp_due:
            deadlines.append(self._rtcp_due[0][0])
        handshakes = [e.created_at + self.handshake_timeout
                      for e in self._associations.values() if e.inbound is None]
        deadlines += handshakes
        deadlines += [u.expires_at for u in self._unbound.values()]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Output]:
        """Silent endpoints and talkers, stalled handshakes, expired unbound keys, reports."""
        outputs: list[Output] = []
        for room in self._rooms.values():
            for event in room.switch.handle_timer(now):
                if isinstance(event, EndpointSilent):
                    endpoint = room.members.get(event.participant)
                    if endpoint is not None:
                        outputs += self._remove(endpoint, f"silent for {event.silent_for:.0f} s",
                                                now, tell_key_distributor=True)
                else:
                    outputs += self._switch_event(room, event, now)
        for endpoint in [e for e in self._associations.values()
                         if e.inbound is None and now >= e.created_at + self.handshake_timeout]:
            outputs += self._remove(endpoint, "no keys after its DTLS handshake", now,
                                    tell_key_distributor=True)
        self._unbound = {a: u for a, u in self._unbound.items() if u.expires_at > now}
        if not self._unbound:
            self._binding.clear()
        while self._rtcp_due and self._rtcp_due[0][0] <= now:
            _, _, endpoint = heapq.heappop(self._rtcp_due)
            if endpoint.joined and endpoint.outbound is not None:
                outputs.append(self._receiver_report(endpoint, now))
                self._schedule_report(endpoint, now)
        return outputs

    # -- DTLS -----------------------------------------------------------------------------------

    def _dtls(self, room: _Room, port: PortKey, address: Address, data: bytes,
              now: float) -> list[Output]:
        try:
            hello = initial_client_hello(data)
        except DtlsAlertError:
            self._dropped[DropReason.MALFORMED] += 1
            return []
        endpoint = room.endpoints.get(address)
        outputs: list[Output] = []
        if endpoint is None:
            if hello is None:
                self._dropped[DropReason.UNKNOWN_SOURCE] += 1
                return []
            if len(room.endpoints) >= room.config.max_endpoints:
                self._dropped[DropReason.UNKNOWN_SOURCE] += 1
                return []
            endpoint = _Endpoint(room, port, address, new_association_id(), now)
            endpoint.hello_random = hello.random
            endpoint.tls_id = external_session_id(hello)
            room.endpoints[address] = endpoint
            self._associations[endpoint.association] = endpoint
        elif hello is not None and hello.random != endpoint.hello_random:
            # A new handshake from a known address: a new association (RFC 9185 §5.3).
            old = endpoint.association
            if endpoint.inbound is not None:
                if endpoint.superseded is not None:
                    outputs += self._end_association(endpoint.superseded)
                endpoint.superseded = old  # ended once the new association is keyed
            else:
                outputs += self._end_association(old)
            endpoint.association = new_association_id()
            endpoint.hello_random = hello.random
            endpoint.tls_id = external_session_id(hello)
            endpoint.created_at = now
            self._associations[endpoint.association] = endpoint
        if not self._tunnel_up:
            self._dropped[DropReason.NO_TUNNEL] += 1
            return outputs
        self._relayed += 1
        outputs.append(ToKeyDistributor(TunneledDtls(endpoint.association, data)))
        return outputs

    def _end_association(self, association: uuid.UUID) -> list[Output]:
        self._associations.pop(association, None)
        if not self._tunnel_up:
            return []
        return [ToKeyDistributor(EndpointDisconnect(association))]

    def _install(self, keys: MediaKeys, now: float) -> list[Output]:
        try:
            keys.check_hop_by_hop_lengths()
            profile = Profile.from_dtls_id(keys.protection_profile)
        except ValueError:
            return []  # the tunnel already refuses these; belt and braces
        if profile not in self.profiles:
            return []
        inbound = HopByHopSession(profile, master_key=keys.client_write_master_key,
                                  master_salt=keys.client_write_master_salt)
        outbound = HopByHopSession(profile, master_key=keys.server_write_master_key,
                                   master_salt=keys.server_write_master_salt)
        endpoint = self._associations.get(keys.association_id)
        if endpoint is None:
            # Keys for an endpoint whose address we do not know: a restart of this process.
            self._unbound[keys.association_id] = _Unbound(inbound, outbound,
                                                          now + self.unbound_lifetime)
            return []
        if endpoint.association != keys.association_id:
            return []  # keys of a superseded association that is being replaced
        outputs: list[Output] = []
        if endpoint.inbound is not None:
            endpoint.previous_inbound = endpoint.inbound
            endpoint.previous_until = now + self.previous_keys_lifetime
        endpoint.inbound, endpoint.outbound = inbound, outbound
        if endpoint.superseded is not None:
            outputs += self._end_association(endpoint.superseded)
            endpoint.superseded = None
        if not endpoint.joined:
            outputs += self._join(endpoint, now, recovered=False)
        return outputs

    def _join(self, endpoint: _Endpoint, now: float, *, recovered: bool) -> list[Output]:
        room = endpoint.room
        endpoint.joined = True
        room.members[endpoint.name] = endpoint
        room.switch.add_participant(endpoint.name, now)
        self._schedule_report(endpoint, now)
        return [ParticipantJoined(room.config.room, endpoint.name, endpoint.address,
                                  endpoint.association, recovered)]

    def _disconnected(self, association: uuid.UUID, now: float) -> list[Output]:
        """EndpointDisconnect from the Key Distributor."""
        self._unbound.pop(association, None)
        endpoint = self._associations.get(association)
        if endpoint is None:
            return []
        if endpoint.association != association:
            self._associations.pop(association, None)  # a superseded one: the endpoint stays
            if endpoint.superseded == association:
                endpoint.superseded = None
            return []
        return self._remove(endpoint, "the Key Distributor ended its association", now,
                            tell_key_distributor=False)

    def _remove(self, endpoint: _Endpoint, reason: str, now: float, *,
                tell_key_distributor: bool) -> list[Output]:
        room = endpoint.room
        outputs: list[Output] = []
        for association in (endpoint.association, endpoint.superseded):
            if association is None:
                continue
            if tell_key_distributor:
                outputs += self._end_association(association)
            else:
                self._associations.pop(association, None)
        room.endpoints.pop(endpoint.address, None)
        for ssrc in [s for s, owner in room.owners.items() if owner is endpoint]:
            del room.owners[ssrc]
        if endpoint.joined:
            endpoint.joined = False
            room.members.pop(endpoint.name, None)
            for event in room.switch.remove_participant(endpoint.name, now):
                outputs += self._switch_event(room, event, now, endpoint)
            outputs.append(ParticipantLeft(room.config.room, endpoint.name, reason))
        endpoint.inbound = endpoint.outbound = endpoint.previous_inbound = None
        return outputs

    # -- RTP ------------------------------------------------------------------------------------

    def _rtp(self, room: _Room, endpoint: _Endpoint, data: bytes, now: float,
             lazy: bool) -> list[Output]:
        inbound = endpoint.inbound
        assert inbound is not None
        try:
            relayed: RelayedPacket | None = inbound.receive(data)
        except SrtpError:
            relayed = self._with_previous_keys(endpoint, now, lambda s: s.receive(data))
        if relayed is None:
            return []
        return self._forward(room, endpoint, relayed, now, lazy)

    def _with_previous_keys(self, endpoint: _Endpoint, now: float,
                            open_with: Callable[[HopByHopSession], _Opened]) -> _Opened | None:
        """A packet the current keys refused: in flight under the previous ones? (or drop)."""
        previous = endpoint.previous_inbound
        if previous is not None and now < endpoint.previous_until:
            try:
                return open_with(previous)
            except SrtpError:
                pass
        self._dropped[DropReason.AUTHENTICATION] += 1
        return None

    def _forward(self, room: _Room, endpoint: _Endpoint, relayed: RelayedPacket,
                 now: float, lazy: bool) -> list[Output]:
        config = room.config
        level = voice = None
        if config.audio_level_id is not None:
            try:
                found = find_audio_level(relayed.header, config.audio_level_id)
            except RtpError:
                found = None
            if found is not None:
                level = found.level
                voice = found.voice_activity if config.vad else None
        ssrc = relayed.ssrc
        sequence = relayed.sequence_number
        payload_type = relayed.payload_type
        marker = relayed.marker
        reception = endpoint.reception.get(ssrc)
        if reception is None and room.owners.setdefault(ssrc, endpoint) is endpoint:
            reception = endpoint.reception[ssrc] = ReceptionStatistics(
                config.clock_rate(payload_type), sequence)
        if reception is not None:
            reception.update(sequence, relayed.timestamp, now)
        routing = room.switch.receive_rtp(now, endpoint.name, RtpPacketInfo(
            ssrc, sequence, payload_type, marker, MediaKind.AUDIO, relayed.size, level, voice))
        outputs: list[Output] = []
        if routing.forwards:
            copies = FanOut(relayed, routing.forwards, room.members)
            self._sent += len(copies)
            if lazy:
                outputs.append(copies)
            else:
                outputs += copies
        else:
            self._dropped[DropReason.NOT_FORWARDED] += 1
        for event in routing.events:
            outputs += self._switch_event(room, event, now)
        return outputs

    def _switch_event(self, room: _Room, event: SwitchEvent, now: float,
                      leaving: _Endpoint | None = None) -> list[Output]:
        if isinstance(event, TalkingChanged):
            endpoint = leaving or room.members.get(event.participant)
            if endpoint is None or endpoint.tls_id is None:
                return []
            return [SpeakerTalking(room.config.room, endpoint.tls_id, event.talking)]
        if isinstance(event, KeyframeNeeded):
            source = room.members.get(event.source)
            if source is None:
                return []
            # RFC 4585 §6.3.1: the Media Distributor asks the source itself, as a hop.
            return [self._rtcp_to(source, [ReceiverReport(self.ssrc, ()),
                                           FeedbackMessage(PSFB, PLI, self.ssrc, event.ssrc)])]
        if isinstance(event, SpeakersChanged | SsrcConflict):
            return [RoomSwitchEvent(room.config.room, event)]
        return []

    # -- RTCP -----------------------------------------------------------------------------------

    def _rtcp(self, room: _Room, endpoint: _Endpoint, data: bytes, now: float) -> list[Output]:
        inbound = endpoint.inbound
        assert inbound is not None
        try:
            plain: bytes | None = inbound.unprotect_rtcp(data)
        except SrtpError:
            plain = self._with_previous_keys(endpoint, now, lambda s: s.unprotect_rtcp(data))
        if plain is None:
            return []
        room.switch.receive_rtcp(now, endpoint.name)
        try:
            packets = parse_rtcp(plain)
        except RtpError:
            self._dropped[DropReason.MALFORMED] += 1
            return []
        outputs: list[Output] = []
        cname_chunk: SdesChunk | None = None
        for packet in packets:
            if isinstance(packet, SourceDescription):
                for chunk in packet.chunks:
                    owner = room.owners.get(chunk.ssrc)
                    if owner is None or owner is endpoint:  # its own stream's description
                        cname_chunk = chunk
                        for item in chunk.items:
                            if item.type == SdesItem.CNAME:
                                endpoint.cname = item.value
        for packet in packets:
            if isinstance(packet, SenderReport):
                endpoint.last_sr[packet.ssrc] = (ntp_short(packet.ntp_timestamp), now)
                outputs += self._pass_sender_report(room, endpoint, packet, cname_chunk)
            elif isinstance(packet, Goodbye):
                outputs += [self._rtcp_to(member, [ReceiverReport(self.ssrc, ()), packet])
                            for member in room.members.values() if member is not endpoint]
            elif isinstance(packet, FeedbackMessage):
                outputs += self._feedback(room, endpoint, packet)
        return outputs

    def _pass_sender_report(self, room: _Room, endpoint: _Endpoint, report: SenderReport,
                            cname: SdesChunk | None) -> list[Output]:
        """Sender information goes to those who get the sender's stream (RFC 7667 §3.7)."""
        if endpoint.name not in room.switch.selected:
            return []
        packets: list[RtcpPacket] = [SenderReport(report.ssrc, report.ntp_timestamp,
                                                  report.rtp_timestamp, report.packet_count,
                                                  report.octet_count, ())]
        if cname is not None:
            packets.append(SourceDescription((cname,)))
        return [self._rtcp_to(member, packets) for member in room.members.values()
                if member is not endpoint]

    def _feedback(self, room: _Room, endpoint: _Endpoint,
                  feedback: FeedbackMessage) -> list[Output]:
        """NACK and PLI go to the sender of the stream they name, as RFC 4585 §6 intends."""
        source = room.owners.get(feedback.media_ssrc)
        if source is None or source is endpoint or not source.joined:
            return []
        if feedback.packet_type == RTPFB and feedback.fmt == GENERIC_NACK:
            fci = bytearray(feedback.fci)
            for offset in range(0, len(fci) - 3, 4):
                seq = fci[offset] << 8 | fci[offset + 1]
                original = room.switch.original_sequence(endpoint.name, feedback.media_ssrc,
                                                         seq)
                if original is None:
                    return []
                fci[offset:offset + 2] = original.to_bytes(2, "big")
            feedback = FeedbackMessage(RTPFB, GENERIC_NACK, feedback.sender_ssrc,
                                       feedback.media_ssrc, bytes(fci))
        elif not (feedback.packet_type == PSFB and feedback.fmt == PLI):
            return []
        return [self._rtcp_to(source, [ReceiverReport(self.ssrc, ()), feedback])]

    def _rtcp_to(self, endpoint: _Endpoint, packets: list[RtcpPacket]) -> Datagram:
        outbound = endpoint.outbound
        assert outbound is not None
        self._sent += 1
        return (endpoint.port, endpoint.address, outbound.protect_rtcp(serialize_rtcp(packets)))

    def _receiver_report(self, endpoint: _Endpoint, now: float) -> Datagram:
        """The Media Distributor's own report to an endpoint about what it sends (RFC 3550)."""
        blocks = []
        for ssrc, reception in list(endpoint.reception.items())[:MAX_REPORT_BLOCKS]:
            if not reception.valid:
                continue
            values = reception.report()
            last_sr, delay = 0, 0
            sr = endpoint.last_sr.get(ssrc)
            if sr is not None:
                last_sr = sr[0]
                delay = min(0xFFFFFFFF, round((now - sr[1]) * 65536))
            blocks.append(ReportBlock(ssrc, values.fraction_lost, values.cumulative_lost,
                                      values.extended_highest_sequence, values.jitter, last_sr,
                                      delay))
        cname = SdesItem(SdesItem.CNAME, self.cname)
        return self._rtcp_to(endpoint, [ReceiverReport(self.ssrc, tuple(blocks)),
                                        SourceDescription((SdesChunk(self.ssrc, (cname,)),))])

    def _schedule_report(self, endpoint: _Endpoint, now: float) -> None:
        # RFC 3550 §6.3.1: randomised between 0.5 and 1.5 times the interval.
        interval = self.rtcp_interval * (0.5 + secrets.randbelow(1000) / 1000)
        heapq.heappush(self._rtcp_due, (now + interval, next(self._sequence), endpoint))

    # -- restart recovery -----------------------------------------------------------------------

    def _bind(self, room: _Room, address: Address, data: bytes, rtcp: bool,
              now: float) -> list[Output]:
        """Try the unbound keys on a packet from an unknown address (see the docstring).

        Every key is first tried at ROC 0 (the usual case), then, if none matched, at ROCs 1
        to :data:`MAX_ROC_GUESS` (streams that wrapped before the restart). What failed for an
        address is remembered, so each packet tries keys not tried yet, within the budget of
        ``binding_trials_per_second`` AES-GCM operations (a flood of unknown packets cannot
        take more).
        """
        self._trial_tokens = min(self.binding_trials_per_second, self._trial_tokens
                                 + (now - self._trial_time) * self.binding_trials_per_second)
        self._trial_time = now
        tried = self._binding.get((room.port, address))
        if tried is None:
            if len(self._binding) >= MAX_BINDING_ADDRESSES:
                self._binding.clear()  # a flood of strangers: start the bookkeeping over
            tried = self._binding[(room.port, address)] = (set(), set())
        at_zero, everywhere = tried
        untried = [a for a in self._unbound if a not in at_zero]
        rocs: range = range(1)
        if not untried and not rtcp:
            untried = [a for a in self._unbound if a not in everywhere]
            rocs = range(1, MAX_ROC_GUESS + 1)
        for association in untried:
            cost = 1 if rtcp else len(rocs)
            if self._trial_tokens < cost:
                break
            self._trial_tokens -= cost
            unbound = self._unbound[association]
            try:
                opened: RelayedPacket | bytes = (
                    unbound.inbound.unprotect_rtcp(data) if rtcp
                    else unbound.inbound.receive_at_unknown_roc(data, rocs))
            except SrtpError:
                if rtcp:  # SRTCP carries its index: a key that fails it is not this address's
                    at_zero.add(association)
                    everywhere.add(association)
                elif rocs.start == 0:
                    at_zero.add(association)
                else:
                    everywhere.add(association)
                continue
            return self._bound(room, address, association, opened, now=now)
        self._dropped[DropReason.UNKNOWN_SOURCE] += 1
        return []

    def _bound(self, room: _Room, address: Address, association: uuid.UUID,
               opened: RelayedPacket | bytes, *, now: float) -> list[Output]:
        unbound = self._unbound.pop(association)
        self._binding.pop((room.port, address), None)
        endpoint = room.endpoints.get(address)
        if endpoint is None:
            endpoint = _Endpoint(room, room.port, address, association, now)
            room.endpoints[address] = endpoint
        else:
            # It started a new handshake meanwhile: these keys serve until that one's do.
            endpoint.superseded = association
        endpoint.inbound, endpoint.outbound = unbound.inbound, unbound.outbound
        self._associations[association] = endpoint
        self._recovered += 1
        outputs = self._join(endpoint, now, recovered=True)
        if isinstance(opened, RelayedPacket):
            outputs += self._forward(room, endpoint, opened, now, lazy=False)
        return outputs


__all__ = [
    "Datagram",
    "DistributorEvent",
    "DistributorStatistics",
    "DropReason",
    "FanOut",
    "MediaDistributor",
    "Output",
    "ParticipantJoined",
    "ParticipantLeft",
    "RoomConfig",
    "RoomSwitchEvent",
    "SpeakerTalking",
    "ToKeyDistributor",
]
