"""The Media Distributor's hop-by-hop session, and three-party tests: sender, distributor(s),
receivers with their own outer keys (RFC 8723 §5.2, §5.3)."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.rtp import ExtensionElement, HeaderExtension, RtpPacket, parse_rtp
from sipperc.srtp import (
    AuthenticationError,
    HopByHopSession,
    OriginalHeaderBlock,
    Profile,
    RelayedPacket,
    ReplayError,
    SrtpError,
    SrtpSession,
)
from tests.rtp.strategies import rtp_packets
from tests.srtp.perc_keys import (
    DOUBLE,
    DOUBLE_256,
    INNER_KEY,
    INNER_SALT,
    MD_TO_RECIPIENT,
    OUTER_KEY,
    OUTER_SALT,
    RECIPIENT_KEY,
    RECIPIENT_SALT,
    RTP,
    SENDER_TO_MD,
)

SSRC = 0x5501A0B2


class Conference:
    """Sender A; a distributor holding A's outer key and B's and C's; receivers B and C."""

    def __init__(self, profile=DOUBLE, ekt=False):
        half_key, half_salt = profile.master_key_length // 2, profile.master_salt_length // 2
        self.inner_key, self.inner_salt = os.urandom(half_key), os.urandom(half_salt)
        a_outer = os.urandom(half_key), os.urandom(half_salt)
        self.sender = SrtpSession(profile, master_key=self.inner_key + a_outer[0],
                                  master_salt=self.inner_salt + a_outer[1])
        self.from_a = HopByHopSession(profile, master_key=a_outer[0], master_salt=a_outer[1],
                                      ekt=ekt)
        self.to, self.receivers = {}, {}
        for name in "BC":
            outer = os.urandom(half_key), os.urandom(half_salt)
            self.to[name] = HopByHopSession(profile, master_key=outer[0], master_salt=outer[1],
                                            ekt=ekt)
            # The receiver's own inner half is never used for A: A's key is set per SSRC.
            receiver = SrtpSession(profile, master_key=os.urandom(half_key) + outer[0],
                                   master_salt=os.urandom(half_salt) + outer[1])
            receiver.set_receiver_key(SSRC, self.inner_key, self.inner_salt)
            receiver.drop_previous_keys(SSRC)
            self.receivers[name] = receiver


def rtp(seq, payload=None, **fields):
    return bytes(RtpPacket(fields.pop("marker", False), fields.pop("payload_type", 0), seq,
                           seq * 160, SSRC, payload=payload or seq.to_bytes(2) * 40, **fields))


def test_perc_md_section_7_distributor_vector():
    from_sender = HopByHopSession(DOUBLE, master_key=OUTER_KEY, master_salt=OUTER_SALT, ekt=False)
    to_recipient = HopByHopSession(DOUBLE, master_key=RECIPIENT_KEY, master_salt=RECIPIENT_SALT,
                                   ekt=False)
    relayed = from_sender.receive(SENDER_TO_MD)
    assert relayed.original == OriginalHeaderBlock()
    forwarded = to_recipient.send(relayed, payload_type=96, sequence_number=1)
    assert forwarded == MD_TO_RECIPIENT
    recipient = SrtpSession(DOUBLE, master_key=INNER_KEY + RECIPIENT_KEY,
                            master_salt=INNER_SALT + RECIPIENT_SALT)
    # RFC 8723 §5.3: the outer PT and SEQ are what the application uses; the rest is original.
    assert recipient.unprotect(forwarded) == bytes.fromhex("80600001") + RTP[4:]
    assert HopByHopSession(DOUBLE, master_key=RECIPIENT_KEY, master_salt=RECIPIENT_SALT,
                           ekt=False).receive(forwarded).original == OriginalHeaderBlock(
        0x40, 0xF17B)


def test_two_receivers_each_get_their_own_copy():
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(10)))
    to_b = conference.to["B"].send(relayed, sequence_number=500)
    to_c = conference.to["C"].send(relayed, sequence_number=9, payload_type=96, marker=True)
    assert to_b[16:] != to_c[16:]
    assert parse_rtp(conference.receivers["B"].unprotect(to_b)).sequence_number == 500
    got = parse_rtp(conference.receivers["C"].unprotect(to_c))
    assert (got.sequence_number, got.payload_type, got.marker) == (9, 96, False)  # original M
    assert got.payload == rtp(10)[12:]
    with pytest.raises(AuthenticationError):  # B's copy under B's key means nothing to C
        conference.receivers["C"].unprotect(to_b)


def test_dropping_and_switching_across_the_wrap():
    conference = Conference()
    out_seq = 65530
    forwarded = []
    for seq in [*range(65500, 65536), *range(0, 60)]:
        relayed = conference.from_a.receive(conference.sender.protect(rtp(seq)))
        if (seq // 7) % 3 == 0:  # switched away: this run is not forwarded to B
            continue
        forwarded.append((seq, conference.to["B"].send(relayed, sequence_number=out_seq,
                                                       marker=seq % 7 == 0)))
        out_seq = (out_seq + 1) & 0xFFFF
    for seq, packet in forwarded:
        assert parse_rtp(conference.receivers["B"].unprotect(packet)).payload == rtp(seq)[12:]


def test_long_pause_then_roll_over_is_survived():
    conference = Conference()
    receiver = conference.receivers["B"]
    out_seq = 100
    for seq in range(30000, 30010):
        packet = conference.to["B"].send(conference.from_a.receive(
            conference.sender.protect(rtp(seq))), sequence_number=out_seq)
        out_seq += 1
        receiver.unprotect(packet)
    # 40536 packets later the sender is in the next roll-over; none reached B meanwhile.
    conference.sender.set_roc(SSRC, 1, seq=4999, outbound=True)
    conference.from_a.set_roc(SSRC, 1, seq=4999)
    for seq in range(5000, 5005):
        packet = conference.to["B"].send(conference.from_a.receive(
            conference.sender.protect(rtp(seq))), sequence_number=out_seq)
        out_seq += 1
        assert parse_rtp(receiver.unprotect(packet)).payload == rtp(seq)[12:]


def test_a_packet_forwarded_twice_is_an_inner_replay():
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(1)))
    receiver = conference.receivers["B"]
    receiver.unprotect(conference.to["B"].send(relayed, sequence_number=1))
    with pytest.raises(ReplayError):
        receiver.unprotect(conference.to["B"].send(relayed, sequence_number=2))


def test_chain_of_distributors_keeps_the_first_record():
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(7, payload_type=0)))
    middle = HopByHopSession(DOUBLE, master_key=os.urandom(16), master_salt=os.urandom(12),
                             ekt=False)
    hop = middle.receive(middle.send(relayed, sequence_number=1000, payload_type=8))
    assert hop.original == OriginalHeaderBlock(0, 7)
    again = middle.receive(middle.send(hop, sequence_number=2000, payload_type=0, marker=True))
    assert again.original == OriginalHeaderBlock(None, 7, False)  # PT back to original: dropped
    assert again.original_sequence_number == 7
    final = conference.to["B"].send(again, sequence_number=3000)
    got = parse_rtp(conference.receivers["B"].unprotect(final))
    assert (got.sequence_number, got.payload_type, got.marker) == (3000, 0, False)


def test_header_extension_can_change_but_x_cannot():
    conference = Conference()
    ext = HeaderExtension.from_elements([ExtensionElement(1, b"\x30")])
    wire = conference.sender.protect(rtp(3, extension=ext))
    relayed = conference.from_a.receive(wire)
    assert relayed.extension == ext
    assert relayed.header == wire[:20]  # what the wire shows, extension included
    new_ext = HeaderExtension.from_elements([ExtensionElement(2, b"\x01\x02\x03\x04\x05")])
    got = parse_rtp(conference.receivers["B"].unprotect(
        conference.to["B"].send(relayed, extension=new_ext)))
    assert got.extension == new_ext and got.payload == rtp(3)[12:]
    plain = conference.from_a.receive(conference.sender.protect(rtp(4)))
    with pytest.raises(ValueError, match="change X"):
        conference.to["B"].send(plain, extension=new_ext)


def test_the_api_offers_no_way_to_change_anything_else():
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(5, csrcs=(1, 2))))
    assert (relayed.ssrc, relayed.timestamp, relayed.csrcs) == (SSRC, 800, (1, 2))
    for name in ("ssrc", "timestamp", "csrcs", "payload_type", "sequence_number", "marker",
                 "extension", "header", "payload"):
        with pytest.raises(AttributeError):
            setattr(relayed, name, 0)
    for name in ("timestamp", "ssrc", "csrcs", "padding", "payload"):
        with pytest.raises(TypeError):
            conference.to["B"].send(relayed, **{name: 1})
    assert not hasattr(relayed, "__dict__")


def test_a_distributor_without_inner_keys_recovers_no_payload_byte():
    conference = Conference()
    secret = b"the quick brown fox jumps over the lazy dog" * 3
    relayed = conference.from_a.receive(conference.sender.protect(rtp(6, payload=secret)))
    e2e = relayed._e2e
    assert all(secret[i:i + 4] not in e2e for i in range(len(secret) - 3))
    assert relayed.size == len(secret) + 16
    assert secret[:8] not in repr(relayed).encode()
    # Its outer key does not open the inner layer either.
    outer_as_inner = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=bytes(16),
                                 master_salt=bytes(12))
    with pytest.raises(AuthenticationError):
        outer_as_inner.unprotect(rtp(6)[:12] + e2e)


def forge(header: bytes, plaintext: bytes, original: tuple[int, int, bool]) -> RelayedPacket:
    """A RelayedPacket no receive made: what a distributor lying past the API would send."""
    packet = object.__new__(RelayedPacket)
    packet._header, packet._ssrc, packet._seq = header, header[8:12], header[2] << 8 | header[3]
    packet._plaintext, packet._original, packet.ekt_field = plaintext, original, b""
    return packet


@pytest.mark.parametrize("tamper", ["timestamp", "ssrc", "csrc", "padding_bit", "e2e", "inner_tag",
                                    "ohb_seq", "ohb_pt", "ohb_marker"])
def test_a_lying_distributor_is_caught_by_the_inner_check(tamper):
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(8, csrcs=(3,))))
    header = bytearray(relayed._header)
    e2e = bytearray(relayed._e2e)
    original = (relayed.payload_type, relayed.sequence_number, relayed.marker)
    if tamper == "timestamp":
        header[7] ^= 1
    elif tamper == "ssrc":
        header[11] ^= 1
    elif tamper == "csrc":
        header[15] ^= 1
    elif tamper == "padding_bit":
        header[0] ^= 0x20
    elif tamper == "e2e":
        e2e[0] ^= 1
    elif tamper == "inner_tag":
        e2e[-1] ^= 1
    elif tamper == "ohb_seq":
        original = (original[0], original[1] + 1, original[2])
    elif tamper == "ohb_pt":
        original = (5, original[1], original[2])
    else:
        original = (original[0], original[1], True)
    # The forged packet's OHB (one byte here) is replaced by one recording ``original``.
    forged = forge(bytes(header), bytes(e2e) + b"\x00", original)
    receiver = conference.receivers["B"]
    if tamper == "ssrc":
        receiver.set_receiver_key(SSRC ^ 1, conference.inner_key, conference.inner_salt)
    with pytest.raises(AuthenticationError, match="inner"):
        receiver.unprotect(conference.to["B"].send(forged, sequence_number=50))
    assert parse_rtp(receiver.unprotect(conference.to["B"].send(relayed))).payload == rtp(8)[12:]


def test_any_bit_flipped_on_the_wire_is_rejected():
    conference = Conference()
    relayed = conference.from_a.receive(conference.sender.protect(rtp(9)))
    wire = conference.to["B"].send(relayed, sequence_number=77, payload_type=8)
    receiver = conference.receivers["B"]
    for position in range(len(wire)):
        tampered = bytearray(wire)
        tampered[position] ^= 0x04
        with pytest.raises(SrtpError):
            receiver.unprotect(bytes(tampered))
    assert receiver.unprotect(wire)
    sender_wire = conference.sender.protect(rtp(10))
    for position in range(len(sender_wire)):
        tampered = bytearray(sender_wire)
        tampered[position] ^= 0x80
        with pytest.raises(SrtpError):
            conference.from_a.receive(bytes(tampered))


def test_ekt_field_is_passed_on_or_replaced_by_a_short_one():
    conference = Conference(ekt=True)
    full = bytes(40) + bytes.fromhex("1234" "0000" "002f" "02")
    relayed = conference.from_a.receive(conference.sender.protect(rtp(11)) + full)
    assert relayed.ekt_field == full
    kept = conference.to["B"].send(relayed)
    assert kept.endswith(full)
    stripped = conference.to["C"].send(relayed, keep_ekt_field=False)
    assert stripped[-1] == 0 and len(stripped) == len(kept) - len(full) + 1
    with pytest.raises(SrtpError):
        conference.from_a.receive(conference.sender.protect(rtp(12)) + b"\x05")


def test_rtcp_is_plain_srtcp_with_the_outer_key():
    conference = Conference()
    rtcp = bytes.fromhex("80c90001") + SSRC.to_bytes(4)
    relayed_rtcp = conference.from_a.unprotect_rtcp(conference.sender.protect_rtcp(rtcp))
    assert relayed_rtcp == rtcp
    assert conference.receivers["B"].unprotect_rtcp(conference.to["B"].protect_rtcp(rtcp)) == rtcp


def test_only_double_profiles_and_half_keys():
    with pytest.raises(ValueError, match="not a double profile"):
        HopByHopSession(Profile.AEAD_AES_128_GCM, master_key=bytes(16), master_salt=bytes(12))
    with pytest.raises(ValueError, match="16-byte master key"):
        HopByHopSession(DOUBLE, master_key=bytes(32), master_salt=bytes(12))
    session = HopByHopSession(DOUBLE_256, master_key=bytes(32), master_salt=bytes(12))
    assert session.profile is Profile.AEAD_AES_256_GCM and "<32 bytes>" in repr(session)


@settings(max_examples=40, deadline=None)
@given(rtp_packets, st.sampled_from([DOUBLE, DOUBLE_256]), st.integers(0, 0xFFFF),
       st.lists(st.tuples(st.none() | st.integers(0, 127), st.none() | st.booleans()),
                min_size=1, max_size=3), st.data())
def test_hypothesis_headers_rewrites_and_chains(packet, profile, offset, hops, data):
    conference = Conference(profile)
    original = RtpPacket(packet.marker, packet.payload_type, packet.sequence_number,
                         packet.timestamp, SSRC, packet.csrcs, packet.extension, packet.payload,
                         packet.padding)
    relayed = conference.from_a.receive(conference.sender.protect(bytes(original)))
    seq = original.sequence_number
    for payload_type, marker in hops:  # a chain of distributors, each with its own keys
        middle = HopByHopSession(profile, master_key=os.urandom(profile.master_key_length // 2),
                                 master_salt=os.urandom(12), ekt=False)
        seq = (seq + offset) & 0xFFFF
        relayed = middle.receive(middle.send(relayed, sequence_number=seq,
                                             payload_type=payload_type, marker=marker))
        assert relayed.original_sequence_number == original.sequence_number
    final_seq = data.draw(st.integers(0, 0xFFFF))
    got = parse_rtp(conference.receivers["B"].unprotect(
        conference.to["B"].send(relayed, sequence_number=final_seq)))
    assert got.sequence_number == final_seq
    assert got.payload_type == relayed.payload_type
    assert (got.marker, got.timestamp, got.csrcs) == (original.marker, original.timestamp,
                                                      original.csrcs)
    assert (got.payload, got.padding, got.extension) == (original.payload, original.padding,
                                                         original.extension)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.binary(min_size=0, max_size=120), st.booleans())
def test_slow_fuzz_distributor_and_receiver_raise_srtp_error_only(garbage, ekt):
    conference = Conference(ekt=ekt)
    with pytest.raises(SrtpError):
        conference.from_a.receive(garbage)
    with pytest.raises(SrtpError):
        conference.receivers["B"].unprotect(garbage)


def test_a_restarted_hop_finds_the_roc_of_a_stream_it_joins_late():
    conference = Conference()
    conference.sender.set_roc(SSRC, 2, seq=40000, outbound=True)  # wrapped twice already
    packets = [conference.sender.protect(rtp(seq)) for seq in (40001, 40002)]
    fresh = conference.from_a
    with pytest.raises(AuthenticationError):
        HopByHopSession(DOUBLE, master_key=os.urandom(16), master_salt=os.urandom(12),
                        ekt=False).receive_at_unknown_roc(packets[0], range(4))
    with pytest.raises(AuthenticationError, match="any ROC tried"):
        fresh.receive_at_unknown_roc(packets[0], range(2))  # ROC 0 and 1 only: not found
    relayed = fresh.receive_at_unknown_roc(packets[0], range(4))
    assert relayed.sequence_number == 40001
    # The stream is kept at ROC 2: the next packet goes through the ordinary path.
    assert fresh.receive(packets[1]).sequence_number == 40002
    with pytest.raises(ReplayError):
        fresh.receive(packets[1])
