"""One RTP session (RFC 3550): our outgoing stream, every remote source, and RTCP (sans-I/O).

The session turns frames of PCM into protected RTP datagrams and received datagrams into one
frame of mixed PCM per tick; it schedules and builds RTCP compound packets and digests the
peer's. It never touches a socket or a clock: every call takes ``now``, the wallclock time in
seconds (the NTP timestamps of sender reports are derived from it), and returns bytes or events.

- Identity: a random SSRC and a random CNAME (RFC 7022 §4.2, 96 random bits). PERC sends RTCP
  hop-by-hop only and forbids confidential data in RTCP (RFC 8871 §4.1), so nothing about the
  user, host or call goes into SDES.
- Every packet we send carries the RFC 6464 audio level in an RFC 8285 header extension with
  the negotiated id.
- RTCP: an SR when we sent RTP since the last report, else an RR, with a report block for
  every valid remote source (loss, RFC 3550 A.3; jitter, A.8; LSR/DLSR so the peer can compute
  the round-trip time), then SDES CNAME; BYE when the session ends (§6.6). A received report
  about our stream gives the peer's view of our loss and jitter, and the RTT (§6.4.1).
- Protection is pluggable: a :class:`~sipperc.media.transform.Transform` with
  ``protect``/``unprotect`` for RTP and RTCP (``PlainRtp`` for none; ``SrtpTransform`` over two
  ``sipperc.srtp.SrtpSession`` contexts for SDES or DTLS-SRTP keys; the PERC double transform
  later), so one session class serves all three cases. Packets that fail parsing or
  authentication are dropped and counted, never raised.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from twisted.logger import Logger

from sipperc.media.codecs.telephone_event import TelephoneEvent
from sipperc.media.conference_receiver import ConferenceReceiver, SourceLevel
from sipperc.media.jitter_buffer import BufferedPacket
from sipperc.media.pcm import Pcm
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.reception import ReceptionStatistics, ntp_short, ntp_timestamp, round_trip_time
from sipperc.media.rtcp_schedule import RtcpSchedule
from sipperc.media.send_stream import SendStream
from sipperc.media.transform import PlainRtp, Transform
from sipperc.rtp import (
    AudioLevel,
    Goodbye,
    HeaderExtension,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtpError,
    RtpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    find_audio_level,
    parse_rtcp,
    parse_rtp,
    serialize_rtcp,
)

log = Logger(namespace="sipperc.media")

MAX_REPORT_BLOCKS = 31  # the RC field is 5 bits (RFC 3550 §6.4.1)


def random_cname() -> str:
    """A short-term persistent CNAME: 96 random bits in base64 (RFC 7022 §4.2, §5)."""
    return base64.b64encode(secrets.token_bytes(12)).decode("ascii")


def is_rtcp(datagram: bytes) -> bool:
    """Whether a datagram on a multiplexed port is RTCP (RFC 5761 §4: PT 192-223)."""
    return len(datagram) >= 2 and 192 <= datagram[1] <= 223


@dataclass(frozen=True, slots=True)
class SourceJoined:
    """A remote SSRC sent its first packet."""

    ssrc: int


@dataclass(frozen=True, slots=True)
class SourceLeft:
    """A remote SSRC said BYE (``reason`` as sent), or timed out (``reason`` is None)."""

    ssrc: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A telephone event from a remote source."""

    ssrc: int
    event: TelephoneEvent


MediaEvent = SourceJoined | SourceLeft | DtmfReceived


@dataclass(frozen=True, slots=True)
class SendStatistics:
    """Our outgoing stream, and what the peer's last report says about it."""

    ssrc: int
    packets_sent: int
    octets_sent: int
    remote_fraction_lost: float | None
    remote_cumulative_lost: int | None
    remote_jitter: float | None
    round_trip_time: float | None


@dataclass(frozen=True, slots=True)
class ReceiveStatistics:
    """One remote source: RFC 3550 reception figures and what playout made of them."""

    ssrc: int
    cname: str | None
    packets_received: int
    packets_expected: int
    packets_lost: int
    fraction_lost: float
    jitter: float
    duplicates: int
    late: int
    frames_concealed: int
    frames_fec: int
    decode_errors: int
    playout_delay: float
    reported_jitter: float | None = None
    """The jitter (seconds) our last report block told the source's sender (RFC 3550 §6.4.1
    sends it in whole timestamp units), or ``None`` before the first report: what the peer
    shows as our view of its stream, whereas ``jitter`` moves on with every packet."""


@dataclass(frozen=True, slots=True)
class SessionStatistics:
    """The whole session: our stream, every remote source, and what was discarded."""

    send: SendStatistics
    receive: tuple[ReceiveStatistics, ...]
    discarded_rtp: int
    discarded_rtcp: int


@dataclass(slots=True)
class _Remote:
    reception: ReceptionStatistics
    cname: str | None = None
    last_sr: int = 0  # middle 32 bits of the NTP timestamp of its last SR
    last_sr_arrival: float = 0.0
    fraction_lost: float = 0.0
    reported_jitter: float | None = None


class RtpSession:
    """Our stream and the remote ones of one call (or of one conference leg)."""

    def __init__(self, send: SendStream, receive: Callable[[], PayloadTypes], *,
                 now: float, transform: Transform | None = None, sample_rate: int | None = None,
                 audio_level_id: int | None = 1, session_bandwidth: float = 64000,
                 ssrc: int | None = None, cname: str | None = None,
                 receiver: ConferenceReceiver | None = None) -> None:
        self.send_stream = send
        self.transform: Transform = transform or PlainRtp()
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.cname = cname or random_cname()
        self.audio_level_id = audio_level_id
        self.receiver = receiver or ConferenceReceiver(
            receive, sample_rate or send.codec.sample_rate, send.ptime)
        self.rtcp = RtcpSchedule(session_bandwidth, now)
        # Jitter is in the timestamp units of what the peer sends, whatever we send.
        self._clock_rates = {pt: codec.clock_rate for pt, codec in receive().audio.items()}
        self._remotes: dict[int, _Remote] = {}
        self._sent_since_report = False
        self._remote_report: ReportBlock | None = None
        self._rtt: float | None = None
        self._discarded_rtp = 0
        self._discarded_rtcp = 0
        self._closed = False

    # -- sending ---------------------------------------------------------------------------

    def send_frame(self, pcm: Pcm, now: float) -> list[bytes]:
        """Encode one frame; the protected RTP datagrams to send (none during DTX)."""
        datagrams = []
        for out in self.send_stream.send_frame(pcm):
            extension = None
            if self.audio_level_id is not None:
                level = AudioLevel(out.level, out.voice)
                extension = HeaderExtension.from_elements([level.element(self.audio_level_id)])
            packet = RtpPacket(out.marker, out.payload_type, out.sequence, out.timestamp,
                               self.ssrc, extension=extension, payload=out.payload)
            datagrams.append(self.transform.protect(bytes(packet)))
        if datagrams:
            self._sent_since_report = True
        return datagrams

    def queue_dtmf(self, keys: str) -> None:
        """Send DTMF keys as RFC 4733 telephone events."""
        self.send_stream.queue_dtmf(keys)

    # -- receiving -------------------------------------------------------------------------

    def receive(self, datagram: bytes, now: float) -> list[MediaEvent]:
        """A datagram from the RTP port, RTP or RTCP (RFC 5761 multiplexing)."""
        if is_rtcp(datagram):
            return self.receive_rtcp(datagram, now)
        return self.receive_rtp(datagram, now)

    def receive_rtp(self, datagram: bytes, now: float) -> list[MediaEvent]:
        """One RTP datagram: authenticated, parsed, counted, queued for playout."""
        try:
            plain = self.transform.unprotect(datagram)
        except Exception as exc:  # any refusal by the transform drops the packet
            return self._discard_rtp(exc)
        try:
            packet = parse_rtp(plain)
            level = (find_audio_level(packet, self.audio_level_id)
                     if self.audio_level_id is not None else None)
        except RtpError as exc:
            return self._discard_rtp(exc)
        if packet.ssrc == self.ssrc:  # our own packets looped back (RFC 3550 §8.2)
            self._discarded_rtp += 1
            return []
        events: list[MediaEvent] = []
        remote = self._remotes.get(packet.ssrc)
        if remote is None:
            clock_rate = self._clock_rates.get(packet.payload_type,
                                               self.send_stream.codec.clock_rate)
            remote = self._remotes[packet.ssrc] = _Remote(
                ReceptionStatistics(clock_rate, packet.sequence_number))
            events.append(SourceJoined(packet.ssrc))
            log.info("new RTP source", ssrc=f"{packet.ssrc:08x}")
        remote.reception.update(packet.sequence_number, packet.timestamp, now)
        buffered = BufferedPacket(packet.sequence_number, packet.timestamp, packet.payload_type,
                                  packet.payload, packet.marker)
        source_level = SourceLevel(level.level, level.voice_activity) if level else None
        for event in self.receiver.receive(packet.ssrc, buffered, now, source_level):
            events.append(DtmfReceived(packet.ssrc, event))
        return events

    def _discard_rtp(self, error: Exception) -> list[MediaEvent]:
        self._discarded_rtp += 1
        log.debug("RTP packet discarded: {error}", error=f"{type(error).__name__}: {error}")
        return []

    def receive_rtcp(self, datagram: bytes, now: float) -> list[MediaEvent]:
        """One compound RTCP datagram: reports, CNAMEs, BYEs."""
        try:
            packets = parse_rtcp(self.transform.unprotect_rtcp(datagram))
        except Exception as exc:  # transform refusals and RtpError alike
            self._discarded_rtcp += 1
            log.debug("RTCP packet discarded: {error}", error=f"{type(exc).__name__}: {exc}")
            return []
        self.rtcp.received(len(datagram))
        events: list[MediaEvent] = []
        for packet in packets:
            events += self._digest(packet, now)
        return events

    def _digest(self, packet: RtcpPacket, now: float) -> list[MediaEvent]:
        if isinstance(packet, SenderReport | ReceiverReport):
            if isinstance(packet, SenderReport) and packet.ssrc in self._remotes:
                remote = self._remotes[packet.ssrc]
                remote.last_sr = ntp_short(packet.ntp_timestamp)
                remote.last_sr_arrival = now
            for block in packet.reports:
                if block.ssrc == self.ssrc:
                    self._remote_report = block
                    rtt = round_trip_time(ntp_timestamp(now), block.last_sr,
                                          block.delay_since_last_sr)
                    if rtt is not None:
                        self._rtt = rtt
        elif isinstance(packet, SourceDescription):
            for chunk in packet.chunks:
                remote_of = self._remotes.get(chunk.ssrc)
                for item in chunk.items:
                    if remote_of is not None and item.type == SdesItem.CNAME:
                        remote_of.cname = item.value.decode("utf-8", "replace")
        elif isinstance(packet, Goodbye):
            reason = packet.reason.decode("utf-8", "replace") if packet.reason else None
            left = []
            for ssrc in packet.ssrcs:
                if self._remotes.pop(ssrc, None) is not None:
                    self.receiver.remove(ssrc)
                    left.append(SourceLeft(ssrc, reason))
            return list(left)
        return []

    def read_frame(self, now: float) -> Pcm:
        """One frame of every remote source, mixed: what the speaker plays now."""
        return self.receiver.mixer.mix(self.read_sources(now))

    def read_sources(self, now: float) -> dict[int, Pcm]:
        """One frame from every remote source, by SSRC (per-source outputs, mix-minus)."""
        before = set(self.receiver.streams)
        frames = self.receiver.read_each(now)
        for ssrc in before - set(self.receiver.streams):  # timed out in the receiver
            self._remotes.pop(ssrc, None)
        return frames

    # -- RTCP ------------------------------------------------------------------------------

    @property
    def rtcp_deadline(self) -> float:
        """When :meth:`poll_rtcp` may next have something to send."""
        return self.rtcp.deadline

    def poll_rtcp(self, now: float) -> list[bytes]:
        """The compound RTCP packet to send now, if the schedule says one is due."""
        if self._closed or not self.rtcp.due(now):
            return []
        compound = self._report(now)
        self.rtcp.we_sent = self._sent_since_report
        self._sent_since_report = False
        self.rtcp.members = 1 + len(self._remotes)
        self.rtcp.senders = (1 if self.rtcp.we_sent else 0) + len(self._remotes)
        self.rtcp.sent(now, len(compound))
        return [self.transform.protect_rtcp(compound)]

    def bye(self, now: float, reason: str | None = None) -> bytes:
        """The protected final compound packet: a report, SDES and BYE (RFC 3550 §6.6)."""
        self._closed = True
        goodbye = Goodbye((self.ssrc,), reason.encode("utf-8") if reason else None)
        return self.transform.protect_rtcp(self._report(now, [goodbye]))

    def _report(self, now: float, extra: list[RtcpPacket] | None = None) -> bytes:
        blocks = tuple(self._report_block(ssrc, remote, now)
                       for ssrc, remote in list(self._remotes.items())[:MAX_REPORT_BLOCKS]
                       if remote.reception.valid)
        first: RtcpPacket
        if self._sent_since_report:
            send = self.send_stream
            first = SenderReport(self.ssrc, ntp_timestamp(now), send.last_timestamp,
                                 send.packets_sent & 0xFFFFFFFF, send.octets_sent & 0xFFFFFFFF,
                                 blocks)
        else:
            first = ReceiverReport(self.ssrc, blocks)
        cname = SdesItem(SdesItem.CNAME, self.cname.encode("ascii"))
        packets: list[RtcpPacket] = [first, SourceDescription((SdesChunk(self.ssrc, (cname,)),))]
        return serialize_rtcp([*packets, *(extra or [])])

    def _report_block(self, ssrc: int, remote: _Remote, now: float) -> ReportBlock:
        values = remote.reception.report()
        remote.fraction_lost = values.fraction_lost / 256
        remote.reported_jitter = values.jitter / remote.reception.clock_rate
        delay = 0
        if remote.last_sr:
            delay = min(0xFFFFFFFF, round((now - remote.last_sr_arrival) * 65536))
        return ReportBlock(ssrc, values.fraction_lost, values.cumulative_lost,
                           values.extended_highest_sequence, values.jitter, remote.last_sr,
                           delay)

    # -- statistics ------------------------------------------------------------------------

    def statistics(self) -> SessionStatistics:
        """Everything counted so far, per stream."""
        report = self._remote_report
        clock = self.send_stream.codec.clock_rate  # the peer reports our stream's jitter
        send = SendStatistics(
            self.ssrc, self.send_stream.packets_sent, self.send_stream.octets_sent,
            report.fraction_lost / 256 if report else None,
            report.cumulative_lost if report else None,
            report.jitter / clock if report else None, self._rtt)
        receive = []
        for ssrc, remote in self._remotes.items():
            reception = remote.reception
            stream = self.receiver.streams.get(ssrc)
            playout = stream.statistics() if stream else None
            receive.append(ReceiveStatistics(
                ssrc, remote.cname, reception.received, reception.expected, reception.lost,
                remote.fraction_lost, reception.jitter,
                playout.buffer.duplicates if playout else 0,
                playout.buffer.late if playout else 0,
                playout.frames_concealed if playout else 0,
                playout.frames_fec if playout else 0,
                playout.decode_errors if playout else 0,
                stream.jitter_buffer.target_delay if stream else 0.0, remote.reported_jitter))
        return SessionStatistics(send, tuple(receive), self._discarded_rtp, self._discarded_rtcp)
