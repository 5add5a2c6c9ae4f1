"""The Media Distributor core: demultiplexing, hop-by-hop keys only, forwarding, RTCP, loss."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.perc.key_distributor import EndpointLeft, Rekeyed, RekeyReason
from sipperc.perc.media_distributor import (
    DropReason,
    FanOut,
    MediaDistributor,
    ParticipantJoined,
    ParticipantLeft,
    RoomConfig,
    RoomSwitchEvent,
    SpeakerTalking,
    ToKeyDistributor,
)
from sipperc.perc.switching import SpeakersChanged, SwitchingConfig
from sipperc.perc.tunnel_messages import EndpointDisconnect, MediaKeys, TunneledDtls
from sipperc.rtp import (
    PSFB,
    RTPFB,
    FeedbackMessage,
    Goodbye,
    ReceiverReport,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    parse_rtcp,
    serialize_rtcp,
)
from sipperc.srtp import AuthenticationError, HopByHopSession, Profile
from tests.perc.memory_conference import MemoryConference

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
ROOM = "design-review"


def tunnel_messages(conference, kind, direction):
    return [m for d, m in conference.tunnel_log if d == direction and isinstance(m, kind)]


def keys_for(conference, association):
    return next(m for m in tunnel_messages(conference, MediaKeys, "to-md")
                if m.association_id == association)


def association_of(conference, peer):
    return conference.md._rooms[ROOM].endpoints[peer.address].association


def rtcp_for(conference, peer, data):
    """What the Media Distributor sent ``peer`` in answer to ``data``, as RTCP packets."""
    return [packet for port, address, datagram in data
            if address == peer.address and 192 <= datagram[1] <= 223
            for packet in parse_rtcp(peer.participant.transform.unprotect_rtcp(datagram))]


def started(names="abc", **kwargs):
    conference = MemoryConference(**kwargs)
    for name in names:
        conference.add(name)
    conference.run(1.0)
    return conference


# -- DTLS relay and keys --------------------------------------------------------------------------


def test_each_endpoint_gets_its_own_random_uuid4_association():
    conference = started()
    relayed = tunnel_messages(conference, TunneledDtls, "to-kd")
    ids = {m.association_id for m in relayed}
    assert len(ids) == 3 and all(i.version == 4 for i in ids)
    joined = [e for e in conference.md_events if isinstance(e, ParticipantJoined)]
    assert {e.association_id for e in joined} == ids
    assert {e.address for e in joined} == {p.address for p in conference.peers.values()}


def test_dtls_from_an_unknown_address_that_opens_no_handshake_is_dropped():
    md = MediaDistributor({ROOM: RoomConfig(ROOM)}, (DOUBLE_128,), now=0.0)
    md.tunnel_up()
    alert = bytes([21, 0xFE, 0xFD]) + bytes(8) + (2).to_bytes(2, "big") + b"\x02\x28"
    assert md.datagram_received(ROOM, ("192.0.2.9", 1), alert, 0.0) == []
    assert md.statistics(0.0).dropped[DropReason.UNKNOWN_SOURCE] == 1


def test_a_new_handshake_from_a_known_address_is_a_new_association_ended_late():
    conference = started()
    peer = conference.peers["a"]
    old = association_of(conference, peer)
    conference.tunnel_log.clear()
    peer.participant.renew_association(conference.now)
    conference.run(0.5)
    new = association_of(conference, peer)
    assert new != old
    order = [(type(m).__name__, m.association_id) for _, m in conference.tunnel_log
             if isinstance(m, MediaKeys | EndpointDisconnect)]
    # The new association is keyed first; only then is the old one ended.
    assert order.index(("MediaKeys", new)) < order.index(("EndpointDisconnect", old))
    assert not any(isinstance(e, ParticipantLeft) for e in conference.md_events)
    assert conference.everyone_hears_everyone()


def test_forwarded_copies_are_under_the_receivers_keys_and_keep_the_ekt_field():
    conference = started()
    a, b = conference.peers["a"], conference.peers["b"]
    keys_a = keys_for(conference, association_of(conference, a))
    keys_b = keys_for(conference, association_of(conference, b))
    inbound = next_packet_with_full_field(conference, a)
    outputs = conference.md.datagram_received(ROOM, a.address, inbound, conference.now)
    copies = {address: data for _, address, data in outputs}
    assert set(copies) == {b.address, conference.peers["c"].address}
    to_b = copies[b.address]
    assert to_b[-47:] == inbound[-47:]  # the FullEKTField, untouched (RFC 8870 §4)
    under_b = HopByHopSession(DOUBLE_128, master_key=keys_b.server_write_master_key,
                              master_salt=keys_b.server_write_master_salt)
    assert under_b.receive(to_b).ssrc == a.ssrc
    # Never under the sender's own keys (RFC 8723 §5.2: no nonce reuse).
    for key, salt in ((keys_a.client_write_master_key, keys_a.client_write_master_salt),
                      (keys_a.server_write_master_key, keys_a.server_write_master_salt)):
        with pytest.raises(AuthenticationError):
            HopByHopSession(DOUBLE_128, master_key=key, master_salt=salt).receive(to_b)


def test_lazily_the_copies_come_as_a_fan_out_encrypted_as_taken():
    conference = started("abcd")
    a = conference.peers["a"]
    md = conference.md
    sent_before = md.statistics(conference.now).datagrams_sent
    copies = md.datagram_received(ROOM, a.address, next_packet_with_full_field(conference, a),
                                  conference.now, lazy=True)
    (fan_out,) = copies
    assert isinstance(fan_out, FanOut) and len(fan_out) == 3
    assert md.statistics(conference.now).datagrams_sent == sent_before + 3
    hops = {}
    for name in "bcd":
        peer = conference.peers[name]
        keys = keys_for(conference, association_of(conference, peer))
        hops[peer.address] = HopByHopSession(DOUBLE_128,
                                             master_key=keys.server_write_master_key,
                                             master_salt=keys.server_write_master_salt)
    taken = list(fan_out)
    assert {address for _, address, _ in taken} == set(hops)
    # Each under its receiver's key; the next packet, taken eagerly, continues those streams.
    eager = md.datagram_received(ROOM, a.address, next_packet_with_full_field(conference, a),
                                 conference.now)
    assert len(eager) == 3 and all(type(o) is tuple for o in eager)
    for _, address, data in taken + eager:
        assert hops[address].receive(data).ssrc == a.ssrc


def next_packet_with_full_field(conference, peer):
    """The participant's next RTP packet that carries a FullEKTField (one every 100 ms)."""
    for _ in range(10):
        peer.participant.send_frame(peer.tone.read(160), conference.now)
        conference.now += 0.02
        for datagram in peer.participant.datagrams_to_send(conference.now):
            if datagram[-1] == 2 and not 192 <= datagram[1] <= 223:
                return datagram
    raise AssertionError("no Full EKT field in 200 ms")


def test_a_tampered_packet_is_dropped_and_counted():
    conference = started()
    a = conference.peers["a"]
    inbound = bytearray([d for addr, d, _ in conference.md_inbound if addr == a.address
                         and not 192 <= d[1] <= 223][-1])
    inbound[20] ^= 1
    assert conference.md.datagram_received(ROOM, a.address, bytes(inbound),
                                           conference.now) == []
    assert conference.md.statistics(conference.now).dropped[DropReason.AUTHENTICATION] == 1


# -- selection --------------------------------------------------------------------------------


def test_only_the_last_n_speakers_are_forwarded_and_streams_stay_decodable():
    conference = started("abcd", last_n=2)
    conference.run(1.0)
    selected = conference.md._rooms[ROOM].switch.selected
    assert len(selected) == 2
    heard = {p.name: {o.name for o in conference.peers.values()
                      if o is not p and p.hears(o)} for p in conference.peers.values()}
    forwarded = {f"198.51.100.{i + 1}:{5000 + i}": n for i, n in enumerate("abcd")}
    speakers = {forwarded[s] for s in selected}
    for name, names in heard.items():
        assert names == speakers - {name}
    # The first speaker goes quiet: another takes its slot; everyone still decodes what
    # they get (the SEQ of the resumed stream continues, RFC 8723 rewriting only).
    first = forwarded[selected[0]]
    conference.peers[first].sending = False
    conference.run(2.5)
    changes = [e.event for e in conference.md_events if isinstance(e, RoomSwitchEvent)
               and isinstance(e.event, SpeakersChanged)]
    assert forwarded_names(changes[-1].selected, forwarded) != speakers
    conference.peers[first].sending = True
    conference.run(3.0)
    for peer in conference.peers.values():
        stats = peer.participant.statistics().media
        assert all(r.decode_errors == 0 for r in stats.receive)


def test_talkers_are_reported_by_the_tls_id_of_their_client_hello():
    conference = started("ab")
    tls_ids = {name: peer.participant.session.local_tls_id
               for name, peer in conference.peers.items()}
    talking = [e for e in conference.md_events if isinstance(e, SpeakerTalking)]
    assert {(e.tls_id, e.talking) for e in talking} == {(tls_ids["a"], True),
                                                       (tls_ids["b"], True)}
    assert {e.room for e in talking} == {ROOM}
    conference.peers["a"].sending = False
    conference.run(3.0)  # the hangover, then the next check
    talking = [e for e in conference.md_events if isinstance(e, SpeakerTalking)]
    assert talking[2:] == [SpeakerTalking(ROOM, tls_ids["a"], False)]


def forwarded_names(selected, names):
    return {names[s] for s in selected}


# -- RTCP ---------------------------------------------------------------------------------------


def test_rtcp_is_terminated_and_regenerated():
    conference = started("abc", last_n=2)
    conference.run(4.0)
    switch = conference.md._rooms[ROOM].switch
    quiet = next(p for p in conference.peers.values()
                 if f"{p.address[0]}:{p.address[1]}" not in switch.selected)
    ekt = quiet.participant.transform.ekt
    compound = serialize_rtcp([ReceiverReport(quiet.ssrc, ()), SourceDescription(
        (SdesChunk(quiet.ssrc, (SdesItem(SdesItem.CNAME, b"q@x"),)),))])
    # A receiver report ends at the Media Distributor: nothing goes on to anyone.
    assert conference.md.datagram_received(ROOM, quiet.address, ekt.protect_rtcp(compound),
                                           conference.now) == []
    # What everyone hears back is the Media Distributor's own report about their stream, so
    # they know their loss and their round trip to it.
    for peer in conference.peers.values():
        stats = peer.participant.statistics().media
        assert stats.send.remote_fraction_lost == 0.0
        assert stats.send.round_trip_time is not None


def test_sender_reports_go_on_without_report_blocks_and_bye_to_everyone():
    conference = started()
    a, b, c = (conference.peers[n] for n in "abc")
    ekt = a.participant.transform.ekt
    sdes = SourceDescription((SdesChunk(a.ssrc, (SdesItem(SdesItem.CNAME, b"a@x"),)),))
    compound = serialize_rtcp([SenderReport(a.ssrc, 1 << 40, 160, 10, 1600,
                                            (ReceiverReport(a.ssrc, ()).reports)), sdes])
    out = conference.md.datagram_received(ROOM, a.address, ekt.protect_rtcp(compound),
                                          conference.now)
    for receiver in (b, c):
        packets = rtcp_for(conference, receiver, out)
        (report,) = [p for p in packets if isinstance(p, SenderReport)]
        assert report.ssrc == a.ssrc and report.reports == () and report.packet_count == 10
        assert any(isinstance(p, SourceDescription) for p in packets)
    assert not [d for _, address, d in out if address == a.address]
    bye = serialize_rtcp([ReceiverReport(a.ssrc, ()), Goodbye((a.ssrc,), b"bye")])
    out = conference.md.datagram_received(ROOM, a.address, ekt.protect_rtcp(bye),
                                          conference.now)
    assert all(any(isinstance(p, Goodbye) for p in rtcp_for(conference, r, out)) for r in (b, c))


def test_pli_goes_to_the_sender_of_the_stream_it_names():
    conference = started()
    a, b = conference.peers["a"], conference.peers["b"]
    pli = serialize_rtcp([ReceiverReport(b.ssrc, ()), FeedbackMessage(PSFB, 1, b.ssrc, a.ssrc)])
    out = conference.md.datagram_received(ROOM, b.address,
                                          b.participant.transform.ekt.protect_rtcp(pli),
                                          conference.now)
    assert {address for _, address, _ in out} == {a.address}
    (feedback,) = [p for p in rtcp_for(conference, a, out) if isinstance(p, FeedbackMessage)]
    assert (feedback.packet_type, feedback.fmt, feedback.media_ssrc) == (PSFB, 1, a.ssrc)


def test_nack_sequence_numbers_are_translated_back_to_the_senders():
    conference = started("abc", last_n=1)
    a, b, c = (conference.peers[n] for n in "abc")
    switch = conference.md._rooms[ROOM].switch
    speaker = next(p for p in (a, b, c) if f"{p.address[0]}:{p.address[1]}" in switch.selected)
    listener = next(p for p in (a, b, c) if p is not speaker)
    outbound = switch._outbound[(f"{listener.address[0]}:{listener.address[1]}",
                                 speaker.ssrc)]
    outbound.offset = 1000  # as if an earlier run had shifted this receiver's numbering
    seen = (outbound.highest_out + 1000) % 65536
    nack = FeedbackMessage(RTPFB, 1, listener.ssrc, speaker.ssrc,
                           seen.to_bytes(2, "big") + b"\x00\x03")
    compound = serialize_rtcp([ReceiverReport(listener.ssrc, ()), nack])
    out = conference.md.datagram_received(
        ROOM, listener.address, listener.participant.transform.ekt.protect_rtcp(compound),
        conference.now)
    (forwarded,) = [p for p in rtcp_for(conference, speaker, out)
                    if isinstance(p, FeedbackMessage)]
    assert int.from_bytes(forwarded.fci[:2], "big") == (seen - 1000) % 65536
    assert forwarded.fci[2:] == b"\x00\x03"  # the bitmask is relative: unchanged


# -- loss of endpoints ------------------------------------------------------------------------


def test_a_silent_endpoint_is_reported_gone_and_the_others_are_rekeyed():
    conference = started("abc", silence_timeout=2.0)
    gone = conference.silence("c")
    conference.run(3.5)
    (left,) = [e for e in conference.md_events if isinstance(e, ParticipantLeft)]
    assert left.participant == f"{gone.address[0]}:{gone.address[1]}"
    assert "silent" in left.reason
    assert EndpointDisconnect(association_of_gone(conference, gone)) in tunnel_messages(
        conference, EndpointDisconnect, "to-kd")
    assert any(isinstance(a, EndpointLeft) for a in conference.kd_actions)
    assert [a for a in conference.kd_actions if isinstance(a, Rekeyed)][-1].reason \
        is RekeyReason.LEAVE
    conference.run(1.0)
    assert conference.everyone_hears_everyone()


def association_of_gone(conference, peer):
    joined = [e for e in conference.md_events if isinstance(e, ParticipantJoined)
              and e.address == peer.address]
    return joined[-1].association_id


def test_a_handshake_that_never_completes_is_given_up():
    md = MediaDistributor({ROOM: RoomConfig(ROOM)}, (DOUBLE_128,), now=0.0,
                          handshake_timeout=5.0)
    md.tunnel_up()
    conference = MemoryConference()
    peer = conference.add("a", start=False)
    peer.participant.start(0.0)
    (hello,) = peer.participant.datagrams_to_send(0.0)
    (relay,) = md.datagram_received(ROOM, peer.address, hello, 0.0)
    assert isinstance(relay, ToKeyDistributor)
    assert md.get_timer() == 5.0
    out = md.handle_timer(5.0)
    assert out == [ToKeyDistributor(EndpointDisconnect(relay.message.association_id))]


def test_the_key_distributor_can_end_an_association():
    conference = started()
    c = conference.peers["c"]
    out = conference.md.tunnel_message(EndpointDisconnect(association_of(conference, c)),
                                       conference.now)
    assert [e.reason for e in out if isinstance(e, ParticipantLeft)] == [
        "the Key Distributor ended its association"]
    assert c.address not in conference.md._rooms[ROOM].endpoints


# -- restart recovery and robustness ----------------------------------------------------------


def test_unbound_keys_are_tried_at_a_bounded_rate():
    conference = started()
    conference.md.binding_trials_per_second = 1.0
    conference.restart_md()
    conference.md.binding_trials_per_second = 1.0
    conference.md._trial_tokens = 1.0
    conference.run(0.1)
    dropped = conference.md.statistics(conference.now).dropped[DropReason.UNKNOWN_SOURCE]
    assert dropped > 0  # more packets than trials allowed
    conference.md.binding_trials_per_second = 5000.0
    conference.run(1.0)
    assert conference.everyone_hears_everyone()


def test_unbound_keys_expire():
    md = MediaDistributor({ROOM: RoomConfig(ROOM)}, (DOUBLE_128,), now=0.0,
                          unbound_lifetime=10.0)
    keys = MediaKeys(uuid.uuid4(), DOUBLE_128.dtls_id, b"k" * 16, b"l" * 16, b"s" * 12,
                     b"t" * 12)
    assert md.tunnel_message(keys, 0.0) == []
    assert md.get_timer() == 10.0
    md.handle_timer(10.0)
    assert md.get_timer() is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_garbage_never_raises(data, from_a_member):
    conference = _shared_conference()
    address = conference.peers["a"].address if from_a_member else ("203.0.113.7", 9)
    conference.md.datagram_received(ROOM, address, data, conference.now)


_CONFERENCE = []


def _shared_conference():
    if not _CONFERENCE:
        _CONFERENCE.append(started("ab"))
    return _CONFERENCE[0]


def test_misconfiguration_is_refused():
    with pytest.raises(ValueError, match="at least one room"):
        MediaDistributor({}, (DOUBLE_128,), now=0.0)
    with pytest.raises(ValueError, match="double profiles"):
        MediaDistributor({ROOM: RoomConfig(ROOM)}, (Profile.AEAD_AES_128_GCM,), now=0.0)
    with pytest.raises(ValueError, match="own port"):
        MediaDistributor({1: RoomConfig(ROOM), 2: RoomConfig(ROOM)}, (DOUBLE_128,), now=0.0)
    assert RoomConfig(ROOM, SwitchingConfig(), clock_rates={96: 16000}).clock_rate(96) == 16000
    assert RoomConfig(ROOM).clock_rate(0) == 8000 and RoomConfig(ROOM).clock_rate(111) == 48000
