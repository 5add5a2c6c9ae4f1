"""Media security in offer/answer: which mechanism a stream uses and what it agreed on.

Four mechanisms, recognised from the ``m=`` protocol and the attributes (RFC 3264, RFC 4568,
RFC 5763/5764, :mod:`sipperc.sdp.perc`):

==============  ================================  ==========================================
mechanism       ``m=`` protocol                   keying
==============  ================================  ==========================================
``PLAIN``       ``RTP/AVP``, ``RTP/AVPF``         none
``SDES``        ``RTP/SAVP``, ``RTP/SAVPF``       ``a=crypto`` (RFC 4568)
``DTLS_SRTP``   ``UDP/TLS/RTP/SAVP``, ``...SAVPF``  ``a=fingerprint``/``a=setup``/``a=tls-id``
``PERC``        as DTLS_SRTP                      as DTLS_SRTP plus ``a=sipperc-perc``
==============  ================================  ==========================================

A :class:`MediaSecurityPolicy` says which mechanisms an engine offers and accepts: the B2BUA
bridges anything (:meth:`MediaSecurityPolicy.bridge_anything`), a conference focus takes PERC
only (:meth:`MediaSecurityPolicy.perc_only`). A stream whose mechanism the policy does not accept
is rejected with port zero; an offer with no acceptable stream is refused (SIP 488).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.keymaterial import redacted
from sipperc.sdp.description import MediaDescription, SessionDescription
from sipperc.sdp.dtls import DtlsRole, Fingerprint, TlsId
from sipperc.sdp.perc import PercRole
from sipperc.srtp.profile import Profile


class SecurityMechanism(enum.Enum):
    """How a media stream is protected and keyed."""

    PLAIN = "plain"
    SDES = "sdes"
    DTLS_SRTP = "dtls-srtp"
    PERC = "perc"

    def proto(self, feedback: bool) -> str:
        """The ``m=`` protocol an offer of this mechanism uses (AVPF with RTCP feedback)."""
        base = {
            SecurityMechanism.PLAIN: "RTP/AVP",
            SecurityMechanism.SDES: "RTP/SAVP",
            SecurityMechanism.DTLS_SRTP: "UDP/TLS/RTP/SAVP",
            SecurityMechanism.PERC: "UDP/TLS/RTP/SAVP",
        }[self]
        return base + "F" if feedback else base


_PLAIN_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})
_SRTP_PROTOS = frozenset({"RTP/SAVP", "RTP/SAVPF"})
_DTLS_PROTOS = frozenset({"UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"})

SDES_PROFILES: tuple[Profile, ...] = (
    Profile.AEAD_AES_256_GCM,
    Profile.AEAD_AES_128_GCM,
    Profile.AES_CM_128_HMAC_SHA1_80,
    Profile.AES_CM_128_HMAC_SHA1_32,
)
"""Default SDES suites, most preferred first (RFC 7714 §14.1, RFC 4568 §6.2)."""

DTLS_PROFILES: tuple[Profile, ...] = SDES_PROFILES
"""Default single profiles for DTLS-SRTP's use_srtp list (RFC 5764 §4.1.2, RFC 7714 §14.2)."""

PERC_PROFILES: tuple[Profile, ...] = (
    Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,
    Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM,
)
"""Double profiles for PERC streams' use_srtp list (RFC 8723 §10.1; AES-128 is mandatory)."""


def classify(session: SessionDescription, media: MediaDescription) -> tuple[
        SecurityMechanism | None, str]:
    """The mechanism a media section uses, or None and why sipperc cannot use it."""
    proto = media.proto.upper()
    if proto in _PLAIN_PROTOS:
        return SecurityMechanism.PLAIN, ""
    if proto in _SRTP_PROTOS:
        if media.has("crypto"):
            return SecurityMechanism.SDES, ""
        if session.fingerprints_of(media):
            # Early DTLS-SRTP stacks wrote RTP/SAVP with a fingerprint (pre-RFC 5764 §8 names).
            return SecurityMechanism.DTLS_SRTP, ""
        return None, f"{media.proto} without a=crypto or a=fingerprint: no way to key SRTP"
    if proto in _DTLS_PROTOS:
        if not session.fingerprints_of(media):
            return None, f"{media.proto} without a=fingerprint (RFC 5763 §5)"
        marker = media.perc
        if marker is not None and marker.version >= 1:
            return SecurityMechanism.PERC, ""
        return SecurityMechanism.DTLS_SRTP, ""
    return None, f"transport protocol {media.proto} is not supported"


@dataclass(frozen=True, slots=True)
class MediaSecurityPolicy:
    """Which mechanisms to offer and to accept, and which SRTP profiles go with them.

    ``sdes_profiles`` are the ``a=crypto`` suites, ``dtls_profiles`` the single and
    ``perc_profiles`` the double profiles that the DTLS layer should put in ``use_srtp``.
    ``feedback`` selects the AVPF protocols (RFC 4585) in offers.
    """

    offer: SecurityMechanism
    accept: frozenset[SecurityMechanism]
    sdes_profiles: tuple[Profile, ...] = SDES_PROFILES
    dtls_profiles: tuple[Profile, ...] = DTLS_PROFILES
    perc_profiles: tuple[Profile, ...] = PERC_PROFILES
    feedback: bool = False

    def __post_init__(self) -> None:
        if self.offer not in self.accept:
            raise ValueError(f"the policy offers {self.offer.value} but does not accept it")
        if not self.sdes_profiles or any(p.sdes_name is None for p in self.sdes_profiles):
            raise ValueError("SDES profiles must be single profiles with an SDES suite name")
        if not self.dtls_profiles or any(p.is_double for p in self.dtls_profiles):
            raise ValueError("DTLS-SRTP profiles must be single profiles")
        if not self.perc_profiles or not all(p.is_double for p in self.perc_profiles):
            raise ValueError("PERC profiles must be the RFC 8723 double profiles")

    @classmethod
    def bridge_anything(cls, offer: SecurityMechanism = SecurityMechanism.SDES
                        ) -> MediaSecurityPolicy:
        """Accept plain RTP, SDES, DTLS-SRTP and PERC: the B2BUA's legacy side."""
        return cls(offer, frozenset(SecurityMechanism))

    @classmethod
    def encrypted(cls, offer: SecurityMechanism = SecurityMechanism.DTLS_SRTP
                  ) -> MediaSecurityPolicy:
        """Accept any SRTP (SDES, DTLS-SRTP, PERC), never plain RTP."""
        return cls(offer, frozenset(SecurityMechanism) - {SecurityMechanism.PLAIN})

    @classmethod
    def perc_only(cls) -> MediaSecurityPolicy:
        """Offer and accept PERC only: a conference focus, or an endpoint refusing less."""
        return cls(SecurityMechanism.PERC, frozenset({SecurityMechanism.PERC}))

    @classmethod
    def plain_only(cls) -> MediaSecurityPolicy:
        """Offer and accept unprotected RTP only (testing, closed networks)."""
        return cls(SecurityMechanism.PLAIN, frozenset({SecurityMechanism.PLAIN}))

    @property
    def uses_dtls(self) -> bool:
        """True if DTLS-SRTP or PERC may be negotiated, so a certificate is needed."""
        return bool(self.accept & {SecurityMechanism.DTLS_SRTP, SecurityMechanism.PERC})


@dataclass(frozen=True, slots=True)
class DtlsIdentity:
    """The certificate fingerprints written in ``a=fingerprint``.

    For an endpoint and the B2BUA, its own DTLS certificate; for a conference focus, the Key
    Distributor's (RFC 8871 §5.2, RFC 9185 §5.4: the KD is the DTLS server behind the MD).
    """

    fingerprints: tuple[Fingerprint, ...]

    def __post_init__(self) -> None:
        if not self.fingerprints:
            raise ValueError("a DTLS identity needs at least one fingerprint")
        if not all(f.supported for f in self.fingerprints):
            raise ValueError("fingerprints must use sha-1 or a SHA-2 hash (RFC 8122 §5)")

    @classmethod
    def of_certificate(cls, der: bytes, hash_function: str = "sha-256") -> DtlsIdentity:
        """The identity of one DER certificate."""
        return cls((Fingerprint.of_certificate(der, hash_function),))


@dataclass(frozen=True, slots=True, repr=False)
class SrtpKey:
    """One direction's SRTP master key and salt from SDES (RFC 4568 §6.1)."""

    profile: Profile
    master_key: bytes
    master_salt: bytes
    mki: bytes | None = None
    lifetime: int | None = None

    def __repr__(self) -> str:
        mki = "" if self.mki is None else f", mki=<{len(self.mki)}-byte MKI>"
        return (f"SrtpKey({self.profile.name}, key={redacted(self.master_key)}, "
                f"salt={redacted(self.master_salt)}{mki})")


@dataclass(frozen=True, slots=True)
class PlainRtp:
    """The stream is not protected."""

    @property
    def mechanism(self) -> SecurityMechanism:
        """Always :attr:`SecurityMechanism.PLAIN`."""
        return SecurityMechanism.PLAIN


@dataclass(frozen=True, slots=True)
class SdesSrtp:
    """SRTP keyed by SDES: protect with ``local_key``, unprotect with ``remote_key``."""

    profile: Profile
    tag: int
    local_key: SrtpKey
    remote_key: SrtpKey

    @property
    def mechanism(self) -> SecurityMechanism:
        """Always :attr:`SecurityMechanism.SDES`."""
        return SecurityMechanism.SDES


@dataclass(frozen=True, slots=True)
class DtlsSrtp:
    """SRTP keyed by a DTLS handshake (RFC 5763, RFC 5764, RFC 8842).

    ``role`` is our side of the handshake. ``remote_fingerprints`` are the supported
    fingerprints the peer's certificate must match, strongest first (RFC 8122 §5).
    ``new_association`` is True when this exchange starts a new DTLS association (RFC 8842 §5):
    the DTLS layer must handshake again. ``profiles`` is the ``use_srtp`` list: the double
    profiles for PERC, single ones otherwise. ``perc`` is True when both sides marked the
    stream as PERC; ``remote_perc_role`` is the role the peer announced.
    """

    role: DtlsRole
    remote_fingerprints: tuple[Fingerprint, ...]
    local_tls_id: TlsId
    remote_tls_id: TlsId | None
    new_association: bool
    profiles: tuple[Profile, ...]
    perc: bool = False
    remote_perc_role: PercRole | None = None

    @property
    def mechanism(self) -> SecurityMechanism:
        """:attr:`SecurityMechanism.PERC` or :attr:`SecurityMechanism.DTLS_SRTP`."""
        return SecurityMechanism.PERC if self.perc else SecurityMechanism.DTLS_SRTP


StreamSecurity = PlainRtp | SdesSrtp | DtlsSrtp
"""What a negotiated stream's protection is."""
