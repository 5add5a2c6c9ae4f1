"""The Key Distributor's associations: DTLS servers behind tunnels, keyed by the key logic."""

from __future__ import annotations

import uuid

import pytest

from sipperc.dtls import DtlsConnection, EKTKeyReceived, Fingerprint, Identity
from sipperc.perc.key_distributor import (
    AnnouncementAccepted,
    CloseAssociation,
    EndpointAdmitted,
    EndpointLeft,
    EndpointRefused,
    KeyDistributor,
    ParticipantAnnouncement,
    Rekeyed,
    RekeyReason,
    SendEKTKey,
)
from sipperc.perc.key_distributor_associations import (
    AssociationClosed,
    AssociationOpened,
    AssociationsAdopted,
    AssociationsOrphaned,
    KeyDistributorAssociations,
    ToTunnel,
)
from sipperc.perc.tunnel_messages import (
    EndpointDisconnect,
    MediaKeys,
    SupportedProfiles,
    TunneledDtls,
)
from sipperc.srtp import EKTCipher, Profile
from tests.perc.conference import tls_id
from tests.perc.memory_conference import MD_TUNNEL_PEER, MemoryConference, policy

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM
OTHER_MD = Fingerprint.parse("sha-256 " + ":".join(["CD"] * 32))


class Endpoint:
    """A bare DTLS client talking to the core through one tunnel (no Media Distributor)."""

    def __init__(self, harness, name, *, identity=None, announce=True, local_tls_id=None,
                 send_tls_id=True, ekt=(EKTCipher.AESKW_128,), profiles=(DOUBLE_128,),
                 announced_fingerprint=None):
        self.harness = harness
        self.identity = identity or Identity.generate(name)
        self.tls_id = local_tls_id or tls_id()
        self.association = uuid.uuid4()
        kd_tls_id, kd_fp = None, policy().identity.fingerprint
        if announce:
            answer = harness.key_distributor.announce(ParticipantAnnouncement(
                "design-review", name, self.tls_id,
                (Fingerprint.parse(announced_fingerprint or self.identity.fingerprint),)),
                harness.now)
            assert isinstance(answer, AnnouncementAccepted)
            kd_tls_id, kd_fp = answer.key_distributor_tls_id, answer.key_distributor_fingerprint
        self.connection = DtlsConnection(
            "client", self.identity, profiles, kd_fp,
            local_tls_id=self.tls_id if send_tls_id else None, remote_tls_id=kd_tls_id,
            ekt_ciphers=ekt)
        self.ekt_keys = []
        harness.endpoints.append(self)

    def flush(self, tunnel=1):
        outputs = []
        for datagram in self.connection.datagrams_to_send(self.harness.now):
            outputs += self.harness.core.tunnel_message(
                tunnel, TunneledDtls(self.association, datagram), self.harness.now)
        return outputs

    def receive(self, outputs):
        for output in outputs:
            if isinstance(output, ToTunnel) and isinstance(output.message, TunneledDtls) \
                    and output.message.association_id == self.association:
                self.connection.receive_datagram(output.message.dtls_message, self.harness.now)
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, EKTKeyReceived):
                self.ekt_keys.append(event)


class Harness:
    def __init__(self, **policy_changes):
        self.now = 5000.0
        self.key_distributor = KeyDistributor({"design-review": policy(**policy_changes)},
                                              self.now)
        self.core = KeyDistributorAssociations(self.key_distributor, orphan_grace=10.0)
        self.outputs = []
        self.endpoints = []
        self.open_tunnel(1)

    def open_tunnel(self, tunnel, peer=MD_TUNNEL_PEER, profiles=(DOUBLE_128, DOUBLE_256)):
        out = self.core.tunnel_opened(tunnel, peer, SupportedProfiles.of(profiles), self.now)
        self.outputs += out
        return out

    def handshake(self, *endpoints, tunnel=1):
        """Move datagrams between endpoints and the core until nothing moves."""
        for _ in range(20):
            moved = []
            for endpoint in endpoints:
                moved += endpoint.flush(tunnel)
            self.outputs += moved
            for endpoint in self.endpoints:
                endpoint.receive(moved)
            if not moved:
                break

    def of(self, kind):
        return [o for o in self.outputs if isinstance(o, kind)]

    def sent(self, kind):
        return [o.message for o in self.of(ToTunnel) if isinstance(o.message, kind)]


def test_an_admitted_endpoint_gets_outer_halves_then_its_ekt_key():
    harness = Harness()
    endpoint = Endpoint(harness, "alice")
    harness.handshake(endpoint)
    (opened,) = harness.of(AssociationOpened)
    assert (opened.room, opened.participant_id) == ("design-review", "alice")
    (keys,) = harness.sent(MediaKeys)
    exported = endpoint.connection.export_srtp_keys()
    assert keys.association_id == endpoint.association
    assert keys.protection_profile == DOUBLE_128.dtls_id
    assert keys.client_write_master_key == exported.client_key[16:]
    assert keys.server_write_master_key == exported.server_key[16:]
    assert keys.client_write_master_salt == exported.client_salt[12:]
    assert keys.server_write_master_salt == exported.server_salt[12:]
    # MediaKeys goes out before the EKTKey's DTLS records (RFC 9185 §5.4 "immediately").
    tunnel = [o.message for o in harness.of(ToTunnel)]
    assert tunnel.index(keys) < max(i for i, m in enumerate(tunnel)
                                    if isinstance(m, TunneledDtls))
    assert len(endpoint.ekt_keys) == 1
    assert endpoint.ekt_keys[0].cipher is EKTCipher.AESKW_128
    assert harness.core.admitted() == [(endpoint.association, "design-review", "alice")]


def test_an_unannounced_tls_id_is_refused_before_any_handshake():
    harness = Harness()
    stranger = Endpoint(harness, "stranger", announce=False)
    harness.handshake(stranger)
    (refused,) = harness.of(EndpointRefused)
    assert "no participant was announced" in refused.reason
    assert harness.sent(EndpointDisconnect) == [EndpointDisconnect(stranger.association)]
    assert harness.core.associations == 0
    assert not harness.sent(MediaKeys) and not stranger.connection.is_connected


def test_a_client_hello_without_external_session_id_is_refused():
    harness = Harness()
    endpoint = Endpoint(harness, "alice", send_tls_id=False)
    harness.handshake(endpoint)
    (refused,) = harness.of(EndpointRefused)
    assert "external_session_id" in refused.reason
    assert not harness.sent(MediaKeys)


def test_a_wrong_certificate_fails_the_handshake_and_gets_nothing():
    harness = Harness()
    impostor = Endpoint(harness, "mallory",
                        announced_fingerprint=Identity.generate("real").fingerprint)
    harness.handshake(impostor)
    (refused,) = harness.of(EndpointRefused)
    assert refused.participant_id == "mallory" and "DTLS handshake failed" in refused.reason
    assert not harness.sent(MediaKeys) and not impostor.ekt_keys
    assert EndpointDisconnect(impostor.association) in harness.sent(EndpointDisconnect)
    assert harness.core.associations == 0


def test_no_ekt_no_keys():
    harness = Harness()
    endpoint = Endpoint(harness, "alice", ekt=())
    harness.handshake(endpoint)
    (refused,) = harness.of(EndpointRefused)
    assert "EKT" in refused.reason
    assert not harness.sent(MediaKeys)


def test_the_profile_is_one_the_media_distributor_offered():
    harness = Harness()
    harness.core.tunnel_closed(1, harness.now)
    harness.open_tunnel(2, profiles=(DOUBLE_256,))
    endpoint = Endpoint(harness, "alice", profiles=(DOUBLE_128, DOUBLE_256))
    harness.handshake(endpoint, tunnel=2)
    (keys,) = harness.sent(MediaKeys)
    assert keys.protection_profile == DOUBLE_256.dtls_id
    assert len(keys.client_write_master_key) == 32
    only_128 = Endpoint(harness, "bob", profiles=(DOUBLE_128,))
    harness.handshake(only_128, tunnel=2)
    assert len(harness.sent(MediaKeys)) == 1  # no common profile: no keys for bob


def test_media_distributor_reports_the_endpoint_gone_and_the_others_are_rekeyed():
    harness = Harness()
    alice, bob = Endpoint(harness, "alice"), Endpoint(harness, "bob")
    harness.handshake(alice)
    harness.handshake(bob)
    harness.outputs = []
    out = harness.core.tunnel_message(1, EndpointDisconnect(bob.association), harness.now)
    harness.outputs += out
    alice.receive(out)
    assert [a.participant_id for a in harness.of(EndpointLeft)] == ["bob"]
    (rekeyed,) = harness.of(Rekeyed)
    assert rekeyed.reason is RekeyReason.LEAVE
    assert [s.association_id for s in harness.of(SendEKTKey)] == [alice.association]
    assert alice.ekt_keys[-1].ekt_spi == rekeyed.spi
    assert not harness.sent(EndpointDisconnect)  # the Media Distributor already knows


def test_a_withdrawal_closes_the_association_and_tells_the_media_distributor():
    harness = Harness()
    alice = Endpoint(harness, "alice")
    harness.handshake(alice)
    harness.outputs = []
    actions = harness.key_distributor.withdraw("design-review", "alice", harness.now)
    out = harness.core.apply(actions, harness.now)
    harness.outputs += out
    alice.receive(out)
    assert any(isinstance(a, CloseAssociation) for a in out)
    assert harness.sent(EndpointDisconnect) == [EndpointDisconnect(alice.association)]
    assert alice.connection.is_closed  # close_notify went through the tunnel
    assert harness.core.associations == 0


def test_a_dropped_tunnel_orphans_keyed_associations_until_the_same_md_returns():
    harness = Harness()
    alice, bob = Endpoint(harness, "alice"), Endpoint(harness, "bob")
    harness.handshake(alice)
    harness.handshake(bob)
    keys = harness.sent(MediaKeys)
    harness.outputs = []
    harness.outputs += harness.core.tunnel_closed(1, harness.now)
    (orphaned,) = harness.of(AssociationsOrphaned)
    assert orphaned.count == 2 and not harness.of(EndpointLeft)
    # A rekey while the tunnel is down reaches the endpoints once it is back.
    harness.now += 1
    harness.outputs += harness.core.apply(
        harness.key_distributor.withdraw("design-review", "bob", harness.now), harness.now)
    harness.outputs = []
    harness.now += 1
    harness.open_tunnel(3, peer=OTHER_MD)  # another Media Distributor: not its endpoints
    assert not harness.of(AssociationsAdopted)
    harness.open_tunnel(4)  # the same one, back
    (adopted,) = harness.of(AssociationsAdopted)
    assert adopted.count == 1
    assert harness.sent(MediaKeys) == [keys[0]]  # alice's keys again, on the new tunnel
    harness.now += 2
    out = harness.core.handle_timer(harness.now)  # the EKTKey retransmission, via tunnel 4
    alice.receive(out)
    assert len({e.ekt_spi for e in alice.ekt_keys}) == 3  # first, bob's join, bob's leave


def test_orphans_past_the_grace_period_leave():
    harness = Harness()
    alice, bob = Endpoint(harness, "alice"), Endpoint(harness, "bob")
    harness.handshake(alice)
    harness.handshake(bob)
    harness.outputs = []
    harness.core.tunnel_closed(1, harness.now)
    harness.now += 10.5
    harness.outputs += harness.core.handle_timer(harness.now)
    assert sorted(a.participant_id for a in harness.of(EndpointLeft)) == ["alice", "bob"]
    assert {c.reason for c in harness.of(AssociationClosed)} == {
        "its Media Distributor did not come back"}
    assert harness.core.associations == 0


def test_a_handshake_in_progress_is_dropped_with_its_tunnel():
    harness = Harness()
    alice = Endpoint(harness, "alice")
    harness.outputs += alice.flush()  # ClientHello only
    assert harness.core.associations == 1
    harness.outputs += harness.core.tunnel_closed(1, harness.now)
    assert harness.core.associations == 0
    assert "during the handshake" in harness.of(AssociationClosed)[0].reason


def test_a_malformed_first_message_is_refused():
    harness = Harness()
    association = uuid.uuid4()
    hello_like = bytes([22, 0xFE, 0xFD]) + bytes(8) + (20).to_bytes(2, "big") + bytes(
        [1, 0, 0, 200]) + bytes(16)
    out = harness.core.tunnel_message(1, TunneledDtls(association, hello_like), harness.now)
    refused = [o for o in out if isinstance(o, EndpointRefused)]
    assert refused and "ClientHello" in refused[0].reason
    # A DTLS record that opens no handshake is ignored: no state, no answer.
    alert = bytes([21, 0xFE, 0xFD]) + bytes(8) + (2).to_bytes(2, "big") + b"\x02\x28"
    assert harness.core.tunnel_message(1, TunneledDtls(uuid.uuid4(), alert), harness.now) == []


def test_too_many_handshakes_are_refused():
    harness = Harness()
    harness.core.max_handshaking = 1
    first, second = Endpoint(harness, "a"), Endpoint(harness, "b")
    harness.outputs += first.flush()
    out = second.flush()
    assert any(isinstance(o, EndpointRefused) and "too many" in o.reason for o in out)


def test_five_endpoints_through_a_real_media_distributor_core():
    conference = MemoryConference()
    for name in "abcde":
        conference.add(name)
    conference.run(1.5)
    admitted = [a for a in conference.kd_actions if isinstance(a, EndpointAdmitted)]
    assert [a.participant_id for a in admitted] == list("abcde")
    assert conference.everyone_hears_everyone()


@pytest.mark.parametrize("grace", [-1.0])
def test_misconfiguration_is_refused(grace):
    with pytest.raises(ValueError, match="orphan_grace"):
        KeyDistributorAssociations(Harness().key_distributor, orphan_grace=grace)
