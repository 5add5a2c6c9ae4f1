"""Media for the SIP test tools (``sipperc responder``, ``sipperc call``): SDP engines and RTP.

Each call gets its own :class:`~sipperc.sdp.OfferAnswer` engine offering the codecs the media
engine speaks (Opus, G.722, G.711, telephone-event), with plain RTP or SDES-SRTP (RFC 4568).
Without media (``CallMedia(rtp=False)``) nothing is bound: the SDP names the discard port 9,
so a responder under load costs only signalling. With media, each call's engine binds an RTP
port (and the next one for RTCP when the peer does not multiplex, RFC 5761) as soon as the
offer/answer needs an address, and :meth:`CallMedia.start` runs a real
:class:`~sipperc.media.rtp_session.RtpSession` on it once the call is answered: decoding what
arrives, encoding what the audio source gives, RTCP reports, SRTP with the SDES keys.

:class:`EchoAudio` is the responder's audio: what is heard is said back (decoded, played out
through the jitter buffer, encoded again with our own SSRC), like an echo test number.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.codecs.registry import CODECS
from sipperc.media.endpoint import MediaEndpoint
from sipperc.media.pcm import Pcm, silence
from sipperc.media.rtp_session import RtpSession, SessionStatistics
from sipperc.media.transform import PlainRtp, SrtpTransform, Transform
from sipperc.perc.participant import SessionParametersError, negotiated_media
from sipperc.sdp import (
    Codec,
    MediaCapabilities,
    MediaSecurityPolicy,
    NegotiatedSession,
    NegotiatedStream,
    OfferAnswer,
    SdesSrtp,
    SecurityMechanism,
)
from sipperc.sdp import TransportAddress as MediaAddress
from sipperc.srtp.session import SrtpSession

__all__ = ["DISCARD_PORT", "CallMedia", "EchoAudio", "MediaStarted", "audio_capabilities"]

log = Logger(namespace="sipperc.apps.media")

DISCARD_PORT = 9
"""The port our SDP names when the tool runs no media: the discard service (RFC 863)."""

_PORT_TRIES = 64


def audio_capabilities() -> MediaCapabilities:
    """Every audio format of the media engine, in its order of preference."""
    codecs = tuple(
        Codec(f.encoding_name, f.clock_rate, f.channels, f.fmtp or None, f.static_payload_type)
        for f in CODECS.formats())
    return MediaCapabilities("audio", codecs, ptime=20)


def security_policy(offer_sdes: bool) -> MediaSecurityPolicy:
    """Plain RTP and SDES-SRTP accepted; which of them our own offers use."""
    offer = SecurityMechanism.SDES if offer_sdes else SecurityMechanism.PLAIN
    return MediaSecurityPolicy(offer, frozenset({SecurityMechanism.PLAIN,
                                                 SecurityMechanism.SDES}))


class EchoAudio:
    """A sink whose frames come back out of it as a source: the echo of an echo test.

    Bounded to ``limit`` frames so a source read more slowly than the sink is written (never
    the case on one clock) cannot grow without end.
    """

    exhausted = False

    def __init__(self, sample_rate: int, limit: int = 50) -> None:
        self.sample_rate = sample_rate
        self._frames: deque[Pcm] = deque(maxlen=limit)
        self._pending = silence(0)

    def write(self, pcm: Pcm) -> None:
        """What the peer said, decoded."""
        self._frames.append(pcm)

    def read(self, samples: int) -> Pcm:
        """What to say back: the oldest heard audio, silence when nothing was heard yet."""
        import numpy as np  # noqa: PLC0415 - numpy loads only when media runs

        out = self._pending
        while len(out) < samples and self._frames:
            out = np.concatenate([out, self._frames.popleft()])
        if len(out) < samples:
            out = np.concatenate([out, silence(samples - len(out))])
        self._pending = out[samples:]
        return out[:samples]

    def close(self) -> None:
        """Forget what is queued."""
        self._frames.clear()


@dataclass(frozen=True, slots=True)
class MediaStarted:
    """What a call's media runs with, for the call record and progress lines."""

    codec: str
    """``PCMU/8000``: what we send (the first format of the answer, RFC 3264 §6.1)."""
    security: str
    """``rtp`` or the SRTP profile name."""
    local: tuple[str, int]
    remote: tuple[str, int]


class _MediaSocket(DatagramProtocol):
    """A bound RTP (or RTCP) port, before and while an endpoint uses it."""

    noisy = False  # no log line per call for each port opened

    def __init__(self) -> None:
        self.receiver: DatagramProtocol | None = None

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        if self.receiver is not None:
            self.receiver.datagramReceived(datagram, addr)

    def attach(self, receiver: DatagramProtocol) -> None:
        """Hand the socket to ``receiver`` (its clock starts now)."""
        self.receiver = receiver
        receiver.makeConnection(self.transport)  # type: ignore[arg-type]


@dataclass(slots=True)
class _CallPorts:
    rtp: Any
    rtcp: Any
    endpoint: MediaEndpoint | None = None
    sockets: list[_MediaSocket] = field(default_factory=list)


class CallMedia:
    """SDP engines and RTP ports for the calls of one tool (see the module documentation).

    ``host`` is our media address (an IP literal). ``rtp`` False runs no media at all.
    Calls are named by their Call-ID: the key a tool has both when the SDP engine is made
    (from the INVITE) and when the call is answered or ends.
    """

    def __init__(self, host: str, *, rtp: bool, offer_sdes: bool = False,
                 reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.host = host
        self.rtp = rtp
        self.reactor = reactor
        self.capabilities = (audio_capabilities(),)
        self.policy = security_policy(offer_sdes)
        self._ports: dict[str, _CallPorts] = {}

    def engine(self, call_id: str) -> OfferAnswer:
        """A new SDP engine for the call ``call_id``."""

        def transport(index: int, kind: str) -> MediaAddress:
            if not self.rtp:
                return MediaAddress(self.host, DISCARD_PORT)
            ports = self._ports.get(call_id) or self._bind(call_id)
            return MediaAddress(self.host, ports.rtp.getHost().port)

        return OfferAnswer(address=self.host, capabilities=self.capabilities,
                           transports=transport, security=self.policy)

    def engine_for(self, request: Any) -> OfferAnswer:
        """The ``offer_answer`` factory a UserAgent calls with an incoming INVITE."""
        return self.engine(request.call_id if request is not None else secrets.token_hex(8))

    def _bind(self, call_id: str) -> _CallPorts:
        """An even RTP port and the odd one above it (RFC 3550 §11), both bound now."""
        for _ in range(_PORT_TRIES):
            rtp_socket, rtcp_socket = _MediaSocket(), _MediaSocket()
            try:
                rtp = self.reactor.listenUDP(0, rtp_socket, interface=self.host)
            except CannotListenError:
                continue
            port = rtp.getHost().port
            if port % 2 == 0 and port < 65535:
                try:
                    rtcp = self.reactor.listenUDP(port + 1, rtcp_socket, interface=self.host)
                except CannotListenError:
                    rtcp = None
                if rtcp is not None:
                    ports = _CallPorts(rtp, rtcp, sockets=[rtp_socket, rtcp_socket])
                    self._ports[call_id] = ports
                    return ports
            rtp.stopListening()
        raise CannotListenError(  # type: ignore[no-untyped-call]
            self.host, 0, OSError("no free RTP/RTCP port pair"))

    def describe(self, negotiated: NegotiatedSession | None) -> MediaStarted | None:
        """What the SDP exchange agreed for audio, without running it; None: no audio."""
        stream = _audio_stream(negotiated)
        if stream is None:
            return None
        return MediaStarted(_codec_name(stream), _security_name(stream),
                            (self.host, stream.local.port if stream.local else 0),
                            (stream.remote_address or "", stream.remote_port))

    def start(self, call_id: str, negotiated: NegotiatedSession | None,
              audio: Callable[[int], tuple[AudioSource, AudioSink]]) -> MediaStarted | None:
        """Run the call's RTP on what the SDP exchange agreed; None when there is no media.

        ``audio`` is given the sample rate of the codec we send and returns the source and
        sink the endpoint reads and writes.
        """
        stream = _audio_stream(negotiated)
        description = self.describe(negotiated)
        if stream is None or description is None:
            return None
        ports = self._ports.get(call_id)
        if ports is None or ports.endpoint is not None or not stream.sends:
            return description
        try:
            media = negotiated_media(stream)
        except SessionParametersError as error:
            log.warn("no media for {call_id}: {error}", call_id=call_id, error=str(error))
            return description
        now = self.reactor.seconds()
        session = RtpSession(media.send_stream(), media.payload_types, now=now,
                             transform=_transform(stream), audio_level_id=None)
        source, sink = audio(session.send_stream.codec.sample_rate)
        remote = (stream.remote_address or "", stream.remote_port)
        remote_rtcp = None
        if not stream.rtcp_mux:
            remote_rtcp = (stream.remote_rtcp_address or remote[0],
                           stream.remote_rtcp_port or remote[1] + 1)
        endpoint = MediaEndpoint(session, source, sink, remote, remote_rtcp=remote_rtcp,
                                 reactor=self.reactor)
        endpoint.noisy = False
        ports.endpoint = endpoint
        rtp_socket, rtcp_socket = ports.sockets
        if endpoint.rtcp_port is not None:
            rtcp_socket.attach(endpoint.rtcp_port)
        rtp_socket.attach(endpoint)
        return description

    def statistics(self, call_id: str) -> SessionStatistics | None:
        """The RTP figures of a call with media running."""
        ports = self._ports.get(call_id)
        if ports is None or ports.endpoint is None:
            return None
        return ports.endpoint.session.statistics()

    def stop(self, call_id: str) -> None:
        """End the call's media (RTCP BYE) and close its ports."""
        ports = self._ports.pop(call_id, None)
        if ports is None:
            return
        if ports.endpoint is not None:
            ports.endpoint.hang_up()
        ports.rtp.stopListening()
        ports.rtcp.stopListening()

    def stop_all(self) -> None:
        """End every call's media (shutdown)."""
        for call_id in list(self._ports):
            self.stop(call_id)


def _audio_stream(negotiated: NegotiatedSession | None) -> NegotiatedStream | None:
    if negotiated is None:
        return None
    return next((s for s in negotiated.accepted_streams if s.kind == "audio"), None)


def _codec_name(stream: NegotiatedStream) -> str:
    codecs = stream.media_codecs
    if not codecs:
        return "none"
    codec = codecs[0]
    return f"{codec.name}/{codec.clock_rate}"


def _security_name(stream: NegotiatedStream) -> str:
    security = stream.security
    if isinstance(security, SdesSrtp):
        return f"sdes {security.profile.name}"
    return "rtp" if security is None else security.mechanism.value


def _transform(stream: NegotiatedStream) -> Transform:
    security = stream.security
    if not isinstance(security, SdesSrtp):
        return PlainRtp()
    local, remote = security.local_key, security.remote_key
    return SrtpTransform(
        SrtpSession(local.profile, master_key=local.master_key, master_salt=local.master_salt,
                    mki=local.mki),
        SrtpSession(remote.profile, master_key=remote.master_key,
                    master_salt=remote.master_salt, mki=remote.mki))
