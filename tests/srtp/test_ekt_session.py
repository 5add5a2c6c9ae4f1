"""EKT on double SRTP endpoints through a distributor (RFC 8870 §4.3, §4.6; RFC 8871 §4.5)."""

import itertools
import os

import pytest

from sipperc.rtp import RtpPacket, parse_rtp
from sipperc.srtp import (
    AuthenticationError,
    EKTCipher,
    EKTKeyExpiredError,
    EKTParameterSet,
    EKTRateLimitError,
    EKTSession,
    HopByHopSession,
    MalformedPacketError,
    ReplayError,
    SrtpSession,
    split_ekt_field,
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
    with pytest.raises(AuthenticationError, match="unknown or expired SPI 1"):
        stranger.ekt.unprotect(relay(alice, stranger, alice.ekt.protect(rtp(1), now=0.0)), 0.0)


def test_field_unwrapping_under_the_wrong_key_fails_authentication():
    alice, mallory = Endpoint(), Endpoint()
    alice.ekt.install(parameter_set(spi=7), now=0.0)
    mallory.ekt.install(parameter_set(spi=7), now=0.0)  # same SPI, another EKTKey
    with pytest.raises(AuthenticationError, match="does not unwrap"):
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
    with pytest.raises(TypeError):
        EKTSession(SrtpSession(DOUBLE.inner, master_key=bytes(16), master_salt=bytes(12)),
                   endpoint.ekt.receiver)
    with pytest.raises(MalformedPacketError):
        endpoint.ekt.unprotect(b"\x00", now=0.0)
    assert "outbound SPI 3" in repr(endpoint.ekt)


def test_rtcp_goes_hop_by_hop_without_ekt(pair):
    alice, bob = pair
    rtcp = bytes.fromhex("80c90001") + ALICE.to_bytes(4)
    on_wire = alice.ekt.protect_rtcp(rtcp)
    assert alice.from_it.unprotect_rtcp(on_wire) == rtcp
    assert bob.ekt.unprotect_rtcp(bob.to_it.protect_rtcp(rtcp)) == rtcp
