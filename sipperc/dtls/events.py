"""What a :class:`~sipperc.dtls.connection.DtlsConnection` reports to the layer above.

Frozen, slotted values; fields holding keys print as ``<N bytes>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipperc.dtls.alert import AlertDescription, AlertLevel
from sipperc.dtls.cipher_suite import CipherSuite, NamedGroup
from sipperc.keymaterial import redacted
from sipperc.srtp import EKTCipher, Profile


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """Both Finished messages verified; keys can be exported.

    ``peer_certificate`` is the peer's DER certificate, already checked against the expected
    fingerprint if one was given. ``external_session_id_verified`` is True when the peer sent
    ``external_session_id`` and it matched the expected SDP ``tls-id``, False when it was
    expected but the peer did not send the extension (RFC 8844 §4.3 lets us continue), None
    when no ``tls-id`` was expected.
    """

    cipher_suite: CipherSuite
    group: NamedGroup
    srtp_profile: Profile | None
    ekt_cipher: EKTCipher | None
    peer_certificate: bytes = field(repr=False)
    peer_fingerprint: str
    external_session_id_verified: bool | None


@dataclass(frozen=True, slots=True)
class ApplicationDataReceived:
    """Application data from the peer."""

    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"ApplicationDataReceived(data={redacted(self.data)})"


@dataclass(frozen=True, slots=True)
class EKTKeyReceived:
    """An EKTKey message from the server (RFC 8870 §5.2.2), processed and acknowledged.

    The EKT layer builds its parameter set (cipher, key, salt, SPI) from these fields and must
    stop using the key ``ekt_ttl`` seconds after ``received_at``.
    """

    ekt_key_value: bytes = field(repr=False)
    srtp_master_salt: bytes = field(repr=False)
    ekt_spi: int
    ekt_ttl: int
    cipher: EKTCipher
    received_at: float

    def __repr__(self) -> str:
        return (f"EKTKeyReceived(ekt_key_value={redacted(self.ekt_key_value)}, "
                f"srtp_master_salt={redacted(self.srtp_master_salt)}, ekt_spi={self.ekt_spi}, "
                f"ekt_ttl={self.ekt_ttl}, cipher={self.cipher.name}, "
                f"received_at={self.received_at})")


@dataclass(frozen=True, slots=True)
class EKTKeyAcknowledged:
    """The client acknowledged the EKTKey with this SPI (server side)."""

    ekt_spi: int


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """The peer sent an alert; ``description`` is an int if we do not know the value."""

    level: AlertLevel
    description: AlertDescription | int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over; nothing more will be sent or delivered.

    ``alert`` is the alert that ended it (sent by us if ``by_peer`` is False), None for a
    handshake time-out. ``reason`` is a human-readable sentence for logs.
    """

    reason: str
    alert: AlertDescription | int | None
    by_peer: bool

    @property
    def clean(self) -> bool:
        """True for an orderly close_notify."""
        return self.alert == AlertDescription.CLOSE_NOTIFY


Event = (HandshakeComplete | ApplicationDataReceived | EKTKeyReceived | EKTKeyAcknowledged
         | AlertReceived | ConnectionClosed)
