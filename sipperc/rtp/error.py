"""The error every RTP/RTCP parser and constructor in this layer raises."""

from __future__ import annotations


class RtpError(ValueError):
    """A malformed or invalid RTP or RTCP packet; the message names what is wrong.

    Parsers raise only this (never ``IndexError`` or ``struct.error``), so code that handles
    packets from the network needs one ``except`` clause.
    """
