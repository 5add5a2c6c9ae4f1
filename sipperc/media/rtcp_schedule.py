"""When to send RTCP: the RFC 3550 §6.3 / Appendix A.7 interval with timer reconsideration.

RTCP gets 5% of the session bandwidth, a quarter of it for senders when they are few; the
interval grows with the number of members and the average compound packet size, is at least
5 s (2.5 s before the first report), and is randomised over [0.5, 1.5] of its value divided by
e - 3/2 so that reports from many members do not synchronise (the division makes up for the
reconsideration below, so reports still average the nominal interval). On expiry the interval
is computed again and, if the group grew, the report waits (timer reconsideration, §6.3.6).
"""

from __future__ import annotations

import math
import random

RTCP_MIN_TIME = 5.0
SENDER_BW_FRACTION = 0.25
RECEIVER_BW_FRACTION = 1 - SENDER_BW_FRACTION
COMPENSATION = math.e - 1.5
RTCP_BANDWIDTH_SHARE = 0.05
UDP_IP_OVERHEAD = 28  # octets of IPv4 + UDP header counted in avg_rtcp_size (§6.2)


def rtcp_interval(members: int, senders: int, rtcp_bw: float, *, we_sent: bool,
                  avg_rtcp_size: float, initial: bool, rng: random.Random) -> float:
    """One randomised reporting interval in seconds (RFC 3550 A.7 ``rtcp_interval``)."""
    minimum = RTCP_MIN_TIME / 2 if initial else RTCP_MIN_TIME
    n = members
    if senders <= members * SENDER_BW_FRACTION:
        if we_sent:
            rtcp_bw *= SENDER_BW_FRACTION
            n = senders
        else:
            rtcp_bw *= RECEIVER_BW_FRACTION
            n = members - senders
    interval = max(minimum, avg_rtcp_size * n / rtcp_bw)
    return interval * (rng.random() + 0.5) / COMPENSATION


class RtcpSchedule:
    """The reporting timer of one RTP session (sans-I/O: ``now`` in, deadline out)."""

    def __init__(self, session_bandwidth: float, now: float, rng: random.Random | None = None,
                 first_report_size: int = 100) -> None:
        """``session_bandwidth`` in bits per second (e.g. 64000 for G.711 with headers)."""
        self._rng = rng or random.SystemRandom()
        self._rtcp_bw = session_bandwidth / 8 * RTCP_BANDWIDTH_SHARE  # octets per second
        self.members = 2
        self.senders = 1
        self.we_sent = False
        self.avg_rtcp_size = float(first_report_size + UDP_IP_OVERHEAD)
        self._initial = True
        self._previous = now
        self.deadline = now + self._interval()

    def _interval(self) -> float:
        return rtcp_interval(self.members, self.senders, self._rtcp_bw, we_sent=self.we_sent,
                             avg_rtcp_size=self.avg_rtcp_size, initial=self._initial,
                             rng=self._rng)

    def due(self, now: float) -> bool:
        """At the deadline: reconsider, and say whether a report goes out now (§6.3.6)."""
        if now < self.deadline:
            return False
        reconsidered = self._previous + self._interval()
        if reconsidered > now:
            self.deadline = reconsidered
            return False
        return True

    def sent(self, now: float, size: int) -> None:
        """A compound RTCP packet of ``size`` octets was sent at ``now``."""
        self.avg_rtcp_size += (size + UDP_IP_OVERHEAD - self.avg_rtcp_size) / 16
        self._initial = False
        self._previous = now
        self.deadline = now + self._interval()

    def received(self, size: int) -> None:
        """A compound RTCP packet of ``size`` octets arrived (it counts in the average)."""
        self.avg_rtcp_size += (size + UDP_IP_OVERHEAD - self.avg_rtcp_size) / 16
