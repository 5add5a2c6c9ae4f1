"""SRTP key derivation (RFC 3711 §4.3) with a key derivation rate of 0.

The pseudo-random function is AES in counter mode keyed with the master key: AES_CM for
128-bit keys (RFC 3711 §4.3.3) and AES_256_CM_PRF for 256-bit keys (RFC 6188 §3); both run
the same counter mode over ``(label || index DIV kdr) XOR master_salt``, shifted left by 16
bits. With kdr = 0 the index term is 0, so each session key is derived once per master key.

The AEAD profiles use a 96-bit master salt (RFC 7714 §11); it is right-padded with two zero
bytes to the 112 bits the PRF takes, as libsrtp does, so the label lands in byte 7.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sipperc.keymaterial import redacted

_PRF_SALT_LENGTH = 14


class Label(enum.IntEnum):
    """Key derivation labels (RFC 3711 §4.3.1, §4.3.2)."""

    SRTP_ENCRYPTION = 0x00
    SRTP_AUTHENTICATION = 0x01
    SRTP_SALT = 0x02
    SRTCP_ENCRYPTION = 0x03
    SRTCP_AUTHENTICATION = 0x04
    SRTCP_SALT = 0x05


def derive(master_key: bytes, master_salt: bytes, label: Label, length: int) -> bytes:
    """``length`` bytes of session key material for ``label`` (RFC 3711 §4.3.1, kdr = 0)."""
    if len(master_key) not in (16, 32):
        raise ValueError(f"master key of {len(master_key)} bytes; AES_CM needs 16 or 32")
    if len(master_salt) > _PRF_SALT_LENGTH:
        raise ValueError(f"master salt of {len(master_salt)} bytes is longer than 14")
    x = bytearray(master_salt.ljust(_PRF_SALT_LENGTH, b"\x00"))
    x[7] ^= label
    encryptor = Cipher(algorithms.AES(master_key), modes.CTR(bytes(x) + b"\x00\x00")).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


@dataclass(frozen=True, slots=True, repr=False)
class SessionKeys:
    """The encryption key, authentication key and salt of one direction of SRTP or SRTCP."""

    encryption_key: bytes
    authentication_key: bytes
    salt: bytes

    def __repr__(self) -> str:
        return (f"SessionKeys(encryption_key={redacted(self.encryption_key)}, "
                f"authentication_key={redacted(self.authentication_key)}, "
                f"salt={redacted(self.salt)})")

    @classmethod
    def derive(cls, master_key: bytes, master_salt: bytes, *, rtcp: bool,
               authentication_key_length: int) -> SessionKeys:
        """Session keys for SRTP (labels 0-2) or SRTCP (labels 3-5).

        The session salt has the master salt's length: 112 bits for AES_CM (RFC 3711 §8.2),
        96 bits for AEAD (RFC 7714 §11). AEAD profiles pass ``authentication_key_length=0``.
        """
        base = 3 if rtcp else 0
        return cls(
            derive(master_key, master_salt, Label(base), len(master_key)),
            derive(master_key, master_salt, Label(base + 1), authentication_key_length)
            if authentication_key_length else b"",
            derive(master_key, master_salt, Label(base + 2), len(master_salt)),
        )
