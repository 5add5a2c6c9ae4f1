"""The four RFC 3261 §17 transaction state machines, with RFC 6026 and RFC 4320.

Each transaction type has a ``State`` enum, an ``Input`` enum (responses or requests
classified by what matters to the machine, TU actions, timers, transport errors) and ONE
transition table ``(state, input) -> (actions, next state)`` covering every pair. Everything
that changes a transaction's state is in this file; the
:class:`~sipperc.sip.transaction_layer.TransactionLayer` only matches messages to
transactions and turns timers into inputs.

Timers are data too: ``ENTRY_TIMERS`` names the timers a state starts when it is entered,
``KEPT_TIMERS`` the ones that survive entering it (everything else is cancelled);
``REQUEST_STATES`` the states that still need the request (it is released on leaving them). The
retransmission timers (A, E, G) re-arm themselves. A timer of zero duration (D, I, J, K on
reliable transports) fires at once.

Sans-I/O: a transaction takes an input and ``now`` and returns effects; it asks the layer to
schedule its timers through a callback and never reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum, auto
from typing import ClassVar, Generic, TypeVar

from sipperc.sip.message import Request, Response
from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_effects import (
    AckReceived,
    Effect,
    ResponseReceived,
    SendMessage,
    TransactionId,
    TransactionTimeout,
    TransportFailure,
)
from sipperc.sip.transport_address import TransportAddress

__all__ = [
    "Action",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "Timer",
    "Transaction",
    "TransactionStateError",
]


class TransactionStateError(ValueError):
    """The TU asked a transaction for something its state does not allow.

    E.g. a second final response, or a provisional response after the final one.
    """


class _Member(Enum):
    """Enum members hashed by identity (they are singletons).

    Table lookups run for every message, and Enum's own ``__hash__`` is Python code.
    """

    __hash__ = object.__hash__


class Timer(_Member):
    """RFC 3261 Table 4 timers, RFC 6026's L and M, and §17.2.1's 200 ms 100 Trying delay."""

    A = auto()
    B = auto()
    D = auto()
    E = auto()
    F = auto()
    G = auto()
    H = auto()
    I = auto()  # noqa: E741 - the RFC's name
    J = auto()
    K = auto()
    L = auto()
    M = auto()
    TRYING = auto()


class Action(_Member):
    """What a transition does, in the order listed in the table."""

    TO_TU = auto()
    """Pass the response to the TU (ResponseReceived)."""
    ACK_TO_TU = auto()
    """Pass the ACK to the TU (AckReceived): RFC 6026 Accepted state."""
    RETRANSMIT = auto()
    """Send the request (client) or the last response (server) again; re-arm the timer."""
    SEND_ACK = auto()
    """Send the ACK for the non-2xx final response (§17.1.1.3), built once, then re-sent."""
    SEND_RESPONSE = auto()
    """Send the response the TU gave and remember it for retransmissions."""
    RESEND_RESPONSE = auto()
    """Send the last response again, if there is one (request retransmission)."""
    SEND_TRYING = auto()
    """Send 100 Trying unless a provisional response went out already (§17.2.1)."""
    TIMEOUT_TO_TU = auto()
    """Tell the TU the transaction timed out (Timer B, F or H)."""
    ERROR_TO_TU = auto()
    """Tell the TU the transport failed."""
    REFUSE = auto()
    """The TU asked for something this state cannot do: raise TransactionStateError."""


S = TypeVar("S", bound=Enum)
I = TypeVar("I", bound=Enum)  # noqa: E741 - input type variable

Table = Mapping[tuple[S, I], tuple[tuple[Action, ...], S]]

_ = ()  # "no action" in the tables below: absorb or ignore the input


class Transaction(Generic[S, I]):
    """What the four transaction types share: identity, state, timers, the table driver.

    ``schedule(transaction, timer, deadline)`` is the layer's callback for arming a timer;
    the transaction remembers the deadline and ignores a timer whose deadline it no longer
    holds (cancelled or re-armed).
    """

    TABLE: ClassVar[Mapping[tuple[Enum, Enum], tuple[tuple[Action, ...], Enum]]]
    ENTRY_TIMERS: ClassVar[Mapping[Enum, tuple[Timer, ...]]]
    KEPT_TIMERS: ClassVar[Mapping[Enum, frozenset[Timer]]]
    TIMER_INPUTS: ClassVar[Mapping[Timer, Enum]]
    REQUEST_STATES: ClassVar[frozenset[Enum]]
    TERMINATED: ClassVar[Enum]
    TRANSPORT_ERROR: ClassVar[Enum]

    __slots__ = (
        "config",
        "deadlines",
        "destination",
        "id",
        "interval",
        "last_response",
        "reliable",
        "request",
        "schedule",
        "sent_by",
        "state",
    )

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: TransportAddress,
        config: TimerConfig,
        schedule: Callable[[Transaction[S, I], Timer, float], None],
        *,
        initial: S,
    ) -> None:
        self.id = transaction_id
        self.request: Request | None = request  # released once no state needs it
        self.destination = destination
        self.reliable = destination.reliable
        self.config = config
        self.schedule = schedule
        self.state: S = initial
        self.deadlines: dict[Timer, float] = {}
        self.interval = config.t1
        self.last_response: Response | None = None
        self.sent_by: tuple[str, int | None] | None = None  # client: the Via we wrote

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id.branch} {self.id.method} {self.state.name}>"

    @property
    def terminated(self) -> bool:
        """True once the machine reached Terminated: the layer forgets it."""
        return self.state is self.TERMINATED

    def start(self, now: float) -> list[Effect]:
        """Arm the timers of the initial state."""
        return self._enter(self.state, now)

    def handle(
        self,
        event: I,
        now: float,
        message: Request | Response | None = None,
        source: TransportAddress | None = None,
        reason: str = "",
    ) -> list[Effect]:
        """Apply one input: run the table's actions, then enter the next state."""
        actions, next_state = self.TABLE[(self.state, event)]
        effects: list[Effect] = []
        for action in actions:
            self._act(action, event, now, message, source, reason, effects)
        if next_state is not self.state:
            self.state = next_state  # type: ignore[assignment]
            effects.extend(self._enter(next_state, now))
        return effects

    def fire(self, timer: Timer, deadline: float, now: float) -> list[Effect]:
        """A timer the layer scheduled is due; ignored if cancelled or re-armed since."""
        if self.deadlines.get(timer) != deadline:
            return []
        del self.deadlines[timer]
        return self.handle(self.TIMER_INPUTS[timer], now)  # type: ignore[arg-type]

    # --- timers ------------------------------------------------------------------------------

    def _enter(self, state: Enum, now: float) -> list[Effect]:
        if state not in self.REQUEST_STATES:
            # Past the final response nothing re-sends or answers the request: letting it
            # go keeps the thousands of transactions absorbing retransmissions small.
            self.request = None
        kept = self.KEPT_TIMERS.get(state, frozenset())
        for timer in [t for t in self.deadlines if t not in kept]:
            del self.deadlines[timer]
        effects: list[Effect] = []
        for timer in self.ENTRY_TIMERS.get(state, ()):
            duration = self._duration(timer)
            if duration is None:
                continue
            if duration == 0:
                effects.extend(self.handle(self.TIMER_INPUTS[timer], now))  # type: ignore[arg-type]
                break
            self._arm(timer, now + duration)
        return effects

    def _arm(self, timer: Timer, deadline: float) -> None:
        self.deadlines[timer] = deadline
        self.schedule(self, timer, deadline)

    def _duration(self, timer: Timer) -> float | None:
        """How long ``timer`` runs from now; None when it does not run on this transport."""
        c = self.config
        reliable = self.reliable
        if timer in (Timer.A, Timer.E, Timer.G):
            if reliable:
                return None  # §17.1.1.2, §17.1.2.2, §17.2.1: no retransmissions
            self.interval = c.t1
            return c.t1
        if timer is Timer.B:
            return c.timer_b
        if timer in (Timer.F, Timer.H, Timer.L, Timer.M):
            return 64 * c.t1
        if timer is Timer.D:
            return c.wait_d(reliable)
        if timer is Timer.I:
            return c.wait_i(reliable)
        if timer is Timer.J:
            return c.wait_j(reliable)
        if timer is Timer.K:
            return c.wait_k(reliable)
        return c.trying_delay

    # --- actions -----------------------------------------------------------------------------

    def _act(  # noqa: PLR0917 - the table driver's private dispatch
        self,
        action: Action,
        event: Enum,
        now: float,
        message: Request | Response | None,
        source: TransportAddress | None,
        reason: str,
        effects: list[Effect],
    ) -> None:
        if action is Action.TO_TU:
            assert isinstance(message, Response)
            effects.append(ResponseReceived(message, self.id))
        elif action is Action.TIMEOUT_TO_TU:
            effects.append(TransactionTimeout(self.id))
        elif action is Action.ERROR_TO_TU:
            effects.append(TransportFailure(self.id, reason))
        elif action is Action.REFUSE:
            raise TransactionStateError(
                f"{type(self).__name__} in state {self.state.name} refuses {event.name}"
                + (f" ({message!r})" if message is not None else "")
            )
        else:
            self._act_more(action, now, message, source, effects)

    def _act_more(
        self,
        action: Action,
        now: float,
        message: Request | Response | None,
        source: TransportAddress | None,
        effects: list[Effect],
    ) -> None:
        if action is Action.SEND_RESPONSE:
            assert isinstance(message, Response)
            self.last_response = message
            self._send(message, effects)
        elif action is Action.RESEND_RESPONSE:
            if self.last_response is not None:
                self._send(self.last_response, effects)
        else:
            raise AssertionError(f"{type(self).__name__} has no action {action.name}")

    def _send(self, message: Request | Response, effects: list[Effect]) -> None:
        effects.append(SendMessage(message, self.destination, self.id))


# --- client INVITE (RFC 3261 §17.1.1, RFC 6026 §7.2) -----------------------------------------


class ClientInviteState(_Member):
    """Figure 5 of RFC 3261 with RFC 6026's Accepted state."""

    CALLING = auto()
    PROCEEDING = auto()
    ACCEPTED = auto()
    COMPLETED = auto()
    TERMINATED = auto()


class ClientInviteInput(_Member):
    """Responses by class, timers, transport errors."""

    PROVISIONAL = auto()
    SUCCESS = auto()
    FAILURE = auto()
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_M = auto()
    TRANSPORT_ERROR = auto()


_CI = ClientInviteState
_CII = ClientInviteInput
_A = Action

CLIENT_INVITE_TABLE: dict[
    tuple[ClientInviteState, ClientInviteInput], tuple[tuple[Action, ...], ClientInviteState]
] = {
    (_CI.CALLING, _CII.PROVISIONAL): ((_A.TO_TU,), _CI.PROCEEDING),
    (_CI.CALLING, _CII.SUCCESS): ((_A.TO_TU,), _CI.ACCEPTED),
    # The ACK goes out before the TU hears of the failure: what the TU sends in reaction (a
    # request with credentials after 401/407, a retry after 422) must follow it on the wire.
    (_CI.CALLING, _CII.FAILURE): ((_A.SEND_ACK, _A.TO_TU), _CI.COMPLETED),
    (_CI.CALLING, _CII.TIMER_A): ((_A.RETRANSMIT,), _CI.CALLING),
    (_CI.CALLING, _CII.TIMER_B): ((_A.TIMEOUT_TO_TU,), _CI.TERMINATED),
    (_CI.CALLING, _CII.TIMER_D): (_, _CI.CALLING),
    (_CI.CALLING, _CII.TIMER_M): (_, _CI.CALLING),
    (_CI.CALLING, _CII.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _CI.TERMINATED),
    (_CI.PROCEEDING, _CII.PROVISIONAL): ((_A.TO_TU,), _CI.PROCEEDING),
    (_CI.PROCEEDING, _CII.SUCCESS): ((_A.TO_TU,), _CI.ACCEPTED),
    (_CI.PROCEEDING, _CII.FAILURE): ((_A.SEND_ACK, _A.TO_TU), _CI.COMPLETED),
    (_CI.PROCEEDING, _CII.TIMER_A): (_, _CI.PROCEEDING),
    (_CI.PROCEEDING, _CII.TIMER_B): (_, _CI.PROCEEDING),
    (_CI.PROCEEDING, _CII.TIMER_D): (_, _CI.PROCEEDING),
    (_CI.PROCEEDING, _CII.TIMER_M): (_, _CI.PROCEEDING),
    (_CI.PROCEEDING, _CII.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _CI.TERMINATED),
    # RFC 6026 §7.2: every 2xx goes to the TU, which ACKs it; other responses are dropped.
    (_CI.ACCEPTED, _CII.PROVISIONAL): (_, _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.SUCCESS): ((_A.TO_TU,), _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.FAILURE): (_, _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.TIMER_A): (_, _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.TIMER_B): (_, _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.TIMER_D): (_, _CI.ACCEPTED),
    (_CI.ACCEPTED, _CII.TIMER_M): (_, _CI.TERMINATED),
    (_CI.ACCEPTED, _CII.TRANSPORT_ERROR): (_, _CI.ACCEPTED),
    # §17.1.1.2: retransmitted final responses get the ACK again and stay away from the TU.
    (_CI.COMPLETED, _CII.PROVISIONAL): (_, _CI.COMPLETED),
    (_CI.COMPLETED, _CII.SUCCESS): (_, _CI.COMPLETED),
    (_CI.COMPLETED, _CII.FAILURE): ((_A.SEND_ACK,), _CI.COMPLETED),
    (_CI.COMPLETED, _CII.TIMER_A): (_, _CI.COMPLETED),
    (_CI.COMPLETED, _CII.TIMER_B): (_, _CI.COMPLETED),
    (_CI.COMPLETED, _CII.TIMER_D): (_, _CI.TERMINATED),
    (_CI.COMPLETED, _CII.TIMER_M): (_, _CI.COMPLETED),
    (_CI.COMPLETED, _CII.TRANSPORT_ERROR): (_, _CI.TERMINATED),
}
CLIENT_INVITE_TABLE.update({(_CI.TERMINATED, i): (_, _CI.TERMINATED) for i in ClientInviteInput})


class ClientInviteTransaction(Transaction[ClientInviteState, ClientInviteInput]):
    """An INVITE we sent (RFC 3261 §17.1.1, RFC 6026 §7.2)."""

    TABLE = CLIENT_INVITE_TABLE  # type: ignore[assignment]
    ENTRY_TIMERS: ClassVar[Mapping[Enum, tuple[Timer, ...]]] = {
        _CI.CALLING: (Timer.A, Timer.B),
        _CI.ACCEPTED: (Timer.M,),
        _CI.COMPLETED: (Timer.D,),
    }
    KEPT_TIMERS: ClassVar[Mapping[Enum, frozenset[Timer]]] = {}
    TIMER_INPUTS: ClassVar[Mapping[Timer, Enum]] = {
        Timer.A: _CII.TIMER_A,
        Timer.B: _CII.TIMER_B,
        Timer.D: _CII.TIMER_D,
        Timer.M: _CII.TIMER_M,
    }
    REQUEST_STATES = frozenset({_CI.CALLING, _CI.PROCEEDING})  # retransmit, ACK, CANCEL
    TERMINATED = _CI.TERMINATED
    TRANSPORT_ERROR = _CII.TRANSPORT_ERROR

    __slots__ = ("ack",)

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: TransportAddress,
        config: TimerConfig,
        schedule: Callable[[Transaction[ClientInviteState, ClientInviteInput], Timer, float], None],
    ) -> None:
        super().__init__(
            transaction_id, request, destination, config, schedule, initial=_CI.CALLING
        )
        self.ack: Request | None = None

    @staticmethod
    def classify(response: Response) -> ClientInviteInput:
        """The input a response is for this machine."""
        code = response.status_code
        if code < 200:
            return _CII.PROVISIONAL
        return _CII.SUCCESS if code < 300 else _CII.FAILURE

    def _act_more(
        self,
        action: Action,
        now: float,
        message: Request | Response | None,
        source: TransportAddress | None,
        effects: list[Effect],
    ) -> None:
        if action is Action.RETRANSMIT:
            assert self.request is not None
            self._send(self.request, effects)
            self.interval *= 2  # §17.1.1.2: Timer A doubles, no cap (Timer B ends it)
            self._arm(Timer.A, now + self.interval)
        elif action is Action.SEND_ACK:
            if self.ack is None:
                assert isinstance(message, Response) and self.request is not None
                self.ack = self.request.ack_for(message)
            self._send(self.ack, effects)
        else:
            super()._act_more(action, now, message, source, effects)


# --- client non-INVITE (RFC 3261 §17.1.2, RFC 4320) --------------------------------------------


class ClientNonInviteState(_Member):
    """Figure 6 of RFC 3261."""

    TRYING = auto()
    PROCEEDING = auto()
    COMPLETED = auto()
    TERMINATED = auto()


class ClientNonInviteInput(_Member):
    """Responses by class, timers, transport errors."""

    PROVISIONAL = auto()
    FINAL = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_K = auto()
    TRANSPORT_ERROR = auto()


_CN = ClientNonInviteState
_CNI = ClientNonInviteInput

CLIENT_NON_INVITE_TABLE: dict[
    tuple[ClientNonInviteState, ClientNonInviteInput],
    tuple[tuple[Action, ...], ClientNonInviteState],
] = {
    (_CN.TRYING, _CNI.PROVISIONAL): ((_A.TO_TU,), _CN.PROCEEDING),
    (_CN.TRYING, _CNI.FINAL): ((_A.TO_TU,), _CN.COMPLETED),
    (_CN.TRYING, _CNI.TIMER_E): ((_A.RETRANSMIT,), _CN.TRYING),
    (_CN.TRYING, _CNI.TIMER_F): ((_A.TIMEOUT_TO_TU,), _CN.TERMINATED),
    (_CN.TRYING, _CNI.TIMER_K): (_, _CN.TRYING),
    (_CN.TRYING, _CNI.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _CN.TERMINATED),
    (_CN.PROCEEDING, _CNI.PROVISIONAL): ((_A.TO_TU,), _CN.PROCEEDING),
    (_CN.PROCEEDING, _CNI.FINAL): ((_A.TO_TU,), _CN.COMPLETED),
    (_CN.PROCEEDING, _CNI.TIMER_E): ((_A.RETRANSMIT,), _CN.PROCEEDING),
    (_CN.PROCEEDING, _CNI.TIMER_F): ((_A.TIMEOUT_TO_TU,), _CN.TERMINATED),
    (_CN.PROCEEDING, _CNI.TIMER_K): (_, _CN.PROCEEDING),
    (_CN.PROCEEDING, _CNI.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _CN.TERMINATED),
    (_CN.COMPLETED, _CNI.PROVISIONAL): (_, _CN.COMPLETED),
    (_CN.COMPLETED, _CNI.FINAL): (_, _CN.COMPLETED),
    (_CN.COMPLETED, _CNI.TIMER_E): (_, _CN.COMPLETED),
    (_CN.COMPLETED, _CNI.TIMER_F): (_, _CN.COMPLETED),
    (_CN.COMPLETED, _CNI.TIMER_K): (_, _CN.TERMINATED),
    (_CN.COMPLETED, _CNI.TRANSPORT_ERROR): (_, _CN.COMPLETED),
}
CLIENT_NON_INVITE_TABLE.update(
    {(_CN.TERMINATED, i): (_, _CN.TERMINATED) for i in ClientNonInviteInput}
)


class ClientNonInviteTransaction(Transaction[ClientNonInviteState, ClientNonInviteInput]):
    """A non-INVITE request we sent (RFC 3261 §17.1.2).

    Timer F's outcome goes to the TU only (RFC 4320 §4.1: nobody sends a 408 for it).
    """

    TABLE = CLIENT_NON_INVITE_TABLE  # type: ignore[assignment]
    ENTRY_TIMERS: ClassVar[Mapping[Enum, tuple[Timer, ...]]] = {
        _CN.TRYING: (Timer.E, Timer.F),
        _CN.COMPLETED: (Timer.K,),
    }
    KEPT_TIMERS: ClassVar[Mapping[Enum, frozenset[Timer]]] = {
        _CN.PROCEEDING: frozenset({Timer.E, Timer.F}),
    }
    TIMER_INPUTS: ClassVar[Mapping[Timer, Enum]] = {
        Timer.E: _CNI.TIMER_E,
        Timer.F: _CNI.TIMER_F,
        Timer.K: _CNI.TIMER_K,
    }
    REQUEST_STATES = frozenset({_CN.TRYING, _CN.PROCEEDING})  # retransmissions
    TERMINATED = _CN.TERMINATED
    TRANSPORT_ERROR = _CNI.TRANSPORT_ERROR

    __slots__ = ()

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: TransportAddress,
        config: TimerConfig,
        schedule: Callable[
            [Transaction[ClientNonInviteState, ClientNonInviteInput], Timer, float], None
        ],
    ) -> None:
        super().__init__(transaction_id, request, destination, config, schedule, initial=_CN.TRYING)

    @staticmethod
    def classify(response: Response) -> ClientNonInviteInput:
        """The input a response is for this machine."""
        return _CNI.PROVISIONAL if response.status_code < 200 else _CNI.FINAL

    def _act_more(
        self,
        action: Action,
        now: float,
        message: Request | Response | None,
        source: TransportAddress | None,
        effects: list[Effect],
    ) -> None:
        if action is Action.RETRANSMIT:
            assert self.request is not None
            self._send(self.request, effects)
            # §17.1.2.2: doubling up to T2 while Trying; every T2 once a provisional came.
            if self.state is _CN.TRYING:
                self.interval = min(2 * self.interval, self.config.t2)
            else:
                self.interval = self.config.t2
            self._arm(Timer.E, now + self.interval)
        else:
            super()._act_more(action, now, message, source, effects)


# --- server INVITE (RFC 3261 §17.2.1, RFC 6026 §7.1) -----------------------------------------


class ServerInviteState(_Member):
    """Figure 7 of RFC 3261 with RFC 6026's Accepted state."""

    PROCEEDING = auto()
    ACCEPTED = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class ServerInviteInput(_Member):
    """Request retransmissions, ACK, the TU's responses by class, timers, transport errors."""

    REQUEST = auto()
    ACK = auto()
    TU_PROVISIONAL = auto()
    TU_SUCCESS = auto()
    TU_FAILURE = auto()
    TIMER_TRYING = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_L = auto()
    TRANSPORT_ERROR = auto()


_SI = ServerInviteState
_SII = ServerInviteInput

SERVER_INVITE_TABLE: dict[
    tuple[ServerInviteState, ServerInviteInput], tuple[tuple[Action, ...], ServerInviteState]
] = {
    (_SI.PROCEEDING, _SII.REQUEST): ((_A.RESEND_RESPONSE,), _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.ACK): (_, _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TU_PROVISIONAL): ((_A.SEND_RESPONSE,), _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TU_SUCCESS): ((_A.SEND_RESPONSE,), _SI.ACCEPTED),
    (_SI.PROCEEDING, _SII.TU_FAILURE): ((_A.SEND_RESPONSE,), _SI.COMPLETED),
    (_SI.PROCEEDING, _SII.TIMER_TRYING): ((_A.SEND_TRYING,), _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TIMER_G): (_, _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TIMER_H): (_, _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TIMER_I): (_, _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TIMER_L): (_, _SI.PROCEEDING),
    (_SI.PROCEEDING, _SII.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _SI.TERMINATED),
    # RFC 6026 §7.1: INVITE retransmissions absorbed, the TU retransmits its 2xx itself,
    # an ACK matching the transaction goes to the TU.
    (_SI.ACCEPTED, _SII.REQUEST): (_, _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.ACK): ((_A.ACK_TO_TU,), _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TU_PROVISIONAL): ((_A.REFUSE,), _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TU_SUCCESS): ((_A.SEND_RESPONSE,), _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TU_FAILURE): ((_A.REFUSE,), _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TIMER_TRYING): (_, _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TIMER_G): (_, _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TIMER_H): (_, _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TIMER_I): (_, _SI.ACCEPTED),
    (_SI.ACCEPTED, _SII.TIMER_L): (_, _SI.TERMINATED),
    (_SI.ACCEPTED, _SII.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _SI.TERMINATED),
    (_SI.COMPLETED, _SII.REQUEST): ((_A.RESEND_RESPONSE,), _SI.COMPLETED),
    (_SI.COMPLETED, _SII.ACK): (_, _SI.CONFIRMED),
    (_SI.COMPLETED, _SII.TU_PROVISIONAL): ((_A.REFUSE,), _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TU_SUCCESS): ((_A.REFUSE,), _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TU_FAILURE): ((_A.REFUSE,), _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TIMER_TRYING): (_, _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TIMER_G): ((_A.RETRANSMIT,), _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TIMER_H): ((_A.TIMEOUT_TO_TU,), _SI.TERMINATED),
    (_SI.COMPLETED, _SII.TIMER_I): (_, _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TIMER_L): (_, _SI.COMPLETED),
    (_SI.COMPLETED, _SII.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _SI.TERMINATED),
    (_SI.CONFIRMED, _SII.REQUEST): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.ACK): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TU_PROVISIONAL): ((_A.REFUSE,), _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TU_SUCCESS): ((_A.REFUSE,), _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TU_FAILURE): ((_A.REFUSE,), _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TIMER_TRYING): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TIMER_G): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TIMER_H): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TIMER_I): (_, _SI.TERMINATED),
    (_SI.CONFIRMED, _SII.TIMER_L): (_, _SI.CONFIRMED),
    (_SI.CONFIRMED, _SII.TRANSPORT_ERROR): (_, _SI.CONFIRMED),
}
# A terminated transaction refuses the TU's responses and ignores everything else.
SERVER_INVITE_TABLE.update(
    {
        (_SI.TERMINATED, i): (
            ((_A.REFUSE,), _SI.TERMINATED)
            if i in (_SII.TU_PROVISIONAL, _SII.TU_SUCCESS, _SII.TU_FAILURE)
            else (_, _SI.TERMINATED)
        )
        for i in ServerInviteInput
    }
)


class ServerInviteTransaction(Transaction[ServerInviteState, ServerInviteInput]):
    """An INVITE we received (RFC 3261 §17.2.1, RFC 6026 §7.1)."""

    TABLE = SERVER_INVITE_TABLE  # type: ignore[assignment]
    ENTRY_TIMERS: ClassVar[Mapping[Enum, tuple[Timer, ...]]] = {
        _SI.PROCEEDING: (Timer.TRYING,),
        _SI.ACCEPTED: (Timer.L,),
        _SI.COMPLETED: (Timer.G, Timer.H),
        _SI.CONFIRMED: (Timer.I,),
    }
    KEPT_TIMERS: ClassVar[Mapping[Enum, frozenset[Timer]]] = {}
    TIMER_INPUTS: ClassVar[Mapping[Timer, Enum]] = {
        Timer.TRYING: _SII.TIMER_TRYING,
        Timer.G: _SII.TIMER_G,
        Timer.H: _SII.TIMER_H,
        Timer.I: _SII.TIMER_I,
        Timer.L: _SII.TIMER_L,
    }
    REQUEST_STATES = frozenset({_SI.PROCEEDING})  # 100 Trying is built from it
    TERMINATED = _SI.TERMINATED
    TRANSPORT_ERROR = _SII.TRANSPORT_ERROR

    __slots__ = ()

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: TransportAddress,
        config: TimerConfig,
        schedule: Callable[[Transaction[ServerInviteState, ServerInviteInput], Timer, float], None],
    ) -> None:
        super().__init__(
            transaction_id, request, destination, config, schedule, initial=_SI.PROCEEDING
        )

    @staticmethod
    def classify(response: Response) -> ServerInviteInput:
        """The input a TU response is for this machine."""
        code = response.status_code
        if code < 200:
            return _SII.TU_PROVISIONAL
        return _SII.TU_SUCCESS if code < 300 else _SII.TU_FAILURE

    def _act_more(
        self,
        action: Action,
        now: float,
        message: Request | Response | None,
        source: TransportAddress | None,
        effects: list[Effect],
    ) -> None:
        if action is Action.SEND_TRYING:
            if self.last_response is None:
                assert self.request is not None
                self.last_response = self.request.response(100)
                self._send(self.last_response, effects)
        elif action is Action.RETRANSMIT:
            assert self.last_response is not None
            self._send(self.last_response, effects)
            self.interval = min(2 * self.interval, self.config.t2)  # §17.2.1
            self._arm(Timer.G, now + self.interval)
        elif action is Action.ACK_TO_TU:
            assert isinstance(message, Request) and source is not None
            effects.append(AckReceived(message, source))
        else:
            super()._act_more(action, now, message, source, effects)


# --- server non-INVITE (RFC 3261 §17.2.2, RFC 4320) --------------------------------------------


class ServerNonInviteState(_Member):
    """Figure 8 of RFC 3261."""

    TRYING = auto()
    PROCEEDING = auto()
    COMPLETED = auto()
    TERMINATED = auto()


class ServerNonInviteInput(_Member):
    """Request retransmissions, the TU's responses by class, Timer J, transport errors."""

    REQUEST = auto()
    TU_PROVISIONAL = auto()
    TU_FINAL = auto()
    TIMER_J = auto()
    TRANSPORT_ERROR = auto()


_SN = ServerNonInviteState
_SNI = ServerNonInviteInput

SERVER_NON_INVITE_TABLE: dict[
    tuple[ServerNonInviteState, ServerNonInviteInput],
    tuple[tuple[Action, ...], ServerNonInviteState],
] = {
    (_SN.TRYING, _SNI.REQUEST): (_, _SN.TRYING),
    (_SN.TRYING, _SNI.TU_PROVISIONAL): ((_A.SEND_RESPONSE,), _SN.PROCEEDING),
    (_SN.TRYING, _SNI.TU_FINAL): ((_A.SEND_RESPONSE,), _SN.COMPLETED),
    (_SN.TRYING, _SNI.TIMER_J): (_, _SN.TRYING),
    (_SN.TRYING, _SNI.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _SN.TERMINATED),
    (_SN.PROCEEDING, _SNI.REQUEST): ((_A.RESEND_RESPONSE,), _SN.PROCEEDING),
    (_SN.PROCEEDING, _SNI.TU_PROVISIONAL): ((_A.SEND_RESPONSE,), _SN.PROCEEDING),
    (_SN.PROCEEDING, _SNI.TU_FINAL): ((_A.SEND_RESPONSE,), _SN.COMPLETED),
    (_SN.PROCEEDING, _SNI.TIMER_J): (_, _SN.PROCEEDING),
    (_SN.PROCEEDING, _SNI.TRANSPORT_ERROR): ((_A.ERROR_TO_TU,), _SN.TERMINATED),
    (_SN.COMPLETED, _SNI.REQUEST): ((_A.RESEND_RESPONSE,), _SN.COMPLETED),
    (_SN.COMPLETED, _SNI.TU_PROVISIONAL): ((_A.REFUSE,), _SN.COMPLETED),
    (_SN.COMPLETED, _SNI.TU_FINAL): ((_A.REFUSE,), _SN.COMPLETED),
    (_SN.COMPLETED, _SNI.TIMER_J): (_, _SN.TERMINATED),
    (_SN.COMPLETED, _SNI.TRANSPORT_ERROR): (_, _SN.TERMINATED),
}
SERVER_NON_INVITE_TABLE.update(
    {
        (_SN.TERMINATED, i): (
            ((_A.REFUSE,), _SN.TERMINATED)
            if i in (_SNI.TU_PROVISIONAL, _SNI.TU_FINAL)
            else (_, _SN.TERMINATED)
        )
        for i in ServerNonInviteInput
    }
)


class ServerNonInviteTransaction(Transaction[ServerNonInviteState, ServerNonInviteInput]):
    """A non-INVITE request we received (RFC 3261 §17.2.2)."""

    TABLE = SERVER_NON_INVITE_TABLE  # type: ignore[assignment]
    ENTRY_TIMERS: ClassVar[Mapping[Enum, tuple[Timer, ...]]] = {_SN.COMPLETED: (Timer.J,)}
    KEPT_TIMERS: ClassVar[Mapping[Enum, frozenset[Timer]]] = {}
    TIMER_INPUTS: ClassVar[Mapping[Timer, Enum]] = {Timer.J: _SNI.TIMER_J}
    REQUEST_STATES: ClassVar[frozenset[Enum]] = frozenset()  # answered by the TU alone
    TERMINATED = _SN.TERMINATED
    TRANSPORT_ERROR = _SNI.TRANSPORT_ERROR

    __slots__ = ()

    def __init__(
        self,
        transaction_id: TransactionId,
        request: Request,
        destination: TransportAddress,
        config: TimerConfig,
        schedule: Callable[
            [Transaction[ServerNonInviteState, ServerNonInviteInput], Timer, float], None
        ],
    ) -> None:
        super().__init__(transaction_id, request, destination, config, schedule, initial=_SN.TRYING)

    @staticmethod
    def classify(response: Response) -> ServerNonInviteInput:
        """The input a TU response is for this machine."""
        return _SNI.TU_PROVISIONAL if response.status_code < 200 else _SNI.TU_FINAL
