"""RFC 4317's offer/answer examples, played by two engines in memory.

Each test builds Alice and Bob with the capabilities, addresses and ports the example implies,
lets one engine offer and the other answer, and compares the text each produces with the RFC's.
Where RFC 4317 and RFC 3264 disagree, the test says so and checks the RFC 3264 behaviour.
"""

import dataclasses
from pathlib import Path

import pytest

from sipperc.sdp import (
    Codec,
    Direction,
    MediaCapabilities,
    NegotiatedSession,
    OfferAnswer,
    TransportAddress,
    parse_sdp,
)
from tests.sdp.rfc4317 import EXAMPLES

PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
H261 = Codec("H261", 90000, payload_type=31)
MPV = Codec("MPV", 90000, payload_type=32)


def ilbc(pt=97):
    return Codec("iLBC", 8000, payload_type=pt)


def tone(pt):
    return Codec("telephone-event", 8000, payload_type=pt)


def audio(*codecs, **kw):
    return MediaCapabilities("audio", codecs, rtcp_mux=False, **kw)


def video(*codecs, **kw):
    return MediaCapabilities("video", codecs, rtcp_mux=False, **kw)


class Ports:
    """A transport allocator handing out the example's ports, in order, on the party's host."""

    def __init__(self, host, *ports):
        self.host = host
        self.ports = list(ports)
        self.calls = []

    def __call__(self, index, kind):
        self.calls.append((index, kind))
        return TransportAddress(self.host, self.ports.pop(0))


def alice(*caps, ports=(), address="host.atlanta.example.com", **kw):
    return OfferAnswer(address=address, origin_address="host.atlanta.example.com",
                       username="alice", session_id=2890844526, session_name=" ",
                       explicit_sendrecv=False, capabilities=caps,
                       transports=Ports(address, *ports), **kw)


def bob(*caps, ports=(), address="host.biloxi.example.com", **kw):
    return OfferAnswer(address=address, origin_address="host.biloxi.example.com",
                       username="bob", session_id=2808844564, session_name=" ",
                       explicit_sendrecv=False, capabilities=caps,
                       transports=Ports(address, *ports), **kw)


def rfc(section, role):
    return EXAMPLES[(section, role)]


def exchange(offerer, answerer, section, prefix=""):
    """Offer, answer and apply the answer; check both texts against the RFC's."""
    offer = offerer.create_offer()
    assert str(offer) == rfc(section, prefix + "offer")
    answer = answerer.receive_offer(parse_sdp(str(offer)))
    assert str(answer.description) == rfc(section, prefix + "answer")
    negotiated = offerer.receive_answer(parse_sdp(str(answer.description)))
    assert isinstance(negotiated, NegotiatedSession)
    return negotiated, answer.negotiated


def names(stream):
    return [(c.name, c.send_payload_type, c.receive_payload_type) for c in stream.codecs]


def test_every_example_round_trips_exactly():
    assert len(EXAMPLES) == 54
    for text in EXAMPLES.values():
        assert str(parse_sdp(text)) == text


def test_2_1_audio_and_video_one_codec_each():
    a = alice(audio(PCMU, PCMA, ilbc()), video(H261, MPV), ports=(49170, 51372))
    b = bob(audio(PCMU), video(MPV), ports=(49174, 49170))
    at_alice, at_bob = exchange(a, b, "2.1")
    assert [names(s) for s in at_alice.streams] == [[("PCMU", 0, 0)], [("MPV", 32, 32)]]
    audio_stream = at_alice.streams[0]
    assert (audio_stream.remote_address, audio_stream.remote_port) == (
        "host.biloxi.example.com", 49174)
    assert audio_stream.remote_rtcp_port == 49175  # RFC 3550 §11: port + 1
    assert at_bob.streams[1].remote_port == 51372
    assert all(s.direction is Direction.SENDRECV for s in at_alice.streams)


def test_2_2_video_rejected_then_audio_narrowed_with_version_increments():
    a = alice(audio(PCMU, PCMA, ilbc()), video(H261, MPV), ports=(49170, 51372))
    b = bob(audio(PCMU, PCMA), ports=(49172,))
    at_alice, _ = exchange(a, b, "2.2")
    assert not at_alice.streams[1].accepted
    assert at_alice.streams[1].reason == "rejected by the answerer"
    assert names(at_alice.streams[0]) == [("PCMU", 0, 0), ("PCMA", 8, 8)]
    # Alice can do one codec at a time: she re-offers PCMU only, on a new port.
    a.update_stream(0, capabilities=audio(PCMU), transport=TransportAddress(
        "host.atlanta.example.com", 51372))
    second = exchange(a, b, "2.2", "second-")[0]
    assert names(second.streams[0]) == [("PCMU", 0, 0)]
    assert b.transports.calls == [(0, "audio")]  # Bob kept his port for the same stream


def test_2_3_answer_may_renumber_a_dynamic_payload_type():
    a = alice(audio(PCMU, PCMA, ilbc()), video(H261, MPV), ports=(49170, 51372))
    b = bob(audio(ilbc()), video(H261), ports=(49172, 51374))
    offer = a.create_offer()
    assert str(offer) == rfc("2.3", "offer")
    # RFC 3264 §6.1: the answer SHOULD use the offer's number; sipperc does (97, not 99).
    ours = b.receive_offer(parse_sdp(str(offer)))
    assert str(ours.description) == rfc("2.3", "answer").replace(
        "RTP/AVP 99\r\na=rtpmap:99", "RTP/AVP 97\r\na=rtpmap:97")
    # The RFC's Bob answers 99: Alice sends iLBC as 99 and still receives it as 97.
    result = a.receive_answer(parse_sdp(rfc("2.3", "answer")))
    assert names(result.streams[0]) == [("iLBC", 99, 97)]
    assert names(result.streams[1]) == [("H261", 31, 31)]


def test_2_4_two_audio_streams_one_for_tones():
    a = alice(audio(PCMU, ilbc()), audio(tone(98), direction=Direction.SENDONLY),
              ports=(49170, 49172))
    b = bob(audio(ilbc()), audio(tone(98), direction=Direction.RECVONLY), ports=(49172, 49174))
    at_alice, at_bob = exchange(a, b, "2.4")
    assert at_alice.streams[1].direction is Direction.SENDONLY
    assert at_bob.streams[1].direction is Direction.RECVONLY
    assert at_bob.streams[1].telephone_event is not None
    assert at_bob.streams[1].media_codecs == ()


def test_2_5_new_address_in_a_reoffer_unchanged_answer_keeps_its_version():
    a = alice(audio(ilbc()), video(H261), ports=(49170, 51372))
    b = bob(audio(ilbc()), video(H261), ports=(49174, 49170))
    exchange(a, b, "2.5")
    b.address = "newhost.biloxi.example.com"
    b.update_stream(0, transport=TransportAddress("newhost.biloxi.example.com", 49178))
    b.update_stream(1, transport=TransportAddress("newhost.biloxi.example.com", 49188))
    offer = b.create_offer()
    assert str(offer) == rfc("2.5", "second-offer")
    answer = a.receive_offer(parse_sdp(str(offer)))
    # Alice's description did not change, so neither does its version (RFC 3264 §8).
    assert str(answer.description) == rfc("2.5", "second-answer")
    result = b.receive_answer(answer.description)
    assert result.streams[0].remote_port == 49170
    assert answer.negotiated.streams[0].remote_address == "newhost.biloxi.example.com"


def test_2_6_first_stream_declined_second_accepted():
    a = alice(audio(PCMU), audio(ilbc(), tone(101)), ports=(49170, 51372))
    b = bob(audio(ilbc(), tone(101)), ports=(49170,))
    at_alice, at_bob = exchange(a, b, "2.6")
    assert [s.accepted for s in at_alice.streams] == [False, True]
    assert "no common audio codec (offered: PCMU/8000)" in at_bob.streams[0].reason
    assert names(at_alice.streams[1]) == [("iLBC", 97, 97), ("telephone-event", 101, 101)]


def test_2_7_second_video_codec_added_in_a_reoffer():
    a = alice(audio(ilbc(99)), video(H261), ports=(49170, 51372))
    b = bob(audio(ilbc(99)), video(H261, MPV), ports=(49172, 51374))
    exchange(a, b, "2.7")
    a.update_stream(1, capabilities=video(H261, MPV))
    second, _ = exchange(a, b, "2.7", "second-")
    assert names(second.streams[1]) == [("H261", 31, 31), ("MPV", 32, 32)]


def test_2_8_video_answered_from_another_host():
    a = alice(audio(PCMU, PCMA, ilbc()), video(H261, MPV), ports=(49170, 51372))
    ports = iter([TransportAddress("host.biloxi.example.com", 49174),
                  TransportAddress("otherhost.biloxi.example.com", 49172)])
    b = bob(audio(PCMU), video(MPV))
    b.transports = lambda index, kind: next(ports)
    at_alice, _ = exchange(a, b, "2.8")
    assert at_alice.streams[1].remote_address == "otherhost.biloxi.example.com"
    assert at_alice.streams[0].remote_address == "host.biloxi.example.com"


def test_3_1_answerer_holds_then_resumes():
    a = alice(audio(PCMU, ilbc()), ports=(49170,))
    b = bob(audio(ilbc()), ports=(49172,), address="placeholder.biloxi.example.com")
    b.hold()
    at_alice, at_bob = exchange(a, b, "3.1")
    assert at_bob.streams[0].direction is Direction.SENDONLY
    assert at_alice.streams[0].direction is Direction.RECVONLY
    assert not at_alice.streams[0].sends and at_alice.streams[0].receives
    b.resume()
    b.address = "host.biloxi.example.com"
    b.update_stream(0, transport=TransportAddress("host.biloxi.example.com", 49170))
    a.update_stream(0, transport=TransportAddress("host.atlanta.example.com", 49178))
    offer = b.create_offer()
    assert str(offer) == rfc("3.1", "second-offer")
    answer = a.receive_offer(offer)
    assert str(answer.description) == rfc("3.1", "second-answer")
    result = b.receive_answer(answer.description)
    assert result.streams[0].direction is Direction.SENDRECV
    assert result.streams[0].remote_port == 49178


def test_3_2_hold_one_of_two_streams():
    a = alice(audio(PCMU, ilbc()), audio(tone(98), direction=Direction.SENDONLY),
              ports=(49170, 49172))
    b = bob(audio(ilbc()), audio(tone(98), direction=Direction.RECVONLY), ports=(49172, 49174))
    exchange(a, b, "3.2")
    b.hold(0)
    offer = b.create_offer()
    assert str(offer) == rfc("3.2", "second-offer")
    answer = a.receive_offer(offer)
    # RFC 4317 has Alice repeat her first offer, which answers Bob's sendonly stream with an
    # implicit sendrecv and offers PCMU that Bob's re-offer dropped. RFC 3264 §6.1 requires
    # recvonly (or inactive) and formats from the offer, so sipperc answers:
    expected = rfc("3.2", "second-answer").replace(
        "m=audio 49170 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n",
        "m=audio 49170 RTP/AVP 97\r\na=rtpmap:97 iLBC/8000\r\na=recvonly\r\n")
    assert str(answer.description) == expected
    assert [s.direction for s in answer.negotiated.streams] == [Direction.RECVONLY,
                                                               Direction.SENDONLY]
    # The RFC's own answer still leaves Bob only sending on the held stream.
    result = b.receive_answer(parse_sdp(rfc("3.2", "second-answer")))
    assert [s.direction for s in result.streams] == [Direction.SENDONLY, Direction.RECVONLY]


def test_4_1_second_stream_added_by_a_media_server():
    a = alice(audio(PCMU, ilbc()), audio(tone(98), direction=Direction.SENDONLY),
              ports=(49170, 49172), offer_all_capabilities=False)
    tones = audio(tone(98), direction=Direction.RECVONLY)
    b = bob(audio(ilbc()), tones, ports=(49170,))
    a.add_stream("audio")
    exchange(a, b, "4.1")
    b.transports = lambda index, kind: TransportAddress("mediaserver.biloxi.example.com", 48282)
    b.add_stream(tones)
    offer = b.create_offer()
    assert str(offer) == rfc("4.1", "second-offer")
    answer = a.receive_offer(offer)
    # The RFC repeats the session c= line in the new section; it is redundant (RFC 8866 §5.7)
    # and sipperc leaves it out.
    assert str(answer.description) == rfc("4.1", "second-answer").replace(
        "m=audio 49172 RTP/AVP 98\r\nc=IN IP4 host.atlanta.example.com\r\n",
        "m=audio 49172 RTP/AVP 98\r\n")
    result = b.receive_answer(parse_sdp(rfc("4.1", "second-answer")))
    assert result.streams[1].direction is Direction.RECVONLY
    assert result.streams[1].remote_port == 49172


def test_4_2_video_added():
    a = alice(audio(PCMU), video(H261), ports=(49170, 49172), offer_all_capabilities=False)
    b = bob(audio(PCMU), video(H261), ports=(49172, 49168))
    a.add_stream("audio")
    exchange(a, b, "4.2")
    a.add_stream("video")
    second, _ = exchange(a, b, "4.2", "second-")
    assert [s.kind for s in second.accepted_streams] == ["audio", "video"]


def test_4_3_video_removed_by_the_answerer_of_the_first_exchange():
    a = alice(audio(ilbc()), video(H261), ports=(49170, 51372))
    b = bob(audio(ilbc()), video(H261), ports=(49174, 49170))
    exchange(a, b, "4.3")
    b.remove_stream(1)
    offer = b.create_offer()
    assert str(offer) == rfc("4.3", "second-offer")
    answer = a.receive_offer(offer)
    assert str(answer.description) == rfc("4.3", "second-answer")
    result = b.receive_answer(answer.description)
    assert [s.accepted for s in result.streams] == [True, False]
    assert answer.negotiated.streams[1].reason == "video stream disabled by the offerer"


def test_5_1_no_media_then_audio_added():
    a = alice(audio(ilbc()), ports=(49170,), offer_all_capabilities=False)
    b = bob(audio(ilbc()), ports=(49172,))
    first, _ = exchange(a, b, "5.1")
    assert first.streams == ()
    a.add_stream("audio")
    second, _ = exchange(a, b, "5.1", "second-")
    assert names(second.streams[0]) == [("iLBC", 97, 97)]


def test_5_2_black_holed_offer_then_real_address():
    a = alice(audio(ilbc()), ports=(23442,), address="0.0.0.0")
    b = bob(audio(ilbc()), ports=(49170,))
    at_alice, at_bob = exchange(a, b, "5.2")
    assert not at_bob.streams[0].sends  # c=0.0.0.0: Bob must not send (RFC 3264 §8.4)
    assert at_alice.streams[0].sends
    a.address = "host.atlanta.example.com"
    a.update_stream(0, transport=TransportAddress("host.atlanta.example.com", 49170))
    _, at_bob = exchange(a, b, "5.2", "second-")
    assert at_bob.streams[0].sends


def test_5_3_black_holed_answer_then_real_address():
    a = alice(audio(ilbc()), ports=(49170,))
    b = bob(audio(ilbc()), ports=(9322,), address="0.0.0.0")
    at_alice, _ = exchange(a, b, "5.3")
    assert not at_alice.streams[0].sends
    b.address = "host.biloxi.example.com"
    b.update_stream(0, transport=TransportAddress("host.biloxi.example.com", 49172))
    offer = b.create_offer()
    assert str(offer) == rfc("5.3", "second-offer")
    answer = a.receive_offer(offer)
    assert str(answer.description) == rfc("5.3", "second-answer")
    assert answer.negotiated.streams[0].sends


@pytest.mark.parametrize("section", ["2.1", "2.2", "2.4", "2.6", "2.8", "3.1"])
def test_rfc_answers_are_accepted_by_our_offerer(section):
    """Whatever Bob we model, the RFC's own answer text must be usable by our Alice."""
    caps = {
        "2.1": (audio(PCMU, PCMA, ilbc()), video(H261, MPV)),
        "2.2": (audio(PCMU, PCMA, ilbc()), video(H261, MPV)),
        "2.4": (audio(PCMU, ilbc()), audio(tone(98), direction=Direction.SENDONLY)),
        "2.6": (audio(PCMU), audio(ilbc(), tone(101))),
        "2.8": (audio(PCMU, PCMA, ilbc()), video(H261, MPV)),
        "3.1": (audio(PCMU, ilbc()),),
    }[section]
    a = alice(*caps, ports=(49170, 51372, 49172)[: len(caps)] if section != "2.4" else
              (49170, 49172))
    assert str(a.create_offer()) == rfc(section, "offer")
    result = a.receive_answer(parse_sdp(rfc(section, "answer")))
    assert isinstance(result, NegotiatedSession)
    answer = parse_sdp(rfc(section, "answer"))
    for stream, media in zip(result.streams, answer.media, strict=True):
        assert stream.accepted == (media.port != 0)
        if stream.accepted:
            assert stream.remote_port == media.port
            assert [c.send_payload_type for c in stream.codecs] == [int(f) for f in
                                                                    media.formats]


def test_version_only_moves_when_the_description_changes():
    a = alice(audio(ilbc()), ports=(49170,))
    b = bob(audio(ilbc()), ports=(49172,))
    first = a.create_offer()
    a.receive_answer(b.receive_offer(first).description)
    again = a.create_offer()  # a session refresh: nothing changed
    assert again.origin.session_version == first.origin.session_version
    assert str(again) == str(first)
    a.receive_answer(b.receive_offer(again).description)
    a.hold()
    held = a.create_offer()
    assert held.origin.session_version == first.origin.session_version + 1
    assert held.media[0].direction is Direction.SENDONLY
    assert dataclasses.replace(held.origin, session_version=0) == dataclasses.replace(
        first.origin, session_version=0)


# --- The engine beyond RFC 4317 ------------------------------------------------------------

from sipperc.sdp import (  # noqa: E402
    AUDIO_LEVEL_URI,
    Answer,
    AnswerRefused,
    Attribute,
    ExtMap,
    OfferAnswerState,
    OfferAnswerStateError,
    OfferRefused,
)
from sipperc.sdp.offer_answer import TRANSITIONS, OfferAnswerInput  # noqa: E402

OPUS = Codec("opus", 48000, 2, "useinbandfec=1")
DTMF8 = Codec("telephone-event", 8000, fmtp="0-16")


def local(*caps, host="192.0.2.1", **kw):
    ports = iter(range(30000, 31000, 2))
    return OfferAnswer(address=host, capabilities=caps,
                       transports=lambda index, kind: TransportAddress(host, next(ports)), **kw)


def voice(*codecs, **kw):
    return MediaCapabilities("audio", codecs or (OPUS, PCMU, DTMF8), **kw)


def test_every_state_and_input_is_in_the_transition_table():
    assert set(TRANSITIONS) == {(s, i) for s in OfferAnswerState for i in OfferAnswerInput}


def test_misuse_raises_a_state_error():
    engine = local(voice())
    with pytest.raises(OfferAnswerStateError):
        engine.offer_failed()
    engine.create_offer()
    with pytest.raises(OfferAnswerStateError):
        engine.hold()
    with pytest.raises(IndexError):
        local(voice()).remove_stream(3)


def test_glare_is_refused_with_491_and_keeps_our_offer():
    a, b = local(voice()), local(voice(), host="192.0.2.2")
    ours = a.create_offer()
    theirs = b.create_offer()
    refused = a.receive_offer(theirs)
    assert refused == OfferRefused(491, "an offer of ours is outstanding (glare, RFC 3261 §14.2)")
    assert a.state is OfferAnswerState.LOCAL_OFFER
    assert a.create_offer() is ours  # asking again gives the same offer


def test_failed_reoffer_restores_the_session():
    a, b = local(voice()), local(voice(), host="192.0.2.2")
    first = a.create_offer()
    a.receive_answer(b.receive_offer(first).description)
    a.hold()
    held = a.create_offer()
    assert held.media[0].direction is Direction.SENDONLY
    a.offer_failed()  # the re-INVITE got 491 or 488
    assert a.state is OfferAnswerState.STABLE
    assert str(a.create_offer()) == str(held)  # the retry repeats the offer, same version
    a.offer_failed()
    a.resume()  # the application gave up holding
    assert str(a.create_offer()) == str(first)


def test_a_reoffer_with_fewer_streams_is_refused():
    a, b = local(voice(), MediaCapabilities("video", (H261,))), local(voice(), host="192.0.2.2")
    b.receive_offer(a.create_offer())
    fewer = parse_sdp(str(a.create_offer()).split("m=video")[0])
    refused = b.receive_offer(fewer)
    assert isinstance(refused, OfferRefused) and "fewer than the 2" in refused.reason


@pytest.mark.parametrize(("change", "reason"), [
    (lambda t: t.split("m=audio")[0], "0 media sections, the offer 1"),
    (lambda t: t.replace("m=audio", "m=video"), "changed from audio to video"),
    (lambda t: t.replace("RTP/AVP", "RTP/SAVP"), "answered RTP/SAVP to RTP/AVP"),
])
def test_answers_that_break_rfc_3264_are_refused(change, reason):
    a, b = local(voice()), local(voice(), host="192.0.2.2")
    answer = str(b.receive_offer(a.create_offer()).description)
    refused = a.receive_answer(parse_sdp(change(answer)))
    assert isinstance(refused, AnswerRefused) and reason in refused.reason
    assert a.state is OfferAnswerState.LOCAL_OFFER


def test_a_repeated_answer_returns_the_same_result_and_a_stray_one_is_refused():
    a, b = local(voice()), local(voice(), host="192.0.2.2")
    answer = b.receive_offer(a.create_offer()).description
    first = a.receive_answer(answer)
    assert a.receive_answer(parse_sdp(str(answer))) is first
    stray = a.receive_answer(parse_sdp(str(answer).replace("30000", "30002")))
    assert stray == AnswerRefused("no offer is outstanding")


def test_rtcp_mux_needs_both_sides():
    a, b = local(voice()), local(voice(rtcp_mux=False), host="192.0.2.2")
    offer = a.create_offer()
    assert offer.media[0].rtcp_mux
    answer = b.receive_offer(offer)
    assert not answer.description.media[0].rtcp_mux
    result = a.receive_answer(answer.description)
    stream = result.streams[0]
    assert not stream.rtcp_mux and stream.remote_rtcp_port == stream.remote_port + 1
    both = local(voice()).receive_offer(local(voice()).create_offer()).negotiated.streams[0]
    assert both.rtcp_mux and both.remote_rtcp_port == both.remote_port


def test_explicit_rtcp_port_is_announced_and_used():
    a = OfferAnswer(address="192.0.2.1", capabilities=[voice(rtcp_mux=False)],
                    transports=lambda i, k: TransportAddress("192.0.2.1", 4000, 4005))
    offer = a.create_offer()
    assert offer.media[0].value("rtcp") == "4005"
    stream = local(voice(), host="192.0.2.2").receive_offer(offer).negotiated.streams[0]
    assert (stream.remote_rtcp_address, stream.remote_rtcp_port) == ("192.0.2.1", 4005)


def test_ptime_is_what_each_side_wants_to_receive():
    a = local(voice(ptime=20, maxptime=60))
    b = local(voice(ptime=40), host="192.0.2.2")
    answer = b.receive_offer(a.create_offer())
    assert answer.negotiated.streams[0].ptime == 20  # Bob sends 20 ms packets to Alice
    assert answer.negotiated.streams[0].maxptime == 60
    assert answer.description.media[0].ptime == 40
    assert a.receive_answer(answer.description).streams[0].ptime == 40


def test_audio_level_extension_is_negotiated_with_the_offered_id():
    level = ExtMap(1, AUDIO_LEVEL_URI, attributes="vad=on")
    other = ExtMap(2, "urn:ietf:params:rtp-hdrext:toffset")
    a = local(voice(extmaps=(level, other)))
    b = local(voice(extmaps=(ExtMap(5, AUDIO_LEVEL_URI, attributes="vad=on"),)),
              host="192.0.2.2")
    offer = a.create_offer()
    assert offer.media[0].values("extmap") == [
        f"1 {AUDIO_LEVEL_URI} vad=on", "2 urn:ietf:params:rtp-hdrext:toffset"]
    answer = b.receive_offer(offer)
    (answered,) = answer.description.media[0].extmaps
    assert (answered.id, answered.uri, answered.vad) == (1, AUDIO_LEVEL_URI, True)
    result = a.receive_answer(answer.description)
    (extension,) = result.streams[0].extensions
    assert (extension.id, extension.direction, extension.remote_attributes) == (
        1, Direction.SENDRECV, "vad=on")
    wrong = str(answer.description).replace(f"extmap:1 {AUDIO_LEVEL_URI}",
                                            f"extmap:3 {AUDIO_LEVEL_URI}")
    a.create_offer()
    refused = a.receive_answer(parse_sdp(wrong))
    assert isinstance(refused, AnswerRefused) and "RFC 8285" in refused.reason


def test_extension_ids_from_the_offer_only_range_are_chosen_by_the_answerer():
    offer = str(local(voice()).create_offer()).replace(
        "a=sendrecv", f"a=sendrecv\r\na=extmap:4096/sendonly {AUDIO_LEVEL_URI} vad=on")
    b = local(voice(extmaps=(ExtMap(1, AUDIO_LEVEL_URI, attributes="vad=off"),)))
    answer = b.receive_offer(parse_sdp(offer))
    (answered,) = answer.description.media[0].extmaps
    assert answered.id == 1 and answered.direction is Direction.RECVONLY
    assert answered.vad is False  # we describe our own use of the V bit


def test_telephone_event_matches_on_clock_rate():
    offer = parse_sdp((Path(__file__).parent / "corpus" / "pjsua2_sdes_offer.sdp").read_text()
                      .replace("RTP/SAVP", "RTP/AVP"))
    answer = local(voice(PCMU, DTMF8)).receive_offer(offer)
    assert [(c.name, c.send_payload_type) for c in answer.negotiated.streams[0].codecs] == [
        ("PCMU", 0), ("telephone-event", 121)]


def test_h264_packetization_modes_must_agree():
    mode1 = Codec("H264", 90000, fmtp="profile-level-id=42e01f;packetization-mode=1")
    mode0 = Codec("H264", 90000, fmtp="profile-level-id=42e01f")
    offer = local(MediaCapabilities("video", (mode1,))).create_offer()
    refused = local(MediaCapabilities("video", (mode0,))).receive_offer(offer)
    assert isinstance(refused, OfferRefused) and refused.warning_code == 305
    higher_level = Codec("H264", 90000, fmtp="profile-level-id=42e028;packetization-mode=1")
    assert isinstance(local(MediaCapabilities("video", (higher_level,))).receive_offer(offer),
                      Answer)


def test_codec_order_is_the_offerers_unless_we_prefer_ours():
    offer = local(voice(PCMU, OPUS, DTMF8)).create_offer()
    theirs = local(voice(OPUS, PCMU, DTMF8)).receive_offer(offer)
    assert [c.name for c in theirs.negotiated.streams[0].codecs] == [
        "PCMU", "opus", "telephone-event"]
    ours = local(voice(OPUS, PCMU, DTMF8), prefer_local_codec_order=True).receive_offer(offer)
    assert [c.name for c in ours.negotiated.streams[0].codecs] == [
        "opus", "PCMU", "telephone-event"]
    assert ours.description.media[0].formats == ("96", "0", "97")


def test_offered_payload_types_static_preferred_and_dynamic():
    offer = local(voice(OPUS, PCMU, Codec("telephone-event", 8000, payload_type=101),
                        Codec("G722", 8000, payload_type=9))).create_offer()
    assert offer.media[0].formats == ("96", "0", "101", "9")
    assert offer.media[0].values("rtpmap") == [
        "96 opus/48000/2", "0 PCMU/8000", "101 telephone-event/8000", "9 G722/8000"]
    assert offer.media[0].fmtps["96"].parameters == "useinbandfec=1"


def test_stream_limits_and_unknown_media_are_rejected_per_stream():
    text = str(local(voice(), voice(), MediaCapabilities("video", (H261,))).create_offer())
    text += "m=application 9 UDP/BFCP *\r\n"
    answer = local(voice()).receive_offer(parse_sdp(text))
    assert [m.port != 0 for m in answer.description.media] == [True, False, False, False]
    reasons = [s.reason for s in answer.negotiated.streams]
    assert reasons[1:] == ["only 1 audio stream(s) accepted", "no video media here",
                           "transport protocol UDP/BFCP is not supported"]
    assert answer.description.media[3].media_line() == "application 0 UDP/BFCP *"


def test_nothing_acceptable_is_refused_with_reasons():
    refused = local(voice(PCMU)).receive_offer(local(voice(OPUS)).create_offer())
    assert refused == OfferRefused(488, "no common audio codec (offered: opus/48000)", 305)


def test_hold_of_a_receive_only_stream_is_inactive_and_mid_ssrc_are_kept():
    a = local(voice(direction=Direction.RECVONLY))
    a.hold()
    offer = a.create_offer()
    assert offer.media[0].direction is Direction.INACTIVE
    text = str(offer).replace("a=inactive", "a=sendrecv\r\na=ssrc:4242 cname:abc\r\na=mid:0")
    answer = local(voice(), host="192.0.2.2").receive_offer(parse_sdp(text))
    assert answer.description.media[0].mid == "0"
    assert answer.negotiated.streams[0].remote_ssrcs == (4242,)


def test_extra_attributes_are_appended():
    caps = voice(extra_attributes=(Attribute("rtcp-fb", "* nack"),))
    offer = local(caps).create_offer()
    assert str(offer.media[0].attributes[-1]) == "rtcp-fb:* nack"


def test_ipv6_addresses():
    engine = OfferAnswer(address="2001:db8::1", capabilities=[voice()],
                         transports=lambda i, k: TransportAddress("2001:db8::1", 5004))
    offer = engine.create_offer()
    assert str(offer.connection) == "IN IP6 2001:db8::1"
    assert offer.origin.addrtype == "IP6"


def test_forks_take_their_own_answers_to_one_offer():
    a = local(voice())
    offer = a.create_offer()
    early = a.fork()
    first = local(voice(), host="192.0.2.2").receive_offer(offer).description
    second = local(voice(PCMU), host="192.0.2.3").receive_offer(offer).description
    at_a = a.receive_answer(first)
    at_early = early.receive_answer(second)
    assert at_a.streams[0].remote_address == "192.0.2.2"
    assert at_early.streams[0].remote_address == "192.0.2.3"
    assert [c.name for c in at_early.streams[0].codecs] == ["PCMU"]
    assert a.negotiated is at_a and early.negotiated is at_early
