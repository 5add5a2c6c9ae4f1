"""The SIP focus: a PERC conference's call processing (RFC 8871 §3, RFC 4353, RFC 4579).

Each room is a conference URI, ``sip:room@domain``. The focus never holds a media key: it
answers INVITEs from PERC endpoints with an SDP answer whose ``c=``/``m=`` point at the room's
Media Distributor and whose ``a=fingerprint``/``a=tls-id`` are the Key Distributor's, with
``a=setup:passive`` (perc.md §6), and it tells the Key Distributor, over the focus interface
(:mod:`sipperc.perc.focus_interface`), which endpoint to expect.

A dial-in (RFC 4579 §5.3):

1. INVITE with a PERC offer (anything else: 488 from the offer/answer engine, naming why);
   an unknown room is 404, a locked one 403, a full one 486, a wrong PIN 403
   (:class:`~sipperc.perc.conference_room.ConferenceRoom`);
2. the endpoint's ``a=fingerprint``, ``a=tls-id`` and identity are announced to the Key
   Distributor. With digest authentication configured (:class:`CallerAuthentication`) the
   identity is the ``From`` URI of an authenticated caller whose user part is its user name;
   without, it is ``P-Asserted-Identity`` (from a trusted proxy) or else ``From``;
3. only when it accepts is the call answered (200 with the answer completed by
   ``OfferAnswer.delegate_dtls``: its fingerprint and the tls-id it picked for this endpoint);
   refused: 403 with its reason; no answer within ``announce_timeout``: 503.

BYE (or a moderator's kick) withdraws the participant from the Key Distributor, which closes
its association and rekeys the others (RFC 8871 §4.5.2).

When the Key Distributor restarts it forgets every DTLS association; the focus re-announces
everyone and gets new Key Distributor tls-ids (``FocusInterfaceClient.on_reannounced``). Each
participant is then sent a **re-INVITE without an offer** (RFC 3261 §14.1): the endpoint
offers again with its own tls-id unchanged, and the focus answers in the ACK with the new Key
Distributor tls-id, so the endpoint runs a new handshake (RFC 8842 §5) with values the Key
Distributor knows. (A re-INVITE *with* an offer carrying the new tls-id would make the endpoint
answer with a new tls-id of its own, RFC 8842 §5.3, which the Key Distributor has not been
told: it would refuse the handshake.)

Dial-out (RFC 4579 §5.4, §5.5): a REFER inside a participant's call, or one sent to the
conference URI outside any dialog, with ``Refer-To`` a new participant's URI makes the focus
INVITE that URI with the conference's PERC offer. Who may ask is one rule for both
(:meth:`~sipperc.perc.conference_room.ConferenceRoom.referral`: the moderators, in a room
that has any); a refused REFER outside a dialog gets 403, one for an unknown room 404. The Key
Distributor's tls-id for an endpoint exists only once the endpoint's tls-id is known, so the
first offer has the stream ``inactive``; once the answer is in, the endpoint is announced and,
when accepted, sent the offerless re-INVITE above, which starts the media. The REFER's
progress goes back as NOTIFY ``message/sipfrag`` (RFC 3515 §2.4.5).

Conference state (RFC 4575): SUBSCRIBE to the conference URI with ``Event: conference`` gets a
full ``application/conference-info+xml`` document, then a partial one for each join, leave,
lock and mute, each subscription numbering its own versions (§4.6).

Talking: the Media Distributor reports which endpoints talk, each by the tls-id of its DTLS
ClientHello (:mod:`sipperc.perc.speaker_report`); the focus finds the call it announced with
that tls-id and sends a partial document with the endpoint's media marked ``<talking>``
(sipperc's RFC 4575 extension element, :mod:`sipperc.perc.conference_info`).

Moderators (identities configured per room) send a MESSAGE to the conference URI, or inside
their call, whose text is one command: ``lock``, ``unlock`` or ``kick <sip-uri>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from sipperc.dtls import Identity
from sipperc.perc.conference_info import (
    CONTENT_TYPE,
    EVENT_PACKAGE,
    ConferenceInfo,
    ConferenceUser,
    DocumentState,
    render_conference_info,
)
from sipperc.perc.conference_room import (
    ConferenceRoom,
    Member,
    MemberInput,
    MemberState,
    RoomSettings,
)
from sipperc.perc.focus_interface import Accepted, ParticipantState, ParticipantStatus, Refused
from sipperc.perc.focus_service import AnnouncementAnswer, FocusInterfaceClient
from sipperc.perc.key_distributor import ParticipantAnnouncement
from sipperc.perc.participant_call import DEFAULT_CODECS, perc_capabilities
from sipperc.sdp import (
    Codec,
    Direction,
    DtlsIdentity,
    DtlsSrtp,
    Fingerprint,
    MediaSecurityPolicy,
    NegotiatedSession,
    OfferAnswer,
    PercRole,
    TlsId,
    TransportAddress,
)
from sipperc.sip.digest import Challenged, DigestServer
from sipperc.sip.headers import Address
from sipperc.sip.message import Request, Response
from sipperc.sip.twisted_transport import TlsConfig
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.uri import SipUri
from sipperc.sip.user_agent import UserAgentConfig
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallRef,
    CallUpdated,
    CallUpdateFailed,
    IncomingCall,
    MessageReceived,
    ReferReceived,
    ReferRequested,
    SubscriptionEnded,
    SubscriptionRef,
    SubscriptionRequested,
)

_log = Logger(namespace="sipperc.perc.focus")

DEFAULT_ANNOUNCE_TIMEOUT = 10.0
REFRESH_ATTEMPTS = 3
"""Offerless re-INVITEs tried before a participant that cannot be keyed again is hung up."""


@dataclass(frozen=True, slots=True)
class FocusSettings:
    """The focus's own settings: where it listens, its domain, its rooms."""

    listen: tuple[str, ...]
    domain: str
    rooms: Mapping[str, RoomSettings]
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    announce_timeout: float = DEFAULT_ANNOUNCE_TIMEOUT
    tls: TlsConfig | None = None
    """Our certificate for ``tls:`` listeners and whom we trust (RFC 5922)."""
    authentication: DigestServer | None = None
    """Digest authentication of callers, subscribers and moderators (RFC 3261 §22)."""


@dataclass(slots=True)
class _Call:
    """One call of the focus with a participant."""

    call: CallRef
    room: ConferenceRoom
    member: Member
    engine: OfferAnswer
    announced: ParticipantAnnouncement | None = None
    key_distributor_tls_id: bytes | None = None
    answered: bool = False
    timeout: IDelayedCall | None = None
    refreshing: bool = False
    refresh_failures: int = 0


@dataclass(slots=True)
class _Watcher:
    """One conference subscription and the version of the last document it got (§4.6)."""

    room: ConferenceRoom
    version: int = 0


@dataclass(slots=True)
class FocusStatistics:
    """What the focus has done since it started."""

    joined: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    reinvites: int = 0
    dial_outs: int = 0
    notifies: int = 0


class CallerAuthentication:
    """Challenges requests that start something (INVITE, SUBSCRIBE, MESSAGE) with digest.

    The user agent asks :meth:`check` before it reports a request. A request gets through
    only if its ``From`` user part is the authenticated user name, so the focus can take the
    ``From`` URI as the caller's identity: a caller cannot claim to be someone else (RFC 3261
    §22.1 leaves that check to the server). Requests inside a dialog are not challenged: the
    dialog was started by an authenticated request (§22).
    """

    _CHALLENGED = frozenset({"INVITE", "SUBSCRIBE", "MESSAGE", "REFER"})

    def __init__(self, server: DigestServer) -> None:
        self.server = server

    def check(self, request: Request, now: float) -> Response | None:
        """None to let ``request`` through, else the 401 challenge or the refusal."""
        if request.method not in self._CHALLENGED:
            return None
        verdict = self.server.verify(request, now)
        if isinstance(verdict, Challenged):
            return verdict.response
        user = request.from_.uri.user if isinstance(request.from_.uri, SipUri) else None
        if user != verdict.username:
            return request.response(403, "From Does Not Match The Authenticated User")
        return None


class SipFocus:
    """The conference focus on a SIP user agent and a focus interface client.

    ``key_distributor`` is the :class:`FocusInterfaceClient` (started and stopped with the
    focus). Start with :meth:`start`; :attr:`agent` is the SIP user agent once started.
    """

    def __init__(self, settings: FocusSettings, key_distributor: FocusInterfaceClient, *,
                 reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.reactor = reactor
        self.settings = settings
        self.key_distributor = key_distributor
        key_distributor.on_reannounced = self._reannounced
        key_distributor.on_status = self._status
        self.rooms = {name: ConferenceRoom.open(room, settings.domain)
                      for name, room in settings.rooms.items()}
        self.agent: TwistedUserAgent | None = None
        self.statistics = FocusStatistics()
        self._calls: dict[CallRef, _Call] = {}
        self._by_participant: dict[tuple[str, str], _Call] = {}
        self._watchers: dict[SubscriptionRef, _Watcher] = {}
        self._kd_identity: dict[str, DtlsIdentity] = {}
        self._placeholder = DtlsIdentity.of_certificate(Identity.generate(
            "sipperc focus: no DTLS here").certificate_der)
        self._numbers = itertools.count(1)
        self.authentication = (CallerAuthentication(settings.authentication)
                               if settings.authentication is not None else None)

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for SIP and connect to the Key Distributor."""
        self.key_distributor.startService()
        config = UserAgentConfig(user="focus", display_name=None, domain=self.settings.domain,
                                 event_packages=(EVENT_PACKAGE,), refer_outside_dialog=True)
        self.agent = TwistedUserAgent.listen(list(self.settings.listen), self._offer_answer,
                                             config, on_event=self._event,
                                             tls=self.settings.tls,
                                             checker=self.authentication,
                                             reactor=self.reactor)
        _log.info("SIP focus listening", rooms=", ".join(sorted(self.rooms)),
                  domain=self.settings.domain)

    def stop(self) -> Deferred[Any]:
        """Hang up every call, end every subscription, disconnect."""
        agent = self.agent
        if agent is not None:
            for call in list(self._calls):
                agent.hangup(call)
            for ref in list(self._watchers):
                agent.end_subscription(ref, reason="noresource")
            self._watchers.clear()
        from twisted.internet.defer import DeferredList, maybeDeferred  # noqa: PLC0415

        stops = [maybeDeferred(self.key_distributor.stopService)]
        if agent is not None:
            stops.append(maybeDeferred(agent.stop))
        self.agent = None
        return DeferredList(stops)

    def conference_uri(self, room: str) -> str:
        """``sip:room@domain``."""
        return self.rooms[room].entity

    # -- SDP ------------------------------------------------------------------------------------

    def _room_of(self, uri: object) -> ConferenceRoom | None:
        return self.rooms.get(uri.user or "") if isinstance(uri, SipUri) else None

    def _offer_answer(self, request: Request | None, room: ConferenceRoom | None = None, *,
                      direction: Direction = Direction.SENDRECV) -> OfferAnswer:
        if room is None and request is not None:
            room = self._room_of(request.uri)
        if room is None:
            room = next(iter(self.rooms.values()))  # refused on IncomingCall (404)
        host, port = room.settings.media_distributor
        distributor = TransportAddress(host, port)
        identity = self._kd_identity.get(room.settings.room, self._placeholder)
        return OfferAnswer(
            address=host, capabilities=[perc_capabilities(self.settings.codecs,
                                                          direction=direction)],
            transports=lambda index, kind: distributor,
            security=MediaSecurityPolicy.perc_only(), dtls_identity=identity,
            perc_role=PercRole.FOCUS, session_name=room.settings.name,
            prefer_local_codec_order=True)

    # -- SIP events -------------------------------------------------------------------------------

    def _event(self, event: object) -> None:
        try:
            if isinstance(event, IncomingCall):
                self._incoming(event)
            elif isinstance(event, CallAnswered):
                self._answered(event.call, event.negotiated)
            elif isinstance(event, CallUpdated):
                self._updated(event.call, event.negotiated)
            elif isinstance(event, CallUpdateFailed):
                self._update_failed(event)
            elif isinstance(event, CallEnded):
                self._ended(event)
            elif isinstance(event, SubscriptionRequested):
                self._subscribe(event)
            elif isinstance(event, SubscriptionEnded):
                self._watchers.pop(event.subscription, None)
            elif isinstance(event, MessageReceived):
                self._message(event)
            elif isinstance(event, ReferReceived):
                self._refer(event)
            elif isinstance(event, ReferRequested):
                self._refer_to_room(event)
        except Exception:
            _log.failure("the focus failed handling {event}", event=type(event).__name__)

    def _incoming(self, event: IncomingCall) -> None:
        agent = self.agent
        assert agent is not None
        room = self._room_of(event.request.uri)
        if room is None:
            self._refuse(event.call, 404, "No Such Conference")
            return
        if event.offer is None:
            self._refuse(event.call, 488, "A PERC Offer Is Needed In The INVITE")
            return
        identity = self._identity(event.request)
        pin = event.request.uri.parameters.get("pin") if isinstance(event.request.uri,
                                                                    SipUri) else None
        refusal = room.admission(identity, pin, self.reactor.seconds())
        if refusal is not None:
            _log.info("call refused: {reason}", reason=refusal.reason,
                      call_id=event.call.call_id, conference=room.settings.room,
                      caller=identity)
            self._refuse(event.call, refusal.status, refusal.reason)
            return
        engine = agent.ua.session(event.call).offer_answer
        negotiated = engine.negotiated
        assert negotiated is not None
        member = room.add(self._participant_id(identity), identity,
                          event.caller.display_name, self.reactor.seconds())
        call = _Call(event.call, room, member, engine)
        self._track(call)
        call.timeout = self.reactor.callLater(self.settings.announce_timeout,
                                              self._announce_timed_out, call)
        self._announce(call, negotiated)

    def _identity(self, request: Request) -> str:
        """Who sent ``request``, as identities are taken (module docstring, step 2).

        The authenticated ``From`` with digest authentication (:class:`CallerAuthentication`),
        else what the network asserts.
        """
        return (str(request.from_.uri) if self.authentication is not None
                else _asserted_identity(request))

    def _participant_id(self, identity: str) -> str:
        user = identity.partition(":")[2].partition("@")[0] or "anonymous"
        return f"{user[:200]}.{next(self._numbers)}"

    def _track(self, call: _Call) -> None:
        self._calls[call.call] = call
        self._by_participant[(call.room.settings.room, call.member.participant_id)] = call

    def _announce(self, call: _Call, negotiated: NegotiatedSession) -> None:
        announcement = _announcement(call, negotiated)
        if announcement is None:
            self._end(call, 488, "No PERC Audio Stream")
            return
        call.announced = announcement
        answer = self.key_distributor.announce(announcement)
        answer.addCallback(self._announce_answered, call)
        answer.addErrback(lambda failure: _log.failure("announcement failed", failure))

    def _announce_answered(self, answer: AnnouncementAnswer, call: _Call) -> None:
        if self._calls.get(call.call) is not call:
            return  # the call ended meanwhile (CANCEL); _ended withdrew it
        if call.timeout is not None and call.timeout.active():
            call.timeout.cancel()
        call.timeout = None
        if isinstance(answer, Refused):
            _log.info("the Key Distributor refused {participant}: {reason}",
                      participant=call.member.participant_id, reason=answer.reason,
                      call_id=call.call.call_id, conference=call.room.settings.room)
            self._end(call, 403, _reason_phrase(answer.reason))
            return
        self._apply_accepted(call, answer)

    def _apply_accepted(self, call: _Call, accepted: Accepted) -> None:
        agent = self.agent
        assert agent is not None
        identity = DtlsIdentity((Fingerprint.parse(str(accepted.key_distributor_fingerprint)),))
        self._kd_identity[call.room.settings.room] = identity
        tls_id = TlsId(accepted.key_distributor_tls_id.decode("ascii"))
        changed = call.key_distributor_tls_id != accepted.key_distributor_tls_id
        call.key_distributor_tls_id = accepted.key_distributor_tls_id
        member = call.member
        if member.state is MemberState.JOINING:
            call.engine.delegate_dtls(identity, tls_id)
            call.room.step(member.participant_id, MemberInput.ACCEPTED)
            agent.answer(call.call)
            return
        if member.state is MemberState.DIALLING:
            return  # not answered yet: _answered announces once it is
        if not changed:
            return
        # Connected: a Key Distributor restart, a dial-out's first real keys, or an endpoint
        # that changed its tls-id. An offerless re-INVITE: the endpoint offers with its own
        # tls-id unchanged and our answer (in the ACK) carries the new Key Distributor tls-id.
        if call.engine.capabilities[0].direction is not Direction.SENDRECV:
            active = perc_capabilities(self.settings.codecs)
            call.engine.capabilities = (active,)
        call.engine.delegate_dtls(identity, tls_id)
        call.refreshing = True
        self.statistics.reinvites += 1
        _log.info("re-INVITE for the Key Distributor's new tls-id",
                  participant=member.participant_id, call_id=call.call.call_id,
                  conference=call.room.settings.room)
        agent.reinvite(call.call, offer=False)

    def _announce_timed_out(self, call: _Call) -> None:
        call.timeout = None
        if self._calls.get(call.call) is call and call.member.state is MemberState.JOINING:
            self._end(call, 503, "Key Distributor Unavailable")

    def _reannounced(self, key: tuple[str, str], accepted: Accepted) -> None:
        call = self._by_participant.get(key)
        if call is not None:
            self._apply_accepted(call, accepted)

    def _status(self, status: ParticipantStatus) -> None:
        call = self._by_participant.get((status.room, status.participant_id))
        _log.info("Key Distributor: {participant} {state}", participant=status.participant_id,
                  state=status.state.name.lower(), reason=status.reason,
                  conference=status.room)
        if call is not None and status.state is ParticipantState.REFUSED:
            self._end(call, 403, _reason_phrase(status.reason))

    def _answered(self, ref: CallRef, negotiated: NegotiatedSession | None) -> None:
        call = self._calls.get(ref)
        if call is None:
            return
        call.answered = True
        member = call.member
        if member.state is MemberState.DIALLING:
            call.room.step(member.participant_id, MemberInput.ANSWERED)
            if negotiated is not None:
                self._announce(call, negotiated)
        self.statistics.joined += 1
        _log.info("{participant} joined", participant=member.participant_id,
                  conference=call.room.settings.room, call_id=ref.call_id,
                  identity=member.identity)
        self._muted(call, negotiated)
        self._roster_changed(call.room, call.room.user_change(member))

    def _updated(self, ref: CallRef, negotiated: NegotiatedSession) -> None:
        call = self._calls.get(ref)
        if call is None:
            return
        call.refreshing = False
        call.refresh_failures = 0
        announcement = _announcement(call, negotiated)
        if announcement is not None and call.announced is not None and \
                announcement.tls_id != call.announced.tls_id:
            # The endpoint started a new association of its own (RFC 8842 §5.3): tell the Key
            # Distributor; its answer comes back through _apply_accepted (re-INVITE).
            self._announce(call, negotiated)
        if self._muted(call, negotiated):
            self._roster_changed(call.room, call.room.user_change(call.member))

    def _update_failed(self, event: CallUpdateFailed) -> None:
        """Our offerless re-INVITE was refused: without it the endpoint cannot be keyed again.

        Try again after a second (a glare the session did not settle, a peer busy with its
        own change), up to :data:`REFRESH_ATTEMPTS` times, then hang up: a participant that
        can no longer get keys is better told than left in silence.
        """
        call = self._calls.get(event.call)
        if call is None or not call.refreshing:
            return
        call.refresh_failures += 1
        _log.warn("re-INVITE refused ({status} {reason})", status=event.status_code,
                  reason=event.reason, participant=call.member.participant_id,
                  call_id=event.call.call_id)
        if call.refresh_failures >= REFRESH_ATTEMPTS:
            self._end(call, 500, "Cannot Renew The Keys")
            return
        self.reactor.callLater(1.0, self._retry_refresh, call)

    def _retry_refresh(self, call: _Call) -> None:
        if self._calls.get(call.call) is call and call.refreshing and self.agent is not None:
            self.agent.reinvite(call.call, offer=False)

    def _muted(self, call: _Call, negotiated: NegotiatedSession | None) -> bool:
        """Record whether the participant sends to the conference; True if that changed."""
        if negotiated is None or not negotiated.streams:
            return False
        stream = negotiated.streams[0]
        muted = stream.accepted and stream.receives is False
        if stream.direction is Direction.INACTIVE and call.member.dialled_out:
            muted = False  # a dial-out before the Key Distributor accepted it
        if muted == call.member.muted:
            return False
        call.member.muted = muted
        return True

    def _ended(self, event: CallEnded) -> None:
        call = self._calls.pop(event.call, None)
        if call is None:
            return
        room, member = call.room, call.member
        self._by_participant.pop((room.settings.room, member.participant_id), None)
        if call.timeout is not None and call.timeout.active():
            call.timeout.cancel()
        was_present = member.state is MemberState.CONNECTED and call.answered
        change = room.user_change(member, left=True) if was_present else None
        if room.members.get(member.participant_id) is member:
            room.step(member.participant_id, MemberInput.ENDED)
        if call.announced is not None:
            self.key_distributor.withdraw(room.settings.room, member.participant_id)
        if was_present:
            _log.info("{participant} left", participant=member.participant_id,
                      conference=room.settings.room, call_id=event.call.call_id,
                      reason=event.reason.value)
            assert change is not None
            self._roster_changed(room, change)

    def _refuse(self, ref: CallRef, status: int, reason: str) -> None:
        assert self.agent is not None
        self.statistics.refused[status] = self.statistics.refused.get(status, 0) + 1
        self.agent.reject(ref, status, reason)

    def _end(self, call: _Call, status: int, reason: str) -> None:
        """Refuse a call not yet answered, or hang up one that is."""
        agent = self.agent
        assert agent is not None
        if call.member.state is MemberState.JOINING:
            self._refuse(call.call, status, reason)
        else:
            agent.hangup(call.call)

    # -- RFC 4575 ---------------------------------------------------------------------------------

    def _subscribe(self, event: SubscriptionRequested) -> None:
        agent = self.agent
        assert agent is not None
        room = self._room_of(event.request.uri)
        if event.subscription.package != EVENT_PACKAGE or room is None:
            agent.reject_subscription(event.subscription, 404)
            return
        watcher = self._watchers[event.subscription] = _Watcher(room, 1)
        document = _versioned(room.roster(), watcher.version)
        self.statistics.notifies += 1
        agent.accept_subscription(event.subscription, body=render_conference_info(document),
                                  content_type=CONTENT_TYPE)

    def _roster_changed(self, room: ConferenceRoom, *users: ConferenceUser) -> None:
        """A partial document with ``users`` (and the room's counts) to every subscriber."""
        agent = self.agent
        if agent is None:
            return
        full = room.roster()
        partial = ConferenceInfo(room.entity, state=DocumentState.PARTIAL,
                                 user_count=full.user_count, locked=full.locked, users=users)
        for ref, watcher in list(self._watchers.items()):
            if watcher.room is not room:
                continue
            watcher.version += 1
            self.statistics.notifies += 1
            try:
                agent.notify(ref, render_conference_info(_versioned(partial, watcher.version)),
                             CONTENT_TYPE)
                # A refreshing SUBSCRIBE gets the whole state at this version (RFC 6665
                # §4.2.1.2): a subscriber that lost a partial document is repaired by it.
                agent.set_subscription_state(
                    ref, render_conference_info(_versioned(full, watcher.version)),
                    CONTENT_TYPE)
            except RuntimeError as error:  # the subscription ended meanwhile
                _log.debug("no NOTIFY: {error}", error=str(error))
                self._watchers.pop(ref, None)

    # -- talking (reports from the Media Distributor) ---------------------------------------------

    def talking(self, room_name: str, tls_id: bytes, talking: bool) -> None:
        """The endpoint that announced ``tls_id`` in ``room_name`` started or stopped talking.

        Reports about calls the focus does not know (over, or another room's) are ignored.
        """
        for call in self._calls.values():
            if call.room.settings.room != room_name or call.announced is None or \
                    call.announced.tls_id != tls_id:
                continue
            if call.member.talking != talking:
                call.member.talking = talking
                if call.member.state is not MemberState.CONNECTED:
                    return  # not in the roster yet: its first entry will say it
                _log.debug("{participant} {state} talking", participant=call.member.identity,
                           state="is" if talking else "stopped", conference=room_name)
                self._roster_changed(call.room, call.room.user_change(call.member))
            return

    # -- moderators -------------------------------------------------------------------------------

    def _message(self, event: MessageReceived) -> None:
        room: ConferenceRoom | None
        if event.call is not None and event.call in self._calls:
            room = self._calls[event.call].room
        else:
            room = self._room_of(event.recipient.uri)
        if room is None:
            return
        sender = str(event.sender.uri)
        text = event.body.decode("utf-8", "replace").strip()
        if not room.is_moderator(sender):
            _log.warn("moderator command from a non-moderator refused", sender=sender,
                      conference=room.settings.room, command=text[:40])
            return
        self.moderate(room.settings.room, text, by=sender)

    def moderate(self, room_name: str, command: str, *, by: str = "local admin") -> str:
        """Carry out a moderator command on a room; what happened, in words.

        ``lock``, ``unlock``, ``kick <sip-uri>`` (every call of that identity is hung up
        with BYE and withdrawn from the Key Distributor, which rekeys the others).
        """
        room = self.rooms[room_name]
        verb, _, argument = command.strip().partition(" ")
        verb = verb.lower()
        if verb in ("lock", "unlock"):
            room.locked = verb == "lock"
            _log.info("conference {state} by {by}", state=f"{verb}ed", by=by,
                      conference=room_name)
            self._roster_changed(room)
            return f"{verb}ed"
        if verb == "kick" and argument:
            kicked = [call for call in self._calls.values()
                      if call.room is room and call.member in room.find(argument.strip())]
            for call in kicked:
                _log.info("{participant} removed by {by}", participant=call.member.participant_id,
                          by=by, conference=room_name)
                self._end(call, 403, "Removed By The Moderator")
            return f"removed {len(kicked)} call(s)"
        return f"unknown command {command!r} (lock, unlock, kick <sip-uri>)"

    # -- dial-out (REFER) ------------------------------------------------------------------------

    def _refer(self, event: ReferReceived) -> None:
        """A REFER inside a participant's call: the participant asks (RFC 4579 §5.5)."""
        agent = self.agent
        assert agent is not None
        call = self._calls.get(event.call)
        if call is None:
            agent.reject_refer(event.subscription, 481)
            return
        refusal = call.room.referral(call.member.identity)
        if refusal is not None:
            _log.info("REFER refused: {reason}", reason=refusal.reason,
                      conference=call.room.settings.room, requester=call.member.identity)
            agent.reject_refer(event.subscription, refusal.status)
            return
        self._refer_into(call.room, str(event.target.uri), event.subscription)

    def _refer_to_room(self, event: ReferRequested) -> None:
        """A REFER to the conference URI outside any dialog (RFC 4579 §5.5, RFC 3515 §2.4.2).

        The requester is identified as a caller is (the authenticated ``From`` with digest
        authentication, else ``P-Asserted-Identity`` or ``From``) and must pass the same
        :meth:`ConferenceRoom.referral` rule as a REFER inside a call: 202 then the dial-out
        with NOTIFY progress, else 403; an unknown room is 404.
        """
        agent = self.agent
        assert agent is not None
        room = self._room_of(event.request.uri)
        if room is None:
            agent.refuse_refer(event.subscription, 404, "No Such Conference")
            return
        requester = self._identity(event.request)
        refusal = room.referral(requester)
        if refusal is not None:
            _log.info("REFER refused: {reason}", reason=refusal.reason,
                      conference=room.settings.room, requester=requester)
            agent.refuse_refer(event.subscription, refusal.status, refusal.reason)
            return
        agent.accept_refer(event.subscription)
        self._refer_into(room, str(event.target.uri), event.subscription)

    def _refer_into(self, room: ConferenceRoom, target: str,
                    subscription: SubscriptionRef) -> None:
        """Dial ``target`` out for an accepted REFER, or NOTIFY why not (lock, size)."""
        agent = self.agent
        assert agent is not None
        refusal = room.admission(target, None, self.reactor.seconds(), dial_out=True)
        if refusal is not None:
            agent.reject_refer(subscription, refusal.status)
            return
        self.dial_out(room.settings.room, target, refer=subscription)

    def dial_out(self, room_name: str, target: str, *,
                 refer: SubscriptionRef | None = None) -> CallRef:
        """INVITE ``target`` into a room (RFC 4579 §5.4); see the module docstring."""
        agent = self.agent
        assert agent is not None
        room = self.rooms[room_name]
        engine = self._offer_answer(None, room, direction=Direction.INACTIVE)
        caller = Address(SipUri(host=self.settings.domain, user=room_name),
                         room.settings.name)
        ref = agent.invite(target, from_=caller, offer_answer=engine, refer=refer)
        member = room.add(self._participant_id(target), target, None, self.reactor.seconds(),
                          dialled_out=True)
        self._track(_Call(ref, room, member, engine))
        self.statistics.dial_outs += 1
        _log.info("dialling out to {target}", target=target, conference=room_name,
                  call_id=ref.call_id)
        return ref


def _announcement(call: _Call, negotiated: NegotiatedSession) -> ParticipantAnnouncement | None:
    """What the Key Distributor must expect from this call's endpoint (its SDP)."""
    for stream in negotiated.streams:
        security = stream.security
        if not stream.accepted or not isinstance(security, DtlsSrtp) or not security.perc:
            continue
        if security.remote_tls_id is None:
            return None
        fingerprints = tuple(f.certificate_fingerprint for f in security.remote_fingerprints
                             if f.certificate_fingerprint is not None)
        if not fingerprints:
            return None
        return ParticipantAnnouncement(
            call.room.settings.room, call.member.participant_id,
            security.remote_tls_id.value.encode("ascii"), fingerprints, call.member.identity)
    return None


def _asserted_identity(request: Request) -> str:
    """P-Asserted-Identity (RFC 3325) from a trusted proxy, else the From URI."""
    asserted = request.get("P-Asserted-Identity")
    if asserted:
        try:
            return str(Address.parse(asserted.split(",")[0]).uri)
        except ValueError:
            pass
    return str(request.from_.uri)


def _reason_phrase(text: str) -> str:
    """A reason from the Key Distributor, fit for a status line (no CR/LF, bounded)."""
    cleaned = " ".join(text.split())[:120]
    return cleaned[:1].upper() + cleaned[1:] if cleaned else "Forbidden"


def _versioned(info: ConferenceInfo, version: int) -> ConferenceInfo:
    return replace(info, version=version)


__all__ = ["FocusSettings", "FocusStatistics", "SipFocus"]
