import itertools
import random

import pytest

from sipperc.sdp import Direction, MediaCapabilities, parse_sdp
from sipperc.sip import Request
from sipperc.sip import headers as h
from sipperc.sip.invite_session import (
    TRANSITIONS,
    InviteSessionConfig,
    InviteSessionInput,
    InviteSessionState,
    InviteSessionStateError,
    ReliableProvisionalMode,
    SendRequest,
)
from sipperc.sip.session_timer import SessionTimerPolicy
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    CallUpdated,
    CallUpdateFailed,
    EndReason,
)
from tests.sip.session_harness import PCMA, PCMU, RELIABLE, SessionLink, engine, wire

St = InviteSessionState


def answered_call(**kwargs):
    link = SessionLink(**kwargs)
    link.flush()
    link.do(link.callee, "provisional", 180)
    link.do(link.callee, "accept")
    return link


def ended(side):
    (event,) = side.of(CallEnded)
    return event


# --- basic flows --------------------------------------------------------------------------------


def test_basic_call_with_early_offer_and_bye():
    link = answered_call()
    caller, callee = link.caller.session, link.callee.session
    assert link.methods() == ["INVITE", 180, 200, "ACK"]
    (progress,) = link.caller.of(CallProgress)
    assert progress.status_code == 180 and progress.dialog == caller.dialog.id
    (answered,) = link.caller.of(CallAnswered)
    assert answered.negotiated.accepted_streams[0].codecs[0].name == "PCMU"
    (callee_answered,) = link.callee.of(CallAnswered)
    assert callee_answered.negotiated.accepted_streams[0].codecs[0].name == "PCMU"
    assert caller.state is callee.state is St.CONFIRMED
    assert caller.dialog.id.local_tag == callee.dialog.id.remote_tag
    link.now = 30.0
    link.do(link.caller, "hangup")
    assert link.methods()[-2:] == ["BYE", 200]
    assert ended(link.caller).reason is EndReason.LOCAL_BYE
    assert ended(link.caller).duration == 30.0
    assert ended(link.callee).reason is EndReason.REMOTE_BYE
    assert caller.state is callee.state is St.TERMINATED


def test_late_offer_answer_in_ack():
    link = SessionLink(offer=False)
    link.flush()
    assert not link.callee.session.invite.body
    link.do(link.callee, "accept")
    _, ok = link.sent[1]
    _, ack = link.sent[2]
    assert ok.content_type.mime == "application/sdp" and ack.body and ack.method == "ACK"
    assert link.caller.of(CallAnswered)[0].negotiated is not None
    assert link.callee.of(CallAnswered)[0].negotiated is not None


def test_reject():
    link = SessionLink()
    link.flush()
    link.do(link.callee, "reject", 486)
    assert link.methods() == ["INVITE", 486]
    assert ended(link.caller).reason is EndReason.REJECTED and ended(link.caller).status_code == 486
    assert ended(link.callee).reason is EndReason.DECLINED
    assert link.caller.session.state is St.TERMINATED


def test_offer_without_common_codec_is_refused_with_488():
    link = SessionLink(caller_engine=engine("192.0.2.1", PCMA),
                       callee_engine=engine("192.0.2.2", PCMU))
    link.flush()
    assert link.methods() == ["INVITE", 488]
    _, refusal = link.sent[1]
    assert refusal.get("Warning") == '305 sipperc "no common audio codec (offered: PCMA/8000)"'
    # Refused on arrival: no IncomingCall, only the CallEnded that records why.
    assert ended(link.callee).reason is EndReason.DECLINED
    assert ended(link.callee).status_code == 488
    assert ended(link.caller).reason is EndReason.REJECTED


def test_cancel_after_ringing():
    link = SessionLink()
    link.flush()
    link.do(link.callee, "provisional", 180)
    link.do(link.caller, "hangup")
    assert link.methods() == ["INVITE", 180, "CANCEL", 487]
    assert ended(link.caller).reason is EndReason.CANCELLED
    assert ended(link.callee).reason is EndReason.CANCELLED
    assert link.caller.session.state is St.TERMINATED


def test_cancel_waits_for_a_provisional_response():
    link = SessionLink()
    link.flush()
    link.do(link.caller, "cancel")
    assert link.methods() == ["INVITE"]  # §9.1: nothing to cancel yet
    link.do(link.callee, "provisional", 180)
    assert link.methods() == ["INVITE", 180, "CANCEL", 487]


def test_cancel_without_any_final_response_ends_after_64_t1():
    link = SessionLink()
    link.flush()
    link.hold_filter = lambda side, m: side is link.callee
    link.do(link.callee, "provisional", 180)
    link.release()
    link.do(link.caller, "cancel")
    link.drop_held()
    link.advance(31.9)
    assert link.caller.session.state is St.CANCELLING
    link.advance(32.5)
    assert ended(link.caller).reason is EndReason.CANCELLED


def test_cancel_200_race_acks_and_byes_the_answer():
    link = SessionLink()
    link.flush()
    link.do(link.callee, "provisional", 180)
    link.hold_filter = lambda side, m: side is link.caller  # the CANCEL is slow
    link.do(link.caller, "cancel")
    link.hold_filter = None
    link.do(link.callee, "accept")  # the 200 crosses the CANCEL
    link.release()
    assert link.methods() == ["INVITE", 180, "CANCEL", 200, "ACK", "BYE", 200]
    assert ended(link.caller).reason is EndReason.CANCELLED
    assert not link.caller.of(CallAnswered)
    assert ended(link.callee).reason is EndReason.REMOTE_BYE
    assert link.caller.session.state is St.TERMINATED


def test_callee_hangup_before_the_ack_waits_for_it():
    link = SessionLink()
    link.flush()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "ACK"
    link.do(link.callee, "accept")
    link.hold_filter = None
    link.do(link.callee, "hangup")
    assert link.callee.session.state is St.CONNECTING and "BYE" not in link.methods()
    link.release()
    assert link.methods()[-2:] == ["BYE", 200]
    assert ended(link.callee).reason is EndReason.LOCAL_BYE


def test_2xx_is_retransmitted_until_ack_and_unacked_call_is_ended():
    link = SessionLink()
    link.flush()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "ACK"
    link.do(link.callee, "accept")
    link.advance(40.0)
    callee_sent = link.methods("callee")
    # T1 doubling to T2 (0.5, 1, 2, 4, 4, ...) for 64*T1 = 32 s.
    assert callee_sent.count(200) == 11
    assert callee_sent[-1] == "BYE"
    assert ended(link.callee).reason is EndReason.TIMEOUT


def test_early_bye_from_the_caller_gets_487_for_the_invite():
    link = SessionLink()
    link.flush()
    link.do(link.callee, "provisional", 180)
    caller = link.caller.session
    bye = caller.dialog.create_request("BYE")
    link.apply(link.caller, [SendRequest(bye)])
    link.flush()
    assert link.methods()[-3:] == ["BYE", 200, 487]
    assert ended(link.callee).reason is EndReason.CANCELLED


def test_invite_expires_header_ends_an_unanswered_call():
    link = SessionLink(invite_headers=[("Expires", 20)])
    link.flush()
    link.do(link.callee, "provisional", 180)
    link.advance(20.0)
    assert link.methods()[-1] == 487
    assert ended(link.callee).reason is EndReason.TIMEOUT


# --- re-INVITE, glare, races -----------------------------------------------------------------


def test_hold_by_reinvite():
    link = answered_call()
    caller = link.caller.session
    caller.offer_answer.hold()
    link.do(link.caller, "reinvite")
    assert link.methods()[-3:] == ["INVITE", 200, "ACK"]
    (mine,) = link.caller.of(CallUpdated)
    (theirs,) = link.callee.of(CallUpdated)
    assert mine.negotiated.streams[0].direction is Direction.SENDONLY and not mine.remote
    assert theirs.negotiated.streams[0].direction is Direction.RECVONLY and theirs.remote


def test_reinvite_without_offer_takes_the_offer_from_the_2xx():
    link = answered_call()
    link.do(link.caller, "reinvite", offer=False)
    _, reinvite = link.sent[-3]
    _, ok = link.sent[-2]
    _, ack = link.sent[-1]
    assert reinvite.method == "INVITE" and not reinvite.body
    assert ok.body and ack.method == "ACK" and ack.body
    assert link.caller.of(CallUpdated) and link.callee.of(CallUpdated)


def test_glare_both_get_491_and_retry_in_turn():
    link = answered_call(caller_config=InviteSessionConfig(random=random.Random(1)),
                         callee_config=InviteSessionConfig(random=random.Random(2)))
    link.hold_filter = lambda side, m: True
    link.do(link.caller, "reinvite")
    link.do(link.callee, "reinvite")
    link.hold_filter = None
    link.release()
    assert link.methods()[-4:] == ["INVITE", "INVITE", 491, 491]
    link.advance(10.0)
    # The callee (not the Call-ID owner) retries within 2 s, the caller after 2.1-4 s.
    assert link.methods()[-6:] == ["INVITE", 200, "ACK", "INVITE", 200, "ACK"]
    callee_retry, caller_retry = link.times[-6], link.times[-3]
    assert link.sent[-6][0] == "callee" and link.sent[-3][0] == "caller"
    assert 0 <= callee_retry <= 2.0 and 2.1 <= caller_retry <= 4.0
    assert len(link.caller.of(CallUpdated)) == len(link.callee.of(CallUpdated)) == 2
    assert not link.caller.of(CallUpdateFailed)


def test_update_glare_491_and_retry():
    link = answered_call(caller_config=InviteSessionConfig(
        reliable_provisional=ReliableProvisionalMode.DISABLED, session_timer=None,
        random=random.Random(5)))
    link.hold_filter = lambda side, m: True
    link.do(link.caller, "update")
    link.do(link.callee, "update")
    link.hold_filter = None
    link.release()
    assert link.methods()[-4:] == ["UPDATE", "UPDATE", 491, 491]  # RFC 3311 §5.2
    link.advance(10.0)
    assert link.methods()[-4:] == ["UPDATE", 200, "UPDATE", 200]
    assert len(link.caller.of(CallUpdated)) == len(link.callee.of(CallUpdated)) == 2


def test_reinvite_while_the_last_2xx_awaits_its_ack_gets_500_retry_after():
    link = answered_call()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "ACK"
    link.do(link.caller, "reinvite")  # the callee's 200 waits for an ACK that is held
    link.do(link.caller, "reinvite")
    _, refusal = link.sent[-1]
    assert refusal.status_code == 500
    assert 0 <= int(refusal.get("Retry-After")) <= 10  # §14.2
    (failed,) = link.caller.of(CallUpdateFailed)
    assert failed.status_code == 500


def test_our_reinvite_waits_while_an_incoming_one_awaits_its_ack():
    link = answered_call()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "ACK"
    link.do(link.caller, "reinvite")
    link.hold_filter = None
    link.do(link.callee, "reinvite")  # §14.1: an INVITE transaction is still in progress
    assert link.methods("callee")[-1] == 200
    link.release()
    assert link.methods()[-4:] == ["ACK", "INVITE", 200, "ACK"]
    assert [u.remote for u in link.callee.of(CallUpdated)] == [True, False]


def test_bye_crossing_a_reinvite():
    link = answered_call()
    link.hold_filter = lambda side, m: True
    link.do(link.caller, "reinvite")
    link.do(link.callee, "hangup")
    link.hold_filter = None
    link.release()
    # The callee answers the re-INVITE 481 (its session is over), the caller the BYE 200.
    assert sorted(link.methods()[-4:], key=str) == sorted(["INVITE", "BYE", 200, 481], key=str)
    assert ended(link.caller).reason is EndReason.REMOTE_BYE
    assert ended(link.callee).reason is EndReason.LOCAL_BYE
    assert link.caller.session.state is St.TERMINATED
    assert link.callee.session.state is St.TERMINATED


def test_crossing_byes():
    link = answered_call()
    link.hold_filter = lambda side, m: True
    link.do(link.caller, "hangup")
    link.do(link.callee, "hangup")
    link.hold_filter = None
    link.release()
    assert link.methods()[-4:] == ["BYE", "BYE", 200, 200]
    assert link.caller.session.state is link.callee.session.state is St.TERMINATED


def test_481_to_a_reinvite_ends_the_call():
    link = answered_call()
    link.callee.session.state = St.TERMINATED  # the callee lost the dialog
    link.do(link.caller, "reinvite")
    assert link.methods()[-1] == 481
    assert ended(link.caller).reason is EndReason.DIALOG_GONE


def test_reinvite_refused_keeps_the_session():
    link = answered_call(callee_engine=engine("192.0.2.2", PCMU))
    caller = link.caller.session
    before = caller.negotiated
    caller.offer_answer.update_stream(0, capabilities=MediaCapabilities("audio", (PCMA,)))
    link.do(link.caller, "reinvite")
    assert link.methods()[-1] == 488
    (failed,) = link.caller.of(CallUpdateFailed)
    assert failed.status_code == 488
    assert caller.state is St.CONFIRMED and caller.negotiated is before


# --- forking ----------------------------------------------------------------------------------


def test_forking_two_early_dialogs_and_two_2xx():
    link = SessionLink()
    link.flush()
    link.fork()
    first, second = link.callee.sessions
    link.apply(link.callee, first.provisional(link.now, 180))
    link.apply(link.callee, second.provisional(link.now, 180))
    link.flush()
    progress = link.caller.of(CallProgress)
    assert len({p.dialog for p in progress}) == 2
    link.apply(link.callee, first.accept(link.now))
    link.apply(link.callee, second.accept(link.now))
    link.flush()
    caller = link.caller.session
    (answered,) = link.caller.of(CallAnswered)
    assert answered.dialog.remote_tag == first.call.local_tag
    assert caller.dialog.id == answered.dialog
    # The second 2xx is ACKed and then BYEd (§13.2.2.4).
    assert link.methods()[-4:] == ["ACK", "ACK", "BYE", 200]
    assert first.state is St.CONFIRMED and second.state is St.TERMINATED
    assert ended(link.callee).call == second.call
    # Each early dialog applied the answer of its own UAS to its own engine fork.
    assert caller.state is St.CONFIRMED and caller.negotiated is not None


# --- 100rel / PRACK, UPDATE ---------------------------------------------------------------------


def test_prack_with_answer_in_reliable_183_then_200_without_sdp():
    link = SessionLink(caller_config=RELIABLE, callee_config=RELIABLE)
    link.flush()
    link.do(link.callee, "provisional", 183, early_media=True)
    assert link.methods() == ["INVITE", 183, "PRACK", 200]
    _, reliable = link.sent[1]
    assert reliable.get("RSeq") is not None and "100rel" in reliable.typed(h.REQUIRE)
    (progress,) = link.caller.of(CallProgress)
    assert progress.early_media is not None
    link.do(link.callee, "accept")
    _, ok = link.sent[-2]
    assert ok.status_code == 200 and not ok.body
    assert link.caller.of(CallAnswered)[0].negotiated is progress.early_media


def test_offer_in_reliable_183_answered_in_prack():
    link = SessionLink(caller_config=RELIABLE, callee_config=RELIABLE, offer=False)
    link.flush()
    link.do(link.callee, "provisional", 183, early_media=True)
    _, offer_183 = link.sent[1]
    _, prack = link.sent[2]
    assert offer_183.body and prack.method == "PRACK" and prack.body
    link.do(link.callee, "accept")
    assert link.methods()[-2:] == [200, "ACK"]
    assert link.callee.of(CallAnswered)[0].negotiated is not None
    assert link.caller.of(CallAnswered)[0].negotiated is not None


def test_200_waits_for_the_prack_of_a_183_with_sdp():
    link = SessionLink(caller_config=RELIABLE, callee_config=RELIABLE)
    link.flush()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "PRACK"
    link.do(link.callee, "provisional", 183, early_media=True)
    link.do(link.callee, "accept")
    assert 200 not in link.methods("callee")  # RFC 3262 §3
    link.hold_filter = None
    link.release()
    assert link.methods()[-4:] == ["PRACK", 200, 200, "ACK"]
    assert link.callee.session.state is St.CONFIRMED


def test_reliable_183_retransmitted_then_500_without_prack():
    link = SessionLink(caller_config=RELIABLE, callee_config=RELIABLE)
    link.flush()
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "PRACK"
    link.do(link.callee, "provisional", 183, early_media=True)
    link.drop_held()
    link.advance(33.0)
    callee_sent = link.methods("callee")
    assert callee_sent.count(183) == 7  # first + at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5
    assert callee_sent[-1] == 500
    assert ended(link.callee).reason is EndReason.TIMEOUT


def test_update_in_early_dialog_after_prack():
    link = SessionLink(caller_config=RELIABLE, callee_config=RELIABLE)
    link.flush()
    link.do(link.callee, "provisional", 183, early_media=True)
    caller = link.caller.session
    caller.offer_answer.hold()
    link.do(link.caller, "update")
    assert link.methods()[-2:] == ["UPDATE", 200]
    (update,) = link.caller.of(CallUpdated)
    assert update.negotiated.streams[0].direction is Direction.SENDONLY
    assert link.callee.of(CallUpdated)[0].remote
    link.do(link.callee, "accept")
    assert link.caller.session.state is St.CONFIRMED


def test_100rel_required_refuses_a_caller_without_it():
    link = SessionLink(
        caller_config=InviteSessionConfig(reliable_provisional=ReliableProvisionalMode.DISABLED),
        callee_config=InviteSessionConfig(reliable_provisional=ReliableProvisionalMode.REQUIRED))
    link.flush()
    assert link.methods() == ["INVITE", 421]
    _, refusal = link.sent[1]
    assert refusal.get("Require") == "100rel"


def test_no_reliable_provisional_unless_both_support_it():
    link = SessionLink(callee_config=RELIABLE)
    link.flush()
    link.do(link.callee, "provisional", 183, early_media=True)
    assert link.methods() == ["INVITE", 183]  # unreliable: no PRACK
    with pytest.raises(InviteSessionStateError, match="100rel"):
        link.do(link.callee, "provisional", 180, reliable=True)


# --- session timers --------------------------------------------------------------------------


def timer_config(**policy):
    return InviteSessionConfig(session_timer=SessionTimerPolicy(**policy),
                               reliable_provisional=ReliableProvisionalMode.DISABLED)


def test_session_timer_refreshes_with_update_and_keeps_the_call():
    link = answered_call(caller_config=timer_config(interval=90),
                         callee_config=timer_config(interval=1800))
    caller, callee = link.caller.session, link.callee.session
    assert caller.timer.interval == callee.timer.interval == 90
    assert caller.timer.we_refresh and not callee.timer.we_refresh
    link.advance(200.0)
    assert link.methods("caller").count("UPDATE") == 4  # at 45, 90, 135, 180 s
    assert caller.state is callee.state is St.CONFIRMED
    _, update = next(item for item in link.sent if getattr(item[1], "method", "") == "UPDATE")
    assert not update.body and update.get("Session-Expires") == "90;refresher=uac"


def test_session_timer_expiry_sends_bye():
    link = answered_call(caller_config=timer_config(interval=90),
                         callee_config=timer_config(interval=1800))
    link.hold_filter = lambda side, m: getattr(m, "method", None) == "UPDATE"
    link.advance(61.0)
    # No refresh reached the callee: BYE min(32, 90/3) = 30 s before expiry.
    assert link.methods("callee")[-1] == "BYE"
    assert ended(link.callee).reason is EndReason.SESSION_EXPIRED
    assert link.now == 61.0


def test_session_timer_refresh_by_reinvite_when_update_is_not_allowed():
    callee_config = InviteSessionConfig(
        session_timer=SessionTimerPolicy(interval=90),
        reliable_provisional=ReliableProvisionalMode.DISABLED,
        allow=("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"))
    link = answered_call(caller_config=timer_config(interval=90), callee_config=callee_config)
    link.advance(46.0)
    assert link.methods()[-3:] == ["INVITE", 200, "ACK"]
    _, reinvite = link.sent[-3]
    assert reinvite.body  # the same description again
    assert not link.caller.of(CallUpdated) or all(
        not u.remote for u in link.caller.of(CallUpdated))


def test_422_retry_with_higher_min_se():
    link = SessionLink(caller_config=timer_config(interval=90),
                       callee_config=timer_config(interval=1800, min_se=300))
    link.flush()
    assert link.methods() == ["INVITE", 422, "INVITE"]
    _, retry = link.sent[2]
    assert retry.get("Session-Expires") == "300" and retry.get("Min-SE") == "300"
    assert retry.cseq.seq == link.sent[0][1].cseq.seq + 1
    link.do(link.callee, "accept")
    assert link.caller.session.timer.interval == 300
    assert link.caller.session.state is St.CONFIRMED


# --- misuse -----------------------------------------------------------------------------------


def test_commands_out_of_turn_raise():
    link = answered_call()
    with pytest.raises(InviteSessionStateError):
        link.do(link.callee, "accept")
    with pytest.raises(InviteSessionStateError):
        link.do(link.caller, "provisional", 180)
    with pytest.raises(InviteSessionStateError):
        link.do(link.caller, "cancel")
    link.do(link.caller, "hangup")
    link.do(link.caller, "hangup")  # idempotent
    with pytest.raises(InviteSessionStateError):
        link.do(link.caller, "reinvite")


# --- every (state, input) pair of the table, through the session's own API -----------------------

In = InviteSessionInput
UAC_INPUTS = {In.TRYING_RECEIVED, In.PROVISIONAL_RECEIVED, In.SUCCESS_RECEIVED,
              In.FAILURE_RECEIVED, In.CANCEL}
COMMANDS = {In.CANCEL, In.SEND_PROVISIONAL, In.SEND_SUCCESS, In.SEND_FAILURE, In.BYE}
UAS_INPUTS = {In.ACK_RECEIVED, In.CANCEL_RECEIVED, In.SEND_PROVISIONAL, In.SEND_SUCCESS,
              In.SEND_FAILURE, In.ACK_TIMEOUT}
STATES_BY_ROLE = {
    "uac": {St.CALLING, St.EARLY, St.CANCELLING, St.CONFIRMED, St.TERMINATING, St.TERMINATED},
    "uas": {St.INCOMING, St.EARLY, St.CONNECTING, St.CONFIRMED, St.TERMINATING, St.TERMINATED},
}


def in_state(state, role):
    """A link whose caller (uac) or callee (uas) session is in ``state``, by real messages."""
    link = SessionLink()
    if state is St.CALLING:
        return link, link.caller
    link.flush()
    if state is St.INCOMING:
        return link, link.callee
    link.do(link.callee, "provisional", 180)
    if state is St.EARLY:
        return link, link.caller if role == "uac" else link.callee
    if state is St.CANCELLING:
        link.hold_filter = lambda side, m: True
        link.do(link.caller, "cancel")
        return link, link.caller
    if state is St.CONNECTING:
        link.hold_filter = lambda side, m: side is link.caller
        link.do(link.callee, "accept")
        return link, link.callee
    link.do(link.callee, "accept")
    side = link.caller if role == "uac" else link.callee
    if state is St.CONFIRMED:
        return link, side
    if state is St.TERMINATING:
        link.hold_filter = lambda s, m: True
        link.do(side, "hangup")
        return link, side
    link.do(side, "hangup")
    return link, side


def wire_request(request):
    return wire(request.prepend("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKpair"))


def apply_input(link, side, event):
    session = side.session
    other = link.callee if side is link.caller else link.caller
    peer = other.session if other.sessions else None
    now = link.now
    tag = peer.call.local_tag if peer is not None else "fresh-tag"
    if event is In.TRYING_RECEIVED:
        return session.receive_response(session.invite, session.invite.response(100), now)
    if event in (In.PROVISIONAL_RECEIVED, In.SUCCESS_RECEIVED, In.FAILURE_RECEIVED):
        code = {In.PROVISIONAL_RECEIVED: 180, In.SUCCESS_RECEIVED: 200}.get(event, 486)
        body = b""
        if code == 200:
            answer = engine("192.0.2.9").receive_offer(parse_sdp(session.invite.body.decode()))
            body = str(answer.description).encode()
        response = session.invite.response(code, to_tag=tag, contact="<sip:bob@192.0.2.2>",
                                           body=body, content_type="application/sdp"
                                           if body else None)
        return session.receive_response(session.invite, wire(
            response.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx")), now)
    if event is In.CANCEL:
        return session.cancel(now)
    if event is In.ACK_RECEIVED:
        pending = session._retransmission
        seq = pending.cseq if pending is not None else session.invite.cseq.seq
        ack = session.invite.ack_for(session.invite.response(200, to_tag=session.call.local_tag))
        return session.receive_ack(wire(ack.replace("CSeq", f"{seq} ACK")), now)
    if event is In.CANCEL_RECEIVED:
        return session.receive_cancel(now)
    if event is In.SEND_PROVISIONAL:
        return session.provisional(now, 180)
    if event is In.SEND_SUCCESS:
        return session.accept(now)
    if event is In.SEND_FAILURE:
        return session.reject(now, 486)
    if event is In.ACK_TIMEOUT:
        return session.handle_timer(now + 64 * 0.5 + 1)
    if event is In.BYE_RECEIVED:
        dialog = peer.dialog if peer is not None and peer.dialog is not None else None
        if dialog is None or dialog.terminated:
            invite = session.invite
            bye = Request.build("BYE", "sip:bob@192.0.2.2", from_=invite.from_,
                                to=invite.to.with_tag(tag), call_id=invite.call_id,
                                cseq=invite.cseq.seq + 5)
        else:
            bye = dialog.create_request("BYE")
        return session.receive_request(wire_request(bye), "pair-txn", now)
    if event is In.BYE_COMPLETED:
        sent = [r for _, r in link._client.values() if r.method == "BYE" and _ is side]
        bye = sent[-1] if sent else session.invite.replace("CSeq", "99 BYE")
        return session.receive_response(bye, bye.response(200), now)
    if event is In.BYE:
        if session.state in (St.CONFIRMED, St.CONNECTING, St.TERMINATING, St.TERMINATED):
            return session.hangup(now)
        return session._advance(In.BYE)  # no public BYE before the answer: hangup cancels
    if event is In.DIALOG_GONE:
        return session.request_failed(481, now)
    raise AssertionError(event)


def test_table_covers_every_pair():
    assert set(TRANSITIONS) == set(itertools.product(InviteSessionState, InviteSessionInput))


@pytest.mark.parametrize(("state", "event"),
                         list(itertools.product(InviteSessionState, InviteSessionInput)))
def test_every_state_and_input(state, event):
    expected = TRANSITIONS[(state, event)]
    role = "uac" if event in UAC_INPUTS else "uas" if event in UAS_INPUTS else (
        "uac" if state in STATES_BY_ROLE["uac"] else "uas")
    if state not in STATES_BY_ROLE[role]:
        # A UAC-only input in a UAS-only state (or the reverse): it cannot happen.
        assert expected is None
        return
    link, side = in_state(state, role)
    session = side.session
    assert session.state is state
    if expected is None and event in COMMANDS:
        with pytest.raises(InviteSessionStateError):
            apply_input(link, side, event)
        assert session.state is state
        return
    apply_input(link, side, event)
    if expected is None:
        assert session.state is state  # ignored
    elif event is In.ACK_TIMEOUT and session._retransmission is None and state is not \
            St.CONNECTING:
        assert session.state in (state, expected)  # nothing awaited an ACK here
    else:
        assert session.state is expected
