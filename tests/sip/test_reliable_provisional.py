import itertools

import pytest

from sipperc.sip import RAck, Request, parse_message
from sipperc.sip import headers as h
from sipperc.sip.dialog import Dialog
from sipperc.sip.reliable_provisional import (
    SENDER_TRANSITIONS,
    ReliableProvisionalError,
    ReliableProvisionalReceiver,
    ReliableProvisionalSender,
    SenderInput,
    SenderState,
    is_reliable,
)

T1 = 0.5


def wire(message):
    if "Via" not in message:
        message = message.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp")
    return parse_message(bytes(message))


INVITE = wire(Request.build(
    "INVITE", "sip:bob@192.0.2.2", from_="<sip:alice@192.0.2.1>;tag=a", to="<sip:bob@192.0.2.2>",
    call_id="rel1", cseq=7, contact="<sip:alice@192.0.2.1>", headers=[("Supported", "100rel")]))


def ringing(code=180, body=b""):
    return INVITE.response(code, to_tag="b", contact="<sip:bob@192.0.2.2>", body=body,
                           content_type="application/sdp" if body else None)


def prack_for(response):
    """The PRACK the UAC side builds for ``response``, as the UAS receives it."""
    dialog = Dialog.for_uac(INVITE, wire(response))
    rack = ReliableProvisionalReceiver.rack(wire(response))
    return wire(dialog.create_request("PRACK", headers=[("RAck", rack)]))


def test_send_numbers_and_requires_100rel():
    sender = ReliableProvisionalSender(T1, first_rseq=5)
    sent = wire(sender.send(ringing(), now=0.0))
    assert sent.first(h.RSEQ) == 5 and "100rel" in sent.typed(h.REQUIRE)
    assert is_reliable(sent) and not is_reliable(wire(ringing()))
    assert sender.state is SenderState.AWAITING_PRACK and sender.unacknowledged is not None


def test_retransmits_doubling_from_t1_without_cap_then_gives_up_at_64_t1():
    sender = ReliableProvisionalSender(T1)
    sent = sender.send(ringing(), now=0.0)
    times = []
    while (deadline := sender.get_timer()) is not None:
        again = sender.handle_timer(deadline)
        if again is not None:
            assert again is sent
            times.append(deadline)
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # T1, 2T1, 4T1... apart
    assert sender.timed_out  # at 64*T1 = 32 s: the INVITE gets a 5xx
    assert sender.handle_timer(100.0) is None


def test_prack_stops_retransmissions_and_releases_the_queued_response():
    sender = ReliableProvisionalSender(T1, first_rseq=1)
    first = sender.send(ringing(180), now=0.0)
    assert sender.send(ringing(183, body=b"v=0\r\n"), now=0.1) is None  # must wait (§3)
    assert sender.pending_description
    acked, following = sender.receive_prack(prack_for(first), now=0.2)
    assert acked is first
    assert following is not None and following.status_code == 183
    assert following.first(h.RSEQ) == 2
    assert sender.get_timer() == pytest.approx(0.7)
    acked, following = sender.receive_prack(prack_for(following), now=0.3)
    assert acked.status_code == 183 and following is None
    assert sender.state is SenderState.IDLE and sender.get_timer() is None
    assert not sender.pending_description


def test_prack_that_matches_nothing_changes_nothing():
    sender = ReliableProvisionalSender(T1, first_rseq=10)
    sent = sender.send(ringing(), now=0.0)
    stale = wire(prack_for(sent).replace("RAck", RAck(9, 7, "INVITE")))
    assert sender.receive_prack(stale, now=0.1) == (None, None)
    assert sender.state is SenderState.AWAITING_PRACK and sender.unacknowledged is sent


def test_final_response_stops_everything():
    sender = ReliableProvisionalSender(T1)
    sender.send(ringing(183, body=b"v=0\r\n"), now=0.0)
    sender.final_sent()
    assert sender.get_timer() is None and not sender.timed_out
    assert not sender.pending_description
    with pytest.raises(ReliableProvisionalError):
        sender.send(ringing(), now=1.0)


def test_only_101_to_199_can_be_reliable():
    with pytest.raises(ValueError, match="101-199"):
        ReliableProvisionalSender(T1).send(INVITE.response(100), now=0.0)


def test_receiver_takes_the_first_and_then_only_the_next_rseq():
    sender = ReliableProvisionalSender(T1, first_rseq=100)
    receiver = ReliableProvisionalReceiver()
    first = wire(sender.send(ringing(), now=0.0))
    assert receiver.accept(first) and receiver.rack(first) == RAck(100, 7, "INVITE")
    assert not receiver.accept(first)  # retransmission: no second PRACK (§4)
    sender.receive_prack(prack_for(first), now=0.1)
    second = wire(sender.send(ringing(183), now=0.2))
    skipped = wire(second.replace("RSeq", 102))
    assert not receiver.accept(skipped)
    assert receiver.accept(second)


# --- every (state, input) pair ---------------------------------------------------------------


def sender_in(state):
    sender = ReliableProvisionalSender(T1, first_rseq=1)
    if state is SenderState.AWAITING_PRACK:
        sender.send(ringing(), now=0.0)
    elif state is SenderState.TERMINATED:
        sender.final_sent()
    assert sender.state is state
    return sender


def apply(sender, event):
    if event is SenderInput.SEND:
        sender.send(ringing(), now=0.0)
    elif event is SenderInput.PRACK:
        current = sender.unacknowledged
        other = ReliableProvisionalSender(T1, first_rseq=1).send(ringing(), now=0.0)
        result = sender.receive_prack(prack_for(current or other), now=0.0)
        assert (result[0] is not None) == (current is not None)
    elif event is SenderInput.RETRANSMIT:
        deadline = sender.get_timer()
        assert (sender.handle_timer(T1) is not None) == (deadline is not None)
    elif event is SenderInput.TIMEOUT:
        sender.handle_timer(64 * T1)
    else:
        sender.final_sent()


def test_table_covers_every_pair():
    assert set(SENDER_TRANSITIONS) == set(itertools.product(SenderState, SenderInput))


@pytest.mark.parametrize(("state", "event"), list(itertools.product(SenderState, SenderInput)))
def test_every_state_and_input(state, event):
    sender = sender_in(state)
    expected = SENDER_TRANSITIONS[(state, event)]
    if expected is None and event is SenderInput.SEND:
        with pytest.raises(ReliableProvisionalError):
            apply(sender, event)
        return
    apply(sender, event)
    # None for the other inputs: they cannot happen there, and trying changes nothing.
    assert sender.state is (state if expected is None else expected)
