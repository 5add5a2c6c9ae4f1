"""Reading the ClientHello that opens a DTLS handshake before any connection state exists.

A Key Distributor serves many conferences, each with its own certificate (the conference
identity, RFC 8871 §5), and must answer an endpoint with the right one. What tells it the
conference is the endpoint's ``external_session_id`` (RFC 8844 §4.3), which equals the
``tls-id`` the call processing announced (RFC 9185 §5.4); it travels in the ClientHello, in
the clear (epoch 0). :func:`initial_client_hello` finds that ClientHello in a datagram so the
server can choose the identity before it builds its
:class:`~sipperc.dtls.connection.DtlsConnection`; a Media Distributor uses it to tell a new
endpoint-initiated association from a retransmission (the ClientHello ``random`` stays the same
within one handshake, RFC 6347 §4.2.1).
"""

from __future__ import annotations

from sipperc.dtls.extensions import ExtensionType, decode_external_session_id
from sipperc.dtls.fragments import parse_fragments
from sipperc.dtls.handshake import ClientHello, HandshakeType
from sipperc.dtls.record import ContentType, parse_records


def initial_client_hello(datagram: bytes) -> ClientHello | None:
    """The whole ClientHello carried in an epoch-0 record of ``datagram``, or None.

    None when the datagram carries no ClientHello, or only a fragment of one (a client on a
    tiny MTU; it will retransmit). A malformed handshake message raises
    :class:`~sipperc.dtls.alert.DtlsAlertError` (:class:`~sipperc.dtls.alert.DecodeError` for a
    field that does not parse), naming what is wrong.
    """
    for record in parse_records(datagram):
        if record.epoch != 0 or record.content_type != ContentType.HANDSHAKE:
            continue
        for fragment in parse_fragments(record.fragment):
            if fragment.msg_type != HandshakeType.CLIENT_HELLO:
                continue
            if fragment.fragment_offset != 0 or len(fragment.fragment) != fragment.length:
                return None
            return ClientHello.decode(fragment.fragment)
    return None


def external_session_id(hello: ClientHello) -> bytes | None:
    """The ``external_session_id`` (RFC 8844 §4.3) a ClientHello carries, None if it has none."""
    data = hello.extensions.get(ExtensionType.EXTERNAL_SESSION_ID)
    if data is None:
        return None
    return decode_external_session_id(data)


__all__ = ["external_session_id", "initial_client_hello"]
