"""TLS 1.2 PRF, extended master secret, key block, Finished and exporter."""

from __future__ import annotations

from sipperc.dtls.cipher_suite import CipherSuite
from sipperc.dtls.key_schedule import MasterSecret, prf

# The TLS 1.2 PRF (P_SHA256) test vector circulated on the IETF TLS list and used by many TLS
# test suites: secret, label "test label", seed -> 100 bytes.
PRF_SECRET = bytes.fromhex("9bbe436ba940f017b17652849a71db35")
PRF_SEED = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c")
PRF_OUTPUT = bytes.fromhex(
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14"
    "baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e"
    "5a5110fff70187347b66")


def test_prf_sha256_vector() -> None:
    assert prf("sha256", PRF_SECRET, b"test label", PRF_SEED, 100) == PRF_OUTPUT
    assert prf("sha256", PRF_SECRET, b"test label", PRF_SEED, 7) == PRF_OUTPUT[:7]


def _master(suite: CipherSuite = CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            session_hash: bytes = bytes(32)) -> MasterSecret:
    return MasterSecret(suite, b"pre-master", session_hash, b"c" * 32, b"s" * 32)


def test_extended_master_secret_binds_the_session_hash() -> None:
    # RFC 7627 §4: a different transcript gives different keys even with the same randoms.
    assert _master().export(b"x", 16) != _master(session_hash=b"\x01" * 32).export(b"x", 16)


def test_key_block_lengths_per_suite() -> None:
    for suite, key_len, iv_len in ((CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16, 4),
                                   (CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 32, 4),
                                   (CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 32,
                                    12)):
        client, server = _master(suite).traffic_keys()
        assert (len(client.key), len(client.iv)) == (key_len, iv_len)
        assert client.key != server.key and client.iv != server.iv
        assert "bytes>" in repr(client) and client.key.hex() not in repr(client)


def test_finished_and_exporter() -> None:
    master = _master()
    client = master.verify_data(True, b"h" * 32)
    assert len(client) == 12 and client != master.verify_data(False, b"h" * 32)
    # RFC 5705 §4: no context and an empty context are different inputs.
    assert master.export(b"EXPERIMENTAL", 20) != master.export(b"EXPERIMENTAL", 20, b"")


def test_wipe_zeroes_the_secret() -> None:
    master = _master()
    master.wipe()
    assert bytes(master._secret) == bytes(48)
    assert "<48 bytes>" in repr(master)
