"""DTLS 1.2 for DTLS-SRTP (RFC 6347, RFC 5764) with EKT's key transport (RFC 8870 §5.2).

Owns the record layer, the handshake, certificates and fingerprints (RFC 8122), SRTP key export
and RFC 7983 demultiplexing, as sans-I/O objects built only on ``cryptography`` primitives.
May import ``sipperc.srtp`` (profiles, EKT cipher code points) and the shared top-level modules;
never the signalling, media, PERC or application layers.

Public API::

    Identity.generate()                       # ECDSA P-256 key + self-signed certificate
    DtlsConnection(role, identity, srtp_profiles, remote_fingerprint, ...)
    classify(datagram) -> PacketKind          # STUN / DTLS / RTP / RTCP on one port
    initial_client_hello(datagram)            # the ClientHello opening a handshake, if any
    ConnectionDriver(connection, write, on_event, reactor=None)   # the Twisted edge
"""

from sipperc.dtls.alert import (
    AlertDescription,
    AlertLevel,
    DecodeError,
    DtlsAlertError,
    DtlsError,
    DtlsStateError,
)
from sipperc.dtls.cipher_suite import CipherSuite, NamedGroup
from sipperc.dtls.client_hello import external_session_id, initial_client_hello
from sipperc.dtls.connection import DtlsConnection
from sipperc.dtls.demux import PacketKind, classify
from sipperc.dtls.driver import ConnectionDriver
from sipperc.dtls.events import (
    AlertReceived,
    ApplicationDataReceived,
    ConnectionClosed,
    EKTKeyAcknowledged,
    EKTKeyReceived,
    Event,
    HandshakeComplete,
)
from sipperc.dtls.handshake import EKTKey
from sipperc.dtls.identity import Fingerprint, FingerprintError, Identity
from sipperc.dtls.srtp_keys import SrtpKeyingMaterial
from sipperc.dtls.state import State

__all__ = [
    "AlertDescription",
    "AlertLevel",
    "AlertReceived",
    "ApplicationDataReceived",
    "CipherSuite",
    "ConnectionClosed",
    "ConnectionDriver",
    "DecodeError",
    "DtlsAlertError",
    "DtlsConnection",
    "DtlsError",
    "DtlsStateError",
    "EKTKey",
    "EKTKeyAcknowledged",
    "EKTKeyReceived",
    "Event",
    "Fingerprint",
    "FingerprintError",
    "HandshakeComplete",
    "Identity",
    "NamedGroup",
    "PacketKind",
    "SrtpKeyingMaterial",
    "State",
    "classify",
    "external_session_id",
    "initial_client_hello",
]
