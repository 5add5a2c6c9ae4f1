"""SDP Security Descriptions: the ``a=crypto`` attribute (RFC 4568).

``a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]
[<session params>]`` carries SRTP master keys in the signalling (RFC 4568 §6, §9). sipperc keys
the four single SRTP profiles of :class:`sipperc.srtp.Profile` this way; the IANA registry has no
suite for the RFC 8723 double profiles, which is why PERC is keyed through DTLS-SRTP instead
(``/work/shared/specs/perc.md`` §6).

Keys come from ``os.urandom`` and never appear in ``repr()`` or in error messages: an
:class:`InlineKey` prints as ``<30 bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import ClassVar, Self

from sipperc.keymaterial import redacted
from sipperc.sdp import grammar
from sipperc.sdp.attributes import register_validator
from sipperc.srtp.profile import Profile

SUITE_KEY_SALT_LENGTHS: dict[str, tuple[int, int]] = {
    # sipperc's profiles (RFC 4568 §6.2, RFC 7714 §14.1: 96-bit salt for AEAD)
    **{p.sdes_name: (p.master_key_length, p.master_salt_length)
       for p in Profile if p.sdes_name is not None},
    # suites other stacks offer that sipperc recognises but does not use (RFC 4568 §6.2,
    # RFC 6188 §7.1): their key lengths are still checked so that garbage is rejected.
    "F8_128_HMAC_SHA1_80": (16, 14),
    "AES_192_CM_HMAC_SHA1_80": (24, 14),
    "AES_192_CM_HMAC_SHA1_32": (24, 14),
    "AES_256_CM_HMAC_SHA1_80": (32, 14),
    "AES_256_CM_HMAC_SHA1_32": (32, 14),
}
"""Master key and salt lengths in bytes of the SDES crypto suites whose keys we check."""



def _b64decode(text: str) -> bytes:
    # RFC 4568 §9.2 asks for RFC 3548 base64 (with padding); some stacks drop the padding.
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error as error:
        raise ValueError("key is not valid base64") from error


@dataclass(frozen=True, slots=True, repr=False)
class InlineKey:
    """One ``inline:`` key parameter: master key and salt concatenated (RFC 4568 §6.1)."""

    key_salt: bytes
    lifetime: int | None = None
    mki: int | None = None
    mki_length: int | None = None

    def __post_init__(self) -> None:
        if (self.mki is None) != (self.mki_length is None):
            raise ValueError("MKI value and MKI length go together (RFC 4568 §6.1)")
        if self.mki_length is not None and self.mki is not None:
            if not 1 <= self.mki_length <= 128:
                raise ValueError(f"MKI length {self.mki_length} is outside 1-128 bytes")
            if self.mki >= 1 << (8 * self.mki_length):
                raise ValueError("MKI value does not fit its length (RFC 4568 §6.1)")
        if self.lifetime is not None and self.lifetime < 1:
            raise ValueError("key lifetime must be positive")

    @classmethod
    def parse(cls, info: str) -> Self:
        """Parse the key-info after ``inline:``."""
        match = grammar.SRTP_KEY_INFO.fullmatch(info)
        if match is None:
            raise ValueError("expected inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]")
        lifetime = match["lifetime"]
        if lifetime is None:
            life: int | None = None
        elif lifetime.startswith("2^"):
            exponent = int(lifetime[2:])
            if exponent > 64:
                raise ValueError("key lifetime above 2^64 packets")
            life = 1 << exponent
        else:
            life = int(lifetime)
        mki = match["mki_value"]
        return cls(
            _b64decode(match["key_salt"]), life,
            int(mki) if mki is not None else None,
            int(match["mki_length"]) if mki is not None else None,
        )

    @classmethod
    def generate(cls, profile: Profile) -> Self:
        """A fresh random master key and salt for ``profile`` (RFC 4568 §6.1)."""
        return cls(os.urandom(profile.master_key_length + profile.master_salt_length))

    def split(self, profile: Profile) -> tuple[bytes, bytes]:
        """The master key and the master salt for ``profile``."""
        if len(self.key_salt) != profile.master_key_length + profile.master_salt_length:
            raise ValueError(f"{redacted(self.key_salt)} is not a {profile.name} key and salt")
        return (self.key_salt[: profile.master_key_length],
                self.key_salt[profile.master_key_length:])

    def __str__(self) -> str:
        text = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            exponent = self.lifetime.bit_length() - 1
            if self.lifetime == 1 << exponent:
                text += f"|2^{exponent}"
            else:
                text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki}:{self.mki_length}"
        return text

    def __repr__(self) -> str:
        extras = ""
        if self.lifetime is not None:
            extras += f", lifetime={self.lifetime}"
        if self.mki is not None:
            extras += f", mki={self.mki}, mki_length={self.mki_length}"
        return f"InlineKey({redacted(self.key_salt)}{extras})"


@dataclass(frozen=True, slots=True)
class KeyParam:
    """A key parameter of a method other than ``inline`` (RFC 4568 §9.1 key-method-ext)."""

    method: str
    info: str

    def __str__(self) -> str:
        return f"{self.method}:{self.info}"

    def __repr__(self) -> str:
        return f"KeyParam({self.method!r}, <redacted>)"


@dataclass(frozen=True, slots=True)
class Crypto:
    """An ``a=crypto`` attribute: one crypto suite with its keys (RFC 4568 §4, §9.1)."""

    tag: int
    suite: str
    keys: tuple[InlineKey | KeyParam, ...]
    session_params: tuple[str, ...] = ()

    name: ClassVar[str] = "crypto"

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= 999_999_999:
            raise ValueError(f"tag {self.tag} is not 1 to 9 digits (RFC 4568 §9.1)")
        if not self.keys:
            raise ValueError("a crypto attribute needs at least one key")
        lengths = SUITE_KEY_SALT_LENGTHS.get(self.suite)
        inline = [k for k in self.keys if isinstance(k, InlineKey)]
        if lengths is not None:
            for key in inline:
                if len(key.key_salt) != sum(lengths):
                    raise ValueError(
                        f"{self.suite} needs {lengths[0]}+{lengths[1]} bytes of key and salt, "
                        f"got {len(key.key_salt)} (RFC 4568 §6.1)"
                    )
        if len(inline) > 1 and any(k.mki is None for k in inline):
            raise ValueError("several keys need an MKI each (RFC 4568 §6.1)")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=crypto`` line."""
        match = grammar.CRYPTO_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<tag> <crypto-suite> <key-params> [<session-params>]'")
        keys: list[InlineKey | KeyParam] = []
        for param in match["key_params"].split(";"):
            key_match = grammar.KEY_PARAM.fullmatch(param)
            if key_match is None:
                raise ValueError("key parameter is not '<method>:<info>'")
            if key_match["method"] == "inline":
                keys.append(InlineKey.parse(key_match["info"]))
            else:
                keys.append(KeyParam(key_match["method"], key_match["info"]))
        return cls(int(match["tag"]), match["suite"], tuple(keys),
                   tuple(match["session_params"].split()))

    @classmethod
    def generate(cls, tag: int, profile: Profile) -> Self:
        """An attribute offering ``profile`` with a fresh random key (RFC 4568 §5.1.1)."""
        if profile.sdes_name is None:
            raise ValueError(f"{profile.name} has no SDES crypto suite (perc.md §6)")
        return cls(tag, profile.sdes_name, (InlineKey.generate(profile),))

    @property
    def profile(self) -> Profile | None:
        """The sipperc SRTP profile of this suite, or None for a suite sipperc does not use."""
        try:
            return Profile.from_sdes_name(self.suite)
        except ValueError:
            return None

    @property
    def session_parameter_names(self) -> frozenset[str]:
        """Names of the session parameters (``KDR=1`` gives ``KDR``)."""
        return frozenset(param.partition("=")[0] for param in self.session_params)

    def __str__(self) -> str:
        keys = ";".join(str(key) for key in self.keys)
        return " ".join((str(self.tag), self.suite, keys, *self.session_params))

    def __repr__(self) -> str:
        return (f"Crypto(tag={self.tag}, suite={self.suite!r}, keys={self.keys!r}, "
                f"session_params={self.session_params!r})")


register_validator(Crypto.name, Crypto.parse)
