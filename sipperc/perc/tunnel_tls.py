"""Mutually authenticated TLS 1.3 for the connections into the Key Distributor.

RFC 9185 §5.2 requires the tunnel between Media Distributor and Key Distributor to be a
"mutually authenticated TLS connection" and leaves how trust is set up to the deployment. Here
each side has its own certificate and private key and verifies the other's certificate in one of
two ways, chosen in the configuration:

- **pinned** (``peer.fingerprints``): the peer's certificate must have one of the listed
  fingerprints (``sha-256 AB:CD:...``, as ``openssl x509 -noout -fingerprint -sha256`` prints
  it). Self-signed certificates are fine; no CA, no expiry or name check beyond the pin. This is
  the recommended mode when one operator runs both servers: it trusts exactly one key.
- **CA** (``peer.ca`` plus optional ``peer.names``): the peer's chain must verify to one of the
  CA certificates in the file (OpenSSL's chain validation, including validity dates), and, when
  ``names`` is given, the peer's certificate must carry one of those DNS names in its
  subjectAltName. Without ``names`` every certificate the CA issued is trusted: only use a CA
  dedicated to these connections.

Both sides speak TLS 1.3 only, refuse to run without a peer certificate, and do not issue
session tickets (every connection is fully authenticated). The same module serves the call
processing's connection to the Key Distributor (:mod:`sipperc.perc.focus_interface`).

Configuration (paths relative to the configuration file)::

    tls:
      certificate: md.pem           # PEM: our certificate, then any intermediates
      private_key: md.key           # PEM, unencrypted, not readable by other users
      peer:
        fingerprints: ["sha-256 4A:...:0F"]   # or:  ca: tunnel-ca.pem  (+ names: [kd.example.net])
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

from sipperc.config import ConfigNode
from sipperc.dtls import Fingerprint

_log = Logger(namespace="sipperc.perc.tunnel_tls")

TLSPrivateKey = (ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                 | ed448.Ed448PrivateKey)
"""The private key types that can sign a TLS 1.3 handshake."""


@dataclass(frozen=True, slots=True)
class PeerTrust:
    """How this side decides the certificate the peer presented is the right one."""

    fingerprints: tuple[Fingerprint, ...] = ()
    ca_certificates: tuple[x509.Certificate, ...] = ()
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.fingerprints) == bool(self.ca_certificates):
            raise ValueError("trust the peer either by pinned fingerprints or by CA, not both")
        if self.names and not self.ca_certificates:
            raise ValueError("peer names are checked only in CA mode")

    @property
    def pinned(self) -> bool:
        """True in pinned-fingerprint mode."""
        return bool(self.fingerprints)

    def refuse_leaf(self, certificate: x509.Certificate) -> str | None:
        """Why the peer's own (leaf) certificate is refused, or None if it is acceptable.

        In CA mode the chain itself is OpenSSL's to verify; this checks the pin or the name.
        """
        der = certificate.public_bytes(serialization.Encoding.DER)
        if self.pinned:
            if any(pin.matches(der) for pin in self.fingerprints):
                return None
            return f"certificate {Fingerprint.of(der)} is not pinned"
        if not self.names:
            return None
        carried = _dns_names(certificate)
        if any(name.lower() in carried for name in self.names):
            return None
        return (f"certificate names {sorted(carried) or 'none'} include none of "
                f"{list(self.names)}")


@dataclass(frozen=True, slots=True)
class TLSCredentials:
    """Our certificate chain (leaf first) and private key; the key never shows in ``repr``."""

    chain: tuple[x509.Certificate, ...]
    private_key: TLSPrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("a certificate is required")
        ours = self.chain[0].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if ours != key:
            raise ValueError("the private key does not belong to the certificate")

    @property
    def fingerprint(self) -> Fingerprint:
        """The SHA-256 fingerprint of our certificate, to pin on the other side."""
        return Fingerprint.of(self.chain[0].public_bytes(serialization.Encoding.DER))


@implementer(IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator)
class MutualTLS:
    """Builds the TLS 1.3 connections of one side: ``TLSMemoryBIOFactory`` takes this object.

    The OpenSSL context is built once and shared by every connection.
    """

    def __init__(self, credentials: TLSCredentials, trust: PeerTrust) -> None:
        self.credentials = credentials
        self.trust = trust
        self._context: SSL.Context | None = None

    def context(self) -> SSL.Context:
        """The OpenSSL context: our identity, TLS 1.3 only, peer certificate required."""
        if self._context is None:
            ctx = SSL.Context(SSL.TLS_METHOD)
            ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
            ctx.set_options(SSL.OP_NO_TICKET)
            ctx.use_certificate(self.credentials.chain[0])
            for extra in self.credentials.chain[1:]:
                ctx.add_extra_chain_cert(extra)
            ctx.use_privatekey(self.credentials.private_key)
            ctx.check_privatekey()
            for authority in self.trust.ca_certificates:
                store = ctx.get_cert_store()
                assert store is not None
                store.add_cert(crypto.X509.from_cryptography(authority))
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verify)
            self._context = ctx
        return self._context

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        """A client-side OpenSSL connection (Twisted's IOpenSSLClientConnectionCreator)."""
        connection = SSL.Connection(self.context(), None)
        connection.set_connect_state()
        return connection

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        """A server-side OpenSSL connection (Twisted's IOpenSSLServerConnectionCreator)."""
        connection = SSL.Connection(self.context(), None)
        connection.set_accept_state()
        return connection

    def _verify(self, connection: SSL.Connection, certificate: object, error: int, depth: int,
                preverified: int) -> bool:
        leaf = certificate.to_cryptography()  # type: ignore[attr-defined]
        if self.trust.pinned:
            # The pin replaces chain validation: intermediates, if any, are not consulted.
            if depth > 0:
                return True
        elif not preverified:
            _log.warn("TLS peer refused: certificate chain does not verify to the configured CA "
                      "(OpenSSL error {error} at depth {depth})", error=error, depth=depth)
            return False
        elif depth > 0:
            return True
        refusal = self.trust.refuse_leaf(leaf)
        if refusal is not None:
            _log.warn("TLS peer refused: {refusal}", refusal=refusal)
            return False
        return True


def load_mutual_tls(node: ConfigNode) -> MutualTLS:
    """Read a ``tls:`` section (certificate, private_key, peer); ConfigError at the bad line."""
    node.entries({"certificate", "private_key", "peer"})
    credentials = load_credentials(node.require("certificate"), node.require("private_key"))
    return MutualTLS(credentials, load_peer_trust(node.require("peer")))


def load_credentials(certificate: ConfigNode, private_key: ConfigNode) -> TLSCredentials:
    """A certificate chain file and its private key file, checked to belong together."""
    chain = _load_chain(certificate)
    key = _load_private_key(private_key)
    try:
        return TLSCredentials(chain, key)
    except ValueError as exc:
        raise private_key.error(str(exc)) from None


def load_peer_trust(node: ConfigNode) -> PeerTrust:
    """Read a ``peer:`` section: ``fingerprints``, or ``ca`` with optional ``names``."""
    node.entries({"fingerprints", "ca", "names"})
    pins = node.get_list("fingerprints")
    ca_node = node.child("ca")
    if bool(pins) == (ca_node is not None):
        raise node.error("give exactly one of 'fingerprints' (pinned certificates) or 'ca'")
    fingerprints: list[Fingerprint] = []
    for item in pins:
        if not isinstance(item.value, str):
            raise item.error("expected a fingerprint like 'sha-256 AB:CD:...'")
        try:
            fingerprints.append(Fingerprint.parse(item.value))
        except ValueError as exc:
            raise item.error(str(exc)) from None
    names: list[str] = []
    for item in node.get_list("names"):
        if not isinstance(item.value, str) or not item.value:
            raise item.error("expected a DNS name")
        names.append(item.value)
    if names and ca_node is None:
        raise node.require("names").error("names are checked only with 'ca'")
    authorities = tuple(_load_chain(ca_node)) if ca_node is not None else ()
    return PeerTrust(tuple(fingerprints), authorities, tuple(names))


def config_path(node: ConfigNode) -> Path:
    """A path setting, resolved against the directory of the file it was written in."""
    if not isinstance(node.value, str) or not node.value:
        raise node.error("expected a file path")
    path = Path(node.value).expanduser()
    if not path.is_absolute():
        path = Path(node.source).parent / path
    return path


def _read(node: ConfigNode) -> tuple[Path, bytes]:
    path = config_path(node)
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise node.error(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_chain(node: ConfigNode) -> tuple[x509.Certificate, ...]:
    path, data = _read(node)
    try:
        chain = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise node.error(f"{path} holds no PEM certificate") from None
    return chain


def _load_private_key(node: ConfigNode) -> TLSPrivateKey:
    path, data = _read(node)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise node.error(f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                         f"run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise node.error(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
                      | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise node.error(f"{path}: this kind of key cannot sign a TLS handshake")
    return key


def _dns_names(certificate: x509.Certificate) -> set[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return {name.lower() for name in extension.value.get_values_for_type(x509.DNSName)}


__all__ = ["MutualTLS", "PeerTrust", "TLSCredentials", "TLSPrivateKey", "config_path",
           "load_credentials", "load_mutual_tls", "load_peer_trust"]
