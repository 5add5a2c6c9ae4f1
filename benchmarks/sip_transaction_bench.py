"""Calls/s through the sans-I/O transaction layer at a UAS: INVITE/200/ACK/BYE/200.

One command: ``.venv/bin/python benchmarks/sip_transaction_bench.py``. Each call is what SIPp's
built-in ``uac`` scenario sends to a UAS (INVITE with SDP, ACK for the 2xx, BYE), with a
fresh Call-ID and branches per call. For every call the benchmark parses the three
requests, feeds them to ``TransactionLayer.receive``, answers INVITE and BYE with 200 through
``send_response`` as a TU would, serializes what the layer says to send, and lets simulated
time run the layer's timers (Timer L, J: transactions really end). Printed from the same run:

- sipperc transaction layer: calls/s and transactions/s (INVITE + BYE; the ACK of a 2xx is
  not a transaction);
- floor: the same parse + build-200 + serialize work with no transaction layer at all, i.e.
  the cost of the message layer alone; the difference is what matching, state machines and
  timers cost.

Each figure is the best of several rounds of ``--calls`` calls, timed in CPU seconds of this
process (``time.process_time``): the machine is shared, and wall time would count the time
other processes hold the core. The issue's target for the
whole stack over sockets is >= 600 calls/s (``benchmarks/sip_cps.py``, SIPp against a UAS);
this isolates the transaction layer's share of that budget.
"""

from __future__ import annotations

import argparse
import time

from sipperc.sip import Request, parse_message
from sipperc.sip.transaction_effects import RequestReceived, SendMessage
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress

UAS = TransportAddress("udp", "127.0.0.1", 5060)
UAC = TransportAddress("udp", "127.0.0.1", 5061)

SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)

INVITE = (
    "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1-0\r\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>\r\n"
    "Call-ID: {n}-1@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:sipp@127.0.0.1:5061\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n\r\n"
)
ACK = (
    "ACK sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1-5\r\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>;tag=uas{n}\r\n"
    "Call-ID: {n}-1@127.0.0.1\r\n"
    "CSeq: 1 ACK\r\n"
    "Contact: sip:sipp@127.0.0.1:5061\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Length: 0\r\n\r\n"
)
BYE = (
    "BYE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1-7\r\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5060>;tag=uas{n}\r\n"
    "Call-ID: {n}-1@127.0.0.1\r\n"
    "CSeq: 2 BYE\r\n"
    "Contact: sip:sipp@127.0.0.1:5061\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: Performance Test\r\n"
    "Content-Length: 0\r\n\r\n"
)


def calls(count: int, offset: int) -> list[tuple[bytes, bytes, bytes]]:
    """The datagrams of ``count`` calls, made before timing starts."""
    return [
        (
            INVITE.format(n=n).encode() + SDP,
            ACK.format(n=n).encode(),
            BYE.format(n=n).encode(),
        )
        for n in range(offset, offset + count)
    ]


def through_layer(datagrams: list[tuple[bytes, bytes, bytes]], start: float) -> tuple[float, int]:
    """Run the calls through a TransactionLayer; seconds taken, transactions left alive."""
    layer = TransactionLayer(transport=TransportLayer([ListeningPoint(UAS)]))
    step = 1 / 600  # simulated time between calls: timers fire as they would at 600 calls/s
    now = start
    wire = 0
    t0 = time.process_time()
    for invite, ack, bye in datagrams:
        now += step
        for data in (invite, ack, bye):
            for effect in layer.receive(parse_message(data), UAC, now):
                if type(effect) is RequestReceived:
                    request = effect.request
                    tag = "uas" + request.call_id.partition("-")[0]
                    ok = request.response(200, to_tag=tag)
                    for sent in layer.send_response(effect.transaction, ok, now):
                        assert isinstance(sent, SendMessage)
                        wire += len(bytes(sent.message))
        if layer.get_timer() is not None and layer.get_timer() <= now:  # type: ignore[operator]
            layer.handle_timer(now)
    elapsed = time.process_time() - t0
    assert wire > 0
    return elapsed, len(layer)


def floor(datagrams: list[tuple[bytes, bytes, bytes]]) -> float:
    """Seconds for the same parsing, 200 building and serializing, without the layer."""
    t0 = time.process_time()
    for invite, ack, bye in datagrams:
        for data in (invite, ack, bye):
            message = parse_message(data)
            if isinstance(message, Request) and message.method != "ACK":
                tag = "uas" + message.call_id.partition("-")[0]
                bytes(message.response(200, to_tag=tag))
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    best_layer = best_floor = float("inf")
    alive = 0
    for r in range(args.rounds):
        datagrams = calls(args.calls, r * args.calls)
        elapsed, alive = through_layer(datagrams, 0.0)
        best_layer = min(best_layer, elapsed)
        best_floor = min(best_floor, floor(datagrams))
    n = args.calls
    print(f"sipperc transaction layer: {n / best_layer:10,.0f} calls/s "
          f"({2 * n / best_layer:,.0f} transactions/s; INVITE/200/ACK/BYE/200 at a UAS)")
    print(f"floor parse+200+serialize: {n / best_floor:10,.0f} calls/s (no transaction layer)")
    print(f"transaction layer share:   {100 * (1 - best_floor / best_layer):9.0f} % of the time"
          f" per call; {alive} transactions still in their absorb states at the end")


if __name__ == "__main__":
    main()
