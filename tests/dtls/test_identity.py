"""Identities (ECDSA P-256 self-signed certificates) and SDP fingerprints (RFC 8122 §5)."""

from __future__ import annotations

import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sipperc.dtls.identity import Fingerprint, FingerprintError, Identity, fingerprints


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.generate(common_name="alice")


def test_generate_gives_p256_self_signed_certificate(identity: Identity) -> None:
    cert = x509.load_der_x509_certificate(identity.certificate_der)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(identity.private_key.curve, ec.SECP256R1)
    assert cert.issuer == cert.subject
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,  # type: ignore[call-arg,union-attr]
                             ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    assert cert.not_valid_after_utc > cert.not_valid_before_utc


def test_fingerprint_is_sdp_sha256(identity: Identity) -> None:
    assert re.fullmatch(r"sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}", identity.fingerprint)
    digest = hashlib.sha256(identity.certificate_der).hexdigest().upper()
    assert identity.fingerprint.replace(":", "").split()[1] == digest
    assert identity.fingerprint_with("sha-1").startswith("sha-1 ")
    assert repr(identity) == f"Identity({identity.fingerprint})"


def test_parse_and_match(identity: Identity) -> None:
    parsed = Fingerprint.parse(identity.fingerprint.lower().replace("sha-256", "SHA-256"))
    assert parsed.matches(identity.certificate_der)
    assert str(parsed) == identity.fingerprint
    assert not parsed.matches(Identity.generate().certificate_der)
    assert Fingerprint.parse(identity.fingerprint_with("sha-512")).matches(
        identity.certificate_der)


@pytest.mark.parametrize("text", ["sha-256", "md5 AB:CD", "sha-256 AB:CD", "sha-256 ABCD",
                                  "sha-256 " + ":".join(["ZZ"] * 32), ""])
def test_bad_fingerprints(text: str) -> None:
    with pytest.raises(FingerprintError):
        Fingerprint.parse(text)


def test_fingerprints_normalises(identity: Identity) -> None:
    one = fingerprints(identity.fingerprint)
    assert len(one) == 1
    assert fingerprints([identity.fingerprint, one[0]]) == one * 2
    with pytest.raises(FingerprintError):
        fingerprints([])


def test_pem_round_trip(identity: Identity) -> None:
    cert_pem, key_pem = identity.to_pem()
    again = Identity.from_pem(cert_pem, key_pem)
    assert again.fingerprint == identity.fingerprint


def test_key_and_certificate_must_match(identity: Identity) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        Identity(ec.generate_private_key(ec.SECP256R1()), identity.certificate)
    with pytest.raises(ValueError, match="P-256"):
        Identity(ec.generate_private_key(ec.SECP384R1()), identity.certificate)


def test_an_rsa_key_is_refused_with_value_error(identity: Identity) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="P-256"):
        Identity(key, identity.certificate)  # type: ignore[arg-type]
