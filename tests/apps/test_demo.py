"""``sipperc demo`` end to end: a run whose verdict holds, one that must fail, and stopping.

Each run is the real command as a child process (the reactor runs once per process), with
its Key Distributor, Media Distributor and SIP focus as grandchildren and its participants
joining over SIP; the tests read what a user reads (stdout, the
exit status) and what the demo leaves behind (recordings, ``verdict.json``), and make sure no
server outlives the demo.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from sipperc.apps.demo import DemoPlan
from sipperc.cli import ExitCode, main
from tests.interop.perc_processes import ROOT, exited


def demo(tmp_path, *options, timeout=120):
    output = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sipperc", "--log-level", "warn", "demo",
                           "--participants", "3", "--seconds", "8", "--output", str(output),
                           *options], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done, output


def server_pids(text):
    return [int(pid) for pid in re.findall(r"\(pid (\d+),", text)]


def test_the_plan_names_who_leaves_and_who_joins():
    plan = DemoPlan(participants=4)
    assert plan.names == ("alice", "bob", "carol", "dave", "erin")
    assert (plan.leaver, plan.newcomer) == ("dave", "erin")
    with pytest.raises(ValueError, match="--participants: 2 to 7"):
        DemoPlan(participants=1)
    with pytest.raises(ValueError, match="--seconds"):
        DemoPlan(seconds=2)
    with pytest.raises(ValueError, match="mallory would not be in this conference"):
        DemoPlan(refuse=("mallory",))
    with pytest.raises(ValueError, match="at least one participant must be let in"):
        DemoPlan(participants=2, refuse=("alice", "bob", "carol"))


def test_a_bad_command_line_is_a_usage_error(capsys):
    assert main(["demo", "--participants", "9"]) == ExitCode.USAGE
    assert "--participants: 2 to 7" in capsys.readouterr().err


def test_a_whole_conference_passes_and_leaves_its_recordings(tmp_path):
    done, output = demo(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "PASS: PERC kept its promise" in out
    # What the run showed as it went: servers, keying, epochs, roster, rates, the rekeys.
    assert re.search(r"Key Distributor up: .* \(pid \d+", out)
    assert re.search(r"Media Distributor up: .* \(pid \d+", out)
    assert re.search(r"SIP focus up: sip:design-review@127\.0\.0\.1:\d+ .* \(pid \d+", out)
    assert re.search(r"alice \(sip:alice@127\.0\.0\.1:\d+\) INVITEs sip:design-review@", out)
    assert re.search(r"alice: 200 OK; the SDP answer sends media to the Media Distributor "
                     r"\(127\.0\.0\.1:\d+\) and names the Key Distributor", out)
    assert re.search(r"alice: DTLS with the Key Distributor .*DOUBLE_AEAD", out)
    assert "roster NOTIFY to alice (version 3): Alice, Bob, Carol" in out
    assert re.search(r"EKT key epoch SPI \d+: all 3 in the room keyed \(alice bob carol\)", out)
    assert re.search(r"new EKT key SPI \d+ \(leave\)", out)
    assert re.search(r"new EKT key SPI \d+ \(join\)", out)
    rates = [int(r) for r in re.findall(r"participants send (\d+) pkt/s", out)]
    assert max(rates) >= 100  # three senders at 50 packets a second
    verdict = json.loads((output / "verdict.json").read_text())
    assert verdict["holds"] is True
    assert {c["check"]: c["holds"] for c in verdict["checks"]} == {
        "audio": True, "rekey": True, "roster": True, "keys": True, "servers": True}
    keys = next(c for c in verdict["checks"] if c["check"] == "keys")["details"]
    for untrusted in ("Media Distributor", "SIP focus"):
        assert any(re.match(rf"{untrusted} memory: \d+ MB searched, none found", line)
                   for line in keys)
    # carol leaves before dave joins: they never meet, everyone else does.
    for listener, speakers in {"alice": "bob carol dave", "bob": "alice carol dave",
                               "carol": "alice bob", "dave": "alice bob"}.items():
        heard = sorted(p.name for p in (output / "heard" / listener).iterdir())
        assert heard == sorted(["mix.wav", *(f"from-{s}.wav" for s in speakers.split())])
    for pid in server_pids(out):
        assert exited(pid)


def test_a_refused_participant_makes_the_verdict_fail(tmp_path):
    done, output = demo(tmp_path, "--refuse", "bob")
    assert done.returncode == ExitCode.FAILURE, done.stdout + done.stderr
    assert "SIP focus: the Key Distributor refused bob.2: not on the conference's " \
        "participant list" in done.stdout
    assert "bob's INVITE is refused: 403" in done.stdout
    assert "FAIL: see the checks marked FAIL above" in done.stdout
    verdict = json.loads((output / "verdict.json").read_text())
    checks = {c["check"]: c for c in verdict["checks"]}
    assert verdict["holds"] is False and checks["audio"]["holds"] is False
    assert re.search(r"alice heard bob 0\.00 \(FAILED\), carol 0\.9\d",
                     " ".join(checks["audio"]["details"]))
    assert checks["keys"]["holds"] and checks["servers"]["holds"]


def test_ctrl_c_in_scripts_demo_stops_every_process(tmp_path):
    output = tmp_path / "out"
    # As from a terminal: a suite started in the background (CI, `scripts/test &`) hands its
    # children SIGINT ignored, and a shell cannot trap a signal ignored on entry (POSIX).
    as_from_a_terminal = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
                          " os.execv(sys.argv[1], sys.argv[1:])")
    demo = subprocess.Popen([sys.executable, "-c", as_from_a_terminal,
                             str(ROOT / "scripts" / "demo"), "--participants", "2",
                             "--output", str(output)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "status:" in line:
                break
        # Three servers up (more pids if a port was taken and a server started again).
        pids = server_pids("".join(lines))
        assert len(pids) >= 3, "".join(lines)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    deadline = time.monotonic() + 10
    while not all(exited(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(exited(pid) for pid in pids)
    assert "interrupted; every process stopped" in demo.stderr.read()
