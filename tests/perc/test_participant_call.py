"""ParticipantCall's sans-I/O part: what each SDP exchange means for the media."""

from __future__ import annotations

import pytest

from sipperc.dtls import Identity
from sipperc.perc.participant import SessionParametersError
from sipperc.perc.participant_call import (
    AUDIO_LEVEL_ID,
    MediaUnchanged,
    MediaWaiting,
    RenewAssociation,
    StartMedia,
    media_step,
    participant_offer_answer,
    perc_capabilities,
)
from sipperc.sdp import (
    AUDIO_LEVEL_URI,
    Direction,
    DtlsIdentity,
    MediaSecurityPolicy,
    NegotiatedSession,
    NegotiatedStream,
    OfferAnswer,
    PercRole,
    TlsId,
    TransportAddress,
    parse_sdp,
)

KD = Identity.generate("Design review")
MD = TransportAddress("192.0.2.5", 40000)


def focus_engine(direction=Direction.SENDRECV, md=MD):
    return OfferAnswer(address=md.host, capabilities=[perc_capabilities(direction=direction)],
                       transports=lambda index, kind: md,
                       security=MediaSecurityPolicy.perc_only(),
                       dtls_identity=DtlsIdentity.of_certificate(KD.certificate_der),
                       perc_role=PercRole.FOCUS)


def dial_in(endpoint, focus, kd_tls_id="KeyDistributorTlsId-0001"):
    offer = endpoint.create_offer()
    focus.receive_offer(parse_sdp(str(offer)))
    focus.delegate_dtls(focus.dtls_identity, TlsId(kd_tls_id))
    return endpoint.receive_answer(parse_sdp(str(focus.local_description)))


def test_the_offer_is_a_perc_endpoint_offer_with_the_audio_level():
    engine = participant_offer_answer(Identity.generate("alice"),
                                      TransportAddress("198.51.100.9", 6000))
    offer = engine.create_offer()
    media = offer.media[0]
    assert media.proto == "UDP/TLS/RTP/SAVP"
    assert offer.setup_of(media).value == "actpass"
    assert media.tls_id is not None and media.perc.role is PercRole.ENDPOINT
    assert [(e.id, e.uri) for e in media.extmaps] == [(AUDIO_LEVEL_ID, AUDIO_LEVEL_URI)]
    assert [media.rtpmap(f).encoding_name for f in media.formats] == \
        ["opus", "PCMU", "telephone-event"]


def test_the_first_exchange_starts_the_media_with_the_answers_values():
    endpoint = participant_offer_answer(Identity.generate("alice"),
                                        TransportAddress("198.51.100.9", 6000))
    step = media_step(None, dial_in(endpoint, focus_engine()))
    assert isinstance(step, StartMedia)
    assert step.session.media_distributor == ("192.0.2.5", 40000)
    assert step.session.key_distributor_tls_id == b"KeyDistributorTlsId-0001"
    assert step.session.audio_level_id == AUDIO_LEVEL_ID
    assert step.media.send_format.encoding_name == "opus"


def test_a_new_key_distributor_tls_id_renews_and_the_same_one_changes_nothing():
    endpoint = participant_offer_answer(Identity.generate("alice"),
                                        TransportAddress("198.51.100.9", 6000))
    focus = focus_engine()
    started = media_step(None, dial_in(endpoint, focus))
    assert isinstance(started, StartMedia)
    # The same SDP again (a session refresh): nothing to do.
    reoffer = endpoint.create_offer()
    again = endpoint.receive_answer(parse_sdp(str(
        focus.receive_offer(parse_sdp(str(reoffer))).description)))
    assert isinstance(media_step(started.session, again), MediaUnchanged)
    # A Key Distributor restart: the focus answers with a new tls-id.
    focus.delegate_dtls(focus.dtls_identity, TlsId("KeyDistributorTlsId-0002"))
    reoffer = endpoint.create_offer()
    renewed = endpoint.receive_answer(parse_sdp(str(
        focus.receive_offer(parse_sdp(str(reoffer))).description)))
    step = media_step(started.session, renewed)
    assert isinstance(step, RenewAssociation)
    assert step.session.key_distributor_tls_id == b"KeyDistributorTlsId-0002"
    assert step.session.local_tls_id == started.session.local_tls_id


def test_an_inactive_stream_waits():
    # A focus dialling out offers the stream inactive until the Key Distributor accepted us.
    endpoint = participant_offer_answer(Identity.generate("bob"),
                                        TransportAddress("198.51.100.9", 6002))
    focus = focus_engine(Direction.INACTIVE)
    answer = endpoint.receive_offer(parse_sdp(str(focus.create_offer())))
    assert isinstance(media_step(None, answer.negotiated), MediaWaiting)


def test_an_unusable_exchange_is_an_error_naming_why():
    offer = participant_offer_answer(Identity.generate("carol"),
                                     TransportAddress("198.51.100.9", 6004)).create_offer()
    rejected = NegotiatedSession(offer, offer, (
        NegotiatedStream(0, "audio", False, "rejected by the answerer"),))
    with pytest.raises(SessionParametersError, match="rejected by the answerer"):
        media_step(None, rejected)
