"""User agents on real transaction layers, connected in memory (aioquic's client_and_server).

Each :class:`Endpoint` is a :class:`UserAgent` on its own ``TransactionLayer`` with one UDP
listening point, processing effects as ``SipService`` does. The :class:`Network` carries the
bytes of every ``SendMessage`` to the endpoint listening at the destination, in order; it can
hold messages back (to play races), drop them (loss), and moves time by hand, firing every
timer of every layer and user agent in deadline order. A :class:`ForkingProxy` forwards an
INVITE to several endpoints, as a forking proxy in front of two phones would.
"""

from __future__ import annotations

import itertools
from collections import deque

from sipperc.sdp import Codec, MediaCapabilities, OfferAnswer
from sipperc.sdp import TransportAddress as MediaAddress
from sipperc.sip import Request, Response, parse_message
from sipperc.sip.invite_session import InviteSessionConfig, ReliableProvisionalMode
from sipperc.sip.transaction_effects import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionTimeout,
    TransportFailure,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.user_agent import UserAgent, UserAgentConfig

TU_EFFECTS = (RequestReceived, AckReceived, ResponseReceived, StrayResponse, TransactionTimeout,
              TransportFailure, CancelReceived)
PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
_ports = itertools.count(30000, 2)


def engines(host, *codecs):
    """An offer/answer factory for one endpoint: a new engine per call."""
    def make(_request):
        caps = MediaCapabilities("audio", codecs or (PCMU, PCMA))
        return OfferAnswer(address=host, capabilities=[caps],
                           transports=lambda index, kind: MediaAddress(host, next(_ports)))
    return make


PLAIN = InviteSessionConfig(reliable_provisional=ReliableProvisionalMode.DISABLED,
                            session_timer=None)


class Endpoint:
    """A user agent, its transaction layer, and the events it reported."""

    def __init__(self, network, name, host, port=5060, *, config=None, codecs=(), **ua_args):
        self.network = network
        self.name = name
        self.address = TransportAddress("udp", host, port)
        self.layer = TransactionLayer(transport=TransportLayer([ListeningPoint(self.address)]))
        config = config or UserAgentConfig(user=name, session=PLAIN)
        self.ua = UserAgent(self.layer, engines(host, *codecs), config, **ua_args)
        self.events = []
        network.endpoints[(host, port)] = self

    @property
    def uri(self):
        return f"sip:{self.name}@{self.address.host}:{self.address.port}"

    def process(self, outputs):
        queue = deque(outputs)
        while queue:
            effect = queue.popleft()
            if isinstance(effect, SendMessage):
                self.network.transmit(self.address, effect)
            elif isinstance(effect, TU_EFFECTS):
                queue.extendleft(reversed(list(self.ua.handle_effect(effect, self.network.now))))
            else:
                self.events.append(effect)

    def receive(self, message, source):
        self.process(self.layer.receive(message, source, self.network.now))

    def run(self, command, handle, *args, **kwargs):
        """Call a UserAgent command (``handle`` first, then now) and send what it returns."""
        result = getattr(self.ua, command)(handle, self.network.now, *args, **kwargs)
        if isinstance(result, tuple):
            created, outputs = result
            self.process(outputs)
            self.network.flush()
            return created
        self.process(result)
        self.network.flush()
        return None

    def deadlines(self):
        return [d for d in (self.layer.get_timer(), self.ua.get_timer()) if d is not None]

    def fire(self, now):
        self.process(self.layer.handle_timer(now))
        self.process(self.ua.handle_timer(now))

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def last(self, kind):
        found = self.of(kind)
        assert found, f"{self.name} saw no {kind.__name__}; events: {self.events}"
        return found[-1]


class ForkingProxy:
    """A stateless forking proxy (RFC 3261 §16.11) for tests.

    A request for us (no Route, or a Route naming us, which is popped: loose routing,
    §16.4) goes to every target when it starts a dialog, else to its Request-URI; our Via is
    added, and with ``record_route`` a Record-Route too (§16.6 step 4). Responses go back
    along the Via.
    """

    def __init__(self, network, host, port, targets, *, record_route=False):
        self.network = network
        self.address = TransportAddress("udp", host, port)
        self.targets = targets
        self.record_route = record_route
        self.uri = f"sip:{host}:{port};lr"
        network.endpoints[(host, port)] = self

    def receive(self, message, source):
        if isinstance(message, Response):
            rest = message.remove_first_value("Via")
            top = rest.top_via
            host = top.received or top.host
            port = top.rport or top.port or 5060
            self.network.transmit(self.address, SendMessage(rest, TransportAddress(
                "udp", host, port)))
            return
        top = message.top_via
        if top.received is None and top.host != source.host:
            message = message.remove_first_value("Via").prepend(
                "Via", top.with_params(top.params.with_param("received", source.host)))
        routes = message.route
        if routes and routes[0].uri.host_key == self.address.host and \
                routes[0].uri.port == self.address.port:
            message = message.remove_first_value("Route")
        if message.to.tag is None and message.method in ("INVITE", "CANCEL", "ACK"):
            destinations = [t.address for t in self.targets]
        else:
            uri = message.route[0].uri if message.route else message.uri
            destinations = [TransportAddress("udp", uri.host_key, uri.port or 5060)]
        if self.record_route and message.method == "INVITE" and message.to.tag is None:
            message = message.prepend("Record-Route", f"<{self.uri}>")
        for index, destination in enumerate(destinations):
            via = (f"SIP/2.0/UDP {self.address.host}:{self.address.port}"
                   f";branch={top.branch}.{index}")
            forwarded = message.prepend("Via", via)
            self.network.transmit(self.address, SendMessage(forwarded, destination))

    def deadlines(self):
        return []


class Network:
    """Carries datagrams between endpoints in order; time moves by hand."""

    def __init__(self, now=0.0):
        self.now = now
        self.endpoints = {}
        self.queue = deque()
        self.held = []
        self.log = []  # (time, source name, message) of everything transmitted
        self.hold = None  # predicate(source, message) -> hold back
        self.drop = None  # predicate(source, message) -> lose

    def name_of(self, address):
        endpoint = self.endpoints.get((address.host, address.port))
        return getattr(endpoint, "name", "proxy")

    def transmit(self, source, effect):
        message = effect.message
        self.log.append((self.now, self.name_of(source), message))
        if self.drop is not None and self.drop(source, message):
            return
        item = (source, effect.destination, bytes(message))
        if self.hold is not None and self.hold(source, message):
            self.held.append(item)
        else:
            self.queue.append(item)

    def flush(self):
        while self.queue:
            source, destination, data = self.queue.popleft()
            endpoint = self.endpoints.get((destination.host, destination.port))
            if endpoint is not None:
                endpoint.receive(parse_message(data), source)

    def release(self):
        self.queue.extend(self.held)
        self.held = []
        self.flush()

    def advance(self, until):
        """Fire every timer due up to ``until``, in order, delivering what each sends."""
        self.flush()
        while True:
            due = [(d, e) for e in list(self.endpoints.values()) for d in e.deadlines()
                   if d <= until]
            if not due:
                break
            deadline, endpoint = min(due, key=lambda item: item[0])
            self.now = max(self.now, deadline)
            endpoint.fire(self.now)
            self.flush()
        self.now = until

    def trace(self, *names):
        """What was sent, as start lines (method, or status code), optionally by sender."""
        return [m.method if isinstance(m, Request) else m.status_code
                for _, name, m in self.log if not names or name in names]


def client_and_server(client_args=None, server_args=None):
    """Two user agents on 127.0.0.1 (ports 5061 and 5062) and the network between them."""
    network = Network()
    alice = Endpoint(network, "alice", "127.0.0.1", 5061, **(client_args or {}))
    bob = Endpoint(network, "bob", "127.0.0.1", 5062, **(server_args or {}))
    return network, alice, bob
