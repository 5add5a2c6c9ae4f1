"""Invite sessions (RFC 3261 §13-15): one call, from the INVITE to the end of the BYE.

An :class:`InviteSession` is one call at one user agent, as caller (:meth:`InviteSession.outgoing`)
or callee (:meth:`InviteSession.incoming`). It owns the call's dialog (a caller may hold several
early dialogs from a forking proxy, RFC 3261 §13.2.2.4, each with its own fork of the SDP
engine) and runs everything that happens inside it:

- the initial INVITE with SDP offer/answer through :class:`sipperc.sdp.OfferAnswer`, early or
  late offer (RFC 3261 §13.2.1, RFC 3264), early media, CANCEL (§9) and its races with the 2xx,
  2xx retransmission until the ACK (§13.3.1.4), ACK + BYE for extra 2xx from other forks;
- reliable provisional responses and PRACK (RFC 3262), with offers and answers in them;
- re-INVITE (§14) and UPDATE (RFC 3311) both ways, glare with 491 and the §14.1 random wait,
  500 with Retry-After for overlapping INVITEs (§14.2);
- session timers (RFC 4028) with 422 retries, refreshes and BYE at expiry;
- BYE both ways and their races (§15), 481 and 408 ending the dialog (§12.2.1.2).

It is sans-I/O: methods take messages and ``now`` and return actions — requests and responses
to send (:class:`SendRequest`, :class:`SendResponse`, :class:`SendAck`, :class:`SendCancel`) and
events for the application (:mod:`sipperc.sip.user_agent_events`). The user agent above maps
them onto the transaction layer. The call's states follow :data:`TRANSITIONS`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from sipperc.sdp import (
    Answer,
    AnswerRefused,
    NegotiatedSession,
    OfferAnswer,
    OfferAnswerState,
    OfferRefused,
    SdpParseError,
    SessionDescription,
    parse_sdp,
)
from sipperc.sip import headers as h
from sipperc.sip.dialog import Dialog, DialogInput
from sipperc.sip.headers import Address
from sipperc.sip.message import Request, Response
from sipperc.sip.reliable_provisional import (
    ReliableProvisionalReceiver,
    ReliableProvisionalSender,
    is_reliable,
)
from sipperc.sip.session_timer import SessionTimer, SessionTimerAction, SessionTimerPolicy
from sipperc.sip.timers import TimerConfig
from sipperc.sip.uri import quote_string
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    CallRef,
    CallUpdated,
    CallUpdateFailed,
    EndReason,
    UserAgentEvent,
)

__all__ = [
    "DEFAULT_ALLOW",
    "SDP",
    "TRANSITIONS",
    "InviteSession",
    "InviteSessionConfig",
    "InviteSessionInput",
    "InviteSessionState",
    "InviteSessionStateError",
    "ReliableProvisionalMode",
    "Role",
    "SendAck",
    "SendCancel",
    "SendRequest",
    "SendResponse",
    "SessionAction",
]

SDP = "application/sdp"

DEFAULT_ALLOW = (
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE",
    "REFER", "NOTIFY", "SUBSCRIBE",
)
"""The methods a sipperc user agent handles (its Allow header, RFC 3261 §20.5)."""


# --- configuration ---------------------------------------------------------------------------


class ReliableProvisionalMode(enum.Enum):
    """How a UA uses 100rel (RFC 3262)."""

    DISABLED = "disabled"
    SUPPORTED = "supported"
    """Offered (``Supported: 100rel``) and used when the peer supports it too."""
    REQUIRED = "required"
    """Insisted on: ``Require: 100rel`` in INVITEs, 421 to INVITEs without it."""


class Role(enum.Enum):
    """Which side of the call we are."""

    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class InviteSessionConfig:
    """What every invite session of a user agent shares.

    ``glare_retries``: 491 responses retried after the §14.1 wait before the re-INVITE or
    UPDATE is reported failed. ``random`` draws the glare waits.
    """

    timers: TimerConfig = field(default_factory=TimerConfig)
    reliable_provisional: ReliableProvisionalMode = ReliableProvisionalMode.SUPPORTED
    session_timer: SessionTimerPolicy | None = field(default_factory=SessionTimerPolicy)
    allow: tuple[str, ...] = DEFAULT_ALLOW
    extensions: tuple[str, ...] = ("replaces", "norefersub")
    user_agent: str | None = "sipperc"
    glare_retries: int = 3
    random: random.Random = field(default_factory=random.SystemRandom, compare=False)

    @property
    def supported(self) -> tuple[str, ...]:
        """The option tags we support (RFC 3261 §20.37), for Supported and Require checks."""
        tags = []
        if self.reliable_provisional is not ReliableProvisionalMode.DISABLED:
            tags.append("100rel")
        if self.session_timer is not None:
            tags.append("timer")
        return (*tags, *self.extensions)


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send ``request`` in a new client transaction; pass its responses to the session."""

    request: Request


@dataclass(frozen=True, slots=True)
class SendResponse:
    """Send ``response`` on the server transaction ``transaction``."""

    transaction: Hashable
    response: Response


@dataclass(frozen=True, slots=True)
class SendAck:
    """Send the ACK for a 2xx (no transaction, RFC 3261 §13.2.2.4)."""

    ack: Request


@dataclass(frozen=True, slots=True)
class SendCancel:
    """CANCEL the INVITE client transaction of ``invite`` (RFC 3261 §9.1)."""

    invite: Request


SessionAction = SendRequest | SendResponse | SendAck | SendCancel | UserAgentEvent
"""Anything an invite session asks for."""


# --- the state machine ---------------------------------------------------------------------


class InviteSessionState(enum.Enum):
    """Where a call stands (the INVITE dialog usage, RFC 3261 §13-15, RFC 5057)."""

    CALLING = "calling"
    """Caller: INVITE sent, no provisional response with a To tag yet."""
    INCOMING = "incoming"
    """Callee: INVITE received, nothing but 100 Trying sent."""
    EARLY = "early"
    """At least one early dialog: 1xx with a tag sent or received."""
    CANCELLING = "cancelling"
    """Caller: CANCEL asked for (sent, or held until a provisional response, §9.1)."""
    CONNECTING = "connecting"
    """Callee: 2xx sent, waiting for its ACK (§13.3.1.4)."""
    CONFIRMED = "confirmed"
    TERMINATING = "terminating"
    """BYE sent, waiting for its response (§15.1.1: the session is over for the user)."""
    TERMINATED = "terminated"


class InviteSessionInput(enum.Enum):
    """What can happen to a call."""

    TRYING_RECEIVED = "trying-received"
    """A 1xx without To tag (100 Trying) to our INVITE."""
    PROVISIONAL_RECEIVED = "provisional-received"
    """A 1xx with a To tag: an early dialog."""
    SUCCESS_RECEIVED = "success-received"
    """A 2xx to our INVITE (first, retransmitted or from another fork)."""
    FAILURE_RECEIVED = "failure-received"
    """A final 3xx-6xx to our INVITE, or its timeout (408) or transport failure (503)."""
    ACK_RECEIVED = "ack-received"
    CANCEL_RECEIVED = "cancel-received"
    BYE_RECEIVED = "bye-received"
    BYE_COMPLETED = "bye-completed"
    """Our BYE got its final response, or timed out."""
    CANCEL = "cancel"
    SEND_PROVISIONAL = "send-provisional"
    SEND_SUCCESS = "send-success"
    SEND_FAILURE = "send-failure"
    BYE = "bye"
    ACK_TIMEOUT = "ack-timeout"
    """No ACK for our 2xx within 64*T1 (§13.3.1.4: end the session with BYE), or no time left
    to wait for it: the user agent is stopping (:meth:`InviteSession.shutdown`)."""
    DIALOG_GONE = "dialog-gone"
    """481 to a request inside the dialog: the peer has no such dialog (§12.2.1.2)."""


_St = InviteSessionState
_In = InviteSessionInput

TRANSITIONS: dict[tuple[InviteSessionState, InviteSessionInput], InviteSessionState | None] = {
    # Caller, before any early dialog.
    (_St.CALLING, _In.TRYING_RECEIVED): _St.CALLING,
    (_St.CALLING, _In.PROVISIONAL_RECEIVED): _St.EARLY,
    (_St.CALLING, _In.SUCCESS_RECEIVED): _St.CONFIRMED,
    (_St.CALLING, _In.FAILURE_RECEIVED): _St.TERMINATED,
    (_St.CALLING, _In.ACK_RECEIVED): None,
    (_St.CALLING, _In.CANCEL_RECEIVED): None,
    (_St.CALLING, _In.BYE_RECEIVED): None,
    (_St.CALLING, _In.BYE_COMPLETED): None,
    # §9.1: the CANCEL itself waits for a provisional response.
    (_St.CALLING, _In.CANCEL): _St.CANCELLING,
    (_St.CALLING, _In.SEND_PROVISIONAL): None,
    (_St.CALLING, _In.SEND_SUCCESS): None,
    (_St.CALLING, _In.SEND_FAILURE): None,
    (_St.CALLING, _In.BYE): None,
    (_St.CALLING, _In.ACK_TIMEOUT): None,
    (_St.CALLING, _In.DIALOG_GONE): None,
    # Callee, INVITE not answered yet.
    (_St.INCOMING, _In.TRYING_RECEIVED): None,
    (_St.INCOMING, _In.PROVISIONAL_RECEIVED): None,
    (_St.INCOMING, _In.SUCCESS_RECEIVED): None,
    (_St.INCOMING, _In.FAILURE_RECEIVED): None,
    (_St.INCOMING, _In.ACK_RECEIVED): None,
    (_St.INCOMING, _In.CANCEL_RECEIVED): _St.TERMINATED,
    (_St.INCOMING, _In.BYE_RECEIVED): None,
    (_St.INCOMING, _In.BYE_COMPLETED): None,
    (_St.INCOMING, _In.CANCEL): None,
    (_St.INCOMING, _In.SEND_PROVISIONAL): _St.EARLY,
    (_St.INCOMING, _In.SEND_SUCCESS): _St.CONNECTING,
    (_St.INCOMING, _In.SEND_FAILURE): _St.TERMINATED,
    (_St.INCOMING, _In.BYE): None,
    (_St.INCOMING, _In.ACK_TIMEOUT): None,
    (_St.INCOMING, _In.DIALOG_GONE): None,
    # Early dialog(s), either side.
    (_St.EARLY, _In.TRYING_RECEIVED): _St.EARLY,
    (_St.EARLY, _In.PROVISIONAL_RECEIVED): _St.EARLY,
    (_St.EARLY, _In.SUCCESS_RECEIVED): _St.CONFIRMED,
    (_St.EARLY, _In.FAILURE_RECEIVED): _St.TERMINATED,
    (_St.EARLY, _In.ACK_RECEIVED): None,
    (_St.EARLY, _In.CANCEL_RECEIVED): _St.TERMINATED,
    # §15.1.2: a BYE from the caller ends an early dialog too (the INVITE gets 487).
    (_St.EARLY, _In.BYE_RECEIVED): _St.TERMINATED,
    (_St.EARLY, _In.BYE_COMPLETED): None,
    (_St.EARLY, _In.CANCEL): _St.CANCELLING,
    (_St.EARLY, _In.SEND_PROVISIONAL): _St.EARLY,
    (_St.EARLY, _In.SEND_SUCCESS): _St.CONNECTING,
    (_St.EARLY, _In.SEND_FAILURE): _St.TERMINATED,
    (_St.EARLY, _In.BYE): None,  # a caller cancels, a callee rejects (§15)
    (_St.EARLY, _In.ACK_TIMEOUT): None,
    (_St.EARLY, _In.DIALOG_GONE): _St.TERMINATED,
    # Caller, CANCEL asked for.
    (_St.CANCELLING, _In.TRYING_RECEIVED): _St.CANCELLING,
    (_St.CANCELLING, _In.PROVISIONAL_RECEIVED): _St.CANCELLING,
    # The CANCEL/2xx race: the 2xx won, so ACK it and BYE at once (§9.1, §15).
    (_St.CANCELLING, _In.SUCCESS_RECEIVED): _St.TERMINATING,
    (_St.CANCELLING, _In.FAILURE_RECEIVED): _St.TERMINATED,
    (_St.CANCELLING, _In.ACK_RECEIVED): None,
    (_St.CANCELLING, _In.CANCEL_RECEIVED): None,
    (_St.CANCELLING, _In.BYE_RECEIVED): _St.TERMINATED,
    (_St.CANCELLING, _In.BYE_COMPLETED): None,
    (_St.CANCELLING, _In.CANCEL): _St.CANCELLING,
    (_St.CANCELLING, _In.SEND_PROVISIONAL): None,
    (_St.CANCELLING, _In.SEND_SUCCESS): None,
    (_St.CANCELLING, _In.SEND_FAILURE): None,
    (_St.CANCELLING, _In.BYE): None,
    (_St.CANCELLING, _In.ACK_TIMEOUT): None,
    (_St.CANCELLING, _In.DIALOG_GONE): _St.CANCELLING,
    # Callee, 2xx sent.
    (_St.CONNECTING, _In.TRYING_RECEIVED): None,
    (_St.CONNECTING, _In.PROVISIONAL_RECEIVED): None,
    (_St.CONNECTING, _In.SUCCESS_RECEIVED): None,
    (_St.CONNECTING, _In.FAILURE_RECEIVED): None,
    (_St.CONNECTING, _In.ACK_RECEIVED): _St.CONFIRMED,
    (_St.CONNECTING, _In.CANCEL_RECEIVED): _St.CONNECTING,  # too late: the 2xx went first
    (_St.CONNECTING, _In.BYE_RECEIVED): _St.TERMINATED,  # the ACK may still be on its way
    (_St.CONNECTING, _In.BYE_COMPLETED): None,
    (_St.CONNECTING, _In.CANCEL): None,
    (_St.CONNECTING, _In.SEND_PROVISIONAL): None,
    (_St.CONNECTING, _In.SEND_SUCCESS): None,
    (_St.CONNECTING, _In.SEND_FAILURE): None,
    # §15: the callee's BYE waits for the ACK (or the ACK timeout).
    (_St.CONNECTING, _In.BYE): _St.CONNECTING,
    (_St.CONNECTING, _In.ACK_TIMEOUT): _St.TERMINATING,
    (_St.CONNECTING, _In.DIALOG_GONE): _St.TERMINATED,
    # The call is up.
    (_St.CONFIRMED, _In.TRYING_RECEIVED): _St.CONFIRMED,
    (_St.CONFIRMED, _In.PROVISIONAL_RECEIVED): _St.CONFIRMED,
    # A retransmission (ACK again) or another fork's 2xx (ACK and BYE it).
    (_St.CONFIRMED, _In.SUCCESS_RECEIVED): _St.CONFIRMED,
    (_St.CONFIRMED, _In.FAILURE_RECEIVED): None,
    (_St.CONFIRMED, _In.ACK_RECEIVED): _St.CONFIRMED,
    (_St.CONFIRMED, _In.CANCEL_RECEIVED): _St.CONFIRMED,
    (_St.CONFIRMED, _In.BYE_RECEIVED): _St.TERMINATED,
    (_St.CONFIRMED, _In.BYE_COMPLETED): None,
    (_St.CONFIRMED, _In.CANCEL): None,
    (_St.CONFIRMED, _In.SEND_PROVISIONAL): None,
    (_St.CONFIRMED, _In.SEND_SUCCESS): None,
    (_St.CONFIRMED, _In.SEND_FAILURE): None,
    (_St.CONFIRMED, _In.BYE): _St.TERMINATING,
    (_St.CONFIRMED, _In.ACK_TIMEOUT): _St.TERMINATING,  # a re-INVITE's 2xx went unACKed
    (_St.CONFIRMED, _In.DIALOG_GONE): _St.TERMINATED,
    # BYE sent.
    (_St.TERMINATING, _In.TRYING_RECEIVED): _St.TERMINATING,
    (_St.TERMINATING, _In.PROVISIONAL_RECEIVED): _St.TERMINATING,
    (_St.TERMINATING, _In.SUCCESS_RECEIVED): _St.TERMINATING,  # ACK the retransmission
    (_St.TERMINATING, _In.FAILURE_RECEIVED): _St.TERMINATING,
    (_St.TERMINATING, _In.ACK_RECEIVED): _St.TERMINATING,
    (_St.TERMINATING, _In.CANCEL_RECEIVED): _St.TERMINATING,
    (_St.TERMINATING, _In.BYE_RECEIVED): _St.TERMINATING,  # crossing BYEs: answer 200
    (_St.TERMINATING, _In.BYE_COMPLETED): _St.TERMINATED,
    (_St.TERMINATING, _In.CANCEL): None,
    (_St.TERMINATING, _In.SEND_PROVISIONAL): None,
    (_St.TERMINATING, _In.SEND_SUCCESS): None,
    (_St.TERMINATING, _In.SEND_FAILURE): None,
    (_St.TERMINATING, _In.BYE): _St.TERMINATING,
    (_St.TERMINATING, _In.ACK_TIMEOUT): _St.TERMINATING,
    (_St.TERMINATING, _In.DIALOG_GONE): _St.TERMINATED,
    # Over; late messages are still answered (an unwanted 2xx gets ACK and BYE).
    (_St.TERMINATED, _In.TRYING_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.PROVISIONAL_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.SUCCESS_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.FAILURE_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.ACK_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.CANCEL_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.BYE_RECEIVED): _St.TERMINATED,
    (_St.TERMINATED, _In.BYE_COMPLETED): _St.TERMINATED,
    (_St.TERMINATED, _In.CANCEL): None,
    (_St.TERMINATED, _In.SEND_PROVISIONAL): None,
    (_St.TERMINATED, _In.SEND_SUCCESS): None,
    (_St.TERMINATED, _In.SEND_FAILURE): None,
    (_St.TERMINATED, _In.BYE): _St.TERMINATED,
    (_St.TERMINATED, _In.ACK_TIMEOUT): _St.TERMINATED,
    (_St.TERMINATED, _In.DIALOG_GONE): _St.TERMINATED,
}
"""Every (state, input) pair and the state it leads to.

None: the input cannot happen in that state (a message of that kind is ignored), or, for the
application's commands (CANCEL, SEND_*, BYE), is a misuse that raises
:class:`InviteSessionStateError`.
"""

_COMMANDS = frozenset({_In.CANCEL, _In.SEND_PROVISIONAL, _In.SEND_SUCCESS, _In.SEND_FAILURE,
                       _In.BYE})


class InviteSessionStateError(RuntimeError):
    """The application asked for something the call's state does not allow."""


# --- helpers --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Leg:
    """One dialog of our INVITE (several early ones when a proxy forks, §13.2.2.4)."""

    dialog: Dialog
    offer_answer: OfferAnswer
    receiver: ReliableProvisionalReceiver = field(default_factory=ReliableProvisionalReceiver)
    early_media: NegotiatedSession | None = None
    ack: Request | None = None


@dataclass(slots=True)
class _Retransmission:
    """A 2xx to an INVITE retransmitted until its ACK (§13.3.1.4)."""

    transaction: Hashable
    response: Response
    cseq: int
    next_at: float
    interval: float
    give_up_at: float
    initial: bool
    awaiting_answer: bool


class _Offer(enum.Enum):
    """A local offer exchange the application (or a session refresh) asked for."""

    REINVITE = "re-INVITE"
    REINVITE_WITHOUT_OFFER = "re-INVITE without offer"
    UPDATE = "UPDATE"
    REFRESH = "session refresh"


def _sdp_body(message: Request | Response) -> SessionDescription | None:
    """The SDP in a message (also inside multipart, RFC 5621), None without one.

    Raises :class:`SdpParseError` for a malformed one.
    """
    body = message.find_body(SDP)
    if not body:
        return None
    return parse_sdp(body.decode("utf-8", "surrogateescape"))


def _warning(code: int, text: str) -> tuple[str, object]:
    """A Warning header (RFC 3261 §20.43) naming us as the warn-agent."""
    return ("Warning", f"{code} sipperc {quote_string(text[:200])}")


def _refusal_headers(refused: OfferRefused) -> list[tuple[str, object]]:
    if refused.warning_code is None:
        return []
    return [_warning(refused.warning_code, refused.reason)]


def _glare_wait(rng: random.Random, owner: bool) -> float:
    """§14.1: 2.1-4 s for the owner of the Call-ID, 0-2 s otherwise, in 10 ms steps."""
    if owner:
        return rng.randint(210, 400) / 100
    return rng.randint(0, 200) / 100


def _allow_of(message: Request | Response) -> frozenset[str] | None:
    methods = frozenset(m.upper() for m in message.typed(h.ALLOW))
    return methods or None


# --- the session ---------------------------------------------------------------------------


class InviteSession:
    """One call at one user agent (see the module documentation)."""

    def __init__(  # noqa: PLR0917 - built through outgoing()/incoming()
        self,
        call: CallRef,
        role: Role,
        invite: Request,
        offer_answer: OfferAnswer,
        config: InviteSessionConfig,
        local_contact: Address,
        now: float,
    ) -> None:
        self.call = call
        self.role = role
        self.invite = invite
        """Our INVITE as we sent it (caller; without the Via the transaction adds), or theirs."""
        self.config = config
        self.local_contact = local_contact
        self.state = _St.CALLING if role is Role.UAC else _St.INCOMING
        self.started = now
        self.answered: float | None = None
        self.ended: CallEnded | None = None
        self.caller = invite.from_
        self.callee = invite.to
        self.timer = None if config.session_timer is None else SessionTimer(config.session_timer)
        self._engine = offer_answer
        self._peer_allow: frozenset[str] | None = None
        # Caller: one leg per dialog; the engine forked from a copy taken with the offer
        # outstanding, so that each fork applies its own answer (RFC 3264 §4).
        self._legs: dict[str, _Leg] = {}
        self._pristine = offer_answer.fork() if role is Role.UAC else offer_answer
        self._winner: _Leg | None = None
        self._unwanted_acks: dict[str, Request] = {}
        self._provisional_seen = False
        self._cancel_sent = False
        self._cancel_deadline: float | None = None
        self._media_failed = False
        # Callee.
        self._dialog: Dialog | None = None
        self._transaction: Hashable | None = None
        self._over_tls = False
        self._sender: ReliableProvisionalSender | None = None
        self._reliable = False
        self._offer_in_invite = False
        self._initial_answer: Answer | None = None
        self._answer_sent_reliably = False
        self._offer_sent_reliably = False
        self._accept_pending = False
        self._invite_expires_at: float | None = None
        self._bye_wanted: EndReason | None = None
        # Both: exchanges inside the dialog.
        self._retransmission: _Retransmission | None = None
        self._reinvite_out: Request | None = None
        self._update_out: Request | None = None
        self._offer_wanted: _Offer | None = None
        self._offer_retry_at: float | None = None
        self._glare_count = 0

    def __repr__(self) -> str:
        return f"<InviteSession {self.call} {self.role.value} {self.state.value}>"

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def outgoing(
        cls,
        call: CallRef,
        invite: Request,
        offer_answer: OfferAnswer,
        config: InviteSessionConfig,
        now: float,
        *,
        offer: bool = True,
    ) -> tuple[InviteSession, list[SessionAction]]:
        """Start a call.

        ``invite`` (built by the user agent, with a Contact) gets our offer — unless ``offer``
        is False: a late offer, the callee offers in its 2xx (§13.2.1) — and Allow,
        Supported/Require and the session timer's headers. Returns the session and the INVITE.
        """
        contacts = invite.contacts
        if not contacts:
            raise ValueError("an INVITE needs a Contact (RFC 3261 §8.1.1.8)")
        headers = _capability_headers(config, Role.UAC, response=False)
        if config.reliable_provisional is ReliableProvisionalMode.REQUIRED:
            headers.append(("Require", "100rel"))
        timer = None if config.session_timer is None else SessionTimer(config.session_timer)
        if timer is not None:
            headers.extend(timer.request_headers())
        request = invite
        for name, value in headers:
            request = request.append(name, value)
        if offer:
            request = request.with_body(str(offer_answer.create_offer()).encode(), SDP)
        session = cls(call, Role.UAC, request, offer_answer, config, contacts[0], now)
        session.timer = timer
        return session, [SendRequest(request)]

    @classmethod
    def incoming(  # noqa: PLR0917 - the user agent's one call site
        cls,
        call: CallRef,
        invite: Request,
        transaction: Hashable,
        offer_answer: OfferAnswer,
        config: InviteSessionConfig,
        local_contact: Address,
        now: float,
        *,
        over_tls: bool = False,
    ) -> tuple[InviteSession, list[SessionAction]]:
        """Take a new INVITE: check its extensions, session interval and offer.

        Returns the session and either nothing (INCOMING: the user agent reports the call)
        or the refusal already made (TERMINATED: 421, 422, 415, 400, 488) and its
        :class:`CallEnded` (DECLINED), so that every call attempt is reported once.
        """
        session = cls(call, Role.UAS, invite, offer_answer, config, local_contact, now)
        session._transaction = transaction
        session._over_tls = over_tls
        session._peer_allow = _allow_of(invite)
        refusal = session._check_invite(invite)
        if refusal is not None:
            session.state = _St.TERMINATED  # never an INCOMING call: nothing to advance from
            return session, [SendResponse(transaction, refusal),
                             *session._end(EndReason.DECLINED, refusal.status_code, now)]
        expires = invite.first(h.EXPIRES)
        if expires is not None:
            session._invite_expires_at = now + expires
        return session, []

    def _check_invite(self, invite: Request) -> Response | None:
        peer = set(invite.typed(h.SUPPORTED)) | set(invite.typed(h.REQUIRE))
        mode = self.config.reliable_provisional
        if mode is ReliableProvisionalMode.REQUIRED and "100rel" not in peer:
            return self._invite_response(421, headers=[("Require", "100rel")])
        self._reliable = mode is not ReliableProvisionalMode.DISABLED and "100rel" in peer
        if self._reliable:
            self._sender = ReliableProvisionalSender(self.config.timers.t1)
        if self.timer is not None:
            min_se = self.timer.required_min_se(invite)
            if min_se is not None:
                return self._invite_response(422, headers=[("Min-SE", min_se)])
        content_type = invite.content_type
        if invite.body and content_type is not None and content_type.mime != SDP and \
                not content_type.mime.startswith("multipart/"):
            return self._invite_response(415, headers=[("Accept", SDP)])
        try:
            offer = _sdp_body(invite)
        except SdpParseError as exc:
            return self._invite_response(400, "Malformed SDP", headers=[_warning(399, str(exc))])
        if offer is not None:
            self._offer_in_invite = True
            outcome = self._engine.receive_offer(offer)
            if isinstance(outcome, OfferRefused):
                return self._invite_response(outcome.status_code,
                                             headers=_refusal_headers(outcome))
            self._initial_answer = outcome
        return None

    # --- inspection ------------------------------------------------------------------------

    @property
    def dialog(self) -> Dialog | None:
        """The call's dialog: the confirmed one, else the latest early one (None before)."""
        if self.role is Role.UAS:
            return self._dialog
        leg = self._current_leg()
        return None if leg is None else leg.dialog

    def _current_leg(self) -> _Leg | None:
        if self._winner is not None:
            return self._winner
        return next(reversed(self._legs.values())) if self._legs else None

    @property
    def offer_answer(self) -> OfferAnswer:
        """The SDP engine of the call's dialog."""
        if self.role is Role.UAS:
            return self._engine
        leg = self._current_leg()
        return self._engine if leg is None else leg.offer_answer

    @property
    def negotiated(self) -> NegotiatedSession | None:
        """The session agreed so far (early media included)."""
        leg = self._current_leg() if self.role is Role.UAC else None
        if leg is not None and leg.offer_answer.negotiated is None:
            return leg.early_media
        return self.offer_answer.negotiated

    @property
    def terminated(self) -> bool:
        """True once the call is over (BYE sent or received, final error, CANCEL...)."""
        return self.state in (_St.TERMINATING, _St.TERMINATED)

    @property
    def remote_offer(self) -> SessionDescription | None:
        """Callee: the offer the INVITE carried (None for a late offer)."""
        if self.role is Role.UAS and self._offer_in_invite:
            return self._engine.remote_description
        return None

    def dialog_for(self, message: Request) -> Dialog | None:
        """The dialog of ours a request received inside the call belongs to."""
        if self.role is Role.UAS:
            return self._dialog
        leg = self._legs.get(message.from_.tag or "")
        return None if leg is None else leg.dialog

    def _engine_for(self, message: Request) -> OfferAnswer:
        if self.role is Role.UAS:
            return self._engine
        leg = self._legs.get(message.from_.tag or "")
        return self.offer_answer if leg is None else leg.offer_answer

    def _advance(self, event: InviteSessionInput) -> InviteSessionState | None:
        following = TRANSITIONS[(self.state, event)]
        if following is None:
            if event in _COMMANDS:
                raise InviteSessionStateError(
                    f"{event.value} is not possible in a {self.state.value} call")
            return None
        self.state = following
        return following

    def _ended_event(self, reason: EndReason, status: int | None, now: float) -> CallEnded:
        return CallEnded(self.call, reason, status, self.caller, self.callee, self.started,
                         self.answered, now, self.role is Role.UAC)

    def _end(self, reason: EndReason, status: int | None, now: float) -> list[SessionAction]:
        """The CallEnded event, once; no more deadlines except those that finish a message."""
        if self.ended is not None:
            return []
        self.ended = self._ended_event(reason, status, now)
        if self.timer is not None:
            self.timer.stop()
        self._offer_wanted = None
        self._offer_retry_at = None
        self._invite_expires_at = None
        return [self.ended]

    # --- messages we build --------------------------------------------------------------------

    def _invite_response(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Sequence[tuple[str, object]] = (),
        body: bytes = b"",
        dialog_forming: bool = False,
    ) -> Response:
        fields = list(headers)
        if dialog_forming:
            fields[:0] = _capability_headers(self.config, self.role, response=True)
        return self.invite.response(
            status, reason, to_tag=self.call.local_tag,
            contact=self.local_contact if dialog_forming else (),
            headers=fields, body=body, content_type=SDP if body else None)

    def _send(self, response: Response) -> SendResponse:
        return SendResponse(self._transaction, response)

    # === caller: responses to what we sent ====================================================

    def receive_response(self, request: Request, response: Response,
                         now: float) -> list[SessionAction]:
        """A response to a request this session sent (INVITE, re-INVITE, UPDATE, PRACK, BYE).

        Responses to the other requests inside the call (INFO, MESSAGE...) come through
        :meth:`request_failed` when they say the dialog is gone.
        """
        method = request.method
        if method == "INVITE" and request is self.invite:
            status = response.status_code
            if status < 200:
                return self._initial_provisional(response, now)
            if status < 300:
                return self._initial_success(response, now)
            return self._initial_failure(response, now)
        if method == "INVITE" and request is self._reinvite_out:
            return self._reinvite_response(request, response, now)
        if method == "UPDATE" and request is self._update_out:
            return self._update_response(request, response, now)
        if method == "BYE" and response.status_code >= 200:
            self._advance(_In.BYE_COMPLETED)
        return []  # PRACK responses need nothing (RFC 3262 §4), nor other forks' BYEs

    def _leg_for(self, response: Response) -> _Leg:
        """The leg a tagged response belongs to; a new tag forks a new one (§13.2.2.4)."""
        tag = response.to.tag or ""
        leg = self._legs.get(tag)
        if leg is None:
            engine = self._engine if not self._legs else self._pristine.fork()
            dialog = Dialog.for_uac(self.invite, response, local_contact=self.local_contact)
            leg = self._legs[tag] = _Leg(dialog, engine)
        return leg

    def _maybe_cancel(self) -> list[SessionAction]:
        # §9.1: the CANCEL goes out once some provisional response has come.
        if self.state is _St.CANCELLING and self._provisional_seen and not self._cancel_sent:
            self._cancel_sent = True
            return [SendCancel(self.invite)]
        return []

    def _initial_provisional(self, response: Response, now: float) -> list[SessionAction]:
        self._provisional_seen = True
        if response.to.tag is None:
            self._advance(_In.TRYING_RECEIVED)
            progress = CallProgress(self.call, response.status_code, response.reason)
            return [progress, *self._maybe_cancel()]
        if self.state in (_St.TERMINATING, _St.TERMINATED):
            self._advance(_In.PROVISIONAL_RECEIVED)
            return []
        leg = self._leg_for(response)
        reliable = is_reliable(response)
        if reliable and not leg.receiver.accept(response):
            return []  # a retransmission, or out of order: neither PRACKed nor used (§4)
        if leg.dialog.early:
            leg.dialog.advance(DialogInput.PROVISIONAL)
            leg.dialog.refresh_target(response)
        prack_body, media_failed = self._provisional_description(leg, response, reliable)
        actions: list[SessionAction] = []
        if reliable:
            prack = leg.dialog.create_request(
                "PRACK", headers=[("RAck", leg.receiver.rack(response))], body=prack_body,
                content_type=SDP if prack_body else None)
            actions.append(SendRequest(prack))
        self._advance(_In.PROVISIONAL_RECEIVED)
        actions.append(CallProgress(self.call, response.status_code, response.reason,
                                    leg.dialog.id, leg.early_media))
        actions.extend(self._maybe_cancel())
        if media_failed and self.state is not _St.CANCELLING:
            self._media_failed = True
            actions.extend(self.cancel(now))
        return actions

    def _provisional_description(self, leg: _Leg, response: Response,
                                 reliable: bool) -> tuple[bytes, bool]:
        """Apply the SDP of a 1xx to its leg: (the answer for the PRACK, media failed)."""
        try:
            description = _sdp_body(response)
        except SdpParseError:
            return b"", reliable
        if description is None:
            return b"", False
        engine = leg.offer_answer
        if engine.state is OfferAnswerState.LOCAL_OFFER:
            if not reliable:
                # An unreliable 1xx answer previews early media; the answer that counts is the
                # first one in a reliable response (RFC 3262 §5) or the 2xx.
                preview = engine.fork().receive_answer(description)
                if isinstance(preview, NegotiatedSession):
                    leg.early_media = preview
                return b"", False
            outcome = engine.receive_answer(description)
            if isinstance(outcome, AnswerRefused):
                return b"", True
            leg.early_media = outcome
            return b"", False
        if reliable and engine.negotiated is None:
            # A late offer in a reliable 1xx: our answer goes in the PRACK (RFC 3262 §5).
            offered = engine.receive_offer(description)
            if isinstance(offered, OfferRefused):
                return b"", True
            leg.early_media = offered.negotiated
            return str(offered.description).encode(), False
        return b"", False  # later descriptions in responses to the INVITE are ignored (§13.2.1)

    def _initial_success(self, response: Response, now: float) -> list[SessionAction]:
        tag = response.to.tag
        if tag is None:
            return []  # a 2xx without To tag has no dialog to ACK in
        leg = self._legs.get(tag)
        if leg is not None and leg.ack is not None:
            self._advance(_In.SUCCESS_RECEIVED)
            return [SendAck(leg.ack)]  # a retransmission: the same ACK (RFC 6026 §8.4)
        if tag in self._unwanted_acks:
            self._advance(_In.SUCCESS_RECEIVED)
            return [SendAck(self._unwanted_acks[tag])]
        if self._winner is not None or self.terminated:
            # Another fork answered too (§13.2.2.4), or we are done: ACK it, then BYE it.
            dialog = Dialog.for_uac(self.invite, response, local_contact=self.local_contact)
            ack = self._unwanted_acks[tag] = dialog.create_ack(self.invite)
            bye = dialog.create_request("BYE")
            dialog.advance(DialogInput.TERMINATE)
            self._advance(_In.SUCCESS_RECEIVED)
            return [SendAck(ack), SendRequest(bye)]
        leg = self._leg_for(response)
        leg.dialog.confirm(response)
        self._winner = leg
        self._peer_allow = _allow_of(response)
        ack_body, failed = self._success_description(leg, response)
        leg.ack = leg.dialog.create_ack(self.invite, body=ack_body,
                                        content_type=SDP if ack_body else None)
        actions: list[SessionAction] = [SendAck(leg.ack)]
        was_cancelling = self.state is _St.CANCELLING
        self._advance(_In.SUCCESS_RECEIVED)
        self._cancel_deadline = None
        for other_tag, other in list(self._legs.items()):
            if other is not leg:
                if other.dialog.early:
                    other.dialog.advance(DialogInput.FAILURE)
                del self._legs[other_tag]
        if was_cancelling:
            # The CANCEL/2xx race went to the 2xx: ACK it and end the call with BYE (§15).
            actions.append(SendRequest(leg.dialog.create_request("BYE")))
            leg.dialog.advance(DialogInput.TERMINATE)
            reason = EndReason.MEDIA_FAILED if self._media_failed else EndReason.CANCELLED
            return actions + self._end(reason, None, now)
        self.answered = now
        if self.timer is not None:
            self.timer.response_received(self.invite, response, now)
        if failed:
            return actions + self._send_bye(now, EndReason.MEDIA_FAILED, None)
        actions.append(CallAnswered(self.call, leg.dialog.id, self.negotiated))
        return actions

    def _success_description(self, leg: _Leg, response: Response) -> tuple[bytes, bool]:
        """Apply the SDP of the 2xx: (the answer for the ACK, media failed)."""
        engine = leg.offer_answer
        try:
            description = _sdp_body(response)
        except SdpParseError:
            return b"", True
        if engine.state is OfferAnswerState.LOCAL_OFFER:
            # The answer was due here at the latest (§13.2.1).
            return b"", description is None or isinstance(
                engine.receive_answer(description), AnswerRefused)
        if engine.negotiated is None:
            if description is None:
                return b"", True  # a late offer's 2xx must carry the offer (§13.2.1)
            offered = engine.receive_offer(description)
            if isinstance(offered, OfferRefused):
                return b"", True
            return str(offered.description).encode(), False
        return b"", False

    def _initial_failure(self, response: Response, now: float) -> list[SessionAction]:
        status = response.status_code
        if status == 422 and self.timer is not None and self.state is not _St.CANCELLING \
                and self.timer.interval_too_small(response):
            return self._retry_invite()
        was = self.state
        if self._advance(_In.FAILURE_RECEIVED) is None:
            return []
        self._cancel_deadline = None
        for leg in self._legs.values():
            if leg.dialog.early:
                leg.dialog.advance(DialogInput.FAILURE)
        if was is _St.CANCELLING:
            reason = EndReason.MEDIA_FAILED if self._media_failed else EndReason.CANCELLED
        elif status == 408:
            reason = EndReason.TIMEOUT
        elif status == 503 and "Via" not in response:
            reason = EndReason.UNREACHABLE  # made up by the user agent (§8.1.3.1)
        else:
            reason = EndReason.REJECTED
        return self._end(reason, status, now)

    def _retry_invite(self) -> list[SessionAction]:
        """Send the INVITE again after 422, with the raised Min-SE (RFC 4028 §7.3)."""
        assert self.timer is not None
        request = self.invite.remove("Session-Expires").remove("Min-SE")
        request = request.replace("CSeq", h.CSeq(self.invite.cseq.seq + 1, "INVITE"))
        for name, value in self.timer.request_headers():
            request = request.append(name, value)
        self.resend_invite(request)
        return [SendRequest(request)]

    def resend_invite(self, invite: Request) -> None:
        """Our INVITE went out again (with credentials, RFC 3261 §22.2, or after 422)."""
        self.invite = invite
        self._provisional_seen = False

    def resend_request(self, old: Request, new: Request) -> None:
        """The user agent re-sent a request of ours with credentials: keep tracking it."""
        if old is self.invite:
            self.resend_invite(new)
        elif old is self._reinvite_out:
            self._reinvite_out = new
        elif old is self._update_out:
            self._update_out = new

    # === callee: answering the INVITE =======================================================

    def _ensure_dialog(self) -> Dialog:
        if self._dialog is None:
            self._dialog = Dialog.for_uas(
                self.invite, local_tag=self.call.local_tag, local_contact=self.local_contact,
                early=True, over_tls=self._over_tls)
        return self._dialog

    def provisional(
        self,
        now: float,
        status: int = 180,
        *,
        early_media: bool = False,
        reliable: bool | None = None,
    ) -> list[SessionAction]:
        """Send a 1xx: 180 Ringing, or 183 Session Progress with ``early_media``.

        ``reliable`` (default: whenever both sides support 100rel) sends it with RSeq and
        retransmits it until PRACKed (RFC 3262). Early media puts our answer in it (or, for a
        late offer, our offer, which needs a reliable 1xx, RFC 3262 §5).
        """
        if not 100 < status < 200:
            raise ValueError("a provisional response is 101-199")
        self._require_role(Role.UAS)
        use_reliable = self._reliable if reliable is None else reliable
        if use_reliable and not self._reliable:
            raise InviteSessionStateError("the caller does not support 100rel")
        self._advance(_In.SEND_PROVISIONAL)
        self._ensure_dialog()
        body = b""
        if early_media and not self._answer_sent_reliably and not self._offer_sent_reliably:
            if self._offer_in_invite:
                assert self._initial_answer is not None
                body = str(self._engine.local_description
                           or self._initial_answer.description).encode()
                self._answer_sent_reliably = use_reliable
            elif use_reliable:
                body = str(self._engine.create_offer()).encode()
                self._offer_sent_reliably = True
        response = self._invite_response(status, body=body, dialog_forming=True)
        if use_reliable:
            assert self._sender is not None
            sent = self._sender.send(response, now)
            return [] if sent is None else [self._send(sent)]
        return [self._send(response)]

    def accept(self, now: float) -> list[SessionAction]:
        """Answer the call with 200 OK: our answer, or our offer for a late offer.

        Held back while a reliable 1xx with SDP waits for its PRACK (RFC 3262 §3), and sent
        as soon as the PRACK arrives.
        """
        self._require_role(Role.UAS)
        if self.state in (_St.INCOMING, _St.EARLY) and self._sender is not None and \
                self._sender.pending_description:
            self._accept_pending = True
            return []
        self._advance(_In.SEND_SUCCESS)
        self._ensure_dialog().advance(DialogInput.SUCCESS)
        body = b""
        awaiting_answer = False
        engine = self._engine
        if self._offer_in_invite:
            if not self._answer_sent_reliably:
                # The engine's answer as it is now: a PERC focus completes it with the Key
                # Distributor's tls-id after the offer arrived (OfferAnswer.delegate_dtls).
                assert self._initial_answer is not None
                body = str(engine.local_description or self._initial_answer.description).encode()
        elif not self._offer_sent_reliably:
            body = str(engine.create_offer()).encode()
            awaiting_answer = True
        else:
            # Offered in a reliable 1xx: the answer came in the PRACK, or is still due.
            awaiting_answer = engine.state is OfferAnswerState.LOCAL_OFFER
        headers: list[tuple[str, object]] = []
        if self.timer is not None:
            headers.extend(self.timer.response_headers(self.invite, now))
        response = self._invite_response(200, headers=headers, body=body, dialog_forming=True)
        if self._sender is not None:
            self._sender.final_sent()
        self._invite_expires_at = None
        self._start_retransmission(self._transaction, response, self.invite.cseq.seq, now,
                                   initial=True, awaiting_answer=awaiting_answer)
        return [self._send(response)]

    def reject(self, now: float, status: int = 486, reason: str | None = None,
               headers: Sequence[tuple[str, object]] = ()) -> list[SessionAction]:
        """Refuse the call with a final 3xx-6xx (486 Busy Here by default)."""
        if not 300 <= status <= 699:
            raise ValueError("a rejection is a 3xx-6xx response")
        self._require_role(Role.UAS)
        self._advance(_In.SEND_FAILURE)
        return self._finish_refused(status, reason, headers, EndReason.DECLINED, now)

    def _finish_refused(self, status: int, reason: str | None,
                        headers: Sequence[tuple[str, object]], why: EndReason,
                        now: float) -> list[SessionAction]:
        if self._dialog is not None and self._dialog.early:
            self._dialog.advance(DialogInput.FAILURE)
        if self._sender is not None:
            self._sender.final_sent()
        response = self._invite_response(status, reason, headers=headers)
        return [self._send(response), *self._end(why, status, now)]

    def receive_cancel(self, now: float) -> list[SessionAction]:
        """The caller CANCELled (the transaction layer answered the CANCEL, §9.2): 487."""
        was = self.state
        if self._advance(_In.CANCEL_RECEIVED) is None or was not in (_St.INCOMING, _St.EARLY):
            return []
        return self._finish_refused(487, None, (), EndReason.CANCELLED, now)

    def receive_ack(self, ack: Request, now: float) -> list[SessionAction]:
        """The ACK for our 2xx (to the INVITE or a re-INVITE), with the answer if one is due."""
        pending = self._retransmission
        if pending is None or ack.cseq.seq != pending.cseq:
            self._advance(_In.ACK_RECEIVED)
            return []
        self._retransmission = None
        actions: list[SessionAction] = []
        failed = False
        if pending.awaiting_answer:
            try:
                description = _sdp_body(ack)
            except SdpParseError:
                description = None
            outcome = None if description is None else self._engine.receive_answer(description)
            failed = not isinstance(outcome, NegotiatedSession)
            if failed:
                self._engine.offer_failed()
            elif not pending.initial:
                assert isinstance(outcome, NegotiatedSession)
                actions.append(CallUpdated(self.call, outcome, True))
        if not pending.initial:
            if failed:
                return actions + self._send_bye(now, EndReason.MEDIA_FAILED, None)
            return actions + self._run_wanted_offer(now)
        if self._advance(_In.ACK_RECEIVED) is None or self.terminated:
            return actions
        self.answered = now
        if failed:
            return actions + self._send_bye(now, EndReason.MEDIA_FAILED, None)
        assert self._dialog is not None
        actions.append(CallAnswered(self.call, self._dialog.id, self._engine.negotiated))
        if self._bye_wanted is not None:
            return actions + self._send_bye(now, self._bye_wanted, None)
        return actions + self._run_wanted_offer(now)

    def _start_retransmission(self, transaction: Hashable, response: Response, cseq: int,
                              now: float, *, initial: bool, awaiting_answer: bool) -> None:
        t1 = self.config.timers.t1
        self._retransmission = _Retransmission(transaction, response, cseq, now + t1, t1,
                                               now + 64 * t1, initial, awaiting_answer)

    # === requests inside the dialog ==========================================================

    def receive_request(self, request: Request, transaction: Hashable,
                        now: float) -> list[SessionAction]:
        """An INVITE (re-INVITE), UPDATE, PRACK or BYE inside this call's dialog.

        The user agent has already checked its CSeq (:meth:`Dialog.check_request`) and
        handles the other methods itself.
        """
        method = request.method
        if method == "BYE":
            return self._receive_bye(request, transaction, now)
        if self.terminated:
            return [SendResponse(transaction, request.response(481))]
        if method == "PRACK":
            return self._receive_prack(request, transaction, now)
        if method == "UPDATE":
            return self._receive_update(request, transaction, now)
        if method == "INVITE":
            return self._receive_reinvite(request, transaction, now)
        raise ValueError(f"{method} is not an invite-session request")

    def _receive_bye(self, request: Request, transaction: Hashable,
                     now: float) -> list[SessionAction]:
        was = self.state
        if self._advance(_In.BYE_RECEIVED) is None:
            return [SendResponse(transaction, request.response(481))]
        actions: list[SessionAction] = [SendResponse(transaction, request.response(200))]
        dialog = self.dialog_for(request)
        if dialog is not None and not dialog.terminated:
            dialog.advance(DialogInput.TERMINATE)
        self._retransmission = None
        if was is _St.TERMINATING:
            return actions  # crossing BYEs: ours already ended the call
        if self.role is Role.UAS and was in (_St.INCOMING, _St.EARLY):
            # §15.1.2: the caller's BYE ends the early dialog; the INVITE gets 487.
            if self._sender is not None:
                self._sender.final_sent()
            actions.append(self._send(self._invite_response(487)))
            return actions + self._end(EndReason.CANCELLED, None, now)
        if self.role is Role.UAC and was is _St.EARLY and not self._cancel_sent:
            # A callee must not BYE an early dialog (§15); clean up the INVITE with CANCEL.
            self._cancel_sent = True
            actions.append(SendCancel(self.invite))
        return actions + self._end(EndReason.REMOTE_BYE, None, now)

    def _receive_prack(self, request: Request, transaction: Hashable,
                       now: float) -> list[SessionAction]:
        if self._sender is None:
            return [SendResponse(transaction, request.response(481))]
        acknowledged, following = self._sender.receive_prack(request, now)
        if acknowledged is None:
            return [SendResponse(transaction, request.response(481))]  # RFC 3262 §3
        try:
            description = _sdp_body(request)
        except SdpParseError as exc:
            return [SendResponse(transaction, request.response(
                400, "Malformed SDP", headers=[_warning(399, str(exc))]))]
        engine = self._engine
        body = b""
        if description is not None:
            if engine.state is OfferAnswerState.LOCAL_OFFER:
                # The answer to the offer in our reliable 1xx (RFC 3262 §5).
                if isinstance(engine.receive_answer(description), AnswerRefused):
                    engine.offer_failed()
            else:
                offered = engine.receive_offer(description)
                if isinstance(offered, OfferRefused):
                    return [SendResponse(transaction, request.response(
                        offered.status_code, headers=_refusal_headers(offered)))]
                body = str(offered.description).encode()
        actions: list[SessionAction] = [SendResponse(transaction, request.response(
            200, body=body, content_type=SDP if body else None))]
        if following is not None:
            actions.append(self._send(following))
        if self._accept_pending and not self._sender.pending_description:
            self._accept_pending = False
            actions.extend(self.accept(now))
        return actions

    def _early_exchange_complete(self) -> bool:
        """Callee: the first offer/answer exchange reached the caller reliably (RFC 3311 §5.1)."""
        if self._offer_in_invite:
            return self._answer_sent_reliably
        return self._offer_sent_reliably and self._engine.state is OfferAnswerState.STABLE

    def _retry_later(self, request: Request, transaction: Hashable) -> list[SessionAction]:
        # §14.2 and RFC 3311 §5.2: 500 with a random Retry-After of 0-10 s.
        retry = ("Retry-After", self.config.random.randint(0, 10))
        return [SendResponse(transaction, request.response(500, headers=[retry]))]

    def _receive_update(self, request: Request, transaction: Hashable,
                        now: float) -> list[SessionAction]:
        if self.state is _St.CALLING or self.dialog_for(request) is None:
            return [SendResponse(transaction, request.response(481))]
        try:
            description = _sdp_body(request)
        except SdpParseError as exc:
            return [SendResponse(transaction, request.response(
                400, "Malformed SDP", headers=[_warning(399, str(exc))]))]
        engine = self._engine_for(request)
        if description is not None and self.role is Role.UAS and \
                self.state in (_St.INCOMING, _St.EARLY) and not self._early_exchange_complete():
            return self._retry_later(request, transaction)  # an offer before ours was answered
        confirmed = self.state in (_St.CONFIRMED, _St.CONNECTING)
        if self.timer is not None and confirmed:
            min_se = self.timer.required_min_se(request)
            if min_se is not None:
                return [SendResponse(transaction, request.response(
                    422, headers=[("Min-SE", min_se)]))]
        previous = engine.negotiated
        body = b""
        if description is not None:
            if self._update_out is not None or self._reinvite_out is not None:
                return [SendResponse(transaction, request.response(491))]  # RFC 3311 §5.2
            offered = engine.receive_offer(description)
            if isinstance(offered, OfferRefused):
                return [SendResponse(transaction, request.response(
                    offered.status_code, headers=_refusal_headers(offered)))]
            body = str(offered.description).encode()
        headers: list[tuple[str, object]] = []
        if self.timer is not None and confirmed:
            headers.extend(self.timer.response_headers(request, now))
        dialog = self.dialog_for(request)
        assert dialog is not None
        response = request.response(200, contact=dialog.local_contact, headers=headers,
                                    body=body, content_type=SDP if body else None)
        actions: list[SessionAction] = [SendResponse(transaction, response)]
        negotiated = engine.negotiated
        if negotiated is not None and negotiated is not previous:
            actions.append(CallUpdated(self.call, negotiated, True))
        return actions

    def _receive_reinvite(self, request: Request, transaction: Hashable,
                          now: float) -> list[SessionAction]:
        if self._reinvite_out is not None:
            return [SendResponse(transaction, request.response(491))]  # §14.2: glare
        if self.state not in (_St.CONFIRMED, _St.CONNECTING) or self._retransmission is not None:
            # No re-INVITE in an early dialog, nor while an INVITE of ours awaits its ACK.
            return self._retry_later(request, transaction)
        if self.timer is not None:
            min_se = self.timer.required_min_se(request)
            if min_se is not None:
                return [SendResponse(transaction, request.response(
                    422, headers=[("Min-SE", min_se)]))]
        try:
            description = _sdp_body(request)
        except SdpParseError as exc:
            return [SendResponse(transaction, request.response(
                400, "Malformed SDP", headers=[_warning(399, str(exc))]))]
        engine = self.offer_answer
        previous = engine.negotiated
        awaiting_answer = False
        if description is not None:
            offered = engine.receive_offer(description)
            if isinstance(offered, OfferRefused):
                return [SendResponse(transaction, request.response(
                    offered.status_code, headers=_refusal_headers(offered)))]
            body = str(offered.description).encode()
        elif engine.state is OfferAnswerState.LOCAL_OFFER or self._update_out is not None:
            return [SendResponse(transaction, request.response(491))]
        else:
            body = str(engine.create_offer()).encode()  # the answer comes in the ACK (§14.2)
            awaiting_answer = True
        headers = _capability_headers(self.config, self.role, response=True)
        if self.timer is not None:
            headers.extend(self.timer.response_headers(request, now))
        dialog = self.dialog
        assert dialog is not None
        response = request.response(200, contact=dialog.local_contact, headers=headers,
                                    body=body, content_type=SDP)
        self._start_retransmission(transaction, response, request.cseq.seq, now, initial=False,
                                   awaiting_answer=awaiting_answer)
        actions: list[SessionAction] = [SendResponse(transaction, response)]
        negotiated = engine.negotiated
        if not awaiting_answer and negotiated is not None and negotiated is not previous:
            actions.append(CallUpdated(self.call, negotiated, True))
        return actions

    # === our re-INVITE / UPDATE ===============================================================

    def reinvite(self, now: float, *, offer: bool = True) -> list[SessionAction]:
        """Send a re-INVITE with a new offer from the engine (after hold(), add_stream()...).

        ``offer`` False sends none and takes the peer's offer from the 2xx (§14.1). While
        another exchange is under way it waits, and goes out by itself afterwards.
        """
        if self.state is not _St.CONFIRMED:
            raise InviteSessionStateError(f"no re-INVITE in a {self.state.value} call")
        self._offer_wanted = _Offer.REINVITE if offer else _Offer.REINVITE_WITHOUT_OFFER
        return self._run_wanted_offer(now)

    def update(self, now: float, *, offer: bool = True) -> list[SessionAction]:
        """Send an UPDATE (RFC 3311) with a new offer, or without body (a session refresh).

        Possible in an early dialog once the first offer/answer exchange is complete.
        """
        early_ok = self.state is _St.EARLY and self.dialog is not None and (
            self._early_exchange_complete() if self.role is Role.UAS
            else self.offer_answer.negotiated is not None)
        if self.state is not _St.CONFIRMED and not early_ok:
            raise InviteSessionStateError(f"no UPDATE in a {self.state.value} call")
        self._offer_wanted = _Offer.UPDATE if offer else _Offer.REFRESH
        return self._run_wanted_offer(now)

    def _require_role(self, role: Role) -> None:
        if self.role is not role:
            raise InviteSessionStateError(f"only the {role.value.upper()} can do that")

    def _run_wanted_offer(self, now: float) -> list[SessionAction]:
        """Send the exchange asked for, unless another one is under way (§14.1, RFC 3311)."""
        wanted = self._offer_wanted
        dialog = self.dialog
        engine = self.offer_answer
        if (wanted is None or self.terminated or dialog is None
                or self._reinvite_out is not None or self._update_out is not None
                or self._retransmission is not None
                or engine.state is OfferAnswerState.LOCAL_OFFER
                or (self._offer_retry_at is not None and now < self._offer_retry_at)):
            return []
        self._offer_wanted = None
        self._offer_retry_at = None
        headers = _capability_headers(self.config, self.role, response=False)
        if self.timer is not None and self.state is _St.CONFIRMED:
            headers.extend(self.timer.request_headers())
        if wanted is _Offer.REFRESH:
            # RFC 4028 §7.4: UPDATE without body where the peer allows UPDATE, else a
            # re-INVITE repeating our description (its version unchanged, RFC 3264 §8).
            wanted = _Offer.UPDATE if self._peer_allows("UPDATE") else _Offer.REINVITE
            with_offer = wanted is _Offer.REINVITE
        else:
            with_offer = wanted in (_Offer.REINVITE, _Offer.UPDATE)
        body = str(engine.create_offer()).encode() if with_offer else b""
        method = "UPDATE" if wanted is _Offer.UPDATE else "INVITE"
        request = dialog.create_request(method, headers=headers, body=body,
                                        content_type=SDP if body else None)
        if method == "UPDATE":
            self._update_out = request
        else:
            self._reinvite_out = request
        return [SendRequest(request)]

    def _peer_allows(self, method: str) -> bool:
        return self._peer_allow is not None and method in self._peer_allow

    def _reinvite_response(self, request: Request, response: Response,
                           now: float) -> list[SessionAction]:
        status = response.status_code
        dialog = self.dialog
        assert dialog is not None
        if status < 200:
            if is_reliable(response):
                rack = ReliableProvisionalReceiver.rack(response)
                return [SendRequest(dialog.create_request("PRACK", headers=[("RAck", rack)]))]
            return []
        if status >= 300:
            return self._offer_failed(request, response, now, reinvite=True)
        if self._reinvite_out is None:
            return []
        self._reinvite_out = None
        dialog.refresh_target(response)
        self._peer_allow = _allow_of(response) or self._peer_allow
        engine = self.offer_answer
        try:
            description = _sdp_body(response)
        except SdpParseError:
            description = None
        ack_body = b""
        negotiated: NegotiatedSession | None = None
        if request.body:
            outcome = None if description is None else engine.receive_answer(description)
            if isinstance(outcome, NegotiatedSession):
                negotiated = outcome
            else:
                engine.offer_failed()
        elif description is not None:
            answered = engine.receive_offer(description)
            if isinstance(answered, Answer):
                ack_body = str(answered.description).encode()
                negotiated = answered.negotiated
        ack = dialog.create_ack(request, body=ack_body, content_type=SDP if ack_body else None)
        actions: list[SessionAction] = [SendAck(ack)]
        if self.timer is not None:
            self.timer.response_received(request, response, now)
        self._glare_count = 0
        if negotiated is None:
            # §14.1 leaves the session as it was; an unusable answer ends it as RFC 6337 §3.4.
            actions.append(CallUpdateFailed(self.call, 488, "the answer could not be used"))
            return actions + self._send_bye(now, EndReason.MEDIA_FAILED, None)
        actions.append(CallUpdated(self.call, negotiated, False))
        return actions + self._run_wanted_offer(now)

    def _update_response(self, request: Request, response: Response,
                         now: float) -> list[SessionAction]:
        status = response.status_code
        if status < 200:
            return []
        if status >= 300:
            return self._offer_failed(request, response, now, reinvite=False)
        self._update_out = None
        dialog = self.dialog
        if dialog is not None:
            dialog.refresh_target(response)
        confirmed = self.state is _St.CONFIRMED
        if self.timer is not None and confirmed:
            self.timer.response_received(request, response, now)
        self._glare_count = 0
        actions: list[SessionAction] = []
        if request.body:
            engine = self.offer_answer
            try:
                description = _sdp_body(response)
            except SdpParseError:
                description = None
            outcome = None if description is None else engine.receive_answer(description)
            if isinstance(outcome, NegotiatedSession):
                actions.append(CallUpdated(self.call, outcome, False))
            else:
                engine.offer_failed()
                actions.append(CallUpdateFailed(self.call, 488, "the answer could not be used"))
        return actions + self._run_wanted_offer(now)

    def _offer_failed(self, request: Request, response: Response, now: float, *,
                      reinvite: bool) -> list[SessionAction]:
        """A final non-2xx to our re-INVITE or UPDATE (§14.1, RFC 3311 §5.1)."""
        status = response.status_code
        if reinvite:
            self._reinvite_out = None
        else:
            self._update_out = None
        engine = self.offer_answer
        if request.body and engine.state is OfferAnswerState.LOCAL_OFFER:
            engine.offer_failed()
        if status in (408, 481):
            return self.request_failed(status, now)  # §12.2.1.2
        if reinvite:
            wanted = _Offer.REINVITE if request.body else _Offer.REINVITE_WITHOUT_OFFER
        else:
            wanted = _Offer.UPDATE if request.body else _Offer.REFRESH
        if status == 491 and self._glare_count < self.config.glare_retries:
            self._glare_count += 1
            self._offer_wanted = wanted
            self._offer_retry_at = now + _glare_wait(self.config.random, self.role is Role.UAC)
            return []
        if status == 422 and self.timer is not None and self.timer.interval_too_small(response):
            self._offer_wanted = wanted
            return self._run_wanted_offer(now)
        self._glare_count = 0
        return [CallUpdateFailed(self.call, status, response.reason),
                *self._run_wanted_offer(now)]

    # === ending ===============================================================================

    def cancel(self, now: float) -> list[SessionAction]:
        """The caller gives up before the answer: CANCEL (§9.1), held until a 1xx came."""
        self._require_role(Role.UAC)
        was = self.state
        self._advance(_In.CANCEL)
        if was is _St.CANCELLING:
            return []
        self._cancel_deadline = now + 64 * self.config.timers.t1
        return self._maybe_cancel()

    def hangup(self, now: float, *,
               reason: EndReason = EndReason.LOCAL_BYE) -> list[SessionAction]:
        """End the call whatever its state: CANCEL, reject (603), or BYE; no-op once ending.

        ``reason`` is what the CallEnded event says for a BYE (REPLACED for RFC 3891).
        """
        state = self.state
        if state in (_St.TERMINATING, _St.TERMINATED, _St.CANCELLING):
            return []
        if self.role is Role.UAC and state in (_St.CALLING, _St.EARLY):
            return self.cancel(now)
        if self.role is Role.UAS and state in (_St.INCOMING, _St.EARLY):
            return self.reject(now, 603)
        if state is _St.CONNECTING:
            self._advance(_In.BYE)
            self._bye_wanted = reason  # §15: the BYE follows the ACK, or its timeout
            return []
        return self._send_bye(now, reason, None)

    def shutdown(self, now: float) -> list[SessionAction]:
        """End the call at once because the user agent is stopping: CallEnded (SHUTDOWN) now.

        :meth:`hangup` may wait for the peer; a stopping user agent cannot, so every call that
        has not ended yet ends here, with one CallEnded, whatever it was waiting for:

        - answered, our 2xx still waiting for its ACK: the BYE goes now (§15 would hold it
          until the ACK or 64*T1, which a stopping UA never sees; the 2xx confirmed the
          caller's dialog, so it takes the BYE);
        - answered and confirmed: BYE;
        - incoming, not answered yet (ringing, waiting for a PRACK): 503 Service Unavailable
          (§21.5.4: the caller may try another server);
        - outgoing, not answered yet: CANCEL (or its wait for a provisional response, §9.1);
          the call ends without waiting for the 487.
        """
        if self.ended is not None:
            return []
        state = self.state
        if self.role is Role.UAC and state in (_St.CALLING, _St.EARLY):
            return [*self.cancel(now), *self._end(EndReason.SHUTDOWN, None, now)]
        if self.role is Role.UAS and state in (_St.INCOMING, _St.EARLY):
            self._advance(_In.SEND_FAILURE)
            return self._finish_refused(503, None, (), EndReason.SHUTDOWN, now)
        if state is _St.CONNECTING:
            return self._send_bye(now, EndReason.SHUTDOWN, None, _In.ACK_TIMEOUT)
        if state is _St.CONFIRMED:
            return self._send_bye(now, EndReason.SHUTDOWN, None)
        return self._end(EndReason.SHUTDOWN, None, now)  # CANCELLING: no 487 to wait for

    def _send_bye(self, now: float, reason: EndReason, status: int | None,
                  event: InviteSessionInput = _In.BYE) -> list[SessionAction]:
        dialog = self.dialog
        assert dialog is not None, "a BYE needs the dialog"
        self._advance(event)
        self._retransmission = None
        actions: list[SessionAction] = []
        if not dialog.terminated:
            actions.append(SendRequest(dialog.create_request("BYE")))
            dialog.advance(DialogInput.TERMINATE)
        return actions + self._end(reason, status, now)

    def request_failed(self, status: int, now: float) -> list[SessionAction]:
        """A request inside the call got 481 or 408, or timed out (§12.2.1.2).

        481: the peer has no such dialog, the call ends at once. 408: a BYE is still tried.
        """
        if self.terminated:
            if status in (408, 481) and self.state is _St.TERMINATING:
                self._advance(_In.BYE_COMPLETED)
            return []
        if status == 481:
            dialog = self.dialog
            was = self.state
            if self._advance(_In.DIALOG_GONE) is None or self.state is _St.CANCELLING:
                return []
            if dialog is not None and not dialog.terminated:
                dialog.advance(DialogInput.TERMINATE)
            actions: list[SessionAction] = []
            if self.role is Role.UAC and was is _St.EARLY and not self._cancel_sent:
                self._cancel_sent = True
                actions.append(SendCancel(self.invite))
            self._retransmission = None
            return actions + self._end(EndReason.DIALOG_GONE, 481, now)
        if status == 408 and self.state is _St.CONFIRMED:
            return self._send_bye(now, EndReason.TIMEOUT, 408)
        return []

    # === timers ===============================================================================

    def get_timer(self) -> float | None:
        """The next deadline of this call, or None."""
        retransmission = self._retransmission
        deadlines = [
            self._cancel_deadline,
            self._invite_expires_at,
            self._offer_retry_at if self._offer_wanted is not None else None,
            None if retransmission is None else retransmission.next_at,
            None if self._sender is None else self._sender.get_timer(),
            None if self.timer is None or self.state is not _St.CONFIRMED
            else self.timer.deadline(),
        ]
        due = [d for d in deadlines if d is not None]
        return min(due) if due else None

    def handle_timer(self, now: float) -> list[SessionAction]:
        """Everything due at ``now``."""
        actions: list[SessionAction] = []
        if self._cancel_deadline is not None and now >= self._cancel_deadline:
            # §9.1: no final response 64*T1 after the CANCEL: act as if 408 had come.
            self._cancel_deadline = None
            if self.state is _St.CANCELLING:
                actions.extend(self._initial_failure(self.invite.response(408), now))
        if self._invite_expires_at is not None and now >= self._invite_expires_at:
            # §13.3.1: the INVITE's Expires passed without an answer: 487.
            self._invite_expires_at = None
            if self.state in (_St.INCOMING, _St.EARLY):
                self._advance(_In.SEND_FAILURE)
                actions.extend(self._finish_refused(487, None, (), EndReason.TIMEOUT, now))
        actions.extend(self._handle_retransmission(now))
        actions.extend(self._handle_reliable_provisional(now))
        if self._offer_wanted is not None and self._offer_retry_at is not None \
                and now >= self._offer_retry_at:
            self._offer_retry_at = None
            actions.extend(self._run_wanted_offer(now))
        if self.timer is not None and self.state is _St.CONFIRMED:
            due = self.timer.due(now)
            if due is SessionTimerAction.REFRESH:
                self.timer.postpone(now)
                self._offer_wanted = self._offer_wanted or _Offer.REFRESH
                actions.extend(self._run_wanted_offer(now))
            elif due is SessionTimerAction.EXPIRE:
                actions.extend(self._send_bye(now, EndReason.SESSION_EXPIRED, None))
        return actions

    def _handle_retransmission(self, now: float) -> list[SessionAction]:
        pending = self._retransmission
        if pending is None or now < pending.next_at:
            return []
        if now >= pending.give_up_at:
            # §13.3.1.4: no ACK in 64*T1: the dialog is confirmed, but the session ends.
            self._retransmission = None
            if pending.awaiting_answer and self._engine.state is OfferAnswerState.LOCAL_OFFER:
                self._engine.offer_failed()
            return self._send_bye(now, EndReason.TIMEOUT, None, _In.ACK_TIMEOUT)
        pending.interval = min(pending.interval * 2, self.config.timers.t2)
        pending.next_at = min(now + pending.interval, pending.give_up_at)
        return [SendResponse(pending.transaction, pending.response)]

    def _handle_reliable_provisional(self, now: float) -> list[SessionAction]:
        sender = self._sender
        if sender is None or (deadline := sender.get_timer()) is None or now < deadline:
            return []
        again = sender.handle_timer(now)
        if again is not None:
            return [self._send(again)]
        if sender.timed_out and self.state in (_St.INCOMING, _St.EARLY):
            # RFC 3262 §3: a reliable 1xx unacknowledged for 64*T1: reject with a 5xx.
            self._advance(_In.SEND_FAILURE)
            return self._finish_refused(500, "No PRACK received", (), EndReason.TIMEOUT, now)
        return []


def _capability_headers(config: InviteSessionConfig, role: Role, *,
                        response: bool) -> list[tuple[str, object]]:
    """Allow, Supported and User-Agent/Server for dialog-forming and target-refresh messages."""
    fields: list[tuple[str, object]] = [("Allow", ", ".join(config.allow))]
    supported = list(config.supported)
    if role is Role.UAC and not response and \
            config.reliable_provisional is ReliableProvisionalMode.REQUIRED:
        supported.remove("100rel")  # it goes in Require
    if supported:
        fields.append(("Supported", ", ".join(supported)))
    if config.user_agent:
        fields.append(("Server" if response else "User-Agent", config.user_agent))
    return fields
