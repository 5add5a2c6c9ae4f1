"""RegistrationClient (RFC 3261 §10.2) against our registrar, in memory, time driven by hand."""

from __future__ import annotations

import itertools

import pytest

from sipperc.sip import Request, Response, parse_message
from sipperc.sip import headers as h
from sipperc.sip.digest import DigestAccount, DigestClient, DigestCredentials, DigestServer
from sipperc.sip.locate import Target
from sipperc.sip.registrar import Registrar, RegistrarTU
from sipperc.sip.registration import (
    _TRANSITIONS,
    Backoff,
    Registered,
    RegistrationClient,
    RegistrationFailed,
    RegistrationState,
    RegistrationTU,
    Unregistered,
    _Input,
)
from sipperc.sip.transaction_effects import SendMessage, TuEffect
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress

AOR = "sip:alice@example.com"
CONTACT = "<sip:alice@192.0.2.10:5062;transport=udp>"


def client(**kwargs) -> RegistrationClient:
    kwargs.setdefault("draw", lambda: 0.0)
    return RegistrationClient(AOR, [CONTACT], **kwargs)


def on_wire(request: Request) -> Request:
    """The request as the registrar receives it: with the transaction layer's Via."""
    sent = parse_message(
        bytes(request.prepend("Via", "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKx"))
    )
    assert isinstance(sent, Request)
    return sent


def requests(outputs) -> list[Request]:
    return [o for o in outputs if isinstance(o, Request)]


def events(outputs) -> list[object]:
    return [o for o in outputs if not isinstance(o, Request)]


def run(reg: RegistrationClient, registrar: Registrar, outputs, now: float) -> list[object]:
    """Deliver every REGISTER to the registrar and its response back; returns the events."""
    seen: list[object] = []
    pending = requests(outputs)
    seen += events(outputs)
    while pending:
        response = registrar.handle(on_wire(pending.pop(0)), now)
        outputs = reg.handle_response(response, now)
        pending += requests(outputs)
        seen += events(outputs)
    return seen


def test_register_builds_rfc3261_request_and_refreshes_before_expiry():
    registrar = Registrar(["example.com"], max_expires=600)
    reg = client(expires=3600, instance_id="urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    (first,) = reg.start(10.0)
    assert first.method == "REGISTER" and str(first.uri) == "sip:example.com"
    assert str(first.to.uri) == AOR and first.to.tag is None and first.from_.tag
    assert first.first(h.EXPIRES) == 3600 and first.cseq.seq == 1
    (contact,) = first.contacts
    assert contact.params.unquoted("+sip.instance") == (
        "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"
    )
    assert reg.state is RegistrationState.REGISTERING and reg.pending is first
    response = registrar.handle(on_wire(first), 10.0)
    (event,) = reg.handle_response(response, 10.0)
    assert event == Registered(expires=600, bindings=response.contacts)  # the registrar's cap
    assert reg.state is RegistrationState.REGISTERED and reg.registered_until == 610.0
    assert reg.get_timer() == 550.0  # 60 s margin
    assert reg.handle_timer(549.0) == []
    (refresh,) = reg.handle_timer(550.0)
    assert refresh.call_id == first.call_id and refresh.cseq.seq == 2
    assert refresh.from_.tag == first.from_.tag
    assert run(reg, registrar, [], 550.0) == []
    assert reg.handle_response(registrar.handle(on_wire(refresh), 551.0), 551.0)[0].expires == 600


def test_short_grants_refresh_at_half():
    reg = client()
    (request,) = reg.start(0.0)
    reg.handle_response(request.response(200, headers=[("Expires", 40)]), 0.0)
    assert reg.get_timer() == 20.0


def test_digest_challenge_then_refresh_authorized_up_front():
    server = DigestServer("example.com", {"alice-auth": "pw"}.get, b"s" * 32)
    registrar = Registrar(["example.com"], digest=server, may_register=lambda u, a: True)
    digest = DigestClient([DigestAccount("alice-auth", "pw", servers=("example.com",))])
    reg = client(digest=digest, expires=120)
    (first,) = reg.start(0.0)
    challenge = registrar.handle(on_wire(first), 0.0)
    assert challenge.status_code == 401
    (retry,) = reg.handle_response(challenge, 0.0)
    assert retry.cseq.seq == 2 and retry.get("Authorization") and "Via" not in retry
    assert reg.state is RegistrationState.REGISTERING
    (registered,) = reg.handle_response(registrar.handle(on_wire(retry), 0.0), 0.0)
    assert isinstance(registered, Registered)
    assert reg.get_timer() == 60.0
    (refresh,) = reg.handle_timer(60.0)
    assert refresh.cseq.seq == 3
    assert DigestCredentials.parse(refresh.first(h.AUTHORIZATION)).nc == 2
    (registered,) = reg.handle_response(registrar.handle(on_wire(refresh), 60.0), 60.0)
    assert isinstance(registered, Registered)
    # Refreshes go on after the nonce expired: the server says stale, the client answers.
    for now in (120.0, 180.0, 240.0, 300.0, 360.0):
        (refresh,) = reg.handle_timer(now)
        assert run(reg, registrar, [refresh], now) == [Registered(120, registered.bindings)]


def test_wrong_password_fails_and_backs_off():
    server = DigestServer("example.com", {"alice": "pw"}.get, b"s" * 32)
    registrar = Registrar(["example.com"], digest=server)
    digest = DigestClient([DigestAccount("alice", "bad", servers=("example.com",))])
    reg = client(digest=digest, draw=lambda: 0.5)
    seen = run(reg, registrar, reg.start(0.0), 0.0)
    assert seen == [RegistrationFailed(401, "Unauthorized", 22.5)]
    assert reg.state is RegistrationState.WAITING and reg.get_timer() == 22.5


def test_no_digest_client_means_a_challenge_is_a_failure():
    reg = client()
    (request,) = reg.start(0.0)
    (failed,) = reg.handle_response(request.response(407), 0.0)
    assert isinstance(failed, RegistrationFailed) and failed.status == 407


def test_interval_too_brief_retries_with_min_expires_once():
    registrar = Registrar(["example.com"], min_expires=1800)
    reg = client(expires=300)
    seen = run(reg, registrar, reg.start(0.0), 0.0)
    assert [type(e) for e in seen] == [Registered] and seen[0].expires == 1800
    assert reg.expires == 1800
    # A registrar repeating the same 423 is not obeyed forever.
    stubborn = client(expires=300)
    (request,) = stubborn.start(0.0)
    too_brief = request.response(423, headers=[("Min-Expires", 600)])
    (again,) = stubborn.handle_response(too_brief, 0.0)
    assert again.first(h.EXPIRES) == 600
    (failed,) = stubborn.handle_response(again.response(423, headers=[("Min-Expires", 600)]), 0.0)
    assert isinstance(failed, RegistrationFailed) and failed.status == 423
    (no_header,) = client().handle_response(request.response(423), 0.0) or [None]
    assert no_header is None  # a response to someone else's REGISTER is ignored


def test_failures_back_off_exponentially_and_honour_retry_after():
    draws = itertools.cycle([0.0, 0.5])
    reg = client(draw=lambda: next(draws), backoff=Backoff(base_time=10.0, max_time=50.0))
    now = 0.0
    delays = []
    reg.start(now)
    for _ in range(5):
        (failed,) = reg.handle_failure(408, "Request Timeout", now)
        delays.append(round(failed.retry_in, 2))
        now = reg.get_timer()
        (request,) = reg.handle_timer(now)
        assert request.method == "REGISTER"
    assert delays == [5.0, 15.0, 20.0, 37.5, 25.0]
    (unavailable,) = reg.handle_response(
        reg.pending.response(503, headers=[("Retry-After", "300 (maintenance);duration=60")]),
        now,
    )
    assert unavailable.retry_in == 300.0
    (request,) = reg.handle_timer(reg.get_timer())
    (registered,) = reg.handle_response(request.response(200), reg.get_timer() or 0.0)
    assert isinstance(registered, Registered) and registered.expires == 3600
    (request,) = reg.handle_timer(reg.get_timer())
    (failed,) = reg.handle_failure(503, "Service Unavailable", 0.0)
    assert failed.retry_in == 5.0  # the failure count started again after the success


def test_stop_unregisters_with_expires_zero():
    registrar = Registrar(["example.com"])
    reg = client()
    run(reg, registrar, reg.start(0.0), 0.0)
    assert registrar.location.lookup(AOR, 1.0)
    outputs = reg.stop(1.0)
    (unregister,) = requests(outputs)
    assert unregister.first(h.EXPIRES) == 0 and str(unregister.contacts[0].uri) in CONTACT
    assert reg.state is RegistrationState.UNREGISTERING and reg.get_timer() is None
    assert run(reg, registrar, outputs, 1.0) == [Unregistered()]
    assert reg.state is RegistrationState.STOPPED and reg.registered_until is None
    assert registrar.location.lookup(AOR, 1.0) == ()


def test_stop_all_bindings_sends_wildcard():
    registrar = Registrar(["example.com"])
    other = RegistrationClient(AOR, ["<sip:alice@198.51.100.1>"])
    run(other, registrar, other.start(0.0), 0.0)
    reg = client()
    run(reg, registrar, reg.start(0.0), 0.0)
    assert len(registrar.location.lookup(AOR, 0.0)) == 2
    outputs = reg.stop(1.0, all_bindings=True)
    assert requests(outputs)[0].get("Contact") == "*"
    assert run(reg, registrar, outputs, 1.0) == [Unregistered()]
    assert registrar.location.lookup(AOR, 1.0) == ()


def test_stop_while_registering_unregisters_after_the_response():
    registrar = Registrar(["example.com"])
    reg = client()
    (first,) = reg.start(0.0)
    assert reg.stop(0.5) == [] and reg.state is RegistrationState.STOPPING
    outputs = reg.handle_response(registrar.handle(on_wire(first), 1.0), 1.0)
    assert isinstance(outputs[0], Registered)
    (unregister,) = requests(outputs)
    assert unregister.first(h.EXPIRES) == 0
    assert run(reg, registrar, [unregister], 1.0) == [Unregistered()]
    assert registrar.location.lookup(AOR, 1.0) == ()


def test_failed_unregister_still_ends():
    reg = client()
    (request,) = reg.start(0.0)
    reg.handle_response(request.response(200), 0.0)
    (unregister,) = reg.stop(1.0)
    out = reg.handle_failure(408, "Request Timeout", 33.0)
    assert out == [RegistrationFailed(408, "Request Timeout", None), Unregistered(removed=False)]
    assert reg.state is RegistrationState.STOPPED
    assert reg.start(40.0)[0].cseq.seq == unregister.cseq.seq + 1  # restartable, same Call-ID


def test_unrelated_and_provisional_responses_are_ignored():
    reg = client()
    assert reg.handle_response(Response(200, "OK", []), 0.0) == []  # nothing outstanding
    (request,) = reg.start(0.0)
    assert reg.handle_response(request.response(100), 0.0) == []
    other = request.replace("CSeq", "99 REGISTER").response(200)
    assert reg.handle_response(other, 0.0) == []
    assert reg.handle_response(Response(200, "OK", []), 0.0) == []  # unreadable: no CSeq
    assert reg.state is RegistrationState.REGISTERING


def test_registrar_that_grants_nothing_is_a_failure():
    reg = client()
    (request,) = reg.start(0.0)
    (failed,) = reg.handle_response(
        request.response(200, contact=[CONTACT.replace(">", ">;expires=0")]), 0.0
    )
    assert isinstance(failed, RegistrationFailed) and failed.reason == "no binding granted"
    assert reg.state is RegistrationState.WAITING


def test_service_route_and_several_contacts():
    reg = RegistrationClient(AOR, [CONTACT, "<sip:alice@[2001:db8::10]>"], expires=120)
    (request,) = reg.start(0.0)
    assert len(request.contacts) == 2
    ok = request.response(
        200,
        contact=[CONTACT + ";expires=100", "<sip:alice@[2001:db8::10]>;expires=80"],
        headers=[("Service-Route", "<sip:edge.example.com;lr>")],
    )
    (event,) = reg.handle_response(ok, 0.0)
    assert event.expires == 80 and str(event.service_route[0].uri) == "sip:edge.example.com;lr"


def test_constructor_checks():
    with pytest.raises(ValueError):
        RegistrationClient("tel:+15551234", [CONTACT])
    with pytest.raises(ValueError):
        RegistrationClient(AOR, [])
    with pytest.raises(ValueError):
        RegistrationClient(AOR, [CONTACT], expires=0)
    with pytest.raises(ValueError):
        RegistrationClient(AOR, [CONTACT], registrar="sip:user@example.com")
    routed = RegistrationClient(AOR, [CONTACT], route=["<sip:proxy.example.net;lr>"])
    assert routed.hop == "proxy.example.net"
    (request,) = routed.start(0.0)
    assert str(request.route[0].uri) == "sip:proxy.example.net;lr"


# --- every (state, input) pair of the transition table -----------------------------------------


def _in_state(state: RegistrationState) -> RegistrationClient:
    reg = client()
    if state is RegistrationState.IDLE:
        return reg
    if state is RegistrationState.STOPPED:
        reg.stop(0.0)
        return reg
    (request,) = reg.start(0.0)
    if state is RegistrationState.REGISTERING:
        return reg
    if state is RegistrationState.STOPPING:
        reg.stop(0.0)
        return reg
    if state is RegistrationState.WAITING:
        reg.handle_failure(408, "Request Timeout", 0.0)
        return reg
    reg.handle_response(request.response(200), 0.0)
    if state is RegistrationState.REGISTERED:
        return reg
    assert state is RegistrationState.UNREGISTERING
    reg.stop(0.0)
    return reg


def _feed(reg: RegistrationClient, event: _Input) -> list[object]:
    pending = reg.pending
    if event is _Input.START:
        return reg.start(1.0)
    if event is _Input.STOP:
        return reg.stop(1.0)
    if event is _Input.TIMER:
        return reg.handle_timer(1e9)
    if event is _Input.FAILURE:
        return reg.handle_failure(408, "Request Timeout", 1.0)
    if pending is None:
        return reg.handle_response(Response(200, "OK", []), 1.0)
    if event is _Input.SUCCESS:
        return reg.handle_response(pending.response(200), 1.0)
    minimum = (pending.first(h.EXPIRES) or 0) + 100
    return reg.handle_response(pending.response(423, headers=[("Min-Expires", minimum)]), 1.0)


@pytest.mark.parametrize("state", list(RegistrationState))
@pytest.mark.parametrize("event", list(_Input))
def test_every_state_and_input(state, event):
    reg = _in_state(state)
    assert reg.state is state
    outputs = _feed(reg, event)
    expected = _TRANSITIONS.get((state, event))
    if event is _Input.RESUBMIT and state is RegistrationState.UNREGISTERING:
        expected = RegistrationState.STOPPED  # no 423 for Expires: 0: a plain failure
    if expected is None:
        assert outputs == [] and reg.state is state
        return
    assert reg.state is expected
    if expected in (
        RegistrationState.REGISTERING,
        RegistrationState.UNREGISTERING,
    ):
        assert reg.pending is not None and reg.pending in outputs
    if expected in (RegistrationState.REGISTERED, RegistrationState.WAITING):
        assert reg.get_timer() is not None and reg.pending is None
    if expected is RegistrationState.STOPPED:
        assert reg.pending is None and reg.get_timer() is None


# --- as transaction users over two real transaction layers, in memory --------------------------


class Network:
    """Transaction layers joined by an in-memory UDP wire, on a hand-driven clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.nodes: dict[TransportAddress, tuple[TransactionLayer, object]] = {}
        self.events: list[object] = []
        self.sent: list[tuple[TransportAddress, Request | Response]] = []

    def add(self, address: TransportAddress, make_tu) -> tuple[TransactionLayer, object]:
        layer = TransactionLayer(transport=TransportLayer([ListeningPoint(address)]))
        tu = make_tu(layer)
        self.nodes[address] = (layer, tu)
        return layer, tu

    def process(self, source: TransportAddress, outputs) -> None:
        _, tu = self.nodes[source]
        queue = list(outputs)
        while queue:
            item = queue.pop(0)
            if isinstance(item, SendMessage):
                self.sent.append((item.destination, item.message))
                target = self.nodes.get(item.destination)
                if target is None:
                    continue  # nobody listens there: lost
                wire = parse_message(bytes(item.message))
                self.process(item.destination, target[0].receive(wire, source, self.now))
            elif isinstance(item, TuEffect.__args__):
                queue.extend(tu.handle_effect(item, self.now))
            else:
                self.events.append(item)

    def run_until(self, end: float) -> None:
        while True:
            due = []
            for address, (layer, tu) in self.nodes.items():
                for owner, deadline in ((layer, layer.get_timer()), (tu, tu.get_timer())):
                    if deadline is not None and deadline <= end:
                        due.append((deadline, address, owner))
            if not due:
                self.now = end
                return
            deadline, address, owner = min(due, key=lambda d: d[0])
            self.now = max(self.now, deadline)
            self.process(address, owner.handle_timer(self.now))


PHONE = TransportAddress("udp", "192.0.2.10", 5062)
REGISTRAR_ADDRESS = TransportAddress("udp", "192.0.2.1", 5060)
SPARE = TransportAddress("udp", "192.0.2.2", 5060)
DEAD = TransportAddress("udp", "192.0.2.99", 5060)


def _target(address: TransportAddress) -> Target:
    return Target(address, "example.com")


def test_registration_tu_with_digest_refresh_and_stop_over_transaction_layers():
    server = DigestServer("example.com", {"alice": "pw"}.get, b"s" * 32, nonce_lifetime=3600)
    registrar = Registrar(["example.com"], digest=server, min_expires=60)
    net = Network()
    net.add(REGISTRAR_ADDRESS, lambda layer: RegistrarTU(layer, registrar))
    digest = DigestClient([DigestAccount("alice", "pw", servers=("example.com",))])
    reg = client(digest=digest, expires=300)
    _, tu = net.add(PHONE, lambda layer: RegistrationTU(layer, reg, [_target(REGISTRAR_ADDRESS)]))
    net.process(PHONE, tu.start(0.0))
    assert [type(e) for e in net.events] == [Registered]
    codes = [m.status_code for _, m in net.sent if isinstance(m, Response)]
    assert codes == [401, 200]
    (binding,) = registrar.location.lookup(AOR, 1.0)
    assert binding.source == PHONE  # where the REGISTER came from, for NAT traversal
    net.run_until(1000.0)  # refreshes at 240, 480, 720, 960: nonce reused, no more 401s
    assert [type(e) for e in net.events] == [Registered] * 5
    assert [m.status_code for _, m in net.sent if isinstance(m, Response)] == [401] + [200] * 5
    net.process(PHONE, tu.stop(net.now))
    assert isinstance(net.events[-1], Unregistered)
    assert registrar.location.lookup(AOR, net.now) == ()
    assert tu.get_timer() is None


def test_registration_tu_fails_over_on_timeout_and_503():
    net = Network()
    net.add(REGISTRAR_ADDRESS, lambda layer: RegistrarTU(layer, Registrar(["example.com"])))

    class Overloaded:
        def __init__(self, layer):
            self.layer = layer

        def handle_effect(self, effect, now):
            response = effect.request.response(503)
            return self.layer.send_response(effect.transaction, response, now)

        def get_timer(self):
            return None

    net.add(SPARE, Overloaded)
    targets = [_target(DEAD), _target(SPARE), _target(REGISTRAR_ADDRESS)]
    _, tu = net.add(PHONE, lambda layer: RegistrationTU(layer, client(), targets))
    net.process(PHONE, tu.start(0.0))
    assert net.events == []
    net.run_until(40.0)  # Timer F (64*T1 = 32 s) on the dead one, 503 from the spare
    assert [type(e) for e in net.events] == [Registered]
    destinations = [d for d, m in net.sent if isinstance(m, Request)]
    assert destinations[0] == DEAD and destinations[-2:] == [SPARE, REGISTRAR_ADDRESS]
    branches = {m.top_via.branch for _, m in net.sent if isinstance(m, Request)}
    assert len(branches) == 3  # a new transaction per target (RFC 3263 §4.3)


def test_registration_tu_reports_when_every_target_failed():
    net = Network()
    reg = client(draw=lambda: 0.0)
    _, tu = net.add(PHONE, lambda layer: RegistrationTU(layer, reg, [_target(DEAD)]))
    net.process(PHONE, tu.start(0.0))
    net.run_until(33.0)
    assert net.events == [RegistrationFailed(408, "Request Timeout", 15.0)]
    assert reg.state is RegistrationState.WAITING
    with pytest.raises(ValueError):
        RegistrationTU(TransactionLayer(), client(), [])


class Silent:
    def handle_effect(self, effect, now):
        return []

    def get_timer(self):
        return None


def test_registrar_tu_answers_options_and_refuses_other_methods():
    net = Network()
    layer, _ = net.add(REGISTRAR_ADDRESS, lambda layer: RegistrarTU(layer, Registrar(["x.org"])))
    phone_layer, _ = net.add(PHONE, lambda layer: Silent())
    for method, code in (("OPTIONS", 200), ("INVITE", 405)):
        request = Request.build(
            method,
            "sip:x.org",
            from_="<sip:a@x.org>;tag=1",
            to="<sip:x.org>",
            call_id=method,
            cseq=1,
        )
        _, effects = phone_layer.send_request(request, REGISTRAR_ADDRESS, 0.0)
        net.process(PHONE, effects)
        responses = [m for _, m in net.sent if isinstance(m, Response)]
        assert responses[-1].status_code == code and responses[-1].cseq.method == method
    assert RegistrarTU(layer, Registrar(["x.org"])).handle_timer(0.0) == []
