"""Two (or three) user agents on real transaction layers, in memory, time driven by hand."""

import random

import pytest

from sipperc.sdp import Direction
from sipperc.sip import Replaces, Request
from sipperc.sip.digest import DigestAccount, DigestClient, DigestServer
from sipperc.sip.dtmf_relay import DtmfRelay
from sipperc.sip.invite_session import InviteSessionConfig, ReliableProvisionalMode
from sipperc.sip.session_timer import SessionTimerPolicy
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.uri import Parameters, parse_uri
from sipperc.sip.user_agent import UserAgentConfig, UserAgentError
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallAttempt,
    CallEnded,
    CallProgress,
    CallRef,
    CallUpdated,
    EndReason,
    IncomingCall,
    InfoReceived,
    MessageReceived,
    NotifyReceived,
    OptionsReceived,
    ReferProgress,
    ReferReceived,
    ReferRequested,
    RequestCompleted,
    SubscriptionEnded,
    SubscriptionRequested,
)
from tests.sip.ua_harness import (
    PCMA,
    PCMU,
    PLAIN,
    Endpoint,
    ForkingProxy,
    Network,
    client_and_server,
)


def config(name, **session):
    base = dict(reliable_provisional=ReliableProvisionalMode.DISABLED, session_timer=None)
    base.update(session)
    return UserAgentConfig(user=name, session=InviteSessionConfig(**base))


def call_up(network, caller, callee, *, ring=True):
    """caller calls callee, who rings and answers: (caller's call, callee's call)."""
    call = caller.run("invite", callee.uri)
    incoming = callee.last(IncomingCall)
    if ring:
        callee.run("ringing", incoming.call)
    callee.run("answer", incoming.call)
    assert caller.last(CallAnswered).call == call
    assert callee.last(CallAnswered).call == incoming.call
    return call, incoming.call


def ended(endpoint):
    (event,) = endpoint.of(CallEnded)
    return event


# --- calls --------------------------------------------------------------------------------------


def test_basic_call_answer_and_hangup():
    net, alice, bob = client_and_server()
    call, theirs = call_up(net, alice, bob)
    assert net.trace() == ["INVITE", 180, 200, "ACK"]
    incoming = bob.last(IncomingCall)
    assert incoming.offer is not None and str(incoming.caller.uri) == "sip:alice@127.0.0.1"
    assert incoming.source == alice.address
    answered = alice.last(CallAnswered)
    stream = answered.negotiated.accepted_streams[0]
    assert stream.remote_address == "127.0.0.1" and stream.codecs[0].name == "PCMU"
    assert alice.ua.calls == (call,) and bob.ua.calls == (theirs,)
    net.advance(10.0)
    alice.run("hangup", call)
    assert net.trace()[-2:] == ["BYE", 200]
    assert ended(alice).reason is EndReason.LOCAL_BYE and ended(alice).duration == 10.0
    assert ended(bob).reason is EndReason.REMOTE_BYE
    net.advance(100.0)
    assert alice.ua.calls == bob.ua.calls == ()
    assert len(alice.layer) == len(bob.layer) == 0  # every transaction finished


def leftovers(ua):
    """Every per-call table of a user agent that should be empty when no call is alive."""
    tables = {name: getattr(ua, name) for name in (
        "_sessions", "_invite_transactions", "_server_invites", "_client", "_call_transactions",
        "_subscribers", "_notifiers", "_subscription_dialogs", "_refer_calls", "_replacing",
        "_call_subscriptions", "_owners", "_recent_acks")}
    return {name: table for name, table in tables.items() if table}


def test_no_state_is_left_behind_whatever_the_outcome():
    net, alice, bob = client_and_server()
    for outcome in ("bye", "reject", "cancel", "callee-bye", "refer"):
        call = alice.run("invite", bob.uri)
        incoming = bob.last(IncomingCall).call
        if outcome == "reject":
            bob.run("reject", incoming, 480)
            continue
        bob.run("ringing", incoming)
        if outcome == "cancel":
            alice.run("hangup", call)
            continue
        bob.run("answer", incoming)
        if outcome == "refer":
            alice.run("refer", call, "sip:carol@127.0.0.1:5099")
            bob.run("reject_refer", bob.last(ReferReceived).subscription)
        if outcome == "callee-bye":
            bob.run("hangup", incoming)
        else:
            alice.run("hangup", call)
    net.advance(100.0)
    assert len(alice.of(CallEnded)) == len(bob.of(CallEnded)) == 5
    assert leftovers(alice.ua) == {} and leftovers(bob.ua) == {}
    assert alice.ua.get_timer() is None and bob.ua.get_timer() is None
    assert len(alice.layer) == len(bob.layer) == 0


def test_reject_with_busy():
    net, alice, bob = client_and_server()
    alice.run("invite", bob.uri)
    bob.run("reject", bob.last(IncomingCall).call, 486)
    assert net.trace() == ["INVITE", 486, "ACK"]  # the ACK of the transaction layer
    assert ended(alice).reason is EndReason.REJECTED and ended(alice).status_code == 486
    assert ended(bob).reason is EndReason.DECLINED


def test_cancel_while_ringing():
    net, alice, bob = client_and_server()
    call = alice.run("invite", bob.uri)
    bob.run("ringing", bob.last(IncomingCall).call)
    alice.run("hangup", call)
    assert net.trace() == ["INVITE", 180, "CANCEL", 200, 487, "ACK"]
    assert ended(alice).reason is EndReason.CANCELLED and ended(alice).status_code == 487
    assert ended(bob).reason is EndReason.CANCELLED


def test_cancel_before_any_response_waits_for_100_trying():
    net, alice, bob = client_and_server()
    net.hold = lambda source, m: True
    call = alice.run("invite", bob.uri)
    alice.run("hangup", call)  # nothing came back yet: the CANCEL waits (§9.1)
    net.hold = None
    net.release()  # the INVITE reaches bob; his layer sends 100 Trying after 200 ms
    net.advance(1.0)
    assert net.trace() == ["INVITE", 100, "CANCEL", 200, 487, "ACK"]
    assert ended(alice).reason is EndReason.CANCELLED


def test_cancel_200_race():
    net, alice, bob = client_and_server()
    call = alice.run("invite", bob.uri)
    incoming = bob.last(IncomingCall).call
    bob.run("ringing", incoming)
    net.hold = lambda source, m: isinstance(m, Request) and m.method == "CANCEL"
    alice.run("hangup", call)
    net.hold = None
    bob.run("answer", incoming)  # the 200 crosses the CANCEL
    net.release()  # the CANCEL now finds the INVITE answered: 200 for it, no 487
    assert net.trace() == ["INVITE", 180, "CANCEL", 200, "ACK", "BYE", 200, 200]
    assert ended(alice).reason is EndReason.CANCELLED and not alice.of(CallAnswered)
    assert ended(bob).reason is EndReason.REMOTE_BYE


def test_late_offer():
    net, alice, bob = client_and_server()
    call = alice.run("invite", bob.uri, offer=False)
    assert bob.last(IncomingCall).offer is None
    bob.run("answer", bob.last(IncomingCall).call)
    _, _, ack = net.log[-1]
    assert ack.method == "ACK" and ack.body
    assert alice.last(CallAnswered).negotiated.accepted_streams
    assert bob.last(CallAnswered).negotiated.accepted_streams
    assert alice.ua.session(call).state.value == "confirmed"


def test_no_common_codec_is_488_without_bothering_the_application():
    net, alice, bob = client_and_server({"codecs": (PCMA,)}, {"codecs": (PCMU,)})
    alice.run("invite", bob.uri)
    assert net.trace() == ["INVITE", 488, "ACK"]
    _, _, refusal = net.log[1]
    assert refusal.get("Warning").startswith("305 sipperc ")
    assert not bob.of(IncomingCall)  # refused before the application had a say
    assert ended(bob).reason is EndReason.DECLINED and ended(bob).status_code == 488
    assert ended(alice).reason is EndReason.REJECTED and ended(alice).status_code == 488


def test_unanswered_invite_times_out():
    net, alice, bob = client_and_server()
    net.drop = lambda source, m: True
    alice.run("invite", bob.uri)
    net.advance(40.0)
    assert ended(alice).reason is EndReason.TIMEOUT and ended(alice).status_code == 408


def test_lost_ack_is_recovered_by_the_2xx_retransmission():
    net, alice, bob = client_and_server()
    alice.run("invite", bob.uri)
    lost = []

    def drop_first_ack(source, m):
        if isinstance(m, Request) and m.method == "ACK" and not lost:
            lost.append(m)
            return True
        return False

    net.drop = drop_first_ack
    bob.run("answer", bob.last(IncomingCall).call)
    assert not bob.of(CallAnswered)
    net.advance(1.0)  # bob retransmits the 200 at T1; alice ACKs it again
    assert net.trace() == ["INVITE", 200, "ACK", 200, "ACK"]
    assert bob.of(CallAnswered) and len(alice.of(CallAnswered)) == 1


def lose(endpoint, *methods):
    """A drop predicate: ``endpoint``'s requests of these methods never arrive."""
    return lambda source, m: (source == endpoint.address and isinstance(m, Request)
                              and m.method in methods)


def test_a_call_whose_ack_and_bye_never_arrive_ends_after_64_t1_with_one_record():
    # What an overloaded callee sees when its socket drops the caller's ACK and BYE, and the
    # caller (as SIPp does) takes our 2xx retransmission for the 200 to its BYE and leaves.
    net, alice, bob = client_and_server()
    net.drop = lose(alice, "ACK", "BYE")
    call = alice.run("invite", bob.uri)
    bob.run("answer", bob.last(IncomingCall).call)
    alice.run("hangup", call)
    net.advance(31.0)
    assert not bob.of(CallEnded) and bob.ua.calls  # still retransmitting the 200
    net.advance(33.0)  # §13.3.1.4: no ACK in 64*T1: BYE, and the call is over
    assert ended(bob).reason is EndReason.TIMEOUT and ended(bob).answered is None
    net.advance(100.0)
    assert len(bob.of(CallEnded)) == 1 and leftovers(bob.ua) == {}


def test_a_bye_overtaking_the_ack_and_retransmitted_ends_the_call_once():
    net, alice, bob = client_and_server()
    net.hold = lambda source, m: isinstance(m, Request) and m.method == "ACK"
    call = alice.run("invite", bob.uri)
    bob.run("answer", bob.last(IncomingCall).call)
    net.hold = None
    lost = []

    def lose_first_bye_answer(source, m):
        if source == bob.address and not isinstance(m, Request) and m.cseq.method == "BYE" \
                and not lost:
            lost.append(m)
            return True
        return False

    net.drop = lose_first_bye_answer
    alice.run("hangup", call)  # the BYE arrives before the ACK; its 200 is lost
    net.release()  # the late ACK
    net.advance(100.0)  # alice retransmits the BYE; bob's transaction answers it again
    assert net.trace("alice").count("BYE") == 2 and net.trace("bob").count(200) >= 2
    assert ended(bob).reason is EndReason.REMOTE_BYE
    assert ended(alice).reason is EndReason.LOCAL_BYE
    assert leftovers(bob.ua) == {}


def shut_down(endpoint):
    endpoint.process(endpoint.ua.shutdown(endpoint.network.now))
    endpoint.network.flush()


def test_shutdown_ends_every_incoming_call_at_once_with_one_record_each():
    net, alice, bob = client_and_server()
    call_up(net, alice, bob)  # confirmed
    net.drop = lose(alice, "ACK")
    alice.run("invite", bob.uri)
    bob.run("answer", bob.last(IncomingCall).call)  # our 200 waits for its ACK
    net.drop = None
    alice.run("invite", bob.uri)
    bob.run("ringing", bob.last(IncomingCall).call)
    alice.run("invite", bob.uri)  # nothing sent yet
    net.hold = lambda source, m: source == alice.address and not isinstance(m, Request)
    shut_down(bob)
    assert [(e.reason, e.status_code) for e in bob.of(CallEnded)] == \
        [(EndReason.SHUTDOWN, None)] * 2 + [(EndReason.SHUTDOWN, 503)] * 2
    assert bob.ua.calls == () and len(bob.ua.ending) == 2  # the BYEs wait for their 200s
    net.hold = None
    net.release()
    assert bob.ua.ending == ()
    # The BYE goes even where the ACK never came (§15's wait is for a UA that stays).
    assert net.trace("bob")[-4:] == ["BYE", "BYE", 503, 503]
    assert sorted((e.reason.value, e.status_code) for e in alice.of(CallEnded)) == \
        [("rejected", 503)] * 2 + [("remote-bye", None)] * 2
    shut_down(bob)  # a second time: nothing left to end
    net.advance(100.0)
    assert len(bob.of(CallEnded)) == 4 and leftovers(bob.ua) == {}


def test_shutdown_ends_outgoing_calls_without_waiting_for_the_487():
    net, alice, bob = client_and_server()
    ringing = alice.run("invite", bob.uri)
    bob.run("ringing", bob.last(IncomingCall).call)
    net.hold = lambda source, m: True
    silent = alice.run("invite", bob.uri)  # no answer of any kind yet
    net.hold = None
    shut_down(alice)
    assert [(e.call, e.reason) for e in alice.of(CallEnded)] == \
        [(ringing, EndReason.SHUTDOWN), (silent, EndReason.SHUTDOWN)]
    net.release()  # the second INVITE arrives; its CANCEL follows bob's 100 Trying (§9.1)
    net.advance(40.0)
    assert [e.reason for e in bob.of(CallEnded)] == [EndReason.CANCELLED] * 2
    assert len(alice.of(CallEnded)) == 2 and leftovers(alice.ua) == {}


def test_bye_to_an_unknown_dialog_gets_481():
    net, alice, bob = client_and_server()
    call, _ = call_up(net, alice, bob)
    bob.ua._sessions.clear()  # bob forgot the call (a restart)
    alice.run("hangup", call)
    assert net.trace()[-1] == 481
    assert ended(alice).reason is EndReason.LOCAL_BYE


def test_unknown_extension_required_gets_420_and_unknown_method_405():
    net, alice, bob = client_and_server()
    alice.run("invite", bob.uri, headers=[("Require", "foo")])
    _, _, refusal = net.log[1]
    assert refusal.status_code == 420 and refusal.get("Unsupported") == "foo"
    register = Request.build("REGISTER", "sip:127.0.0.1:5062", from_="<sip:alice@x>;tag=r",
                             to="<sip:alice@x>", call_id="reg-1", cseq=1)
    alice.process(alice.layer.send_request(register, bob.address, net.now)[1])
    net.flush()
    _, _, refusal = net.log[-1]
    assert refusal.status_code == 405 and "INVITE" in refusal.get("Allow")


def test_rfc3263_failover_to_the_next_target_after_a_timeout():
    net = Network()
    dead = TransportAddress("udp", "127.0.0.1", 5099)  # nobody listens there
    bob = Endpoint(net, "bob", "127.0.0.1", 5062)
    alice = Endpoint(net, "alice", "127.0.0.1", 5061,
                     locate=lambda uri: [dead, bob.address])
    alice.run("invite", "sip:bob@bob.example.com")
    assert not bob.of(IncomingCall)
    net.advance(33.0)  # Timer B (64*T1) on the first target, then the second one
    incoming = bob.last(IncomingCall)
    bob.run("answer", incoming.call)
    assert alice.of(CallAnswered) and not alice.of(CallEnded)
    invites = [m for _, name, m in net.log if name == "alice" and m.method == "INVITE"]
    assert len({m.top_via.branch for m in invites}) == 2  # a new transaction for bob


def test_failover_after_gives_up_sooner_on_a_silent_server_and_reports_each_attempt():
    net = Network()
    dead = TransportAddress("udp", "127.0.0.1", 5099)  # nobody listens there
    busy = Endpoint(net, "busy", "127.0.0.1", 5063)
    bob = Endpoint(net, "bob", "127.0.0.1", 5062)
    alice = Endpoint(net, "alice", "127.0.0.1", 5061,
                     config=UserAgentConfig(user="alice", session=PLAIN, failover_after=2.0),
                     locate=lambda uri: [dead, busy.address, bob.address])
    call = alice.run("invite", "sip:bob@bob.example.com")
    assert alice.of(CallAttempt) == [CallAttempt(call, dead)]
    net.advance(1.9)
    assert len(alice.of(CallAttempt)) == 1
    assert not busy.of(IncomingCall)
    net.advance(2.1)  # 2 s without a response from the dead server: the next one
    busy.run("reject", busy.last(IncomingCall).call, 503)
    assert alice.of(CallAttempt) == [CallAttempt(call, dead), CallAttempt(call, busy.address, 408),
                                     CallAttempt(call, bob.address, 503)]
    bob.run("answer", bob.last(IncomingCall).call)
    assert alice.of(CallAnswered) and not alice.of(CallEnded)


def test_the_last_server_gets_the_full_timer_b():
    net = Network()
    dead = TransportAddress("udp", "127.0.0.1", 5099)
    alice = Endpoint(net, "alice", "127.0.0.1", 5061,
                     config=UserAgentConfig(user="alice", session=PLAIN, failover_after=2.0),
                     locate=lambda uri: [dead])
    alice.run("invite", "sip:bob@bob.example.com")
    net.advance(31.0)
    assert not alice.of(CallEnded)
    net.advance(32.5)  # Timer B: 64*T1
    assert ended(alice).reason is EndReason.TIMEOUT


def test_malformed_header_the_ua_needs_is_answered_400_naming_it():
    net, alice, bob = client_and_server()
    alice.run("invite", bob.uri, headers=[("Session-Expires", "soon")])
    _, _, refusal = net.log[1]
    assert refusal.status_code == 400 and refusal.reason == "Bad Session-Expires header"
    assert not bob.events and ended(alice).status_code == 400
    assert bob.ua.calls == ()


# --- mid-call -------------------------------------------------------------------------------


def test_hold_and_resume():
    net, alice, bob = client_and_server()
    call, _ = call_up(net, alice, bob)
    alice.run("hold", call)
    held = alice.last(CallUpdated)
    assert held.negotiated.streams[0].direction is Direction.SENDONLY
    assert bob.last(CallUpdated).negotiated.streams[0].direction is Direction.RECVONLY
    alice.run("resume", call)
    assert alice.last(CallUpdated).negotiated.streams[0].direction is Direction.SENDRECV
    assert net.trace()[-6:] == ["INVITE", 200, "ACK", "INVITE", 200, "ACK"]


def test_glare_491_and_retry():
    net, alice, bob = client_and_server(
        client_args={"config": config("alice", random=random.Random(3))},
        server_args={"config": config("bob", random=random.Random(4))})
    call, theirs = call_up(net, alice, bob)
    net.hold = lambda source, m: True
    alice.run("reinvite", call)
    bob.run("reinvite", theirs)
    net.hold = None
    net.release()
    assert net.trace().count(491) == 2
    net.advance(10.0)
    assert len(alice.of(CallUpdated)) == len(bob.of(CallUpdated)) == 2
    assert net.trace()[-6:] == ["INVITE", 200, "ACK", "INVITE", 200, "ACK"]


def test_bye_crossing_a_reinvite():
    net, alice, bob = client_and_server()
    call, theirs = call_up(net, alice, bob)
    net.hold = lambda source, m: True
    alice.run("reinvite", call)
    bob.run("hangup", theirs)
    net.hold = None
    net.release()
    net.advance(40.0)
    assert ended(alice).reason is EndReason.REMOTE_BYE
    assert ended(bob).reason is EndReason.LOCAL_BYE
    assert 481 in net.trace()  # bob's answer to the re-INVITE that crossed his BYE
    assert alice.ua.calls == bob.ua.calls == ()


def test_info_dtmf_and_message_in_a_call():
    net, alice, bob = client_and_server()
    call, theirs = call_up(net, alice, bob)
    alice.run("send_dtmf", call, "5", 160)
    event = bob.last(InfoReceived)
    assert event.call == theirs and event.dtmf == DtmfRelay("5", 160)
    assert alice.last(RequestCompleted).status_code == 200
    bob.run("send_message", theirs, b"hello")
    message = alice.last(MessageReceived)
    assert message.call == call and message.body == b"hello"
    assert message.content_type.mime == "text/plain"


def test_bad_dtmf_body_is_refused():
    net, alice, bob = client_and_server()
    call, _ = call_up(net, alice, bob)
    alice.run("send_info", call, b"Signal=Z\r\n", "application/dtmf-relay")
    assert alice.last(RequestCompleted).status_code == 400
    assert not bob.of(InfoReceived)


def test_message_and_options_outside_a_call():
    _, alice, bob = client_and_server()
    alice.run("send_message", bob.uri, "héllo".encode())
    received = bob.last(MessageReceived)
    assert received.call is None and received.body.decode() == "héllo"
    assert alice.last(RequestCompleted).status_code == 200
    alice.run("options", bob.uri)
    answer = alice.last(RequestCompleted).response
    assert answer.status_code == 200 and "INVITE" in answer.get("Allow")
    assert "application/sdp" in answer.get("Accept") and bob.of(OptionsReceived)


# --- forking ----------------------------------------------------------------------------------


def test_forking_two_180s_and_two_200s():
    net = Network()
    alice = Endpoint(net, "alice", "127.0.0.1", 5061)
    bob1 = Endpoint(net, "bob", "127.0.0.1", 5062)
    bob2 = Endpoint(net, "bob", "127.0.0.1", 5063)
    ForkingProxy(net, "127.0.0.1", 5070, [bob1, bob2])
    call = alice.run("invite", "sip:bob@127.0.0.1:5070")
    first, second = bob1.last(IncomingCall).call, bob2.last(IncomingCall).call
    bob1.run("ringing", first)
    bob2.run("ringing", second)
    progress = alice.of(CallProgress)
    assert len({p.dialog for p in progress}) == 2
    bob1.run("answer", first)
    bob2.run("answer", second)
    answered = alice.last(CallAnswered)
    assert answered.dialog.remote_tag == first.local_tag
    assert len(alice.of(CallAnswered)) == 1
    # The second 2xx was ACKed and BYEd: bob2's call ends at once.
    assert ended(bob2).reason is EndReason.REMOTE_BYE
    assert not bob1.of(CallEnded)
    alice.run("hangup", call)
    assert ended(bob1).reason is EndReason.REMOTE_BYE


def test_outbound_proxy_and_record_route_carry_the_whole_dialog():
    net = Network()
    proxy_uri = parse_uri("sip:127.0.0.1:5070")
    alice = Endpoint(net, "alice", "127.0.0.1", 5061,
                     config=UserAgentConfig(user="alice", session=PLAIN,
                                            outbound_proxy=proxy_uri))
    bob = Endpoint(net, "bob", "127.0.0.1", 5062)
    ForkingProxy(net, "127.0.0.1", 5070, [bob], record_route=True)
    call, _ = call_up(net, alice, bob)
    invite = next(m for _, name, m in net.log if name == "alice")
    assert str(invite.route[0].uri) == "sip:127.0.0.1:5070;lr"  # pre-loaded (§8.1.2)
    alice.run("hangup", call)
    bye = next(m for _, name, m in net.log if name == "alice" and m.method == "BYE")
    # The dialog's route set came from Record-Route: the BYE goes through the proxy.
    assert [str(r.uri) for r in bye.route] == ["sip:127.0.0.1:5070;lr"]
    assert str(bye.uri) == "sip:bob@127.0.0.1:5062"
    assert ended(bob).reason is EndReason.REMOTE_BYE
    names = [name for _, name, m in net.log if isinstance(m, Request) and m.method == "BYE"]
    assert names == ["alice", "proxy"]


# --- 100rel, UPDATE, session timers ------------------------------------------------------------


def reliable(name, **session):
    return {"config": config(name, reliable_provisional=ReliableProvisionalMode.SUPPORTED,
                             **session)}


def test_prack_with_offer_in_reliable_183():
    net, alice, bob = client_and_server(reliable("alice"), reliable("bob"))
    alice.run("invite", bob.uri, offer=False)
    incoming = bob.last(IncomingCall).call
    bob.run("ringing", incoming, status=183, early_media=True)
    assert net.trace() == ["INVITE", 183, "PRACK", 200]
    _, _, prack = net.log[2]
    assert prack.body and prack.get("RAck").endswith("INVITE")
    assert alice.last(CallProgress).early_media is not None
    bob.run("answer", incoming)
    assert net.trace()[-2:] == [200, "ACK"]
    assert alice.last(CallAnswered).negotiated is not None
    assert bob.last(CallAnswered).negotiated is not None


def test_update_in_early_dialog():
    net, alice, bob = client_and_server(reliable("alice"), reliable("bob"))
    call = alice.run("invite", bob.uri)
    incoming = bob.last(IncomingCall).call
    bob.run("ringing", incoming, status=183, early_media=True)
    alice.ua.session(call).offer_answer.hold()
    alice.run("update", call)
    assert net.trace()[-2:] == ["UPDATE", 200]
    assert alice.last(CallUpdated).negotiated.streams[0].direction is Direction.SENDONLY
    bob.run("answer", incoming)
    assert alice.ua.session(call).state.value == "confirmed"


def test_session_timer_refresh_and_expiry():
    timers = dict(session_timer=SessionTimerPolicy(interval=90))
    net, alice, bob = client_and_server({"config": config("alice", **timers)},
                                        {"config": config("bob", **timers)})
    call_up(net, alice, bob)
    net.advance(100.0)
    assert net.trace("alice").count("UPDATE") == 2  # at 45 and 90 s, refresher=uac
    net.drop = lambda source, m: isinstance(m, Request) and m.method == "UPDATE"
    net.advance(300.0)
    # The refreshes stop arriving: bob ends the session before it expires.
    assert ended(bob).reason is EndReason.SESSION_EXPIRED
    assert ended(alice).reason is EndReason.REMOTE_BYE


def test_422_then_success_with_higher_min_se():
    net, alice, bob = client_and_server(
        {"config": config("alice", session_timer=SessionTimerPolicy(interval=90))},
        {"config": config("bob", session_timer=SessionTimerPolicy(interval=1800, min_se=600))})
    call = alice.run("invite", bob.uri)
    assert sorted(net.trace(), key=str) == [422, "ACK", "INVITE", "INVITE"]
    _, _, retry = net.log[-1] if net.log[-1][2].method == "INVITE" else net.log[-2]
    assert retry.get("Session-Expires") == "600" and retry.get("Min-SE") == "600"
    bob.run("answer", bob.last(IncomingCall).call)
    assert alice.ua.session(call).timer.interval == 600


# --- REFER, Replaces ----------------------------------------------------------------------------


def three():
    net = Network()
    return (net, Endpoint(net, "alice", "127.0.0.1", 5061), Endpoint(net, "bob", "127.0.0.1", 5062),
            Endpoint(net, "carol", "127.0.0.1", 5063))


def test_blind_transfer_with_notify_progress():
    net, alice, bob, carol = three()
    a_b, b_a = call_up(net, alice, bob)
    subscription = alice.run("refer", a_b, carol.uri)
    refer = bob.last(ReferReceived)
    assert refer.call == b_a and str(refer.target.uri) == carol.uri
    assert str(refer.referred_by.uri) == "sip:alice@127.0.0.1"
    bob.run("invite", refer.target.uri, refer=refer.subscription)
    assert str(carol.last(IncomingCall).referred_by.uri) == "sip:alice@127.0.0.1"
    carol.run("ringing", carol.last(IncomingCall).call)
    carol.run("answer", carol.last(IncomingCall).call)
    statuses = [p.status.status_code for p in alice.of(ReferProgress)]
    assert statuses == [100, 180, 200]
    assert alice.last(SubscriptionEnded).subscription == subscription
    assert alice.last(RequestCompleted).status_code == 202
    alice.run("hangup", a_b)
    assert [e.reason for e in bob.of(CallEnded)] == [EndReason.REMOTE_BYE]
    assert bob.ua.calls == (bob.last(CallAnswered).call,)  # bob's call to carol goes on


def test_refused_transfer_reports_the_failure():
    net, alice, bob, carol = three()
    a_b, _ = call_up(net, alice, bob)
    alice.run("refer", a_b, carol.uri)
    refer = bob.last(ReferReceived)
    bob.run("invite", refer.target.uri, refer=refer.subscription)
    carol.run("reject", carol.last(IncomingCall).call, 603)
    assert [p.status.status_code for p in alice.of(ReferProgress)] == [100, 603]
    assert isinstance(alice.last(SubscriptionEnded), SubscriptionEnded)


def test_attended_transfer_with_replaces():
    net, alice, bob, carol = three()
    a_b, _ = call_up(net, alice, bob)
    a_c, c_a = call_up(net, alice, carol)
    alice.run("refer", a_b, carol.uri, replaces=a_c)
    refer = bob.last(ReferReceived)
    assert refer.target.replaces is not None
    bob.run("invite", refer.target.uri, refer=refer.subscription,
            replaces=refer.target.replaces)
    incoming = carol.last(IncomingCall)
    assert incoming.replaces == c_a
    carol.run("answer", incoming.call)
    # Carol's call with Alice is replaced: BYE with reason REPLACED on her side.
    (carol_ended,) = carol.of(CallEnded)
    assert carol_ended.call == c_a and carol_ended.reason is EndReason.REPLACED
    assert [p.status.status_code for p in alice.of(ReferProgress)][-1] == 200
    assert alice.of(CallEnded)[0].call == a_c  # Alice's leg to Carol got the BYE


def test_refer_outside_a_dialog_is_403_unless_the_application_asks_for_it():
    net, alice, bob, carol = three()
    ref = alice.run("refer_outside", bob.uri, carol.uri)
    assert net.trace() == ["REFER", 403] and not bob.of(ReferRequested)
    assert alice.last(SubscriptionEnded).subscription == ref
    assert alice.last(RequestCompleted).status_code == 403
    assert leftovers(alice.ua) == {} and leftovers(bob.ua) == {}


def focus_like(net, name="bob", port=5062):
    return Endpoint(net, name, "127.0.0.1", port, config=UserAgentConfig(
        user=name, session=PLAIN, refer_outside_dialog=True))


def test_refer_outside_a_dialog_accepted_dials_out_with_notify_progress():
    net, alice, _, carol = three()
    bob = focus_like(net, port=5064)
    ref = alice.run("refer_outside", bob.uri, carol.uri)
    requested = bob.last(ReferRequested)
    assert str(requested.target.uri) == carol.uri
    assert str(requested.request.from_.uri) == "sip:alice@127.0.0.1"
    assert not alice.of(RequestCompleted)  # no answer before the application decides
    bob.run("accept_refer", requested.subscription)
    assert alice.last(RequestCompleted).status_code == 202
    bob.run("invite", requested.target.uri, refer=requested.subscription)
    carol.run("ringing", carol.last(IncomingCall).call)
    carol.run("answer", carol.last(IncomingCall).call)
    progress = alice.of(ReferProgress)
    assert [p.status.status_code for p in progress] == [100, 180, 200]
    assert {p.subscription for p in progress} == {ref}
    assert alice.last(SubscriptionEnded).subscription == ref
    assert alice.ua.calls == () and len(bob.ua.calls) == 1  # the REFER made no call of alice's
    bob.run("hangup", bob.ua.calls[0])
    net.advance(100.0)
    assert leftovers(alice.ua) == {} and leftovers(bob.ua) == {}


def test_refer_outside_a_dialog_refused_by_the_application_creates_nothing():
    net, alice, _, carol = three()
    bob = focus_like(net, port=5064)
    alice.run("refer_outside", bob.uri, carol.uri)
    bob.run("refuse_refer", bob.last(ReferRequested).subscription, 404, "No Such Conference")
    assert net.trace()[-2:] == ["REFER", 404]
    assert alice.last(RequestCompleted).response.reason == "No Such Conference"
    assert [e.status_code for e in alice.of(SubscriptionEnded)] == [404]
    with pytest.raises(UserAgentError):
        bob.run("accept_refer", bob.last(ReferRequested).subscription)
    net.advance(100.0)
    assert leftovers(alice.ua) == {} and leftovers(bob.ua) == {}


def test_refer_outside_a_dialog_with_refer_sub_false_and_a_bad_refer_to():
    net, alice, _, carol = three()
    bob = focus_like(net, port=5064)
    _, pending = alice.ua._new_request("REFER", bob.uri, headers=[("Refer-To", "<tel:+15551234>")])
    alice.process(alice.ua._start(pending, net.now))
    net.flush()
    assert net.trace()[-2:] == ["REFER", 603] and not bob.of(ReferRequested)
    _, pending = alice.ua._new_request(
        "REFER", bob.uri, headers=[("Refer-To", f"<{carol.uri}>"), ("Refer-Sub", "false")])
    alice.process(alice.ua._start(pending, net.now))
    net.flush()
    bob.run("accept_refer", bob.last(ReferRequested).subscription)
    assert net.trace()[-2:] == ["REFER", 202]  # and no NOTIFY (RFC 4488)
    assert leftovers(bob.ua) == {}


def test_replaces_for_an_unknown_dialog_gets_481():
    net, alice, _, carol = three()
    bogus = Replaces("nope", Parameters([("to-tag", "a"), ("from-tag", "b")]))
    alice.run("invite", carol.uri, replaces=bogus)
    assert net.trace()[:2] == ["INVITE", 481] and not carol.of(IncomingCall)


# --- SUBSCRIBE/NOTIFY ------------------------------------------------------------------------


def test_subscribe_notify_refresh_and_unsubscribe():
    net, alice, bob = client_and_server(
        server_args={"config": UserAgentConfig(user="bob", session=PLAIN,
                                                event_packages=("conference",))})
    ref = alice.run("subscribe", bob.uri, "conference", expires=120,
                    accept=["application/conference-info+xml"])
    requested = bob.last(SubscriptionRequested)
    assert requested.expires == 120
    bob.run("accept_subscription", requested.subscription, body=b"<conference-info/>",
            content_type="application/conference-info+xml")
    notified = alice.last(NotifyReceived)
    assert notified.subscription == ref and notified.notification.body == b"<conference-info/>"
    bob.run("notify", requested.subscription, b"<conference-info version='2'/>",
            "application/conference-info+xml")
    assert alice.last(NotifyReceived).notification.body == b"<conference-info version='2'/>"
    net.advance(200.0)  # refreshed twice before expiring: 120 - 32 s each time
    assert net.trace("alice").count("SUBSCRIBE") == 3
    alice.run("unsubscribe", ref)
    assert [e.reason for e in alice.of(SubscriptionEnded)] == ["unsubscribed"]
    assert [e.reason for e in bob.of(SubscriptionEnded)] == ["unsubscribed"]
    assert net.trace()[-2:] == ["NOTIFY", 200]  # the final NOTIFY, still answered
    net.advance(300.0)
    assert not alice.ua._subscribers and not bob.ua._notifiers


def test_a_refresh_notify_carries_the_state_recorded_without_sending():
    net, alice, bob = client_and_server(
        server_args={"config": UserAgentConfig(user="bob", session=PLAIN,
                                                event_packages=("conference",))})
    alice.run("subscribe", bob.uri, "conference", expires=120)
    requested = bob.last(SubscriptionRequested)
    bob.run("accept_subscription", requested.subscription, body=b"<full version='1'/>",
            content_type="application/conference-info+xml")
    bob.run("notify", requested.subscription, b"<partial version='2'/>",
            "application/conference-info+xml")
    sent = len(net.trace("bob"))
    bob.ua.set_subscription_state(requested.subscription, b"<full version='2'/>",
                                  "application/conference-info+xml")
    assert len(net.trace("bob")) == sent  # nothing sent now
    net.advance(100.0)  # alice refreshes (RFC 6665 §4.1.2.1): the NOTIFY has the whole state
    assert net.trace("alice").count("SUBSCRIBE") == 2
    assert alice.last(NotifyReceived).notification.body == b"<full version='2'/>"


def test_unknown_event_package_gets_489():
    net, alice, bob = client_and_server()
    alice.run("subscribe", bob.uri, "presence")
    assert net.trace() == ["SUBSCRIBE", 489]
    assert alice.last(SubscriptionEnded).status_code == 489


# --- authentication ------------------------------------------------------------------------------


def test_digest_challenge_to_invite_is_answered_for_a_configured_server():
    server = DigestServer("biloxi", lambda user: "secret" if user == "alice" else None,
                          secret=b"k" * 32)
    client = DigestClient([DigestAccount("alice", "secret", ("127.0.0.1",))])
    net, alice, bob = client_and_server({"authenticator": client}, {"checker": server})
    call = alice.run("invite", bob.uri)
    assert sorted(net.trace(), key=str) == [401, "ACK", "INVITE", "INVITE"]
    bob.run("answer", bob.last(IncomingCall).call)
    assert alice.last(CallAnswered).call == call
    _, _, ack = net.log[-1]
    assert ack.method == "ACK" and "Authorization" in ack  # §22.1: the ACK carries them too


def test_no_digest_for_a_peer_we_have_no_account_for():
    server = DigestServer("biloxi", lambda user: "secret", secret=b"k" * 32)
    client = DigestClient([DigestAccount("alice", "secret", ("proxy.example.com",))])
    net, alice, bob = client_and_server({"authenticator": client}, {"checker": server})
    alice.run("invite", bob.uri)
    assert net.trace() == ["INVITE", 401, "ACK"]
    assert ended(alice).status_code == 401


# --- misuse ---------------------------------------------------------------------------------


def test_unknown_calls_and_unresolvable_targets():
    _, alice, _ = client_and_server()
    with pytest.raises(UserAgentError, match="no call"):
        alice.run("answer", CallRef("x", "y"))
    with pytest.raises(UserAgentError, match="DNS"):
        alice.run("invite", "sip:bob@example.com")
