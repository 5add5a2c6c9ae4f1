"""TLS 1.2 key derivation.

PRF (RFC 5246 §5), extended master secret (RFC 7627 §4), key block (RFC 5246 §6.3), Finished
(RFC 5246 §7.4.9) and exporters (RFC 5705 §4).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from sipperc.dtls.cipher_suite import CipherSuite
from sipperc.keymaterial import redacted, wipe

MASTER_SECRET_LENGTH = 48
VERIFY_DATA_LENGTH = 12


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """``PRF(secret, label, seed)`` = ``P_hash(secret, label + seed)`` cut to ``length``."""
    seed = label + seed
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return bytes(out[:length])


def transcript_hash(hash_name: str, transcript: bytes) -> bytes:
    """Hash of the handshake messages so far."""
    return hashlib.new(hash_name, transcript).digest()


@dataclass(frozen=True, slots=True)
class TrafficKeys:
    """One direction's AEAD key and fixed IV (the salt of RFC 5288, the IV of RFC 7905)."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"TrafficKeys(key={redacted(self.key)}, iv={redacted(self.iv)})"


class MasterSecret:
    """The session's master secret and what is derived from it.

    Holds the secret in a ``bytearray`` so that :meth:`wipe` can overwrite it when the
    connection closes.
    """

    __slots__ = ("_client_random", "_secret", "_server_random", "suite")

    def __init__(self, suite: CipherSuite, pre_master_secret: bytes, session_hash: bytes,
                 client_random: bytes, server_random: bytes) -> None:
        self.suite = suite
        # RFC 7627 §4: the session hash replaces the randoms as the PRF seed.
        self._secret = bytearray(prf(suite.parameters.hash_name, pre_master_secret,
                                     b"extended master secret", session_hash,
                                     MASTER_SECRET_LENGTH))
        self._client_random = client_random
        self._server_random = server_random

    def __repr__(self) -> str:
        return f"MasterSecret({self.suite.name}, {redacted(self._secret)})"

    @property
    def _hash(self) -> str:
        return self.suite.parameters.hash_name

    def traffic_keys(self) -> tuple[TrafficKeys, TrafficKeys]:
        """(client_write, server_write) keys: RFC 5246 §6.3 key block, no MAC keys (AEAD)."""
        p = self.suite.parameters
        block = prf(self._hash, bytes(self._secret), b"key expansion",
                    self._server_random + self._client_random,
                    2 * (p.key_length + p.fixed_iv_length))
        k, i = p.key_length, p.fixed_iv_length
        client = TrafficKeys(block[:k], block[2 * k:2 * k + i])
        server = TrafficKeys(block[k:2 * k], block[2 * k + i:2 * k + 2 * i])
        return client, server

    def verify_data(self, sender_is_client: bool, handshake_hash: bytes) -> bytes:
        """Finished.verify_data for the given sender over ``Hash(handshake_messages)``."""
        label = b"client finished" if sender_is_client else b"server finished"
        return prf(self._hash, bytes(self._secret), label, handshake_hash, VERIFY_DATA_LENGTH)

    def export(self, label: bytes, length: int, context: bytes | None = None) -> bytes:
        """RFC 5705 §4 keying material exporter."""
        seed = self._client_random + self._server_random
        if context is not None:
            if len(context) > 0xFFFF:
                raise ValueError("exporter context longer than 65535 bytes")
            seed += len(context).to_bytes(2, "big") + context
        return prf(self._hash, bytes(self._secret), label, seed, length)

    def wipe(self) -> None:
        """Overwrite the secret (best effort, see :func:`sipperc.keymaterial.wipe`)."""
        wipe(self._secret)
