"""Transaction timer values (RFC 3261 §17 and Table 4 of Appendix A, RFC 6026 §8.11).

Every timer is derived from T1 (RTT estimate), T2 (cap on non-INVITE request and INVITE
response retransmission intervals) and T4 (how long a message may stay in the network), so a
deployment on a slow or lossy path changes three numbers and every timer follows. Timers that
only absorb retransmissions (D, I, J, K) are zero on reliable transports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig"]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2 and T4 (seconds) and the timers RFC 3261 Table 4 derives from them.

    ``timer_d`` is Timer D on unreliable transports (RFC 3261: "> 32 s"); ``trying_delay`` is
    how long an INVITE server transaction waits for the TU before sending 100 Trying itself
    (§17.2.1: 200 ms). ``invite_timeout``, when set, ends an INVITE client transaction that
    has had no response at all sooner than Timer B's 64*T1: a live server answers an INVITE
    within 200 ms (§17.2.1), so a client with another server to try (RFC 3263 §4.3) need
    not wait 32 s on a dead one.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying_delay: float = 0.2
    invite_timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.t1 > 0 or not self.t4 > 0:
            raise ValueError("T1 and T4 must be positive")
        if not self.t2 >= self.t1:
            raise ValueError("T2 must be at least T1 (RFC 3261 §17.1.2.2)")
        if self.timer_d < 0 or self.trying_delay < 0:
            raise ValueError("Timer D and the 100 Trying delay cannot be negative")
        if self.invite_timeout is not None and not self.invite_timeout > 0:
            raise ValueError("the INVITE timeout must be positive")

    @property
    def timer_a(self) -> float:
        """First INVITE retransmission interval; doubles each time (§17.1.1.2)."""
        return self.t1

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout: 64*T1 (§17.1.1.2), or ``invite_timeout`` if sooner."""
        if self.invite_timeout is not None:
            return min(64 * self.t1, self.invite_timeout)
        return 64 * self.t1

    @property
    def timer_e(self) -> float:
        """First non-INVITE retransmission interval; doubles up to T2 (§17.1.2.2)."""
        return self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE transaction timeout: 64*T1 (§17.1.2.2)."""
        return 64 * self.t1

    @property
    def timer_g(self) -> float:
        """First INVITE final-response retransmission interval (§17.2.1)."""
        return self.t1

    @property
    def timer_h(self) -> float:
        """Wait for the ACK to a non-2xx final response: 64*T1 (§17.2.1)."""
        return 64 * self.t1

    @property
    def timer_l(self) -> float:
        """Server INVITE transaction's Accepted state: 64*T1 (RFC 6026 §8.7)."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """Client INVITE transaction's Accepted state: 64*T1 (RFC 6026 §8.4)."""
        return 64 * self.t1

    def wait_d(self, reliable: bool) -> float:
        """Timer D: absorb final-response retransmissions at the client (§17.1.1.2)."""
        return 0.0 if reliable else self.timer_d

    def wait_i(self, reliable: bool) -> float:
        """Timer I: absorb ACK retransmissions at the server: T4 (§17.2.1)."""
        return 0.0 if reliable else self.t4

    def wait_j(self, reliable: bool) -> float:
        """Timer J: absorb non-INVITE request retransmissions: 64*T1 (§17.2.2)."""
        return 0.0 if reliable else 64 * self.t1

    def wait_k(self, reliable: bool) -> float:
        """Timer K: absorb non-INVITE response retransmissions: T4 (§17.1.2.2)."""
        return 0.0 if reliable else self.t4
