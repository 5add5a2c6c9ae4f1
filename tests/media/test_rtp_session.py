import base64
import random

import numpy as np
import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.media.codecs.g711 import G711
from sipperc.media.codecs.opus import Opus
from sipperc.media.codecs.telephone_event import TelephoneEventEnded
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.rtp_session import (
    DtmfReceived,
    PlainRtp,
    RtpSession,
    SourceJoined,
    SourceLeft,
    is_rtcp,
)
from sipperc.media.send_stream import SendStream
from sipperc.media.transform import SrtpTransform
from sipperc.rtp import (
    ReceiverReport,
    SdesItem,
    SenderReport,
    SourceDescription,
    find_audio_level,
    parse_rtcp,
    parse_rtp,
)
from sipperc.srtp import Profile, SrtpSession
from tests.media.audio_checks import snr, speech
from tests.media.libsrtp_transform import KEY, libsrtp, srtp_pair


def g711_session(now=0.0, transform=None, **kwargs):
    return RtpSession(SendStream(G711("PCMU"), 0, telephone_event=101),
                      lambda: PayloadTypes({0: G711("PCMU")}, telephone_event=101),
                      now=now, transform=transform, **kwargs)


def converse(a, b, pcm_a, pcm_b, seconds, frame=160, drop=lambda: False, delay=0.0,
             start=0.0):
    """Both sessions talk for ``seconds``; returns what each heard and all RTCP seen."""
    heard_a, heard_b, rtcp = [], [], []
    in_flight = []  # (arrival, receiver, datagram)
    for tick in range(int(seconds / 0.02)):
        now = start + tick * 0.02
        i = tick * frame
        for sender, receiver, pcm in ((a, b, pcm_a), (b, a, pcm_b)):
            for datagram in sender.send_frame(pcm[i % (len(pcm) - frame):][:frame], now):
                if not drop():
                    in_flight.append((now + delay, receiver, datagram))
            for datagram in sender.poll_rtcp(now):
                rtcp.append(datagram)
                in_flight.append((now + delay, receiver, datagram))
        due = [f for f in in_flight if f[0] <= now]
        in_flight = [f for f in in_flight if f[0] > now]
        for _, receiver, datagram in due:
            receiver.receive(datagram, now)
        heard_a.append(a.read_frame(now))
        heard_b.append(b.read_frame(now))
    return np.concatenate(heard_a), np.concatenate(heard_b), rtcp


def test_audio_both_ways_with_srtp_and_reports_in_both_directions():
    sa, sb = srtp_pair()
    a, b = g711_session(transform=sa), g711_session(transform=sb)
    pcm = speech(8000)
    other = np.roll(pcm, 40000)
    heard_a, heard_b, rtcp = converse(a, b, pcm, other, 12.0, delay=0.03)
    assert snr(pcm[:80000], heard_b, 4000) > 30
    assert snr(other[:80000], heard_a, 4000) > 30
    stats = a.statistics()
    assert stats.send.packets_sent == 600 and stats.send.remote_cumulative_lost == 0
    assert stats.send.round_trip_time == pytest.approx(0.06, abs=0.03)
    (remote,) = stats.receive
    assert remote.ssrc == b.ssrc and remote.cname == b.cname and remote.packets_lost == 0
    assert len(rtcp) >= 4 and stats.discarded_rtp == stats.discarded_rtcp == 0


def test_loss_is_counted_and_reported_to_the_sender():
    a, b = g711_session(), g711_session()
    rng = random.Random(11)
    dropped = 0

    def drop():
        nonlocal dropped
        if rng.random() < 0.1:
            dropped += 1
            return True
        return False

    converse(a, b, speech(8000), speech(8000), 20.0, drop=drop)
    lost = sum(r.packets_lost for s in (a, b) for r in s.statistics().receive)
    assert lost == dropped
    reported = a.statistics().send
    assert 0.04 < reported.remote_fraction_lost < 0.2
    assert 0 < reported.remote_cumulative_lost <= dropped


def test_identity_is_random_and_sdes_says_nothing_else():
    a, b = g711_session(), g711_session()
    assert a.ssrc != b.ssrc and a.cname != b.cname
    assert len(base64.b64decode(a.cname)) == 12  # RFC 7022: 96 random bits
    a.send_frame(np.zeros(160, dtype=np.int16), 0.0)
    compound = parse_rtcp(a.bye(1.0, "done"))
    sdes = [p for p in compound if isinstance(p, SourceDescription)]
    assert [(i.type, i.value) for c in sdes[0].chunks for i in c.items] == \
        [(SdesItem.CNAME, a.cname.encode())]
    assert isinstance(compound[0], SenderReport)


def test_every_packet_carries_the_audio_level():
    session = g711_session(audio_level_id=3)
    loud = (np.sin(np.arange(160) / 3) * 20000).astype(np.int16)
    packets = [parse_rtp(d) for pcm in (loud, np.zeros(160, np.int16))
               for d in session.send_frame(pcm, 0.0)]
    levels = [find_audio_level(p, 3) for p in packets]
    assert levels[0].level < 10 and levels[0].voice_activity
    assert levels[1].level == 127 and not levels[1].voice_activity
    assert packets[0].marker and not packets[1].marker and packets[0].ssrc == session.ssrc


def test_events_join_dtmf_and_bye():
    a, b = g711_session(), g711_session()
    a.queue_dtmf("9")
    events = []
    for tick in range(20):
        for datagram in a.send_frame(np.zeros(160, np.int16), tick * 0.02):
            events += b.receive(datagram, tick * 0.02)
    events += b.receive(a.bye(1.0, "hung up"), 1.0)
    assert events[0] == SourceJoined(a.ssrc)
    assert any(isinstance(e, DtmfReceived) and isinstance(e.event, TelephoneEventEnded)
               and e.event.key == "9" for e in events)
    assert events[-1] == SourceLeft(a.ssrc, "hung up")
    assert b.statistics().receive == ()


def test_garbage_and_forgeries_are_dropped_and_counted():
    sa, sb = srtp_pair()
    a, b = g711_session(transform=sa), g711_session(transform=sb)
    good = a.send_frame(np.zeros(160, np.int16), 0.0)[0]
    forged = good[:-1] + bytes([good[-1] ^ 1])
    for junk in (b"", b"\x80", b"\x00" * 40, forged, b"\x80\xc8" + b"\x00" * 10):
        assert b.receive(junk, 0.0) == []
    stats = b.statistics()
    assert stats.discarded_rtp + stats.discarded_rtcp == 5
    assert b.receive(good, 0.0) == [SourceJoined(a.ssrc)]
    assert b.receive(good, 0.0) == []  # a replay
    assert b.statistics().discarded_rtp == stats.discarded_rtp + 1


def test_opus_session_with_plain_rtp():
    def opus_session():
        return RtpSession(SendStream(Opus(48000), 111),
                          lambda: PayloadTypes({111: Opus(48000)}), now=0.0,
                          transform=PlainRtp())
    a, b = opus_session(), opus_session()
    pcm = speech(16000).repeat(3)
    _, heard_b, _ = converse(a, b, pcm, np.zeros_like(pcm), 5.0, frame=960)
    assert snr(pcm[:240000], heard_b, 10000) > 5


def test_rtcp_mux_demultiplexing():
    assert is_rtcp(bytes([0x80, 200])) and is_rtcp(bytes([0x81, 201]))
    assert not is_rtcp(bytes([0x80, 0])) and not is_rtcp(bytes([0x80, 0x80 | 111]))
    report = parse_rtcp(g711_session().bye(0.0))[0]
    assert isinstance(report, ReceiverReport)  # nothing sent yet: an RR


def test_jitter_is_measured_in_the_clock_of_what_arrives():
    # We send Opus (48 kHz clock) but receive PCMU (8 kHz): jitter must use 8 kHz units.
    receiver = RtpSession(SendStream(Opus(48000), 111),
                          lambda: PayloadTypes({0: G711("PCMU"), 111: Opus(48000)}), now=0.0)
    sender = g711_session()
    for tick in range(100):
        late = 0.01 * (tick % 2)  # transit alternates 0 / 10 ms: A.8 converges to 10 ms
        for datagram in sender.send_frame(np.zeros(160, np.int16), tick * 0.02):
            receiver.receive(datagram, tick * 0.02 + late)
    (stats,) = receiver.statistics().receive
    assert stats.jitter == pytest.approx(0.01, rel=0.05)
    assert stats.reported_jitter is None  # no report sent yet


def test_statistics_say_what_the_last_report_told_the_sender():
    receiver, sender = g711_session(), g711_session()
    for tick in range(100):
        late = 0.01 * (tick % 2)
        for datagram in sender.send_frame(np.zeros(160, np.int16), tick * 0.02):
            receiver.receive(datagram, tick * 0.02 + late)
    (report,) = [p for p in parse_rtcp(receiver.bye(2.0))
                 if isinstance(p, SenderReport | ReceiverReport)]
    (block,) = report.reports
    for datagram in sender.send_frame(np.zeros(160, np.int16), 2.0):
        receiver.receive(datagram, 2.03)  # the running figure moves on; the reported one stays
    (stats,) = receiver.statistics().receive
    assert stats.reported_jitter == block.jitter / 8000 == pytest.approx(0.01, rel=0.05)
    assert stats.jitter != stats.reported_jitter


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_datagrams_never_raise(datagram):
    session = g711_session()
    events = session.receive(datagram, 0.0)  # dropped and counted, or accepted: never raises
    stats = session.statistics()
    assert len(events) + stats.discarded_rtp + stats.discarded_rtcp <= 1
    session.read_frame(0.02)


def test_sipperc_srtp_on_one_side_libsrtp_on_the_other():
    a_to_b, b_to_a = KEY, KEY[::-1]

    def ours(key):
        return SrtpSession(Profile.AES_CM_128_HMAC_SHA1_80, master_key=key[:16],
                           master_salt=key[16:])
    a = g711_session(transform=SrtpTransform(ours(a_to_b), ours(b_to_a)))
    b = g711_session(transform=SrtpTransform(
        libsrtp(b_to_a, pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
        libsrtp(a_to_b, pylibsrtp.Policy.SSRC_ANY_INBOUND)))
    pcm = speech(8000)
    heard_a, heard_b, _ = converse(a, b, pcm, np.roll(pcm, 40000), 12.0)
    assert snr(pcm[:80000], heard_b, 4000) > 30
    assert snr(np.roll(pcm, 40000)[:80000], heard_a, 4000) > 30
    for session in (a, b):
        stats = session.statistics()
        assert stats.discarded_rtp == stats.discarded_rtcp == 0
        assert stats.send.remote_cumulative_lost == 0  # SRTCP reports got through both ways
