"""Test material shared by the SIP tests: the RFC 4475 corpus and RFC 5118-style messages."""

from __future__ import annotations

from pathlib import Path

RFC4475 = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "rfc4475"
if not RFC4475.is_dir():  # CI lays shared/ beside the clone; worktrees sit one level deeper
    RFC4475 = Path("/work/shared/corpora/rfc4475")


def torture(name: str) -> bytes:
    """One RFC 4475 message, bit-exact."""
    return (RFC4475 / f"{name}.dat").read_bytes()


def crlf(text: str) -> bytes:
    """Text written with LF line ends, as bytes with CRLF (the test's own messages)."""
    return text.replace("\n", "\r\n").encode()


TORTURE_NAMES = sorted(p.stem for p in RFC4475.glob("*.dat"))

INVITE = crlf(
    """INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Record-Route: <sip:p1.example.com;lr>
Timestamp: 54
Content-Type: application/sdp
Content-Length: 5

v=0
"""
)
