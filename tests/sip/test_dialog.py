import itertools

import pytest

from sipperc.sip import Address, Parameters, Request, SipUri, parse_message
from sipperc.sip.dialog import (
    TRANSITIONS,
    Dialog,
    DialogId,
    DialogInput,
    DialogState,
    DialogStateError,
    next_hop,
)

ALICE_CONTACT = Address.parse("<sip:alice@192.0.2.1:5060>")
BOB_CONTACT = Address.parse("<sip:bob@192.0.2.2:5062;transport=tcp>")


def invite(*, record_route=(), uri="sip:bob@biloxi.example.com", cseq=314159, from_tag="a1"):
    return Request.build(
        "INVITE", uri,
        from_=f"Alice <sip:alice@atlanta.example.com>;tag={from_tag}",
        to="Bob <sip:bob@biloxi.example.com>",
        call_id="c1@192.0.2.1", cseq=cseq,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
        contact=ALICE_CONTACT,
        headers=[("Record-Route", r) for r in record_route],
    )


def wire(message):
    """What the peer sees: serialized and parsed again, with the Via a transaction adds."""
    if "Via" not in message:
        message = message.prepend("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK2")
    return parse_message(bytes(message))


RR = ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")


# --- creation (RFC 3261 §12.1) ---------------------------------------------------------------


def test_uas_dialog_takes_record_route_in_order_and_the_callers_contact():
    req = wire(invite(record_route=RR))
    d = Dialog.for_uas(req, local_tag="b1", local_contact=BOB_CONTACT, early=True)
    assert d.id == DialogId("c1@192.0.2.1", "b1", "a1")
    assert d.state is DialogState.EARLY and d.early
    assert [str(r.uri) for r in d.route_set] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    assert d.remote_target == ALICE_CONTACT.uri
    assert d.remote_seq == 314159 and d.local_seq is None
    assert d.local.tag == "b1" and d.remote.tag == "a1"
    assert not d.secure
    # What the caller sees of the dialog's requests: its own id, tags swapped.
    bye = wire(d.create_request("BYE"))
    assert DialogId.of_request(bye) == DialogId("c1@192.0.2.1", "a1", "b1")


def test_uac_dialog_reverses_record_route_and_uses_the_response_contact():
    req = invite()
    resp = wire(wire(invite(record_route=RR)).response(180, to_tag="b1", contact=BOB_CONTACT))
    d = Dialog.for_uac(req, resp)
    assert d.id == DialogId("c1@192.0.2.1", "a1", "b1") == DialogId.of_response(resp)
    assert d.early
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert d.remote_target == BOB_CONTACT.uri
    assert d.local_seq == 314159 and d.remote_seq is None
    assert d.local_contact == ALICE_CONTACT


def test_uac_needs_a_to_tag():
    resp = wire(invite()).response(100)
    with pytest.raises(ValueError, match="To tag"):
        Dialog.for_uac(invite(), resp)


def test_2xx_recomputes_the_route_set_of_an_early_dialog():
    req = invite()
    early = wire(wire(invite(record_route=RR)).response(183, to_tag="b1", contact=BOB_CONTACT))
    d = Dialog.for_uac(req, early)
    final_contact = Address.parse("<sip:bob@192.0.2.9>")
    ok = wire(wire(invite(record_route=RR[1:])).response(200, to_tag="b1", contact=final_contact))
    d.confirm(ok)
    assert d.state is DialogState.CONFIRMED
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example.com;lr"]
    assert d.remote_target == final_contact.uri
    d.confirm(ok)  # a retransmission: still confirmed, route set unchanged
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example.com;lr"]


def test_secure_flag_needs_sips_and_tls():
    req = wire(invite(uri="sips:bob@biloxi.example.com"))
    assert Dialog.for_uas(req, local_tag="b", local_contact=BOB_CONTACT, early=False,
                          over_tls=True).secure
    assert not Dialog.for_uas(req, local_tag="b", local_contact=BOB_CONTACT, early=False).secure
    resp = req.response(200, to_tag="b", contact=BOB_CONTACT)
    assert Dialog.for_uac(req, resp).secure


def test_rfc2543_peer_without_from_tag_has_an_empty_remote_tag():
    req = wire(invite(from_tag="x")).replace("From", "<sip:alice@atlanta.example.com>")
    d = Dialog.for_uas(req, local_tag="b1", local_contact=BOB_CONTACT, early=False)
    assert d.id.remote_tag == ""
    assert d.matches(d.create_request("BYE"))


# --- requests inside the dialog (§12.2.1.1) -----------------------------------------------


def confirmed_uac(record_route=()):
    req = invite()
    resp = wire(wire(invite(record_route=record_route)).response(200, to_tag="b1",
                                                                 contact=BOB_CONTACT))
    return Dialog.for_uac(req, resp)


def test_empty_route_set_sends_to_the_remote_target():
    d = confirmed_uac()
    bye = wire(d.create_request("BYE"))
    assert bye.uri == BOB_CONTACT.uri and not bye.route
    assert bye.cseq.seq == 314160 and bye.cseq.method == "BYE"
    assert bye.from_.tag == "a1" and bye.to.tag == "b1" and bye.call_id == "c1@192.0.2.1"
    assert not bye.contacts  # BYE is no target refresh
    assert next_hop(bye) == BOB_CONTACT.uri
    assert d.create_request("INFO").cseq.seq == 314161


def test_loose_routing_keeps_the_remote_target_and_the_whole_route_set():
    d = confirmed_uac(RR)
    reinvite = wire(d.create_request("INVITE", body=b"v=0\r\n", content_type="application/sdp"))
    assert reinvite.uri == BOB_CONTACT.uri
    assert [str(r.uri) for r in reinvite.route] == ["sip:p1.example.com;lr",
                                                     "sip:p2.example.com;lr"]
    assert reinvite.contacts == (ALICE_CONTACT,)
    assert reinvite.body == b"v=0\r\n" and reinvite.content_type.mime == "application/sdp"
    lr = Parameters([("lr", None)])
    assert next_hop(reinvite) == SipUri(host="p1.example.com", parameters=lr)


def test_strict_routing_puts_the_first_route_in_the_request_uri():
    # RFC 3261 §12.2.1.1 example: route set <sip:p1>, <sip:p2;lr> (reversed from the 2xx).
    d = confirmed_uac(("<sip:p2.example.com;lr>", "<sip:p1.example.com?x=y>"))
    bye = wire(d.create_request("BYE"))
    assert str(bye.uri) == "sip:p1.example.com"  # headers stripped from the Request-URI
    assert [str(r.uri) for r in bye.route] == ["sip:p2.example.com;lr", str(BOB_CONTACT.uri)]


def test_uas_first_request_picks_a_fresh_cseq_and_counts_up():
    d = Dialog.for_uas(wire(invite()), local_tag="b1", local_contact=BOB_CONTACT, early=False)
    first = d.create_request("BYE").cseq.seq
    assert 0 < first < 2**31
    assert d.create_request("INFO").cseq.seq == first + 1
    assert d.create_request("BYE").uri == ALICE_CONTACT.uri


def test_ack_for_2xx_uses_the_invite_cseq_and_credentials():
    req = invite().append("Proxy-Authorization", 'Digest username="alice", response="x"')
    resp = wire(req.response(200, to_tag="b1", contact=BOB_CONTACT))
    d = Dialog.for_uac(req, resp)
    d.create_request("INFO")  # CSeq moves on, the ACK does not
    ack = wire(d.create_ack(req, body=b"v=0\r\n", content_type="application/sdp"))
    assert ack.method == "ACK" and ack.cseq.seq == 314159 and ack.cseq.method == "ACK"
    assert ack.uri == BOB_CONTACT.uri and ack.to.tag == "b1"
    assert ack.get("Proxy-Authorization") == 'Digest username="alice", response="x"'
    assert ack.body == b"v=0\r\n"
    with pytest.raises(ValueError, match="ACK"):
        d.create_request("ACK")


def test_no_request_in_a_terminated_dialog():
    d = confirmed_uac()
    d.advance(DialogInput.TERMINATE)
    with pytest.raises(DialogStateError):
        d.create_request("BYE")


# --- requests received inside the dialog (§12.2.2) -------------------------------------------


def test_cseq_lower_than_the_last_is_refused_with_500():
    d = confirmed_uac()
    peer = Dialog.for_uas(wire(invite()), local_tag="b1", local_contact=BOB_CONTACT, early=False)
    first = wire(peer.create_request("INFO"))
    second = wire(peer.create_request("INFO"))
    assert d.remote_seq is None
    assert d.check_request(second) is None and d.remote_seq == second.cseq.seq
    assert d.check_request(first) == 500
    assert d.remote_seq == second.cseq.seq
    assert d.check_request(wire(peer.create_ack(invite()))) is None  # ACK: not checked


def test_target_refresh_by_request_and_not_by_other_methods():
    d = confirmed_uac()
    moved = Address.parse("<sip:bob@198.51.100.7:5080>")
    peer = Dialog.for_uas(wire(invite()), local_tag="b1", local_contact=moved, early=False)
    d.check_request(wire(peer.create_request("INFO", contact=True)))
    assert d.remote_target == BOB_CONTACT.uri  # INFO is no target refresh
    d.check_request(wire(peer.create_request("UPDATE")))
    assert d.remote_target == moved.uri


def test_matches_both_directions_only_with_both_tags():
    d = confirmed_uac()
    assert d.matches(wire(d.create_request("BYE")))
    peer = Dialog.for_uas(wire(invite()), local_tag="b1", local_contact=BOB_CONTACT, early=False)
    assert d.matches(wire(peer.create_request("BYE")))
    other = Dialog.for_uas(wire(invite()), local_tag="b2", local_contact=BOB_CONTACT, early=False)
    assert not d.matches(wire(other.create_request("BYE")))


def test_replaces_names_the_dialog_from_the_peers_side():
    d = confirmed_uac()
    r = d.replaces_value(early_only=True)
    assert r.call_id == "c1@192.0.2.1" and r.to_tag == "b1" and r.from_tag == "a1"
    assert r.early_only
    assert str(r) == "c1@192.0.2.1;to-tag=b1;from-tag=a1;early-only"


# --- the state table ---------------------------------------------------------------------


def test_table_covers_every_pair():
    assert set(TRANSITIONS) == set(itertools.product(DialogState, DialogInput))


@pytest.mark.parametrize(("state", "event"), list(itertools.product(DialogState, DialogInput)))
def test_every_state_and_input(state, event):
    d = confirmed_uac()
    d.state = state
    expected = TRANSITIONS[(state, event)]
    if expected is None:
        with pytest.raises(DialogStateError):
            d.advance(event)
        assert d.state is state
    else:
        assert d.advance(event) is expected is d.state
