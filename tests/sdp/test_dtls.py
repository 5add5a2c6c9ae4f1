import hashlib

import pytest

from sipperc.dtls import Identity
from sipperc.sdp import DtlsIdentity
from sipperc.sdp.dtls import DtlsRole, Fingerprint, Setup, TlsId


def test_fingerprint_of_a_certificate_and_matching():
    der = b"0\x82\x01 not really a certificate"
    fingerprint = Fingerprint.of_certificate(der)
    assert fingerprint.digest == hashlib.sha256(der).digest()
    assert fingerprint.matches(der) and not fingerprint.matches(der + b"x")
    text = str(fingerprint)
    assert text.startswith("sha-256 ") and text == text[:8] + text[8:].upper()
    assert Fingerprint.parse(text) == fingerprint


def test_hash_names_are_case_insensitive_and_hex_may_be_lower_case():
    upper = Fingerprint.parse("SHA-1 " + ":".join(["AB"] * 20))
    lower = Fingerprint.parse("sha-1 " + ":".join(["ab"] * 20))
    assert upper == lower and upper.hash_function == "sha-1"


def test_strength_and_unsupported_hashes():
    md5 = Fingerprint.parse("md5 " + ":".join(["00"] * 16))
    assert not md5.supported and md5.strength == -1 and not md5.matches(b"x")
    assert md5.certificate_fingerprint is None
    strengths = [Fingerprint.of_certificate(b"c", h).strength
                 for h in ("sha-1", "sha-256", "sha-512")]
    assert strengths == sorted(strengths)
    with pytest.raises(ValueError, match="sha-256 fingerprint of 2 bytes"):
        Fingerprint.parse("sha-256 AB:CD")
    with pytest.raises(ValueError, match="unsupported"):
        Fingerprint.of_certificate(b"c", "md5")


def test_setup_and_roles():
    assert Setup.parse("ACTPASS") is Setup.ACTPASS
    assert DtlsRole.opposite_of(Setup.ACTIVE) is DtlsRole.SERVER
    assert DtlsRole.opposite_of(Setup.PASSIVE) is DtlsRole.CLIENT
    assert DtlsRole.CLIENT.setup is Setup.ACTIVE
    with pytest.raises(ValueError, match="does not fix"):
        DtlsRole.opposite_of(Setup.ACTPASS)


def test_tls_id():
    # RFC 8842 §4 example value.
    assert str(TlsId.parse("abc3de65cddef001be82")) == "abc3de65cddef001be82"
    generated = {TlsId.generate().value for _ in range(100)}
    assert len(generated) == 100
    assert all(len(v) == 24 for v in generated)
    for bad in ("short", "x" * 256, "has space in it......"):
        with pytest.raises(ValueError, match="RFC 8842"):
            TlsId(bad)


def test_sdp_fingerprints_are_the_dtls_layers():
    identity = Identity.generate()
    (ours,) = DtlsIdentity.of_certificate(identity.certificate_der).fingerprints
    assert str(ours.certificate_fingerprint) == str(ours) == identity.fingerprint
    assert ours.matches(identity.certificate_der)
