"""Reliable provisional responses (RFC 3262): RSeq, RAck, PRACK and their retransmissions.

:class:`ReliableProvisionalSender` is the UAS side for one INVITE: it numbers each reliable
1xx with ``RSeq`` (``Require: 100rel``), retransmits it from T1 doubling each time until a PRACK
with the matching ``RAck`` arrives (§3), gives up after 64*T1, and holds back a further
reliable 1xx until the previous one is acknowledged (§3: "MUST NOT send a second reliable
provisional response until the first is acknowledged"). Its states follow
:data:`SENDER_TRANSITIONS`.

:class:`ReliableProvisionalReceiver` is the UAC side for one early dialog: it accepts the
first reliable 1xx and then only the one whose RSeq is one higher (§4), and names the RAck
the PRACK must carry.
"""

from __future__ import annotations

import enum
import secrets
from collections import deque

from sipperc.sip import headers as h
from sipperc.sip.headers import RAck
from sipperc.sip.message import Request, Response

__all__ = [
    "SENDER_TRANSITIONS",
    "ReliableProvisionalError",
    "ReliableProvisionalReceiver",
    "ReliableProvisionalSender",
    "SenderInput",
    "SenderState",
    "is_reliable",
]

MAX_RSEQ = 2**31 - 1
"""The first RSeq is chosen between 1 and 2**31 - 1 (RFC 3262 §3)."""


def is_reliable(response: Response) -> bool:
    """True for a 101-199 response sent reliably: ``Require: 100rel`` and an RSeq (§4)."""
    return (
        100 < response.status_code < 200
        and "100rel" in response.typed(h.REQUIRE)
        and response.first(h.RSEQ) is not None
    )


class SenderState(enum.Enum):
    """Where the UAS's reliable provisional responses to one INVITE stand."""

    IDLE = "idle"
    """No reliable 1xx waits for a PRACK."""
    AWAITING_PRACK = "awaiting-prack"
    """One was sent and is retransmitted until its PRACK arrives."""
    TERMINATED = "terminated"
    """The INVITE got its final response, or a 1xx went unacknowledged for 64*T1."""


class SenderInput(enum.Enum):
    """What can happen to them."""

    SEND = "send"
    PRACK = "prack"
    RETRANSMIT = "retransmit"
    TIMEOUT = "timeout"
    FINAL = "final"


SENDER_TRANSITIONS: dict[tuple[SenderState, SenderInput], SenderState | None] = {
    (SenderState.IDLE, SenderInput.SEND): SenderState.AWAITING_PRACK,
    # PRACK means a matching one; one that matches nothing is answered 481 and changes nothing.
    (SenderState.IDLE, SenderInput.PRACK): None,
    (SenderState.IDLE, SenderInput.RETRANSMIT): None,
    (SenderState.IDLE, SenderInput.TIMEOUT): None,
    (SenderState.IDLE, SenderInput.FINAL): SenderState.TERMINATED,
    # A second reliable 1xx waits in a queue (§3).
    (SenderState.AWAITING_PRACK, SenderInput.SEND): SenderState.AWAITING_PRACK,
    # Back to idle; the next queued 1xx, if any, is sent at once (SEND again).
    (SenderState.AWAITING_PRACK, SenderInput.PRACK): SenderState.IDLE,
    (SenderState.AWAITING_PRACK, SenderInput.RETRANSMIT): SenderState.AWAITING_PRACK,
    # §3: no PRACK after 64*T1: the UAS SHOULD reject the INVITE with a 5xx.
    (SenderState.AWAITING_PRACK, SenderInput.TIMEOUT): SenderState.TERMINATED,
    (SenderState.AWAITING_PRACK, SenderInput.FINAL): SenderState.TERMINATED,
    (SenderState.TERMINATED, SenderInput.SEND): None,
    (SenderState.TERMINATED, SenderInput.PRACK): None,
    (SenderState.TERMINATED, SenderInput.RETRANSMIT): None,
    (SenderState.TERMINATED, SenderInput.TIMEOUT): None,
    (SenderState.TERMINATED, SenderInput.FINAL): SenderState.TERMINATED,
}
"""Every (state, input) pair and the state it leads to; None: a misuse by the caller."""


class ReliableProvisionalError(RuntimeError):
    """The sender was used out of turn (a programming error in the invite session)."""


class ReliableProvisionalSender:
    """The UAS side of RFC 3262 for one INVITE server transaction."""

    __slots__ = (
        "_deadline",
        "_given_up_at",
        "_interval",
        "_queue",
        "_rseq",
        "_t1",
        "state",
        "unacknowledged",
    )

    def __init__(self, t1: float, *, first_rseq: int | None = None) -> None:
        self._t1 = t1
        self._rseq = (secrets.randbelow(MAX_RSEQ // 2) + 1) if first_rseq is None else first_rseq
        self._rseq -= 1  # the next one sent gets first_rseq
        self.state = SenderState.IDLE
        self.unacknowledged: Response | None = None
        """The reliable 1xx waiting for its PRACK."""
        self._queue: deque[Response] = deque()
        self._deadline: float | None = None
        self._interval = t1
        self._given_up_at = 0.0

    def __repr__(self) -> str:
        return f"<ReliableProvisionalSender {self.state.value} rseq={self._rseq}>"

    def _advance(self, event: SenderInput) -> None:
        following = SENDER_TRANSITIONS[(self.state, event)]
        if following is None:
            raise ReliableProvisionalError(f"{event.value} in state {self.state.value}")
        self.state = following

    @property
    def pending_description(self) -> bool:
        """True while a reliable 1xx with a body is unacknowledged (or queued).

        RFC 3262 §3: no 2xx may be sent until such a response has been PRACKed.
        """
        waiting = [self.unacknowledged, *self._queue]
        return any(r is not None and r.body for r in waiting)

    def send(self, response: Response, now: float) -> Response | None:
        """Number ``response`` and return it to send now, or None when it must wait (§3)."""
        if not 100 < response.status_code < 200:
            raise ValueError("only 101-199 responses are sent reliably (RFC 3262 §3)")
        was = self.state
        self._advance(SenderInput.SEND)
        if was is SenderState.AWAITING_PRACK:
            self._queue.append(response)
            return None
        return self._start(response, now)

    def _start(self, response: Response, now: float) -> Response:
        self._rseq += 1
        numbered = response.append("Require", "100rel").append("RSeq", self._rseq)
        self.unacknowledged = numbered
        self._interval = self._t1
        self._deadline = now + self._t1
        self._given_up_at = now + 64 * self._t1
        return numbered

    def receive_prack(self, prack: Request, now: float) -> tuple[Response | None, Response | None]:
        """Match a PRACK (RFC 3262 §3).

        Returns the response it acknowledges (None: no match, answer 481) and the next queued
        reliable 1xx to send now, if any.
        """
        rack = prack.first(h.RACK)
        current = self.unacknowledged
        matched = (
            rack is not None
            and current is not None
            and rack == RAck(current.typed(h.RSEQ)[0], current.cseq.seq, current.cseq.method)
        )
        if not matched:
            return None, None  # no state change: the 1xx (if any) still waits for its PRACK
        self._advance(SenderInput.PRACK)
        self.unacknowledged = None
        self._deadline = None
        if self._queue:
            self._advance(SenderInput.SEND)
            return current, self._start(self._queue.popleft(), now)
        return current, None

    def get_timer(self) -> float | None:
        """When the unacknowledged response is next retransmitted (or given up on)."""
        return self._deadline

    def handle_timer(self, now: float) -> Response | None:
        """The retransmission due at ``now``, or None; :attr:`timed_out` after 64*T1."""
        if self._deadline is None or now < self._deadline:
            return None
        if now >= self._given_up_at:
            self._advance(SenderInput.TIMEOUT)
            self._deadline = None
            return None
        self._advance(SenderInput.RETRANSMIT)
        self._interval *= 2  # §3: the interval doubles each time, with no T2 cap
        self._deadline = min(now + self._interval, self._given_up_at)
        return self.unacknowledged

    @property
    def timed_out(self) -> bool:
        """True once a reliable 1xx went 64*T1 without PRACK: reject the INVITE with 5xx."""
        return self.state is SenderState.TERMINATED and self.unacknowledged is not None

    def final_sent(self) -> None:
        """The INVITE got its final response: stop retransmitting, drop what is queued."""
        self._advance(SenderInput.FINAL)
        self._deadline = None
        self.unacknowledged = None
        self._queue.clear()


class ReliableProvisionalReceiver:
    """The UAC side of RFC 3262 for one early dialog: in-order RSeq, the RAck to send."""

    __slots__ = ("last_rseq",)

    def __init__(self) -> None:
        self.last_rseq: int | None = None

    def accept(self, response: Response) -> bool:
        """True if ``response`` (reliable) is the next one: PRACK it and process it (§4).

        A retransmission or an out-of-order response returns False: it is neither
        acknowledged nor processed.
        """
        rseq = response.typed(h.RSEQ)[0]
        if self.last_rseq is not None and rseq != self.last_rseq + 1:
            return False
        self.last_rseq = rseq
        return True

    @staticmethod
    def rack(response: Response) -> RAck:
        """The RAck of the PRACK for ``response``: its RSeq and CSeq (§7.2)."""
        return RAck(response.typed(h.RSEQ)[0], response.cseq.seq, response.cseq.method)
