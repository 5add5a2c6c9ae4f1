"""A sipperc phone for interop tests: our SIP stack and media engine in one object.

:class:`SipperPhone` is what ``sipperc call``/``sipperc responder`` are to an operator, built
in-process from the library so a test can look inside: a :class:`TwistedUserAgent` on a
:class:`SipService` (UDP, TCP, TLS), optionally registering through a
:class:`RegistrationTU` with digest credentials, and for every answered call a
:class:`MediaEndpoint` on its own UDP port that sends a WAV file (looped) and records what it
receives to a WAV file. SDES-SRTP is used when the SDP exchange settled on it.

Everything it sees is kept for the assertions: the user-agent and registration events
(``events``), every SIP message sent and received (``wire``), and per call the media
endpoint and its recording (``media``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task

from sipperc.apps.call_media import CallMedia, MediaStarted
from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.null_device import NullSource
from sipperc.media.wav_file import WavFileSink, WavFileSource
from sipperc.sdp import Codec, MediaCapabilities, NegotiatedSession
from sipperc.sip import Request, Response, parse_message
from sipperc.sip.digest import DigestClient
from sipperc.sip.invite_session import InviteSessionConfig
from sipperc.sip.locate import Target
from sipperc.sip.registration import Registered, RegistrationClient, RegistrationTU
from sipperc.sip.transaction_effects import SendMessage, TuEffect
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService, TlsConfig
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.uri import SipUri, parse_uri
from sipperc.sip.user_agent import UserAgent, UserAgentConfig
from sipperc.sip.user_agent_events import CallAnswered, CallEnded, CallRef, IncomingCall

PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)


class TappedSipService(SipService):
    """A SipService that keeps every message it sends and receives (for the assertions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wire: list[tuple[str, Request | Response, TransportAddress]] = []

    def receive_bytes(self, data: bytes, source: TransportAddress) -> None:
        try:
            message = parse_message(data.lstrip(b"\r\n"))
        except Exception:  # malformed input is the stack's business, not the tap's
            message = None
        if message is not None:
            self.wire.append(("in", message, source))
        super().receive_bytes(data, source)

    def _send(self, effect: SendMessage, now: float) -> None:
        self.wire.append(("out", effect.message, effect.destination))
        super()._send(effect, now)


class RegisteringUser:
    """The transaction user of a phone: its user agent, and its registration if any."""

    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.registration: RegistrationTU | None = None

    def handle_effect(self, effect: TuEffect, now: float) -> Iterable[object]:
        if self.registration is not None:
            mine = getattr(effect, "transaction", None)
            if mine is not None and mine == self.registration._transaction:
                return self.registration.handle_effect(effect, now)
        return self.ua.handle_effect(effect, now)

    def get_timer(self) -> float | None:
        deadlines = [self.ua.get_timer()]
        if self.registration is not None:
            deadlines.append(self.registration.get_timer())
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> list[object]:
        out = list(self.ua.handle_timer(now))
        if self.registration is not None:
            out.extend(self.registration.handle_timer(now))
        return out


@dataclass
class HeardMedia:
    """One call's media as the test sees it: what runs, and where what we heard is."""

    key: str
    started: MediaStarted
    recording: Path
    sink: WavFileSink

    @property
    def heard_seconds(self) -> float:
        """How much audio the recording holds so far (one frame per tick of our clock)."""
        return self.sink.samples_written / self.sink.sample_rate


@dataclass
class SipperPhone:
    """See the module documentation. Build with :meth:`start`."""

    name: str
    agent: TwistedUserAgent
    service: TappedSipService
    tu: RegisteringUser
    calls_media: CallMedia
    directory: Path
    play: Path | None
    auto_answer: bool = True
    ring_first: float | None = None
    events: list[object] = field(default_factory=list)
    media: dict[CallRef, HeardMedia] = field(default_factory=dict)
    _outgoing: dict[CallRef, str] = field(default_factory=dict)
    _waiters: list[tuple[type, Callable[[Any], bool], defer.Deferred[Any]]] = field(
        default_factory=list)

    @classmethod
    def start(
        cls,
        name: str,
        directory: Path,
        listen: Sequence[str] = ("udp:127.0.0.1:0",),
        *,
        codecs: Sequence[Codec] = (PCMU, PCMA),
        srtp: bool = False,
        tls: TlsConfig | None = None,
        digest: DigestClient | None = None,
        domain: str | None = None,
        outbound_proxy: str | None = None,
        play: Path | None = None,
        auto_answer: bool = True,
        ring_first: float | None = None,
    ) -> SipperPhone:
        """A phone listening on ``listen``, started (stop it with :meth:`stop`).

        ``codecs`` narrows what we offer and accept (the tools offer every codec of the
        media engine); ``srtp`` makes our offers SDES-SRTP (plain RTP and SDES are accepted).
        The user agent runs with the default session settings (100rel supported, session
        timers). Incoming calls are answered at once, or after ringing ``ring_first``
        seconds with a reliable 180 (RFC 3262) when the caller supports 100rel.
        """
        directory.mkdir(parents=True, exist_ok=True)
        media = CallMedia("127.0.0.1", rtp=True, offer_sdes=srtp, reactor=reactor)
        media.capabilities = (MediaCapabilities("audio", tuple(codecs), ptime=20),)
        points = [ListeningPoint(TransportAddress.parse(a)) for a in listen]
        transactions = TransactionLayer(None, TransportLayer())
        service = TappedSipService(transactions, points, tls=tls, reactor=reactor)
        config = UserAgentConfig(
            user=name, domain=domain, session=InviteSessionConfig(),
            outbound_proxy=None if outbound_proxy is None else _sip_uri(outbound_proxy))
        ua = UserAgent(transactions, media.engine_for, config, authenticator=digest)
        tu = RegisteringUser(ua)
        agent = TwistedUserAgent(service, ua)
        service.set_tu(tu)
        phone = cls(name, agent, service, tu, media, directory, play, auto_answer, ring_first)
        service.event_sink = phone._event
        service.startService()
        return phone

    # -- commands ---------------------------------------------------------------------------

    def register(self, registrar: TransportAddress, aor: str, digest: DigestClient,
                 registrar_name: str, expires: int = 300) -> defer.Deferred[Registered]:
        """REGISTER our contact for ``aor``; fires when the registrar accepted it."""
        point = self.service.transactions.transport.listening_point(registrar.transport)
        client = RegistrationClient(aor, [f"<{point.contact_uri(self.name)}>"], digest=digest,
                                    expires=expires)
        registration = RegistrationTU(self.service.transactions, client,
                                      [Target(registrar, registrar_name)])
        self.tu.registration = registration
        registered = self.wait(Registered)
        self.service.process(registration.start(self.service.now()))
        return registered

    def unregister(self) -> None:
        """Remove our binding (the REGISTER with expires 0 is sent, not waited for)."""
        if self.tu.registration is not None:
            self.service.process(self.tu.registration.stop(self.service.now()))

    def call(self, target: str) -> CallRef:
        """Call ``target`` (a SIP URI)."""
        key = f"out-{len(self._outgoing)}"
        call = self.agent.invite(target, offer_answer=self.calls_media.engine(key))
        self._outgoing[call] = key
        return call

    def hangup(self, call: CallRef) -> None:
        self.agent.hangup(call)

    def uri(self, transport: str = "udp") -> str:
        """A SIP URI reaching this phone directly."""
        return self.agent.uri(self.name, transport)

    def statistics(self, call: CallRef) -> Any:
        """The RTP figures of a call while its media runs (None after)."""
        return self.calls_media.statistics(self.media[call].key)

    def stop(self) -> Any:
        """End every call's media, close the SIP sockets."""
        self.calls_media.stop_all()
        return self.agent.stop()

    # -- events -----------------------------------------------------------------------------

    def wait(self, kind: type, timeout: float = 5.0,
             where: Callable[[Any], bool] = lambda e: True) -> defer.Deferred[Any]:
        """Fires with the first event of ``kind`` satisfying ``where`` (past ones count)."""
        for event in self.events:
            if isinstance(event, kind) and where(event):
                return defer.succeed(event)
        d: defer.Deferred[Any] = defer.Deferred()
        entry = (kind, where, d)
        self._waiters.append(entry)

        def timed_out(failure: Any) -> Any:
            failure.trap(defer.TimeoutError)
            if entry in self._waiters:
                self._waiters.remove(entry)
            raise AssertionError(f"{self.name}: no {kind.__name__} in {timeout} s; "
                                 f"events: {self.events}")

        d.addTimeout(timeout, reactor)
        d.addErrback(timed_out)
        return d

    def messages(self, direction: str, method: str, call_id: str | None = None
                 ) -> list[Request | Response]:
        """Requests of ``method`` and responses to them that went ``out`` or came ``in``."""
        found = []
        for way, message, _ in self.service.wire:
            if way != direction or (call_id is not None and message.call_id != call_id):
                continue
            name = message.method if isinstance(message, Request) else message.cseq.method
            if name == method:
                found.append(message)
        return found

    @defer.inlineCallbacks
    def final_response(self, method: str, call_id: str, timeout: float = 5.0
                       ) -> Any:
        """The final response that came to our ``method`` request in call ``call_id``."""
        deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
        while True:
            for message in self.messages("in", method, call_id):
                if isinstance(message, Response) and message.status_code >= 200:
                    return message
            if reactor.seconds() > deadline:  # type: ignore[attr-defined]
                raise AssertionError(f"{self.name}: no final response to {method} in "
                                     f"{timeout} s")
            yield task.deferLater(reactor, 0.02, lambda: None)

    def _answer_if_ringing(self, call: CallRef) -> None:
        if call in self.agent.ua.calls and call not in self.media:
            self.agent.answer(call)

    def of(self, kind: type) -> list[Any]:
        """The events of ``kind`` so far."""
        return [e for e in self.events if isinstance(e, kind)]

    def _event(self, event: object) -> None:
        self.events.append(event)
        if isinstance(event, IncomingCall) and self.auto_answer:
            if self.ring_first is None:
                self.agent.answer(event.call)
            else:
                self.agent.ringing(event.call, reliable=True)
                reactor.callLater(self.ring_first, self._answer_if_ringing, event.call)
        elif isinstance(event, CallAnswered) and event.negotiated is not None:
            self._start_media(event.call, event.negotiated)
        elif isinstance(event, CallEnded):
            self._stop_media(event.call)
        for entry in list(self._waiters):
            kind, where, d = entry
            if isinstance(event, kind) and where(event):
                self._waiters.remove(entry)
                reactor.callLater(0, d.callback, event)  # type: ignore[attr-defined]

    # -- media ------------------------------------------------------------------------------

    def _start_media(self, call: CallRef, negotiated: NegotiatedSession) -> None:
        key = self._outgoing.get(call, call.call_id)
        recording = self.directory / f"{self.name}-heard-{len(self.media)}.wav"

        sinks: list[WavFileSink] = []

        def audio(sample_rate: int) -> tuple[AudioSource, AudioSink]:
            source: AudioSource = (WavFileSource(self.play, loop=True) if self.play
                                   else NullSource(sample_rate))
            sinks.append(WavFileSink(recording, 8000))
            return source, sinks[-1]

        started = self.calls_media.start(key, negotiated, audio)
        assert started is not None, f"{self.name}: no audio in {negotiated}"
        self.media[call] = HeardMedia(key, started, recording, sinks[-1])

    @defer.inlineCallbacks
    def talk(self, call: CallRef, seconds: float, timeout: float = 15.0) -> Any:
        """Fires once the call's recording holds ``seconds`` of audio.

        Not a sleep of ``seconds``: our clock skips ahead after a stall longer than
        ``MAX_LAG`` (a test process starved for 0.5 s at load 8 recorded 1.48 s in a 2 s
        sleep), so the time talked is counted in what was recorded.
        """
        deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
        media = self.media[call]
        while media.heard_seconds < seconds:
            if reactor.seconds() > deadline:  # type: ignore[attr-defined]
                raise AssertionError(f"{self.name}: {media.heard_seconds:.2f} s recorded "
                                     f"after {timeout} s")
            yield task.deferLater(reactor, 0.02, lambda: None)

    def _stop_media(self, call: CallRef) -> None:
        media = self.media.get(call)
        if media is None:
            return
        self.calls_media.stop(media.key)  # RTCP BYE; the recording is closed


def _sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri), text
    return uri
