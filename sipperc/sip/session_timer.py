"""Session timers (RFC 4028): keep a session alive with periodic refreshes, end it when they stop.

One :class:`SessionTimer` per invite session negotiates the session interval on each INVITE,
re-INVITE and UPDATE transaction (either direction) and says when to act:

- as the sender of such a request it adds ``Session-Expires``/``Min-SE`` (§7.1, §7.4), applies
  the 2xx (§7.2) and, on 422 Session Interval Too Small, raises its interval to the response's
  ``Min-SE`` for the retry (§7.3);
- as the receiver it names the Min-SE for a 422 when an interval is below its minimum (§9,
  with errata 1687 for a UAC that does not support the extension) and writes the negotiated
  ``Session-Expires`` and its ``refresher`` into the 2xx (§9);
- after every successful refresh it gives the next deadline: the refresher refreshes at half
  the interval (§10), the other side sends BYE when no refresh came, ``min(32, interval/3)``
  seconds before the session expires (§10).

It never builds a request: :meth:`SessionTimer.due` tells the invite session what to do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.sip import headers as h
from sipperc.sip.headers import SessionExpires
from sipperc.sip.message import Request, Response
from sipperc.sip.uri import Parameters

__all__ = [
    "MINIMUM_INTERVAL",
    "Refresher",
    "SessionTimer",
    "SessionTimerAction",
    "SessionTimerPolicy",
]

MINIMUM_INTERVAL = 90
"""The smallest Min-SE anyone may use (RFC 4028 §4)."""


class Refresher(enum.Enum):
    """Who refreshes, as the ``refresher`` parameter names it: relative to the transaction."""

    UAC = "uac"
    UAS = "uas"


class SessionTimerAction(enum.Enum):
    """What a due session timer asks for."""

    REFRESH = "refresh"
    """We are the refresher and half the interval has passed: send re-INVITE or UPDATE."""
    EXPIRE = "expire"
    """No refresh came: send BYE (RFC 4028 §10)."""


@dataclass(frozen=True, slots=True)
class SessionTimerPolicy:
    """How this UA uses session timers.

    ``interval``: the Session-Expires we ask for in our INVITEs and grant at most as a UAS
    (1800 s, RFC 4028 §4 recommends it); ``min_se``: the shortest we accept (at least 90 s);
    ``uas_refresher``: whom we name refresher as a UAS when the UAC supports the extension and
    left the choice to us (``uac``: the caller refreshes).
    """

    interval: int = 1800
    min_se: int = MINIMUM_INTERVAL
    uas_refresher: Refresher = Refresher.UAC
    max_retries: int = 3
    """422 responses answered with a retry before giving up (a loop guard)."""

    def __post_init__(self) -> None:
        if self.min_se < MINIMUM_INTERVAL:
            raise ValueError(f"Min-SE {self.min_se} is below {MINIMUM_INTERVAL} s (RFC 4028 §4)")
        if self.interval < self.min_se:
            raise ValueError(f"session interval {self.interval} is below Min-SE {self.min_se}")


def _supports_timer(message: Request | Response) -> bool:
    return "timer" in message.typed(h.SUPPORTED) or "timer" in message.typed(h.REQUIRE)


class SessionTimer:
    """Negotiation state and deadlines of one session's timer (RFC 4028)."""

    __slots__ = ("_refreshed_at", "_retries", "interval", "min_se", "policy", "we_refresh")

    def __init__(self, policy: SessionTimerPolicy) -> None:
        self.policy = policy
        self.interval: int | None = None
        """The negotiated session interval, None while no timer runs."""
        self.we_refresh = False
        self.min_se = policy.min_se
        """The largest Min-SE seen in this session (§7.4: subsequent requests carry it)."""
        self._refreshed_at = 0.0
        self._retries = 0

    def __repr__(self) -> str:
        who = "us" if self.we_refresh else "peer"
        return f"<SessionTimer interval={self.interval} refresher={who}>"

    @property
    def active(self) -> bool:
        """True while a session interval is in force."""
        return self.interval is not None

    # --- as the sender of INVITE/re-INVITE/UPDATE (§7) ------------------------------------------

    def request_headers(self) -> list[tuple[str, object]]:
        """Session-Expires and Min-SE for an INVITE, re-INVITE or UPDATE we send (§7.1, §7.4).

        The interval asked for is the current one in a running session (keeping the current
        refresher), else the policy's, never below the largest Min-SE seen.
        """
        interval = max(self.interval or self.policy.interval, self.min_se)
        params = Parameters()
        if self.active:
            refresher = Refresher.UAC if self.we_refresh else Refresher.UAS
            params = params.with_param("refresher", refresher.value)
        fields: list[tuple[str, object]] = [("Session-Expires", SessionExpires(interval, params))]
        if self.min_se != MINIMUM_INTERVAL:
            fields.append(("Min-SE", self.min_se))
        return fields

    def response_received(self, request: Request, response: Response, now: float) -> None:
        """Apply the 2xx to a session refresh request we sent (§7.2).

        No Session-Expires in it: no timer. Otherwise the interval it names, refreshed by us
        when ``refresher=uac``.
        """
        self._retries = 0
        value = response.first(h.SESSION_EXPIRES)
        if value is None:
            self.interval = None
            return
        self.interval = value.delta
        # A missing refresher breaks §9's MUST; refreshing ourselves is then the safe choice.
        self.we_refresh = value.refresher != Refresher.UAS.value
        self._refreshed_at = now

    def interval_too_small(self, response: Response) -> bool:
        """A 422 to our request (§7.3): raise Min-SE for the retry; False when not to retry.

        A 422 without Min-SE, one that does not raise it, or too many in a row, ends the
        attempt (the request fails as answered).
        """
        value = response.first(h.MIN_SE)
        self._retries += 1
        if value is None or value.delta <= self.min_se or self._retries > self.policy.max_retries:
            return False
        self.min_se = value.delta
        return True

    # --- as the receiver (§9) ---------------------------------------------------------------

    def required_min_se(self, request: Request) -> int | None:
        """Our Min-SE when the request asks for too short an interval (answer 422), else None.

        Only a UAC that supports the extension can retry (§9); for one that does not, the
        interval is raised in the 2xx instead (errata 1687).
        """
        value = request.first(h.SESSION_EXPIRES)
        if value is None or value.delta >= self.policy.min_se or not _supports_timer(request):
            return None
        return self.policy.min_se

    def response_headers(self, request: Request, now: float) -> list[tuple[str, object]]:
        """The Session-Expires (and Require) for our 2xx to a refresh request; starts the timer.

        The interval is the request's, lowered to our policy's but not below the request's
        Min-SE; without one in the request we ask for our own (§9). The refresher is the
        request's choice, else ours when the UAC supports the extension, else us (``uas``).
        ``Require: timer`` goes in when the UAC must refresh.
        """
        asked = request.first(h.SESSION_EXPIRES)
        floor = max(self.policy.min_se, _min_se_of(request))
        self.min_se = max(self.min_se, _min_se_of(request))
        supported = _supports_timer(request)
        interval = self.policy.interval if asked is None else min(asked.delta, self.policy.interval)
        interval = max(interval, floor)
        if asked is not None and asked.refresher is not None and supported:
            refresher = Refresher(asked.refresher)
        elif supported:
            refresher = self.policy.uas_refresher
        else:
            refresher = Refresher.UAS
        self.interval = interval
        self.we_refresh = refresher is Refresher.UAS
        self._refreshed_at = now
        self._retries = 0
        value = SessionExpires(interval, Parameters([("refresher", refresher.value)]))
        fields: list[tuple[str, object]] = [("Session-Expires", value)]
        if refresher is Refresher.UAC:
            fields.append(("Require", "timer"))
        return fields

    # --- deadlines (§10) --------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When to refresh (we refresh) or to give up (the peer does), None without a timer."""
        if self.interval is None:
            return None
        if self.we_refresh:
            return self._refreshed_at + self.interval / 2
        return self._refreshed_at + self.interval - min(32, self.interval / 3)

    def due(self, now: float) -> SessionTimerAction | None:
        """What to do at ``now``: refresh, expire, or nothing yet."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        return SessionTimerAction.REFRESH if self.we_refresh else SessionTimerAction.EXPIRE

    def postpone(self, now: float) -> None:
        """A refresh is under way: expect its outcome before acting again (one interval on)."""
        self._refreshed_at = now

    def stop(self) -> None:
        """The session ended: no more deadlines."""
        self.interval = None


def _min_se_of(message: Request | Response) -> int:
    value = message.first(h.MIN_SE)
    return MINIMUM_INTERVAL if value is None else value.delta
