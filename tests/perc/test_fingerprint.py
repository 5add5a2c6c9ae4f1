import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.perc.fingerprint import CertificateFingerprint

DER = b"0\x82\x01\x00 not really a certificate"


def test_parse_the_sdp_and_openssl_form():
    digest = hashlib.sha256(DER).digest()
    text = "sha-256 " + digest.hex(":").upper()
    parsed = CertificateFingerprint.parse(text)
    assert parsed == CertificateFingerprint("sha-256", digest)
    assert str(parsed) == text
    assert CertificateFingerprint.parse(text.lower().replace("sha-256", "SHA-256")) == parsed
    assert parsed.matches(DER)
    assert not parsed.matches(DER + b"\x00")


def test_of_computes_with_the_named_hash():
    assert CertificateFingerprint.of(DER).digest == hashlib.sha256(DER).digest()
    assert CertificateFingerprint.of(DER, "sha-1").digest == hashlib.sha1(DER).digest()
    assert CertificateFingerprint.of(DER, "sha-512").matches(DER)


@pytest.mark.parametrize(("text", "problem"), [
    ("sha-256", "expected 'HASH-FUNCTION HEX:HEX:...'"),
    ("sha-256 AB:CD extra", "expected 'HASH-FUNCTION"),
    ("sha-256 ABC:D", "two-digit hex pairs"),
    ("sha-256 ZZ:00", "not hexadecimal"),
    ("sha-256 AB:CD", "a sha-256 fingerprint has 32 bytes, got 2"),
    ("md5 " + ":".join(["AB"] * 16), "too weak"),
    ("sha-3 AB", "unknown fingerprint hash function 'sha-3'"),
])
def test_bad_fingerprints_say_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        CertificateFingerprint.parse(text)


@given(st.binary(min_size=1, max_size=200), st.sampled_from(["sha-1", "sha-256", "sha-384"]))
def test_text_form_round_trips(der, algorithm):
    fingerprint = CertificateFingerprint.of(der, algorithm)
    assert CertificateFingerprint.parse(str(fingerprint)) == fingerprint
