"""Reading the handshake-opening ClientHello from a datagram (before any connection exists)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls import (
    DecodeError,
    DtlsAlertError,
    DtlsConnection,
    external_session_id,
    initial_client_hello,
)
from sipperc.dtls.record import ContentType, encode_record
from sipperc.srtp import Profile
from tests.dtls.harness import CLIENT_TLS_ID, identities, make_pair


def first_flight(**client_kw: object) -> bytes:
    client, _ = make_pair(client_kw=client_kw)
    (datagram,) = client.datagrams_to_send(0.0)
    return datagram


def test_reads_the_clients_external_session_id() -> None:
    hello = initial_client_hello(first_flight())
    assert hello is not None
    assert external_session_id(hello) == CLIENT_TLS_ID.encode()


def test_no_external_session_id_without_a_tls_id() -> None:
    hello = initial_client_hello(first_flight(local_tls_id=None))
    assert hello is not None
    assert external_session_id(hello) is None


def test_second_client_hello_keeps_the_random() -> None:
    """RFC 6347 §4.2.1: the ClientHello after a HelloVerifyRequest has the same random."""
    client, server = make_pair()
    (first,) = client.datagrams_to_send(0.0)
    server.receive_datagram(first, 0.0)
    for datagram in server.datagrams_to_send(0.0):  # the HelloVerifyRequest
        client.receive_datagram(datagram, 0.0)
    (second,) = client.datagrams_to_send(0.0)
    a, b = initial_client_hello(first), initial_client_hello(second)
    assert a is not None and b is not None
    assert a.random == b.random and a.cookie == b"" and b.cookie != b""


def test_other_handshake_traffic_is_not_a_client_hello() -> None:
    client, server = make_pair()
    (first,) = client.datagrams_to_send(0.0)
    server.receive_datagram(first, 0.0)
    (verify_request,) = server.datagrams_to_send(0.0)
    assert initial_client_hello(verify_request) is None
    alert = encode_record(ContentType.ALERT, 0, 0, b"\x02\x28")
    assert initial_client_hello(alert) is None


def test_a_fragment_is_not_enough() -> None:
    cid, sid = identities()
    client = DtlsConnection("client", cid, [Profile.AEAD_AES_128_GCM], sid.fingerprint,
                            local_tls_id=CLIENT_TLS_ID, mtu=100)
    datagrams = client.datagrams_to_send(0.0)
    assert len(datagrams) > 1
    assert initial_client_hello(datagrams[0]) is None


def test_malformed_client_hello_raises_decode_error() -> None:
    datagram = bytearray(first_flight())
    # Lengthen the session_id vector past the end of the body.
    session_id_length_at = 13 + 12 + 2 + 32
    datagram[session_id_length_at] = 250
    with pytest.raises(DecodeError):
        initial_client_hello(bytes(datagram))


@given(st.binary(max_size=300), st.booleans())
def test_garbage_gives_none_or_a_dtls_error(data: bytes, as_handshake_record: bool) -> None:
    """Raw bytes, or bytes inside an epoch-0 handshake record: nothing but DtlsAlertError."""
    if as_handshake_record:
        data = encode_record(ContentType.HANDSHAKE, 0, 0, b"\x01" + data)
    try:
        hello = initial_client_hello(data)
    except DtlsAlertError:
        return
    assert hello is None or len(hello.random) == 32
