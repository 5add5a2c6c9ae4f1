"""The Twisted edge of a PERC participant: one UDP socket to the Media Distributor, the clocks.

:class:`ParticipantEndpoint` is a ``DatagramProtocol`` that only moves things: datagrams from
the Media Distributor's address into :class:`~sipperc.perc.participant.Participant`,
what it returns back out, one ``callLater`` for its timer, and the audio clock. Every ``ptime``
it reads a frame from the audio source and sends it, then plays one frame of the mix into
``sink`` and one frame of each remote source into the sink ``source_sink(ssrc)`` made for it
(per-source outputs: a recorder, a visualiser, a mix-minus bridge). Ticks are scheduled at
absolute times like :class:`sipperc.media.endpoint.MediaEndpoint`, so callback latency does
not turn into drift. ``reactor=None`` means the global reactor; tests pass a ``Clock``.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.endpoint import MAX_LAG
from sipperc.media.resample import at_rate, sink_at_rate
from sipperc.perc.participant import (
    AssociationEstablished,
    AssociationLost,
    EKTKeyInstalled,
    Participant,
    ParticipantEvent,
    PercSessionParameters,
)

_log = Logger(namespace="sipperc.perc.participant")

Address = tuple[str, int]


class ParticipantEndpoint(DatagramProtocol):
    """One participant on a UDP port, talking to its Media Distributor."""

    noisy = False

    def __init__(self, participant: Participant, source: AudioSource,
                 sink: AudioSink | None = None, *,
                 source_sink: Callable[[int], AudioSink] | None = None,
                 reactor: IReactorTime | None = None,
                 on_event: Callable[[ParticipantEvent], None] | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        assert reactor is not None
        self.clock: IReactorTime = reactor
        self.participant = participant
        send = participant.rtp.send_stream
        rate = participant.rtp.receiver.sample_rate
        self.source = at_rate(source, send.codec.sample_rate)
        self.sink = sink_at_rate(sink, rate) if sink is not None else None
        self._make_source_sink = source_sink
        self.source_sinks: dict[int, AudioSink] = {}
        self.on_event = on_event
        self.ptime = send.ptime
        self.muted = False
        """True: read the source but send nothing (the SDP says recvonly)."""
        self._tick_call: IDelayedCall | None = None
        self._timer: IDelayedCall | None = None
        self._start = 0.0
        self._ticks = 0

    @property
    def remote(self) -> Address:
        """The Media Distributor's address (from the signalling)."""
        host, port = self.participant.session.media_distributor
        return host, port

    # -- Twisted ------------------------------------------------------------------------------

    def startProtocol(self) -> None:
        """Start the handshake and the audio clock as soon as the port is listening."""
        now = self.clock.seconds()
        self.participant.start(now)
        self._start, self._ticks = now, 0
        self._tick_call = self.clock.callLater(self.ptime, self._tick)
        self._service()

    def stopProtocol(self) -> None:
        """The port closed: stop the clocks."""
        self._stop_clocks()

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:
        """Only the Media Distributor's datagrams are ours (anything else is dropped)."""
        if addr != self.remote:
            return
        self.participant.datagram_received(datagram, self.clock.seconds())
        self._service()

    # -- for the application ------------------------------------------------------------------

    def renew_association(self, session: PercSessionParameters | None = None) -> None:
        """Run a new DTLS handshake now, with new parameters from a re-INVITE if given.

        See :meth:`Participant.renew_association`; a new Media Distributor address in
        ``session`` takes effect for what is sent from now on.
        """
        self.participant.renew_association(self.clock.seconds(), session)
        self._service()

    def leave(self, reason: str | None = None, *, close_audio: bool = True) -> None:
        """Say BYE, close the association, stop; the caller then stops listening.

        The per-source sinks are this call's and are closed; the audio source and the mix
        sink too unless ``close_audio`` is False (they serve the next call of a softphone).
        """
        self.participant.close(self.clock.seconds(), reason)
        self._service()
        self._stop_clocks()
        if close_audio:
            self.source.close()
        for sink in [self.sink if close_audio else None, *self.source_sinks.values()]:
            if sink is not None:
                sink.close()

    # -- internals ------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self.clock.seconds()
        participant = self.participant
        frame = self.source.read(participant.rtp.send_stream.frame)
        if not self.muted:  # muted: the source keeps its pace, nothing is sent
            participant.send_frame(frame, now)
        mix, each = participant.read_frames(now)
        if self.sink is not None:
            self.sink.write(mix)
        if self._make_source_sink is not None:
            for ssrc, pcm in each.items():
                sink = self.source_sinks.get(ssrc)
                if sink is None:
                    sink = self.source_sinks[ssrc] = sink_at_rate(
                        self._make_source_sink(ssrc), participant.rtp.receiver.sample_rate)
                sink.write(pcm)
        self._ticks += 1
        deadline = self._start + self._ticks * self.ptime
        if now - deadline > MAX_LAG:
            _log.warn("audio clock {lag:.0f} ms late; resynchronising", lag=(now - deadline) * 1e3)
            self._start, self._ticks = now, 1  # this tick was the first of the new count
            deadline = now + self.ptime
        self._tick_call = self.clock.callLater(max(0.0, deadline - now), self._tick)
        self._service()

    def _fire(self) -> None:
        self._timer = None
        self.participant.handle_timer(self.clock.seconds())
        self._service()

    def _service(self) -> None:
        participant = self.participant
        now = self.clock.seconds()
        if self.transport is not None:
            remote = self.remote
            for datagram in participant.datagrams_to_send(now):
                self.transport.write(datagram, remote)
        while (event := participant.next_event()) is not None:
            _log_event(event, participant)
            if self.on_event is not None:
                self.on_event(event)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        deadline = participant.get_timer()
        if deadline is not None:
            self._timer = self.clock.callLater(max(0.0, deadline - now), self._fire)

    def _stop_clocks(self) -> None:
        for call in (self._tick_call, self._timer):
            if call is not None and call.active():
                call.cancel()
        self._tick_call = self._timer = None


def _log_event(event: ParticipantEvent, participant: Participant) -> None:
    ssrc = f"{participant.ssrc:08x}"
    if isinstance(event, AssociationEstablished):
        _log.info("keyed hop-by-hop with the Key Distributor", ssrc=ssrc,
                  profile=event.profile.name, ekt=event.ekt_cipher.name)
    elif isinstance(event, EKTKeyInstalled):
        _log.info("new EKT key", ssrc=ssrc, spi=event.spi, ttl=event.ttl)
    elif isinstance(event, AssociationLost) and event.retry_at is None:
        _log.info("association closed: {reason}", reason=event.reason, ssrc=ssrc)
    elif isinstance(event, AssociationLost):
        _log.warn("association lost: {reason}", reason=event.reason, ssrc=ssrc)


__all__ = ["ParticipantEndpoint"]
