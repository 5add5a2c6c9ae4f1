"""Two invite sessions talking in memory, for the session-level tests.

The :class:`SessionLink` carries what the sessions ask for between a caller and a callee as
bytes (each message serialized and parsed again), doing only what sits between two
sessions in a real user agent: a Via per request, matching responses to the request they
answer, the callee's dialog CSeq check, and a CANCEL reaching a pending INVITE. Messages can be
held back and delivered later (or never) to play races and losses. Time moves by hand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sipperc.sdp import Codec, MediaCapabilities, OfferAnswer, TransportAddress
from sipperc.sip import Address, Request, new_tag, parse_message
from sipperc.sip.invite_session import (
    InviteSession,
    InviteSessionConfig,
    ReliableProvisionalMode,
    SendAck,
    SendCancel,
    SendRequest,
    SendResponse,
)
from sipperc.sip.user_agent_events import CallRef

PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
PLAIN = InviteSessionConfig(reliable_provisional=ReliableProvisionalMode.DISABLED,
                            session_timer=None)
"""No 100rel, no session timer: the RFC 3261 flows as they are drawn."""
RELIABLE = InviteSessionConfig(session_timer=None)
"""100rel supported (the default), no session timer."""
ALICE_CONTACT = Address.parse("<sip:alice@192.0.2.1:5060>")
BOB_CONTACT = Address.parse("<sip:bob@192.0.2.2:5060>")

_branches = itertools.count(1)
_transactions = itertools.count(1)
_ports = itertools.count(20000, 2)


def engine(host, *codecs):
    def transports(index, kind):
        return TransportAddress(host, next(_ports))

    caps = MediaCapabilities("audio", codecs or (PCMU, PCMA))
    return OfferAnswer(address=host, capabilities=[caps], transports=transports)


def wire(message):
    """What the peer receives: serialized and parsed again."""
    return parse_message(bytes(message))


def initial_invite(call_id="call-1@192.0.2.1", from_tag=None, headers=()):
    return Request.build(
        "INVITE", "sip:bob@192.0.2.2",
        from_=f"Alice <sip:alice@192.0.2.1>;tag={from_tag or new_tag()}",
        to="Bob <sip:bob@192.0.2.2>", call_id=call_id, cseq=1, contact=ALICE_CONTACT,
        headers=headers)


@dataclass
class Side:
    """One user agent's view: its session(s) and the events they produced."""

    name: str
    sessions: list = field(default_factory=list)
    events: list = field(default_factory=list)

    @property
    def session(self):
        return self.sessions[-1]

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


class SessionLink:
    """A caller session and the callee session(s) its INVITE creates, linked in memory."""

    def __init__(self, *, caller_config=None, callee_config=None, caller_engine=None,
                 callee_engine=None, offer=True, invite_headers=(), now=0.0):
        self.now = now
        self.caller = Side("caller")
        self.callee = Side("callee")
        self.caller_config = caller_config or PLAIN
        self.callee_config = callee_config or PLAIN
        self.callee_engine = callee_engine
        self.sent = []  # (sender name, message) in order
        self.times = []  # when each of them was sent
        self.held = []  # deliveries held back
        self.hold_filter = None
        self._client = {}  # Via branch -> (side, request as sent by the session)
        self._server = {}  # transaction key -> (side, request, final sent?)
        self._queue = []
        invite = initial_invite(headers=invite_headers)
        call = CallRef(invite.call_id, invite.from_.tag)
        session, actions = InviteSession.outgoing(
            call, invite, caller_engine or engine("192.0.2.1"), self.caller_config, now,
            offer=offer)
        self.caller.sessions.append(session)
        self.apply(self.caller, actions)

    # --- moving messages --------------------------------------------------------------------

    def apply(self, side, actions):
        for action in actions:
            if isinstance(action, SendRequest):
                self._send_request(side, action.request)
            elif isinstance(action, SendResponse):
                self._send_response(side, action.transaction, action.response)
            elif isinstance(action, SendAck):
                via = f"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{next(_branches)}"
                ack = action.ack.prepend("Via", via)
                self._enqueue(side, ack, lambda m, s=side: self._deliver_ack(s, m))
            elif isinstance(action, SendCancel):
                self._send_cancel(side, action.invite)
            else:
                side.events.append(action)

    def _other(self, side):
        return self.callee if side is self.caller else self.caller

    def _enqueue(self, side, message, deliver):
        self.sent.append((side.name, message))
        self.times.append(self.now)
        item = (side, message, deliver)
        if self.hold_filter is not None and self.hold_filter(side, message):
            self.held.append(item)
        else:
            self._queue.append(item)

    def _send_request(self, side, request):
        branch = f"z9hG4bK{next(_branches)}"
        self._client[branch] = (side, request)
        host = "192.0.2.1" if side is self.caller else "192.0.2.2"
        on_wire = request.prepend("Via", f"SIP/2.0/UDP {host}:5060;branch={branch}")
        self._enqueue(side, on_wire, lambda m, s=side: self._deliver_request(s, m))

    def _send_response(self, side, transaction, response):
        peer, request, _ = self._server[transaction]
        if response.status_code >= 200:
            self._server[transaction] = (peer, request, True)
        self._enqueue(side, response, self._deliver_response)

    def _send_cancel(self, side, invite):
        branch = next(b for b, (_, r) in self._client.items() if r is invite)
        cancel = invite.prepend("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}").cancel()
        self._enqueue(side, cancel, lambda _m, b=branch: self._deliver_cancel(b))

    def _deliver_request(self, sender, message):
        receiver = self._other(sender)
        key = f"t{next(_transactions)}"
        self._server[key] = (receiver, message, False)
        if receiver is self.callee and message.method == "INVITE" and message.to.tag is None:
            self.invite_on_wire = message
            call = CallRef(message.call_id, new_tag())
            session, actions = InviteSession.incoming(
                call, message, key, self.callee_engine or engine("192.0.2.2"),
                self.callee_config, BOB_CONTACT, self.now)
            receiver.sessions.append(session)
            self.apply(receiver, actions)
            return
        session = self.session_for(receiver, message)
        dialog = None if session is None else session.dialog_for(message)
        if dialog is None:
            self._send_response(receiver, key, message.response(481))
            return
        refusal = dialog.check_request(message)
        if refusal is not None:
            self._send_response(receiver, key, message.response(refusal))
            return
        self.apply(receiver, session.receive_request(message, key, self.now))

    def session_for(self, side, message):
        """The callee session a request is for (by To tag: several after forking)."""
        if side is self.caller:
            return side.session
        tag = message.to.tag
        return next((s for s in side.sessions if s.call.local_tag == tag), None)

    def fork(self, engine_=None):
        """A forking proxy reached a second callee: the same INVITE creates another session."""
        saved = self.callee_engine
        self.callee_engine = engine_ or engine("192.0.2.3")
        self._deliver_request(self.caller, self.invite_on_wire)
        self.callee_engine = saved
        self.flush()

    def _deliver_ack(self, sender, message):
        receiver = self._other(sender)
        session = self.session_for(receiver, message)
        if session is not None:
            self.apply(receiver, session.receive_ack(message, self.now))

    def _deliver_response(self, message):
        side, request = self._client[message.top_via.branch]
        self.apply(side, side.session.receive_response(request, message, self.now))

    def _deliver_cancel(self, branch):
        # The transaction layer answers the CANCEL; the INVITE gets 487 only while pending.
        for key, (receiver, request, final) in list(self._server.items()):
            if request.method == "INVITE" and request.top_via.branch == branch and not final:
                session = next(s for s in receiver.sessions if s._transaction == key)
                self.apply(receiver, session.receive_cancel(self.now))

    def flush(self):
        while self._queue:
            _, message, deliver = self._queue.pop(0)
            deliver(wire(message) if message is not None else None)

    def release(self, predicate=lambda sender, message: True):
        """Deliver held messages matching ``predicate`` (a function of (sender, message))."""
        keep = []
        for item in self.held:
            if predicate(item[0], item[1]):
                self._queue.append(item)
            else:
                keep.append(item)
        self.held = keep
        self.flush()

    def drop_held(self):
        self.held = []

    # --- time and commands ------------------------------------------------------------------------

    def advance(self, until):
        """Run every timer of every session up to ``until``, in order."""
        while True:
            deadlines = [(session.get_timer(), side, session)
                         for side in (self.caller, self.callee) for session in side.sessions]
            deadlines = [d for d in deadlines if d[0] is not None and d[0] <= until]
            if not deadlines:
                break
            deadline, side, session = min(deadlines, key=lambda item: item[0])
            self.now = max(self.now, deadline)
            self.apply(side, session.handle_timer(self.now))
            self.flush()
        self.now = until

    def do(self, side, command, *args, **kwargs):
        self.apply(side, getattr(side.session, command)(self.now, *args, **kwargs))
        self.flush()

    def methods(self, sender=None):
        """The start line (method or status) of each message sent, in order."""
        out = []
        for name, m in self.sent:
            if sender is None or name == sender:
                out.append(m.method if isinstance(m, Request) else m.status_code)
        return out
