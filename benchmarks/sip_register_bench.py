"""Digest-authenticated registrations per second: sipperc's registrar next to Kamailio 5.6.

One command: ``.venv/bin/python benchmarks/sip_register_bench.py``. SIPp drives both servers
with the same scenario, one after the other: REGISTER -> 401 -> REGISTER with MD5 credentials
(qop=auth) -> 200, ``--calls`` times with at most ``--concurrency`` registrations in flight.

- sipperc: ``Registrar`` + ``DigestServer`` behind ``RegistrarTU`` on ``SipService`` (UDP), in
  this process; its CPU time per registration is printed too.
- reference: Kamailio 5.6 with the interop tests' config (usrloc in memory,
  ``pv_www_authenticate``), two UDP workers.

A registration counts when SIPp saw the 200; failures are printed. The machine has other
work on it: compare the two lines of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.internet.utils import getProcessOutputAndValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sipperc.sip.digest import DigestAlgorithm, DigestServer
from sipperc.sip.registrar import Registrar, RegistrarTU
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService
from tests.interop.kamailio import Kamailio, KamailioUser, free_port
from tests.interop.test_registrar_sipp import SCENARIO

DOMAIN = "sipperc.test"
USER, AUTH_USER, PASSWORD = "alice", "alice-auth", "CircleOfLife"


def _count(output: str, label: str) -> int:
    """The cumulative column of one line of SIPp's final statistics screen."""
    matches = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", output)
    return int(matches[-1]) if matches else 0


@defer.inlineCallbacks
def run_sipp(
    port: int, calls: int, concurrency: int, directory: Path
) -> Generator[Any, Any, tuple[int, int, float]]:
    scenario = directory / "register.xml"
    scenario.write_text(
        SCENARIO.format(
            domain=DOMAIN,
            user=USER,
            auth_user=AUTH_USER,
            password=PASSWORD,
            expected=200,
            second="200",
        )
    )
    arguments = [
        "-sf", str(scenario),
        "-m", str(calls),
        "-l", str(concurrency),
        "-r", "100000",
        "-i", "127.0.0.1",
        "-p", str(free_port()),
        "-timeout", "120s",
        "-nostdin",
        f"127.0.0.1:{port}",
    ]  # fmt: skip
    started = time.perf_counter()
    out, err, _ = yield getProcessOutputAndValue(
        shutil.which("sipp"), arguments, path=str(directory), reactor=reactor
    )
    elapsed = time.perf_counter() - started
    text = (out + err).decode(errors="replace")
    return _count(text, "Successful call"), _count(text, "Failed call"), elapsed


@defer.inlineCallbacks
def bench(args: argparse.Namespace, directory: Path) -> Generator[Any, Any, None]:
    server = DigestServer(
        DOMAIN, {AUTH_USER: PASSWORD}.get, b"benchmark secret of 32 bytes!!!!",
        algorithms=(DigestAlgorithm.MD5,),
    )  # fmt: skip
    registrar = Registrar([DOMAIN], digest=server, may_register=lambda user, aor: True)
    layer = TransactionLayer()
    service = SipService(
        layer,
        [ListeningPoint(TransportAddress("udp", "127.0.0.1", 0))],
        tu=RegistrarTU(layer, registrar),
    )
    service.startService()
    (point,) = service.listening_points
    cpu = time.process_time()
    ok, failed, elapsed = yield run_sipp(point.local.port, args.calls, args.concurrency, directory)
    cpu = time.process_time() - cpu
    yield service.stopService()
    print(
        f"sipperc Registrar+DigestServer: {ok / elapsed:8,.0f} registrations/s "
        f"({ok} ok, {failed} failed, {elapsed:.1f} s; {1e6 * cpu / max(ok, 1):,.0f} µs CPU each)"
    )
    kamailio = Kamailio(
        directory / "kamailio",
        users=[KamailioUser(USER, PASSWORD, auth_user=AUTH_USER)],
        domain=DOMAIN,
        algorithm="MD5",
    )
    kamailio.start()
    try:
        ok, failed, elapsed = yield run_sipp(kamailio.port, args.calls, args.concurrency, directory)
    finally:
        kamailio.stop()
    print(
        f"reference Kamailio 5.6:         {ok / elapsed:8,.0f} registrations/s "
        f"({ok} ok, {failed} failed, {elapsed:.1f} s; 2 UDP workers)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="registrations per server")
    parser.add_argument("--concurrency", type=int, default=50, help="in flight at once")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed (scripts/setup installs sip-tester)")
    with tempfile.TemporaryDirectory() as tmp:
        task.react(lambda _reactor: bench(args, Path(tmp)))


if __name__ == "__main__":
    main()
