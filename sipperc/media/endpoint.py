"""The Twisted edge of a media session: UDP in and out, and the audio clock.

:class:`MediaEndpoint` is a ``DatagramProtocol`` that does three things and nothing else:
feeds received datagrams to the sans-I/O :class:`~sipperc.media.rtp_session.RtpSession`, writes
what the session returns to the peer, and keeps the ptime clock. Each tick reads one frame from
the audio source, sends it, plays one frame of the mix into the sink and sends RTCP when due.
Ticks are scheduled against absolute times (start + n * ptime) so callback latency does not
accumulate into drift; after a stall the missed ticks run back to back, and only after a stall
of more than :data:`MAX_LAG` does the clock resynchronise instead of bursting the missed frames.

RTCP goes over the RTP port (RFC 5761 multiplexing) unless the peer gave a separate RTCP address;
then an :class:`RtcpPort` on our RTP port + 1 carries it. The clock is any ``IReactorTime``
(``reactor=None`` means the global reactor), so tests run real sockets on simulated time.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.resample import at_rate, sink_at_rate
from sipperc.media.rtp_session import MediaEvent, RtpSession

log = Logger(namespace="sipperc.media")

Address = tuple[str, int]

MAX_LAG = 0.5
"""Seconds the clock may fall behind before it skips ahead rather than catch up.

Behind by less, the missed ticks run back to back: every frame is still sent with its own
timestamp, and the receiver's adaptive jitter buffer absorbs the burst. A busy machine stalls a
process that long (200-330 ms at a time at load 7-8 on 2 cores, measured with ``sipperc
demo``); skipping ahead there cut each stream with a gap that every listener heard. Behind by
more, the frames would arrive later than a jitter buffer holds audio (ours: at most 0.5 s, the
``max_delay`` of :class:`~sipperc.media.receive_stream.ReceiveStream`), so they are not sent.
"""


class RtcpPort(DatagramProtocol):
    """The separate RTCP port of an endpoint that does not multiplex (RFC 3550 §11)."""

    def __init__(self, endpoint: MediaEndpoint) -> None:
        self.endpoint = endpoint

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        """Hand RTCP to the session."""
        self.endpoint.deliver(self.endpoint.session.receive_rtcp(datagram,
                                                                 self.endpoint.clock.seconds()))


class MediaEndpoint(DatagramProtocol):
    """One media session on a UDP port, clocked by the reactor."""

    def __init__(self, session: RtpSession, source: AudioSource, sink: AudioSink,
                 remote: Address, *, remote_rtcp: Address | None = None,
                 reactor: IReactorTime | None = None,
                 on_event: Callable[[MediaEvent], None] | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        assert reactor is not None
        self.clock: IReactorTime = reactor
        self.session = session
        send = session.send_stream
        self.source = at_rate(source, send.codec.sample_rate)
        self.sink = sink_at_rate(sink, session.receiver.sample_rate)
        self.remote = remote
        self.remote_rtcp = remote_rtcp
        self.rtcp_port: RtcpPort | None = RtcpPort(self) if remote_rtcp else None
        self.on_event = on_event
        self.ptime = send.ptime
        self._call: DelayedCall | None = None
        self._start = 0.0
        self._ticks = 0
        self.late_ticks = 0

    def startProtocol(self) -> None:
        """Start the clock as soon as the port is listening."""
        self._start = self.clock.seconds()
        self._ticks = 0
        self._call = self.clock.callLater(0, self._tick)  # type: ignore[assignment]

    def stopProtocol(self) -> None:
        """The port closed: stop the clock."""
        self._stop_clock()

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        """Hand RTP (and multiplexed RTCP) to the session."""
        self.deliver(self.session.receive(datagram, self.clock.seconds()))

    def deliver(self, events: list[MediaEvent]) -> None:
        """Pass the session's events to whoever listens."""
        for event in events:
            log.debug("media event {event}", event=repr(event))
            if self.on_event is not None:
                self.on_event(event)

    def send_dtmf(self, keys: str) -> None:
        """Send DTMF keys (RFC 4733)."""
        self.session.queue_dtmf(keys)

    def hang_up(self, reason: str | None = None) -> None:
        """Stop sending and say BYE (RFC 3550 §6.6); the caller then stops listening."""
        self._stop_clock()
        if self.transport is not None:
            self._send_rtcp(self.session.bye(self.clock.seconds(), reason))
        self.source.close()
        self.sink.close()

    def _stop_clock(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _tick(self) -> None:
        now = self.clock.seconds()
        session = self.session
        for datagram in session.send_frame(self.source.read(session.send_stream.frame), now):
            self.transport.write(datagram, self.remote)  # type: ignore[union-attr]
        self.sink.write(session.read_frame(now))
        for datagram in session.poll_rtcp(now):
            self._send_rtcp(datagram)
        self._ticks += 1
        deadline = self._start + self._ticks * self.ptime
        if now - deadline > MAX_LAG:
            self.late_ticks += 1
            log.warn("audio clock {lag:.0f} ms late; resynchronising", lag=(now - deadline) * 1e3)
            self._start, self._ticks = now, 1  # this tick was the first of the new count
            deadline = now + self.ptime
        self._call = self.clock.callLater(max(0.0, deadline - now),  # type: ignore[assignment]
                                          self._tick)

    def _send_rtcp(self, datagram: bytes) -> None:
        if self.remote_rtcp is not None and self.rtcp_port is not None \
                and self.rtcp_port.transport is not None:
            self.rtcp_port.transport.write(datagram, self.remote_rtcp)
        elif self.transport is not None:
            self.transport.write(datagram, self.remote)
