"""Two media endpoints over real UDP on 127.0.0.1 with SRTP (sipperc's AEAD_AES_128_GCM) on.

The long runs (30 s of speech per codec, lossless and with 10% loss plus reordering) keep real
sockets but run on simulated time: a ``task.Clock`` drives both endpoints' audio clocks and the
real reactor is spun once per 20 ms tick to deliver the datagrams, so 30 s of audio take a few
seconds. One short run uses the real clock end to end.
"""

from collections import Counter

import numpy as np
from twisted.internet import reactor, task
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.media.codecs.registry import CODECS
from sipperc.media.endpoint import MAX_LAG, MediaEndpoint
from sipperc.media.level import dbov
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.rtp_session import RtpSession, SourceJoined, is_rtcp
from sipperc.media.send_stream import SendStream
from sipperc.media.transform import SrtpTransform
from sipperc.media.wav_file import WavFileSource
from sipperc.rtp import parse_rtp
from sipperc.srtp import Profile, SrtpSession
from tests.media.audio_checks import AUDIO, aligned, correlation, snr
from tests.media.lossy_network import LossyNetwork, RecordingSink

CODEC_SETUPS = {  # name: (encoding, clock, channels, payload type, speech file)
    "PCMU": ("PCMU", 8000, 1, 0, "speech-8k.wav"),
    "G722": ("G722", 8000, 1, 9, "speech-16k.wav"),
    "opus": ("opus", 48000, 2, 111, "speech-16k.wav"),
}


def gcm(key):
    return SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key[:16], master_salt=key[16:28])


def srtp_pair():
    """SDES-style keys: one per direction, each side protecting with its own."""
    a_to_b, b_to_a = bytes(range(28)), bytes(range(100, 128))
    return (SrtpTransform(gcm(a_to_b), gcm(b_to_a)), SrtpTransform(gcm(b_to_a), gcm(a_to_b)))


def make_session(codec_name, transform, now):
    encoding, clock, channels, pt, _ = CODEC_SETUPS[codec_name]

    def codec():
        return CODECS.create(encoding, clock, channels)
    sample_rate = 8000 if codec_name == "PCMU" else 16000  # what the speech file has
    return RtpSession(SendStream(codec(), pt), lambda: PayloadTypes({pt: codec()}), now=now,
                      transform=transform, sample_rate=sample_rate)


class EndpointPair:
    """Two endpoints on loopback ports talking to each other."""

    def __init__(self, test, codec_name, clock, loss=0.0, reorder=0.0):
        transform_a, transform_b = srtp_pair()
        now = clock.seconds()
        wav = AUDIO / CODEC_SETUPS[codec_name][4]
        self.sent = WavFileSource(wav, loop=True)
        self.source_a = WavFileSource(wav, loop=True)
        self.source_b = WavFileSource(wav, loop=True)
        self.source_b.read(len(self.source_b._pcm) // 2)  # b says something else meanwhile
        self.a = make_session(codec_name, transform_a, now)
        self.b = make_session(codec_name, transform_b, now)
        self.heard_a = RecordingSink(self.a.receiver.sample_rate)
        self.heard_b = RecordingSink(self.b.receiver.sample_rate)
        self.events = []
        unknown = ("127.0.0.1", 9)  # each learns the other's port once both listen
        self.endpoint_a = MediaEndpoint(self.a, self.source_a, self.heard_a, unknown,
                                        reactor=clock, on_event=self.events.append)
        self.endpoint_b = MediaEndpoint(self.b, self.source_b, self.heard_b, unknown,
                                        reactor=clock, on_event=self.events.append)
        self.port_a = reactor.listenUDP(0, self.endpoint_a, interface="127.0.0.1")
        self.port_b = reactor.listenUDP(0, self.endpoint_b, interface="127.0.0.1")
        self.endpoint_a.remote = ("127.0.0.1", self.port_b.getHost().port)
        self.endpoint_b.remote = ("127.0.0.1", self.port_a.getHost().port)
        self.network = LossyNetwork(self.port_a, 7, loss, reorder)
        self.endpoint_a.transport = self.network
        test.addCleanup(self.port_a.stopListening)
        test.addCleanup(self.port_b.stopListening)


def spin():
    return task.deferLater(reactor, 0, lambda: None)


@inlineCallbacks
def run_simulated(pair, clock, seconds):
    for _ in range(int(seconds / 0.02)):
        clock.advance(0.02)
        yield spin()
    for _ in range(5):
        yield spin()


def speech_gaps(sent, received, rate):
    """Longest run of 20 ms frames where speech was sent but (near) silence came out."""
    a, b = aligned(sent, received, rate // 2)
    frame = rate // 50
    longest = run = 0
    for i in range(0, len(a) - frame, frame):
        spoken = dbov(a[i:i + frame].astype(np.int16)) < 40
        if spoken and dbov(b[i:i + frame].astype(np.int16)) > 70:
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return longest


class SimulatedTimeTests(TestCase):
    """30 s of speech each way per codec, real UDP, simulated clock."""

    timeout = 120

    @inlineCallbacks
    def check_codec(self, codec_name, min_snr, min_correlation):
        clock = task.Clock()
        clock.advance(1_000_000)
        pair = EndpointPair(self, codec_name, clock)
        yield run_simulated(pair, clock, 30.0)
        rate = pair.heard_b.sample_rate
        sent = pair.sent.read(30 * rate)
        heard = pair.heard_b.audio()
        self.assertGreater(snr(sent, heard, rate // 2), min_snr)
        self.assertGreater(correlation(sent, heard, rate // 2), min_correlation)
        stats = pair.b.statistics().receive[0]
        self.assertEqual(stats.packets_lost, 0)
        self.assertEqual(pair.a.statistics().send.remote_cumulative_lost, 0)
        self.assertIn(SourceJoined(pair.a.ssrc), pair.events)

    def test_pcmu(self):
        return self.check_codec("PCMU", 30.0, 0.99)

    def test_g722(self):
        return self.check_codec("G722", 15.0, 0.98)

    def test_opus(self):
        return self.check_codec("opus", 8.0, 0.9)

    @inlineCallbacks
    def check_lossy(self, codec_name, min_correlation):
        clock = task.Clock()
        clock.advance(1_000_000)
        pair = EndpointPair(self, codec_name, clock, loss=0.10, reorder=0.05)
        yield run_simulated(pair, clock, 30.0)
        rate = pair.heard_b.sample_rate
        sent = pair.sent.read(30 * rate)
        heard = pair.heard_b.audio()
        # Audio stays continuous: concealment covers every loss (at most 60 ms of fade-out).
        self.gaps = speech_gaps(sent, heard, rate)
        self.pair = pair
        self.assertLessEqual(self.gaps, 3)
        self.assertGreater(correlation(sent, heard, rate // 2), min_correlation)
        stats = pair.b.statistics().receive[0]
        # RFC 3550 A.3 counts exactly the packets the network dropped (reordered ones arrive).
        self.assertEqual(stats.packets_lost, pair.network.dropped)
        self.assertGreater(pair.network.reordered, 50)
        self.assertLess(abs(stats.packets_lost / stats.packets_expected - 0.10), 0.02)
        reported = pair.a.statistics().send
        self.assertLessEqual(reported.remote_cumulative_lost, pair.network.dropped)
        self.assertGreater(reported.remote_cumulative_lost, pair.network.dropped * 0.7)
        self.assertGreater(stats.frames_concealed, pair.network.dropped * 0.9)
        return stats

    def test_pcmu_with_loss_and_reordering(self):
        return self.check_lossy("PCMU", 0.75)

    @inlineCallbacks
    def test_opus_with_loss_and_reordering(self):
        stats = yield self.check_lossy("opus", 0.85)
        self.assertGreater(stats.frames_fec, 0)


class RealTimeTests(TestCase):
    """Two seconds on the real clock: the endpoint's own pacing, nothing simulated."""

    timeout = 30

    @inlineCallbacks
    def test_two_seconds_of_g711_on_the_real_clock(self):
        pair = EndpointPair(self, "PCMU", reactor)
        yield task.deferLater(reactor, 2.0, lambda: None)
        pair.endpoint_a.hang_up("test over")
        yield task.deferLater(reactor, 0.1, lambda: None)
        heard = pair.heard_b.audio()
        self.assertGreater(len(heard), 8000 * 1.8)
        self.assertGreater(correlation(pair.sent.read(16000), heard, 4000), 0.95)
        self.assertLess(pair.endpoint_a.late_ticks + pair.endpoint_b.late_ticks, 3)
        self.assertTrue(any(getattr(e, "reason", None) == "test over" for e in pair.events))


STALL = 0.34
"""How long a process waits for a core at load 7-8 on 2 cores (200-330 ms, measured)."""


class SentDatagrams:
    """A transport that keeps what the endpoint writes, with the (simulated) time."""

    def __init__(self, clock):
        self.clock = clock
        self.rtp = []

    def write(self, datagram, address):
        if not is_rtcp(datagram):
            self.rtp.append((self.clock.seconds(), parse_rtp(datagram)))


class AudioClockTests(TestCase):
    """The ptime clock on simulated time: no drift, stalls caught up, long ones skipped."""

    def start(self):
        clock = task.Clock()
        clock.advance(1000)
        session = make_session("PCMU", None, clock.seconds())
        self.played = RecordingSink(8000)
        endpoint = MediaEndpoint(session, WavFileSource(AUDIO / "speech-8k.wav", loop=True),
                                 self.played, ("127.0.0.1", 9), reactor=clock)
        endpoint.transport = sent = SentDatagrams(clock)
        endpoint.startProtocol()
        self.addCleanup(endpoint.stopProtocol)
        return clock, endpoint, sent

    def test_a_stall_of_a_busy_machine_is_caught_up_frame_by_frame(self):
        clock, endpoint, sent = self.start()
        for _ in range(10):
            clock.advance(0.02)
        clock.advance(STALL)  # the process was not scheduled for that long
        for _ in range(10):
            clock.advance(0.02)
        clock.advance(1e-6)  # past the float noise of the sums of 0.02
        elapsed = 20 * 0.02 + STALL
        # One frame per 20 ms of wall time, none skipped: timestamps 160 apart, SEQ + 1.
        assert len(sent.rtp) == round(elapsed / 0.02) + 1
        steps = {((b.timestamp - a.timestamp) % (1 << 32),
                  (b.sequence_number - a.sequence_number) % (1 << 16))
                 for (_, a), (_, b) in zip(sent.rtp, sent.rtp[1:], strict=False)}
        assert steps == {(160, 1)}
        # The frames of the stall went out together when the clock came back.
        burst = max(Counter(t for t, _ in sent.rtp).values())
        assert abs(burst - STALL / 0.02) <= 1 and endpoint.late_ticks == 0
        assert len(self.played.audio()) == 160 * len(sent.rtp)  # a frame played per tick

    def test_a_stall_longer_than_max_lag_restarts_the_clock(self):
        clock, endpoint, sent = self.start()
        for _ in range(10):
            clock.advance(0.02)
        before = len(sent.rtp)
        clock.advance(MAX_LAG + 1.0)
        assert len(sent.rtp) == before + 1 and endpoint.late_ticks == 1  # no 75-frame burst
        for _ in range(10):
            clock.advance(0.02)
        clock.advance(1e-6)
        assert len(sent.rtp) == before + 11
