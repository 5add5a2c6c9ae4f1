import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.perc.switching import (
    EndpointSilent,
    KeyframeNeeded,
    MediaKind,
    MediaSwitch,
    RtpPacketInfo,
    SpeakersChanged,
    SsrcConflict,
    SwitchingConfig,
    TalkingChanged,
    UnknownParticipantError,
)
from sipperc.rtp import AudioLevel, ExtensionElement, HeaderExtension, RtpPacket, parse_rtp

LOUD, MEDIUM, QUIET, SILENT = 10, 30, 45, 127
FRAME = 0.02


class Sender:
    """One participant's audio (and optionally video) stream with sequential SEQs."""

    def __init__(self, name, ssrc, first_seq=1000, kind=MediaKind.AUDIO, pt=111):
        self.name, self.ssrc, self.seq, self.kind, self.pt = name, ssrc, first_seq, kind, pt

    def packet(self, level=None, marker=False, voice=None, seq=None):
        if seq is None:
            seq = self.seq
            self.seq = (self.seq + 1) % 65536
        return RtpPacketInfo(self.ssrc, seq, self.pt, marker, self.kind, 100, level, voice)


class Conference:
    """A MediaSwitch plus senders, with a clock advanced in 20 ms frames."""

    def __init__(self, names, config=None, first_seq=1000):
        self.switch = MediaSwitch(config or SwitchingConfig())
        self.now = 0.0
        self.senders = {}
        for index, name in enumerate(names):
            self.switch.add_participant(name, self.now)
            self.senders[name] = Sender(name, 0x1000 + index, (first_seq + 100 * index) % 65536)
        self.received = {}  # (receiver, ssrc) -> [Forward]
        self.events = []

    def frame(self, levels):
        """Every participant named in ``levels`` sends one audio packet at this instant."""
        for name, level in levels.items():
            self.send(name, self.senders[name].packet(level))
        self.now += FRAME

    def send(self, name, packet):
        routing = self.switch.receive_rtp(self.now, name, packet)
        for forward in routing.forwards:
            self.received.setdefault((forward.receiver, packet.ssrc), []).append(forward)
        self.events.extend(routing.events)
        return routing

    def talk(self, seconds, levels):
        for _ in range(round(seconds / FRAME)):
            self.frame(levels)


def test_first_three_speakers_are_selected_and_forwarded_to_everyone_else():
    conf = Conference("ABCDE")
    conf.frame({"A": LOUD, "B": MEDIUM, "C": QUIET, "D": LOUD, "E": SILENT})
    assert conf.switch.selected == ("A", "B", "C")
    routing = conf.send("A", conf.senders["A"].packet(LOUD))
    assert sorted(f.receiver for f in routing.forwards) == ["B", "C", "D", "E"]
    assert conf.send("D", conf.senders["D"].packet(LOUD)).forwards == ()
    changes = [e for e in conf.events if isinstance(e, SpeakersChanged)]
    assert [c.selected for c in changes] == [("A",), ("A", "B"), ("A", "B", "C")]


def test_silence_does_not_take_a_free_slot_but_speech_does():
    conf = Conference("AB")
    conf.frame({"A": SILENT, "B": SILENT})
    assert conf.switch.selected == ()
    conf.frame({"B": QUIET})
    assert conf.switch.selected == ("B",)


def test_voice_activity_flag_overrides_the_level_threshold():
    conf = Conference("AB")
    conf.send("A", conf.senders["A"].packet(level=20, voice=False))
    assert conf.switch.selected == ()
    conf.send("B", conf.senders["B"].packet(level=90, voice=True))
    assert conf.switch.selected == ("B",)


def test_louder_challenger_takes_the_weakest_slot_only_after_switch_delay():
    config = SwitchingConfig(last_n=2, switch_delay=0.3, switch_margin_db=6)
    conf = Conference("ABC", config)
    conf.talk(1.0, {"A": MEDIUM, "B": QUIET})
    assert conf.switch.selected == ("A", "B")
    # C is louder than B by more than the margin, but not yet for long enough.
    conf.talk(0.2, {"A": MEDIUM, "B": QUIET, "C": LOUD})
    assert conf.switch.selected == ("A", "B")
    conf.talk(0.4, {"A": MEDIUM, "B": QUIET, "C": LOUD})
    assert conf.switch.selected == ("A", "C")
    last = [e for e in conf.events if isinstance(e, SpeakersChanged)][-1]
    assert last.added == ("C",) and last.removed == ("B",)


def test_challenger_within_the_margin_never_switches():
    config = SwitchingConfig(last_n=1, switch_margin_db=6)
    conf = Conference("AB", config)
    conf.talk(0.5, {"A": 30})
    conf.talk(10.0, {"A": 30, "B": 26})  # 4 dB louder: within the margin
    assert conf.switch.selected == ("A",)
    assert conf.switch.statistics().speaker_changes == 1


def test_alternating_overlapping_speech_does_not_flap():
    config = SwitchingConfig(last_n=1)
    conf = Conference("AB", config)
    conf.talk(0.5, {"A": 20})
    # A and B trade the louder position every 100 ms: no sustained lead, no switching.
    for _ in range(50):
        conf.talk(0.1, {"A": 20, "B": 10})
        conf.talk(0.1, {"A": 10, "B": 30})
    assert conf.switch.statistics().speaker_changes <= 2


def test_a_silent_speaker_keeps_its_slot_through_the_hangover_then_yields():
    config = SwitchingConfig(last_n=1, hangover=1.5, switch_delay=0.3)
    conf = Conference("AB", config)
    conf.talk(0.5, {"A": LOUD})
    conf.talk(1.0, {"A": SILENT, "B": QUIET})  # A paused for 1 s: still within its hangover
    assert conf.switch.selected == ("A",)
    conf.talk(1.0, {"A": SILENT, "B": QUIET})
    assert conf.switch.selected == ("B",)


def test_a_speaker_that_stops_sending_decays_and_yields():
    config = SwitchingConfig(last_n=1, hangover=1.0)
    conf = Conference("AB", config)
    conf.talk(0.5, {"A": LOUD})
    conf.talk(2.0, {"B": MEDIUM})  # A sends nothing at all (DTX)
    assert conf.switch.selected == ("B",)


def test_a_challenge_interrupted_by_a_pause_starts_over():
    config = SwitchingConfig(last_n=1, switch_delay=0.3, max_packet_gap=0.2)
    conf = Conference("AB", config)
    conf.talk(2.0, {"A": 40})
    for _ in range(5):  # B bursts for 0.2 s, then pauses 0.5 s: never 0.3 s in a row
        conf.talk(0.2, {"A": 40, "B": LOUD})
        conf.talk(0.5, {"A": 40})
    assert conf.switch.selected == ("A",)


def test_removing_a_speaker_gives_its_slot_to_the_loudest_other_speaker():
    conf = Conference("ABCDE", SwitchingConfig(last_n=2))
    conf.talk(0.5, {"A": LOUD, "B": LOUD, "C": QUIET, "D": MEDIUM, "E": SILENT})
    assert conf.switch.selected == ("A", "B")
    events = conf.switch.remove_participant("A", conf.now)
    assert conf.switch.selected == ("B", "D")
    assert events == [TalkingChanged("A", False), SpeakersChanged(("B", "D"), ("D",), ("A",))]
    assert conf.switch.remove_participant("A", conf.now) == []
    assert "A" not in conf.switch.participants


def test_resumed_stream_continues_the_receivers_seq_with_marker_set():
    config = SwitchingConfig(last_n=1, hangover=0.1, switch_delay=0.1)
    conf = Conference("ABC", config)
    conf.talk(0.5, {"A": LOUD})
    conf.talk(0.5, {"A": SILENT, "B": LOUD})  # B takes over; A's packets keep coming, dropped
    conf.talk(0.5, {"A": LOUD, "B": SILENT})  # A is back
    to_c = conf.received[("C", conf.senders["A"].ssrc)]
    seqs = [f.sequence_number for f in to_c]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert seqs[0] == 1000  # the first run keeps the original SEQ
    markers = [i for i, f in enumerate(to_c) if f.marker]
    assert markers == [0, markers[1]] and len(markers) == 2  # run starts only
    assert all(f.payload_type == 111 for f in to_c)


def test_loss_within_a_run_stays_visible_to_the_receiver():
    conf = Conference("AB")
    a = conf.senders["A"]
    conf.send("A", a.packet(LOUD, seq=500))
    conf.send("A", a.packet(LOUD, seq=501))
    conf.send("A", a.packet(LOUD, seq=504))  # 502 and 503 were lost upstream
    conf.send("A", a.packet(LOUD, seq=503))  # late but inside the run: forwarded
    seqs = [f.sequence_number for f in conf.received[("B", a.ssrc)]]
    assert seqs == [500, 501, 504, 503]
    stats = conf.switch.participant_statistics("A", conf.now)
    assert stats.streams[0].packets_lost == 1


def test_packets_from_before_a_run_are_dropped():
    config = SwitchingConfig(last_n=1, hangover=0.1, switch_delay=0.1)
    conf = Conference("ABC", config)
    conf.talk(0.3, {"A": LOUD})
    conf.talk(0.5, {"A": SILENT, "B": LOUD})
    conf.talk(0.5, {"A": LOUD, "B": SILENT})
    first_of_run = conf.received[("C", conf.senders["A"].ssrc)][-1]
    stale = conf.senders["A"].seq - 30  # sent while A was not forwarded, arriving late
    routing = conf.send("A", conf.senders["A"].packet(LOUD, seq=stale))
    assert routing.forwards == ()
    assert first_of_run.sequence_number  # the run itself was forwarded


def test_video_runs_ask_for_a_keyframe_and_keep_the_marker():
    conf = Conference("AB")
    video = Sender("A", 0x2000, kind=MediaKind.VIDEO, pt=96)
    conf.frame({"A": LOUD})
    routing = conf.send("A", video.packet(marker=False))
    assert routing.events == (KeyframeNeeded("A", 0x2000, "B"),)
    assert routing.forwards[0].marker is False
    assert conf.send("A", video.packet(marker=True)).forwards[0].marker is True
    assert conf.send("A", video.packet()).events == ()


def test_payload_types_are_mapped_per_receiver():
    conf = Conference("ABC")
    conf.switch.set_payload_types("B", {111: 109})
    routing = conf.send("A", conf.senders["A"].packet(LOUD))
    by_receiver = {f.receiver: f.payload_type for f in routing.forwards}
    assert by_receiver == {"B": 109, "C": 111}


def test_an_ssrc_taken_by_another_participant_is_dropped():
    conf = Conference("ABC")
    conf.frame({"A": LOUD})
    forged = RtpPacketInfo(conf.senders["A"].ssrc, 7, 111, False, MediaKind.AUDIO, 100, LOUD)
    routing = conf.send("B", forged)
    assert routing.forwards == ()
    assert routing.events == (SsrcConflict("B", conf.senders["A"].ssrc, "A"),)
    assert conf.switch.statistics().packets_dropped == 1


def test_silent_endpoint_is_reported_once_and_rtcp_counts_as_alive():
    config = SwitchingConfig(silence_timeout=10, check_interval=1)
    switch = MediaSwitch(config)
    switch.add_participant("A", 0.0)
    switch.add_participant("B", 0.0)
    assert switch.get_timer() == 1.0
    assert switch.handle_timer(0.5) == []
    for second in range(1, 10):
        switch.receive_rtcp(float(second), "B")
        assert switch.handle_timer(float(second)) == []
    assert switch.handle_timer(10.0) == [EndpointSilent("A", 10.0)]
    assert switch.handle_timer(11.0) == []
    switch.receive_rtcp(12.0, "A")
    assert switch.handle_timer(23.0) == [EndpointSilent("A", 11.0), EndpointSilent("B", 14.0)]
    switch.remove_participant("A", 23.0)
    switch.remove_participant("B", 23.0)
    assert switch.get_timer() is None


def test_statistics_count_what_was_received_and_forwarded():
    conf = Conference("ABC")
    conf.talk(0.1, {"A": LOUD, "B": SILENT})
    a = conf.switch.participant_statistics("A", conf.now)
    assert (a.packets_received, a.bytes_received, a.selected, a.speaking, a.audio_level) == (
        5, 500, True, True, LOUD)
    assert a.streams[0].copies_forwarded == 10 and a.packets_sent == 0
    b = conf.switch.participant_statistics("B", conf.now)
    assert (b.packets_not_forwarded, b.packets_sent, b.selected) == (5, 5, False)
    total = conf.switch.statistics()
    assert (total.participants, total.selected, total.packets_received,
            total.copies_forwarded, total.bytes_forwarded, total.packets_dropped) == (
        3, ("A",), 10, 10, 1000, 5)


def test_misuse_is_refused_with_clear_errors():
    switch = MediaSwitch()
    switch.add_participant("A", 0)
    with pytest.raises(ValueError, match="already in the conference"):
        switch.add_participant("A", 0)
    with pytest.raises(UnknownParticipantError, match="'Z' is not in the conference"):
        switch.receive_rtcp(0, "Z")
    with pytest.raises(ValueError, match="audio_level"):
        RtpPacketInfo(1, 1, 0, False, MediaKind.AUDIO, 10, audio_level=128)
    with pytest.raises(ValueError, match="sequence_number"):
        RtpPacketInfo(1, 65536, 0, False, MediaKind.AUDIO, 10)
    with pytest.raises(ValueError, match="last_n"):
        SwitchingConfig(last_n=0)


# -- properties ------------------------------------------------------------------------------

schedules = st.lists(
    st.lists(st.sampled_from([None, 5, 20, 40, 60, 127]), min_size=5, max_size=5),
    min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(schedules, st.integers(0, 65535), st.integers(1, 4),
       st.floats(0.0, 0.5), st.floats(0.0, 2.0))
def test_every_forwarded_stream_is_continuous_and_never_echoed(
        schedule, first_seq, last_n, switch_delay, hangover):
    """Each row is one 20 ms frame: the level each of 5 participants sends (None: no packet).

    Whatever the selection does, every receiver sees each source SSRC with SEQs that go up by
    exactly one, across pauses and across the 16-bit wrap, and never gets its own packets."""
    config = SwitchingConfig(last_n=last_n, switch_delay=switch_delay, hangover=hangover)
    names = "ABCDE"
    conf = Conference(names, config, first_seq=first_seq)
    for row in schedule:
        levels = {name: level for name, level in zip(names, row, strict=True)
                  if level is not None}
        conf.frame(levels)
    owner = {sender.ssrc: name for name, sender in conf.senders.items()}
    for (receiver, ssrc), forwards in conf.received.items():
        assert owner[ssrc] != receiver
        seqs = [f.sequence_number for f in forwards]
        for previous, current in itertools.pairwise(seqs):
            assert current == (previous + 1) % 65536


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 65535), st.lists(st.integers(1, 40), min_size=1, max_size=12))
def test_continuity_holds_across_long_pauses_and_wraps(first_seq, pauses):
    """Speaker A is switched out for many packets at a time (so its SEQ wraps while unheard);
    C must still see A's SEQ advance by one per forwarded packet."""
    config = SwitchingConfig(last_n=1, hangover=0.0, switch_delay=0.0, switch_margin_db=0)
    conf = Conference("ABC", config, first_seq=first_seq)
    for pause in pauses:
        conf.talk(FRAME * 3, {"A": 5, "B": 127})
        # B takes over while A sends quietly; A's SEQ moves on by thousands meanwhile.
        for _ in range(pause):
            conf.frame({"B": 5, "A": 127})
            conf.senders["A"].seq = (conf.senders["A"].seq + 997) % 65536
    seqs = [f.sequence_number for f in conf.received[("C", conf.senders["A"].ssrc)]]
    assert len(seqs) >= len(pauses)
    for previous, current in itertools.pairwise(seqs):
        assert current == (previous + 1) % 65536


def test_packet_info_from_a_parsed_rtp_packet_with_rfc6464_level():
    extension = HeaderExtension.from_elements([AudioLevel(33, True).element(1)])
    wire = bytes(RtpPacket(True, 111, 4242, 960, 0xCAFE, extension=extension, payload=b"x" * 20))
    packet = parse_rtp(wire)
    info = RtpPacketInfo.from_rtp(packet, MediaKind.AUDIO, len(wire), audio_level_id=1)
    assert info == RtpPacketInfo(0xCAFE, 4242, 111, True, MediaKind.AUDIO, len(wire), 33, True)
    no_vad = RtpPacketInfo.from_rtp(packet, MediaKind.AUDIO, len(wire), audio_level_id=1,
                                    vad=False)
    assert no_vad.audio_level == 33 and no_vad.voice_activity is None
    assert RtpPacketInfo.from_rtp(packet, MediaKind.AUDIO, len(wire)).audio_level is None
    # An element of the wrong size is ignored, not fatal.
    bad = HeaderExtension.from_elements([ExtensionElement(1, b"\x01\x02")])
    bad_packet = parse_rtp(bytes(RtpPacket(False, 111, 1, 0, 1, extension=bad, payload=b"x")))
    assert RtpPacketInfo.from_rtp(bad_packet, MediaKind.AUDIO, 30, 1).audio_level is None


def test_original_sequence_undoes_the_rewrite_for_nack_translation():
    config = SwitchingConfig(last_n=1, hangover=0.1, switch_delay=0.1)
    conf = Conference("ABC", config)
    conf.talk(0.5, {"A": LOUD})
    conf.talk(0.5, {"A": SILENT, "B": LOUD})
    conf.talk(0.5, {"A": LOUD, "B": SILENT})  # A's second run to C has a SEQ offset
    a = conf.senders["A"]
    to_c = conf.received[("C", a.ssrc)]
    last = to_c[-1].sequence_number
    assert last != (a.seq - 1) % 65536  # rewritten
    assert conf.switch.original_sequence("C", a.ssrc, last) == (a.seq - 1) % 65536
    assert conf.switch.original_sequence("C", 0xDEAD, last) is None
    assert conf.switch.original_sequence("A", a.ssrc, last) is None  # never forwarded to A


def talking_events(conf):
    return [(e.participant, e.talking) for e in conf.events if isinstance(e, TalkingChanged)]


def test_talking_starts_after_switch_delay_of_speech_and_ends_a_hangover_after_it():
    config = SwitchingConfig(last_n=1, switch_delay=0.3, hangover=1.5, check_interval=0.1)
    conf = Conference("AB", config)
    conf.talk(0.2, {"A": LOUD, "B": SILENT})
    assert talking_events(conf) == []  # a cough is not talking
    conf.talk(0.2, {"A": LOUD, "B": SILENT})
    assert talking_events(conf) == [("A", True)]
    # B talks too, though it is not forwarded (last_n=1): talking is not the selection.
    conf.talk(0.5, {"A": LOUD, "B": MEDIUM})
    assert talking_events(conf) == [("A", True), ("B", True)]
    assert conf.switch.selected == ("A",)
    # A breath shorter than the hangover does not end it; silence longer does, once.
    for _ in range(20):
        conf.frame({"A": SILENT, "B": MEDIUM})
        conf.events.extend(conf.switch.handle_timer(conf.now))
    assert talking_events(conf)[2:] == []
    for _ in range(80):
        conf.frame({"A": SILENT, "B": MEDIUM})
        conf.events.extend(conf.switch.handle_timer(conf.now))
    assert talking_events(conf)[2:] == [("A", False)]


def test_speech_with_gaps_longer_than_max_packet_gap_never_becomes_talking():
    config = SwitchingConfig(switch_delay=0.3, max_packet_gap=0.2)
    conf = Conference("A", config)
    for _ in range(10):  # 20 ms of speech every 0.3 s: clicks, not talk
        conf.frame({"A": LOUD})
        conf.now += 0.28
    assert talking_events(conf) == []


def test_a_talker_who_leaves_stops_talking():
    conf = Conference("AB", SwitchingConfig(switch_delay=0.1))
    conf.talk(0.3, {"A": LOUD})
    assert conf.switch.remove_participant("A", conf.now)[0] == TalkingChanged("A", False)
