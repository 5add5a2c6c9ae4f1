import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.rtp import RtpPacket
from sipperc.srtp import (
    AuthenticationError,
    MalformedPacketError,
    Profile,
    ReplayError,
    SrtpError,
    SrtpSession,
)
from tests.rtp.strategies import rtp_packets

SINGLE = [Profile.AES_CM_128_HMAC_SHA1_80, Profile.AES_CM_128_HMAC_SHA1_32,
          Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM]
RTCP = bytes.fromhex("80c8000600000001" "0000000000000000" "00000000" "00000000" "00000000")


def pair(profile, **options):
    key = os.urandom(profile.master_key_length)
    salt = os.urandom(profile.master_salt_length)
    return (SrtpSession(profile, master_key=key, master_salt=salt, **options),
            SrtpSession(profile, master_key=key, master_salt=salt, **options))


def rtp(seq, ssrc=0x11223344, payload=b"\x01" * 160):
    return bytes(RtpPacket(False, 0, seq, seq * 160, ssrc, payload=payload))


@pytest.mark.parametrize("profile", SINGLE)
def test_round_trip_across_the_sequence_wrap(profile):
    sender, receiver = pair(profile)
    seqs = [*range(65530, 65536), *range(0, 6)]
    for seq in seqs:
        assert receiver.unprotect(sender.protect(rtp(seq))) == rtp(seq)
    assert sender.roc(0x11223344) == 1
    assert receiver.roc(0x11223344, outbound=False) == 1


@pytest.mark.parametrize("profile", SINGLE)
def test_reordering_around_the_wrap_and_replay(profile):
    sender, receiver = pair(profile)
    protected = {seq: sender.protect(rtp(seq)) for seq in (65534, 65535, 0, 1, 2)}
    for seq in (65534, 1, 0, 65535, 2):
        assert receiver.unprotect(protected[seq]) == rtp(seq)
    for srtp in protected.values():
        with pytest.raises(ReplayError, match="already received"):
            receiver.unprotect(srtp)


@pytest.mark.parametrize("profile", SINGLE)
def test_packets_older_than_the_window_are_refused(profile):
    sender, receiver = pair(profile, replay_window=64)
    first = sender.protect(rtp(1))
    for seq in range(2, 70):
        receiver.unprotect(sender.protect(rtp(seq)))
    with pytest.raises(ReplayError, match="outside the 64-packet replay window"):
        receiver.unprotect(first)


@pytest.mark.parametrize("profile", SINGLE)
def test_sender_refuses_to_protect_an_index_twice(profile):
    sender, _ = pair(profile)
    sender.protect(rtp(7))
    with pytest.raises(ReplayError):
        sender.protect(rtp(7))


@pytest.mark.parametrize("profile", SINGLE)
def test_many_ssrcs_in_one_session(profile):
    sender, receiver = pair(profile)
    for ssrc in range(1, 40):
        for seq in (ssrc, ssrc + 1):
            assert receiver.unprotect(sender.protect(rtp(seq, ssrc))) == rtp(seq, ssrc)


@pytest.mark.parametrize("profile", SINGLE)
def test_forged_first_packet_does_not_create_a_stream(profile):
    sender, receiver = pair(profile)
    srtp = bytearray(sender.protect(rtp(100)))
    srtp[-1] ^= 1
    with pytest.raises(AuthenticationError):
        receiver.unprotect(bytes(srtp))
    assert receiver.roc(0x11223344, outbound=False) is None
    srtp[-1] ^= 1
    assert receiver.unprotect(bytes(srtp)) == rtp(100)


@pytest.mark.parametrize("profile", SINGLE)
def test_set_roc_lets_a_late_joiner_decrypt(profile):
    sender, receiver = pair(profile)
    sender.set_roc(0x11223344, 7, seq=65000, outbound=True)
    srtp = sender.protect(rtp(65001))
    with pytest.raises(AuthenticationError):  # ROC 0 assumed
        receiver.unprotect(srtp)
    receiver.set_roc(0x11223344, 7, seq=65001)
    assert receiver.unprotect(srtp) == rtp(65001)
    assert receiver.unprotect(sender.protect(rtp(3))) == rtp(3)  # the next roll-over
    assert receiver.roc(0x11223344, outbound=False) == 8


@pytest.mark.parametrize("profile", SINGLE)
def test_mki_is_carried_and_checked(profile):
    sender, receiver = pair(profile, mki=b"\x00\x2a")
    srtp = sender.protect(rtp(1))
    tag = profile.parameters.srtp_auth_tag_length
    mki_at = len(srtp) - 2 - (0 if profile.is_aead else tag)
    assert srtp[mki_at:mki_at + 2] == b"\x00\x2a"
    assert receiver.unprotect(srtp) == rtp(1)
    assert receiver.unprotect_rtcp(sender.protect_rtcp(RTCP)) == RTCP
    forged = srtp[:mki_at] + b"\x00\x2b" + srtp[mki_at + 2:]
    with pytest.raises(AuthenticationError, match="unknown MKI"):
        receiver.unprotect(forged)


@pytest.mark.parametrize("profile", SINGLE)
def test_rtcp_is_encrypted_and_replays_are_refused(profile):
    sender, receiver = pair(profile)
    srtcp = sender.protect_rtcp(RTCP)
    assert srtcp[8:len(RTCP)] != RTCP[8:]
    assert receiver.unprotect_rtcp(srtcp) == RTCP
    with pytest.raises(ReplayError):
        receiver.unprotect_rtcp(srtcp)


@pytest.mark.parametrize("profile", SINGLE)
def test_unencrypted_srtcp_keeps_the_packet_readable(profile):
    key = os.urandom(profile.master_key_length)
    salt = os.urandom(profile.master_salt_length)
    sender = SrtpSession(profile, master_key=key, master_salt=salt, encrypt_rtcp=False)
    receiver = SrtpSession(profile, master_key=key, master_salt=salt)
    srtcp = sender.protect_rtcp(RTCP)
    assert srtcp.startswith(RTCP)
    assert srtcp[len(RTCP) + (16 if profile.is_aead else 0):][:4] == bytes(4)  # E=0, index 0
    assert receiver.unprotect_rtcp(srtcp) == RTCP


@pytest.mark.parametrize("profile", SINGLE)
def test_every_single_bit_flip_is_rejected(profile):
    sender, receiver = pair(profile)
    packet = bytes(RtpPacket(True, 96, 5, 6, 7, csrcs=(1, 2), payload=b"abc", padding=3))
    srtp = sender.protect(packet)
    srtcp = sender.protect_rtcp(RTCP)
    for position in range(len(srtp)):
        for bit in (0x01, 0x80):
            tampered = bytearray(srtp)
            tampered[position] ^= bit
            with pytest.raises(SrtpError):
                receiver.unprotect(bytes(tampered))
    for position in range(len(srtcp)):
        tampered = bytearray(srtcp)
        tampered[position] ^= 0x01
        with pytest.raises(SrtpError):
            receiver.unprotect_rtcp(bytes(tampered))
    assert receiver.unprotect(srtp) == packet
    assert receiver.unprotect_rtcp(srtcp) == RTCP


def test_session_checks_its_parameters_and_hides_its_key():
    key = bytes(range(16))
    with pytest.raises(ValueError, match="16-byte master key, got <15 bytes>"):
        SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key[:15], master_salt=bytes(12))
    with pytest.raises(ValueError, match="12-byte master salt"):
        SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key, master_salt=bytes(14))
    with pytest.raises(ValueError, match="at least 64"):
        SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key, master_salt=bytes(12),
                    replay_window=32)
    with pytest.raises(ValueError, match="1 to 255"):
        SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key, master_salt=bytes(12), mki=b"")
    session = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key, master_salt=bytes(12))
    assert "<16 bytes>" in repr(session)
    assert key.hex() not in repr(session) and str(list(key)) not in repr(session)
    assert isinstance(session, SrtpSession)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "shorter than the 12-byte"),
    (bytes.fromhex("40000001000000000000000a") + bytes(20), "version 1"),
    (bytes.fromhex("9000000100000000000000000000"), "extension header runs past"),
    (bytes.fromhex("8000000100000000000000000000"), "too short for its header and tag"),
])
@pytest.mark.parametrize("profile", SINGLE)
def test_malformed_packets_name_the_problem(profile, data, message):
    _, receiver = pair(profile)
    with pytest.raises(MalformedPacketError, match=message):
        receiver.unprotect(data)


@pytest.mark.parametrize("profile", SINGLE)
def test_short_rtcp_is_malformed(profile):
    sender, receiver = pair(profile)
    with pytest.raises(MalformedPacketError, match="shorter than the 8-byte"):
        sender.protect_rtcp(b"\x80\xc9\x00\x00")
    with pytest.raises(MalformedPacketError, match="too short"):
        receiver.unprotect_rtcp(b"\x80\xc9\x00\x00")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SINGLE), rtp_packets, st.binary(max_size=120))
def test_hypothesis_round_trip_rtp_and_rtcp(profile, packet, rtcp_body):
    sender, receiver = pair(profile)
    wire = bytes(packet)
    assert receiver.unprotect(sender.protect(wire)) == wire
    rtcp = bytes.fromhex("80c80000") + packet.ssrc.to_bytes(4) + rtcp_body
    assert receiver.unprotect_rtcp(sender.protect_rtcp(rtcp)) == rtcp


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SINGLE), rtp_packets, st.data())
def test_hypothesis_truncated_or_garbled_input_raises_srtp_error_only(profile, packet, data):
    sender, receiver = pair(profile)
    srtp = sender.protect(bytes(packet))
    cut = data.draw(st.integers(0, len(srtp) - 1))
    with pytest.raises(SrtpError):
        receiver.unprotect(srtp[:cut])
    garbage = data.draw(st.binary(max_size=200))
    with pytest.raises(SrtpError):
        receiver.unprotect(garbage)
    with pytest.raises(SrtpError):
        receiver.unprotect_rtcp(garbage)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(SINGLE), rtp_packets, st.data())
def test_slow_fuzz_bit_flips_and_truncation(profile, packet, data):
    sender, receiver = pair(profile)
    srtp = bytearray(sender.protect(bytes(packet)))
    srtp[data.draw(st.integers(0, len(srtp) - 1))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SrtpError):
        receiver.unprotect(bytes(srtp[:data.draw(st.integers(0, len(srtp)))]))


@pytest.mark.parametrize("profile", SINGLE)
def test_sender_key_from_ekt_changes_rtp_keys_and_keeps_the_index(profile):
    sender, receiver = pair(profile)
    assert receiver.unprotect(sender.protect(rtp(65535))) == rtp(65535)
    key, salt = os.urandom(profile.master_key_length), os.urandom(profile.master_salt_length)
    sender.set_sender_key(key, salt + b"ignored: RFC 8870 takes the first bytes")
    srtp = sender.protect(rtp(0))  # the next index: a roll-over, ROC 1
    assert sender.roc(0x11223344) == 1
    with pytest.raises(AuthenticationError):
        receiver.unprotect(srtp)  # the negotiated key no longer opens it
    learned = SrtpSession(profile, master_key=key, master_salt=salt)
    learned.set_roc(0x11223344, 1)
    assert learned.unprotect(srtp) == rtp(0)
    # SRTCP keeps the negotiated keys (EKT travels over SRTP only).
    assert receiver.unprotect_rtcp(sender.protect_rtcp(RTCP)) == RTCP


@pytest.mark.parametrize("profile", SINGLE)
def test_receiver_keys_per_ssrc_with_previous_keys_for_late_packets(profile):
    _, receiver = pair(profile)
    old = os.urandom(profile.master_key_length), os.urandom(profile.master_salt_length)
    new = os.urandom(profile.master_key_length), os.urandom(profile.master_salt_length)
    old_sender = SrtpSession(profile, master_key=old[0], master_salt=old[1])
    new_sender = SrtpSession(profile, master_key=new[0], master_salt=new[1])
    new_sender.set_roc(7, 3, seq=100, outbound=True)
    old_sender.set_roc(7, 3, seq=90, outbound=True)
    late = old_sender.protect(rtp(91, ssrc=7))
    receiver.set_receiver_key(7, *old, roc=3, seq=91)
    receiver.set_receiver_key(7, *new, roc=3, seq=101)
    assert receiver.has_receiver_key(7) and not receiver.has_receiver_key(8)
    assert receiver.unprotect(new_sender.protect(rtp(101, ssrc=7))) == rtp(101, ssrc=7)
    assert receiver.roc(7, outbound=False) == 3
    assert receiver.unprotect(late) == rtp(91, ssrc=7)  # the previous key, for late packets
    with pytest.raises(ReplayError):
        receiver.unprotect(late)
    receiver.drop_previous_keys(7)
    with pytest.raises(AuthenticationError):
        receiver.unprotect(old_sender.protect(rtp(92, ssrc=7)))
    # Other SSRCs still use the negotiated key; a key is checked like the session's own.
    with pytest.raises(ValueError, match=f"{profile.master_key_length} bytes"):
        receiver.set_receiver_key(8, bytes(5), old[1], roc=0, seq=0)
    with pytest.raises(ValueError, match=f"at least {profile.master_salt_length} bytes"):
        receiver.set_sender_key(old[0], bytes(4))
