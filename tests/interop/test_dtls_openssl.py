"""sipperc DTLS against OpenSSL (through pyOpenSSL's memory BIOs), in both roles."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from sipperc.dtls import (
    AlertDescription,
    AlertLevel,
    AlertReceived,
    ApplicationDataReceived,
    CipherSuite,
    ConnectionClosed,
    DtlsConnection,
    Fingerprint,
    HandshakeComplete,
    Identity,
)
from sipperc.dtls.events import Event
from sipperc.srtp import Profile

pytestmark = pytest.mark.interop

DOUBLE = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
OPENSSL_SUITES = {
    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: b"ECDHE-ECDSA-AES128-GCM-SHA256",
    CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: b"ECDHE-ECDSA-AES256-GCM-SHA384",
    CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: b"ECDHE-ECDSA-CHACHA20-POLY1305",
    CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256: b"ECDHE-RSA-AES128-GCM-SHA256",
    CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384: b"ECDHE-RSA-AES256-GCM-SHA384",
    CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: b"ECDHE-RSA-CHACHA20-POLY1305",
}


def rsa_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An RSA identity like the one baresip's DTLS-SRTP uses."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa-phone")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


def openssl(role: str, identity: Identity, profiles: list[Profile], *,
            verify: Callable[..., bool] = lambda *_: True, cipher: bytes | None = None,
            cookie: bool = False) -> SSL.Connection:
    context = SSL.Context(SSL.DTLS_METHOD)
    context.use_certificate(identity.certificate)
    context.use_privatekey(identity.private_key)
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, verify)
    context.set_tlsext_use_srtp(":".join(p.openssl_name for p in profiles).encode())
    if cipher:
        context.set_cipher_list(cipher)
    if cookie:
        context.set_options(SSL.OP_COOKIE_EXCHANGE)
        context.set_cookie_generate_callback(lambda _conn: b"0123456789abcdef")
        context.set_cookie_verify_callback(lambda _conn, c: c == b"0123456789abcdef")
    connection = SSL.Connection(context, None)
    if role == "client":
        connection.set_connect_state()
    else:
        connection.set_accept_state()
    return connection


def drain(connection: SSL.Connection) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(connection.bio_read(65536))
        except SSL.WantReadError:
            return out


def our_events(ours: DtlsConnection) -> list[Event]:
    collected = []
    while (event := ours.next_event()) is not None:
        collected.append(event)
    return collected


def run(ours: DtlsConnection, theirs: SSL.Connection, rounds: int = 10) -> list[Event]:
    """Drive both until quiet; returns our events. OpenSSL errors are left to the caller."""
    for _ in range(rounds):
        with contextlib.suppress(SSL.WantReadError):
            theirs.do_handshake()
        for datagram in drain(theirs):
            ours.receive_datagram(datagram, 0.0)
        for datagram in ours.datagrams_to_send(0.0):
            theirs.bio_write(datagram)
    return our_events(ours)


@pytest.fixture(scope="module")
def ids() -> tuple[Identity, Identity]:
    return Identity.generate(common_name="sipperc"), Identity.generate(common_name="openssl")


@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("profile", [Profile.AES_CM_128_HMAC_SHA1_80, Profile.AEAD_AES_128_GCM,
                                     Profile.AEAD_AES_256_GCM, DOUBLE])
def test_handshake_profile_and_exported_keys(ids: tuple[Identity, Identity], role: str,
                                             profile: Profile) -> None:
    mine, peer = ids
    theirs = openssl("server" if role == "client" else "client", peer, [profile])
    ours = DtlsConnection(role, mine, [profile], peer.fingerprint)  # type: ignore[arg-type]
    events = run(ours, theirs)
    done = next(e for e in events if isinstance(e, HandshakeComplete))
    assert done.peer_fingerprint == peer.fingerprint
    assert theirs.get_selected_srtp_profile() == profile.openssl_name.encode()
    assert done.srtp_profile is profile
    keys = ours.export_srtp_keys()
    material = theirs.export_keying_material(b"EXTRACTOR-dtls_srtp",
                                             2 * (profile.master_key_length
                                                  + profile.master_salt_length))
    assert material == keys.client_key + keys.server_key + keys.client_salt + keys.server_salt
    assert theirs.get_peer_certificate().to_cryptography().fingerprint(  # type: ignore[union-attr]
        mine.certificate.signature_hash_algorithm) == mine.certificate.fingerprint(
        mine.certificate.signature_hash_algorithm)  # type: ignore[arg-type]

    ours.send(b"from sipperc")
    for datagram in ours.datagrams_to_send(0.0):
        theirs.bio_write(datagram)
    assert theirs.recv(100) == b"from sipperc"
    theirs.send(b"from openssl")
    for datagram in drain(theirs):
        ours.receive_datagram(datagram, 0.0)
    assert ours.next_event() == ApplicationDataReceived(b"from openssl")


@pytest.mark.parametrize("suite", [s for s in CipherSuite if not s.parameters.rsa])
@pytest.mark.parametrize("role", ["client", "server"])
def test_every_cipher_suite(ids: tuple[Identity, Identity], role: str,
                            suite: CipherSuite) -> None:
    mine, peer = ids
    theirs = openssl("server" if role == "client" else "client", peer,
                     [Profile.AEAD_AES_128_GCM], cipher=OPENSSL_SUITES[suite])
    ours = DtlsConnection(role, mine, [Profile.AEAD_AES_128_GCM],  # type: ignore[arg-type]
                          peer.fingerprint, cipher_suites=[suite])
    run(ours, theirs)
    assert ours.is_connected and ours.cipher_suite is suite
    assert theirs.get_cipher_name() == OPENSSL_SUITES[suite].decode()
    label = b"EXPERIMENTAL-sipperc"
    assert ours.export_keying_material(label, 32, b"c") == theirs.export_keying_material(
        label, 32, b"c")


@pytest.mark.parametrize("suite", [s for s in CipherSuite if s.parameters.rsa])
def test_our_client_with_an_rsa_certificate_server(ids: tuple[Identity, Identity],
                                                   suite: CipherSuite) -> None:
    mine, _ = ids
    key, cert = rsa_certificate()
    context = SSL.Context(SSL.DTLS_METHOD)
    context.use_certificate(cert)
    context.use_privatekey(key)
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
    context.set_tlsext_use_srtp(b"SRTP_AEAD_AES_128_GCM")
    context.set_cipher_list(OPENSSL_SUITES[suite])
    theirs = SSL.Connection(context, None)
    theirs.set_accept_state()
    fingerprint = Fingerprint.of(cert.public_bytes(serialization.Encoding.DER))
    ours = DtlsConnection("client", mine, [Profile.AEAD_AES_128_GCM], fingerprint)
    run(ours, theirs)
    assert ours.is_connected and ours.cipher_suite is suite
    keys = ours.export_srtp_keys()
    assert theirs.export_keying_material(b"EXTRACTOR-dtls_srtp", 56) == (
        keys.client_key + keys.server_key + keys.client_salt + keys.server_salt)


def test_openssl_server_orders_profiles_and_sends_hello_verify_request(
        ids: tuple[Identity, Identity]) -> None:
    mine, peer = ids
    theirs = openssl("server", peer, [DOUBLE, Profile.AEAD_AES_128_GCM], cookie=True)
    ours = DtlsConnection("client", mine, [Profile.AEAD_AES_128_GCM, DOUBLE], peer.fingerprint)
    run(ours, theirs)
    assert ours.is_connected
    assert ours.srtp_profile is DOUBLE  # OpenSSL's own list order decides
    keys = ours.export_srtp_keys()
    assert len(keys.client_key) == 32 and len(keys.client_salt) == 24


def test_our_server_fragments_for_openssl_client(ids: tuple[Identity, Identity]) -> None:
    mine, peer = ids
    theirs = openssl("client", peer, [Profile.AEAD_AES_128_GCM])
    ours = DtlsConnection("server", mine, [Profile.AEAD_AES_128_GCM], peer.fingerprint, mtu=180)
    sizes = []
    for _ in range(10):
        with contextlib.suppress(SSL.WantReadError):
            theirs.do_handshake()
        for datagram in drain(theirs):
            ours.receive_datagram(datagram, 0.0)
        for datagram in ours.datagrams_to_send(0.0):
            sizes.append(len(datagram))
            theirs.bio_write(datagram)
    assert ours.is_connected and max(sizes) <= 180 and len(sizes) > 6


def test_openssl_server_without_use_srtp_is_refused(ids: tuple[Identity, Identity]) -> None:
    mine, peer = ids
    theirs = openssl("server", peer, [Profile.AES_CM_128_HMAC_SHA1_80])
    ours = DtlsConnection("client", mine, [Profile.AEAD_AES_128_GCM], peer.fingerprint)
    with pytest.raises(SSL.Error, match="handshake failure"):
        run(ours, theirs)
    closed = next(e for e in our_events(ours) if isinstance(e, ConnectionClosed))
    assert closed.alert == AlertDescription.HANDSHAKE_FAILURE
    assert not ours.is_connected


@pytest.mark.parametrize("role", ["client", "server"])
def test_we_refuse_wrong_certificate_and_openssl_sees_the_alert(
        ids: tuple[Identity, Identity], role: str) -> None:
    mine, peer = ids
    theirs = openssl("server" if role == "client" else "client", peer,
                     [Profile.AEAD_AES_128_GCM])
    ours = DtlsConnection(role, mine, [Profile.AEAD_AES_128_GCM],  # type: ignore[arg-type]
                          Identity.generate().fingerprint)
    with pytest.raises(SSL.Error, match=r"(?i)bad.certificate"):
        run(ours, theirs)
    assert not ours.is_connected


@pytest.mark.parametrize("role", ["client", "server"])
def test_openssl_refuses_our_certificate(ids: tuple[Identity, Identity], role: str) -> None:
    mine, peer = ids
    theirs = openssl("server" if role == "client" else "client", peer,
                     [Profile.AEAD_AES_128_GCM], verify=lambda *_: False)
    ours = DtlsConnection(role, mine, [Profile.AEAD_AES_128_GCM],  # type: ignore[arg-type]
                          peer.fingerprint)
    with pytest.raises(SSL.Error):
        run(ours, theirs)
    for datagram in drain(theirs):  # OpenSSL's fatal alert
        ours.receive_datagram(datagram, 0.0)
    events = our_events(ours)
    alerts = [e for e in events if isinstance(e, AlertReceived)]
    assert alerts and alerts[0].level == AlertLevel.FATAL
    assert ours.is_closed and not ours.is_connected


def test_close_notify_reaches_openssl(ids: tuple[Identity, Identity]) -> None:
    mine, peer = ids
    theirs = openssl("server", peer, [Profile.AEAD_AES_128_GCM])
    ours = DtlsConnection("client", mine, [Profile.AEAD_AES_128_GCM], peer.fingerprint)
    run(ours, theirs)
    ours.close()
    for datagram in ours.datagrams_to_send(0.0):
        theirs.bio_write(datagram)
    with pytest.raises(SSL.ZeroReturnError):
        theirs.recv(100)
