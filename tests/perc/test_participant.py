"""The PERC participant: keyed through the Key Distributor, media through the Media Distributor.

Most scenarios run the real cores wired in memory (tests.perc.memory_conference); the proofs
about who can decrypt what take the view of a Media Distributor colluding with a participant:
every hop-by-hop key, every packet it relayed, and the participant's EKT keys.
"""

from __future__ import annotations

import os

import pytest

from sipperc.dtls import Fingerprint, Identity
from sipperc.media.rtp_session import SourceJoined
from sipperc.perc.key_distributor import EndpointRefused, Rekeyed, RekeyReason
from sipperc.perc.participant import (
    AssociationEstablished,
    AssociationLost,
    EKTKeyInstalled,
    PercSessionParameters,
    PercStatistics,
    SessionParametersError,
    negotiated_media,
)
from sipperc.perc.policy import EKTPolicy, RekeyPolicy
from sipperc.perc.tunnel_messages import MediaKeys
from sipperc.sdp import (
    Codec,
    DtlsIdentity,
    ExtMap,
    MediaCapabilities,
    MediaSecurityPolicy,
    OfferAnswer,
    PercRole,
    TransportAddress,
    parse_sdp,
)
from sipperc.sdp.attributes import AUDIO_LEVEL_URI
from sipperc.srtp import EKTParameterSet, EKTSession, Profile, SrtpError, SrtpSession
from sipperc.srtp.ekt import split_ekt_field
from tests.perc.memory_conference import MemoryConference, policy

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM


def full_field_spis(conference, peer, since):
    """The SPIs of the Full EKT fields ``peer`` sent after ``since``."""
    spis = set()
    for address, data, when in conference.md_inbound:
        if address == peer.address and when >= since and 128 <= data[0] <= 191 \
                and not 192 <= data[1] <= 223:
            _, _, full = split_ekt_field(data)
            if full is not None:
                spis.add(full.spi)
    return spis


def media_keys_of(conference, peer):
    """The MediaKeys the Media Distributor got for ``peer`` (its latest association)."""
    association = conference.md._rooms["design-review"].endpoints[peer.address].association
    found = [m for direction, m in conference.tunnel_log
             if direction == "to-md" and isinstance(m, MediaKeys)
             and m.association_id == association]
    return found[-1]


class Adversary:
    """A Media Distributor colluding with a participant: decrypts what it can of one sender.

    It holds the sender's hop-by-hop key (from MediaKeys) and every EKT parameter set the
    participant was given; it learns media keys only from Full EKT fields it can unwrap.
    """

    def __init__(self, sender_keys: MediaKeys, victim_events, victim_audit, now):
        inner_key, inner_salt = os.urandom(16), os.urandom(12)
        receiver = SrtpSession(DOUBLE_128,
                               master_key=inner_key + sender_keys.client_write_master_key,
                               master_salt=inner_salt + sender_keys.client_write_master_salt)
        sender = SrtpSession(DOUBLE_128, master_key=os.urandom(32), master_salt=os.urandom(24))
        self.ekt = EKTSession(sender, receiver)
        installed = [e for e in victim_events if isinstance(e, EKTKeyInstalled)]
        assert len(installed) == len(victim_audit.ekt_keys)
        for event, key, salt in zip(installed, victim_audit.ekt_keys, victim_audit.shared_salts,
                                    strict=True):
            self.ekt.install(EKTParameterSet(key, salt, event.spi, event.ttl, event.cipher,
                                             received_at=now), now)

    def decrypts(self, packets, now):
        opened = 0
        for packet in packets:
            try:
                self.ekt.unprotect(packet, now)
                opened += 1
            except SrtpError:
                pass
        return opened


def rtp_from(conference, peer, start, end):
    return [data for address, data, when in conference.md_inbound
            if address == peer.address and start <= when < end and 128 <= data[0] <= 191
            and not 192 <= data[1] <= 223]


# -- the basics -----------------------------------------------------------------------------------


def test_five_participants_each_decode_every_other_one():
    conference = MemoryConference()
    for name in "abcde":
        conference.add(name)
    conference.run(2.0)
    assert conference.everyone_hears_everyone()
    for peer in conference.peers.values():
        kinds = [type(e) for e in peer.events]
        assert kinds[0] is AssociationEstablished
        assert EKTKeyInstalled in kinds
        joined = {e.ssrc for e in peer.events if isinstance(e, SourceJoined)}
        assert joined == {p.ssrc for p in conference.peers.values() if p is not peer}
    spis = {peer.participant.spi for peer in conference.peers.values()}
    assert len(spis) == 1  # everyone on the same (latest) EKT key


def test_the_media_distributor_gets_only_the_outer_halves():
    conference = MemoryConference()
    peer = conference.add("a")
    conference.run(0.2)
    keys = media_keys_of(conference, peer)
    audit = peer.participant.key_audit()
    assert len(keys.client_write_master_key) == 16 and len(keys.client_write_master_salt) == 12
    # The inner halves of the DTLS export never travel to the Media Distributor, nor does
    # any end-to-end key.
    tunnel_bytes = b"".join(repr(m).encode() + getattr(m, "client_write_master_key", b"")
                            + getattr(m, "server_write_master_key", b"")
                            for _, m in conference.tunnel_log)
    for secret in audit.dtls_inner_halves + audit.sender_keys + audit.ekt_keys:
        assert secret not in tunnel_bytes


def test_the_statistics_event_reports_media_and_keys():
    conference = MemoryConference()
    a = conference.add("a", statistics_interval=1.0)
    conference.add("b")
    conference.run(1.5)
    reports = [e for e in a.events if isinstance(e, PercStatistics)]
    assert reports, "a statistics event every second"
    last = a.participant.statistics()
    assert last.keyed and last.spi == a.participant.spi and last.associations == 1
    assert last.media.send.packets_sent > 50
    assert [r.ssrc for r in last.media.receive] == [conference.peers["b"].ssrc]
    # The Media Distributor's regenerated receiver reports reach us: our loss is known.
    assert last.media.send.remote_fraction_lost == 0.0


# -- keys: join, leave, who can decrypt what ------------------------------------------------------


def test_a_join_gives_every_sender_a_new_spi_and_a_new_media_key():
    conference = MemoryConference()
    for name in "abc":
        conference.add(name)
    conference.run(1.0)
    before = {name: (p.participant.spi, len(p.participant.key_audit().sender_keys))
              for name, p in conference.peers.items()}
    joined_at = conference.now
    conference.add("d")
    conference.run(1.0)
    rekeys = [a for a in conference.kd_actions if isinstance(a, Rekeyed)]
    assert rekeys[-1].reason is RekeyReason.JOIN and rekeys[-1].recipients == 4
    new_spi = rekeys[-1].spi
    for name in "abc":
        peer = conference.peers[name]
        old_spi, old_keys = before[name]
        assert peer.participant.spi == new_spi != old_spi
        keys = peer.participant.key_audit().sender_keys
        assert len(keys) == old_keys + 1 and keys[-1] not in keys[:-1]
        # On the wire: its Full EKT fields now carry the new SPI.
        assert new_spi in full_field_spis(conference, peer, joined_at)
    assert conference.everyone_hears_everyone()


def test_a_leaver_cannot_decrypt_what_is_sent_after_the_rekey():
    conference = MemoryConference()
    for name in "abcd":
        conference.add(name)
    conference.run(1.0)
    leaver = conference.peers["d"]
    audit = leaver.participant.key_audit()
    events = list(leaver.events)
    senders = [conference.peers[n] for n in "abc"]
    keys = {p.name: media_keys_of(conference, p) for p in senders}
    left_at = conference.now
    conference.remove("d")
    rekeys = [a for a in conference.kd_actions if isinstance(a, Rekeyed)]
    assert rekeys[-1].reason is RekeyReason.LEAVE
    conference.run(1.5)
    assert conference.everyone_hears_everyone()
    for sender in senders:
        adversary = Adversary(keys[sender.name], events, audit, conference.now)
        # Positive control: what was sent while the leaver was in is readable to it...
        assert adversary.decrypts(rtp_from(conference, sender, left_at - 0.6, left_at),
                                  conference.now) >= 25
        # ...and nothing protected under the media keys made for the new EKT key is (the
        # first 250 ms after the rekey still use the old key, RFC 8870 §4.3.1).
        after = rtp_from(conference, sender, left_at + 0.3, conference.now)
        assert len(after) >= 50
        assert adversary.decrypts(after, conference.now) == 0


def test_a_joiner_cannot_decrypt_what_was_sent_before_it_joined():
    conference = MemoryConference()
    for name in "abc":
        conference.add(name)
    conference.run(1.0)
    joined_at = conference.now
    joiner = conference.add("d")
    conference.run(1.5)
    assert conference.everyone_hears_everyone()
    audit = joiner.participant.key_audit()
    for sender in (conference.peers[n] for n in "abc"):
        adversary = Adversary(media_keys_of(conference, sender), joiner.events, audit,
                              conference.now)
        before = rtp_from(conference, sender, joined_at - 1.0, joined_at)
        assert len(before) >= 40
        assert adversary.decrypts(before, conference.now) == 0
        # Positive control: what was sent under the new key after the join is readable.
        assert adversary.decrypts(rtp_from(conference, sender, joined_at + 0.3,
                                           conference.now), conference.now) >= 50


def test_a_wrong_fingerprint_is_refused_and_never_keyed():
    conference = MemoryConference()
    conference.add("a")
    impostor = conference.add("mallory", announced_fingerprint=Identity.generate("x").fingerprint)
    conference.run(1.0)
    refused = [a for a in conference.kd_actions if isinstance(a, EndpointRefused)]
    assert refused and "DTLS handshake failed" in refused[0].reason
    assert impostor.participant.spi is None and not impostor.participant.keyed
    assert not any(isinstance(e, EKTKeyInstalled) for e in impostor.events)
    assert any(isinstance(e, AssociationLost) for e in impostor.events)
    assert "198.51.100.2:5001" not in conference.md.members("design-review")


# -- keeping keyed ------------------------------------------------------------------------------


def test_media_distributor_restart_recovers_without_new_handshakes():
    conference = MemoryConference()
    for name in "abc":
        conference.add(name)
    conference.run(1.0)
    restarted_at = conference.now
    conference.restart_md()
    conference.run(1.0)
    assert conference.everyone_hears_everyone()
    assert conference.md.statistics(conference.now).recovered_bindings == 3
    for peer in conference.peers.values():
        assert peer.participant.statistics().associations == 1
    assert conference.now - restarted_at <= 1.0 + 1e-6


def test_a_renewed_association_keeps_media_flowing_and_is_not_a_join():
    conference = MemoryConference()
    for name in "abc":
        conference.add(name)
    conference.run(1.0)
    spi = conference.peers["a"].participant.spi
    rekeys = len([a for a in conference.kd_actions if isinstance(a, Rekeyed)])
    conference.peers["a"].participant.renew_association(conference.now)
    conference.run(1.0)
    assert conference.everyone_hears_everyone()
    assert conference.peers["a"].participant.statistics().associations == 2
    assert len([a for a in conference.kd_actions if isinstance(a, Rekeyed)]) == rekeys
    assert conference.peers["b"].participant.spi == spi
    # The superseded association was ended at the Key Distributor, no departure counted.
    assert conference.kd.associations == 3


def test_a_lost_media_distributor_makes_the_participant_handshake_again():
    conference = MemoryConference(orphan_grace=0.0)
    conference.add("a", hop_timeout=2.0)
    conference.add("b", hop_timeout=2.0)
    conference.run(1.0)
    conference.restart_md()  # with no grace the Key Distributor forgets; nothing to re-adopt
    conference.run(4.0)
    lost = [e for e in conference.peers["a"].events if isinstance(e, AssociationLost)]
    assert lost and "nothing authenticated" in lost[0].reason
    assert conference.peers["a"].participant.statistics().associations == 2
    conference.run(1.0)
    assert conference.everyone_hears_everyone()


def test_nothing_is_sent_before_the_ekt_key_arrives():
    conference = MemoryConference()
    peer = conference.add("a", start=False)
    conference.run(0.2)
    assert not conference.md_inbound
    assert peer.participant.statistics().frames_not_sent == 10
    peer.participant.start(conference.now)
    conference.run(0.2)
    assert peer.participant.keyed


# -- what the SIP layer hands over --------------------------------------------------------------


AUDIO = MediaCapabilities("audio", (Codec("PCMU", 8000, payload_type=0),
                                    Codec("opus", 48000, 2, "useinbandfec=1", 111)),
                          ptime=20, extmaps=(ExtMap(3, AUDIO_LEVEL_URI),))


def sdp_engine(identity, host, port, role):
    return OfferAnswer(address=host, capabilities=[AUDIO],
                       security=MediaSecurityPolicy.perc_only(),
                       transports=lambda index, kind: TransportAddress(host, port),
                       dtls_identity=DtlsIdentity.of_certificate(identity.certificate_der),
                       perc_role=role)


def test_session_parameters_come_straight_from_the_sdp_exchange():
    endpoint_identity, kd_identity = Identity.generate("ep"), Identity.generate("kd")
    endpoint = sdp_engine(endpoint_identity, "198.51.100.9", 6000, PercRole.ENDPOINT)
    focus = sdp_engine(kd_identity, "192.0.2.5", 40000, PercRole.FOCUS)
    offer = endpoint.create_offer()
    answer = focus.receive_offer(parse_sdp(str(offer)))
    negotiated = endpoint.receive_answer(parse_sdp(str(answer.description)))
    stream = negotiated.streams[0]
    session = PercSessionParameters.from_negotiated_stream(stream)
    assert session.media_distributor == ("192.0.2.5", 40000)
    assert session.key_distributor_fingerprints == (Fingerprint.parse(kd_identity.fingerprint),)
    assert session.local_tls_id == stream.security.local_tls_id.value.encode()
    assert session.key_distributor_tls_id == stream.security.remote_tls_id.value.encode()
    assert session.profiles == (DOUBLE_128, Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM)
    assert session.audio_level_id == 3
    media = negotiated_media(stream)
    assert media.send_format.encoding_name == "PCMU" and media.ptime == 0.02


def test_session_parameters_refuse_what_is_not_a_perc_client_stream():
    endpoint_identity, kd_identity = Identity.generate("ep"), Identity.generate("kd")
    focus = sdp_engine(kd_identity, "192.0.2.5", 40000, PercRole.FOCUS)
    endpoint = sdp_engine(endpoint_identity, "198.51.100.9", 6000, PercRole.ENDPOINT)
    offer = focus.create_offer()  # the focus offers: it is the DTLS server, we the client
    answer = endpoint.receive_offer(parse_sdp(str(offer)))
    at_focus = focus.receive_answer(parse_sdp(str(answer.description))).streams[0]
    with pytest.raises(SessionParametersError, match="DTLS client"):
        PercSessionParameters.from_negotiated_stream(at_focus)
    with pytest.raises(SessionParametersError, match="double profiles"):
        PercSessionParameters(("192.0.2.5", 4000), (Fingerprint.parse(kd_identity.fingerprint),),
                              b"k" * 20, b"l" * 20, profiles=(Profile.AEAD_AES_128_GCM,))


def test_periodic_rekeys_are_followed_without_a_gap():
    conference = MemoryConference(conference_policy=policy(
        rekey=RekeyPolicy(interval=2.0), ekt=EKTPolicy(ttl=10)))
    for name in "abc":
        conference.add(name)
    conference.run(1.0)
    first = conference.peers["a"].participant.spi
    conference.run(2.5)
    reasons = [a.reason for a in conference.kd_actions if isinstance(a, Rekeyed)]
    assert RekeyReason.PERIODIC in reasons
    assert {p.participant.spi for p in conference.peers.values()} != {first}
    assert conference.everyone_hears_everyone(frames=10)


@pytest.mark.slow
def test_soak_ten_minutes_of_churn_rekeys_and_restarts():
    """Ten simulated minutes: people come and go, keys roll every 30 s, servers restart."""
    conference = MemoryConference(silence_timeout=5.0, conference_policy=policy(
        rekey=RekeyPolicy(interval=30.0), ekt=EKTPolicy(ttl=60)))
    for name in "abcd":
        conference.add(name)
    joined = 4
    for minute in range(10):
        conference.run(20.0)
        assert conference.everyone_hears_everyone(), f"minute {minute}"
        conference.remove(sorted(conference.peers)[0])
        conference.add(f"p{joined}")
        joined += 1
        conference.run(20.0)
        if minute % 3 == 1:
            conference.restart_md()
        if minute % 4 == 2:
            conference.silence(sorted(conference.peers)[-1])
            conference.add(f"p{joined}")
            joined += 1
        conference.run(20.0)
        assert conference.everyone_hears_everyone(), f"minute {minute}, after churn"
    spis = {a.spi for a in conference.kd_actions if isinstance(a, Rekeyed)}
    assert len(spis) >= 30


def test_media_distributor_restart_after_the_streams_wrapped():
    """A restarted Media Distributor knows no roll-over counter: it finds the senders' ROC
    by trial, and receivers whose streams it restarts at ROC 0 renew their association."""
    conference = MemoryConference()
    for name in "abc":
        peer = conference.add(name, start=False)
        peer.participant.rtp.send_stream._sequence = 65500  # a wrap 0.7 s from now
        peer.participant.start(conference.now)
    conference.run(3.0)
    assert all(p.participant.transform.ekt.sender.ekt_roc(p.ssrc) == 1
               for p in conference.peers.values())
    restarted = conference.now
    conference.restart_md()
    while True:
        for peer in conference.peers.values():
            peer.heard.clear()
        conference.run(0.6)
        if conference.everyone_hears_everyone():
            break
        assert conference.now - restarted < 5.0, "media not back within 5 s"
    assert conference.md.statistics(conference.now).recovered_bindings == 3
    renewed = [p.participant.statistics().associations for p in conference.peers.values()]
    assert renewed == [2, 2, 2]
    lost = [e.reason for p in conference.peers.values() for e in p.events
            if isinstance(e, AssociationLost)]
    assert all("refused hop-by-hop" in reason for reason in lost)


def test_a_renewal_after_the_stream_wrapped_keeps_every_layer_in_step():
    """New hop-by-hop keys restart the outer ROC at both ends; the inner one goes on."""
    conference = MemoryConference()
    for name in "abc":
        peer = conference.add(name, start=False)
        peer.participant.rtp.send_stream._sequence = 65500
        peer.participant.start(conference.now)
    conference.run(3.0)
    a = conference.peers["a"]
    a.participant.renew_association(conference.now)
    conference.run(0.5)
    for peer in conference.peers.values():
        peer.heard.clear()
    conference.run(1.0)
    assert conference.everyone_hears_everyone()
    sender = a.participant.transform.ekt.sender
    assert (sender.roc(a.ssrc), sender.ekt_roc(a.ssrc)) == (0, 1)
    assert not any(isinstance(e, AssociationLost) for e in a.events)
