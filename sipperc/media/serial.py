"""Serial number arithmetic (RFC 1982) for RTP's wrapping sequence numbers and timestamps.

Turns a received 16-bit sequence number or 32-bit timestamp into an ever-increasing "extended"
value, so comparisons keep working across the wrap.
"""

from __future__ import annotations


def extend(value: int, reference: int, bits: int) -> int:
    """The extended value closest to ``reference`` whose low ``bits`` bits are ``value``.

    ``reference`` is an extended value seen before (e.g. the highest so far): a sequence
    number just below a wrap maps below it, one just after the wrap maps above it.
    """
    modulus = 1 << bits
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta
