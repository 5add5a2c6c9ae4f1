"""A PERC participant that joins its conference over SIP.

The object the softphone and the B2BUA build on: :class:`ParticipantCall` INVITEs a conference
URI (``sip:room@host``) with a PERC offer, or answers a focus that INVITEs it (dial-out), turns
the SDP answer into :class:`~sipperc.perc.participant.PercSessionParameters`, runs the
:class:`~sipperc.perc.participant.Participant` on a UDP port of its own, follows the focus's
re-INVITEs and says BYE when it leaves.

The offer (RFC 3264, :mod:`sipperc.sdp.perc`): ``UDP/TLS/RTP/SAVP``, ``a=setup:actpass`` (the
focus answers ``passive``: the endpoint is the DTLS client, RFC 8871 §4.5.1), our certificate's
``a=fingerprint`` and a fresh ``a=tls-id`` (RFC 8842), ``a=sipperc-perc:1 endpoint``, the
RFC 6464 audio level ``a=extmap`` (id 1, what the Media Distributor reads by default) and the
codecs. The answer's ``c=``/``m=`` are the Media Distributor's; its fingerprint and tls-id are
the Key Distributor's, which the participant checks in DTLS (RFC 9185 §5.1).

What each SDP exchange means for the media is decided by :func:`media_step`, a plain function
of the current parameters and the new negotiated session (sans-I/O, tested on its own):

- the first usable exchange starts the participant (:class:`StartMedia`);
- a later one with another Key Distributor tls-id or fingerprint, or another Media
  Distributor address, renews the DTLS association (:class:`RenewAssociation`): the focus
  re-INVITEs after a Key Distributor restart, and ``Participant.renew_association`` keeps the
  media running under the current keys until the new association is keyed;
- an ``inactive`` stream (a focus dialling out, before the Key Distributor has accepted us)
  waits (:class:`MediaWaiting`); anything else changes nothing (:class:`MediaUnchanged`).

:class:`ParticipantCall` is the Twisted edge: one SIP user agent and one media port, events to
``on_event`` (the participant's :data:`~sipperc.perc.participant.ParticipantEvent` values and
the SIP layer's :mod:`~sipperc.sip.user_agent_events`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from sipperc.dtls import Identity
from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.negotiated import NegotiatedMedia
from sipperc.perc.conference_info import (
    CONTENT_TYPE,
    EVENT_PACKAGE,
    ConferenceInfoError,
    ConferenceRoster,
    RosterOutcome,
    parse_conference_info,
)
from sipperc.perc.participant import (
    Participant,
    PercSessionParameters,
    SessionParametersError,
    negotiated_media,
)
from sipperc.perc.participant_endpoint import ParticipantEndpoint
from sipperc.sdp import (
    AUDIO_LEVEL_URI,
    Codec,
    Direction,
    DtlsIdentity,
    ExtMap,
    MediaCapabilities,
    MediaSecurityPolicy,
    NegotiatedSession,
    OfferAnswer,
    PercRole,
    TransportAddress,
)
from sipperc.sip.message import Request
from sipperc.sip.twisted_transport import TlsConfig
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import ChallengeAnswerer, UserAgentConfig
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallRef,
    CallUpdated,
    IncomingCall,
    NotifyReceived,
    SubscriptionEnded,
    SubscriptionRef,
)

_log = Logger(namespace="sipperc.perc.participant_call")

OPUS = Codec("opus", 48000, 2, "useinbandfec=1", 111)
PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
G722 = Codec("G722", 8000, payload_type=9)
TELEPHONE_EVENT = Codec("telephone-event", 8000, fmtp="0-16", payload_type=101)
DEFAULT_CODECS = (OPUS, PCMU, TELEPHONE_EVENT)
"""What a participant offers by default, most preferred first."""
AUDIO_LEVEL_ID = 1
"""The ``a=extmap`` id we offer for RFC 6464; the Media Distributor's default too."""


def perc_capabilities(codecs: Sequence[Codec] = DEFAULT_CODECS, *,
                      audio_level_id: int = AUDIO_LEVEL_ID, ptime: int = 20,
                      direction: Direction = Direction.SENDRECV) -> MediaCapabilities:
    """One PERC audio stream: ``codecs`` and the RFC 6464 audio level extension."""
    return MediaCapabilities("audio", tuple(codecs), direction, ptime=ptime,
                             extmaps=(ExtMap(audio_level_id, AUDIO_LEVEL_URI),))


def participant_offer_answer(identity: Identity, media: TransportAddress,
                             codecs: Sequence[Codec] = DEFAULT_CODECS, *,
                             audio_level_id: int = AUDIO_LEVEL_ID) -> OfferAnswer:
    """The SDP engine of a PERC endpoint receiving media at ``media`` (RFC 3264)."""
    return OfferAnswer(
        address=media.host, capabilities=[perc_capabilities(codecs,
                                                            audio_level_id=audio_level_id)],
        transports=lambda index, kind: media, security=MediaSecurityPolicy.perc_only(),
        dtls_identity=DtlsIdentity.of_certificate(identity.certificate_der),
        perc_role=PercRole.ENDPOINT, session_name="sipperc participant")


# -- the sans-I/O decision ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartMedia:
    """The first usable exchange: start the participant with these parameters and codecs."""

    session: PercSessionParameters
    media: NegotiatedMedia


@dataclass(frozen=True, slots=True)
class RenewAssociation:
    """New Key Distributor values (or Media Distributor address): handshake again."""

    session: PercSessionParameters


@dataclass(frozen=True, slots=True)
class MediaWaiting:
    """The stream is inactive for now (a focus dialling out before it is ready)."""


@dataclass(frozen=True, slots=True)
class MediaUnchanged:
    """Nothing the media cares about changed."""


MediaStep = StartMedia | RenewAssociation | MediaWaiting | MediaUnchanged


def media_step(current: PercSessionParameters | None,
               negotiated: NegotiatedSession) -> MediaStep:
    """What a new SDP exchange means for a participant whose parameters are ``current``.

    Raises :class:`~sipperc.perc.participant.SessionParametersError` when the exchange is not
    a usable PERC session (the call should then be ended, naming the reason).
    """
    accepted = [s for s in negotiated.streams if s.accepted and s.kind == "audio"]
    if not accepted:
        reasons = "; ".join(s.reason for s in negotiated.streams if s.reason) or "none"
        raise SessionParametersError(f"no audio stream was accepted ({reasons})")
    stream = accepted[0]
    if not stream.sends and not stream.receives:
        return MediaWaiting()
    session = PercSessionParameters.from_negotiated_stream(stream)
    if current is None:
        return StartMedia(session, negotiated_media(stream))
    if (session.key_distributor_tls_id != current.key_distributor_tls_id
            or set(session.key_distributor_fingerprints)
            != set(current.key_distributor_fingerprints)
            or session.media_distributor != current.media_distributor
            or session.local_tls_id != current.local_tls_id):
        return RenewAssociation(session)
    return MediaUnchanged()


# -- the Twisted edge ---------------------------------------------------------------------------


class JoinRefusedError(Exception):
    """The conference did not take our call: the final status and its reason."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(f"{status} {reason}" if status else reason)
        self.status = status
        self.reason = reason


class _MediaPort(DatagramProtocol):
    """Holds the media port from before the offer until the participant takes it over."""

    noisy = False

    def __init__(self) -> None:
        self.endpoint: ParticipantEndpoint | None = None

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """To the participant once there is one; dropped before."""
        if self.endpoint is not None:
            self.endpoint.datagramReceived(datagram, addr)


class ParticipantCall:
    """A PERC participant joining a conference over SIP (see the module docstring).

    ``source`` is the audio we send; ``sink`` hears everyone mixed and ``source_sink(ssrc)``
    makes a sink per remote source. ``sip_listen`` is where our SIP user agent listens
    (``udp:127.0.0.1:0``: any free port), ``media_host`` the address our media port binds
    and our SDP gives; ``tls`` our certificate and trust for SIP over TLS (``sips:`` or
    ``;transport=tls`` conference URIs); ``authenticator`` answers the focus's digest
    challenges (a :class:`~sipperc.sip.digest.DigestClient` with an account for the focus's
    host). With ``auto_answer`` a focus INVITE (dial-out) is answered at once.
    ``on_event`` hears every participant event and every SIP event of our calls.
    """

    def __init__(self, identity: Identity, source: AudioSource, *,
                 sink: AudioSink | None = None,
                 source_sink: Callable[[int], AudioSink] | None = None,
                 user: str = "participant", display_name: str | None = None,
                 sip_listen: str = "udp:127.0.0.1:0", media_host: str = "127.0.0.1",
                 codecs: Sequence[Codec] = DEFAULT_CODECS, auto_answer: bool = True,
                 reactor: Any = None, on_event: Callable[[object], None] | None = None,
                 audit_keys: bool = False, hop_timeout: float = 10.0,
                 tls: TlsConfig | None = None,
                 authenticator: ChallengeAnswerer | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.reactor = reactor
        self.identity = identity
        self.source = source
        self.sink = sink
        self.source_sink = source_sink
        self.user = user
        self.display_name = display_name
        self.sip_listen = sip_listen
        self.media_host = media_host
        self.codecs = tuple(codecs)
        self.auto_answer = auto_answer
        self.on_event = on_event
        self.audit_keys = audit_keys
        self.hop_timeout = hop_timeout
        self.tls = tls
        self.authenticator = authenticator
        self.agent: TwistedUserAgent | None = None
        self.call: CallRef | None = None
        self.participant: Participant | None = None
        """This call's participant; after a call, the last one (statistics, key audit)."""
        self.endpoint: ParticipantEndpoint | None = None
        self.ended: CallEnded | None = None
        self.roster = ConferenceRoster()
        """Who is in the conference, from :meth:`watch_roster`'s NOTIFYs (RFC 4575)."""
        self.roster_subscription: SubscriptionRef | None = None
        self._roster_uri: str | None = None
        self._media = _MediaPort()
        self._media_port: IListeningPort | None = None
        self._joining: Deferred[None] | None = None
        self._muted = False

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the media port and start the SIP user agent."""
        if self.agent is not None:
            return
        self._media_port = self.reactor.listenUDP(0, self._media, interface=self.media_host)
        self.agent = TwistedUserAgent.listen(
            [self.sip_listen], self._offer_answer,
            UserAgentConfig(user=self.user, display_name=self.display_name),
            on_event=self._sip_event, tls=self.tls, authenticator=self.authenticator,
            reactor=self.reactor)

    @property
    def media_address(self) -> TransportAddress:
        """Where we receive media (and what our SDP says)."""
        assert self._media_port is not None, "start() first"
        return TransportAddress(self.media_host,
                                self._media_port.getHost().port)  # type: ignore[attr-defined]

    @property
    def uri(self) -> str:
        """A SIP URI reaching this participant (for a focus to dial out to)."""
        assert self.agent is not None, "start() first"
        return self.agent.uri()

    def join(self, conference_uri: str, *,
             headers: Sequence[tuple[str, object]] = ()) -> Deferred[None]:
        """INVITE the conference; fires once answered and media started (else JoinRefusedError).

        ``headers`` go in the INVITE (e.g. ``Subject``).
        """
        self.start()
        assert self.agent is not None
        if self.call is not None:
            raise RuntimeError("this participant is already in a call")
        self.ended = None
        self._joining = Deferred()
        self.call = self.agent.invite(conference_uri, headers=headers)
        return self._joining

    def watch_roster(self, conference_uri: str) -> SubscriptionRef:
        """SUBSCRIBE to the conference's roster; :attr:`roster` follows its NOTIFYs.

        A lost NOTIFY (a version gap, RFC 4575 §4.6) subscribes again for the full state.
        """
        self.start()
        assert self.agent is not None
        self._roster_uri = conference_uri
        self.roster = ConferenceRoster()
        self.roster_subscription = self.agent.subscribe(conference_uri, EVENT_PACKAGE,
                                                        accept=(CONTENT_TYPE,))
        return self.roster_subscription

    def moderate(self, conference_uri: str, command: str) -> None:
        """Send a moderator command (``lock``, ``unlock``, ``kick <sip-uri>``) as a MESSAGE.

        Inside our call when we are in this conference's call, else to ``conference_uri``.
        """
        self.start()
        assert self.agent is not None
        target: CallRef | str = self.call if self.call is not None else conference_uri
        self.agent.send_message(target, command.encode(), "text/plain;charset=utf-8")

    def add_participant(self, uri: str, conference_uri: str | None = None) -> SubscriptionRef:
        """Ask the focus to dial ``uri`` into a conference (RFC 4579 §5.5).

        In a call (and no other ``conference_uri`` named): a REFER inside it. Otherwise a
        REFER to ``conference_uri`` outside any dialog, so a moderator can add people without
        being in the conference. Progress comes as ``ReferProgress`` events (``on_event``).
        """
        if conference_uri is None:
            if self.agent is None or self.call is None:
                raise RuntimeError("not in a conference: name the conference URI")
            return self.agent.refer(self.call, uri)
        self.start()
        assert self.agent is not None
        return self.agent.refer_outside(conference_uri, uri)

    @property
    def muted(self) -> bool:
        """True while we send no audio to the conference."""
        return self._muted

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute: stop (or resume) sending, and say so in SDP with a re-INVITE.

        Muted, our stream is ``recvonly`` (RFC 3264 §5.1): the focus shows us as muted in
        the roster (RFC 4575 media status) and the Media Distributor gets nothing from us.
        """
        if muted == self._muted:
            return
        self._muted = muted
        if self.endpoint is not None:
            self.endpoint.muted = muted
        if self.agent is None or self.call is None:
            return
        engine = self.agent.ua.session(self.call).offer_answer
        capabilities = perc_capabilities(
            self.codecs, direction=Direction.RECVONLY if muted else Direction.SENDRECV)
        engine.capabilities = (capabilities,)  # what a later offer from the focus is answered with
        engine.update_stream(0, capabilities=capabilities)
        self.agent.reinvite(self.call)

    def leave(self, reason: str = "bye") -> None:
        """Say BYE and stop the media (the Key Distributor rekeys the others)."""
        if self.agent is not None and self.call is not None:
            self.agent.hangup(self.call)
        self._stop_media(reason)

    def stop(self) -> Deferred[Any]:
        """Leave any call, end the roster subscription, close the audio and our ports."""
        self.leave("stopped")
        self.source.close()
        if self.sink is not None:
            self.sink.close()
        if self.agent is not None and self.roster_subscription is not None:
            self.agent.unsubscribe(self.roster_subscription)
        port, self._media_port = self._media_port, None
        agent, self.agent = self.agent, None
        stopping = [d for d in (port.stopListening() if port is not None else None,
                                agent.stop() if agent is not None else None)
                    if isinstance(d, Deferred)]
        if not stopping:
            return succeed(None)
        from twisted.internet.defer import DeferredList  # noqa: PLC0415

        return DeferredList(stopping)

    # -- SIP ------------------------------------------------------------------------------------

    def _offer_answer(self, request: Request | None) -> OfferAnswer:
        return participant_offer_answer(self.identity, self.media_address, self.codecs)

    def _sip_event(self, event: object) -> None:
        if isinstance(event, IncomingCall):
            self._incoming(event)
        elif isinstance(event, CallAnswered) and event.call == self.call:
            if event.negotiated is not None:
                self._negotiated(event.negotiated)
            if self.call is not None and self._joining is not None:
                joining, self._joining = self._joining, None
                joining.callback(None)
        elif isinstance(event, CallUpdated) and event.call == self.call:
            self._negotiated(event.negotiated)
        elif isinstance(event, NotifyReceived) and event.subscription == self.roster_subscription:
            self._roster_notify(event)
        elif isinstance(event, SubscriptionEnded) and \
                event.subscription == self.roster_subscription:
            self.roster_subscription = None
        elif isinstance(event, CallEnded) and event.call == self.call:
            self.ended = event
            self.call = None
            self._stop_media(event.reason.value)
            if self._joining is not None:
                joining, self._joining = self._joining, None
                joining.errback(JoinRefusedError(event.status_code, event.reason.value))
        if self.on_event is not None:
            self.on_event(event)

    def _roster_notify(self, event: NotifyReceived) -> None:
        if not event.notification.body:
            return
        try:
            document = parse_conference_info(event.notification.body)
        except ConferenceInfoError as error:
            _log.warn("unusable conference-info document: {error}", error=str(error))
            return
        if self.roster.apply(document) is RosterOutcome.GAP and self._roster_uri is not None \
                and self.agent is not None:
            _log.info("a roster NOTIFY was lost; subscribing again for the full state")
            self.agent.unsubscribe(event.subscription)
            self.watch_roster(self._roster_uri)

    def _incoming(self, event: IncomingCall) -> None:
        assert self.agent is not None
        if self.call is not None or not self.auto_answer:
            if self.call is not None:
                self.agent.reject(event.call, 486, "Already In A Conference")
            return
        self.call = event.call
        self.ended = None
        self.agent.answer(event.call)

    def _negotiated(self, negotiated: NegotiatedSession) -> None:
        # The participant of an earlier call stays readable (statistics, key audit), but a
        # new call starts media of its own.
        running = self.participant if self.endpoint is not None else None
        current = running.session if running is not None else None
        try:
            step = media_step(current, negotiated)
        except SessionParametersError as error:
            _log.warn("the conference's SDP is not usable: {error}", error=str(error))
            self.leave(str(error))
            return
        if isinstance(step, StartMedia):
            self._start_media(step)
        elif isinstance(step, RenewAssociation) and self.endpoint is not None:
            _log.info("renewing the association with the Key Distributor",
                      call_id=self.call.call_id if self.call else None)
            self.endpoint.renew_association(step.session)

    # -- media ----------------------------------------------------------------------------------

    def _start_media(self, step: StartMedia) -> None:
        assert self._media_port is not None
        participant = Participant(self.identity, step.session, step.media,
                                  now=self.reactor.seconds(), audit_keys=self.audit_keys,
                                  hop_timeout=self.hop_timeout)
        endpoint = ParticipantEndpoint(participant, self.source, self.sink,
                                       source_sink=self.source_sink, reactor=self.reactor,
                                       on_event=self.on_event)
        self.participant, self.endpoint = participant, endpoint
        endpoint.muted = self._muted
        self._media.endpoint = endpoint
        endpoint.makeConnection(self._media_port)  # type: ignore[arg-type]

    def _stop_media(self, reason: str) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            return
        self.endpoint = None
        self._media.endpoint = None
        endpoint.leave(reason, close_audio=False)  # the source and sink serve the next call
        endpoint.doStop()  # type: ignore[no-untyped-call]
        # The next call gets a port of its own: a new 5-tuple for a new DTLS association, so
        # the Media Distributor cannot take it for the one that just ended.
        used, self._media_port = self._media_port, None
        self._media = _MediaPort()
        if used is not None:
            used.stopListening()
            if self.agent is not None:
                self._media_port = self.reactor.listenUDP(0, self._media,
                                                          interface=self.media_host)


__all__ = [
    "AUDIO_LEVEL_ID",
    "DEFAULT_CODECS",
    "G722",
    "OPUS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "JoinRefusedError",
    "MediaStep",
    "MediaUnchanged",
    "MediaWaiting",
    "ParticipantCall",
    "RenewAssociation",
    "StartMedia",
    "media_step",
    "participant_offer_answer",
    "perc_capabilities",
]
