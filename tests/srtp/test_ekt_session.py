"""EKT (RFC 8870 §4.3, §4.6; RFC 8871 §4.5): double SRTP endpoints through a distributor, and
the single AES-CM and AEAD transforms."""

import itertools
import os

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from sipperc.rtp import RtpPacket, parse_rtp
from sipperc.srtp import (
    AuthenticationError,
    EKTAuthenticationError,
    EKTCipher,
    EKTKeyExpiredError,
    EKTParameterSet,
    EKTRateLimitError,
    EKTSession,
    HopByHopSession,
    MalformedPacketError,
    Profile,
    ReplayError,
    SrtpSession,
    split_ekt_field,
)
from tests.srtp.ekt_vectors import (
    VECTOR_KEY,
    VECTOR_PARAMETER_SET,
    VECTOR_RTP,
    VECTOR_SSRC,
    VECTORS,
)
from tests.srtp.perc_keys import DOUBLE

ALICE, BOB = 0xA11CE, 0xB0B


def parameter_set(spi=1, ttl=3600, received_at=0.0, key=None, salt=None):
    return EKTParameterSet(ekt_key_value=key or os.urandom(16),
                           srtp_master_salt=salt or os.urandom(12), ekt_spi=spi, ekt_ttl=ttl,
                           cipher=EKTCipher.AESKW_128, received_at=received_at)


class Endpoint:
    """An endpoint's two DTLS-SRTP keys (client_write to send, server_write to receive)."""

    def __init__(self, **options):
        self.send_outer = os.urandom(16), os.urandom(12)
        self.receive_outer = os.urandom(16), os.urandom(12)
        sender = SrtpSession(DOUBLE, master_key=os.urandom(16) + self.send_outer[0],
                             master_salt=os.urandom(12) + self.send_outer[1])
        receiver = SrtpSession(DOUBLE, master_key=os.urandom(16) + self.receive_outer[0],
                               master_salt=os.urandom(12) + self.receive_outer[1])
        self.ekt = EKTSession(sender, receiver, **options)
        # The Media Distributor's view of this endpoint's two hops.
        self.from_it = HopByHopSession(DOUBLE, master_key=self.send_outer[0],
                                       master_salt=self.send_outer[1])
        self.to_it = HopByHopSession(DOUBLE, master_key=self.receive_outer[0],
                                     master_salt=self.receive_outer[1])


def rtp(seq, ssrc=ALICE):
    return bytes(RtpPacket(False, 111, seq & 0xFFFF, seq * 960, ssrc,
                           payload=b"media %d" % seq))


def relay(sender, receiver, packet, **changes):
    return receiver.to_it.send(sender.from_it.receive(packet), **changes)


@pytest.fixture
def pair():
    alice, bob = Endpoint(), Endpoint()
    keys = parameter_set()
    alice.ekt.install(keys, now=0.0)
    bob.ekt.install(keys, now=0.0)
    return alice, bob


def kinds(packets):
    return ["full" if split_ekt_field(packet)[2] else "short" for packet in packets]


def test_full_field_on_three_first_packets_then_every_100_ms(pair):
    alice, _ = pair
    packets = [alice.ekt.protect(rtp(seq), now=seq * 0.02) for seq in range(12)]
    # 0, 0.02, 0.04 are the first three; then 0.14 and 0.24 (100 ms after the last Full).
    assert kinds(packets) == ["full"] * 3 + ["short"] * 4 + ["full"] + ["short"] * 4
    assert len(split_ekt_field(packets[0])[1]) == 47


def test_receiver_learns_the_inner_key_from_the_full_field(pair):
    alice, bob = pair
    for seq in range(5):
        packet = relay(alice, bob, alice.ekt.protect(rtp(seq), now=seq * 0.02),
                       sequence_number=seq + 1000)
        assert parse_rtp(bob.ekt.unprotect(packet, now=seq * 0.02)).payload == b"media %d" % seq


def test_ciphertext_is_cached_while_key_and_roc_stay(pair):
    alice, _ = pair
    first, second = (alice.ekt.protect(rtp(seq), now=0.0) for seq in (65534, 65535))
    after_wrap = alice.ekt.protect(rtp(65536), now=0.0)
    assert split_ekt_field(first)[1] == split_ekt_field(second)[1]
    assert split_ekt_field(after_wrap)[1] != split_ekt_field(second)[1]  # ROC 0 -> 1


def test_late_joiner_waits_for_the_periodic_full_field(pair):
    alice, bob = pair
    packets = [alice.ekt.protect(rtp(seq), now=seq * 0.02) for seq in range(10)]
    with pytest.raises(AuthenticationError):  # a Short-field packet: Bob has no key for Alice
        bob.ekt.unprotect(relay(alice, bob, packets[5]), now=0.1)
    assert bob.ekt.unprotect(relay(alice, bob, packets[7]), now=0.14)  # Full at 140 ms
    assert bob.ekt.unprotect(relay(alice, bob, packets[8]), now=0.16)


def test_rekey_on_a_new_parameter_set_uses_the_new_key_250_ms_later(pair):
    alice, bob = pair
    seq = itertools.count()
    for _ in range(3):
        bob.ekt.unprotect(relay(alice, bob, alice.ekt.protect(rtp(next(seq)), now=0.0)), 0.0)
    old_key = alice.ekt.sender._sender_inner.master_key
    new_set = parameter_set(spi=2)
    alice.ekt.install(new_set, now=1.0)
    bob.ekt.install(new_set, now=1.0)
    announcing = [alice.ekt.protect(rtp(next(seq)), now=1.0 + t) for t in (0.0, 0.1, 0.2)]
    assert kinds(announcing) == ["full"] * 3
    assert {split_ekt_field(p)[2].spi for p in announcing} == {2}
    assert alice.ekt.sender._sender_inner.master_key == old_key  # 250 ms rule
    switched = alice.ekt.protect(rtp(next(seq)), now=1.3)
    assert alice.ekt.sender._sender_inner.master_key != old_key
    for packet in [*announcing, switched]:
        assert bob.ekt.unprotect(relay(alice, bob, packet), now=1.3)


def test_old_keys_decrypt_late_packets_until_their_lifetime_ends():
    alice, bob = Endpoint(), Endpoint(previous_key_lifetime=5.0)
    for endpoint in (alice, bob):
        endpoint.ekt.install(parameter_set(spi=1, key=bytes(16), salt=bytes(12)), now=0.0)
    late = [alice.ekt.protect(rtp(seq), now=0.0) for seq in range(4)]
    bob.ekt.unprotect(relay(alice, bob, late[0]), now=0.0)
    alice.ekt.rekey(now=1.0)
    fresh = [alice.ekt.protect(rtp(seq), now=1.3 + seq / 100) for seq in range(4, 8)]
    for packet in fresh:
        bob.ekt.unprotect(relay(alice, bob, packet), now=1.4)
    # Relayed now (the MD's SEQ moves on), old-key packets still decrypt...
    assert bob.ekt.unprotect(relay(alice, bob, late[1], sequence_number=9), now=2.0)
    # ...until the previous key's lifetime has passed.
    with pytest.raises(AuthenticationError):
        bob.ekt.unprotect(relay(alice, bob, late[2], sequence_number=10), now=7.0)


def test_unknown_spi_is_an_authentication_failure(pair):
    alice, _ = pair
    stranger = Endpoint()
    stranger.ekt.install(parameter_set(spi=99), now=0.0)
    with pytest.raises(EKTAuthenticationError, match="unknown or expired SPI 1"):
        stranger.ekt.unprotect(relay(alice, stranger, alice.ekt.protect(rtp(1), now=0.0)), 0.0)


def test_field_unwrapping_under_the_wrong_key_fails_authentication():
    alice, mallory = Endpoint(), Endpoint()
    alice.ekt.install(parameter_set(spi=7), now=0.0)
    mallory.ekt.install(parameter_set(spi=7), now=0.0)  # same SPI, another EKTKey
    with pytest.raises(EKTAuthenticationError, match="does not unwrap"):
        mallory.ekt.unprotect(relay(alice, mallory, alice.ekt.protect(rtp(1), now=0.0)), 0.0)


def test_a_full_field_cut_from_another_stream_is_ignored(pair):
    alice, bob = pair
    from_alice = alice.ekt.protect(rtp(1), now=0.0)
    second_stream = alice.ekt.protect(rtp(1, ssrc=BOB), now=0.0)
    srtp, _, _ = split_ekt_field(second_stream)
    _, field, _ = split_ekt_field(from_alice)
    pasted = relay(alice, bob, srtp + field)
    with pytest.raises(AuthenticationError, match="inner"):  # key ignored: no key for BOB
        bob.ekt.unprotect(pasted, now=0.0)


def test_epoch_must_grow(pair):
    alice, bob = pair
    epoch0 = alice.ekt.protect(rtp(0), now=0.0)
    bob.ekt.unprotect(relay(alice, bob, epoch0), now=0.0)
    alice.ekt.rekey(now=0.0)
    epoch1 = [alice.ekt.protect(rtp(seq), now=0.3 + seq / 100) for seq in (1, 2)]
    bob.ekt.unprotect(relay(alice, bob, epoch1[0]), now=0.3)
    assert split_ekt_field(epoch1[0])[2].epoch == 1
    # Epoch 0's field comes back on a later packet: it must not bring the old key back.
    srtp, _, _ = split_ekt_field(epoch1[1])
    _, old_field, _ = split_ekt_field(epoch0)
    assert bob.ekt.unprotect(relay(alice, bob, srtp + old_field), now=0.32)
    with pytest.raises(ReplayError):
        bob.ekt.unprotect(relay(alice, bob, epoch0, sequence_number=77), now=0.33)
    assert bob.ekt._received[(1, ALICE)].epoch == 1


def test_ttl_is_enforced_for_sending_and_receiving():
    alice, bob = Endpoint(), Endpoint()
    keys = parameter_set(ttl=10, received_at=100.0)
    alice.ekt.install(keys, now=100.0)
    bob.ekt.install(keys, now=100.0)
    packet = alice.ekt.protect(rtp(1), now=109.0)
    with pytest.raises(EKTKeyExpiredError, match="expired"):
        alice.ekt.protect(rtp(2), now=110.0)
    with pytest.raises(AuthenticationError, match="expired SPI"):
        bob.ekt.unprotect(relay(alice, bob, packet), now=110.5)


def test_nothing_is_sent_before_an_ektkey_arrives():
    with pytest.raises(EKTKeyExpiredError, match="no EKT parameter set"):
        Endpoint().ekt.protect(rtp(1), now=0.0)


def test_full_fields_from_unknown_ssrcs_are_rate_limited():
    alice, bob = Endpoint(), Endpoint(unknown_ssrc_rate=5.0)
    keys = parameter_set()
    alice.ekt.install(keys, now=0.0)
    bob.ekt.install(keys, now=0.0)
    packets = [relay(alice, bob, alice.ekt.protect(rtp(1, ssrc=ssrc), now=0.0))
               for ssrc in range(1, 9)]
    for packet in packets[:5]:
        bob.ekt.unprotect(packet, now=0.0)
    with pytest.raises(EKTRateLimitError):
        bob.ekt.unprotect(packets[5], now=0.0)
    assert bob.ekt.unprotect(packets[6], now=0.5)  # refilled: 5 per second
    # Known SSRCs are not limited.
    assert bob.ekt.unprotect(relay(alice, bob, alice.ekt.protect(rtp(2, ssrc=1), now=0.0)), 0.5)


def test_install_checks():
    endpoint = Endpoint()
    keys = parameter_set(spi=3)
    endpoint.ekt.install(keys, now=0.0)
    endpoint.ekt.install(keys, now=1.0)  # the same EKTKey retransmitted: nothing changes
    with pytest.raises(ValueError, match="one SPI per set"):
        endpoint.ekt.install(parameter_set(spi=3), now=2.0)
    with pytest.raises(ValueError, match="sending AEAD_AES_128_GCM but receiving DOUBLE"):
        EKTSession(SrtpSession(DOUBLE.inner, master_key=bytes(16), master_salt=bytes(12)),
                   endpoint.ekt.receiver)
    with pytest.raises(TypeError, match="hop-by-hop keys only"):
        EKTSession(endpoint.ekt.sender, endpoint.to_it)
    with pytest.raises(ValueError, match="MKI"):
        single = SrtpSession(DOUBLE.inner, master_key=bytes(16), master_salt=bytes(12),
                             mki=b"\x01")
        EKTSession(single, single)
    with pytest.raises(MalformedPacketError):
        endpoint.ekt.unprotect(b"\x00", now=0.0)
    assert "outbound SPI 3" in repr(endpoint.ekt)


def test_rtcp_goes_hop_by_hop_without_ekt(pair):
    alice, bob = pair
    rtcp = bytes.fromhex("80c90001") + ALICE.to_bytes(4)
    on_wire = alice.ekt.protect_rtcp(rtcp)
    assert alice.from_it.unprotect_rtcp(on_wire) == rtcp
    assert bob.ekt.unprotect_rtcp(bob.to_it.protect_rtcp(rtcp)) == rtcp


# Single transforms (AES-CM and AEAD): the Full field carries the whole SRTP master key.
SINGLE = [Profile.AES_CM_128_HMAC_SHA1_80, Profile.AES_CM_128_HMAC_SHA1_32,
          Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM]


def single_endpoint(profile, **options):
    """An endpoint whose negotiated keys nobody else has: others decrypt with EKT keys only."""
    sessions = [SrtpSession(profile, master_key=os.urandom(profile.master_key_length),
                            master_salt=os.urandom(profile.master_salt_length))
                for _ in range(2)]
    return EKTSession(*sessions, **options)


def single_pair(profile, **options):
    alice, bob = single_endpoint(profile, **options), single_endpoint(profile, **options)
    keys = parameter_set(salt=os.urandom(14))
    alice.install(keys, now=0.0)
    bob.install(keys, now=0.0)
    return alice, bob, keys


@pytest.mark.parametrize("profile", SINGLE)
def test_single_transforms_carry_the_whole_master_key(profile):
    alice, bob, keys = single_pair(profile)
    packets = [alice.protect(rtp(seq), now=seq * 0.02) for seq in range(8)]
    assert kinds(packets) == ["full"] * 3 + ["short"] * 4 + ["full"]
    field = split_ekt_field(packets[0])[2]
    # RFC 5649 output for 1 + key + SSRC + ROC bytes, plus SPI, epoch, length and type.
    assert len(bytes(field)) == 8 * -(-(profile.master_key_length + 9) // 8) + 8 + 7
    plaintext = keys.unwrap(field.ciphertext)
    assert (len(plaintext.master_key), plaintext.ssrc, plaintext.roc) == (
        profile.master_key_length, ALICE, 0)
    for seq, packet in enumerate(packets):
        assert bob.unprotect(packet, now=seq * 0.02) == rtp(seq)
    assert bob.receiver.has_receiver_key(ALICE)


@pytest.mark.parametrize("profile", SINGLE)
def test_single_transform_rekey_keeps_late_packets_for_their_lifetime(profile):
    alice, bob, _ = single_pair(profile, previous_key_lifetime=5.0)
    seq = itertools.count()
    late = [alice.protect(rtp(next(seq)), now=0.0) for _ in range(4)]
    bob.unprotect(late[0], now=0.0)
    alice.install(parameter_set(spi=2, salt=os.urandom(14)), now=1.0)  # a rekey (new SPI)
    bob.install(alice.outbound, now=1.0)
    announcing = alice.protect(rtp(next(seq)), now=1.0)  # new key announced, old key used
    switched = alice.protect(rtp(next(seq)), now=1.3)  # 250 ms later: the new key
    assert bob.unprotect(announcing, now=1.0) == rtp(4)
    assert bob.unprotect(switched, now=1.3) == rtp(5)
    assert bob.unprotect(late[1], now=2.0) == rtp(1)  # the previous key, for late packets
    with pytest.raises(AuthenticationError):
        bob.unprotect(late[2], now=7.0)  # its lifetime is over


@pytest.mark.parametrize("profile", SINGLE)
def test_single_transform_late_joiner_learns_the_roc(profile):
    alice, bob, _ = single_pair(profile)
    alice.sender.set_roc(ALICE, 2, seq=65000, outbound=True)
    packets = [alice.protect(rtp(seq), now=seq / 50) for seq in range(65001, 65021)]
    # Bob hears nothing until the periodic Full field (100 ms after the first three).
    full = next(i for i, packet in enumerate(packets[3:], 3) if split_ekt_field(packet)[2])
    assert bob.unprotect(packets[full], now=1.0) == rtp(65001 + full)
    assert bob.receiver.roc(ALICE, outbound=False) == 2
    assert bob.unprotect(packets[full + 1], now=1.0) == rtp(65002 + full)


@pytest.mark.parametrize("profile", SINGLE)
def test_single_transforms_have_no_repair_packets(profile):
    alice, bob, _ = single_pair(profile)
    with pytest.raises(ValueError, match="double SRTP"):
        alice.protect(rtp(1), now=0.0, repair=True)
    with pytest.raises(ValueError, match="double SRTP"):
        bob.unprotect(alice.protect(rtp(1), now=0.0), now=0.0, repair=True)


@pytest.mark.parametrize("profile", list(VECTORS))
def test_single_transform_vector(profile):
    """Our vector (tests/srtp/ekt_vectors.py); libsrtp checks its SRTP part in tests/interop."""
    endpoint = single_endpoint(profile, random=lambda length: VECTOR_KEY[:length])
    endpoint.install(VECTOR_PARAMETER_SET, now=0.0)
    packet = endpoint.protect(VECTOR_RTP, now=0.0)
    assert packet.hex() == VECTORS[profile]
    _, field, _ = split_ekt_field(packet)
    assert field[-7:] == bytes.fromhex("1234" "0000" "002f" "02")  # SPI, epoch 0, 47 bytes, Full
    assert aes_key_unwrap_with_padding(VECTOR_PARAMETER_SET.ekt_key_value, field[:-7]) == (
        b"\x10" + VECTOR_KEY + VECTOR_SSRC.to_bytes(4) + bytes(4))  # RFC 8870 §4.1 plaintext
    receiver = single_endpoint(profile)
    receiver.install(VECTOR_PARAMETER_SET, now=0.0)
    assert receiver.unprotect(packet, now=0.0) == VECTOR_RTP
