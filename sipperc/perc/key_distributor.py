"""The Key Distributor's key logic: who gets the EKT key, and when a new one is made.

A sans-I/O core. It never sees a socket, a DTLS record or a clock: the Key Distributor's edge
tells it what the call processing announced (:meth:`KeyDistributor.announce`), which endpoint
finished a DTLS handshake with which certificate and ``tls-id`` (:meth:`KeyDistributor.admit`),
which association ended (:meth:`KeyDistributor.endpoint_gone`) and what time it is; the core
answers with actions (:class:`SendEKTKey`, :class:`CloseAssociation`, ...) and a deadline.

**Authorization** (RFC 9185 §5.4, RFC 8871 §3.2.2). An endpoint gets keys only if

1. the ``external_session_id`` in its ClientHello is a ``tls-id`` the call processing announced
   for a participant of a conference the Key Distributor serves,
2. the certificate it presented in DTLS matches one of the fingerprints announced with it (so
   the announcement is bound to the holder of that private key), and
3. the conference's policy admits it: an open room, or a ``participants`` entry whose
   fingerprint matches that certificate, or whose identity is the one announced.

Anything else is refused with a reason (:class:`EndpointRefused`) and the association closed; no
EKT key and no hop-by-hop keys are ever sent for it.

**EKT parameter sets** (RFC 8870 §4.2, §5.2). A set is an EKT cipher, a random EKTKey, a random
SRTP master salt shared by all endpoints (RFC 8871 §4.5.1: the E2E salt is replaced by it, 12
bytes for the AES-GCM profiles), a TTL and a fresh SPI. SPIs are taken in sequence from a random
starting point and skip every SPI whose key an endpoint may still use (handed out less than a
TTL ago): an SPI is never reused while it can mean another key. Only after all 65536 have gone
round and expired is one used again; if that cannot be found, :class:`SPIExhaustedError`.

**Rekeying** (RFC 8871 §4.5.2, §8.2.3), per the conference's :class:`RekeyPolicy`:

- *join*: a newcomer gets a new set, and so does everyone else, so it cannot read what was said
  before it came (unless nobody else has the current set yet);
- *leave*: when the last association of a member that held the current set ends, the others get
  a new set, so it cannot read what is said after;
- *periodic*: every ``interval`` seconds, and always before the TTL runs out;
- a member's *re-handshake* (a second association with the same certificate, after a re-INVITE
  or a Media Distributor restart) is not a join, and members returning within
  ``rejoin_grace`` after a Key Distributor restart are not newcomers either (see
  :mod:`sipperc.perc.key_distributor_state`).

Members are endpoints, identified by their certificate (SHA-256 fingerprint): an endpoint joins
with its first admitted association and leaves with its last.
"""

from __future__ import annotations

import enum
import math
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sipperc.dtls import EKTKey, Fingerprint
from sipperc.keymaterial import redacted
from sipperc.perc.key_distributor_state import (
    SPI_SPACE,
    ConferenceState,
    KeyDistributorState,
)
from sipperc.perc.policy import ConferencePolicy
from sipperc.srtp import EKTCipher

SRTP_MASTER_SALT_LENGTH = 12
"""The shared salt replaces the endpoints' E2E salt: 12 bytes for the AES-GCM profiles."""

# RFC 8842 §5: tls-id-value = 20*255(ALPHA / DIGIT / "+" / "/" / "-" / "_")
_TLS_ID = re.compile(rb"^[A-Za-z0-9+/_-]{20,255}$")


class SPIExhaustedError(Exception):
    """Every SPI names a key endpoints may still use: no new parameter set can be made."""


class RekeyReason(enum.Enum):
    """Why a new EKT parameter set was made."""

    FIRST = "first key"
    JOIN = "join"
    LEAVE = "leave"
    PERIODIC = "periodic"


@dataclass(frozen=True, slots=True)
class EKTParameterSet:
    """One EKT parameter set (RFC 8870 §4.2): never printed with its key or salt."""

    spi: int
    cipher: EKTCipher
    ekt_key: bytes
    srtp_master_salt: bytes
    ttl: int
    created_at: float

    def __post_init__(self) -> None:
        if not 0 <= self.spi < SPI_SPACE:
            raise ValueError(f"spi {self.spi} is not a 16-bit value")
        if len(self.ekt_key) != self.cipher.key_length:
            raise ValueError(f"{self.cipher.name} needs a {self.cipher.key_length}-byte EKTKey")

    def __repr__(self) -> str:
        return (f"EKTParameterSet(spi={self.spi}, cipher={self.cipher.name}, "
                f"ekt_key={redacted(self.ekt_key)}, "
                f"srtp_master_salt={redacted(self.srtp_master_salt)}, ttl={self.ttl}, "
                f"created_at={self.created_at})")

    def message(self) -> EKTKey:
        """The EKTKey handshake message that hands this set to an endpoint (RFC 8870 §5.2.2)."""
        return EKTKey(self.ekt_key, self.srtp_master_salt, self.spi, self.ttl)


@dataclass(frozen=True, slots=True)
class ParticipantAnnouncement:
    """What the call processing tells the Key Distributor to expect (from the endpoint's SDP).

    ``tls_id`` is the endpoint's ``a=tls-id`` (RFC 8842), which its ClientHello carries as
    ``external_session_id``; ``fingerprints`` are its ``a=fingerprint`` values; ``identity``
    is the caller as the call processing asserts it (a SIP URI), if any.
    """

    room: str
    participant_id: str
    tls_id: bytes
    fingerprints: tuple[Fingerprint, ...]
    identity: str | None = None

    def __post_init__(self) -> None:
        if not self.participant_id or len(self.participant_id) > 255:
            raise ValueError("participant_id: 1 to 255 characters")
        if not _TLS_ID.match(self.tls_id):
            raise ValueError("tls_id: 20 to 255 characters of A-Z a-z 0-9 + / - _ (RFC 8842)")
        if not self.fingerprints:
            raise ValueError("fingerprints: at least one is needed")


@dataclass(frozen=True, slots=True)
class AnnouncementAccepted:
    """What the call processing puts in its SDP answer: the Key Distributor's side."""

    room: str
    participant_id: str
    key_distributor_fingerprint: Fingerprint
    key_distributor_tls_id: bytes


@dataclass(frozen=True, slots=True)
class AnnouncementRefused:
    """The announced endpoint would not be admitted; the call can be refused now (403)."""

    room: str
    participant_id: str
    reason: str


AnnouncementResult = AnnouncementAccepted | AnnouncementRefused


@dataclass(frozen=True, slots=True)
class Expectation:
    """How the edge sets up the DTLS server for the endpoint whose ClientHello carries a tls-id.

    The conference's identity (certificate), the Key Distributor's own tls-id for this
    endpoint, and the fingerprints the endpoint's certificate must match.
    """

    room: str
    participant_id: str
    policy: ConferencePolicy
    key_distributor_tls_id: bytes
    fingerprints: tuple[Fingerprint, ...]


@dataclass(frozen=True, slots=True)
class SendEKTKey:
    """Send this parameter set to the endpoint of this association (EKTKey message)."""

    association_id: uuid.UUID
    room: str
    parameters: EKTParameterSet


@dataclass(frozen=True, slots=True)
class CloseAssociation:
    """End this endpoint's DTLS association (and tell the Media Distributor)."""

    association_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class EndpointAdmitted:
    """An endpoint passed authorization; ``joined`` is False for a member's re-handshake."""

    association_id: uuid.UUID
    room: str
    participant_id: str
    fingerprint: Fingerprint
    joined: bool


@dataclass(frozen=True, slots=True)
class EndpointRefused:
    """An endpoint gets no keys; ``reason`` is for the log."""

    association_id: uuid.UUID
    reason: str
    room: str | None = None
    participant_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointLeft:
    """A member's last association ended."""

    room: str
    participant_id: str
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """A new parameter set was made and sent to ``recipients`` associations."""

    room: str
    spi: int
    reason: RekeyReason
    recipients: int


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The restart state changed: save :meth:`KeyDistributor.snapshot`."""


KeyDistributorAction = (SendEKTKey | CloseAssociation | EndpointAdmitted | EndpointRefused
                        | EndpointLeft | Rekeyed | StateChanged)


@dataclass(slots=True)
class _Member:
    participant_id: str
    associations: set[uuid.UUID]
    joined_at: float


class ConferenceKeying:
    """The keys and members of one conference (see the module docstring)."""

    def __init__(self, policy: ConferencePolicy, now: float, state: ConferenceState | None = None,
                 *, rejoin_grace: float = 60.0,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.policy = policy
        self._random = random_bytes
        self._next_spi = state.next_spi if state else secrets.randbelow(SPI_SPACE)
        self._live: dict[int, float] = dict(state.live_spis) if state else {}
        self._returning: set[Fingerprint] = set(state.members) if state else set()
        self._returning_until: float | None = now + rejoin_grace if self._returning else None
        self.current: EKTParameterSet | None = None
        self._holders: set[Fingerprint] = set()
        self._members: dict[Fingerprint, _Member] = {}
        self._due: float | None = None

    @property
    def members(self) -> dict[Fingerprint, str]:
        """Current members: certificate fingerprint -> participant id."""
        return {fp: member.participant_id for fp, member in self._members.items()}

    def is_member(self, fingerprint: Fingerprint) -> bool:
        """True if an endpoint with this certificate is in the conference."""
        return fingerprint in self._members

    def join(self, fingerprint: Fingerprint, participant_id: str, association: uuid.UUID,
             now: float) -> list[KeyDistributorAction]:
        """An admitted association: hand it the current set, or rekey if the policy says so."""
        member = self._members.get(fingerprint)
        newcomer = member is None
        if member is None:
            member = self._members[fingerprint] = _Member(participant_id, set(), now)
        member.associations.add(association)
        returning = (fingerprint in self._returning and self._returning_until is not None
                     and now < self._returning_until)
        self._returning.discard(fingerprint)
        others_hold_it = bool(self._holders - {fingerprint})
        actions: list[KeyDistributorAction] = [
            EndpointAdmitted(association, self.policy.room, participant_id, fingerprint,
                             newcomer)]
        if self.current is None or self._due_now(now):
            reason = RekeyReason.FIRST if self.current is None else RekeyReason.PERIODIC
            actions += self._rekey(now, reason)
        elif newcomer and not returning and self.policy.rekey.on_join and others_hold_it:
            actions += self._rekey(now, RekeyReason.JOIN)
        else:
            actions.append(self._deliver(association, self.current, now))
            self._holders.add(fingerprint)
            actions.append(StateChanged())
        return actions

    def leave(self, fingerprint: Fingerprint, association: uuid.UUID,
              now: float) -> list[KeyDistributorAction]:
        """An association ended; when it was the member's last, the member has left."""
        member = self._members.get(fingerprint)
        if member is None or association not in member.associations:
            return []
        member.associations.discard(association)
        if member.associations:
            return []  # the endpoint is still here through another association
        del self._members[fingerprint]
        actions: list[KeyDistributorAction] = [
            EndpointLeft(self.policy.room, member.participant_id, fingerprint)]
        held_current = fingerprint in self._holders
        if not self._members:
            self._retire()
        elif held_current and self.policy.rekey.on_leave:
            actions += self._rekey(now, RekeyReason.LEAVE)
            return actions
        actions.append(StateChanged())
        return actions

    def get_timer(self) -> float | None:
        """The next rekey deadline, or the end of the rejoin grace period."""
        deadlines = [t for t in (self._due, self._returning_until) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[KeyDistributorAction]:
        """Periodic or TTL rekey; the end of the rejoin grace period."""
        actions: list[KeyDistributorAction] = []
        if self._returning_until is not None and now >= self._returning_until:
            self._returning.clear()
            self._returning_until = None
            actions.append(StateChanged())
        if self._due_now(now):
            if self._members:
                actions += self._rekey(now, RekeyReason.PERIODIC)
            else:
                self._retire()
                actions.append(StateChanged())
        return actions

    def snapshot(self) -> ConferenceState:
        """What must survive a restart (no key)."""
        members = frozenset(fp for fp in self._members if fp in self._holders)
        return ConferenceState(self._next_spi, dict(self._live),
                               members | frozenset(self._returning))

    def _due_now(self, now: float) -> bool:
        return self._due is not None and now >= self._due

    def _rekey(self, now: float, reason: RekeyReason) -> list[KeyDistributorAction]:
        ekt = self.policy.ekt
        parameters = EKTParameterSet(
            spi=self._allocate_spi(now),
            cipher=ekt.cipher,
            ekt_key=self._random(ekt.cipher.key_length),
            srtp_master_salt=self._random(SRTP_MASTER_SALT_LENGTH),
            ttl=ekt.ttl,
            created_at=now,
        )
        self.current = parameters
        self._holders = set(self._members)
        interval = self.policy.rekey.interval
        before_expiry = ekt.ttl - min(30.0, ekt.ttl / 10)
        self._due = now + min(interval if interval is not None else math.inf, before_expiry)
        recipients = [association for member in self._members.values()
                      for association in sorted(member.associations)]
        actions: list[KeyDistributorAction] = [
            Rekeyed(self.policy.room, parameters.spi, reason, len(recipients))]
        actions += [self._deliver(association, parameters, now) for association in recipients]
        actions.append(StateChanged())
        return actions

    def _deliver(self, association: uuid.UUID, parameters: EKTParameterSet,
                 now: float) -> SendEKTKey:
        # The SPI stays taken until a TTL after its last delivery (RFC 8870 §5.2: the endpoint
        # stops using the key ekt_ttl seconds after receiving it).
        self._live[parameters.spi] = max(self._live.get(parameters.spi, 0.0),
                                         now + parameters.ttl)
        return SendEKTKey(association, self.policy.room, parameters)

    def _retire(self) -> None:
        """Nobody is left: the next endpoint gets a fresh set."""
        self.current = None
        self._holders = set()
        self._due = None

    def _allocate_spi(self, now: float) -> int:
        self._live = {spi: until for spi, until in self._live.items() if until > now}
        for step in range(SPI_SPACE):
            spi = (self._next_spi + step) % SPI_SPACE
            if spi not in self._live:
                self._next_spi = (spi + 1) % SPI_SPACE
                return spi
        raise SPIExhaustedError(f"{self.policy.room}: all 65536 SPIs name keys still in use")


@dataclass(slots=True)
class _Announced:
    announcement: ParticipantAnnouncement
    key_distributor_tls_id: bytes
    expires_at: float
    associations: set[uuid.UUID] = field(default_factory=set)


class KeyDistributor:
    """The key logic of a Key Distributor serving the conferences of its policy file."""

    def __init__(self, policies: Mapping[str, ConferencePolicy], now: float,
                 state: KeyDistributorState | None = None, *,
                 announcement_lifetime: float = 120.0, rejoin_grace: float = 60.0,
                 max_pending_announcements: int = 10_000,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        saved = state.conferences if state else {}
        self.conferences = {
            room: ConferenceKeying(policy, now, saved.get(room), rejoin_grace=rejoin_grace,
                                   random_bytes=random_bytes)
            for room, policy in policies.items()}
        self._lifetime = announcement_lifetime
        self._max_pending = max_pending_announcements
        self._announced: dict[bytes, _Announced] = {}
        self._associations: dict[uuid.UUID, tuple[str, Fingerprint, bytes]] = {}

    # -- from the call processing (sipperc.perc.focus_interface) ------------------------------

    def announce(self, announcement: ParticipantAnnouncement, now: float) -> AnnouncementResult:
        """Expect an endpoint; the answer carries what the SDP answer needs, never a key."""
        room, participant = announcement.room, announcement.participant_id
        conference = self.conferences.get(room)
        if conference is None:
            return AnnouncementRefused(room, participant, f"no conference {room!r} here")
        policy = conference.policy
        if not policy.admits(announcement.fingerprints, announcement.identity):
            return AnnouncementRefused(room, participant,
                                       "not on the conference's participant list")
        existing = self._announced.get(announcement.tls_id)
        if existing is not None and (existing.announcement.room,
                                     existing.announcement.participant_id) != (room, participant):
            return AnnouncementRefused(room, participant,
                                       "tls-id already announced for another participant")
        if existing is not None and existing.announcement != announcement:
            return AnnouncementRefused(room, participant,
                                       "tls-id already announced with other credentials")
        if existing is None:
            pending = sum(1 for e in self._announced.values() if not e.associations)
            if pending >= self._max_pending:
                # Announcements cost memory until they expire: bound what a focus can pile up.
                return AnnouncementRefused(room, participant, "too many pending announcements")
            existing = self._announced[announcement.tls_id] = _Announced(
                announcement, secrets.token_urlsafe(18).encode(), now + self._lifetime)
        else:
            existing.expires_at = now + self._lifetime
        return AnnouncementAccepted(room, participant, policy.identity.fingerprint,
                                    existing.key_distributor_tls_id)

    def withdraw(self, room: str, participant_id: str,
                 now: float) -> list[KeyDistributorAction]:
        """The participant's call ended, or a moderator removed it.

        Its announcements are forgotten and its associations closed; its departure rekeys the
        conference as the policy says.
        """
        actions: list[KeyDistributorAction] = []
        for tls_id, entry in list(self._announced.items()):
            if (entry.announcement.room, entry.announcement.participant_id) != (room,
                                                                               participant_id):
                continue
            del self._announced[tls_id]
            for association in sorted(entry.associations):
                actions.append(CloseAssociation(association, "the participant was withdrawn"))
                actions += self.endpoint_gone(association, now)
        return actions

    def expectation(self, tls_id: bytes, now: float) -> Expectation | None:
        """How to set up the DTLS server for an endpoint presenting ``tls_id``.

        None if no live announcement has this tls-id: the association should be refused.
        """
        entry = self._announced.get(tls_id)
        if entry is None or (not entry.associations and now >= entry.expires_at):
            return None
        announcement = entry.announcement
        return Expectation(announcement.room, announcement.participant_id,
                           self.conferences[announcement.room].policy,
                           entry.key_distributor_tls_id, announcement.fingerprints)

    # -- from DTLS ----------------------------------------------------------------------------

    def admit(self, association: uuid.UUID, tls_id: bytes | None, certificate_der: bytes,
              now: float) -> list[KeyDistributorAction]:
        """An endpoint finished its DTLS handshake: authorize it, then key it (or refuse)."""
        if association in self._associations:
            return [EndpointRefused(association, "association already admitted")]
        if tls_id is None:
            return self._refuse(association, "the ClientHello carried no external_session_id "
                                             "(RFC 9185 §5.4 needs the endpoint's tls-id)")
        entry = self._announced.get(tls_id)
        if entry is None or (not entry.associations and now >= entry.expires_at):
            return self._refuse(association, "no participant was announced with this tls-id")
        announcement = entry.announcement
        room, participant = announcement.room, announcement.participant_id
        if not any(fp.matches(certificate_der) for fp in announcement.fingerprints):
            return self._refuse(association, "the certificate does not match the fingerprint "
                                             "in the endpoint's SDP", room, participant)
        conference = self.conferences[room]
        policy = conference.policy
        if not policy.admits_certificate(certificate_der, announcement.identity):
            return self._refuse(association, "not on the conference's participant list",
                                room, participant)
        fingerprint = Fingerprint.of(certificate_der)
        if (policy.max_participants is not None and not conference.is_member(fingerprint)
                and len(conference.members) >= policy.max_participants):
            return self._refuse(association, f"the conference is full "
                                             f"({policy.max_participants} participants)",
                                room, participant)
        entry.associations.add(association)
        self._associations[association] = (room, fingerprint, tls_id)
        return conference.join(fingerprint, participant, association, now)

    def endpoint_gone(self, association: uuid.UUID,
                      now: float) -> list[KeyDistributorAction]:
        """The association ended: DTLS closed, or EndpointDisconnect from the Media Distributor."""
        found = self._associations.pop(association, None)
        if found is None:
            return []
        room, fingerprint, tls_id = found
        entry = self._announced.get(tls_id)
        if entry is not None:
            entry.associations.discard(association)
            entry.expires_at = now + self._lifetime
        return self.conferences[room].leave(fingerprint, association, now)

    # -- time and state ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next time :meth:`handle_timer` has something to do."""
        deadlines = [t for c in self.conferences.values() if (t := c.get_timer()) is not None]
        deadlines += [e.expires_at for e in self._announced.values() if not e.associations]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[KeyDistributorAction]:
        """Rekeys that are due; announcements nobody used expire."""
        self._announced = {tls_id: e for tls_id, e in self._announced.items()
                           if e.associations or now < e.expires_at}
        actions: list[KeyDistributorAction] = []
        for conference in self.conferences.values():
            actions += conference.handle_timer(now)
        return actions

    def snapshot(self) -> KeyDistributorState:
        """The restart state of every conference."""
        return KeyDistributorState({room: c.snapshot() for room, c in self.conferences.items()})

    def _refuse(self, association: uuid.UUID, reason: str, room: str | None = None,
                participant: str | None = None) -> list[KeyDistributorAction]:
        return [EndpointRefused(association, reason, room, participant),
                CloseAssociation(association, reason)]

