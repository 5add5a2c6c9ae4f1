"""SRTP/SRTCP differential tests against libsrtp (pylibsrtp), for every single profile.

SRTP is deterministic, so for RTP the two implementations must produce the same bytes, not
merely accept each other's. SRTCP indices differ by one at the start (RFC 3711 §3.4 says the
first index is 0, libsrtp sends 1), so sipperc's sender is advanced by one packet before the
byte-for-byte comparison.
"""

import os

import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.rtp import (
    ExtensionElement,
    HeaderExtension,
    RtpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    serialize_rtcp,
)
from sipperc.srtp import (
    EKTCipher,
    EKTParameterSet,
    EKTPlaintext,
    EKTSession,
    Profile,
    SrtpError,
    SrtpSession,
    split_ekt_field,
)
from sipperc.srtp.ekt import SHORT_EKT_FIELD
from tests.rtp.strategies import rtp_packets
from tests.srtp.ekt_vectors import VECTOR_PARAMETER_SET, VECTOR_RTP, VECTORS

pytestmark = pytest.mark.interop

LIBSRTP_PROFILES = {
    Profile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    Profile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
SSRC = 0x5501A0B2


class Peers:
    """A sipperc sender/receiver and a libsrtp sender/receiver sharing one master key."""

    def __init__(self, profile):
        key = os.urandom(profile.master_key_length)
        salt = os.urandom(profile.master_salt_length)
        self.ours_tx = SrtpSession(profile, master_key=key, master_salt=salt)
        self.ours_rx = SrtpSession(profile, master_key=key, master_salt=salt)
        policy = pylibsrtp.Policy
        self.lib_tx = pylibsrtp.Session(policy(key=key + salt, ssrc_type=policy.SSRC_ANY_OUTBOUND,
                                               srtp_profile=LIBSRTP_PROFILES[profile]))
        self.lib_rx = pylibsrtp.Session(policy(key=key + salt, ssrc_type=policy.SSRC_ANY_INBOUND,
                                               srtp_profile=LIBSRTP_PROFILES[profile]))


def headers():
    """RTP packets with the header features SRTP must treat as authenticated, not encrypted."""
    one_byte = HeaderExtension.from_elements([ExtensionElement(1, b"\x9e"),
                                              ExtensionElement(3, b"abc")])
    two_byte = HeaderExtension.from_elements([ExtensionElement(200, bytes(20))], two_byte=True)
    yield {}
    yield {"csrcs": (1, 2, 3)}
    yield {"extension": one_byte}
    yield {"extension": two_byte, "csrcs": (0xFFFFFFFF,)}
    yield {"padding": 7}
    yield {"csrcs": tuple(range(15)), "extension": one_byte, "padding": 1, "marker": True}


def packet(seq, **fields):
    fields.setdefault("marker", False)
    return bytes(RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 960, ssrc=SSRC,
                           payload=bytes(range(160)), **fields))


@pytest.mark.parametrize("profile", LIBSRTP_PROFILES)
def test_rtp_bytes_identical_both_ways_across_the_wrap(profile):
    peers = Peers(profile)
    for number, seq in enumerate([*range(65520, 65536), *range(0, 16)]):
        fields = list(headers())[number % 6]
        rtp = packet(seq, **fields)
        ours, theirs = peers.ours_tx.protect(rtp), peers.lib_tx.protect(rtp)
        assert ours == theirs
        assert peers.lib_rx.unprotect(ours) == rtp
        assert peers.ours_rx.unprotect(theirs) == rtp
    assert peers.ours_rx.roc(SSRC, outbound=False) == 1


@pytest.mark.parametrize("profile", LIBSRTP_PROFILES)
def test_libsrtp_reordered_across_the_wrap_is_accepted(profile):
    peers = Peers(profile)
    protected = {seq: peers.lib_tx.protect(packet(seq)) for seq in (65533, 65534, 65535, 0, 1)}
    for seq in (65533, 0, 65535, 1, 65534):
        assert peers.ours_rx.unprotect(protected[seq]) == packet(seq)


@pytest.mark.parametrize("profile", LIBSRTP_PROFILES)
def test_rtcp_both_ways(profile):
    peers = Peers(profile)
    compound = serialize_rtcp([
        SenderReport(SSRC, 0x83AA7E80_00000000, 960, 10, 1600),
        SourceDescription((SdesChunk(SSRC, (SdesItem(SdesItem.CNAME, b"alice"),)),)),
    ])
    peers.ours_tx.protect_rtcp(compound)  # index 0: from here on both send 1, 2, 3...
    for _ in range(3):
        ours, theirs = peers.ours_tx.protect_rtcp(compound), peers.lib_tx.protect_rtcp(compound)
        assert ours == theirs
        assert peers.lib_rx.unprotect_rtcp(ours) == compound
        assert peers.ours_rx.unprotect_rtcp(theirs) == compound


@pytest.mark.parametrize("profile", LIBSRTP_PROFILES)
def test_tampering_any_byte_is_rejected_by_both(profile):
    peers = Peers(profile)
    rtp = packet(10, csrcs=(9,), extension=HeaderExtension.from_elements(
        [ExtensionElement(1, b"\x10")]), padding=2)
    srtp = peers.ours_tx.protect(rtp)
    rtcp = bytes.fromhex("80c90001") + SSRC.to_bytes(4)
    srtcp = peers.lib_tx.protect_rtcp(rtcp)
    for wire, ours, theirs in ((srtp, peers.ours_rx.unprotect, peers.lib_rx.unprotect),
                               (srtcp, peers.ours_rx.unprotect_rtcp, peers.lib_rx.unprotect_rtcp)):
        for position in range(len(wire)):
            tampered = bytearray(wire)
            tampered[position] ^= 0x40
            with pytest.raises(SrtpError):
                ours(bytes(tampered))
            with pytest.raises(pylibsrtp.Error):
                theirs(bytes(tampered))
    assert peers.ours_rx.unprotect(srtp) == rtp == peers.lib_rx.unprotect(srtp)
    assert peers.ours_rx.unprotect_rtcp(srtcp) == rtcp


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(list(LIBSRTP_PROFILES)), rtp_packets)
def test_hypothesis_any_packet_protects_identically(profile, rtp_packet):
    peers = Peers(profile)
    rtp = bytes(rtp_packet)
    ours = peers.ours_tx.protect(rtp)
    assert ours == peers.lib_tx.protect(rtp)
    assert peers.lib_rx.unprotect(ours) == rtp


def libsrtp_session(profile, key, salt, direction):
    policy = pylibsrtp.Policy
    return pylibsrtp.Session(policy(key=key + salt[:profile.master_salt_length],
                                    ssrc_type=direction, srtp_profile=LIBSRTP_PROFILES[profile]))


@pytest.mark.parametrize("profile", list(VECTORS))
def test_ekt_vectors_open_in_libsrtp_with_the_key_the_field_carries(profile):
    srtp, _, full = split_ekt_field(bytes.fromhex(VECTORS[profile]))
    learned = VECTOR_PARAMETER_SET.unwrap(full.ciphertext)
    receiver = libsrtp_session(profile, learned.master_key,
                               VECTOR_PARAMETER_SET.srtp_master_salt,
                               pylibsrtp.Policy.SSRC_ANY_INBOUND)
    assert receiver.unprotect(srtp) == VECTOR_RTP


@pytest.mark.parametrize("profile", LIBSRTP_PROFILES)
def test_ekt_single_transform_both_ways_with_libsrtp(profile):
    """Our EKT sender's key opens its packets in libsrtp; libsrtp's packets under a key that
    our Full field announces open in our EKT receiver (RFC 8870 §4.3: the whole master key)."""
    keys = EKTParameterSet(ekt_key_value=os.urandom(16), srtp_master_salt=os.urandom(14),
                           ekt_spi=5, ekt_ttl=60, cipher=EKTCipher.AESKW_128)
    sessions = [SrtpSession(profile, master_key=os.urandom(profile.master_key_length),
                            master_salt=os.urandom(profile.master_salt_length))
                for _ in range(2)]
    ours = EKTSession(*sessions)
    ours.install(keys, now=0.0)
    sent = [ours.protect(packet(seq), now=seq / 50) for seq in range(5)]
    announced = keys.unwrap(split_ekt_field(sent[0])[2].ciphertext).master_key
    lib_rx = libsrtp_session(profile, announced, keys.srtp_master_salt,
                             pylibsrtp.Policy.SSRC_ANY_INBOUND)
    for seq, wire in enumerate(sent):
        assert lib_rx.unprotect(split_ekt_field(wire)[0]) == packet(seq)
    key = os.urandom(profile.master_key_length)
    lib_tx = libsrtp_session(profile, key, keys.srtp_master_salt,
                             pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    field = keys.full_field(EKTPlaintext(key, SSRC, 0), epoch=0)
    for seq in range(3):
        wire = lib_tx.protect(packet(seq)) + (field if seq == 0 else SHORT_EKT_FIELD)
        assert ours.unprotect(wire, now=0.0) == packet(seq)
