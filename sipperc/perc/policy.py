"""Conference policy: what a Key Distributor enforces for each conference it serves.

The policy file is the Key Distributor's, and only the Key Distributor is trusted with it:
nothing the (untrusted) call processing says can widen it. Each conference has

- an **identity** (RFC 8871 §5, and the WG's "people need to know what conference they are
  in"): the name participants are shown, bound to the Key Distributor's DTLS certificate for
  this conference. The certificate's subject common name must be exactly that name, and its
  fingerprint is what the call processing puts in ``a=fingerprint`` of its SDP answers; an
  endpoint that checks the fingerprint therefore knows the name is the Key Distributor's word;
- **admission**: ``open`` (any endpoint the call processing announces), or ``listed``: only
  endpoints matching an entry of ``participants``, by certificate fingerprint (strong: the
  endpoint proves it in DTLS) or by identity (a SIP URI, as asserted by the call processing:
  only as strong as the call processing, which RFC 8871 §3 does not trust; prefer
  fingerprints, or identities asserted with RFC 8224);
- **moderators** (same kinds of entries) who may lock the room and remove people;
- **rekeying** (RFC 8871 §4.5.2, §8.2.3): a new EKT key when someone joins, when someone leaves
  (both on by default) and every ``interval`` seconds (on by default, against delayed playout);
- **EKT**: the cipher (RFC 8870 §4.4) and ``ttl``, the lifetime endpoints enforce (§5.2);
  the periodic rekey must come before the TTL runs out, so ``interval`` < ``ttl``;
- the double SRTP **profiles** offered, **max_participants**, a **PIN** and the initial **lock**
  (these three are enforced by the call processing, in signalling; they keep people out of the
  call, not away from keys, which admission does).

The YAML layout is in ``configs/conferences.yaml``; every error names file, line and key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sipperc.config import ConfigNode, load_config
from sipperc.dtls import Fingerprint, Identity
from sipperc.perc.tunnel_tls import load_credentials
from sipperc.srtp import EKTCipher, Profile

MAX_EKT_TTL = (1 << 24) - 1
"""``ekt_ttl`` is a uint24 number of seconds (RFC 8870 §5.2)."""

DEFAULT_EKT_TTL = 1200
DEFAULT_REKEY_INTERVAL = 600.0
DOUBLE_PROFILES = (Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,
                   Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM)

# RFC 3986 unreserved characters: a room name is used as the user part of sip:room@host.
_ROOM = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_IDENTITY = re.compile(r"^(sips?|tel):\S+$", re.IGNORECASE)
_PIN = re.compile(r"^[0-9]{4,16}$")


class PolicyError(ValueError):
    """A policy value that cannot work; ``setting`` is its dotted name within the conference."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(problem)
        self.setting = setting


def normalize_identity(uri: str) -> str:
    """A SIP/tel URI in the form identities are compared in.

    Scheme and host are case-insensitive (RFC 3261 §19.1.4), the user part is not; URI
    parameters and angle brackets are dropped: an identity names a user, not a contact.
    """
    text = uri.strip().removeprefix("<").removesuffix(">")
    text = text.split(";", 1)[0]
    scheme, _, rest = text.partition(":")
    user, at, host = rest.rpartition("@")
    if not at:
        return f"{scheme.lower()}:{rest}"
    return f"{scheme.lower()}:{user}@{host.lower()}"


@dataclass(frozen=True, slots=True)
class ParticipantRule:
    """Who an entry of ``participants`` or ``moderators`` lets in: a fingerprint or an identity."""

    fingerprint: Fingerprint | None = None
    identity: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.fingerprint is None) == (self.identity is None):
            raise ValueError("give exactly one of 'fingerprint' or 'identity'")
        if self.identity is not None:
            if not _IDENTITY.match(self.identity):
                raise ValueError(f"identity {self.identity!r} is not a sip:, sips: or tel: URI")
            object.__setattr__(self, "identity", normalize_identity(self.identity))

    def matches(self, fingerprints: Iterable[Fingerprint], identity: str | None) -> bool:
        """True if an endpoint announced with these fingerprints and identity fits this entry.

        Fingerprints compare equal only under the same hash function; the check that counts
        is :meth:`matches_certificate`, once the endpoint has shown its certificate.
        """
        if self.fingerprint is not None:
            return self.fingerprint in set(fingerprints)
        return self._identity_matches(identity)

    def matches_certificate(self, certificate_der: bytes, identity: str | None) -> bool:
        """True if the endpoint that presented this certificate fits this entry."""
        if self.fingerprint is not None:
            return self.fingerprint.matches(certificate_der)
        return self._identity_matches(identity)

    def _identity_matches(self, identity: str | None) -> bool:
        return identity is not None and normalize_identity(identity) == self.identity


@dataclass(frozen=True, slots=True)
class RekeyPolicy:
    """When a new EKT key is issued (RFC 8871 §4.5.2)."""

    on_join: bool = True
    on_leave: bool = True
    interval: float | None = DEFAULT_REKEY_INTERVAL


@dataclass(frozen=True, slots=True)
class EKTPolicy:
    """The EKT parameters handed to endpoints (RFC 8870 §4.4, §5.2)."""

    cipher: EKTCipher = EKTCipher.AESKW_128
    ttl: int = DEFAULT_EKT_TTL

    def __post_init__(self) -> None:
        if not 1 <= self.ttl <= MAX_EKT_TTL:
            raise PolicyError("ekt.ttl", f"expected 1 to {MAX_EKT_TTL} seconds, got {self.ttl}")


@dataclass(frozen=True, slots=True)
class ConferenceIdentity:
    """The name participants see, and the Key Distributor's DTLS identity that carries it."""

    name: str
    dtls_identity: Identity

    def __post_init__(self) -> None:
        names = self.dtls_identity.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_names = [str(attribute.value) for attribute in names]
        if common_names != [self.name]:
            shown = common_names[0] if common_names else "no common name"
            raise PolicyError("certificate", f"the certificate is for {shown!r}, not "
                              f"{self.name!r}: the name people see must be the certificate's "
                              f"subject common name")

    @property
    def fingerprint(self) -> Fingerprint:
        """What the call processing puts in ``a=fingerprint`` of its SDP answers."""
        return Fingerprint.parse(self.dtls_identity.fingerprint)


@dataclass(frozen=True, slots=True)
class ConferencePolicy:
    """Everything the Key Distributor enforces for one conference (see the module docstring)."""

    room: str
    identity: ConferenceIdentity
    open: bool = False
    participants: tuple[ParticipantRule, ...] = ()
    moderators: tuple[ParticipantRule, ...] = ()
    rekey: RekeyPolicy = field(default_factory=RekeyPolicy)
    ekt: EKTPolicy = field(default_factory=EKTPolicy)
    profiles: tuple[Profile, ...] = DOUBLE_PROFILES
    max_participants: int | None = None
    pin: str | None = None
    locked: bool = False

    def __post_init__(self) -> None:
        if not _ROOM.match(self.room):
            raise PolicyError("", f"room name {self.room!r}: use 1-64 letters, digits or . _ ~ -")
        if not self.open and not self.participants:
            raise PolicyError("admission", "admission is 'listed' but no participants are "
                              "listed (list them, or set admission: open)")
        if self.open and self.participants:
            raise PolicyError("participants", "participants are listed only with "
                              "admission: listed")
        if self.rekey.interval is not None and self.rekey.interval >= self.ekt.ttl:
            raise PolicyError("rekey.interval", f"rekey interval {self.rekey.interval:g} s must "
                              f"be shorter than ekt.ttl {self.ekt.ttl} s, or endpoints would "
                              f"stop using the key before a new one arrives")
        for index, profile in enumerate(self.profiles):
            if not profile.is_double:
                raise PolicyError(f"profiles[{index}]", f"{profile.name} is not a double "
                                  f"profile: PERC needs end-to-end and hop-by-hop keys (RFC 8723)")
        if not self.profiles:
            raise PolicyError("profiles", "at least one profile is needed")
        if self.max_participants is not None and self.max_participants < 1:
            raise PolicyError("max_participants", "must be at least 1")
        if self.pin is not None and not _PIN.match(self.pin):
            raise PolicyError("pin", "a PIN is 4 to 16 digits")

    def admits(self, fingerprints: Iterable[Fingerprint],
               identity: str | None) -> bool:
        """True if admission would let an endpoint announced with these credentials in."""
        if self.open:
            return True
        announced = tuple(fingerprints)
        return any(rule.matches(announced, identity) for rule in self.participants)

    def admits_certificate(self, certificate_der: bytes, identity: str | None) -> bool:
        """True if admission lets in the endpoint that presented this certificate."""
        return self.open or any(rule.matches_certificate(certificate_der, identity)
                                for rule in self.participants)

    def is_moderator(self, fingerprints: Iterable[Fingerprint],
                     identity: str | None) -> bool:
        """True if the endpoint matches a ``moderators`` entry."""
        announced = tuple(fingerprints)
        return any(rule.matches(announced, identity) for rule in self.moderators)

    def __repr__(self) -> str:
        return (f"ConferencePolicy(room={self.room!r}, name={self.identity.name!r}, "
                f"open={self.open}, participants={len(self.participants)}, "
                f"moderators={len(self.moderators)}, rekey={self.rekey}, ekt={self.ekt}, "
                f"profiles={[p.name for p in self.profiles]}, "
                f"max_participants={self.max_participants}, "
                f"pin={'<set>' if self.pin else None}, locked={self.locked})")


def load_policies(path: str | Path) -> dict[str, ConferencePolicy]:
    """Read a conference policy file: ``{room: policy}``. ConfigError at the offending line."""
    root = load_config(path)
    return parse_policies(root)


def parse_policies(root: ConfigNode) -> dict[str, ConferencePolicy]:
    """The conferences of an already parsed policy document."""
    root.entries({"conferences"})
    conferences = root.require("conferences")
    policies: dict[str, ConferencePolicy] = {}
    for room, node in conferences.entries().items():
        policies[room] = parse_conference(room, node)
    if not policies:
        raise conferences.error("no conference is defined")
    return policies


_CONFERENCE_KEYS = ("name", "certificate", "private_key", "admission", "participants",
                    "moderators", "rekey", "ekt", "profiles", "max_participants", "pin",
                    "locked")


def parse_conference(room: str, node: ConfigNode) -> ConferencePolicy:
    """One conference's policy from its YAML mapping."""
    node.entries(_CONFERENCE_KEYS)
    ekt_node = node.section("ekt", {"cipher", "ttl"})
    cipher_name = ekt_node.get_str("cipher", EKTCipher.AESKW_128.name,
                                   choices=[c.name for c in EKTCipher])
    pin_node = node.child("pin")
    if pin_node is not None and not isinstance(pin_node.value, str):
        raise pin_node.error("write the PIN in quotes, e.g. pin: \"0815\" "
                             "(YAML reads unquoted digits as a number)")
    maximum = node.child("max_participants")
    try:
        return ConferencePolicy(
            room=room,
            identity=_identity(node),
            open=node.get_str("admission", "listed", choices=("open", "listed")) == "open",
            participants=tuple(_rule(item) for item in node.get_list("participants")),
            moderators=tuple(_rule(item) for item in node.get_list("moderators")),
            rekey=_rekey(node.section("rekey", {"on_join", "on_leave", "interval"})),
            ekt=EKTPolicy(EKTCipher[cipher_name], ekt_node.get_int("ttl", DEFAULT_EKT_TTL)),
            profiles=_profiles(node),
            max_participants=(node.get_int("max_participants")
                              if maximum is not None else None),
            pin=pin_node.value if pin_node is not None else None,
            locked=node.get_bool("locked", False),
        )
    except PolicyError as exc:
        raise _node_at(node, exc.setting).error(str(exc)) from None


def _node_at(node: ConfigNode, setting: str) -> ConfigNode:
    """The node of a setting (``rekey.interval``, ``profiles[1]``) as written in the file.

    Falls back to the nearest ancestor that was written, for a default that conflicts.
    """
    for part in filter(None, re.split(r"[.\[\]]+", setting)):
        child: ConfigNode | None = None
        if isinstance(node.value, dict):
            child = node.child(part)
        elif isinstance(node.value, list) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
        if child is None:
            break
        node = child
    return node


def _identity(node: ConfigNode) -> ConferenceIdentity:
    name = node.get_str("name")
    if not name.strip():
        raise node.require("name").error("the conference name must not be empty")
    key_node = node.require("private_key")
    credentials = load_credentials(node.require("certificate"), key_node)
    key = credentials.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve,
                                                                         ec.SECP256R1):
        raise key_node.error("the DTLS identity key must be ECDSA P-256 (sipperc's DTLS signs "
                             "with ecdsa_secp256r1_sha256)")
    return ConferenceIdentity(name, Identity(key, credentials.chain[0]))


def _rule(node: ConfigNode) -> ParticipantRule:
    if isinstance(node.value, str):
        # Shorthand: a bare fingerprint or identity.
        text = node.value
        entry: dict[str, str] = ({"identity": text} if _IDENTITY.match(text)
                                 else {"fingerprint": text})
        name = None
    else:
        node.entries({"name", "fingerprint", "identity"})
        entry = {}
        for key in ("fingerprint", "identity"):
            if node.child(key) is not None:
                entry[key] = node.get_str(key)
        name = node.get_str("name") if node.child("name") is not None else None
    if len(entry) != 1:
        raise node.error("give exactly one of 'fingerprint' (sha-256 AB:CD:...) or "
                         "'identity' (sip:user@host)")
    try:
        if "fingerprint" in entry:
            return ParticipantRule(fingerprint=Fingerprint.parse(entry["fingerprint"]),
                                   name=name)
        return ParticipantRule(identity=entry["identity"], name=name)
    except ValueError as exc:
        raise node.error(str(exc)) from None


def _rekey(node: ConfigNode) -> RekeyPolicy:
    interval_node = node.child("interval")
    interval: float | None = DEFAULT_REKEY_INTERVAL
    if interval_node is not None and interval_node.value is False:
        interval = None  # "interval: false" turns periodic rekeying off
    elif interval_node is not None:
        interval = node.get_float("interval", minimum=1)
    return RekeyPolicy(node.get_bool("on_join", True), node.get_bool("on_leave", True), interval)


def _profiles(node: ConfigNode) -> tuple[Profile, ...]:
    if node.child("profiles") is None:
        return DOUBLE_PROFILES
    profiles: list[Profile] = []
    for item in node.get_list("profiles"):
        try:
            profiles.append(Profile[str(item.value)])
        except KeyError:
            raise item.error(f"unknown profile {item.value!r}") from None
    return tuple(profiles)


__all__ = [
    "ConferenceIdentity",
    "ConferencePolicy",
    "EKTPolicy",
    "ParticipantRule",
    "PolicyError",
    "RekeyPolicy",
    "load_policies",
    "normalize_identity",
    "parse_conference",
    "parse_policies",
]
