"""The user agent on the Twisted edge: commands on the reactor's clock, events to a callback.

:class:`TwistedUserAgent` plugs a sans-I/O :class:`~sipperc.sip.user_agent.UserAgent` into a
:class:`~sipperc.sip.twisted_transport.SipService` as its transaction user, and gives the
application the user agent's commands without ``now`` and without effects to carry: each
command reads the reactor's clock, and what the user agent returns is sent and scheduled at
once. Events (:mod:`~sipperc.sip.user_agent_events`) go to ``on_event``; handlers may call
commands straight away (answer an :class:`IncomingCall`, hang up...).

:meth:`TwistedUserAgent.listen` builds the whole stack (transaction layer, sockets, user
agent) for tools such as ``sipperc responder`` and ``sipperc call``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sipperc.sdp import OfferAnswer
from sipperc.sip.headers import Address, Replaces
from sipperc.sip.message import Request
from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService, TlsConfig
from sipperc.sip.uri import SipUri, Uri
from sipperc.sip.user_agent import (
    ChallengeAnswerer,
    RequestChecker,
    UserAgent,
    UserAgentConfig,
)
from sipperc.sip.user_agent_events import CallRef, SubscriptionRef

__all__ = ["TwistedUserAgent"]


class TwistedUserAgent:
    """A :class:`UserAgent` driven by a :class:`SipService` (see the module documentation)."""

    def __init__(
        self,
        service: SipService,
        ua: UserAgent,
        on_event: Callable[[object], None] | None = None,
    ) -> None:
        if ua.transactions is not service.transactions:
            raise ValueError("the UserAgent must be built on the service's TransactionLayer")
        self.service = service
        self.ua = ua
        service.set_tu(ua)
        if on_event is not None:
            service.event_sink = on_event

    @classmethod
    def listen(
        cls,
        listen: Sequence[TransportAddress | str | ListeningPoint],
        offer_answer: Callable[[Request | None], OfferAnswer],
        config: UserAgentConfig | None = None,
        *,
        on_event: Callable[[object], None] | None = None,
        timers: TimerConfig | None = None,
        tls: TlsConfig | None = None,
        authenticator: ChallengeAnswerer | None = None,
        checker: RequestChecker | None = None,
        locate: Callable[[SipUri], Sequence[TransportAddress]] | None = None,
        reactor: Any = None,
    ) -> TwistedUserAgent:
        """A user agent listening on ``listen`` (``udp:127.0.0.1:5070``...), started.

        Port 0 picks a free port; :meth:`address` says which. Stop with :meth:`stop`.
        """
        points = [
            p if isinstance(p, ListeningPoint)
            else ListeningPoint(TransportAddress.parse(p) if isinstance(p, str) else p)
            for p in listen
        ]
        transactions = TransactionLayer(timers, TransportLayer())
        service = SipService(transactions, points, tls=tls, reactor=reactor)
        ua = UserAgent(transactions, offer_answer, config, authenticator=authenticator,
                       checker=checker, locate=locate)
        agent = cls(service, ua, on_event)
        service.startService()
        return agent

    def stop(self) -> Any:
        """Close the sockets (a Deferred when some close asynchronously)."""
        return self.service.stopService()

    def address(self, transport: str = "udp") -> TransportAddress:
        """Where we listen on ``transport`` (the real port once started)."""
        return self.service.transactions.transport.listening_point(transport).local

    def uri(self, user: str | None = None, transport: str = "udp") -> str:
        """A SIP URI reaching us: ``sip:user@host:port`` (``;transport=tcp`` for TCP)."""
        point = self.service.transactions.transport.listening_point(transport)
        return point.contact_uri(user or self.ua.config.user)

    def _now(self) -> float:
        return self.service.now()

    def _run(self, outputs: Iterable[object]) -> None:
        self.service.process(outputs, self._now())

    # --- calls --------------------------------------------------------------------------------

    def invite(
        self,
        target: Uri | Address | str,
        *,
        from_: Address | str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        offer: bool = True,
        offer_answer: OfferAnswer | None = None,
        replaces: Replaces | None = None,
        refer: SubscriptionRef | None = None,
    ) -> CallRef:
        """Place a call (see :meth:`UserAgent.invite`)."""
        call, outputs = self.ua.invite(target, self._now(), from_=from_, headers=headers,
                                       offer=offer, offer_answer=offer_answer,
                                       replaces=replaces, refer=refer)
        self._run(outputs)
        return call

    def ringing(self, call: CallRef, *, status: int = 180, early_media: bool = False,
                reliable: bool | None = None) -> None:
        """Send 180 (or 183 with early media) for an incoming call."""
        self._run(self.ua.ringing(call, self._now(), status=status, early_media=early_media,
                                  reliable=reliable))

    def answer(self, call: CallRef) -> None:
        """Answer an incoming call."""
        self._run(self.ua.answer(call, self._now()))

    def reject(self, call: CallRef, status: int = 486, reason: str | None = None) -> None:
        """Refuse an incoming call."""
        self._run(self.ua.reject(call, self._now(), status, reason))

    def hangup(self, call: CallRef) -> None:
        """End a call: CANCEL, reject or BYE as its state needs."""
        self._run(self.ua.hangup(call, self._now()))

    def shutdown(self) -> None:
        """End every call at once, before :meth:`stop` (see :meth:`UserAgent.shutdown`)."""
        self._run(self.ua.shutdown(self._now()))

    def reinvite(self, call: CallRef, *, offer: bool = True) -> None:
        """Re-INVITE with the engine's current offer."""
        self._run(self.ua.reinvite(call, self._now(), offer=offer))

    def update(self, call: CallRef, *, offer: bool = True) -> None:
        """UPDATE (RFC 3311)."""
        self._run(self.ua.update(call, self._now(), offer=offer))

    def hold(self, call: CallRef) -> None:
        """Put a call on hold."""
        self._run(self.ua.hold(call, self._now()))

    def resume(self, call: CallRef) -> None:
        """Take a call off hold."""
        self._run(self.ua.resume(call, self._now()))

    # --- requests -------------------------------------------------------------------------------

    def send_info(self, call: CallRef, body: bytes, content_type: str) -> Request:
        """INFO inside a call."""
        request, outputs = self.ua.send_info(call, self._now(), body, content_type)
        self._run(outputs)
        return request

    def send_dtmf(self, call: CallRef, signal: str, duration: int = 250) -> Request:
        """One DTMF key as INFO application/dtmf-relay."""
        request, outputs = self.ua.send_dtmf(call, self._now(), signal, duration)
        self._run(outputs)
        return request

    def send_message(self, target: CallRef | Uri | Address | str, body: bytes,
                     content_type: str = "text/plain;charset=utf-8") -> Request:
        """MESSAGE, inside a call or to a URI."""
        request, outputs = self.ua.send_message(target, self._now(), body, content_type)
        self._run(outputs)
        return request

    def options(self, target: CallRef | Uri | Address | str) -> Request:
        """OPTIONS; the answer comes as RequestCompleted."""
        request, outputs = self.ua.options(target, self._now())
        self._run(outputs)
        return request

    def refer(self, call: CallRef, target: Uri | Address | str, *,
              replaces: CallRef | None = None) -> SubscriptionRef:
        """Transfer the peer of ``call`` to ``target`` (attended with ``replaces``)."""
        ref, outputs = self.ua.refer(call, self._now(), target, replaces=replaces)
        self._run(outputs)
        return ref

    def refer_outside(self, target: Uri | Address | str,
                      refer_to_target: Uri | Address | str) -> SubscriptionRef:
        """Ask ``target`` to call ``refer_to_target`` with a REFER outside any dialog."""
        ref, outputs = self.ua.refer_outside(target, self._now(), refer_to_target)
        self._run(outputs)
        return ref

    def accept_refer(self, subscription: SubscriptionRef) -> None:
        """Accept a REFER outside a dialog (``ReferRequested``): 202 and the first NOTIFY."""
        self._run(self.ua.accept_refer(subscription, self._now()))

    def refuse_refer(self, subscription: SubscriptionRef, status: int = 403,
                     reason: str | None = None) -> None:
        """Refuse a REFER outside a dialog (``ReferRequested``) with a final response."""
        self._run(self.ua.refuse_refer(subscription, self._now(), status, reason))

    def reject_refer(self, subscription: SubscriptionRef, status: int = 603) -> None:
        """Decline a REFER we accepted (the final NOTIFY says ``status``)."""
        self._run(self.ua.reject_refer(subscription, self._now(), status))

    # --- subscriptions ----------------------------------------------------------------------------

    def subscribe(self, target: Uri | Address | str, package: str, *, expires: int = 3600,
                  accept: Sequence[str] = ()) -> SubscriptionRef:
        """Subscribe to an event package (RFC 6665)."""
        ref, outputs = self.ua.subscribe(target, self._now(), package, expires=expires,
                                         accept=accept)
        self._run(outputs)
        return ref

    def unsubscribe(self, subscription: SubscriptionRef) -> None:
        """End a subscription of ours."""
        self._run(self.ua.unsubscribe(subscription, self._now()))

    def accept_subscription(self, subscription: SubscriptionRef, *, pending: bool = False,
                            body: bytes = b"", content_type: str | None = None) -> None:
        """Accept a requested subscription and send its first NOTIFY."""
        self._run(self.ua.accept_subscription(subscription, self._now(), pending=pending,
                                              body=body, content_type=content_type))

    def reject_subscription(self, subscription: SubscriptionRef, status: int = 403) -> None:
        """Refuse a requested subscription."""
        self._run(self.ua.reject_subscription(subscription, self._now(), status))

    def notify(self, subscription: SubscriptionRef, body: bytes,
               content_type: str | None) -> None:
        """Send the new state of a subscription we serve."""
        self._run(self.ua.notify(subscription, self._now(), body, content_type))

    def set_subscription_state(self, subscription: SubscriptionRef, body: bytes,
                               content_type: str | None) -> None:
        """Record what a refresh's NOTIFY reports (see :meth:`UserAgent.set_subscription_state`)."""
        self.ua.set_subscription_state(subscription, body, content_type)

    def end_subscription(self, subscription: SubscriptionRef, *, reason: str = "noresource",
                         body: bytes | None = None, content_type: str | None = None) -> None:
        """End a subscription we serve with a final NOTIFY."""
        self._run(self.ua.end_subscription(subscription, self._now(), reason=reason, body=body,
                                           content_type=content_type))
