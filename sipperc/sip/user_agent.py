"""The user agent (RFC 3261 §8, §12-15): a sans-I/O transaction user for calls and more.

:class:`UserAgent` sits on a :class:`~sipperc.sip.transaction_layer.TransactionLayer` as its
transaction user (the ``TransactionUser`` protocol the Twisted ``SipService`` drives). It turns
the layer's effects into calls (:class:`~sipperc.sip.invite_session.InviteSession`), dialogs,
subscriptions and events for the application, and the application's commands into requests
and responses:

- calls: :meth:`UserAgent.invite`, :meth:`~UserAgent.ringing`, :meth:`~UserAgent.answer`,
  :meth:`~UserAgent.reject`, :meth:`~UserAgent.hangup`, :meth:`~UserAgent.reinvite`,
  :meth:`~UserAgent.hold`, :meth:`~UserAgent.resume`, :meth:`~UserAgent.update`;
- inside calls: INFO (:meth:`~UserAgent.send_info`, :meth:`~UserAgent.send_dtmf` with
  ``application/dtmf-relay``), MESSAGE, REFER with NOTIFY sipfrag progress and Replaces
  (:meth:`~UserAgent.refer`, RFC 3515, RFC 3891);
- outside calls: MESSAGE (RFC 3428), OPTIONS (§11), SUBSCRIBE/NOTIFY for any event package
  the application names (RFC 6665: :meth:`~UserAgent.subscribe`,
  :meth:`~UserAgent.accept_subscription`, :meth:`~UserAgent.notify`...);
- authentication: an :class:`ChallengeAnswerer` (``DigestClient``) answers 401/407 to our
  requests, a :class:`RequestChecker` (``DigestServer``) may challenge requests that start
  something (RFC 3261 §22).

Every method takes ``now`` and returns a list of outputs: transaction-layer effects for the
edge (``SendMessage``...) and :mod:`~sipperc.sip.user_agent_events` events for the
application, in order. Commands that start something also return its handle.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.logger import Logger

from sipperc.sdp import OfferAnswer
from sipperc.sip import headers as h
from sipperc.sip.dialog import Dialog, next_hop
from sipperc.sip.dtmf_relay import DTMF_RELAY, DtmfRelay, DtmfRelayError
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import Address, MediaType, Replaces
from sipperc.sip.identifiers import new_call_id, new_tag
from sipperc.sip.invite_session import (
    SDP,
    InviteSession,
    InviteSessionConfig,
    InviteSessionState,
    InviteSessionStateError,
    SendAck,
    SendCancel,
    SendRequest,
    SendResponse,
    SessionAction,
)
from sipperc.sip.locate import LocateError, ServerLocator
from sipperc.sip.message import Request, Response
from sipperc.sip.refer import (
    REFER_EVENT,
    SIPFRAG,
    ReferError,
    ReferTarget,
    SipFragStatus,
    refer_to,
)
from sipperc.sip.subscription import (
    Notifier,
    NotifierState,
    Subscriber,
    SubscriptionKey,
)
from sipperc.sip.transaction_effects import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionId,
    TransactionTimeout,
    TuEffect,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transactions import TransactionStateError
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.uri import Parameters, SipUri, Uri, parse_uri
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallAttempt,
    CallEnded,
    CallProgress,
    CallRef,
    EndReason,
    IncomingCall,
    InfoReceived,
    MessageReceived,
    NotifyReceived,
    OptionsReceived,
    ReferProgress,
    ReferReceived,
    ReferRequested,
    RequestCompleted,
    SubscriptionEnded,
    SubscriptionRef,
    SubscriptionRequested,
)

__all__ = [
    "ChallengeAnswerer",
    "RequestChecker",
    "UserAgent",
    "UserAgentConfig",
    "UserAgentError",
]

log = Logger(namespace="sipperc.sip.user_agent")

_SESSION_METHODS = frozenset({"INVITE", "UPDATE", "PRACK", "BYE"})
_CHECKED: tuple[h.TypedHeader[Any], ...] = (
    h.CONTACT, h.RECORD_ROUTE, h.REQUIRE, h.SUPPORTED, h.ALLOW, h.CONTENT_TYPE,
    h.SESSION_EXPIRES, h.MIN_SE, h.EXPIRES, h.REPLACES, h.REFERRED_BY, h.REFER_TO, h.EVENT,
    h.SUBSCRIPTION_STATE, h.RACK,
)
"""The headers of a request the user agent reads, checked as it arrives."""


class ChallengeAnswerer(Protocol):
    """Answers 401/407 challenges to our requests: ``sipperc.sip.digest.DigestClient``.

    ``hop`` is the host the request was addressed to (its next hop, before DNS): only
    challenges from configured servers are answered, never a peer's (RFC 3261 §22).
    """

    def answer_challenge(
        self, request: Request, response: Response, hop: str, *, cseq: int | None = None
    ) -> Request | None:
        """The request with credentials (no Via, CSeq ``cseq``), or None: give up."""
        ...

    def authorize(self, request: Request, hop: str) -> Request:
        """The request with credentials reused from an earlier challenge by ``hop``."""
        ...


class RequestChecker(Protocol):
    """Checks requests that start something (out of dialog): ``DigestServer``.

    Returns None to let the request through, or the response to send instead (401/407).
    """

    def check(self, request: Request, now: float) -> Response | None:
        """None, or the challenge or refusal to answer with."""
        ...


class UserAgentError(RuntimeError):
    """A command the user agent cannot carry out (unknown call, nowhere to send...)."""


@dataclass(frozen=True, slots=True)
class UserAgentConfig:
    """How a user agent presents itself and what it accepts.

    ``user``/``display_name``/``domain``: our address (``From`` of requests outside dialogs,
    user part of our Contact); ``domain`` None uses the host of the listening point.
    ``outbound_proxy``: a URI every request outside a dialog is routed through (a pre-loaded
    Route, RFC 3261 §8.1.2), e.g. a Kamailio. ``event_packages``: SUBSCRIBE packages the
    application serves (others get 489, RFC 6665 §4.2.1.1). ``refer_expires``: how long a
    REFER's implicit subscription lasts (RFC 3515 §2.4.4). ``refer_outside_dialog``: report
    a REFER outside any dialog as :class:`ReferRequested` for the application to accept or
    refuse (a conference focus adding participants, RFC 4579 §5.5); without it such a REFER
    gets 403, as a phone must not be made to call anyone by anyone. ``failover_after``: how
    long an INVITE waits for any response from one located server before the next is tried
    (RFC 3263 §4.3; the last server gets the full Timer B); None waits Timer B on each.
    """

    user: str = "sipperc"
    display_name: str | None = None
    domain: str | None = None
    session: InviteSessionConfig = field(default_factory=InviteSessionConfig)
    outbound_proxy: SipUri | None = None
    event_packages: tuple[str, ...] = ()
    refer_expires: int = 60
    refer_outside_dialog: bool = False
    max_forwards: int = 70
    max_subscription_expires: int = 3600
    failover_after: float | None = None


@dataclass(slots=True)
class _Pending:
    """A client transaction of ours and what its outcome is for."""

    request: Request
    """As we built it (no Via): what an authenticator re-sends."""
    hop: str = ""
    destination: TransportAddress | None = None
    alternatives: tuple[TransportAddress, ...] = ()
    """Further targets of an RFC 3263 lookup, tried after a 503, timeout or transport failure."""
    session: InviteSession | None = None
    subscriber: SubscriptionRef | None = None
    notifier: SubscriptionRef | None = None
    report: bool = False
    """Report the outcome to the application as :class:`RequestCompleted`."""


_Timed = InviteSession | Subscriber | Notifier
"""What has deadlines: calls and subscriptions."""


def _key(call_id: str, local_tag: str) -> CallRef:
    return CallRef(call_id, local_tag)


class UserAgent:
    """A user agent on a transaction layer (see the module documentation).

    ``offer_answer`` makes the SDP engine of each call: it is called with the INVITE for an
    incoming call and with None for one we place (unless :meth:`invite` is given one).
    ``locate`` maps a next-hop URI to the targets to try, in order (RFC 3263): by default
    the one a URI without DNS names (an IP address, with transport and port from the URI);
    pass one backed by a resolver cache for host names (``LocatedServers``). Each server an
    INVITE is sent to is reported as :class:`CallAttempt`. A request outside a dialog moves on
    to the next target after a 503, a timeout or a transport failure (RFC 3263 §4.3).
    """

    def __init__(
        self,
        transactions: TransactionLayer,
        offer_answer: Callable[[Request | None], OfferAnswer],
        config: UserAgentConfig | None = None,
        *,
        authenticator: ChallengeAnswerer | None = None,
        checker: RequestChecker | None = None,
        locate: Callable[[SipUri], Sequence[TransportAddress]] | None = None,
    ) -> None:
        self.transactions = transactions
        self.offer_answer = offer_answer
        self.config = config or UserAgentConfig()
        self.authenticator = authenticator
        self.checker = checker
        self._locate = locate or self._locate_numeric
        self._sessions: dict[CallRef, InviteSession] = {}
        self._invite_transactions: dict[CallRef, TransactionId] = {}
        self._server_invites: dict[TransactionId, CallRef] = {}
        self._client: dict[TransactionId, _Pending] = {}
        self._call_transactions: dict[CallRef, list[TransactionId]] = {}
        """Each call's client and INVITE server transactions, dropped with the call."""
        self._call_subscriptions: dict[CallRef, set[SubscriptionRef]] = {}
        """The subscriptions sharing each dialog (REFER's, RFC 5057 usages)."""
        self._subscribers: dict[SubscriptionRef, Subscriber] = {}
        self._notifiers: dict[SubscriptionRef, Notifier] = {}
        self._subscription_dialogs: dict[CallRef, Dialog] = {}
        self._refer_calls: dict[CallRef, SubscriptionRef] = {}
        self._replacing: dict[CallRef, CallRef] = {}
        self._referred_by: dict[SubscriptionRef, Address] = {}
        self._subscribe_requests: dict[SubscriptionRef, Request] = {}
        self._subscribe_pending: dict[SubscriptionRef, tuple[TransactionId, Request]] = {}
        self._owners: dict[int, SubscriptionRef] = {}
        """id() of each live Subscriber/Notifier -> its reference (timer ownership)."""
        self._recent_acks: dict[tuple[str, str, str, int], Request] = {}
        self._ack_expiry: deque[tuple[float, tuple[str, str, str, int]]] = deque()
        self._lingering: deque[tuple[float, SubscriptionRef]] = deque()
        """Ended subscriptions kept 64*T1 for the notifier's last NOTIFY (RFC 6665 §4.1.2.3)."""
        self._heap: list[tuple[float, int, _Timed]] = []
        self._sequence = itertools.count()

    def __repr__(self) -> str:
        return f"<UserAgent {len(self._sessions)} calls>"

    # --- inspection ---------------------------------------------------------------------------

    @property
    def calls(self) -> tuple[CallRef, ...]:
        """The calls not yet ended."""
        return tuple(c for c, s in self._sessions.items() if s.ended is None)

    @property
    def ending(self) -> tuple[CallRef, ...]:
        """Calls over for the application whose BYE or CANCEL still waits for its answer.

        A stopping application waits for these (retransmitted meanwhile, RFC 3261 §17.1.2.2)
        before it closes its sockets, so that a lost BYE still reaches the peer.
        """
        return tuple(c for c, s in self._sessions.items() if s.ended is not None)

    def session(self, call: CallRef) -> InviteSession:
        """The invite session of a call (raises :class:`UserAgentError` when unknown)."""
        session = self._sessions.get(call)
        if session is None:
            raise UserAgentError(f"no call {call}")
        return session

    # --- where requests go ----------------------------------------------------------------------

    def _transports(self) -> tuple[str, ...]:
        return tuple(p.local.transport for p in self.transactions.transport.listening_points)

    def _locate_numeric(self, uri: SipUri) -> tuple[TransportAddress, ...]:
        try:
            locator = ServerLocator(uri, transports=self._transports() or ("udp",))
        except LocateError as exc:
            raise UserAgentError(str(exc)) from exc
        if not locator.done or not locator.targets:
            raise UserAgentError(
                f"{uri} needs DNS: give the UserAgent a locate function, or use an IP address"
            )
        return tuple(t.address for t in locator.targets)

    def _locate_hop(self, hop: Uri) -> tuple[tuple[TransportAddress, ...], str]:
        """The targets for a next-hop URI, and the host a challenge may come from."""
        if not isinstance(hop, SipUri):
            raise UserAgentError(f"cannot send to {hop}: not a SIP URI")
        try:
            targets = tuple(self._locate(hop))
        except LocateError as exc:
            raise UserAgentError(str(exc)) from exc
        if not targets:
            raise UserAgentError(f"no server found for {hop}")
        return targets, hop.maddr or hop.host_key

    def _destination(self, request: Request) -> tuple[TransportAddress, str]:
        targets, hop = self._locate_hop(next_hop(request))
        return targets[0], hop

    def _contact(self, transport: str) -> Address:
        point = self.transactions.transport.listening_point(transport)
        return Address(parse_uri(point.contact_uri(self.config.user)))

    def _our_address(self, transport: str) -> Address:
        config = self.config
        domain = config.domain or self.transactions.transport.listening_point(transport).host
        uri = SipUri(host=domain, user=config.user)
        return Address(uri, config.display_name, Parameters([("tag", new_tag())]))

    def _new_request(
        self,
        method: str,
        target: Uri | Address | str,
        *,
        from_: Address | str | None = None,
        call_id: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: MediaType | str | None = None,
        with_contact: bool = True,
    ) -> tuple[Request, _Pending]:
        """A request outside any dialog (RFC 3261 §8.1.1) and its targets, not yet sent."""
        to = target if isinstance(target, Address) else Address(
            parse_uri(target) if isinstance(target, str) else target)
        uri = to.uri
        route: Sequence[Address] = ()
        if self.config.outbound_proxy is not None:
            proxy = self.config.outbound_proxy
            if not proxy.lr:
                proxy = proxy.with_changes(parameters=proxy.parameters.with_param("lr"))
            route = (Address(proxy),)
        targets, hop = self._locate_hop(route[0].uri if route else uri)
        destination = targets[0]
        if from_ is None:
            sender = self._our_address(destination.transport)
        else:
            sender = Address.parse(from_) if isinstance(from_, str) else from_
            if sender.tag is None:
                sender = sender.with_tag(new_tag())
        host = self.transactions.transport.listening_point(destination.transport).host
        request = Request.build(
            method, uri if not isinstance(uri, SipUri) else uri.without_headers(),
            from_=sender, to=to.with_params(to.params.without("tag")),
            call_id=call_id or new_call_id(host), cseq=1,
            max_forwards=self.config.max_forwards,
            contact=self._contact(destination.transport) if with_contact else (),
            route=route, headers=headers, body=body, content_type=content_type)
        if self.authenticator is not None:
            request = self.authenticator.authorize(request, hop)
        return request, _Pending(request, hop, destination, targets[1:])

    # --- sending -------------------------------------------------------------------------------

    def _send(self, pending: _Pending, now: float) -> list[object]:
        """Start a client transaction for ``pending.request``, to its next hop."""
        request = pending.request
        try:
            pending.destination, pending.hop = self._destination(request)
        except UserAgentError as exc:
            log.warn("cannot send {method}: {error}", method=request.method, error=str(exc))
            return self._outcome(pending, request.response(503, "Next Hop Not Located"), now)
        return self._start(pending, now)

    def _start(self, pending: _Pending, now: float) -> list[object]:
        """Start a client transaction for ``pending`` to its known destination."""
        request = pending.request
        destination = pending.destination
        assert destination is not None
        timeout = None
        if request.method == "INVITE" and pending.alternatives:
            timeout = self.config.failover_after  # another server waits: do not wait 32 s
        try:
            transaction, effects = self.transactions.send_request(
                request, destination, now, invite_timeout=timeout)
        except ValueError as exc:  # e.g. SIPS over a non-TLS hop
            log.warn("cannot send {method}: {error}", method=request.method, error=str(exc))
            return self._outcome(pending, request.response(503, "Service Unavailable"), now)
        self._client[transaction] = pending
        session = pending.session
        if session is not None:
            self._call_transactions.setdefault(session.call, []).append(transaction)
            if request.method == "INVITE" and request is session.invite:
                self._invite_transactions[session.call] = transaction
        return list(effects)

    def _respond(self, transaction: TransactionId, response: Response,
                 now: float) -> list[object]:
        try:
            return list(self.transactions.send_response(transaction, response, now))
        except TransactionStateError:
            return []  # the transaction ended (a late 2xx retransmission): nothing to do

    def _apply(self, session: InviteSession, actions: Iterable[SessionAction],
               now: float) -> list[object]:
        """Carry out what an invite session asked for."""
        out: list[object] = []
        for action in actions:
            if isinstance(action, SendRequest):
                out.extend(self._send(_Pending(action.request, session=session), now))
            elif isinstance(action, SendResponse):
                assert isinstance(action.transaction, TransactionId)
                out.extend(self._respond(action.transaction, action.response, now))
            elif isinstance(action, SendAck):
                out.extend(self._send_ack(action.ack, now))
            elif isinstance(action, SendCancel):
                transaction = self._invite_transactions.get(session.call)
                if transaction is not None:
                    _, effects = self.transactions.send_cancel(transaction, now)
                    out.extend(effects)
            else:
                out.append(action)
                out.extend(self._after_event(action, now))
        self._schedule(session)
        if session.state is InviteSessionState.TERMINATED:
            self._forget(session)
        return out

    def _send_ack(self, ack: Request, now: float) -> list[object]:
        try:
            destination, _ = self._destination(ack)
        except UserAgentError as exc:
            log.warn("cannot send ACK: {error}", error=str(exc))
            return []
        effects: list[object] = list(self.transactions.send_ack(ack, destination, now))
        sent = next((e.message for e in effects if isinstance(e, SendMessage)), ack)
        assert isinstance(sent, Request)
        key = (ack.call_id, ack.from_.tag or "", ack.to.tag or "", ack.cseq.seq)
        self._recent_acks[key] = sent
        self._ack_expiry.append((now + 64 * self.transactions.config.t1, key))
        return effects

    def _expire_acks(self, now: float) -> None:
        """ACKs are kept for 2xx retransmissions for 64*T1 (RFC 6026 Timer M), then dropped."""
        expiry = self._ack_expiry
        while expiry and expiry[0][0] <= now:
            _, key = expiry.popleft()
            self._recent_acks.pop(key, None)

    def _forget(self, session: InviteSession) -> None:
        """A terminated call: drop it (2xx retransmissions are re-ACKed from _recent_acks)."""
        call = session.call
        self._sessions.pop(call, None)
        self._invite_transactions.pop(call, None)
        self._replacing.pop(call, None)
        for transaction in self._call_transactions.pop(call, ()):
            self._client.pop(transaction, None)
            self._server_invites.pop(transaction, None)
        for ref in self._call_subscriptions.pop(call, set()):
            self._drop_subscriber(ref)
            self._drop_notifier(ref)

    # --- timers --------------------------------------------------------------------------------

    def _schedule(self, owner: _Timed) -> None:
        deadline = owner.get_timer()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._sequence), owner))

    def _live(self, owner: _Timed) -> bool:
        if isinstance(owner, InviteSession):
            return self._sessions.get(owner.call) is owner
        return id(owner) in self._owners

    def get_timer(self) -> float | None:
        """The earliest deadline of any call or subscription, or None."""
        heap = self._heap
        lingering = self._lingering[0][0] if self._lingering else None
        while heap:
            deadline, _, owner = heap[0]
            if self._live(owner) and owner.get_timer() == deadline:
                return deadline if lingering is None else min(deadline, lingering)
            heapq.heappop(heap)
        return lingering

    def handle_timer(self, now: float) -> list[object]:
        """Run everything due at ``now``."""
        out: list[object] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(heap)
            if not self._live(owner) or owner.get_timer() != deadline:
                continue
            if isinstance(owner, InviteSession):
                out.extend(self._apply(owner, owner.handle_timer(now), now))
            elif isinstance(owner, Subscriber):
                out.extend(self._subscriber_timer(owner, now))
            elif isinstance(owner, Notifier):
                out.extend(self._notifier_timer(owner, now))
        while self._lingering and self._lingering[0][0] <= now:
            _, ref = self._lingering.popleft()
            self._drop_subscriber(ref)
        self._expire_acks(now)
        return out

    # --- the transaction user ------------------------------------------------------------------

    def handle_effect(self, effect: TuEffect, now: float) -> list[object]:
        """One effect of the transaction layer.

        A message whose header we need turns out malformed (the parser checks only what
        transactions need) is answered 400 naming the header when it is a request, and
        dropped when it is a response: it never escapes as an exception.
        """
        self._expire_acks(now)
        try:
            return self._handle(effect, now)
        except SipParseError as exc:
            log.info("malformed SIP message: {error}", error=str(exc))
            if isinstance(effect, RequestReceived):
                response = effect.request.response(exc.status_code, exc.reason)
                return self._respond(effect.transaction, response, now)
            return []

    def _handle(self, effect: TuEffect, now: float) -> list[object]:
        if isinstance(effect, RequestReceived):
            return self._request_received(effect, now)
        if isinstance(effect, AckReceived):
            return self._ack_received(effect.ack, now)
        if isinstance(effect, ResponseReceived):
            pending = self._client.get(effect.transaction)
            if pending is None:
                return self._stray_response(effect.response, now)
            if effect.response.status_code >= 200 and not (
                pending.request.method == "INVITE" and effect.response.is_success
            ):
                del self._client[effect.transaction]
            return self._outcome(pending, effect.response, now)
        if isinstance(effect, StrayResponse):
            return self._stray_response(effect.response, now)
        if isinstance(effect, CancelReceived):
            call = self._server_invites.get(effect.transaction_of_invite)
            session = None if call is None else self._sessions.get(call)
            return [] if session is None else self._apply(session, session.receive_cancel(now),
                                                          now)
        # A timeout or a transport failure: act as if 408 or 503 had come (§8.1.3.1).
        pending = self._client.pop(effect.transaction, None)
        if pending is None:
            return []
        if isinstance(effect, TransactionTimeout):
            made_up = pending.request.response(408)
        else:
            made_up = pending.request.response(503, "Service Unavailable")
        return self._outcome(pending, made_up, now)

    # --- responses to our requests ---------------------------------------------------------------

    def _outcome(self, pending: _Pending, response: Response, now: float) -> list[object]:
        status = response.status_code
        request = pending.request
        if status in (401, 407) and self.authenticator is not None and \
                pending.destination is not None:
            retry = self._answer_challenge(pending, response)
            if retry is not None:
                if pending.session is not None:
                    pending.session.resend_request(request, retry)
                pending.request = retry
                return self._start(pending, now)
        if status in (408, 503) and pending.alternatives and request.to.tag is None and (
            pending.session is None or pending.session.state is InviteSessionState.CALLING
        ):
            # RFC 3263 §4.3: the same request, in a new transaction, to the next target.
            pending.destination, *rest = pending.alternatives
            pending.alternatives = tuple(rest)
            log.info("trying the next server", method=request.method, status=status,
                     target=str(pending.destination))
            session = pending.session
            if session is None:
                return self._start(pending, now)
            return [CallAttempt(session.call, pending.destination, status),
                    *self._start(pending, now)]
        out: list[object] = []
        session = pending.session
        if session is not None and self._sessions.get(session.call) is session:
            if request.method in _SESSION_METHODS:
                out.extend(self._apply(session, session.receive_response(request, response, now),
                                       now))
            elif status in (408, 481):
                out.extend(self._apply(session, session.request_failed(status, now), now))
        if pending.subscriber is not None:
            out.extend(self._subscribe_outcome(pending.subscriber, response, now))
        if pending.notifier is not None and status >= 200:
            out.extend(self._notify_outcome(pending.notifier, response, now))
        if pending.report and status >= 200:
            received = response if "Via" in response else None
            out.append(RequestCompleted(request, status, received))
        return out

    def _answer_challenge(self, pending: _Pending, response: Response) -> Request | None:
        assert self.authenticator is not None
        request = pending.request
        cseq: int | None = None
        if request.to.tag is not None:  # inside a dialog the CSeq is the dialog's (§22.2)
            dialog = self._dialog_of(pending)
            if dialog is not None:
                cseq = dialog.next_local_seq()
        return self.authenticator.answer_challenge(request, response, pending.hop, cseq=cseq)

    def _dialog_of(self, pending: _Pending) -> Dialog | None:
        if pending.session is not None:
            return pending.session.dialog
        if pending.subscriber is not None:
            subscriber = self._subscribers.get(pending.subscriber)
            return None if subscriber is None else subscriber.dialog
        if pending.notifier is not None:
            notifier = self._notifiers.get(pending.notifier)
            return None if notifier is None else notifier.dialog
        return None

    def _stray_response(self, response: Response, now: float) -> list[object]:
        """A 2xx to an INVITE matching no transaction (RFC 3261 §13.2.2.4, RFC 6026)."""
        if response.cseq.method != "INVITE" or not response.is_success:
            return []
        key = (response.call_id, response.from_.tag or "", response.to.tag or "",
               response.cseq.seq)
        ack = self._recent_acks.get(key)
        if ack is not None:
            return self._send_ack(ack, now)
        session = self._sessions.get(_key(response.call_id, response.from_.tag or ""))
        if session is not None and response.cseq.seq == session.invite.cseq.seq:
            return self._apply(session, session.receive_response(session.invite, response, now),
                               now)
        return self._unwanted_2xx(response, now)

    def _unwanted_2xx(self, response: Response, now: float) -> list[object]:
        """A 2xx for a call we no longer know: ACK it and BYE it (§13.2.2.4)."""
        contacts = response.contacts
        if response.to.tag is None or not contacts:
            return []
        probe = Request.build("INVITE", contacts[0].uri, from_=response.from_,
                              to=response.to.with_params(response.to.params.without("tag")),
                              call_id=response.call_id, cseq=response.cseq.seq,
                              contact="<sip:invalid>")
        dialog = Dialog.for_uac(probe, response)
        log.info("ACK and BYE for an unexpected 2xx", call_id=response.call_id)
        return [*self._send_ack(dialog.create_ack(probe), now),
                *self._send(_Pending(dialog.create_request("BYE")), now)]

    # --- requests ------------------------------------------------------------------------------

    def _request_received(self, effect: RequestReceived, now: float) -> list[object]:
        request = effect.request
        transaction = effect.transaction
        if effect.merged is not None:
            return self._respond(transaction, request.response(482), now)  # §8.2.2.2
        for header in _CHECKED:  # fail here, before any state changes, if one is malformed
            request.typed(header)
        method = request.method
        if method not in self.config.session.allow:
            return self._respond(transaction, request.response(
                405, headers=[("Allow", ", ".join(self.config.session.allow))]), now)
        unsupported = [t for t in request.typed(h.REQUIRE)
                       if t not in self.config.session.supported]
        if unsupported:  # §8.2.2.3
            return self._respond(transaction, request.response(
                420, headers=[("Unsupported", ", ".join(unsupported))]), now)
        if request.to.tag is not None:
            return self._in_dialog(request, transaction, now)
        if self.checker is not None:
            refusal = self.checker.check(request, now)
            if refusal is not None:
                return self._respond(transaction, refusal, now)
        if method == "INVITE":
            return self._incoming_call(request, transaction, effect.source, now)
        if method == "OPTIONS":
            return [*self._respond(transaction, self._options_response(request), now),
                    OptionsReceived(request)]
        if method == "MESSAGE":
            return [*self._respond(transaction, request.response(200), now),
                    MessageReceived(request.from_, request.to, request.content_type,
                                    request.body)]
        if method == "SUBSCRIBE":
            return self._incoming_subscribe(request, transaction, effect.source, now)
        if method == "REFER":
            if self.config.refer_outside_dialog:
                return self._incoming_refer(request, transaction, effect.source, now)
            return self._respond(transaction, request.response(
                403, "REFER Outside A Dialog Not Accepted"), now)
        return self._respond(transaction, request.response(481), now)

    def _options_response(self, request: Request) -> Response:
        """200 with what we can do (RFC 3261 §11.2); a UA answers as it would an INVITE."""
        session = self.config.session
        headers: list[tuple[str, object]] = [
            ("Allow", ", ".join(session.allow)),
            ("Accept", f"{SDP}, {DTMF_RELAY}, {SIPFRAG}, text/plain"),
            ("Supported", ", ".join(session.supported)),
        ]
        if self.config.event_packages:
            headers.append(("Allow-Events", ", ".join((REFER_EVENT,
                                                        *self.config.event_packages))))
        if session.user_agent:
            headers.append(("Server", session.user_agent))
        return request.response(200, headers=headers)

    def _incoming_call(self, request: Request, transaction: TransactionId,
                       source: TransportAddress, now: float) -> list[object]:
        replaced: CallRef | None = None
        replaces = request.first(h.REPLACES)
        if replaces is not None:
            replaced, refusal = self._find_replaced(replaces)
            if refusal is not None:
                return self._respond(transaction, request.response(refusal), now)
        call = _key(request.call_id, new_tag())
        contact = self._contact(source.transport)
        engine = self.offer_answer(request)
        session, actions = InviteSession.incoming(
            call, request, transaction, engine, self.config.session, contact, now,
            over_tls=source.secure)
        self._sessions[call] = session
        self._server_invites[transaction] = call
        self._call_transactions[call] = [transaction]
        out = self._apply(session, actions, now)
        if session.ended is not None:
            return out  # refused on arrival; CallEnded is in ``out``
        if replaced is not None:
            self._replacing[call] = replaced
        out.append(IncomingCall(call, request, request.from_, request.to, session.remote_offer,
                                replaced, request.first(h.REFERRED_BY), source))
        return out

    def _find_replaced(self, replaces: Replaces) -> tuple[CallRef | None, int | None]:
        """The call an INVITE with Replaces takes over (RFC 3891 §3), or the refusal."""
        call = _key(replaces.call_id, replaces.to_tag or "")
        session = self._sessions.get(call)
        if session is None or session.terminated:
            return None, 481
        dialog = session.dialog
        if dialog is None or dialog.id.remote_tag != (replaces.from_tag or ""):
            return None, 481
        if dialog.early and session.invite.from_.tag != call.local_tag:
            return None, 481  # an early dialog we did not initiate (§3)
        if not dialog.early and replaces.early_only:
            return None, 486
        return call, None

    def _in_dialog(self, request: Request, transaction: TransactionId,
                   now: float) -> list[object]:
        call = _key(request.call_id, request.to.tag or "")
        method = request.method
        session = self._sessions.get(call)
        dialog = None if session is None else session.dialog_for(request)
        if dialog is None:
            dialog = self._subscription_dialogs.get(call)
            if dialog is None and method == "NOTIFY":
                dialog = self._dialog_from_notify(call, request)
        if dialog is None or (session is not None and session.terminated and method != "BYE"):
            return self._respond(transaction, request.response(481), now)  # §12.2.2
        refusal = dialog.check_request(request)
        if refusal is not None:
            return self._respond(transaction, request.response(refusal), now)
        if method in _SESSION_METHODS:
            if session is None:
                return self._respond(transaction, request.response(481), now)
            return self._apply(session, session.receive_request(request, transaction, now), now)
        if method == "INFO":
            return self._info(call, request, transaction, now)
        if method == "MESSAGE":
            return [*self._respond(transaction, request.response(200), now),
                    MessageReceived(request.from_, request.to, request.content_type,
                                    request.body, call)]
        if method == "OPTIONS":
            return self._respond(transaction, self._options_response(request), now)
        if method == "REFER":
            return self._refer_received(call, dialog, request, transaction, now)
        if method == "NOTIFY":
            return self._notify_received(call, dialog, request, transaction, now)
        if method == "SUBSCRIBE":
            return self._subscribe_in_dialog(call, request, transaction, now)
        return self._respond(transaction, request.response(405), now)

    def _info(self, call: CallRef, request: Request, transaction: TransactionId,
              now: float) -> list[object]:
        content_type = request.content_type
        dtmf: DtmfRelay | None = None
        if content_type is not None and content_type.mime == DTMF_RELAY:
            try:
                dtmf = DtmfRelay.parse(request.body)
            except DtmfRelayError as exc:
                return self._respond(transaction, request.response(400, "Bad DTMF Relay Body",
                                     headers=[("Warning", f'399 sipperc "{exc}"')]), now)
        return [*self._respond(transaction, request.response(200), now),
                InfoReceived(call, content_type, request.body, dtmf)]

    def _ack_received(self, ack: Request, now: float) -> list[object]:
        session = self._sessions.get(_key(ack.call_id, ack.to.tag or ""))
        if session is None:
            return []
        return self._apply(session, session.receive_ack(ack, now), now)

    # --- events that start more work -------------------------------------------------------------

    def _after_event(self, event: object, now: float) -> list[object]:
        if isinstance(event, CallEnded):
            # Debug only: the application writes the call record from the event (one line
            # per call, as ``sipperc responder`` does), a second line would double it.
            log.debug(
                "call ended: {reason}", call_id=event.call.call_id, reason=event.reason.value,
                status=event.status_code, caller=str(event.caller.uri),
                callee=str(event.callee.uri), outgoing=event.outgoing,
                duration=round(event.duration, 3))
        out: list[object] = []
        call = getattr(event, "call", None)
        refer = None if call is None else self._refer_calls.get(call)
        if refer is not None:
            out.extend(self._refer_progress(refer, event, now))
        if isinstance(event, CallAnswered):
            replaced = self._replacing.pop(event.call, None)
            old = None if replaced is None else self._sessions.get(replaced)
            if old is not None:
                out.extend(self._apply(old, old.hangup(now, reason=EndReason.REPLACED), now))
        return out

    # --- commands: calls ---------------------------------------------------------------------

    def invite(
        self,
        target: Uri | Address | str,
        now: float,
        *,
        from_: Address | str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        offer: bool = True,
        offer_answer: OfferAnswer | None = None,
        replaces: Replaces | None = None,
        refer: SubscriptionRef | None = None,
    ) -> tuple[CallRef, list[object]]:
        """Call ``target``; returns the call and what to send.

        ``offer`` False makes a late offer (the callee offers in its 2xx). ``replaces`` (an
        attended transfer, RFC 3891) and ``refer`` (the REFER this call carries out: its
        progress is NOTIFYed to the referrer, RFC 3515 §2.4.5) come from a
        :class:`ReferReceived`.
        """
        extra = list(headers)
        if replaces is not None:
            extra += [("Replaces", replaces), ("Require", "replaces")]
        if refer is not None:
            referred_by = self._referred_by.get(refer)
            if referred_by is not None:  # RFC 3892 §3: the REFER's Referred-By goes along
                extra.append(("Referred-By", referred_by))
        request, pending = self._new_request("INVITE", target, from_=from_, headers=extra)
        call = _key(request.call_id, request.from_.tag or "")
        engine = offer_answer or self.offer_answer(None)
        session, actions = InviteSession.outgoing(call, request, engine, self.config.session,
                                                  now, offer=offer)
        self._sessions[call] = session
        if refer is not None:
            self._refer_calls[call] = refer
        out: list[object] = []
        for action in actions:
            if isinstance(action, SendRequest):  # the INVITE, with our offer
                pending.request = action.request
                pending.session = session
                assert pending.destination is not None
                out.append(CallAttempt(call, pending.destination))
                out.extend(self._start(pending, now))
        self._schedule(session)
        return call, out

    def ringing(self, call: CallRef, now: float, *, status: int = 180,
                early_media: bool = False, reliable: bool | None = None) -> list[object]:
        """Send a provisional response (180, or 183 with ``early_media``) to an incoming call."""
        session = self.session(call)
        return self._apply(session, session.provisional(now, status, early_media=early_media,
                                                        reliable=reliable), now)

    def answer(self, call: CallRef, now: float) -> list[object]:
        """Answer an incoming call (200 OK with the engine's answer or offer)."""
        session = self.session(call)
        return self._apply(session, session.accept(now), now)

    def reject(self, call: CallRef, now: float, status: int = 486,
               reason: str | None = None) -> list[object]:
        """Refuse an incoming call with a final 3xx-6xx."""
        session = self.session(call)
        return self._apply(session, session.reject(now, status, reason), now)

    def hangup(self, call: CallRef, now: float) -> list[object]:
        """End a call in whatever state: CANCEL, 603, or BYE. A no-op once it is ending."""
        session = self._sessions.get(call)
        if session is None:
            return []
        return self._apply(session, session.hangup(now), now)

    def shutdown(self, now: float) -> list[object]:
        """End every call still in progress because we are stopping, each with its CallEnded.

        :meth:`InviteSession.shutdown` says what each call gets (BYE, 503, CANCEL): nothing
        is waited for, so an application writing one record per call from CallEnded has them
        all before it closes its sockets. Subscriptions are left as they are.
        """
        out: list[object] = []
        for session in list(self._sessions.values()):
            out.extend(self._apply(session, session.shutdown(now), now))
        return out

    def reinvite(self, call: CallRef, now: float, *, offer: bool = True) -> list[object]:
        """Send a re-INVITE with the engine's current offer (§14)."""
        session = self.session(call)
        return self._apply(session, session.reinvite(now, offer=offer), now)

    def update(self, call: CallRef, now: float, *, offer: bool = True) -> list[object]:
        """Send an UPDATE (RFC 3311), with a new offer or without one."""
        session = self.session(call)
        return self._apply(session, session.update(now, offer=offer), now)

    def hold(self, call: CallRef, now: float) -> list[object]:
        """Put the call on hold: a re-INVITE whose offer asks the peer not to send."""
        return self._change_media(call, now, hold=True)

    def resume(self, call: CallRef, now: float) -> list[object]:
        """Take the call off hold."""
        return self._change_media(call, now, hold=False)

    def _change_media(self, call: CallRef, now: float, *, hold: bool) -> list[object]:
        session = self.session(call)
        engine = session.offer_answer
        if session.state is not InviteSessionState.CONFIRMED:
            raise InviteSessionStateError(f"cannot change the media of a {session.state.value}"
                                          " call")
        try:
            engine.hold() if hold else engine.resume()
        except RuntimeError as exc:  # OfferAnswerStateError: an offer is outstanding
            raise InviteSessionStateError(str(exc)) from exc
        return self._apply(session, session.reinvite(now), now)

    # --- commands: requests inside a call ---------------------------------------------------------

    def _in_call_request(self, call: CallRef, method: str, now: float, *,
                         headers: Iterable[tuple[str, object]] = (), body: bytes = b"",
                         content_type: str | None = None) -> tuple[Request, list[object]]:
        session = self.session(call)
        dialog = session.dialog
        if dialog is None or session.terminated:
            raise UserAgentError(f"call {call} has no dialog to send {method} in")
        request = dialog.create_request(method, headers=headers, body=body,
                                        content_type=content_type)
        return request, self._send(_Pending(request, session=session, report=True), now)

    def send_info(self, call: CallRef, now: float, body: bytes,
                  content_type: str) -> tuple[Request, list[object]]:
        """Send an INFO inside a call (RFC 6086); its outcome comes as RequestCompleted."""
        return self._in_call_request(call, "INFO", now, body=body, content_type=content_type)

    def send_dtmf(self, call: CallRef, now: float, signal: str,
                  duration: int = 250) -> tuple[Request, list[object]]:
        """Send one key as INFO ``application/dtmf-relay``."""
        return self.send_info(call, now, bytes(DtmfRelay(signal, duration)), DTMF_RELAY)

    def send_message(
        self,
        target: CallRef | Uri | Address | str,
        now: float,
        body: bytes,
        content_type: str = "text/plain;charset=utf-8",
    ) -> tuple[Request, list[object]]:
        """Send a MESSAGE (RFC 3428), inside a call or to a URI; outcome: RequestCompleted."""
        if isinstance(target, CallRef):
            return self._in_call_request(target, "MESSAGE", now, body=body,
                                         content_type=content_type)
        request, pending = self._new_request("MESSAGE", target, body=body,
                                             content_type=content_type, with_contact=False)
        pending.report = True
        return request, self._start(pending, now)

    def options(self, target: CallRef | Uri | Address | str,
                now: float) -> tuple[Request, list[object]]:
        """Ask what a peer supports (§11); the 200 comes as RequestCompleted."""
        headers = [("Accept", SDP)]
        if isinstance(target, CallRef):
            return self._in_call_request(target, "OPTIONS", now, headers=headers)
        request, pending = self._new_request("OPTIONS", target, headers=headers)
        pending.report = True
        return request, self._start(pending, now)

    # --- REFER (RFC 3515, RFC 3891) ------------------------------------------------------------

    def refer(self, call: CallRef, now: float, target: Uri | Address | str, *,
              replaces: CallRef | None = None) -> tuple[SubscriptionRef, list[object]]:
        """Ask the peer of ``call`` to call ``target``: a transfer (RFC 3515, RFC 5589).

        Blind without ``replaces``; attended with it: the target replaces our other call
        ``replaces`` with the new one (RFC 5589 §7, RFC 3891). Progress comes as
        :class:`ReferProgress` events from the peer's NOTIFYs.
        """
        session = self.session(call)
        dialog = session.dialog
        if dialog is None or session.state is not InviteSessionState.CONFIRMED:
            raise UserAgentError(f"call {call} is not confirmed: nothing to transfer")
        address = target if isinstance(target, Address) else Address(
            parse_uri(target) if isinstance(target, str) else target)
        replaces_value = None
        if replaces is not None:
            other = self.session(replaces).dialog
            if other is None:
                raise UserAgentError(f"call {replaces} has no dialog to replace")
            replaces_value = other.replaces_value()
        headers = [("Refer-To", refer_to(address, replaces_value)),
                   ("Referred-By", Address(dialog.local.uri))]
        request = dialog.create_request("REFER", headers=headers)
        ref = SubscriptionRef(call, REFER_EVENT, str(request.cseq.seq))
        subscriber = Subscriber(SubscriptionKey(REFER_EVENT, ref.id),
                                expires=self.config.refer_expires,
                                t1=self.transactions.config.t1, refreshes=False, dialog=dialog)
        self._add_subscriber(ref, subscriber)
        pending = _Pending(request, session=session, subscriber=ref, report=True)
        return ref, self._send(pending, now)

    def refer_outside(self, target: Uri | Address | str, now: float,
                      refer_to_target: Uri | Address | str
                      ) -> tuple[SubscriptionRef, list[object]]:
        """Ask ``target`` (e.g. a conference URI) to call ``refer_to_target``, outside any dialog.

        RFC 3515 §2.4.2 allows a REFER outside a dialog; RFC 4579 §5.5 uses it to ask a focus
        to dial a participant out. The REFER creates a dialog of its own, in which the
        progress comes as :class:`ReferProgress` events (NOTIFY ``message/sipfrag``).
        """
        address = refer_to_target if isinstance(refer_to_target, Address) else Address(
            parse_uri(refer_to_target) if isinstance(refer_to_target, str) else refer_to_target)
        subscriber = Subscriber(SubscriptionKey(REFER_EVENT), expires=self.config.refer_expires,
                                t1=self.transactions.config.t1, refreshes=False)
        request, pending = self._new_request("REFER", target,
                                             headers=[("Refer-To", refer_to(address, None))])
        # No id: a NOTIFY carries the CSeq of the REFER it answers (RFC 3515 §2.4.6), and a
        # digest challenge makes us send the REFER again with another CSeq.
        ref = SubscriptionRef(_key(request.call_id, request.from_.tag or ""), REFER_EVENT)
        self._subscribe_requests[ref] = request
        self._add_subscriber(ref, subscriber)
        pending.subscriber = ref
        pending.report = True
        return ref, self._start(pending, now)

    def _refer_received(self, call: CallRef, dialog: Dialog, request: Request,
                        transaction: TransactionId, now: float) -> list[object]:
        try:
            target = ReferTarget.from_request(request)
        except ReferError as exc:
            return self._respond(transaction, request.response(exc.status_code, exc.reason), now)
        ref = SubscriptionRef(call, REFER_EVENT, str(request.cseq.seq))
        out = self._accept_refer(ref, dialog, request, transaction, now)
        out.append(ReferReceived(call, ref, target, request.first(h.REFERRED_BY)))
        return out

    def _accept_refer(self, ref: SubscriptionRef, dialog: Dialog, request: Request,
                      transaction: TransactionId, now: float) -> list[object]:
        """Answer 202 and start the REFER's implicit subscription (RFC 3515 §2.4.4, §2.4.5).

        Its first NOTIFY says ``100 Trying``; with ``Refer-Sub: false`` (RFC 4488) there is
        no subscription and no NOTIFY.
        """
        no_subscription = (request.get("Refer-Sub") or "").lower() == "false"
        headers = [("Refer-Sub", "false")] if no_subscription else []
        if request.to.tag is None:  # the REFER created this dialog
            response = request.response(202, to_tag=ref.dialog.local_tag,
                                        contact=dialog.local_contact, headers=headers)
        else:
            response = request.response(202, headers=headers)
        out = self._respond(transaction, response, now)
        notifier = self._notifiers.get(ref)
        if no_subscription:
            if notifier is not None:
                self._drop_notifier(ref)
            return out
        if notifier is None:
            notifier = Notifier(SubscriptionKey(REFER_EVENT, ref.id), dialog,
                                max_expires=self.config.refer_expires)
            self._add_notifier(ref, notifier)
        notifier.expires_at = now + self.config.refer_expires
        notifier.accept()
        notifier.set_state(bytes(SipFragStatus(100)), SIPFRAG)
        referred_by = request.first(h.REFERRED_BY)
        if referred_by is not None:
            self._referred_by[ref] = referred_by
        out.extend(self._send_notify(ref, notifier, now))
        return out

    def _incoming_refer(self, request: Request, transaction: TransactionId,
                        source: TransportAddress, now: float) -> list[object]:
        """A REFER outside a dialog, for the application to judge (:class:`ReferRequested`)."""
        try:
            target = ReferTarget.from_request(request)
        except ReferError as exc:
            return self._respond(transaction, request.response(exc.status_code, exc.reason), now)
        call = _key(request.call_id, new_tag())
        dialog = Dialog.for_uas(request, local_tag=call.local_tag,
                                local_contact=self._contact(source.transport), early=False)
        ref = SubscriptionRef(call, REFER_EVENT, str(request.cseq.seq))
        self._add_notifier(ref, Notifier(SubscriptionKey(REFER_EVENT, ref.id), dialog,
                                         max_expires=self.config.refer_expires))
        self._subscription_dialogs[call] = dialog
        self._subscribe_pending[ref] = (transaction, request)
        return [ReferRequested(ref, request, target, request.first(h.REFERRED_BY))]

    def accept_refer(self, subscription: SubscriptionRef, now: float) -> list[object]:
        """Accept a :class:`ReferRequested`: 202 and the first NOTIFY (``100 Trying``)."""
        waiting = self._subscribe_pending.pop(subscription, None)
        if waiting is None or subscription.package != REFER_EVENT:
            raise UserAgentError(f"REFER {subscription} is not waiting for an answer")
        transaction, request = waiting
        return self._accept_refer(subscription, self._notifier(subscription).dialog, request,
                                  transaction, now)

    def refuse_refer(self, subscription: SubscriptionRef, now: float, status: int = 403,
                     reason: str | None = None) -> list[object]:
        """Refuse a :class:`ReferRequested` with a final 4xx-6xx (no dialog is created)."""
        waiting = self._subscribe_pending.pop(subscription, None)
        if waiting is None or subscription.package != REFER_EVENT:
            raise UserAgentError(f"REFER {subscription} is not waiting for an answer")
        transaction, request = waiting
        self._drop_notifier(subscription)
        return self._respond(transaction, request.response(
            status, reason, to_tag=subscription.dialog.local_tag), now)

    def reject_refer(self, subscription: SubscriptionRef, now: float,
                     status: int = 603) -> list[object]:
        """We will not carry out the REFER: the final NOTIFY says ``status``."""
        return self._refer_final(subscription, SipFragStatus(status), now)

    def _refer_progress(self, ref: SubscriptionRef, event: object,
                        now: float) -> list[object]:
        """NOTIFY the referrer how the call we placed for its REFER fares (RFC 3515 §2.4.5)."""
        if isinstance(event, CallProgress) and event.status_code > 100:
            notifier = self._notifiers.get(ref)
            if notifier is None or notifier.terminated:
                return []
            notifier.set_state(bytes(SipFragStatus(event.status_code, event.reason)), SIPFRAG)
            return self._send_notify(ref, notifier, now)
        if isinstance(event, CallAnswered):
            return self._refer_final(ref, SipFragStatus(200), now)
        if isinstance(event, CallEnded):
            self._refer_calls.pop(event.call, None)
            if event.answered is None:
                return self._refer_final(ref, SipFragStatus(event.status_code or 487), now)
        return []

    def _refer_final(self, ref: SubscriptionRef, status: SipFragStatus,
                     now: float) -> list[object]:
        notifier = self._notifiers.get(ref)
        if notifier is None or notifier.terminated:
            return []
        notifier.set_state(bytes(status), SIPFRAG)
        notifier.terminate("noresource")
        return self._send_notify(ref, notifier, now)

    # --- subscriptions (RFC 6665) ------------------------------------------------------------

    def subscribe(self, target: Uri | Address | str, now: float, package: str, *,
                  expires: int = 3600, accept: Sequence[str] = ()
                  ) -> tuple[SubscriptionRef, list[object]]:
        """Subscribe to ``package`` at ``target``; NOTIFYs come as :class:`NotifyReceived`."""
        subscriber = Subscriber(SubscriptionKey(package.lower()), expires=expires,
                                t1=self.transactions.config.t1, accept=tuple(accept))
        request, pending = self._new_request(
            "SUBSCRIBE", target, headers=subscriber.subscribe_headers())
        ref = SubscriptionRef(_key(request.call_id, request.from_.tag or ""), package.lower())
        self._subscribe_requests[ref] = request
        self._add_subscriber(ref, subscriber)
        pending.subscriber = ref
        return ref, self._start(pending, now)

    # --- bookkeeping of subscriptions -----------------------------------------------------------

    def _add_subscriber(self, ref: SubscriptionRef, subscriber: Subscriber) -> None:
        self._subscribers[ref] = subscriber
        self._owners[id(subscriber)] = ref
        self._call_subscriptions.setdefault(ref.dialog, set()).add(ref)

    def _add_notifier(self, ref: SubscriptionRef, notifier: Notifier) -> None:
        self._notifiers[ref] = notifier
        self._owners[id(notifier)] = ref
        self._call_subscriptions.setdefault(ref.dialog, set()).add(ref)

    def _unindex(self, ref: SubscriptionRef) -> None:
        refs = self._call_subscriptions.get(ref.dialog)
        if refs is not None:
            refs.discard(ref)
            if not refs:
                del self._call_subscriptions[ref.dialog]

    def _drop_subscriber(self, ref: SubscriptionRef) -> None:
        subscriber = self._subscribers.pop(ref, None)
        if subscriber is None:
            return
        self._owners.pop(id(subscriber), None)
        self._unindex(ref)
        self._subscribe_requests.pop(ref, None)
        if ref.dialog not in self._sessions:
            self._subscription_dialogs.pop(ref.dialog, None)

    def _drop_notifier(self, ref: SubscriptionRef) -> None:
        notifier = self._notifiers.pop(ref, None)
        if notifier is None:
            return
        self._owners.pop(id(notifier), None)
        self._unindex(ref)
        self._subscribe_pending.pop(ref, None)
        self._referred_by.pop(ref, None)
        if ref.dialog not in self._sessions:
            self._subscription_dialogs.pop(ref.dialog, None)

    def unsubscribe(self, subscription: SubscriptionRef, now: float) -> list[object]:
        """End a subscription of ours (SUBSCRIBE with Expires: 0, RFC 6665 §4.1.2.3)."""
        subscriber = self._subscribers.get(subscription)
        if subscriber is None or subscriber.terminated:
            return []
        headers = subscriber.unsubscribe()
        self._lingering.append((now + 64 * self.transactions.config.t1, subscription))
        dialog = subscriber.dialog
        if dialog is None or dialog.terminated:
            return [SubscriptionEnded(subscription, "unsubscribed")]
        request = dialog.create_request("SUBSCRIBE", headers=headers)
        return [*self._send(_Pending(request, subscriber=subscription), now),
                SubscriptionEnded(subscription, "unsubscribed")]

    def _subscribe_outcome(self, ref: SubscriptionRef, response: Response,
                           now: float) -> list[object]:
        subscriber = self._subscribers.get(ref)
        status = response.status_code
        if subscriber is None or status < 200:
            return []
        if status < 300:
            if subscriber.dialog is None:
                request = self._subscribe_requests.get(ref)
                if request is not None and response.to.tag is not None:
                    subscriber.dialog = Dialog.for_uac(request, response)
                    self._subscription_dialogs[ref.dialog] = subscriber.dialog
            subscriber.accepted(response, now)
            self._schedule(subscriber)
            return []
        was_terminated = subscriber.terminated
        if not was_terminated:
            subscriber.refused()
        self._drop_subscriber(ref)
        if was_terminated:
            return []
        return [SubscriptionEnded(ref, "refused", status)]

    def _dialog_from_notify(self, call: CallRef, notify: Request) -> Dialog | None:
        """RFC 6665 §4.1.2.4: a NOTIFY may create the subscription's dialog before the 2xx."""
        for ref, subscriber in self._subscribers.items():
            if ref.dialog == call and subscriber.dialog is None:
                request = self._subscribe_requests.get(ref)
                if request is None or not request.contacts:
                    return None
                dialog = Dialog.for_uas(notify, local_tag=call.local_tag,
                                        local_contact=request.contacts[0], early=False)
                dialog.local_seq = request.cseq.seq
                dialog.remote_seq = None
                subscriber.dialog = dialog
                self._subscription_dialogs[call] = dialog
                return dialog
        return None

    def _find_subscriber(self, call: CallRef, key: SubscriptionKey
                         ) -> tuple[SubscriptionRef, Subscriber] | None:
        exact = SubscriptionRef(call, key.package, key.id)
        subscriber = self._subscribers.get(exact)
        if subscriber is not None:
            return exact, subscriber
        # RFC 3515 §2.4.6: a NOTIFY for the first REFER may carry no id; RFC 6665 §4.1.2.2:
        # a subscription without id matches a NOTIFY without id.
        for ref, candidate in self._subscribers.items():
            if ref.dialog == call and ref.package == key.package and (
                key.id is None or ref.id is None
            ):
                return ref, candidate
        return None

    def _notify_received(self, call: CallRef, dialog: Dialog, request: Request,
                         transaction: TransactionId, now: float) -> list[object]:
        key = SubscriptionKey.of(request)
        if key is None:
            return self._respond(transaction, request.response(400, "Missing Event Header"), now)
        found = self._find_subscriber(call, key)
        if found is None:
            return self._respond(transaction, request.response(481), now)
        ref, subscriber = found
        if subscriber.terminated:  # the last NOTIFYs after we unsubscribed (RFC 6665 §4.1.2.3)
            self._drop_subscriber(ref)
            return self._respond(transaction, request.response(200), now)
        notification = subscriber.receive_notify(request, now)
        if notification is None:
            return self._respond(transaction, request.response(
                400, "Bad Subscription-State"), now)
        out = self._respond(transaction, request.response(200), now)
        if ref.package == REFER_EVENT:
            try:
                status = SipFragStatus.parse(request.body)
            except ReferError:
                status = None
            if status is not None:
                out.append(ReferProgress(call, ref, status))
        else:
            out.append(NotifyReceived(ref, notification))
        if notification.state == "terminated":  # RFC 6665 §4.1.3: the subscription is over
            self._drop_subscriber(ref)
            out.append(SubscriptionEnded(ref, notification.reason or "terminated"))
        else:
            self._schedule(subscriber)
        return out

    def _subscriber_timer(self, subscriber: Subscriber, now: float) -> list[object]:
        ref = self._owners[id(subscriber)]
        headers = subscriber.handle_timer(now)
        if subscriber.terminated:
            self._drop_subscriber(ref)
            return [SubscriptionEnded(ref, "timeout")]
        out: list[object] = []
        if headers is not None and subscriber.dialog is not None:
            request = subscriber.dialog.create_request("SUBSCRIBE", headers=headers)
            out.extend(self._send(_Pending(request, subscriber=ref), now))
        self._schedule(subscriber)
        return out

    # --- the notifier side ------------------------------------------------------------------

    def _incoming_subscribe(self, request: Request, transaction: TransactionId,
                            source: TransportAddress, now: float) -> list[object]:
        key = SubscriptionKey.of(request)
        packages = tuple(p.lower() for p in self.config.event_packages)
        if key is None or key.package not in packages:
            return self._respond(transaction, request.response(
                489, headers=[("Allow-Events", ", ".join(packages) or REFER_EVENT)]), now)
        call = _key(request.call_id, new_tag())
        dialog = Dialog.for_uas(request, local_tag=call.local_tag,
                                local_contact=self._contact(source.transport), early=False)
        notifier = Notifier(key, dialog, max_expires=self.config.max_subscription_expires)
        ref = SubscriptionRef(call, key.package, key.id)
        expires = notifier.granted(request, now)
        self._add_notifier(ref, notifier)
        self._subscription_dialogs[call] = dialog
        self._subscribe_pending[ref] = (transaction, request)
        return [SubscriptionRequested(ref, request, expires)]

    def accept_subscription(self, subscription: SubscriptionRef, now: float, *,
                            pending: bool = False, body: bytes = b"",
                            content_type: str | None = None) -> list[object]:
        """Accept a requested subscription: 200, then the first NOTIFY with ``body``."""
        notifier = self._notifier(subscription)
        waiting = self._subscribe_pending.pop(subscription, None)
        if waiting is None:
            raise UserAgentError(f"subscription {subscription} is not waiting for an answer")
        transaction, request = waiting
        notifier.accept(pending=pending)
        notifier.set_state(body, content_type)
        remaining = 0 if notifier.expires_at is None else max(0, round(notifier.expires_at - now))
        response = request.response(200, to_tag=subscription.dialog.local_tag,
                                    contact=notifier.dialog.local_contact,
                                    headers=[("Expires", remaining)])
        return [*self._respond(transaction, response, now),
                *self._send_notify(subscription, notifier, now)]

    def reject_subscription(self, subscription: SubscriptionRef, now: float,
                            status: int = 403) -> list[object]:
        """Refuse a requested subscription with a final 4xx-6xx."""
        notifier = self._notifier(subscription)
        waiting = self._subscribe_pending.pop(subscription, None)
        if waiting is None:
            raise UserAgentError(f"subscription {subscription} is not waiting for an answer")
        transaction, request = waiting
        notifier.reject()
        self._drop_notifier(subscription)
        return self._respond(transaction, request.response(
            status, to_tag=subscription.dialog.local_tag), now)

    def notify(self, subscription: SubscriptionRef, now: float, body: bytes,
               content_type: str | None) -> list[object]:
        """Send the new state of a subscription we serve (RFC 6665 §4.2.2)."""
        notifier = self._notifier(subscription)
        if notifier.state not in (NotifierState.ACTIVE, NotifierState.PENDING):
            raise UserAgentError(f"subscription {subscription} is {notifier.state.value}")
        notifier.set_state(body, content_type)
        return self._send_notify(subscription, notifier, now)

    def set_subscription_state(self, subscription: SubscriptionRef, body: bytes,
                               content_type: str | None) -> None:
        """Record the state a refresh's NOTIFY reports, without sending anything now.

        RFC 6665 §4.2.1.2: the NOTIFY after a refreshing SUBSCRIBE carries the current state.
        For packages whose NOTIFYs carry changes (RFC 4575 partial documents), the last one
        sent is not the state: record the full document here after each change.
        """
        self._notifier(subscription).set_state(body, content_type)

    def end_subscription(self, subscription: SubscriptionRef, now: float, *,
                         reason: str = "noresource", body: bytes | None = None,
                         content_type: str | None = None) -> list[object]:
        """End a subscription we serve: the final NOTIFY with ``reason`` (RFC 6665 §4.2.2)."""
        notifier = self._notifier(subscription)
        if notifier.terminated:
            return []
        if body is not None:
            notifier.set_state(body, content_type)
        notifier.terminate(reason)
        return self._send_notify(subscription, notifier, now)

    def _notifier(self, subscription: SubscriptionRef) -> Notifier:
        notifier = self._notifiers.get(subscription)
        if notifier is None:
            raise UserAgentError(f"no subscription {subscription}")
        return notifier

    def _subscribe_in_dialog(self, call: CallRef, request: Request,
                             transaction: TransactionId, now: float) -> list[object]:
        key = SubscriptionKey.of(request)
        ref = None if key is None else SubscriptionRef(call, key.package, key.id)
        notifier = None if ref is None else self._notifiers.get(ref)
        if ref is None or notifier is None or notifier.terminated:
            return self._respond(transaction, request.response(481), now)
        expires = notifier.receive_subscribe(request, now)
        out = self._respond(transaction, request.response(200, headers=[("Expires", expires)]),
                            now)
        out.extend(self._send_notify(ref, notifier, now))
        if expires == 0:  # RFC 6665 §4.2.1.3: an unsubscribe; the NOTIFY above was the last
            out.append(SubscriptionEnded(ref, "unsubscribed"))
        return out

    def _send_notify(self, ref: SubscriptionRef, notifier: Notifier,
                     now: float) -> list[object]:
        dialog = notifier.dialog
        if dialog.terminated:
            return []
        request = dialog.create_request(
            "NOTIFY", headers=notifier.notify_headers(now), body=notifier.body,
            content_type=notifier.content_type if notifier.body else None)
        out = self._send(_Pending(request, notifier=ref), now)
        if notifier.terminated:
            self._drop_notifier(ref)
        else:
            self._schedule(notifier)
        return out

    def _notify_outcome(self, ref: SubscriptionRef, response: Response,
                        now: float) -> list[object]:
        notifier = self._notifiers.get(ref)
        if notifier is None or response.status_code not in (408, 481):
            return []
        notifier.notify_failed()
        self._drop_notifier(ref)
        return [SubscriptionEnded(ref, "notify failed", response.status_code)]

    def _notifier_timer(self, notifier: Notifier, now: float) -> list[object]:
        ref = self._owners[id(notifier)]
        if notifier.handle_timer(now):
            return [*self._send_notify(ref, notifier, now), SubscriptionEnded(ref, "timeout")]
        self._schedule(notifier)
        return []

