"""Calls per second: ``sipperc responder`` under SIPp's built-in ``uac``, next to SIPp's ``uas``.

One command: ``.venv/bin/python benchmarks/sip_cps.py`` (``--seconds 30`` by default).

It starts ``sipperc responder --listen udp:127.0.0.1:0`` (auto-answer, no media, its call
records logged as JSON to a file, as an operator would run it) and ramps SIPp's built-in
``uac`` (INVITE, ACK, BYE at once: ``-d 0``) against it: each rate runs for ``--seconds``; a
rate holds when SIPp exits 0 with every call successful, none failed, and SIPp kept the rate
(the cumulative call rate within 3 % of the target). From ``--start`` the rate grows by
``--step`` until one fails, then the midpoint between the last that held and the first that
failed is tried once. The reference is SIPp's own ``uas`` driven by the same ``uac`` at the
same rates, each right after ours, so both see the same machine.

Printed per rate: what held, retransmissions SIPp needed, the responder's CPU time per call
(from /proc), and the load average (the machine is shared: run it a few times, and compare our
line with the reference line of the same run).

Then the call records, once the responder has stopped (SIGTERM: calls still in progress end
and write theirs): every call SIPp placed must have exactly one, found by its Call-ID (SIPp's
``NUMBER-PID@HOST``, so each record counts for the run that placed the call, whenever it was
written). SIPp's count of successful calls cannot stand in for them: when an overloaded
responder's socket drops a call's ACK and BYE, SIPp takes our 200 retransmission for the 200
to its BYE and counts the call successful, while the responder waits 64*T1 (32 s) for the ACK
and then ends it with BYE (outcome=timeout): records written long after that run. The outcomes
are printed per rate; the benchmark exits 1 when records and calls differ.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.interop.kamailio import free_port

SIPP = shutil.which("sipp")
ENV = {**os.environ, "TERM": "dumb"}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Run:
    """One SIPp uac run at one rate."""

    rate: int
    calls: int
    code: int
    successful: int
    failed: int
    achieved: float
    retransmissions: int
    sipp_pid: int
    cpu_per_call: float | None = None

    @property
    def held(self) -> bool:
        """Every call completed, none failed, and SIPp kept the rate."""
        return (self.code == 0 and self.failed == 0 and self.successful == self.calls
                and self.achieved >= 0.97 * self.rate)


def _counter(output: str, label: str) -> int:
    matches = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", output)
    return int(matches[-1]) if matches else 0


def _call_rate(output: str) -> float:
    matches = re.findall(r"Call Rate\s*\|\s*[\d.]+ cps\s*\|\s*([\d.]+) cps", output)
    return float(matches[-1]) if matches else 0.0


def _retransmissions(output: str) -> int:
    """The Retrans column of SIPp's message lines (its last screen)."""
    screen = output[output.rfind("Messages  Retrans"):]
    total = 0
    for line in screen.splitlines():
        match = re.match(r"\s*(?:\S+)\s+(?:-+>|<-+)\s+(\d+)\s+(\d+)", line)
        if match:
            total += int(match.group(2))
    return total


def run_uac(port: int, rate: int, seconds: int) -> Run:
    """SIPp's built-in uac at ``rate`` calls/s for ``seconds`` against 127.0.0.1:``port``."""
    assert SIPP is not None
    calls = rate * seconds
    command = [SIPP, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1",
               "-p", str(free_port()), "-r", str(rate), "-m", str(calls), "-d", "0",
               "-nostdin", "-timeout", f"{seconds + 60}s", "-timeout_error",
               "-max_socket", "1000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=ENV) as process:
        try:
            out, err = process.communicate(timeout=seconds + 90)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    output = out.decode(errors="replace") + err.decode(errors="replace")
    successful = _counter(output, "Successful call")
    return Run(rate, calls, process.returncode, successful, _counter(output, "Failed call"),
               _call_rate(output), _retransmissions(output), process.pid)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class Responder:
    """``sipperc responder`` in its own process, its log in a file."""

    def __init__(self, directory: Path) -> None:
        self.log = directory / "responder.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sipperc", "--log-format", "json", "responder",
             "--listen", "udp:127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=self._log_file, env=ENV)
        deadline = time.monotonic() + 30
        self.port = 0
        while not self.port:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the responder did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
            for line in self.log.read_text().splitlines():
                if '"responder ready"' in line:
                    self.port = int(json.loads(line)["address"].rsplit(":", 1)[1])

    def records(self) -> dict[int, list[tuple[str, str]]]:
        """The call records logged, by the pid of the SIPp that placed the call.

        Each is (Call-ID, outcome); SIPp's Call-IDs are ``NUMBER-PID@HOST``.
        """
        found: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
        for line in self.log.read_text().splitlines():
            if '"call ended"' not in line:
                continue
            record = json.loads(line)
            if record.get("message") != "call ended":
                continue
            call_id = str(record["call_id"])
            pid = call_id.partition("@")[0].rpartition("-")[2]
            found[int(pid) if pid.isdigit() else 0].append((call_id, str(record["outcome"])))
        return found

    def run(self, rate: int, seconds: int) -> Run:
        """One uac run, with our CPU time per call."""
        before_cpu = _cpu_seconds(self.process.pid)
        run = run_uac(self.port, rate, seconds)
        time.sleep(0.5)  # what SIPp sent last is handled (its CPU time counts)
        cpu = _cpu_seconds(self.process.pid) - before_cpu
        return Run(run.rate, run.calls, run.code, run.successful, run.failed, run.achieved,
                   run.retransmissions, run.sipp_pid, cpu / max(run.successful, 1))

    def stop(self) -> int:
        """SIGTERM; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self._log_file.close()


class SippUas:
    """SIPp's built-in uas, the reference server."""

    def __init__(self) -> None:
        assert SIPP is not None
        self.port = free_port()
        self.process = subprocess.Popen(
            [SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(self.port), "-nostdin",
             "-max_socket", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        time.sleep(0.5)

    def stop(self) -> None:
        """Kill it (it would run for ever)."""
        self.process.kill()
        self.process.wait()


def describe(name: str, run: Run) -> str:
    """One result line."""
    verdict = "held  " if run.held else "FAILED"
    line = (f"  {name:<9} {run.rate:5d}/s {verdict} ok={run.successful} failed={run.failed} "
            f"achieved={run.achieved:.0f}/s retrans={run.retransmissions}")
    if run.cpu_per_call is not None:
        line += f" cpu={1e3 * run.cpu_per_call:.2f} ms/call"
    return line


def account(run: Run, records: list[tuple[str, str]]) -> tuple[bool, str]:
    """Whether each call of ``run`` has exactly one record, and the line saying so."""
    distinct = len({call_id for call_id, _ in records})
    exact = len(records) == distinct == run.calls
    outcomes = collections.Counter(outcome for _, outcome in records)
    detail = " ".join(f"{name}={count}" for name, count in outcomes.most_common())
    verdict = "exact " if exact else "WRONG "
    return exact, (f"  {run.rate:5d}/s {verdict} records={len(records)} calls={run.calls} "
                   f"distinct={distinct}  {detail}")


def load() -> str:
    """The load average, for the record: the machine is shared."""
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of each rate (s)")
    parser.add_argument("--start", type=int, default=300, help="first rate (calls/s)")
    parser.add_argument("--step", type=int, default=100, help="rate increase (calls/s)")
    parser.add_argument("--max-rate", type=int, default=3000, help="stop ramping here")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip SIPp's uas (faster, no reference figure)")
    args = parser.parse_args()
    if SIPP is None:
        raise SystemExit("sipp is not installed (scripts/setup installs sip-tester)")
    print(f"sip_cps: SIPp uac, {args.seconds} s per rate; {load()}", flush=True)
    ours: list[Run] = []
    reference: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        responder = Responder(Path(tmp))
        uas = None if args.no_reference else SippUas()
        try:
            rates = iter(range(args.start, args.max_rate + 1, args.step))
            rate = next(rates, None)
            refined = False
            while rate is not None:
                run = responder.run(rate, args.seconds)
                ours.append(run)
                print(describe("sipperc", run) + f"  ({load()})", flush=True)
                if uas is not None:
                    ref = run_uac(uas.port, rate, args.seconds)
                    reference.append(ref)
                    print(describe("SIPp uas", ref), flush=True)
                if run.held and not refined:
                    rate = next(rates, None)
                    continue
                good = [r.rate for r in ours if r.held]
                if refined or not good or rate - max(good) <= args.step // 4:
                    break  # the midpoint was tried (held or not): the ramp is over
                rate, refined = (max(good) + rate) // 2, True
        finally:
            code = responder.stop()
            if uas is not None:
                uas.stop()
        records = responder.records()
    print("call records (by SIPp's Call-ID, after the responder stopped):")
    exact = True
    for run in ours:
        fine, line = account(run, records.get(run.sipp_pid, []))
        exact = exact and fine
        print(line)
    best = max((r.rate for r in ours if r.held), default=0)
    print(f"sipperc responder: {best} calls/s sustained for {args.seconds} s with 0 failed "
          f"calls (responder exit status {code})")
    if reference:
        held = [r.rate for r in reference if r.held]
        failed = [r.rate for r in reference if not r.held]
        best_ref = max(held, default=0)
        upto = "" if failed else " (held every rate tried: its ceiling is higher)"
        print(f"reference SIPp uas: {best_ref} calls/s at the same rates{upto}")
    if not exact:
        print("call records do not match the calls placed (one record per call expected)")
        sys.exit(1)


if __name__ == "__main__":
    main()
