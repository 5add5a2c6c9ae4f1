"""SIP-specific event notification (RFC 6665): the subscription dialog usage, both sides.

A :class:`Subscriber` is the usage created by a SUBSCRIBE we send (or by a REFER, whose implicit
subscription is of the ``refer`` package, RFC 3515 §2.4.4); a :class:`Notifier` is the usage a
SUBSCRIBE (or REFER) we accept creates. Each belongs to one dialog — its own, or an INVITE
dialog it shares (RFC 5057) — and is named by the Event package and ``id`` (RFC 6665 §4.1.2).

They keep the subscription's state and deadlines and build its messages:

- the subscriber refreshes before the subscription expires (§4.1.2.2), treats a missing NOTIFY
  after the 2xx as the end (§4.1.2.4: 64*T1), follows each NOTIFY's Subscription-State
  (§4.1.3) and unsubscribes with ``Expires: 0`` (§4.1.2.3);
- the notifier answers SUBSCRIBE refreshes, sends a NOTIFY after each (§4.2.1.2: "MUST"), sends
  the final NOTIFY with ``terminated`` and a reason when the subscription expires or is ended
  (§4.2.2), and carries the current state in each NOTIFY.

The state machines are :data:`SUBSCRIBER_TRANSITIONS` and :data:`NOTIFIER_TRANSITIONS`. Neither
class sends anything: the user agent passes their requests to the transaction layer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from sipperc.sip import headers as h
from sipperc.sip.dialog import Dialog
from sipperc.sip.headers import EventValue, MediaType
from sipperc.sip.message import Request, Response
from sipperc.sip.uri import Parameters

__all__ = [
    "NOTIFIER_TRANSITIONS",
    "SUBSCRIBER_TRANSITIONS",
    "Notification",
    "Notifier",
    "NotifierInput",
    "NotifierState",
    "Subscriber",
    "SubscriberInput",
    "SubscriberState",
    "SubscriptionKey",
    "SubscriptionStateError",
]


class SubscriptionStateError(RuntimeError):
    """A subscription was used out of turn (a programming error in the layer above)."""


@dataclass(frozen=True, slots=True)
class SubscriptionKey:
    """A subscription within its dialog: event package and ``id`` (RFC 6665 §4.1.2, §8.2.1)."""

    package: str
    id: str | None = None

    @classmethod
    def of(cls, message: Request) -> SubscriptionKey | None:
        """The key of a SUBSCRIBE/NOTIFY by its Event header (None without one)."""
        event = message.first(h.EVENT)
        if event is None:
            return None
        return cls(event.value.lower(), event.id)

    def event(self) -> EventValue:
        """The Event header value naming this subscription."""
        params = Parameters() if self.id is None else Parameters([("id", self.id)])
        return EventValue(self.package, params)


@dataclass(frozen=True, slots=True)
class Notification:
    """What a NOTIFY told the subscriber: the state and the body it carried."""

    state: str
    """``active``, ``pending`` or ``terminated`` (RFC 6665 §8.2.3)."""
    reason: str | None
    expires: int | None
    retry_after: int | None
    content_type: MediaType | None
    body: bytes


# --- the subscriber ----------------------------------------------------------------------


class SubscriberState(enum.Enum):
    """Where a subscription stands at the subscriber (RFC 6665 §4.1)."""

    SUBSCRIBING = "subscribing"
    """SUBSCRIBE sent, neither 2xx nor NOTIFY yet."""
    NOTIFY_WAIT = "notify-wait"
    """2xx received; the first NOTIFY is due (§4.1.2.4)."""
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


class SubscriberInput(enum.Enum):
    """What can happen to a subscription at the subscriber."""

    ACCEPTED = "accepted"
    """A 2xx to our SUBSCRIBE (initial or refresh)."""
    REFUSED = "refused"
    """A failure that ends it: non-2xx to the initial SUBSCRIBE, 481, 408 or a timeout."""
    NOTIFY_PENDING = "notify-pending"
    NOTIFY_ACTIVE = "notify-active"
    NOTIFY_TERMINATED = "notify-terminated"
    NOTIFY_TIMEOUT = "notify-timeout"
    """No NOTIFY 64*T1 after the 2xx (§4.1.2.4)."""
    UNSUBSCRIBE = "unsubscribe"


_S = SubscriberState
_SI = SubscriberInput
SUBSCRIBER_TRANSITIONS: dict[tuple[SubscriberState, SubscriberInput], SubscriberState | None] = {
    (_S.SUBSCRIBING, _SI.ACCEPTED): _S.NOTIFY_WAIT,
    (_S.SUBSCRIBING, _SI.REFUSED): _S.TERMINATED,
    # The NOTIFY may overtake the 2xx (§4.1.2.4).
    (_S.SUBSCRIBING, _SI.NOTIFY_PENDING): _S.PENDING,
    (_S.SUBSCRIBING, _SI.NOTIFY_ACTIVE): _S.ACTIVE,
    (_S.SUBSCRIBING, _SI.NOTIFY_TERMINATED): _S.TERMINATED,
    (_S.SUBSCRIBING, _SI.NOTIFY_TIMEOUT): None,
    (_S.SUBSCRIBING, _SI.UNSUBSCRIBE): _S.TERMINATED,
    (_S.NOTIFY_WAIT, _SI.ACCEPTED): _S.NOTIFY_WAIT,
    (_S.NOTIFY_WAIT, _SI.REFUSED): _S.TERMINATED,
    (_S.NOTIFY_WAIT, _SI.NOTIFY_PENDING): _S.PENDING,
    (_S.NOTIFY_WAIT, _SI.NOTIFY_ACTIVE): _S.ACTIVE,
    (_S.NOTIFY_WAIT, _SI.NOTIFY_TERMINATED): _S.TERMINATED,
    (_S.NOTIFY_WAIT, _SI.NOTIFY_TIMEOUT): _S.TERMINATED,
    (_S.NOTIFY_WAIT, _SI.UNSUBSCRIBE): _S.TERMINATED,
    (_S.PENDING, _SI.ACCEPTED): _S.PENDING,
    (_S.PENDING, _SI.REFUSED): _S.TERMINATED,
    (_S.PENDING, _SI.NOTIFY_PENDING): _S.PENDING,
    (_S.PENDING, _SI.NOTIFY_ACTIVE): _S.ACTIVE,
    (_S.PENDING, _SI.NOTIFY_TERMINATED): _S.TERMINATED,
    (_S.PENDING, _SI.NOTIFY_TIMEOUT): None,
    (_S.PENDING, _SI.UNSUBSCRIBE): _S.TERMINATED,
    (_S.ACTIVE, _SI.ACCEPTED): _S.ACTIVE,
    (_S.ACTIVE, _SI.REFUSED): _S.TERMINATED,
    (_S.ACTIVE, _SI.NOTIFY_PENDING): _S.PENDING,
    (_S.ACTIVE, _SI.NOTIFY_ACTIVE): _S.ACTIVE,
    (_S.ACTIVE, _SI.NOTIFY_TERMINATED): _S.TERMINATED,
    (_S.ACTIVE, _SI.NOTIFY_TIMEOUT): None,
    (_S.ACTIVE, _SI.UNSUBSCRIBE): _S.TERMINATED,
    (_S.TERMINATED, _SI.ACCEPTED): _S.TERMINATED,  # the 2xx to our unsubscribe
    (_S.TERMINATED, _SI.REFUSED): _S.TERMINATED,
    # After unsubscribing, the notifier's last NOTIFYs are still answered 200 (§4.1.2.3).
    (_S.TERMINATED, _SI.NOTIFY_PENDING): _S.TERMINATED,
    (_S.TERMINATED, _SI.NOTIFY_ACTIVE): _S.TERMINATED,
    (_S.TERMINATED, _SI.NOTIFY_TERMINATED): _S.TERMINATED,
    (_S.TERMINATED, _SI.NOTIFY_TIMEOUT): None,
    (_S.TERMINATED, _SI.UNSUBSCRIBE): None,
}
"""Every (state, input) pair and the state it leads to; None: cannot happen or is a misuse."""

_NOTIFY_INPUTS = {
    "active": SubscriberInput.NOTIFY_ACTIVE,
    "pending": SubscriberInput.NOTIFY_PENDING,
    "terminated": SubscriberInput.NOTIFY_TERMINATED,
}


_State = TypeVar("_State", bound=enum.Enum)
_Input = TypeVar("_Input", bound=enum.Enum)


def _step(table: dict[tuple[_State, _Input], _State | None], state: _State,
          event: _Input) -> _State:
    """The state ``event`` leads to from ``state`` by ``table``; a misuse raises."""
    following = table[(state, event)]
    if following is None:
        raise SubscriptionStateError(f"{event.value} in state {state.value}")
    return following


def _refresh_margin(expires: float) -> float:
    """How long before expiry a subscriber refreshes: min(32 s, a third) as for sessions."""
    return min(32.0, expires / 3)


class Subscriber:
    """The subscriber's side of one subscription (RFC 6665 §4.1).

    ``expires`` is what we ask for in each SUBSCRIBE; 0 makes a fetch (one NOTIFY, then the
    end). ``refreshes`` False for the implicit subscription of a REFER, which is never
    refreshed by us (RFC 3515 §2.4.4). ``accept`` lists the body types we take (Accept).
    """

    __slots__ = (
        "_notify_deadline",
        "_refresh_at",
        "accept",
        "dialog",
        "expires",
        "key",
        "last",
        "refreshes",
        "state",
        "t1",
    )

    def __init__(
        self,
        key: SubscriptionKey,
        *,
        expires: int,
        t1: float,
        accept: tuple[str, ...] = (),
        refreshes: bool = True,
        dialog: Dialog | None = None,
    ) -> None:
        self.key = key
        self.expires = expires
        self.t1 = t1
        self.accept = accept
        self.refreshes = refreshes
        self.dialog = dialog
        self.state = SubscriberState.SUBSCRIBING
        self.last: Notification | None = None
        self._refresh_at: float | None = None
        self._notify_deadline: float | None = None

    def __repr__(self) -> str:
        return f"<Subscriber {self.key.package} {self.state.value}>"

    def _advance(self, event: SubscriberInput) -> SubscriberState:
        self.state = _step(SUBSCRIBER_TRANSITIONS, self.state, event)
        return self.state

    @property
    def terminated(self) -> bool:
        """True once ended."""
        return self.state is SubscriberState.TERMINATED

    def subscribe_headers(self, expires: int | None = None) -> list[tuple[str, object]]:
        """Event, Expires and Accept for a SUBSCRIBE (initial, refresh or unsubscribe)."""
        fields: list[tuple[str, object]] = [
            ("Event", self.key.event()),
            ("Expires", self.expires if expires is None else expires),
        ]
        fields.extend(("Accept", a) for a in self.accept)
        return fields

    def accepted(self, response: Response, now: float) -> None:
        """A 2xx to our SUBSCRIBE: the granted Expires (§4.1.2.1); wait for the NOTIFY."""
        was = self.state
        self._advance(SubscriberInput.ACCEPTED)
        granted = response.first(h.EXPIRES)
        if granted is not None and was is not SubscriberState.TERMINATED:
            self._schedule_refresh(granted, now)
        if self.state is SubscriberState.NOTIFY_WAIT:
            self._notify_deadline = now + 64 * self.t1

    def refused(self) -> None:
        """The SUBSCRIBE failed for good, or the dialog is gone (481/408/timeout)."""
        self._advance(SubscriberInput.REFUSED)
        self._refresh_at = self._notify_deadline = None

    def receive_notify(self, notify: Request, now: float) -> Notification | None:
        """Apply a NOTIFY (§4.1.3); returns what it said, or None when it is malformed.

        A NOTIFY without a readable Subscription-State is answered 400 by the caller.
        """
        value = notify.first(h.SUBSCRIPTION_STATE)
        if value is None or value.value.lower() not in _NOTIFY_INPUTS:
            return None
        state = value.value.lower()
        self._advance(_NOTIFY_INPUTS[state])
        self._notify_deadline = None
        notification = Notification(
            state, value.reason, value.expires, value.retry_after, notify.content_type,
            notify.body,
        )
        self.last = notification
        if self.state is SubscriberState.TERMINATED:
            self._refresh_at = None
        elif value.expires is not None:
            self._schedule_refresh(value.expires, now)
        return notification

    def _schedule_refresh(self, expires: int, now: float) -> None:
        if expires == 0 or not self.refreshes:
            self._refresh_at = None
            return
        self._refresh_at = now + expires - _refresh_margin(expires)

    def unsubscribe(self) -> list[tuple[str, object]]:
        """End the subscription: the headers of the SUBSCRIBE with ``Expires: 0`` (§4.1.2.3)."""
        self._advance(SubscriberInput.UNSUBSCRIBE)
        self._refresh_at = None
        self._notify_deadline = None
        return self.subscribe_headers(0)

    def get_timer(self) -> float | None:
        """The next refresh or NOTIFY deadline."""
        deadlines = [d for d in (self._refresh_at, self._notify_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[tuple[str, object]] | None:
        """At a deadline: the headers of the refresh SUBSCRIBE to send, or None.

        When the first NOTIFY never came, the subscription ends (:attr:`terminated`).
        """
        if self._notify_deadline is not None and now >= self._notify_deadline:
            self._notify_deadline = None
            self._advance(SubscriberInput.NOTIFY_TIMEOUT)
            self._refresh_at = None
            return None
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None
            return self.subscribe_headers()
        return None


# --- the notifier ---------------------------------------------------------------------------


class NotifierState(enum.Enum):
    """Where a subscription stands at the notifier (RFC 6665 §4.2)."""

    REQUESTED = "requested"
    """SUBSCRIBE received; the application has not decided yet."""
    PENDING = "pending"
    """Accepted, authorization pending (NOTIFY carries ``pending``)."""
    ACTIVE = "active"
    TERMINATED = "terminated"


class NotifierInput(enum.Enum):
    """What can happen to a subscription at the notifier."""

    ACCEPT = "accept"
    DEFER = "defer"
    """Accept as pending (§4.2.1.1)."""
    REJECT = "reject"
    REFRESH = "refresh"
    """A SUBSCRIBE refresh with a non-zero Expires."""
    UNSUBSCRIBE = "unsubscribe"
    """A SUBSCRIBE with Expires: 0 (§4.2.1.3)."""
    EXPIRE = "expire"
    TERMINATE = "terminate"
    """The application ends it (§4.2.2: e.g. ``noresource``, ``deactivated``)."""
    NOTIFY_FAILED = "notify-failed"
    """Our NOTIFY got 481, 408 or timed out: the subscription is gone (§4.2.2)."""


_N = NotifierState
_NI = NotifierInput
NOTIFIER_TRANSITIONS: dict[tuple[NotifierState, NotifierInput], NotifierState | None] = {
    (_N.REQUESTED, _NI.ACCEPT): _N.ACTIVE,
    (_N.REQUESTED, _NI.DEFER): _N.PENDING,
    (_N.REQUESTED, _NI.REJECT): _N.TERMINATED,
    (_N.REQUESTED, _NI.REFRESH): None,  # the dialog exists only once we answer
    (_N.REQUESTED, _NI.UNSUBSCRIBE): None,
    (_N.REQUESTED, _NI.EXPIRE): None,
    (_N.REQUESTED, _NI.TERMINATE): None,
    (_N.REQUESTED, _NI.NOTIFY_FAILED): None,
    (_N.PENDING, _NI.ACCEPT): _N.ACTIVE,
    (_N.PENDING, _NI.DEFER): _N.PENDING,
    (_N.PENDING, _NI.REJECT): _N.TERMINATED,
    (_N.PENDING, _NI.REFRESH): _N.PENDING,
    (_N.PENDING, _NI.UNSUBSCRIBE): _N.TERMINATED,
    (_N.PENDING, _NI.EXPIRE): _N.TERMINATED,
    (_N.PENDING, _NI.TERMINATE): _N.TERMINATED,
    (_N.PENDING, _NI.NOTIFY_FAILED): _N.TERMINATED,
    (_N.ACTIVE, _NI.ACCEPT): _N.ACTIVE,
    (_N.ACTIVE, _NI.DEFER): None,
    (_N.ACTIVE, _NI.REJECT): _N.TERMINATED,
    (_N.ACTIVE, _NI.REFRESH): _N.ACTIVE,
    (_N.ACTIVE, _NI.UNSUBSCRIBE): _N.TERMINATED,
    (_N.ACTIVE, _NI.EXPIRE): _N.TERMINATED,
    (_N.ACTIVE, _NI.TERMINATE): _N.TERMINATED,
    (_N.ACTIVE, _NI.NOTIFY_FAILED): _N.TERMINATED,
    (_N.TERMINATED, _NI.ACCEPT): None,
    (_N.TERMINATED, _NI.DEFER): None,
    (_N.TERMINATED, _NI.REJECT): None,
    (_N.TERMINATED, _NI.REFRESH): None,  # answered 481 by the caller
    (_N.TERMINATED, _NI.UNSUBSCRIBE): None,
    (_N.TERMINATED, _NI.EXPIRE): None,
    (_N.TERMINATED, _NI.TERMINATE): _N.TERMINATED,
    (_N.TERMINATED, _NI.NOTIFY_FAILED): _N.TERMINATED,
}
"""Every (state, input) pair and the state it leads to; None: cannot happen or is a misuse."""


class Notifier:
    """The notifier's side of one subscription (RFC 6665 §4.2).

    ``max_expires`` caps what a subscriber may ask for; ``content_type``/``body`` are the current
    state, repeated in each NOTIFY until changed.
    """

    __slots__ = (
        "body",
        "content_type",
        "dialog",
        "expires_at",
        "key",
        "max_expires",
        "reason",
        "state",
    )

    def __init__(self, key: SubscriptionKey, dialog: Dialog, *, max_expires: int = 3600) -> None:
        self.key = key
        self.dialog = dialog
        self.max_expires = max_expires
        self.state = NotifierState.REQUESTED
        self.expires_at: float | None = None
        self.content_type: str | None = None
        self.body = b""
        self.reason: str | None = None

    def __repr__(self) -> str:
        return f"<Notifier {self.key.package} {self.state.value}>"

    def _advance(self, event: NotifierInput) -> NotifierState:
        self.state = _step(NOTIFIER_TRANSITIONS, self.state, event)
        return self.state

    @property
    def terminated(self) -> bool:
        """True once ended."""
        return self.state is NotifierState.TERMINATED

    def granted(self, request: Request, now: float) -> int:
        """The Expires to grant a SUBSCRIBE: its own, capped by ``max_expires`` (§4.2.1.1)."""
        asked = request.first(h.EXPIRES)
        expires = self.max_expires if asked is None else min(asked, self.max_expires)
        self.expires_at = now + expires
        return expires

    def accept(self, *, pending: bool = False) -> None:
        """The application accepts the subscription, active or pending (§4.2.1.1)."""
        self._advance(NotifierInput.DEFER if pending else NotifierInput.ACCEPT)

    def reject(self) -> None:
        """The application refuses it (a 4xx-6xx to the SUBSCRIBE, or a final NOTIFY)."""
        self._advance(NotifierInput.REJECT)

    def receive_subscribe(self, request: Request, now: float) -> int:
        """A SUBSCRIBE inside the subscription: refresh or unsubscribe; returns the Expires."""
        asked = request.first(h.EXPIRES)
        if asked == 0:
            self._advance(NotifierInput.UNSUBSCRIBE)
            self.reason = "timeout"
            self.expires_at = None
            return 0
        self._advance(NotifierInput.REFRESH)
        return self.granted(request, now)

    def terminate(self, reason: str = "noresource") -> None:
        """End the subscription; the next NOTIFY is the final one with ``reason`` (§4.2.2)."""
        self._advance(NotifierInput.TERMINATE)
        self.reason = reason
        self.expires_at = None

    def notify_failed(self) -> None:
        """Our NOTIFY got 481/408 or timed out: the subscriber is gone (§4.2.2)."""
        self._advance(NotifierInput.NOTIFY_FAILED)
        self.expires_at = None

    def subscription_state(self, now: float) -> EventValue:
        """The Subscription-State for a NOTIFY sent now (RFC 6665 §8.2.3)."""
        if self.state is NotifierState.TERMINATED:
            params = Parameters([("reason", self.reason or "noresource")])
            return EventValue("terminated", params)
        value = "pending" if self.state is NotifierState.PENDING else "active"
        remaining = 0 if self.expires_at is None else max(0, round(self.expires_at - now))
        return EventValue(value, Parameters([("expires", str(remaining))]))

    def notify_headers(self, now: float) -> list[tuple[str, object]]:
        """Event and Subscription-State for the next NOTIFY."""
        return [("Event", self.key.event()), ("Subscription-State", self.subscription_state(now))]

    def set_state(self, body: bytes, content_type: str | None) -> None:
        """The current state, which every following NOTIFY carries."""
        self.body = body
        self.content_type = content_type

    def get_timer(self) -> float | None:
        """When the subscription expires unless refreshed."""
        return self.expires_at if not self.terminated else None

    def handle_timer(self, now: float) -> bool:
        """True when the subscription expired at ``now``: send the final NOTIFY (§4.2.2)."""
        if self.expires_at is None or now < self.expires_at or self.terminated:
            return False
        self._advance(NotifierInput.EXPIRE)
        self.reason = "timeout"
        self.expires_at = None
        return True
