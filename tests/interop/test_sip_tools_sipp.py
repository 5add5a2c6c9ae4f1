"""``sipperc responder`` and ``sipperc call`` against SIPp, as processes, over UDP and TCP.

SIPp's built-in ``uac`` calls the responder and its built-in ``uas`` is called by ``sipperc
call``; scenario files (tests/interop/sipp/) play what the built-ins do not: digest
challenges, CANCEL, re-INVITE, PRACK, UPDATE, session-timer 422, and the 481/491 cases. Each
test checks that SIPp exits 0 (every message it expected came, in order) and what our side
reported (the responder's call records, the call command's exit status and progress).
"""

from __future__ import annotations

import time

import pytest

from tests.interop.sip_tools import (
    SCENARIOS,
    SIPP,
    ResponderProcess,
    SippServer,
    sipp,
    sipperc_call,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(SIPP is None, reason="SIPp (apt sip-tester) missing"),
]

SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_calls_the_responder(transport):
    with ResponderProcess() as responder:
        run = sipp("-sn", "uac", f"127.0.0.1:{responder.port(transport)}",
                   "-t", SIPP_TRANSPORT[transport], "-m", "5", "-r", "10")
        assert run.code == 0, run.output[-2000:]
        assert run.counter("Successful call") == 5
        records = responder.wait_records(5)
    assert len(records) == 5
    for record in records:
        assert record["outcome"] == "remote-bye"
        assert record["codec"] == "PCMU/8000"
        assert str(record["transport"]).startswith(f"{transport}:127.0.0.1:")
        assert str(record["from"]).startswith("sip:sipp@")


def test_responder_refuses_with_the_chosen_code():
    with ResponderProcess("--reply", "486", "--answer-after", "0.2",
                          transports=("udp",)) as responder:
        run = sipp("-sf", str(SCENARIOS / "uac_refused.xml"),
                   f"127.0.0.1:{responder.port()}", "-m", "2", "-r", "10")
        assert run.code == 0, run.output[-2000:]
        records = responder.wait_records(2)
    assert [(r["outcome"], r["status"]) for r in records] == [("declined", 486)] * 2


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_reaches_sipp_uas(transport):
    with SippServer("-sn", "uas", "-t", SIPP_TRANSPORT[transport], "-m", "1",
                    directory=SCENARIOS) as server:
        call = sipperc_call(f"sip:service@127.0.0.1:{server.port}", "--transport", transport,
                            "--duration", "0.5", "--linger", "4.2" if transport == "tcp" else "0")
        finished = server.finish()
    assert call.code == 0, call.log[-2000:]
    assert call.progress[0] == f"trying 127.0.0.1:{server.port}/{transport} (numeric host)"
    assert call.progress[1] == "ringing (180 Ringing)"
    assert call.progress[2].startswith("answered (200 OK) codec=PCMU/8000")
    assert call.progress[3].startswith("ended: local-bye after 0.5")
    assert finished.code == 0, finished.output[-2000:]


def test_a_call_still_waiting_for_its_ack_when_the_responder_stops_gets_bye_and_a_record():
    # How sip_cps lost call records: under load the responder's socket dropped a caller's ACK
    # and BYE, SIPp took our 2xx retransmission for the 200 to its BYE (so counted the call
    # successful), and the responder was stopped within the 64*T1 it waits for the ACK: the
    # BYE it meant to send after the ACK never went, and the call had no record.
    responder = ResponderProcess(transports=("udp",))
    try:
        with SippServer("-sf", str(SCENARIOS / "uac_ack_lost.xml"),
                        f"127.0.0.1:{responder.port()}", "-m", "1",
                        directory=SCENARIOS) as caller:
            time.sleep(1.5)  # the INVITE is answered at once; the 200 is retransmitted
            assert responder.stop() == 0
            finished = caller.finish()
    finally:
        responder.stop()
    assert finished.code == 0, finished.output[-3000:]  # our BYE came, SIPp answered it 200
    assert [(r["outcome"], r["status"], r["duration"]) for r in responder.records] == \
        [("shutdown", None, 0.0)]


# --- scenario files against the responder (it rings for a second, then answers) ------------

@pytest.fixture(scope="module")
def ringing_responder():
    with ResponderProcess("--answer-after", "1") as responder:
        yield responder


RESPONDER_SCENARIOS = {
    # scenario: the outcomes of the call records it leaves (status after the colon)
    "uac_reinvite": ["remote-bye"],
    "uac_update": ["remote-bye"],
    "uac_prack": ["remote-bye"],
    "uac_422": ["declined:422", "remote-bye"],  # refused on arrival, then the retry
    "uac_481": ["remote-bye"],  # the two 481s are SIPp's to check
    "uac_cancel": ["cancelled:487"],
}


@pytest.mark.parametrize("scenario", sorted(RESPONDER_SCENARIOS))
def test_scenario_against_the_responder(ringing_responder, scenario):
    responder = ringing_responder
    before = len(responder.wait_records(0, timeout=0))
    run = sipp("-sf", str(SCENARIOS / f"{scenario}.xml"), f"127.0.0.1:{responder.port()}",
               "-m", "1")
    assert run.code == 0, run.output[-3000:]
    expected = RESPONDER_SCENARIOS[scenario]
    records = responder.wait_records(before + len(expected))[before:]
    outcomes = [str(r["outcome"]) + (f":{r['status']}" if r["status"] else "") for r in records]
    assert outcomes == expected


def test_reinvite_over_tcp(ringing_responder):
    run = sipp("-sf", str(SCENARIOS / "uac_reinvite.xml"),
               f"127.0.0.1:{ringing_responder.port('tcp')}", "-t", "t1", "-m", "1")
    assert run.code == 0, run.output[-3000:]


# --- scenario files calling SIPp with ``sipperc call`` ---------------------------------------

def call_sipp(scenario: str, *options: str):
    with SippServer("-sf", str(SCENARIOS / f"{scenario}.xml"), "-m", "1",
                    directory=SCENARIOS) as server:
        call = sipperc_call(f"sip:service@127.0.0.1:{server.port}", *options)
        finished = server.finish()
    assert finished.code == 0, finished.output[-3000:] + call.log[-2000:]
    return call


@pytest.mark.parametrize("scenario", ["uas_auth", "uas_proxy_auth"])
def test_call_answers_a_digest_challenge(scenario):
    call = call_sipp(scenario, "--duration", "0.3", "--username", "alice",
                     "--password", "secret")
    assert call.code == 0, call.log[-2000:]
    assert call.progress[-1].startswith("ended: local-bye")


def test_a_wrong_password_fails_sipps_check():
    # The control for the test above: SIPp really checks the digest (verifyauth).
    with SippServer("-sf", str(SCENARIOS / "uas_auth.xml"), "-m", "1",
                    directory=SCENARIOS) as server:
        call = sipperc_call(f"sip:service@127.0.0.1:{server.port}", "--duration", "0.3",
                            "--username", "alice", "--password", "wrong")
        finished = server.finish()
    assert finished.code != 0
    assert call.code == 1 and call.progress[1:] == ["ended: rejected 403"]


def test_call_cancels_when_nobody_answers():
    call = call_sipp("uas_cancel", "--timeout", "0.5")
    assert call.code == 1
    assert call.progress[1:] == ["ringing (180 Ringing)", "no answer after 0.5 s: cancelling",
                                 "ended: cancelled 487"]


def test_call_retries_after_422_with_the_servers_min_se():
    call = call_sipp("uas_422", "--duration", "0.3")
    assert call.code == 0, call.log[-2000:]


def test_call_answers_491_to_a_crossing_reinvite():
    call = call_sipp("uas_glare", "--reinvite-after", "0.3", "--duration", "1.2")
    assert call.code == 0, call.log[-2000:]
    assert "updated (our re-INVITE or UPDATE accepted)" in call.progress


def test_call_retries_its_reinvite_after_491():
    call = call_sipp("uas_reinvite_491", "--reinvite-after", "0.2", "--duration", "4.6")
    assert call.code == 0, call.log[-2000:]
    assert call.progress.count("re-INVITE") == 1  # the retry is the user agent's own
    assert "updated (our re-INVITE or UPDATE accepted)" in call.progress
