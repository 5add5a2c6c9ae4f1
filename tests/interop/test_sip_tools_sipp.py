"""``sipperc responder`` and ``sipperc call`` against SIPp, as processes, over UDP and TCP.

SIPp's built-in ``uac`` calls the responder and its built-in ``uas`` is called by ``sipperc
call``; scenario files (tests/interop/sipp/) play what the built-ins do not: digest
challenges, CANCEL, re-INVITE, PRACK, UPDATE, session-timer 422, and the 481/491 cases. Each
test checks that SIPp exits 0 (every message it expected came, in order) and what our side
reported (the responder's call records, the call command's exit status and progress).
"""

from __future__ import annotations

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
    assert call.progress[0] == "ringing (180 Ringing)"
    assert call.progress[1].startswith("answered (200 OK) codec=PCMU/8000")
    assert call.progress[2].startswith("ended: local-bye after 0.5")
    assert finished.code == 0, finished.output[-2000:]
