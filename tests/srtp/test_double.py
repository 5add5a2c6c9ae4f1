import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.rtp import ExtensionElement, HeaderExtension, RtpPacket, parse_rtp
from sipperc.srtp import (
    AuthenticationError,
    DoubleSrtpSession,
    EndToEndAuthenticationError,
    Profile,
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
    OUTER_KEY,
    OUTER_SALT,
    RTP,
    SENDER_TO_MD,
)


def endpoints(profile=DOUBLE):
    key = os.urandom(profile.master_key_length)
    salt = os.urandom(profile.master_salt_length)
    return (SrtpSession(profile, master_key=key, master_salt=salt),
            SrtpSession(profile, master_key=key, master_salt=salt), key, salt)


def test_perc_md_section_7_sender_vector():
    sender = SrtpSession(DOUBLE, master_key=INNER_KEY + OUTER_KEY,
                         master_salt=INNER_SALT + OUTER_SALT)
    assert isinstance(sender, DoubleSrtpSession)
    assert sender.protect(RTP) == SENDER_TO_MD
    assert len(SENDER_TO_MD) == 12 + 38 + 16 + 1 + 16
    receiver = SrtpSession(DOUBLE, master_key=INNER_KEY + OUTER_KEY,
                           master_salt=INNER_SALT + OUTER_SALT)
    assert receiver.unprotect(SENDER_TO_MD) == RTP


def test_outer_layer_is_plain_aead_srtp_over_inner_ciphertext_and_empty_ohb():
    sender = SrtpSession(DOUBLE, master_key=INNER_KEY + OUTER_KEY,
                         master_salt=INNER_SALT + OUTER_SALT)
    outer = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=OUTER_KEY, master_salt=OUTER_SALT)
    inner = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=INNER_KEY, master_salt=INNER_SALT)
    outer_plain = outer.unprotect(sender.protect(RTP))
    assert outer_plain[-1] == 0  # the empty OHB
    assert inner.unprotect(outer_plain[:-1]) == RTP  # the synthetic packet (no extension here)


@pytest.mark.parametrize("profile", [DOUBLE, DOUBLE_256])
def test_header_extension_csrcs_and_padding_round_trip(profile):
    sender, receiver, _, _ = endpoints(profile)
    ext = HeaderExtension.from_elements([ExtensionElement(1, b"\x9e"), ExtensionElement(5, b"hi")])
    rtp = bytes(RtpPacket(True, 111, 65535, 9, 0xABCDEF01, csrcs=(1, 2), extension=ext,
                          payload=b"opus frame", padding=6))
    srtp = sender.protect(rtp)
    assert len(srtp) == len(rtp) + 16 + 1 + 16
    assert srtp[:parse_rtp(rtp).header_length] == rtp[:parse_rtp(rtp).header_length]
    assert receiver.unprotect(srtp) == rtp


def test_synthetic_packet_drops_the_extension_from_the_inner_aad():
    key, salt = INNER_KEY + OUTER_KEY, INNER_SALT + OUTER_SALT
    sender = SrtpSession(DOUBLE, master_key=key, master_salt=salt)
    ext = HeaderExtension.from_elements([ExtensionElement(1, b"\x10")])
    with_ext = bytes(RtpPacket(False, 0, 1, 2, 3, extension=ext, payload=b"x" * 20))
    outer = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=OUTER_KEY, master_salt=OUTER_SALT)
    inner = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=INNER_KEY, master_salt=INNER_SALT)
    outer_plain = outer.unprotect(sender.protect(with_ext))
    synthetic = bytes(RtpPacket(False, 0, 1, 2, 3)) + outer_plain[parse_rtp(with_ext)
                                                                  .header_length:-1]
    assert inner.unprotect(synthetic) == bytes(RtpPacket(False, 0, 1, 2, 3, payload=b"x" * 20))


def test_repair_packets_have_the_outer_layer_only():
    sender, receiver, key, salt = endpoints()
    rtx = bytes(RtpPacket(False, 97, 1, 0, 42, payload=b"\x00\x07" + b"cached double srtp"))
    srtp = sender.protect(rtx, repair=True)
    assert len(srtp) == len(rtx) + 16
    assert receiver.unprotect(srtp, repair=True) == rtx
    outer = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key[16:], master_salt=salt[12:])
    assert outer.unprotect(srtp) == rtx


def test_replay_of_the_outer_packet_is_refused():
    sender, receiver, _, _ = endpoints()
    srtp = sender.protect(RTP)
    receiver.unprotect(srtp)
    with pytest.raises(ReplayError):
        receiver.unprotect(srtp)


@pytest.mark.parametrize("ohb", [b"\x10", b"\x08", b"\x03", b"\x80", b"\x01\x07"])
def test_malformed_ohb_is_an_authentication_failure(ohb):
    key, salt = INNER_KEY + OUTER_KEY, INNER_SALT + OUTER_SALT
    outer_plain = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=OUTER_KEY,
                              master_salt=OUTER_SALT).unprotect(
        SrtpSession(DOUBLE, master_key=key, master_salt=salt).protect(RTP))
    forged = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=OUTER_KEY,
                         master_salt=OUTER_SALT).protect(outer_plain[:-1] + ohb)
    receiver = SrtpSession(DOUBLE, master_key=key, master_salt=salt)
    with pytest.raises(AuthenticationError):
        receiver.unprotect(forged)
    assert receiver.unprotect(SrtpSession(DOUBLE, master_key=key, master_salt=salt)
                              .protect(RTP)) == RTP  # nothing of the forgery was recorded


def test_too_short_for_inner_tag_is_an_authentication_failure():
    forged = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=OUTER_KEY,
                         master_salt=OUTER_SALT).protect(RTP[:12] + bytes(10) + b"\x00")
    receiver = SrtpSession(DOUBLE, master_key=INNER_KEY + OUTER_KEY,
                           master_salt=INNER_SALT + OUTER_SALT)
    with pytest.raises(AuthenticationError, match="too short for the inner tag"):
        receiver.unprotect(forged)


def test_inner_keys_per_ssrc_with_previous_keys_for_late_packets():
    sender, receiver, _, salt = endpoints()
    late = sender.protect(bytes(RtpPacket(False, 0, 1, 0, 77, payload=b"old key")))
    new_key = os.urandom(16)
    sender.set_sender_key(new_key, b"S" * 12)
    receiver.set_receiver_key(77, new_key, b"S" * 12 + b"ignored: RFC 8870 truncates")
    assert receiver.has_receiver_key(77)
    fresh = sender.protect(bytes(RtpPacket(False, 0, 2, 0, 77, payload=b"new key")))
    assert receiver.unprotect(fresh).endswith(b"new key")
    assert receiver.unprotect(late).endswith(b"old key")  # the session's own inner half
    receiver.drop_previous_keys(77)
    sender.set_sender_key(salt[:16], b"S" * 12)  # a key the receiver never learned
    with pytest.raises(EndToEndAuthenticationError, match="inner SRTP tag"):
        receiver.unprotect(sender.protect(bytes(RtpPacket(False, 0, 3, 0, 77, payload=b"?"))))


def test_inner_key_checks():
    sender, _, _, _ = endpoints()
    with pytest.raises(ValueError, match="16 bytes"):
        sender.set_receiver_key(1, bytes(32), bytes(12))
    with pytest.raises(ValueError, match="at least 12 bytes"):
        sender.set_sender_key(bytes(16), bytes(8))
    with pytest.raises(ValueError, match="MKI"):
        SrtpSession(DOUBLE, master_key=bytes(32), master_salt=bytes(24), mki=b"\x01")
    with pytest.raises(ValueError, match="32-byte master key"):
        SrtpSession(DOUBLE, master_key=bytes(16), master_salt=bytes(24))
    assert "<32 bytes>" in repr(sender) and "<16 bytes>" in repr(sender._sender_inner)


def test_rtcp_is_hop_by_hop_only():
    sender, receiver, key, salt = endpoints()
    rtcp = bytes.fromhex("80c90001") + (42).to_bytes(4)
    srtcp = sender.protect_rtcp(rtcp)
    outer = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key[16:], master_salt=salt[12:])
    assert outer.unprotect_rtcp(srtcp) == rtcp
    assert receiver.unprotect_rtcp(sender.protect_rtcp(rtcp)) == rtcp


@settings(max_examples=50, deadline=None)
@given(rtp_packets, st.sampled_from([DOUBLE, DOUBLE_256]), st.data())
def test_hypothesis_round_trip_and_garbage(packet, profile, data):
    sender, receiver, _, _ = endpoints(profile)
    wire = bytes(packet)
    srtp = sender.protect(wire)
    cut = data.draw(st.integers(0, len(srtp) - 1))
    with pytest.raises(SrtpError):
        receiver.unprotect(srtp[:cut])
    flip = data.draw(st.integers(0, len(srtp) - 1))
    tampered = bytearray(srtp)
    tampered[flip] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SrtpError):
        receiver.unprotect(bytes(tampered))
    assert receiver.unprotect(srtp) == wire


def test_new_hop_by_hop_keys_leave_the_end_to_end_layer_alone():
    sender, receiver, key, salt = endpoints()
    clone = SrtpSession(DOUBLE, master_key=key, master_salt=salt)  # has sent nothing yet
    relay = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=os.urandom(16),
                        master_salt=os.urandom(12))
    for seq in range(5):
        receiver.unprotect(sender.protect(bytes(RtpPacket(False, 0, seq, 0, 9, payload=b"a"))))
    outer_key, outer_salt = os.urandom(16), os.urandom(12)
    sender.replace_hop_by_hop_key(outer_key, outer_salt)
    receiver.replace_hop_by_hop_key(outer_key, outer_salt)
    packet = sender.protect(bytes(RtpPacket(False, 0, 5, 0, 9, payload=b"after")))
    # Only the new outer key opens it; the receiver's inner replay state went on (SEQ 5).
    relay_under_new = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=outer_key,
                                  master_salt=outer_salt)
    assert relay_under_new.unprotect(packet)[-1] == 0  # the empty OHB under the new outer key
    with pytest.raises(AuthenticationError):
        relay.unprotect(packet)
    assert receiver.unprotect(packet).endswith(b"after")
    # The inner layer remembers SEQ 0 from before the change: a replay under a fresh outer
    # packet is still refused.
    clone.replace_hop_by_hop_key(outer_key, outer_salt)
    replayed = clone.protect(bytes(RtpPacket(False, 0, 0, 0, 9, payload=b"a")))
    with pytest.raises(ReplayError):
        receiver.unprotect(replayed)
    rtcp = bytes.fromhex("80c90001") + (9).to_bytes(4)
    assert receiver.unprotect_rtcp(sender.protect_rtcp(rtcp)) == rtcp
    with pytest.raises(ValueError, match="16-byte hop-by-hop key"):
        sender.replace_hop_by_hop_key(bytes(32), bytes(12))


def test_new_hop_by_hop_keys_restart_the_outer_roc_and_keep_the_inner_one():
    """RFC 8723 §3: inner and outer ROC are separate; a new hop knows no ROC of ours."""
    key, salt = os.urandom(32), os.urandom(24)
    sender = SrtpSession(DOUBLE, master_key=key, master_salt=salt)
    receiver = SrtpSession(DOUBLE, master_key=key, master_salt=salt)
    sender.set_roc(9, 3, seq=65534, outbound=True)  # a long-running stream: ROC 3
    receiver.set_roc(9, 3, seq=65534)
    for seq, roc in ((65535, 3), (0, 4)):  # the inner and outer ROC go to 4 together
        # (the receiver learns the inner ROC from EKT fields, RFC 8870 §4.1)
        receiver.unprotect(sender.protect(bytes(RtpPacket(False, 0, seq, 0, 9, payload=b"a"))),
                           inner_roc=roc)
    assert sender.roc(9) == sender.ekt_roc(9) == 4
    outer_key, outer_salt = os.urandom(16), os.urandom(12)
    sender.replace_hop_by_hop_key(outer_key, outer_salt)
    receiver.replace_hop_by_hop_key(outer_key, outer_salt)
    packet = sender.protect(bytes(RtpPacket(False, 0, 1, 0, 9, payload=b"after")))
    assert (sender.roc(9), sender.ekt_roc(9)) == (0, 4)
    # A fresh hop (a new Media Distributor context) opens it at ROC 0...
    hop = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=outer_key, master_salt=outer_salt)
    assert hop.unprotect(packet)[-1] == 0
    # ...and the end-to-end layer still sees index 4 << 16 | 1: the receiver decrypts it,
    # with its inner replay state intact.
    assert receiver.unprotect(packet).endswith(b"after")
