"""Parse + serialize throughput of sipperc.sip for a typical INVITE with SDP and its 200 OK.

One command: ``.venv/bin/python benchmarks/sip_parse_bench.py``. Prints messages/s on one
core for sipperc and, from the same run, for the reference:

- Sippy B2BUA's parser (PyPI ``sippy``, pure Python): ``SipRequest``/``SipResponse`` from the
  decoded text, ``getBody()`` on Via, From, To, Call-ID, CSeq, Contact and Max-Forwards (Sippy
  parses header values only then), ``str()`` and encode back; when installed
  (``pip install sippy``). Compare it with sipperc's "typed" line, which reads the same
  headers as typed objects;
- always the floor: framing with ``bytes.split`` on CRLF plus ``b"".join`` back, i.e. the cost
  of touching every line once with no validation at all.

Each figure is the best of several rounds of ``--count`` parse+serialize pairs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sipperc.sip import parse_message

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 97 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:97 opus/48000/2\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY\r\n"
    b"Supported: 100rel, timer, replaces\r\n"
    b"User-Agent: sipperc-bench/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060"
    b";received=192.0.2.101\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)


def rate(step: Callable[[bytes], object], count: int, rounds: int) -> float:
    """Best messages/s over ``rounds`` runs of ``count`` INVITE+200 pairs."""
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(count):
            step(INVITE)
            step(OK)
        best = max(best, 2 * count / (time.perf_counter() - t0))
    return best


def sipperc_step(data: bytes) -> object:
    return bytes(parse_message(data))


def sipperc_typed_step(data: bytes) -> object:
    msg = parse_message(data)
    _ = (msg.via, msg.from_, msg.to, msg.call_id, msg.cseq, msg.contacts, msg.max_forwards)
    return bytes(msg)


def floor_step(data: bytes) -> object:
    return b"\r\n".join(data.split(b"\r\n"))


def sippy_step_factory() -> Callable[[bytes], object] | None:
    try:
        from sippy.SipRequest import SipRequest  # noqa: PLC0415 - optional reference
        from sippy.SipResponse import SipResponse  # noqa: PLC0415
    except ImportError:
        return None

    def step(data: bytes) -> object:
        msg = (SipResponse if data.startswith(b"SIP/") else SipRequest)(buf=data.decode())
        for name in ("via", "from", "to", "call-id", "cseq", "contact", "max-forwards"):
            for header in msg.getHFs(name):
                header.getBody()
        return str(msg).encode()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000, help="pairs per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    assert bytes(parse_message(INVITE)) == INVITE and bytes(parse_message(OK)) == OK
    ours = rate(sipperc_step, args.count, args.rounds)
    print(f"sipperc.sip parse+serialize: {ours:10,.0f} msgs/s (INVITE+SDP / 200 OK)")
    typed = rate(sipperc_typed_step, args.count, args.rounds)
    print(
        f"sipperc.sip parse+typed+ser: {typed:10,.0f} msgs/s (Via/From/To/Call-ID/CSeq/"
        "Contact/Max-Forwards read as objects)"
    )
    sippy = sippy_step_factory()
    if sippy is not None:
        ref = rate(sippy, max(args.count // 5, 1), args.rounds)
        print(
            f"reference sippy parse+str:   {ref:10,.0f} msgs/s (same messages, same headers read)"
        )
    else:
        print("reference sippy:             not installed (pip install sippy)")
    floor = rate(floor_step, args.count, args.rounds)
    print(f"floor bytes.split+join:      {floor:10,.0f} msgs/s (no parsing at all)")
    print(f"target: >= 50,000 msgs/s on one core -> {'met' if ours >= 50000 else 'NOT met'}")


if __name__ == "__main__":
    main()
