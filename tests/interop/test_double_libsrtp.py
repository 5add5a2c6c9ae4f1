"""Double SRTP (RFC 8723) checked layer by layer against libsrtp (pylibsrtp).

libsrtp has no double transform, but each layer is plain AEAD_AES_*_GCM SRTP: the outer one
over the whole packet, the inner one over the synthetic packet (X cleared, extension removed).
So libsrtp must accept our sender's and our distributor's packets with the outer key, our inner
layer once the synthetic packet is rebuilt, and a double packet it built layer by layer must
be accepted by our receiver.
"""

import os

import pylibsrtp
import pytest

from sipperc.rtp import ExtensionElement, HeaderExtension, RtpPacket, parse_rtp
from sipperc.srtp import HopByHopSession, Profile, SrtpSession

pytestmark = pytest.mark.interop

PROFILES = {
    Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM:
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM:
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def libsrtp(profile, key, salt, outbound):
    policy = pylibsrtp.Policy
    return pylibsrtp.Session(policy(
        key=key + salt, srtp_profile=PROFILES[profile],
        ssrc_type=policy.SSRC_ANY_OUTBOUND if outbound else policy.SSRC_ANY_INBOUND))


def packets():
    ext = HeaderExtension.from_elements([ExtensionElement(1, b"\x9e"), ExtensionElement(4, b"ab")])
    for number, seq in enumerate([*range(65530, 65536), *range(0, 6)]):
        yield bytes(RtpPacket(number % 3 == 0, 111, seq, seq * 960, 0x1234ABCD,
                              csrcs=(7, 8)[: number % 3], extension=ext if number % 2 else None,
                              payload=os.urandom(40 + number), padding=(0, 4)[number % 2]))


def synthetic(rtp_packet):
    """RFC 8723 §5.1 step 3: the header with X cleared, cut to 12 + 4 * CC bytes (P stays)."""
    return bytes((rtp_packet[0] & 0xEF,)) + rtp_packet[1:12 + 4 * (rtp_packet[0] & 0x0F)]


@pytest.mark.parametrize("profile", PROFILES)
def test_libsrtp_opens_each_of_our_layers(profile):
    half_key, half_salt = profile.master_key_length // 2, profile.master_salt_length // 2
    inner = os.urandom(half_key), os.urandom(half_salt)
    outer = os.urandom(half_key), os.urandom(half_salt)
    recipient = os.urandom(half_key), os.urandom(half_salt)
    sender = SrtpSession(profile, master_key=inner[0] + outer[0], master_salt=inner[1] + outer[1])
    from_sender = HopByHopSession(profile, master_key=outer[0], master_salt=outer[1], ekt=False)
    to_recipient = HopByHopSession(profile, master_key=recipient[0], master_salt=recipient[1],
                                   ekt=False)
    outer_rx = libsrtp(profile, *outer, outbound=False)
    recipient_rx = libsrtp(profile, *recipient, outbound=False)
    inner_rx = libsrtp(profile, *inner, outbound=False)
    for rtp in packets():
        srtp = sender.protect(rtp)
        header_length = parse_rtp(rtp).header_length
        outer_plain = outer_rx.unprotect(srtp)  # the sender's outer layer
        assert outer_plain[:header_length] == rtp[:header_length]
        assert outer_plain[-1] == 0  # empty OHB
        head = synthetic(rtp)
        assert inner_rx.unprotect(head + outer_plain[header_length:-1]) == head + rtp[
            header_length:]
        relayed = from_sender.receive(srtp)
        forwarded = to_recipient.send(relayed, sequence_number=(relayed.sequence_number + 5)
                                      & 0xFFFF, payload_type=96)
        forwarded_plain = recipient_rx.unprotect(forwarded)  # the distributor's outer layer
        assert forwarded_plain[1] & 0x7F == 96
        assert forwarded_plain[-4:] == bytes((parse_rtp(rtp).payload_type,)) + rtp[2:4] + b"\x03"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_double_packet_built_by_libsrtp_layers_is_accepted(profile):
    half_key, half_salt = profile.master_key_length // 2, profile.master_salt_length // 2
    inner = os.urandom(half_key), os.urandom(half_salt)
    outer = os.urandom(half_key), os.urandom(half_salt)
    inner_tx = libsrtp(profile, *inner, outbound=True)
    outer_tx = libsrtp(profile, *outer, outbound=True)
    receiver = SrtpSession(profile, master_key=inner[0] + outer[0],
                           master_salt=inner[1] + outer[1])
    for rtp in packets():
        header_length = parse_rtp(rtp).header_length
        head = synthetic(rtp)
        inner_srtp = inner_tx.protect(head + rtp[header_length:])
        double = outer_tx.protect(rtp[:header_length] + inner_srtp[len(head):] + b"\x00")
        assert receiver.unprotect(double) == rtp


@pytest.mark.parametrize("profile", PROFILES)
def test_rtcp_is_plain_srtcp_under_the_outer_key(profile):
    half_key, half_salt = profile.master_key_length // 2, profile.master_salt_length // 2
    key, salt = os.urandom(2 * half_key), os.urandom(2 * half_salt)
    sender = SrtpSession(profile, master_key=key, master_salt=salt)
    rtcp = bytes.fromhex("80c90001") + (0x1234ABCD).to_bytes(4)
    assert libsrtp(profile, key[half_key:], salt[half_salt:], outbound=False).unprotect_rtcp(
        sender.protect_rtcp(rtcp)) == rtcp
    theirs = libsrtp(profile, key[half_key:], salt[half_salt:], outbound=True).protect_rtcp(rtcp)
    assert SrtpSession(profile, master_key=key, master_salt=salt).unprotect_rtcp(theirs) == rtcp
