"""TransactionLayer: matching, timers in simulated time, CANCEL, merged requests, RFC 2543."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.sip import Request, parse_message
from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_effects import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionId,
    TransactionTimeout,
    TransportFailure,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transactions import TransactionStateError
from sipperc.sip.transport_address import TransportAddress
from tests.sip.txn_helpers import UAC, UAS, layer, request, response_to

TCP_UAC = TransportAddress("tcp", "192.0.2.1", 40000)


def run_until(txns: TransactionLayer, end: float) -> list[tuple[float, object]]:
    """Fire every timer up to ``end``, as an edge would; (time, effect) pairs."""
    out = []
    while (deadline := txns.get_timer()) is not None and deadline <= end:
        out.extend((deadline, e) for e in txns.handle_timer(deadline))
    return out


def sends(pairs):
    return [(round(t, 3), e.message) for t, e in pairs if isinstance(e, SendMessage)]


def wire(message):
    """Through bytes and back, as a peer would see it."""
    return parse_message(bytes(message))


# --- server side ---------------------------------------------------------------------------


def test_uas_invite_200_ack_flow_and_rfc6026_accepted_state():
    uas = layer()
    invite = request("INVITE")
    (received,) = uas.receive(invite, UAC, 0.0)
    assert isinstance(received, RequestReceived) and received.merged is None
    txn = received.transaction
    ok = received.request.response(200, to_tag="t1")
    (sent,) = uas.send_response(txn, ok, 0.01)
    assert sent == SendMessage(ok, UAC, txn)
    assert uas.state_of(txn) == "ACCEPTED"
    # RFC 6026 §7.1: INVITE retransmissions are absorbed; the TU retransmits the 2xx.
    assert uas.receive(invite, UAC, 0.5) == []
    assert uas.send_response(txn, ok, 0.5) == [SendMessage(ok, UAC, txn)]
    # The ACK for a 2xx has its own branch: not a transaction, straight to the TU.
    ack = request("ACK", branch="z9hG4bKack1", to_tag="t1")
    assert uas.receive(ack, UAC, 0.6) == [AckReceived(ack, UAC)]
    # No 100 Trying: the TU answered within 200 ms; Timer L (64*T1) ends the transaction.
    assert sends(run_until(uas, 100)) == []
    assert uas.state_of(txn) is None and len(uas) == 0


def test_100_trying_after_200_ms_when_the_tu_is_slow_and_resent_on_retransmission():
    uas = layer()
    invite = request("INVITE")
    (_received,) = uas.receive(invite, UAC, 0.0)
    assert uas.get_timer() == pytest.approx(0.2)
    fired = run_until(uas, 0.2)
    ((t, trying),) = sends(fired)
    assert t == 0.2 and trying.status_code == 100 and trying.to.tag is None
    assert [e.message.status_code for e in uas.receive(invite, UAC, 0.5)] == [100]


def test_no_100_trying_for_non_invite():
    uas = layer()
    uas.receive(request("OPTIONS"), UAC, 0.0)
    assert uas.get_timer() is None


def test_non_2xx_final_response_retransmitted_by_timer_g_until_the_ack():
    uas = layer()
    invite = request("INVITE")
    (received,) = uas.receive(invite, UAC, 0.0)
    busy = received.request.response(486, to_tag="t1")
    uas.send_response(received.transaction, busy, 0.0)
    times = [t for t, _ in sends(run_until(uas, 20.0))]
    # Timer G: T1, then doubling up to T2 (RFC 3261 §17.2.1).
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]
    ack = invite.ack_for(busy)
    assert uas.receive(ack, UAC, 20.0) == []  # absorbed: Confirmed
    assert uas.state_of(received.transaction) == "CONFIRMED"
    assert sends(run_until(uas, 24.0)) == []
    run_until(uas, 25.1)  # Timer I = T4
    assert len(uas) == 0


def test_timer_h_tells_the_tu_when_the_ack_never_comes():
    uas = layer()
    (received,) = uas.receive(request("INVITE"), UAC, 0.0)
    uas.send_response(received.transaction, received.request.response(603), 0.0)
    fired = run_until(uas, 40.0)
    timeouts = [(t, e) for t, e in fired if isinstance(e, TransactionTimeout)]
    assert timeouts == [(32.0, TransactionTimeout(received.transaction))]
    assert len(uas) == 0


def test_non_invite_server_absorbs_then_resends_the_final_response_until_timer_j():
    uas = layer()
    options = request("OPTIONS")
    (received,) = uas.receive(options, UAC, 0.0)
    assert uas.receive(options, UAC, 0.1) == []  # Trying: absorbed
    ok = received.request.response(200)
    uas.send_response(received.transaction, ok, 0.2)
    assert [e.message for e in uas.receive(options, UAC, 1.0)] == [ok]
    run_until(uas, 32.19)
    assert len(uas) == 1
    run_until(uas, 32.2)
    assert len(uas) == 0
    # Over TCP Timer J is zero: the transaction ends with its final response.
    uas_tcp = layer(TransportAddress("tcp", "192.0.2.2", 5060))
    (received,) = uas_tcp.receive(request("OPTIONS", transport="TCP"), TCP_UAC, 0.0)
    uas_tcp.send_response(received.transaction, received.request.response(200), 0.0)
    assert len(uas_tcp) == 0


def test_rfc4320_no_408_and_no_provisional_but_100_for_non_invite():
    uas = layer()
    (received,) = uas.receive(request("BYE", to_tag="x"), UAC, 0.0)
    with pytest.raises(ValueError, match="RFC 4320"):
        uas.send_response(received.transaction, received.request.response(408), 0.0)
    with pytest.raises(ValueError, match="RFC 4320"):
        uas.send_response(received.transaction, received.request.response(180), 0.0)
    uas.send_response(received.transaction, received.request.response(100), 0.0)


def test_second_final_response_and_unknown_transaction_are_refused():
    uas = layer()
    (received,) = uas.receive(request("INVITE"), UAC, 0.0)
    uas.send_response(received.transaction, received.request.response(486), 0.0)
    with pytest.raises(TransactionStateError):
        uas.send_response(received.transaction, received.request.response(200), 0.0)
    with pytest.raises(TransactionStateError):
        uas.send_response(TransactionId("z9hG4bKnone", "INVITE", "x", True),
                          received.request.response(200), 0.0)


def test_responses_go_where_rfc3261_18_2_2_and_rfc3581_say():
    uas = layer()
    natted = TransportAddress("udp", "203.0.113.9", 61000)
    # rport requested: back to the source address and port; Via stamped.
    (received,) = uas.receive(request("OPTIONS", rport=True), natted, 0.0)
    top = received.request.top_via
    assert (top.received, top.rport) == ("203.0.113.9", 61000)
    (sent,) = uas.send_response(received.transaction, received.request.response(200), 0.0)
    assert sent.destination == natted
    # No rport: the source address with the sent-by port.
    (received,) = uas.receive(request("OPTIONS", branch="z9hG4bKb2"), natted, 0.0)
    assert received.request.top_via.received == "203.0.113.9"
    (sent,) = uas.send_response(received.transaction, received.request.response(200), 0.0)
    assert sent.destination == TransportAddress("udp", "203.0.113.9", 5060)
    # Same host as sent-by, no rport: the Via is left as it was.
    (received,) = uas.receive(request("OPTIONS", branch="z9hG4bKb3"), UAC, 0.0)
    assert received.request.top_via.received is None


def test_stray_ack_goes_to_the_tu():
    uas = layer()
    ack = request("ACK", to_tag="t9")
    assert uas.receive(ack, UAC, 0.0) == [AckReceived(ack, UAC)]


# --- CANCEL (RFC 3261 §9.2) ----------------------------------------------------------------


def test_cancel_of_a_pending_invite_gets_200_and_the_tu_is_told():
    uas = layer()
    invite = request("INVITE")
    (received,) = uas.receive(invite, UAC, 0.0)
    ringing = received.request.response(180, to_tag="ring1")
    uas.send_response(received.transaction, ringing, 0.0)
    cancel = invite.cancel()
    effects = uas.receive(cancel, UAC, 1.0)
    assert [type(e) for e in effects] == [SendMessage, CancelReceived]
    ok = effects[0].message
    assert (ok.status_code, ok.cseq.method, ok.to.tag) == (200, "CANCEL", "ring1")
    assert effects[1].transaction_of_invite == received.transaction
    # A retransmitted CANCEL gets the same 200 again, and nothing for the TU.
    assert [e.message for e in uas.receive(cancel, UAC, 1.5)] == [ok]
    uas.send_response(received.transaction, received.request.response(487, to_tag="ring1"), 1.0)


def test_cancel_without_invite_is_481_and_after_the_final_response_has_no_effect():
    uas = layer()
    (answer,) = uas.receive(request("INVITE").cancel(), UAC, 0.0)
    assert answer.message.status_code == 481
    (received,) = uas.receive(request("INVITE", branch="z9hG4bKi2"), UAC, 0.0)
    uas.send_response(received.transaction, received.request.response(200), 0.0)
    (answer,) = uas.receive(request("INVITE", branch="z9hG4bKi2").cancel(), UAC, 0.1)
    assert answer.message.status_code == 200


# --- merged requests (§8.2.2.2) and RFC 2543 peers (§17.2.3) -------------------------------------


def test_merged_request_is_flagged_for_the_tu():
    uas = layer()
    (first,) = uas.receive(request("INVITE", branch="z9hG4bKpath1"), UAC, 0.0)
    (second,) = uas.receive(
        request("INVITE", branch="z9hG4bKpath2", via_host="192.0.2.7"), UAC, 0.0
    )
    assert first.merged is None
    assert second.merged == first.transaction
    # In-dialog requests (To tag) are never merged.
    (bye,) = uas.receive(request("BYE", to_tag="a", branch="z9hG4bKbye"), UAC, 0.0)
    assert bye.merged is None


def test_rfc2543_client_without_magic_cookie():
    uas = layer()
    invite = request("INVITE", branch=None).prepend("Via", "SIP/2.0/UDP 192.0.2.1:5060")
    (received,) = uas.receive(invite, UAC, 0.0)
    assert received.transaction.branch.startswith("rfc2543 ")
    busy = received.request.response(486, to_tag="t1")
    uas.send_response(received.transaction, busy, 0.0)
    # The retransmitted INVITE matches: the 486 again.
    assert [e.message for e in uas.receive(invite, UAC, 0.3)] == [busy]
    # An ACK whose To tag is not ours is not for this transaction.
    other = invite.ack_for(response_to(invite, 486, to_tag="other"))
    assert uas.receive(other, UAC, 0.4) == [AckReceived(other, UAC)]
    assert uas.receive(invite.ack_for(busy), UAC, 0.5) == []
    assert uas.state_of(received.transaction) == "CONFIRMED"


def test_a_request_looped_back_to_us_does_not_match_our_client_transaction():
    txns = layer(UAS)
    _, effects = txns.send_request(request("OPTIONS", branch=None), UAS, 0.0)
    looped = effects[0].message
    (received,) = txns.receive(looped, UAS, 0.0)
    assert isinstance(received, RequestReceived)


# --- client side -----------------------------------------------------------------------------


def test_client_invite_timer_a_doubling_and_timer_b_timeout():
    uac = layer(UAC)
    txn, effects = uac.send_request(request("INVITE", branch=None), UAS, 0.0)
    sent = effects[0].message
    top = sent.top_via
    assert top.branch.startswith("z9hG4bK") and top.wants_rport
    assert top.sent_by == ("192.0.2.1", 5060)
    fired = run_until(uac, 64.0)
    times = [t for t, m in sends(fired)]
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # Timer A doubles, no cap
    assert [(t, e) for t, e in fired if not isinstance(e, SendMessage)] == [
        (32.0, TransactionTimeout(txn))
    ]
    assert len(uac) == 0


def test_client_non_invite_timer_e_capped_at_t2_and_timer_f_goes_to_the_tu_only():
    uac = layer(UAC)
    txn, _ = uac.send_request(request("OPTIONS", branch=None), UAS, 0.0)
    fired = run_until(uac, 64.0)
    times = [t for t, _ in sends(fired)]
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert all(m.method == "OPTIONS" for _, m in sends(fired))  # no 408 anywhere (RFC 4320)
    assert fired[-1] == (32.0, TransactionTimeout(txn))


def test_client_non_invite_retransmits_every_t2_after_a_provisional():
    uac = layer(UAC)
    _txn, effects = uac.send_request(request("REGISTER", branch=None), UAS, 0.0)
    sent = wire(effects[0].message)
    uac.receive(sent.response(100), UAS, 0.1)
    times = [t for t, _ in sends(run_until(uac, 20.0))]
    # The running Timer E fires at T1, then every T2 (RFC 3261 §17.1.2.2, Proceeding).
    assert times == [0.5, 4.5, 8.5, 12.5, 16.5]


def test_client_over_tcp_does_not_retransmit():
    uac = layer(TransportAddress("tcp", "192.0.2.1", 5060))
    uac.send_request(request("INVITE", branch=None), TransportAddress("tcp", "192.0.2.2", 5060), 0)
    fired = run_until(uac, 40.0)
    assert sends(fired) == [] and isinstance(fired[-1][1], TransactionTimeout)


def test_client_invite_failure_acked_by_the_transaction_and_retransmissions_absorbed():
    uac = layer(UAC)
    _txn, effects = uac.send_request(request("INVITE", branch=None), UAS, 0.0)
    sent = wire(effects[0].message)
    busy = sent.response(486, to_tag="t1")
    result = uac.receive(busy, UAS, 0.1)
    # The ACK first: whatever the TU sends in reaction must follow it on the wire.
    assert [type(e) for e in result] == [SendMessage, ResponseReceived]
    ack = result[0].message
    assert (ack.method, ack.top_via.branch, ack.to.tag) == ("ACK", sent.top_via.branch, "t1")
    assert [e.message for e in uac.receive(busy, UAS, 0.5)] == [ack]  # not to the TU
    run_until(uac, 32.2)  # Timer D
    assert len(uac) == 0


def test_client_invite_accepted_state_passes_every_2xx_and_later_ones_are_stray():
    uac = layer(UAC)
    txn, effects = uac.send_request(request("INVITE", branch=None), UAS, 0.0)
    sent = wire(effects[0].message)
    ok = sent.response(200, to_tag="t1")
    forked = sent.response(200, to_tag="t2")
    assert uac.receive(ok, UAS, 0.1) == [ResponseReceived(ok, txn)]
    assert uac.receive(ok, UAS, 0.6) == [ResponseReceived(ok, txn)]
    assert uac.receive(forked, UAS, 0.7) == [ResponseReceived(forked, txn)]
    assert sends(run_until(uac, 40)) == []  # the TU ACKs 2xx, never the transaction
    assert uac.receive(ok, UAS, 41) == [StrayResponse(ok, UAS)]
    assert uac.receive(sent.response(486, to_tag="t3"), UAS, 41) == []


def test_response_with_another_sent_by_is_dropped():
    uac = layer(UAC)
    _, effects = uac.send_request(request("OPTIONS", branch=None), UAS, 0.0)
    sent = wire(effects[0].message)
    forged = sent.response(200).remove_first_value("Via").prepend(
        "Via", f"SIP/2.0/UDP 198.51.100.1:5060;branch={sent.top_via.branch}"
    )
    assert uac.receive(forged, UAS, 0.1) == []


def test_send_ack_adds_a_via_once():
    uac = layer(UAC)
    ack = request("ACK", branch=None, to_tag="t1")
    (sent,) = uac.send_ack(ack, UAS, 0.0)
    assert sent.message.top_via.branch.startswith("z9hG4bK") and sent.transaction is None
    assert uac.send_ack(sent.message, UAS, 1.0) == [SendMessage(sent.message, UAS)]
    with pytest.raises(ValueError, match="send_ack"):
        uac.send_request(ack, UAS, 0.0)


def test_send_cancel_waits_for_a_provisional_then_goes_to_the_same_destination():
    uac = layer(UAC)
    invite_id, effects = uac.send_request(request("INVITE", branch=None), UAS, 0.0)
    sent = wire(effects[0].message)
    cancel_id, now = uac.send_cancel(invite_id, 0.1, headers=[("Reason", "SIP;cause=487")])
    assert now == [] and cancel_id == TransactionId(invite_id.branch, "CANCEL")
    effects = uac.receive(sent.response(180, to_tag="t1"), UAS, 0.2)
    assert [type(e) for e in effects] == [ResponseReceived, SendMessage]
    cancel = effects[1].message
    assert (cancel.method, cancel.top_via.branch, effects[1].destination) == (
        "CANCEL", invite_id.branch, UAS)
    assert cancel.get("Reason") == "SIP;cause=487"
    assert uac.send_cancel(invite_id, 0.3) == (cancel_id, [])  # only once
    ok = wire(cancel).response(200)
    assert uac.receive(ok, UAS, 0.3) == [ResponseReceived(ok, cancel_id)]
    uac.receive(sent.response(487, to_tag="t1"), UAS, 0.4)
    assert uac.send_cancel(invite_id, 0.5) == (None, [])


def test_transport_failure_reaches_the_tu_and_ends_the_transaction():
    uac = layer(UAC)
    txn, _ = uac.send_request(request("OPTIONS", branch=None), UAS, 0.0)
    assert uac.transport_failed(txn, "connection refused", 0.1) == [
        TransportFailure(txn, "connection refused")
    ]
    assert len(uac) == 0 and uac.transport_failed(txn, "again", 0.2) == []


def test_sending_needs_a_listening_point_for_the_transport():
    uac = TransactionLayer(TimerConfig())
    with pytest.raises(ValueError, match="no udp listening point"):
        uac.send_request(request("OPTIONS", branch=None), UAS, 0.0)


def test_malformed_header_met_by_the_layer_is_answered_not_raised():
    uas = layer()
    bad = request("OPTIONS").replace("From", "<sip:alice@192.0.2.1>;tag=a")
    bad = Request(bad.method, bad.uri, [f if f.key != "cseq" else type(f)("CSeq", "x OPTIONS")
                                        for f in bad.fields])
    (sent,) = uas.receive(bad, UAC, 0.0)
    assert sent.message.status_code == 400


# --- two layers connected over a lossy network --------------------------------------------------


def _exchange(uac, uas, effects, now, loss, rng, log):
    """Deliver SendMessage effects between the two layers, dropping some."""
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if not isinstance(effect, SendMessage):
            log.append(effect)
            if isinstance(effect, RequestReceived):
                code = 200 if effect.request.method != "INVITE" else 486
                queue.extend(uas.send_response(
                    effect.transaction, effect.request.response(code, to_tag="x"), now))
            continue
        if rng.random() < loss:
            continue
        message = wire(effect.message)
        target = uas if effect.destination == UAS else uac
        source = UAC if target is uas else UAS
        queue.extend(target.receive(message, source, now))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["INVITE", "OPTIONS"]), st.floats(0.0, 0.6), st.integers(0, 2**32))
def test_lossy_network_either_completes_or_times_out_and_both_sides_clean_up(method, loss, seed):
    rng = random.Random(seed)
    uac, uas = layer(UAC), layer(UAS)
    log: list = []
    _txn, effects = uac.send_request(request(method, branch=None), UAS, 0.0)
    _exchange(uac, uas, effects, 0.0, loss, rng, log)
    now = 0.0
    while True:
        deadlines = [d for d in (uac.get_timer(), uas.get_timer()) if d is not None]
        if not deadlines:
            break
        now = min(deadlines)
        for side in (uac, uas):
            _exchange(uac, uas, side.handle_timer(now), now, loss, rng, log)
    finals = [e for e in log if isinstance(e, ResponseReceived) and e.response.status_code >= 200]
    timeouts = [e for e in log if isinstance(e, TransactionTimeout) and not e.transaction.server]
    assert len(finals) + len(timeouts) == 1  # exactly one outcome for the UAC's TU
    assert len([e for e in log if isinstance(e, RequestReceived)]) <= 1  # once to the UAS TU
    assert len(uac) == len(uas) == 0
    assert now < 70


def test_large_request_moved_to_tcp_retries_over_udp_when_tcp_fails():
    uac = layer(UAC, TransportAddress("tcp", "192.0.2.1", 5060))
    big = request("MESSAGE", branch=None).with_body(b"x" * 1400, "text/plain")
    txn, effects = uac.send_request(big, UAS, 0.0)
    (tcp,) = [e for e in effects if isinstance(e, SendMessage)]
    assert tcp.destination.transport == "tcp" and tcp.message.top_via.transport == "TCP"
    # RFC 3261 §18.1.1: the connection is refused: the same transaction goes over UDP.
    effects = uac.transport_failed(txn, "connection refused", 0.1)
    (udp,) = effects
    assert udp.destination == UAS and udp.message.top_via.transport == "UDP"
    assert udp.message.top_via.branch == txn.branch and udp.message.body == big.body
    assert [round(t, 3) for t, _ in sends(run_until(uac, 1.7))] == [0.6, 1.6]  # Timer E
    ok = wire(udp.message).response(200)
    assert uac.receive(ok, UAS, 2.0) == [ResponseReceived(ok, txn)]
    # A second failure is the TU's (no more fallback).
    txn2, _ = uac.send_request(big, UAS, 3.0)
    uac.transport_failed(txn2, "refused", 3.1)
    assert uac.transport_failed(txn2, "refused again", 3.2) == [
        TransportFailure(txn2, "refused again")]
