"""The transition table (every pair is exercised through a connection in test_connection)."""

from __future__ import annotations

from sipperc.dtls.handshake import HandshakeType
from sipperc.dtls.state import CONNECTED, TRANSITIONS, State, transition


def test_table_shape() -> None:
    for (state, message), (after, epoch) in TRANSITIONS.items():
        assert state is not State.CLOSED and after is not State.CLOSED
        assert state.name.split("_")[0] == after.name.split("_")[0]  # roles never cross
        # Finished and everything after the handshake are protected (epoch 1).
        assert epoch == (1 if message is HandshakeType.FINISHED or state in CONNECTED else 0)


def test_happy_paths_reach_connected() -> None:
    client = [HandshakeType.HELLO_VERIFY_REQUEST, HandshakeType.SERVER_HELLO,
              HandshakeType.CERTIFICATE, HandshakeType.SERVER_KEY_EXCHANGE,
              HandshakeType.CERTIFICATE_REQUEST, HandshakeType.SERVER_HELLO_DONE,
              HandshakeType.FINISHED, HandshakeType.EKT_KEY]
    state = State.CLIENT_WAIT_SERVER_HELLO
    for message in client:
        step = transition(state, message)
        assert step is not None, (state, message)
        state = step[0]
    assert state is State.CLIENT_CONNECTED
    server = [HandshakeType.CLIENT_HELLO, HandshakeType.CERTIFICATE,
              HandshakeType.CLIENT_KEY_EXCHANGE, HandshakeType.CERTIFICATE_VERIFY,
              HandshakeType.FINISHED]
    state = State.SERVER_WAIT_CLIENT_HELLO
    for message in server:
        step = transition(state, message)
        assert step is not None
        state = step[0]
    assert state is State.SERVER_CONNECTED


def test_out_of_order_is_not_in_the_table() -> None:
    assert transition(State.CLIENT_WAIT_SERVER_HELLO, HandshakeType.FINISHED) is None
    assert transition(State.SERVER_CONNECTED, HandshakeType.EKT_KEY) is None
    assert transition(State.CLIENT_WAIT_CERTIFICATE, HandshakeType.SERVER_HELLO_DONE) is None
