"""What the user agent tells the application: calls, messages, transfers, subscriptions.

Frozen slotted dataclasses, returned by the ``UserAgent`` among the transaction-layer effects
(``SendMessage``...) from every call into it; the Twisted edge hands them to the application's
event sink. Calls are named by a :class:`CallRef` — Call-ID and our tag — which every command
(``answer``, ``hangup``...) takes back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.sdp import NegotiatedSession, SessionDescription
from sipperc.sip.dialog import DialogId
from sipperc.sip.dtmf_relay import DtmfRelay
from sipperc.sip.headers import Address, MediaType
from sipperc.sip.message import Request, Response
from sipperc.sip.refer import ReferTarget, SipFragStatus
from sipperc.sip.subscription import Notification
from sipperc.sip.transport_address import TransportAddress

__all__ = [
    "CallAnswered",
    "CallAttempt",
    "CallEnded",
    "CallProgress",
    "CallRef",
    "CallUpdateFailed",
    "CallUpdated",
    "EndReason",
    "IncomingCall",
    "InfoReceived",
    "MessageReceived",
    "NotifyReceived",
    "OptionsReceived",
    "ReferProgress",
    "ReferReceived",
    "ReferRequested",
    "RequestCompleted",
    "SubscriptionEnded",
    "SubscriptionRef",
    "SubscriptionRequested",
    "UserAgentEvent",
]


@dataclass(frozen=True, slots=True)
class CallRef:
    """Names one call at this user agent: the Call-ID and our tag.

    Our tag is the From tag as caller, the To tag as callee: unique even when a UA calls itself
    through a proxy (same Call-ID, two tags).
    """

    call_id: str
    local_tag: str

    def __str__(self) -> str:
        return f"{self.call_id};tag={self.local_tag}"


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """Names one subscription: its dialog (as a :class:`CallRef`) and event package and id."""

    dialog: CallRef
    package: str
    id: str | None = None


class EndReason(enum.Enum):
    """Why a call ended, as a user would put it."""

    REJECTED = "rejected"
    """The callee answered our INVITE with a final error (``status_code`` says which)."""
    DECLINED = "declined"
    """We refused an incoming call (``status_code`` is what we sent)."""
    CANCELLED = "cancelled"
    """The caller gave up before the answer (we, or the peer, sent CANCEL)."""
    LOCAL_BYE = "local-bye"
    REMOTE_BYE = "remote-bye"
    TIMEOUT = "timeout"
    """No response (408 from the transaction layer), or no ACK to our 2xx (RFC 3261 §13.3.1.4)."""
    UNREACHABLE = "unreachable"
    """The request could not be sent (503 from the transport, RFC 3261 §8.1.3.1)."""
    SESSION_EXPIRED = "session-expired"
    """No session refresh came in time (RFC 4028 §10)."""
    DIALOG_GONE = "dialog-gone"
    """The peer answered 481 to a request inside the call (RFC 3261 §12.2.1.2)."""
    MEDIA_FAILED = "media-failed"
    """The offer/answer exchange failed (no common codec, a broken answer...)."""
    REPLACED = "replaced"
    """An INVITE with Replaces took this call's place (RFC 3891 §3)."""
    SHUTDOWN = "shutdown"
    """The user agent stopped with the call in progress (``UserAgent.shutdown``): an answered
    call got our BYE, an incoming one not answered yet our 503, an outgoing one our CANCEL."""


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A new INVITE we may answer (``answer``), ring (``ringing``) or refuse (``reject``).

    ``offer`` is the caller's session description (None: a late offer, ours goes in the 2xx).
    ``replaces`` names a call of ours this one takes over (RFC 3891: attended transfer); the
    replaced call ends when this one is answered. ``source`` is where the INVITE came from
    (the last hop: the caller, or its proxy).
    """

    call: CallRef
    request: Request
    caller: Address
    callee: Address
    offer: SessionDescription | None
    replaces: CallRef | None = None
    referred_by: Address | None = None
    source: TransportAddress | None = None


@dataclass(frozen=True, slots=True)
class CallAttempt:
    """Our INVITE went to one of the servers located for its next hop (RFC 3263 §4.3).

    One for the first server, then one each time the user agent moves on to the next:
    ``after`` is why it left the previous one (503 received or made up for a transport
    failure, 408 for no answer in time, RFC 3261 §8.1.3.1), None on the first attempt.
    """

    call: CallRef
    destination: TransportAddress
    after: int | None = None


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A provisional response to our INVITE: ringing, session progress (early media)...

    ``dialog`` is the early dialog it created (several with a forking proxy, RFC 3261
    §13.2.2.4), None for 100 Trying. ``early_media`` is the session agreed for early media.
    """

    call: CallRef
    status_code: int
    reason: str
    dialog: DialogId | None = None
    early_media: NegotiatedSession | None = None


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The call is up: the 2xx to our INVITE came (caller), or the ACK to our 2xx (callee).

    ``negotiated`` is the session offer/answer agreed; media starts now.
    """

    call: CallRef
    dialog: DialogId
    negotiated: NegotiatedSession | None


@dataclass(frozen=True, slots=True)
class CallUpdated:
    """A re-INVITE or UPDATE changed the session (hold, resume, new codec, new address)."""

    call: CallRef
    negotiated: NegotiatedSession
    remote: bool
    """True when the peer asked for the change."""


@dataclass(frozen=True, slots=True)
class CallUpdateFailed:
    """Our re-INVITE or UPDATE was refused: the session stays as it was (RFC 3261 §14.1)."""

    call: CallRef
    status_code: int
    reason: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; the last event about it.

    An incoming INVITE the user agent refused by itself (421, 422, 415, 400, 488: nothing the
    application could have answered) gets a CallEnded (DECLINED) without an IncomingCall.

    ``status_code`` is the final response that ended it when there was one (486, 487, 408...).
    ``started``, ``answered`` and ``ended`` are the user agent's clock readings, for a
    one-line call record (``answered`` None: never answered).
    """

    call: CallRef
    reason: EndReason
    status_code: int | None
    caller: Address
    callee: Address
    started: float
    answered: float | None
    ended: float
    outgoing: bool

    @property
    def duration(self) -> float:
        """Seconds from answer to end; 0 for an unanswered call."""
        return 0.0 if self.answered is None else self.ended - self.answered


@dataclass(frozen=True, slots=True)
class InfoReceived:
    """An INFO inside a call (RFC 6086); ``dtmf`` when the body is ``application/dtmf-relay``."""

    call: CallRef
    content_type: MediaType | None
    body: bytes
    dtmf: DtmfRelay | None = None


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A MESSAGE (RFC 3428), inside a call (``call``) or on its own (``call`` None)."""

    sender: Address
    recipient: Address
    content_type: MediaType | None
    body: bytes
    call: CallRef | None = None


@dataclass(frozen=True, slots=True)
class ReferReceived:
    """The peer asks us to call ``target`` (RFC 3515); we accepted with 202.

    Place the call with ``invite(target.uri, refer=subscription, replaces=target.replaces)``
    and its progress goes back in NOTIFYs; or refuse with ``reject_refer(subscription)``.
    """

    call: CallRef
    subscription: SubscriptionRef
    target: ReferTarget
    referred_by: Address | None = None


@dataclass(frozen=True, slots=True)
class ReferRequested:
    """A REFER outside any dialog (RFC 3515 §2.4.2, RFC 4579 §5.5): not answered yet.

    Reported only when :attr:`UserAgentConfig.refer_outside_dialog` is set (otherwise such a
    REFER gets 403). ``request`` says who asks (``From``) and of whom (the Request-URI).
    Answer with ``accept_refer(subscription)`` (202 and the first NOTIFY, then place the call
    with ``invite(target.uri, refer=subscription)``) or ``refuse_refer(subscription, status)``.
    """

    subscription: SubscriptionRef
    request: Request
    target: ReferTarget
    referred_by: Address | None = None


@dataclass(frozen=True, slots=True)
class ReferProgress:
    """A NOTIFY about our REFER: how the transfer target's INVITE fares (RFC 3515 §2.4.5)."""

    call: CallRef
    subscription: SubscriptionRef
    status: SipFragStatus


@dataclass(frozen=True, slots=True)
class SubscriptionRequested:
    """A SUBSCRIBE for an event package the application handles; accept or reject it."""

    subscription: SubscriptionRef
    request: Request
    expires: int


@dataclass(frozen=True, slots=True)
class NotifyReceived:
    """A NOTIFY for one of our subscriptions (RFC 6665 §4.1.3)."""

    subscription: SubscriptionRef
    notification: Notification


@dataclass(frozen=True, slots=True)
class SubscriptionEnded:
    """A subscription is over: ``reason`` from Subscription-State, or what ended it."""

    subscription: SubscriptionRef
    reason: str
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class OptionsReceived:
    """An OPTIONS query, already answered 200 with our capabilities (RFC 3261 §11.2)."""

    request: Request


@dataclass(frozen=True, slots=True)
class RequestCompleted:
    """The outcome of a request the application sent: MESSAGE, OPTIONS, INFO, REFER...

    ``response`` is None when none came (``status_code`` 408 or 503 then, as RFC 3261 §8.1.3.1
    has the UAC act).
    """

    request: Request
    status_code: int
    response: Response | None = None


UserAgentEvent = (
    IncomingCall
    | CallAttempt
    | CallProgress
    | CallAnswered
    | CallUpdated
    | CallUpdateFailed
    | CallEnded
    | InfoReceived
    | MessageReceived
    | ReferReceived
    | ReferRequested
    | ReferProgress
    | SubscriptionRequested
    | NotifyReceived
    | SubscriptionEnded
    | OptionsReceived
    | RequestCompleted
)
"""Every event the user agent reports."""
