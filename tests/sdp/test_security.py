"""Media security negotiation: plain RTP, SDES, DTLS-SRTP and PERC, and the policies."""

import dataclasses
from pathlib import Path

import pylibsrtp
import pytest

from sipperc.sdp import (
    Answer,
    AnswerRefused,
    Codec,
    DtlsIdentity,
    DtlsRole,
    DtlsSrtp,
    Fingerprint,
    MediaCapabilities,
    MediaSecurityPolicy,
    NegotiatedSession,
    OfferAnswer,
    OfferRefused,
    PercRole,
    PlainRtp,
    SdesSrtp,
    SecurityMechanism,
    Setup,
    TlsId,
    TransportAddress,
    parse_sdp,
)
from sipperc.sdp.security import classify
from sipperc.srtp import Profile

CORPUS = Path(__file__).parent / "corpus"
OPUS = Codec("opus", 48000, 2, "useinbandfec=1", 111)
PCMU = Codec("PCMU", 8000, payload_type=0)
DTMF = Codec("telephone-event", 8000, fmtp="0-16", payload_type=101)
AUDIO = MediaCapabilities("audio", (OPUS, PCMU, DTMF), ptime=20)
ENDPOINT_CERT = DtlsIdentity.of_certificate(b"endpoint certificate")
KD_CERT = DtlsIdentity((Fingerprint.of_certificate(b"key distributor", "sha-384"),
                        Fingerprint.of_certificate(b"key distributor", "sha-256")))


def engine(policy, host="192.0.2.1", port=40000, identity=ENDPOINT_CERT, **kw):
    return OfferAnswer(address=host, capabilities=[AUDIO], security=policy,
                       transports=lambda index, kind: TransportAddress(host, port + 2 * index),
                       dtls_identity=identity, **kw)


def endpoint(policy=None, **kw):
    return engine(policy or MediaSecurityPolicy.perc_only(), **kw)


def focus(policy=None, identity=KD_CERT, **kw):
    # The focus answers with the Media Distributor's address and the Key Distributor's
    # fingerprints (perc.md §6).
    return engine(policy or MediaSecurityPolicy.perc_only(), host="198.51.100.7", port=50000,
                  identity=identity, perc_role=PercRole.FOCUS, **kw)


def attribute_lines(media):
    return [str(a) for a in media.attributes]


def names(media):
    return [a.name for a in media.attributes]


def roundtrip(offerer, answerer):
    offer = offerer.create_offer()
    outcome = answerer.receive_offer(parse_sdp(str(offer)))
    assert isinstance(outcome, Answer), outcome
    result = offerer.receive_answer(parse_sdp(str(outcome.description)))
    assert isinstance(result, NegotiatedSession), result
    return offer, outcome, result


# --- Classification and policies -----------------------------------------------------------


@pytest.mark.parametrize(("name", "mechanism"), [
    ("baresip_dtls_offer.sdp", SecurityMechanism.DTLS_SRTP),
    ("baresip_sdes_offer.sdp", SecurityMechanism.SDES),
    ("pjsua2_sdes_offer.sdp", SecurityMechanism.SDES),
])
def test_real_offers_are_classified(name, mechanism):
    sdp = parse_sdp((CORPUS / name).read_bytes())
    assert classify(sdp, sdp.media[0]) == (mechanism, "")


def test_srtp_without_keying_is_not_usable():
    sdp = parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/SAVP 0\r\n")
    mechanism, why = classify(sdp, sdp.media[0])
    assert mechanism is None and "no way to key SRTP" in why


def test_policies_validate_themselves():
    with pytest.raises(ValueError, match="does not accept"):
        MediaSecurityPolicy(SecurityMechanism.SDES, frozenset({SecurityMechanism.PLAIN}))
    with pytest.raises(ValueError, match="double"):
        MediaSecurityPolicy(SecurityMechanism.PERC, frozenset({SecurityMechanism.PERC}),
                            perc_profiles=(Profile.AEAD_AES_128_GCM,))
    with pytest.raises(ValueError, match="SDES suite"):
        MediaSecurityPolicy(SecurityMechanism.SDES, frozenset({SecurityMechanism.SDES}),
                            sdes_profiles=(Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,))
    with pytest.raises(ValueError, match="dtls_identity"):
        OfferAnswer(address="h", capabilities=[AUDIO], security=MediaSecurityPolicy.perc_only(),
                    transports=lambda i, k: TransportAddress("h", 1))
    assert MediaSecurityPolicy.bridge_anything().accept == frozenset(SecurityMechanism)
    assert SecurityMechanism.PLAIN not in MediaSecurityPolicy.encrypted().accept


@pytest.mark.parametrize("policy", [
    MediaSecurityPolicy.plain_only(),
    MediaSecurityPolicy.bridge_anything(SecurityMechanism.SDES),
    MediaSecurityPolicy.encrypted(SecurityMechanism.DTLS_SRTP),
    MediaSecurityPolicy.perc_only(),
], ids=["plain", "sdes", "dtls", "perc"])
def test_each_mechanism_negotiates_between_two_sipperc_engines(policy):
    _, answer, result = roundtrip(endpoint(policy), focus(policy))
    ours, theirs = result.streams[0].security, answer.negotiated.streams[0].security
    assert ours.mechanism is theirs.mechanism is policy.offer


def test_plain_offer_is_refused_by_an_encrypted_only_answerer():
    outcome = focus(MediaSecurityPolicy.encrypted()).receive_offer(
        endpoint(MediaSecurityPolicy.plain_only()).create_offer())
    assert isinstance(outcome, OfferRefused)
    assert outcome.status_code == 488 and outcome.warning_code == 302
    assert "plain media is not accepted here" in outcome.reason


def test_bridge_anything_answers_every_real_offer():
    for path in sorted(CORPUS.glob("*_offer.sdp")):
        outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(
            parse_sdp(path.read_bytes()))
        assert isinstance(outcome, Answer), (path.name, outcome)


# --- SDES ----------------------------------------------------------------------------------


def test_sdes_offer_lists_every_suite_with_fresh_keys():
    offer = engine(MediaSecurityPolicy.bridge_anything()).create_offer()
    media = offer.media[0]
    assert media.proto == "RTP/SAVP"
    assert [(c.tag, c.suite) for c in media.crypto] == [
        (1, "AEAD_AES_256_GCM"), (2, "AEAD_AES_128_GCM"), (3, "AES_CM_128_HMAC_SHA1_80"),
        (4, "AES_CM_128_HMAC_SHA1_32")]
    keys = [c.keys[0].key_salt for c in media.crypto]
    assert [len(k) for k in keys] == [44, 28, 30, 30]
    assert len(set(keys)) == 4
    again = engine(MediaSecurityPolicy.bridge_anything()).create_offer()
    assert not {c.keys[0].key_salt for c in again.media[0].crypto} & set(keys)


def protect_and_unprotect(sender, receiver):
    """Protect with one side's key and unprotect with the other's, in libsrtp."""
    profiles = {
        Profile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        Profile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
        Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
        Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    }

    def session(key, direction):
        return pylibsrtp.Session(pylibsrtp.Policy(
            key=key.master_key + key.master_salt, ssrc_type=direction,
            srtp_profile=profiles[key.profile]))

    rtp = bytes.fromhex("8000 0001 00000000 12345678") + b"voice" * 20
    protected = session(sender, pylibsrtp.Policy.SSRC_ANY_OUTBOUND).protect(rtp)
    assert protected != rtp
    return session(receiver, pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect(protected) == rtp


@pytest.mark.parametrize("profile", [Profile.AES_CM_128_HMAC_SHA1_80,
                                     Profile.AES_CM_128_HMAC_SHA1_32,
                                     Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM])
def test_sdes_keys_work_in_libsrtp_in_both_directions(profile):
    policy = dataclasses.replace(MediaSecurityPolicy.bridge_anything(),
                                 sdes_profiles=(profile,))
    _, answer, result = roundtrip(engine(policy), engine(policy, host="192.0.2.2"))
    ours, theirs = result.streams[0].security, answer.negotiated.streams[0].security
    assert isinstance(ours, SdesSrtp) and isinstance(theirs, SdesSrtp)
    assert ours.profile is theirs.profile is profile
    assert protect_and_unprotect(ours.local_key, theirs.remote_key)
    assert protect_and_unprotect(theirs.local_key, ours.remote_key)
    assert "bytes>" in repr(ours) and repr(ours.local_key.master_key) not in repr(ours)


def test_sdes_answer_to_pjsua2_picks_the_first_suite_sipperc_has():
    offer = parse_sdp((CORPUS / "pjsua2_sdes_offer.sdp").read_bytes())
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(offer)
    (crypto,) = outcome.description.media[0].crypto
    # pjsua2 prefers AES_256_CM (tags 1, 2), which is not one of sipperc's four profiles.
    assert (crypto.tag, crypto.suite) == (3, "AES_CM_128_HMAC_SHA1_80")
    security = outcome.negotiated.streams[0].security
    assert security.remote_key.master_key + security.remote_key.master_salt == \
        offer.media[0].crypto[2].keys[0].key_salt
    assert outcome.description.media[0].proto == "RTP/SAVP"


def test_sdes_answer_to_baresip_has_exactly_the_expected_attributes():
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(
        parse_sdp((CORPUS / "baresip_sdes_offer.sdp").read_bytes()))
    media = outcome.description.media[0]
    assert names(media) == ["rtpmap", "rtpmap", "fmtp", "rtpmap", "fmtp", "ptime", "sendrecv",
                            "crypto"]
    assert media.formats == ("0", "96", "101")  # baresip's order and numbers
    assert media.crypto[0].tag == 1 and len(media.crypto[0].keys[0].key_salt) == 30


def test_sdes_lines_with_unsupported_session_parameters_are_skipped():
    text = (CORPUS / "baresip_sdes_offer.sdp").read_text().replace(
        "inline:Qs25tLfihgqxjWcD83xyMlcFSUhLx1aCfJCBD5jv",
        "inline:Qs25tLfihgqxjWcD83xyMlcFSUhLx1aCfJCBD5jv UNENCRYPTED_SRTP")
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(parse_sdp(text))
    assert isinstance(outcome, OfferRefused)
    assert "UNENCRYPTED_SRTP not supported" in outcome.reason and outcome.warning_code == 306
    hint = text.replace(" UNENCRYPTED_SRTP", " WSH=128 -FUTURE_PARAM")
    assert isinstance(engine(MediaSecurityPolicy.bridge_anything()).receive_offer(
        parse_sdp(hint)), Answer)


def test_sdes_keys_stay_across_refreshes_and_change_on_rekey():
    a, b = engine(MediaSecurityPolicy.bridge_anything()), engine(
        MediaSecurityPolicy.bridge_anything(), host="192.0.2.2")
    first, answer, _ = roundtrip(a, b)
    refresh = a.create_offer()
    assert str(refresh) == str(first)  # same keys, same version (RFC 4568 §7.1.4)
    again = b.receive_offer(refresh)
    assert str(again.description) == str(answer.description)
    a.receive_answer(again.description)
    a.rekey()
    rekeyed = a.create_offer()
    assert rekeyed.origin.session_version == first.origin.session_version + 1
    old = {c.keys[0].key_salt for c in first.media[0].crypto}
    assert not old & {c.keys[0].key_salt for c in rekeyed.media[0].crypto}
    new_answer = b.receive_offer(rekeyed)
    assert new_answer.description.media[0].crypto != answer.description.media[0].crypto


def test_sdes_answer_with_an_unoffered_tag_is_refused():
    a = engine(MediaSecurityPolicy.bridge_anything())
    offer = a.create_offer()
    answer = engine(MediaSecurityPolicy.bridge_anything(), host="192.0.2.2").receive_offer(offer)
    forged = str(answer.description).replace("a=crypto:1 ", "a=crypto:7 ")
    refused = a.receive_answer(parse_sdp(forged))
    assert isinstance(refused, AnswerRefused) and "does not match an offered one" in \
        refused.reason


# --- DTLS-SRTP -----------------------------------------------------------------------------


def test_dtls_answer_to_baresip_is_active_with_our_fingerprint_and_tls_id():
    offer = parse_sdp((CORPUS / "baresip_dtls_offer.sdp").read_bytes())
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(offer)
    media = outcome.description.media[0]
    assert media.proto == "UDP/TLS/RTP/SAVPF"
    assert names(media)[-3:] == ["setup", "fingerprint", "tls-id"]
    assert media.setup is Setup.ACTIVE  # RFC 5763 §5 recommends active
    assert media.fingerprints == ENDPOINT_CERT.fingerprints
    assert "crypto" not in names(media) and "sipperc-perc" not in names(media)
    security = outcome.negotiated.streams[0].security
    assert isinstance(security, DtlsSrtp)
    assert security.role is DtlsRole.CLIENT and security.new_association
    assert security.remote_fingerprints == offer.fingerprints
    assert security.remote_tls_id is None
    assert security.profiles == MediaSecurityPolicy.bridge_anything().dtls_profiles


@pytest.mark.parametrize(("setup", "role"), [("active", DtlsRole.SERVER),
                                             ("passive", DtlsRole.CLIENT),
                                             ("actpass", DtlsRole.CLIENT)])
def test_dtls_answer_role_follows_the_offer(setup, role):
    text = (CORPUS / "baresip_dtls_offer.sdp").read_text().replace("setup:actpass",
                                                                   f"setup:{setup}")
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(parse_sdp(text))
    assert outcome.negotiated.streams[0].security.role is role
    assert outcome.description.media[0].setup is role.setup


def test_dtls_offer_and_role_from_the_answer():
    a = engine(MediaSecurityPolicy.encrypted())
    offer = a.create_offer()
    media = offer.media[0]
    assert media.proto == "UDP/TLS/RTP/SAVP"
    assert media.setup is Setup.ACTPASS and media.tls_id is not None
    assert names(media)[-3:] == ["setup", "fingerprint", "tls-id"]
    answer = engine(MediaSecurityPolicy.encrypted(), host="192.0.2.2").receive_offer(offer)
    text = str(answer.description)
    result = a.receive_answer(parse_sdp(text))
    assert result.streams[0].security.role is DtlsRole.SERVER  # the answerer went active
    assert result.streams[0].security.remote_tls_id == answer.description.media[0].tls_id


def test_dtls_answer_with_actpass_is_refused():
    a = engine(MediaSecurityPolicy.encrypted())
    answer = engine(MediaSecurityPolicy.encrypted(), host="192.0.2.2").receive_offer(
        a.create_offer())
    bad = str(answer.description).replace("a=setup:active", "a=setup:actpass")
    refused = a.receive_answer(parse_sdp(bad))
    assert isinstance(refused, AnswerRefused) and "active or passive" in refused.reason
    assert a.state.value == "local-offer"  # still waiting for a usable answer


def test_md5_only_fingerprints_are_refused():
    text = (CORPUS / "baresip_dtls_offer.sdp").read_text().replace(
        "a=fingerprint:SHA-256 6E:70:CE:37:D4:3D:12:D9:F0:5E:45:87:4C:4E:72:23:3D:9C:9C:EE:58:05:"
        "8D:37:94:BA:4F:0D:73:FA:F4:9E",
        "a=fingerprint:md5 6E:70:CE:37:D4:3D:12:D9:F0:5E:45:87:4C:4E:72:23")
    outcome = engine(MediaSecurityPolicy.bridge_anything()).receive_offer(parse_sdp(text))
    assert isinstance(outcome, OfferRefused) and "RFC 8122" in outcome.reason


def test_tls_id_decides_whether_a_reoffer_starts_a_new_association():
    a = engine(MediaSecurityPolicy.encrypted())
    b = engine(MediaSecurityPolicy.encrypted(), host="192.0.2.2")
    _, first, _ = roundtrip(a, b)
    assert first.negotiated.streams[0].security.new_association
    refresh = b.receive_offer(a.create_offer())
    security = refresh.negotiated.streams[0].security
    assert not security.new_association  # same tls-id: same association (RFC 8842 §5.3)
    assert security.role is first.negotiated.streams[0].security.role
    assert refresh.description.media[0].tls_id == first.description.media[0].tls_id
    result = a.receive_answer(refresh.description)
    assert not result.streams[0].security.new_association
    a.restart_dtls()
    restarted = b.receive_offer(a.create_offer())
    assert restarted.negotiated.streams[0].security.new_association
    assert restarted.description.media[0].tls_id != first.description.media[0].tls_id
    assert a.receive_answer(restarted.description).streams[0].security.new_association


def test_a_peer_without_tls_id_gets_a_new_association_when_its_certificate_changes():
    b = engine(MediaSecurityPolicy.bridge_anything())
    text = (CORPUS / "baresip_dtls_offer.sdp").read_text()
    first = b.receive_offer(parse_sdp(text))
    same = b.receive_offer(parse_sdp(text.replace("750801324", "750801325")))
    assert not same.negotiated.streams[0].security.new_association
    changed = text.replace("750801324", "750801326").replace("6E:70:CE", "6E:70:CF")
    new = b.receive_offer(parse_sdp(changed))
    assert new.negotiated.streams[0].security.new_association
    assert new.description.media[0].tls_id != first.description.media[0].tls_id


# --- PERC ----------------------------------------------------------------------------------


def test_perc_endpoint_offer_has_exactly_the_dtls_attributes_plus_the_marker():
    offer = endpoint().create_offer()
    media = offer.media[0]
    assert media.proto == "UDP/TLS/RTP/SAVP"
    assert attribute_lines(media)[-4:] == ["setup:actpass",
                                             f"fingerprint:{ENDPOINT_CERT.fingerprints[0]}",
                                             f"tls-id:{media.tls_id}", "sipperc-perc:1 endpoint"]
    assert names(media)[-5] == "rtcp-mux"
    assert "crypto" not in names(media)


def test_focus_answers_passive_with_the_md_address_and_kd_fingerprints():
    _, answer, result = roundtrip(endpoint(), focus())
    media = answer.description.media[0]
    assert answer.description.connection.address == "198.51.100.7"  # the MD
    assert media.port == 50000
    assert media.setup is Setup.PASSIVE
    assert media.fingerprints == KD_CERT.fingerprints  # the KD's, both of them
    assert media.perc.role is PercRole.FOCUS
    at_focus = answer.negotiated.streams[0].security
    at_endpoint = result.streams[0].security
    assert at_endpoint.perc and at_focus.perc
    assert at_endpoint.role is DtlsRole.CLIENT and at_focus.role is DtlsRole.SERVER
    assert at_endpoint.remote_perc_role is PercRole.FOCUS
    assert at_focus.remote_perc_role is PercRole.ENDPOINT
    # RFC 8122 §5: the strongest hash first.
    assert [f.hash_function for f in at_endpoint.remote_fingerprints] == ["sha-384", "sha-256"]
    assert at_endpoint.profiles == (Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,
                                    Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM)
    # What the B2BUA must hand the KD: the endpoint's fingerprint and tls-id.
    assert at_focus.remote_fingerprints == ENDPOINT_CERT.fingerprints
    assert at_focus.remote_tls_id == at_endpoint.local_tls_id
    assert at_endpoint.remote_tls_id == at_focus.local_tls_id


def test_focus_offers_passive_and_the_endpoint_answers_active():
    offer, answer, result = roundtrip(focus(), endpoint())
    assert offer.media[0].setup is Setup.PASSIVE
    assert answer.description.media[0].setup is Setup.ACTIVE
    assert answer.description.media[0].perc.role is PercRole.ENDPOINT
    assert result.streams[0].security.role is DtlsRole.SERVER
    assert answer.negotiated.streams[0].security.role is DtlsRole.CLIENT


def test_perc_conference_refuses_a_plain_dtls_offer_with_488():
    offer = parse_sdp((CORPUS / "baresip_dtls_offer.sdp").read_bytes())
    outcome = focus().receive_offer(offer)
    assert isinstance(outcome, OfferRefused) and outcome.status_code == 488
    assert "PERC is required" in outcome.reason


def test_perc_endpoint_offering_passive_cannot_be_the_dtls_client():
    text = str(endpoint().create_offer()).replace("setup:actpass", "setup:passive")
    outcome = focus().receive_offer(parse_sdp(text))
    assert isinstance(outcome, OfferRefused)
    assert "endpoint to be the DTLS client" in outcome.reason


def test_a_legacy_dtls_peer_ignores_the_marker_and_a_bridging_endpoint_accepts():
    # A DTLS-SRTP answerer without PERC (here sipperc with a DTLS-only policy) answers the PERC
    # offer as plain DTLS-SRTP; an endpoint that also accepts DTLS-SRTP takes that answer.
    legacy = engine(MediaSecurityPolicy(SecurityMechanism.DTLS_SRTP, frozenset(
        {SecurityMechanism.DTLS_SRTP})), host="192.0.2.2")
    policy = MediaSecurityPolicy(SecurityMechanism.PERC, frozenset(
        {SecurityMechanism.PERC, SecurityMechanism.DTLS_SRTP}))
    _, answer, result = roundtrip(endpoint(policy), legacy)
    assert "sipperc-perc" not in names(answer.description.media[0])
    security = result.streams[0].security
    assert not security.perc and security.mechanism is SecurityMechanism.DTLS_SRTP
    assert all(not p.is_double for p in security.profiles)
    # A PERC-only endpoint refuses that answer.
    strict = endpoint()
    offer = strict.create_offer()
    refused = strict.receive_answer(legacy.receive_offer(offer).description)
    assert isinstance(refused, AnswerRefused) and "no a=sipperc-perc" in refused.reason


def test_two_perc_endpoints_fall_back_to_dtls_srtp_or_refuse():
    # PERC needs an endpoint and a focus; two endpoints talk ordinary DTLS-SRTP if they may.
    outcome = endpoint(MediaSecurityPolicy.encrypted()).receive_offer(endpoint().create_offer())
    assert outcome.negotiated.streams[0].security.mechanism is SecurityMechanism.DTLS_SRTP
    assert "sipperc-perc" not in names(outcome.description.media[0])
    refused = endpoint().receive_offer(endpoint().create_offer())
    assert isinstance(refused, OfferRefused)
    assert "PERC needs an endpoint and a focus" in refused.reason


def test_focus_answering_active_is_refused_by_the_endpoint():
    ep = endpoint()
    answer = focus().receive_offer(ep.create_offer())
    bad = str(answer.description).replace("setup:passive", "setup:active")
    refused = ep.receive_answer(parse_sdp(bad))
    assert isinstance(refused, AnswerRefused) and "setup:passive" in refused.reason


def test_plain_security_value():
    _, answer, _ = roundtrip(engine(MediaSecurityPolicy.plain_only()),
                             engine(MediaSecurityPolicy.bridge_anything()))
    assert answer.negotiated.streams[0].security == PlainRtp()
    assert answer.description.media[0].proto == "RTP/AVP"


def test_the_answerer_may_prefer_to_be_the_dtls_server():
    offer = parse_sdp((CORPUS / "baresip_dtls_offer.sdp").read_bytes())
    outcome = engine(MediaSecurityPolicy.bridge_anything(),
                     dtls_answer_role=DtlsRole.SERVER).receive_offer(offer)
    assert outcome.description.media[0].setup is Setup.PASSIVE
    assert outcome.negotiated.streams[0].security.role is DtlsRole.SERVER


def test_a_focus_completes_its_answer_with_the_key_distributors_tls_id():
    # The KD picks its tls-id once it knows the endpoint's: after the offer arrived.
    placeholder = DtlsIdentity.of_certificate(b"nothing yet")
    at_endpoint, at_focus = endpoint(), focus(identity=placeholder)
    offer = at_endpoint.create_offer()
    answered = at_focus.receive_offer(parse_sdp(str(offer)))
    assert isinstance(answered, Answer)
    version = answered.description.origin.session_version
    kd_tls_id = TlsId("KeyDistributorPicked-0001")
    at_focus.delegate_dtls(KD_CERT, kd_tls_id)
    answer = at_focus.local_description
    media = answer.media[0]
    assert media.tls_id == kd_tls_id
    assert set(answer.fingerprints_of(media)) == set(KD_CERT.fingerprints)
    assert answer.setup_of(media) is Setup.PASSIVE
    assert answer.origin.session_version == version  # the first text was never sent
    assert at_focus.negotiated.streams[0].security.local_tls_id == kd_tls_id
    negotiated = at_endpoint.receive_answer(parse_sdp(str(answer)))
    security = negotiated.streams[0].security
    assert security.remote_tls_id == kd_tls_id and security.role is DtlsRole.CLIENT
    assert security.perc
    assert set(security.remote_fingerprints) == set(KD_CERT.fingerprints)
    endpoint_tls_id = security.local_tls_id

    # After a KD restart: an offerless re-INVITE. The endpoint offers with its own tls-id
    # unchanged; the focus's answer carries the KD's new one: a new association (RFC 8842 §5).
    renewed = TlsId("KeyDistributorPicked-0002")
    at_focus.delegate_dtls(KD_CERT, renewed)
    reoffer = at_endpoint.create_offer()
    assert reoffer.media[0].tls_id == endpoint_tls_id
    reanswer = at_focus.receive_offer(parse_sdp(str(reoffer)))
    assert reanswer.description.media[0].tls_id == renewed
    again = at_endpoint.receive_answer(parse_sdp(str(reanswer.description))).streams[0]
    assert again.security.remote_tls_id == renewed
    assert again.security.local_tls_id == endpoint_tls_id
    assert again.security.new_association


def test_a_focus_offer_carries_the_delegated_tls_id_and_sent_answers_stay_as_they_were():
    at_focus = focus(identity=DtlsIdentity.of_certificate(b"placeholder"))
    kd_tls_id = TlsId("KeyDistributorPicked-0003")
    at_focus.delegate_dtls(KD_CERT, kd_tls_id)
    offer = at_focus.create_offer()
    assert offer.media[0].tls_id == kd_tls_id
    assert offer.setup_of(offer.media[0]) is Setup.PASSIVE
    # Once an offer of ours went out, the last answer is no longer amendable: nothing changes.
    at_focus.offer_failed()
    at_focus.delegate_dtls(KD_CERT, TlsId("KeyDistributorPicked-0004"))
    assert at_focus.local_description is None
