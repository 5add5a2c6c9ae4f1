"""Every (state, input) pair of the four RFC 3261 §17 machines, against the RFC's figures.

The expectations below are written from RFC 3261 Figures 5-8 with RFC 6026's Accepted
states, independently of the tables in sipperc.sip.transactions; each line names the state,
the input, the next state and the effects in order ("!" = the TU is refused).
"""

from __future__ import annotations

from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_effects import SendMessage, TransactionId
from sipperc.sip.transactions import (
    ClientInviteInput,
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteInput,
    ClientNonInviteState,
    ClientNonInviteTransaction,
    ServerInviteInput,
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteInput,
    ServerNonInviteState,
    ServerNonInviteTransaction,
    Timer,
    TransactionStateError,
)
from sipperc.sip.transport_address import TransportAddress
from tests.sip.txn_helpers import request, response_to

UDP = TransportAddress("udp", "192.0.2.2", 5060)
TCP = TransportAddress("tcp", "192.0.2.2", 5060)

CLIENT_INVITE = """
CALLING PROVISIONAL -> PROCEEDING ResponseReceived
CALLING SUCCESS -> ACCEPTED ResponseReceived
CALLING FAILURE -> COMPLETED Send:ACK ResponseReceived
CALLING TIMER_A -> CALLING Send:INVITE
CALLING TIMER_B -> TERMINATED TransactionTimeout
CALLING TIMER_D -> CALLING
CALLING TIMER_M -> CALLING
CALLING TRANSPORT_ERROR -> TERMINATED TransportFailure
PROCEEDING PROVISIONAL -> PROCEEDING ResponseReceived
PROCEEDING SUCCESS -> ACCEPTED ResponseReceived
PROCEEDING FAILURE -> COMPLETED Send:ACK ResponseReceived
PROCEEDING TIMER_A -> PROCEEDING
PROCEEDING TIMER_B -> PROCEEDING
PROCEEDING TIMER_D -> PROCEEDING
PROCEEDING TIMER_M -> PROCEEDING
PROCEEDING TRANSPORT_ERROR -> TERMINATED TransportFailure
ACCEPTED PROVISIONAL -> ACCEPTED
ACCEPTED SUCCESS -> ACCEPTED ResponseReceived
ACCEPTED FAILURE -> ACCEPTED
ACCEPTED TIMER_A -> ACCEPTED
ACCEPTED TIMER_B -> ACCEPTED
ACCEPTED TIMER_D -> ACCEPTED
ACCEPTED TIMER_M -> TERMINATED
ACCEPTED TRANSPORT_ERROR -> ACCEPTED
COMPLETED PROVISIONAL -> COMPLETED
COMPLETED SUCCESS -> COMPLETED
COMPLETED FAILURE -> COMPLETED Send:ACK
COMPLETED TIMER_A -> COMPLETED
COMPLETED TIMER_B -> COMPLETED
COMPLETED TIMER_D -> TERMINATED
COMPLETED TIMER_M -> COMPLETED
COMPLETED TRANSPORT_ERROR -> TERMINATED
"""

CLIENT_NON_INVITE = """
TRYING PROVISIONAL -> PROCEEDING ResponseReceived
TRYING FINAL -> COMPLETED ResponseReceived
TRYING TIMER_E -> TRYING Send:OPTIONS
TRYING TIMER_F -> TERMINATED TransactionTimeout
TRYING TIMER_K -> TRYING
TRYING TRANSPORT_ERROR -> TERMINATED TransportFailure
PROCEEDING PROVISIONAL -> PROCEEDING ResponseReceived
PROCEEDING FINAL -> COMPLETED ResponseReceived
PROCEEDING TIMER_E -> PROCEEDING Send:OPTIONS
PROCEEDING TIMER_F -> TERMINATED TransactionTimeout
PROCEEDING TIMER_K -> PROCEEDING
PROCEEDING TRANSPORT_ERROR -> TERMINATED TransportFailure
COMPLETED PROVISIONAL -> COMPLETED
COMPLETED FINAL -> COMPLETED
COMPLETED TIMER_E -> COMPLETED
COMPLETED TIMER_F -> COMPLETED
COMPLETED TIMER_K -> TERMINATED
COMPLETED TRANSPORT_ERROR -> COMPLETED
"""

SERVER_INVITE = """
PROCEEDING REQUEST -> PROCEEDING
PROCEEDING ACK -> PROCEEDING
PROCEEDING TU_PROVISIONAL -> PROCEEDING Send:180
PROCEEDING TU_SUCCESS -> ACCEPTED Send:200
PROCEEDING TU_FAILURE -> COMPLETED Send:486
PROCEEDING TIMER_TRYING -> PROCEEDING Send:100
PROCEEDING TIMER_G -> PROCEEDING
PROCEEDING TIMER_H -> PROCEEDING
PROCEEDING TIMER_I -> PROCEEDING
PROCEEDING TIMER_L -> PROCEEDING
PROCEEDING TRANSPORT_ERROR -> TERMINATED TransportFailure
ACCEPTED REQUEST -> ACCEPTED
ACCEPTED ACK -> ACCEPTED AckReceived
ACCEPTED TU_PROVISIONAL -> !
ACCEPTED TU_SUCCESS -> ACCEPTED Send:200
ACCEPTED TU_FAILURE -> !
ACCEPTED TIMER_TRYING -> ACCEPTED
ACCEPTED TIMER_G -> ACCEPTED
ACCEPTED TIMER_H -> ACCEPTED
ACCEPTED TIMER_I -> ACCEPTED
ACCEPTED TIMER_L -> TERMINATED
ACCEPTED TRANSPORT_ERROR -> TERMINATED TransportFailure
COMPLETED REQUEST -> COMPLETED Send:486
COMPLETED ACK -> CONFIRMED
COMPLETED TU_PROVISIONAL -> !
COMPLETED TU_SUCCESS -> !
COMPLETED TU_FAILURE -> !
COMPLETED TIMER_TRYING -> COMPLETED
COMPLETED TIMER_G -> COMPLETED Send:486
COMPLETED TIMER_H -> TERMINATED TransactionTimeout
COMPLETED TIMER_I -> COMPLETED
COMPLETED TIMER_L -> COMPLETED
COMPLETED TRANSPORT_ERROR -> TERMINATED TransportFailure
CONFIRMED REQUEST -> CONFIRMED
CONFIRMED ACK -> CONFIRMED
CONFIRMED TU_PROVISIONAL -> !
CONFIRMED TU_SUCCESS -> !
CONFIRMED TU_FAILURE -> !
CONFIRMED TIMER_TRYING -> CONFIRMED
CONFIRMED TIMER_G -> CONFIRMED
CONFIRMED TIMER_H -> CONFIRMED
CONFIRMED TIMER_I -> TERMINATED
CONFIRMED TIMER_L -> CONFIRMED
CONFIRMED TRANSPORT_ERROR -> CONFIRMED
TERMINATED TU_PROVISIONAL -> !
TERMINATED TU_SUCCESS -> !
TERMINATED TU_FAILURE -> !
"""

SERVER_NON_INVITE = """
TRYING REQUEST -> TRYING
TRYING TU_PROVISIONAL -> PROCEEDING Send:100
TRYING TU_FINAL -> COMPLETED Send:200
TRYING TIMER_J -> TRYING
TRYING TRANSPORT_ERROR -> TERMINATED TransportFailure
PROCEEDING REQUEST -> PROCEEDING Send:100
PROCEEDING TU_PROVISIONAL -> PROCEEDING Send:100
PROCEEDING TU_FINAL -> COMPLETED Send:200
PROCEEDING TIMER_J -> PROCEEDING
PROCEEDING TRANSPORT_ERROR -> TERMINATED TransportFailure
COMPLETED REQUEST -> COMPLETED Send:200
COMPLETED TU_PROVISIONAL -> !
COMPLETED TU_FINAL -> !
COMPLETED TIMER_J -> TERMINATED
COMPLETED TRANSPORT_ERROR -> TERMINATED
TERMINATED TU_PROVISIONAL -> !
TERMINATED TU_FINAL -> !
"""


def parse_spec(text: str, states: type[Enum], inputs: type[Enum]) -> dict:
    spec: dict = {}
    for line in text.strip().splitlines():
        left, _, right = line.partition(" -> ")
        state, event = left.split()
        words = right.split()
        if words == ["!"]:
            spec[(states[state], inputs[event])] = None
        else:
            spec[(states[state], inputs[event])] = (states[words[0]], tuple(words[1:]))
    for event in inputs:  # Terminated ignores what the spec does not list
        spec.setdefault((states["TERMINATED"], event), (states["TERMINATED"], ()))
    return spec


class Machine:
    """One transaction type: how to build it, reach each state and make each input."""

    def __init__(self, cls, states, inputs, spec, method, paths, messages):
        self.cls, self.states, self.inputs = cls, states, inputs
        self.spec = parse_spec(spec, states, inputs)
        self.method, self.paths, self.messages = method, paths, messages

    def new(self, destination=UDP):
        req = request(self.method)
        scheduled: list = []
        txn = self.cls(
            TransactionId("z9hG4bKclient1", self.method), req, destination, TimerConfig(),
            lambda t, timer, deadline: scheduled.append((timer, deadline)),
        )
        txn.start(0.0)
        return txn, req

    def reach(self, state, destination=UDP):
        txn, req = self.new(destination)
        for name in self.paths[state.name]:
            self.feed(txn, req, self.inputs[name])
        assert txn.state is state
        return txn, req

    def feed(self, txn, req, event):
        message = self.messages.get(event.name, lambda r: None)(req)
        source = UDP if event.name == "ACK" else None
        return txn.handle(event, 1.0, message, source, "connection refused")


def describe(effect) -> str:
    if isinstance(effect, SendMessage):
        m = effect.message
        return f"Send:{getattr(m, 'method', None) or m.status_code}"
    return type(effect).__name__


MACHINES = {
    "client-invite": Machine(
        ClientInviteTransaction, ClientInviteState, ClientInviteInput, CLIENT_INVITE, "INVITE",
        {"CALLING": [], "PROCEEDING": ["PROVISIONAL"], "ACCEPTED": ["SUCCESS"],
         "COMPLETED": ["FAILURE"], "TERMINATED": ["TIMER_B"]},
        {"PROVISIONAL": lambda r: response_to(r, 180), "SUCCESS": lambda r: response_to(r, 200),
         "FAILURE": lambda r: response_to(r, 486)},
    ),
    "client-non-invite": Machine(
        ClientNonInviteTransaction, ClientNonInviteState, ClientNonInviteInput, CLIENT_NON_INVITE,
        "OPTIONS",
        {"TRYING": [], "PROCEEDING": ["PROVISIONAL"], "COMPLETED": ["FINAL"],
         "TERMINATED": ["TIMER_F"]},
        {"PROVISIONAL": lambda r: response_to(r, 100), "FINAL": lambda r: response_to(r, 200)},
    ),
    "server-invite": Machine(
        ServerInviteTransaction, ServerInviteState, ServerInviteInput, SERVER_INVITE, "INVITE",
        {"PROCEEDING": [], "ACCEPTED": ["TU_SUCCESS"], "COMPLETED": ["TU_FAILURE"],
         "CONFIRMED": ["TU_FAILURE", "ACK"], "TERMINATED": ["TRANSPORT_ERROR"]},
        {"REQUEST": lambda r: r, "ACK": lambda r: r.ack_for(response_to(r, 486)),
         "TU_PROVISIONAL": lambda r: response_to(r, 180),
         "TU_SUCCESS": lambda r: response_to(r, 200),
         "TU_FAILURE": lambda r: response_to(r, 486)},
    ),
    "server-non-invite": Machine(
        ServerNonInviteTransaction, ServerNonInviteState, ServerNonInviteInput, SERVER_NON_INVITE,
        "OPTIONS",
        {"TRYING": [], "PROCEEDING": ["TU_PROVISIONAL"], "COMPLETED": ["TU_FINAL"],
         "TERMINATED": ["TRANSPORT_ERROR"]},
        {"REQUEST": lambda r: r, "TU_PROVISIONAL": lambda r: response_to(r, 100),
         "TU_FINAL": lambda r: response_to(r, 200)},
    ),
}

PAIRS = [
    (name, state, event)
    for name, machine in MACHINES.items()
    for state in machine.states
    for event in machine.inputs
]


@pytest.mark.parametrize("name", MACHINES)
def test_the_spec_and_the_table_cover_every_pair(name):
    machine = MACHINES[name]
    pairs = {(s, i) for s in machine.states for i in machine.inputs}
    assert set(machine.spec) == pairs
    assert set(machine.cls.TABLE) == pairs


@pytest.mark.parametrize(("name", "state", "event"), PAIRS, ids=lambda v: getattr(v, "name", v))
def test_every_state_and_input(name, state, event):
    machine = MACHINES[name]
    txn, req = machine.reach(state)
    expected = machine.spec[(state, event)]
    if expected is None:
        with pytest.raises(TransactionStateError, match=state.name):
            machine.feed(txn, req, event)
        assert txn.state is state
        return
    effects = machine.feed(txn, req, event)
    assert (txn.state, tuple(describe(e) for e in effects)) == expected


ALLOWED_TIMERS = {
    ClientInviteState.CALLING: {Timer.A, Timer.B},
    ClientInviteState.ACCEPTED: {Timer.M},
    ClientInviteState.COMPLETED: {Timer.D},
    ClientNonInviteState.TRYING: {Timer.E, Timer.F},
    ClientNonInviteState.PROCEEDING: {Timer.E, Timer.F},
    ClientNonInviteState.COMPLETED: {Timer.K},
    ServerInviteState.PROCEEDING: {Timer.TRYING},
    ServerInviteState.ACCEPTED: {Timer.L},
    ServerInviteState.COMPLETED: {Timer.G, Timer.H},
    ServerInviteState.CONFIRMED: {Timer.I},
    ServerNonInviteState.COMPLETED: {Timer.J},
}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(MACHINES)),
    st.booleans(),
    st.lists(st.integers(min_value=0, max_value=20), max_size=12),
)
def test_random_input_sequences_follow_the_spec(name, reliable, picks):
    """Model-based (as h2 does): any sequence of inputs behaves as the spec says, and only
    the timers of the current state run; over TCP no retransmission timer ever runs and the
    states that only absorb retransmissions end at once."""
    machine = MACHINES[name]
    txn, req = machine.new(TCP if reliable else UDP)
    inputs = list(machine.inputs)
    timers = {v: k for k, v in machine.cls.TIMER_INPUTS.items()}
    for pick in picks:
        event = inputs[pick % len(inputs)]
        if event in timers and timers[event] not in txn.deadlines:
            continue  # only a running timer can fire
        state = txn.state
        last = txn.last_response
        expected = machine.spec[(state, event)]
        if expected is None:
            with pytest.raises(TransactionStateError):
                machine.feed(txn, req, event)
            continue
        effects = machine.feed(txn, req, event)
        next_state, names = expected
        if reliable and next_state.name in ("COMPLETED", "CONFIRMED") and next_state != state:
            # Timer D/I/J/K are zero: straight through to Terminated, unless a timer still
            # has work (Timer H waits for the ACK to a non-2xx INVITE response).
            if not (name == "server-invite" and next_state.name == "COMPLETED"):
                next_state = machine.states["TERMINATED"]
        elif event.name == "REQUEST":  # a retransmission gets the last response, if any
            resends = state.name in ("PROCEEDING", "COMPLETED") and name.startswith("server")
            assert [e.message for e in effects] == ([last] if resends and last else [])
        elif event.name == "TIMER_TRYING":  # unless the TU answered already
            assert tuple(describe(e) for e in effects) == (() if last else names)
        else:
            assert tuple(describe(e) for e in effects) == names
        assert txn.state is next_state
        assert set(txn.deadlines) <= ALLOWED_TIMERS.get(txn.state, set())
        if reliable:
            assert not set(txn.deadlines) & {Timer.A, Timer.E, Timer.G}
        if txn.terminated:
            assert not txn.deadlines
        if txn.state not in machine.cls.REQUEST_STATES:  # nothing retained past its use
            assert txn.request is None
