"""The handshake state machine as one table (RFC 5246 §7.3, RFC 6347 §4.2.4).

``TRANSITIONS[(state, message)]`` gives the state after accepting ``message`` and the epoch the
message must arrive in. A message that has no entry for the current state is answered with a
fatal ``unexpected_message`` alert (RFC 5246 §7.3: "Sending handshake messages out of order
results in a fatal error"). ChangeCipherSpec is not an input here: DTLS may lose or reorder it,
so the switch to epoch 1 is proved by the Finished arriving in epoch 1 under the new keys.

Full handshake with cookie (RFC 6347 §4.2.1), client certificate requested (RFC 5763 §5)::

    Client                                   Server
    ClientHello            -------->
                           <--------         HelloVerifyRequest
    ClientHello (cookie)   -------->
                                             ServerHello, Certificate, ServerKeyExchange,
                           <--------         CertificateRequest, ServerHelloDone
    Certificate, ClientKeyExchange, CertificateVerify,
    [ChangeCipherSpec], Finished -------->
                           <--------         [ChangeCipherSpec], Finished
                           <--------         EKTKey (epoch 1, RFC 8870 §5.2.2)
    ACK                    -------->
"""

from __future__ import annotations

import enum

from sipperc.dtls.handshake import HandshakeType as H


class State(enum.Enum):
    """Where a connection is in its handshake."""

    CLIENT_START = "client: nothing sent yet"
    CLIENT_WAIT_SERVER_HELLO = "client: ClientHello sent"
    CLIENT_WAIT_CERTIFICATE = "client: ServerHello received"
    CLIENT_WAIT_KEY_EXCHANGE = "client: server Certificate received"
    CLIENT_WAIT_CERTIFICATE_REQUEST = "client: ServerKeyExchange received"
    CLIENT_WAIT_HELLO_DONE = "client: CertificateRequest received"
    CLIENT_WAIT_FINISHED = "client: Finished sent"
    CLIENT_CONNECTED = "client: connected"
    SERVER_WAIT_CLIENT_HELLO = "server: waiting for ClientHello"
    SERVER_WAIT_CERTIFICATE = "server: ServerHelloDone sent"
    SERVER_WAIT_KEY_EXCHANGE = "server: client Certificate received"
    SERVER_WAIT_CERTIFICATE_VERIFY = "server: ClientKeyExchange received"
    SERVER_WAIT_FINISHED = "server: CertificateVerify received"
    SERVER_CONNECTED = "server: connected"
    CLOSED = "closed"


CONNECTED = frozenset({State.CLIENT_CONNECTED, State.SERVER_CONNECTED})

TRANSITIONS: dict[tuple[State, H], tuple[State, int]] = {
    # Client (RFC 5246 §7.3 figure 1, RFC 6347 §4.2.1)
    (State.CLIENT_WAIT_SERVER_HELLO, H.HELLO_VERIFY_REQUEST): (State.CLIENT_WAIT_SERVER_HELLO, 0),
    (State.CLIENT_WAIT_SERVER_HELLO, H.SERVER_HELLO): (State.CLIENT_WAIT_CERTIFICATE, 0),
    (State.CLIENT_WAIT_CERTIFICATE, H.CERTIFICATE): (State.CLIENT_WAIT_KEY_EXCHANGE, 0),
    (State.CLIENT_WAIT_KEY_EXCHANGE, H.SERVER_KEY_EXCHANGE):
        (State.CLIENT_WAIT_CERTIFICATE_REQUEST, 0),
    (State.CLIENT_WAIT_CERTIFICATE_REQUEST, H.CERTIFICATE_REQUEST):
        (State.CLIENT_WAIT_HELLO_DONE, 0),
    (State.CLIENT_WAIT_CERTIFICATE_REQUEST, H.SERVER_HELLO_DONE): (State.CLIENT_WAIT_FINISHED, 0),
    (State.CLIENT_WAIT_HELLO_DONE, H.SERVER_HELLO_DONE): (State.CLIENT_WAIT_FINISHED, 0),
    (State.CLIENT_WAIT_FINISHED, H.FINISHED): (State.CLIENT_CONNECTED, 1),
    # After the handshake: EKTKey (RFC 8870 §5.2.2); HelloRequest is refused (no_renegotiation).
    (State.CLIENT_CONNECTED, H.EKT_KEY): (State.CLIENT_CONNECTED, 1),
    (State.CLIENT_CONNECTED, H.HELLO_REQUEST): (State.CLIENT_CONNECTED, 1),
    # Server
    (State.SERVER_WAIT_CLIENT_HELLO, H.CLIENT_HELLO): (State.SERVER_WAIT_CERTIFICATE, 0),
    (State.SERVER_WAIT_CERTIFICATE, H.CERTIFICATE): (State.SERVER_WAIT_KEY_EXCHANGE, 0),
    (State.SERVER_WAIT_KEY_EXCHANGE, H.CLIENT_KEY_EXCHANGE):
        (State.SERVER_WAIT_CERTIFICATE_VERIFY, 0),
    (State.SERVER_WAIT_CERTIFICATE_VERIFY, H.CERTIFICATE_VERIFY): (State.SERVER_WAIT_FINISHED, 0),
    (State.SERVER_WAIT_FINISHED, H.FINISHED): (State.SERVER_CONNECTED, 1),
    # A ClientHello on an established association asks for renegotiation: refused.
    (State.SERVER_CONNECTED, H.CLIENT_HELLO): (State.SERVER_CONNECTED, 1),
}


def transition(state: State, message: H) -> tuple[State, int] | None:
    """(next state, required epoch) or None if ``message`` is unexpected in ``state``."""
    return TRANSITIONS.get((state, message))
