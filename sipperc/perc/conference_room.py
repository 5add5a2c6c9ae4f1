"""One conference room as the SIP focus sees it: who may come in, who is there (sans-I/O).

The focus (the conference's call processing, RFC 8871 §3; RFC 4353 §3) keeps, per room,

- the **admission rules** it enforces in signalling (RFC 4579 §5): a locked room refuses new
  callers (403), a full one too (486), a PIN-protected one wants the PIN in the Request-URI
  (``sip:room@host;pin=0815``) and refuses a wrong or missing one with 403; after
  ``pin_attempts`` wrong PINs from one caller that caller is refused for ``pin_lockout``
  seconds even with the right PIN, so PINs cannot be guessed by trying them all. These keep
  people out of the *call*; who gets the *keys* is the Key Distributor's policy alone;
- the **members**, each in a :class:`MemberState` that changes only through the table
  :data:`TRANSITIONS` (joining while the Key Distributor is asked, dialling out, connected,
  gone), with what the roster shows: identity, display name, how they joined, muted;
- the **moderators** (identities), who may lock, unlock and remove people and, in a room
  that has any, are the only ones who may add people (:meth:`ConferenceRoom.referral`).

It never sees a SIP message or a socket: the focus's edge (:mod:`sipperc.perc.sip_focus`)
feeds it decisions and reads :meth:`ConferenceRoom.roster` for the RFC 4575 documents.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sipperc.perc.conference_info import (
    ConferenceEndpoint,
    ConferenceInfo,
    ConferenceUser,
    DocumentState,
)
from sipperc.perc.policy import normalize_identity

DEFAULT_PIN_ATTEMPTS = 3
DEFAULT_PIN_LOCKOUT = 300.0


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What the focus enforces for one room (from its configuration).

    ``media_distributor`` is where this room's media goes (the SDP answers' ``c=``/``m=``).
    """

    room: str
    name: str
    media_distributor: tuple[str, int]
    pin: str | None = None
    locked: bool = False
    max_participants: int | None = None
    moderators: tuple[str, ...] = ()
    pin_attempts: int = DEFAULT_PIN_ATTEMPTS
    pin_lockout: float = DEFAULT_PIN_LOCKOUT

    def __post_init__(self) -> None:
        if self.max_participants is not None and self.max_participants < 1:
            raise ValueError("max_participants must be at least 1")
        if self.pin is not None and not (self.pin.isdigit() and 4 <= len(self.pin) <= 16):
            raise ValueError("a PIN is 4 to 16 digits")
        if self.pin_attempts < 1:
            raise ValueError("pin_attempts must be at least 1")
        object.__setattr__(self, "moderators",
                           tuple(normalize_identity(m) for m in self.moderators))

    def __repr__(self) -> str:
        return (f"RoomSettings({self.room!r}, {self.name!r}, md={self.media_distributor}, "
                f"pin={'<set>' if self.pin else None}, locked={self.locked}, "
                f"max={self.max_participants}, moderators={len(self.moderators)})")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a caller cannot come in: the SIP status and reason phrase to answer with."""

    status: int
    reason: str


class MemberState(enum.Enum):
    """Where one member of a room stands."""

    JOINING = "joining"
    """Dialled in; the Key Distributor is being asked (the INVITE waits)."""
    DIALLING = "dialling"
    """We INVITEd them (dial-out, RFC 4579 §5.4); not answered yet."""
    CONNECTED = "connected"
    GONE = "gone"


class MemberInput(enum.Enum):
    """What can happen to a member."""

    ACCEPTED = "accepted"
    """The Key Distributor accepted the announcement and the call is answered."""
    REFUSED = "refused"
    ANSWERED = "answered"
    """A dialled-out participant answered."""
    ENDED = "ended"
    """BYE, CANCEL, failure, or removed by a moderator."""


_S, _I = MemberState, MemberInput
TRANSITIONS: dict[tuple[MemberState, MemberInput], MemberState | None] = {
    (_S.JOINING, _I.ACCEPTED): _S.CONNECTED,
    (_S.JOINING, _I.REFUSED): _S.GONE,
    (_S.JOINING, _I.ANSWERED): None,
    (_S.JOINING, _I.ENDED): _S.GONE,
    (_S.DIALLING, _I.ACCEPTED): None,
    (_S.DIALLING, _I.REFUSED): _S.GONE,
    (_S.DIALLING, _I.ANSWERED): _S.CONNECTED,
    (_S.DIALLING, _I.ENDED): _S.GONE,
    (_S.CONNECTED, _I.ACCEPTED): _S.CONNECTED,  # a re-announcement after a KD restart
    (_S.CONNECTED, _I.REFUSED): _S.GONE,
    (_S.CONNECTED, _I.ANSWERED): _S.CONNECTED,
    (_S.CONNECTED, _I.ENDED): _S.GONE,
    (_S.GONE, _I.ACCEPTED): None,
    (_S.GONE, _I.REFUSED): _S.GONE,
    (_S.GONE, _I.ANSWERED): None,
    (_S.GONE, _I.ENDED): _S.GONE,
}
"""Every (state, input) pair; None means the input cannot happen in that state."""


class RoomStateError(RuntimeError):
    """An input that cannot happen in a member's state (a bug in the focus's edge)."""


@dataclass(slots=True)
class Member:
    """One participant of a room, as the roster shows it."""

    participant_id: str
    identity: str
    display_name: str | None
    dialled_out: bool
    state: MemberState
    joined_at: float
    muted: bool = False
    talking: bool = False
    """The Media Distributor reports this call's endpoint talking (RFC 4575 extension)."""


@dataclass(slots=True)
class _PinFailures:
    count: int = 0
    locked_until: float | None = None


@dataclass(slots=True)
class ConferenceRoom:
    """One room: admission, members, moderators (see the module docstring)."""

    settings: RoomSettings
    entity: str
    """The conference URI, ``sip:room@host`` (RFC 4575 ``entity``)."""
    locked: bool = False
    members: dict[str, Member] = field(default_factory=dict)
    _pin_failures: dict[str, _PinFailures] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: RoomSettings, domain: str) -> ConferenceRoom:
        """The room of ``settings`` at ``sip:room@domain``."""
        return cls(settings, f"sip:{settings.room}@{domain}", settings.locked)

    # -- admission ------------------------------------------------------------------------------

    @property
    def present(self) -> list[Member]:
        """Members not gone, in the order they came."""
        return [m for m in self.members.values() if m.state is not MemberState.GONE]

    def admission(self, caller: str, pin: str | None, now: float, *,
                  dial_out: bool = False) -> Refusal | None:
        """None if ``caller`` may join now, else the refusal (RFC 4579 §5.3, §5.4).

        A dial-out (a participant or moderator asked us to add someone) needs no PIN but
        respects the lock and the size limit.
        """
        settings = self.settings
        if self.locked:
            return Refusal(403, "Conference Locked")
        maximum = settings.max_participants
        if maximum is not None and len(self.present) >= maximum:
            return Refusal(486, f"Conference Full ({maximum} Participants)")
        if settings.pin is None or dial_out:
            return None
        key = normalize_identity(caller)
        failures = self._pin_failures.get(key)
        if failures is not None and failures.locked_until is not None:
            if now < failures.locked_until:
                return Refusal(403, "Too Many Wrong PINs")
            del self._pin_failures[key]
            failures = None
        if pin == settings.pin:
            self._pin_failures.pop(key, None)
            return None
        if pin is None:
            return Refusal(403, "PIN Required")
        failures = failures or self._pin_failures.setdefault(key, _PinFailures())
        failures.count += 1
        if failures.count >= settings.pin_attempts:
            failures.locked_until = now + settings.pin_lockout
            return Refusal(403, "Too Many Wrong PINs")
        return Refusal(403, "Wrong PIN")

    def referral(self, requester: str) -> Refusal | None:
        """None if ``requester`` may have someone dialled in (RFC 4579 §5.5), else why not.

        One rule for a REFER inside the requester's call and one sent to the conference URI
        outside any dialog: a room with moderators takes additions from its moderators only;
        a room without lets anyone add, except that a PIN-protected room takes them only from
        someone present (who gave the PIN), as the PIN is what keeps strangers from bringing
        people in. The lock and size limit are checked with the target (:meth:`admission`).
        """
        if self.settings.moderators:
            if self.is_moderator(requester):
                return None
            return Refusal(403, "Only A Moderator May Add Participants")
        if self.settings.pin is not None and not self.find(requester):
            return Refusal(403, "Only A Participant May Add Participants")
        return None

    def is_moderator(self, identity: str) -> bool:
        """True if ``identity`` (a SIP URI) is one of this room's moderators."""
        return normalize_identity(identity) in self.settings.moderators

    # -- members --------------------------------------------------------------------------------

    def add(self, participant_id: str, identity: str, display_name: str | None, now: float,
            *, dialled_out: bool = False) -> Member:
        """A new member: joining (dialled in) or dialling (dialled out)."""
        if participant_id in self.members and \
                self.members[participant_id].state is not MemberState.GONE:
            raise RoomStateError(f"{participant_id} is already a member")
        member = Member(participant_id, normalize_identity(identity), display_name,
                        dialled_out, MemberState.DIALLING if dialled_out
                        else MemberState.JOINING, now)
        self.members[participant_id] = member
        return member

    def step(self, participant_id: str, event: MemberInput) -> MemberState:
        """Apply ``event`` to a member through :data:`TRANSITIONS`; its new state."""
        member = self.members.get(participant_id)
        if member is None:
            raise RoomStateError(f"no member {participant_id}")
        following = TRANSITIONS[(member.state, event)]
        if following is None:
            raise RoomStateError(f"{event.value} cannot happen to a {member.state.value} "
                                 "member")
        member.state = following
        if following is MemberState.GONE:
            del self.members[participant_id]
        return following

    def find(self, identity: str) -> list[Member]:
        """Members (not gone) with this identity."""
        wanted = normalize_identity(identity)
        return [m for m in self.present if m.identity == wanted]

    # -- the roster (RFC 4575) --------------------------------------------------------------

    def roster(self) -> ConferenceInfo:
        """The room's full state, without a version (each subscription numbers its own).

        One user per identity, with one endpoint per call of theirs (RFC 4575 §5.6, §5.7).
        """
        users: dict[str, list[Member]] = {}
        for member in self.present:
            if member.state is MemberState.CONNECTED:
                users.setdefault(member.identity, []).append(member)
        listed = tuple(ConferenceUser(identity, _display(calls),
                                      tuple(self.endpoint(m) for m in calls))
                       for identity, calls in users.items())
        return ConferenceInfo(self.entity, display_text=self.settings.name, users=listed,
                              user_count=len(listed), locked=self.locked,
                              maximum_user_count=self.settings.max_participants)

    def endpoint(self, member: Member) -> ConferenceEndpoint:
        """How one call of a member appears in the roster."""
        return ConferenceEndpoint(
            entity=f"{member.identity};participant={member.participant_id}",
            status="connected" if member.state is MemberState.CONNECTED else "disconnected",
            joining_method="dialed-out" if member.dialled_out else "dialed-in",
            media_status="recvonly" if member.muted else "sendrecv",
            display_text=member.display_name, talking=member.talking)

    def user_change(self, member: Member, *, left: bool = False) -> ConferenceUser:
        """The partial ``<user>`` saying that ``member`` joined, changed, or left.

        A user whose last call left is deleted; one with other calls loses that endpoint.
        """
        others = [m for m in self.present if m.identity == member.identity
                  and m is not member and m.state is MemberState.CONNECTED]
        if left and not others:
            return ConferenceUser(member.identity, state=DocumentState.DELETED)
        endpoint = self.endpoint(member)
        if left:
            endpoint = ConferenceEndpoint(endpoint.entity, state=DocumentState.DELETED)
        return ConferenceUser(member.identity, _display([member, *others]), (endpoint,),
                              DocumentState.PARTIAL)


def _display(members: list[Member]) -> str | None:
    return next((m.display_name for m in members if m.display_name), None)


__all__ = [
    "TRANSITIONS",
    "ConferenceRoom",
    "Member",
    "MemberInput",
    "MemberState",
    "Refusal",
    "RoomSettings",
    "RoomStateError",
]
