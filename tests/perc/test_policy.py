import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sipperc.config import ConfigError
from sipperc.dtls import Fingerprint, Identity
from sipperc.perc.policy import (
    DOUBLE_PROFILES,
    ConferenceIdentity,
    ConferencePolicy,
    EKTPolicy,
    ParticipantRule,
    PolicyError,
    RekeyPolicy,
    load_policies,
    normalize_identity,
)
from sipperc.srtp import EKTCipher, Profile
from tests.perc.certs import make_identity

EXAMPLE = Path(__file__).parents[2] / "configs" / "conferences.yaml"


def conference_identity(name="Design review"):
    made = make_identity(name)
    return ConferenceIdentity(name, Identity(made.key, made.certificate))


@pytest.fixture
def example(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "conferences.yaml")
    (tmp_path / "certs").mkdir()
    make_identity("Design review").write(tmp_path / "certs", "design-review")
    make_identity("Lobby").write(tmp_path / "certs", "lobby")
    return tmp_path / "conferences.yaml"


def test_the_commented_example_loads(example):
    policies = load_policies(example)
    assert set(policies) == {"design-review", "lobby"}
    review = policies["design-review"]
    assert review.identity.name == "Design review"
    assert not review.open and len(review.participants) == 3
    assert review.participants[1] == ParticipantRule(identity="sip:bob@example.com", name="Bob")
    assert review.participants[2].fingerprint is not None  # bare-string shorthand
    assert review.rekey == RekeyPolicy(True, True, 600)
    assert review.ekt == EKTPolicy(EKTCipher.AESKW_128, 1200)
    assert review.profiles == DOUBLE_PROFILES
    assert review.max_participants == 25 and review.pin == "0815" and not review.locked
    lobby = policies["lobby"]
    assert lobby.open and lobby.participants == () and lobby.moderators == ()
    assert lobby.rekey == RekeyPolicy() and lobby.ekt == EKTPolicy()
    assert lobby.max_participants is None and lobby.pin is None


def test_repr_shows_neither_pin_nor_key(example):
    review = load_policies(example)["design-review"]
    text = repr(review)
    assert "0815" not in text and "pin=<set>" in text
    assert "PRIVATE" not in repr(review.identity) and "private_key" not in repr(review.identity)


def edit(example, old, new):
    text = example.read_text()
    assert old in text, old
    example.write_text(text.replace(old, new, 1))


def line_of(example, needle, occurrence=1):
    lines = example.read_text().splitlines()
    hits = [n for n, line in enumerate(lines, 1) if needle in line]
    return hits[occurrence - 1]


@pytest.mark.parametrize(("old", "new", "line_needle", "message"), [
    ("name: Design review", "name: Design Review", "certificate: certs/design-review.pem",
     r"conferences.design-review.certificate: the certificate is for 'Design review', not "
     r"'Design Review'"),
    ("interval: 600", "interval: 1200", "interval: 1200",
     r"conferences.design-review.rekey.interval: rekey interval 1200 s must be shorter than "
     r"ekt.ttl 1200 s"),
    ("ttl: 1200", "ttl: 16777216", "ttl: 16777216",
     r"conferences.design-review.ekt.ttl: expected 1 to 16777215 seconds"),
    ('pin: "0815"', "pin: 4711", "pin: 4711", r"conferences.design-review.pin: write the PIN in "
     r"quotes"),
    ('pin: "0815"', 'pin: "12"', 'pin: "12"', r"conferences.design-review.pin: a PIN is 4 to 16"),
    ("cipher: AESKW_128", "cipher: AESKW_512", "cipher: AESKW_512",
     r"conferences.design-review.ekt.cipher: expected one of AESKW_128, AESKW_256"),
    ("      - DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM", "      - AEAD_AES_128_GCM",
     "      - AEAD_AES_128_GCM", r"conferences.design-review.profiles\[1\]: AEAD_AES_128_GCM is "
     r"not a double profile"),
    ("      - DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM", "      - ROT13",
     "      - ROT13", r"conferences.design-review.profiles\[1\]: unknown profile 'ROT13'"),
    ("identity: sip:bob@example.com", "identity: bob@example.com", "- name: Bob",
     r"conferences.design-review.participants\[1\]: identity 'bob@example.com' is not a sip:"),
    ("        identity: sip:bob@example.com", "        identity: sip:bob@example.com\n"
     "        fingerprint: sha-256 00", "- name: Bob",
     r"conferences.design-review.participants\[1\]: give exactly one of 'fingerprint'"),
    ("    admission: open", "    admission: open\n    participants: [sip:x@y]",
     "participants: [sip:x@y]", r"conferences.lobby.participants: participants are listed only"),
    ("max_participants: 25", "max_participants: 0", "max_participants: 0",
     r"conferences.design-review.max_participants: must be at least 1"),
    ("locked: false", "locked: nope", "locked: nope",
     r"conferences.design-review.locked: expected true or false"),
    ("    admission: open", "    admision: open", "admision: open",
     r"conferences.lobby.admision: unknown setting"),
    ("private_key: certs/design-review.key", "private_key: certs/lobby.key",
     "private_key: certs/lobby.key",
     r"conferences.design-review.private_key: the private key does not belong to the "
     r"certificate"),
])
def test_errors_name_file_line_and_key(example, old, new, line_needle, message):
    edit(example, old, new)
    line = line_of(example, line_needle)
    with pytest.raises(ConfigError, match=f"conferences.yaml:{line}: {message}"):
        load_policies(example)


def test_listed_room_without_participants(example):
    text = example.read_text()
    start = text.index("    participants:\n")
    end = text.index("    # Who may lock")
    example.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError, match=r"conferences.design-review.admission: admission is "
                                          r"'listed' but no participants are listed"):
        load_policies(example)


def test_periodic_rekey_can_be_turned_off(example):
    edit(example, "interval: 600", "interval: false")
    assert load_policies(example)["design-review"].rekey.interval is None


def test_no_conferences(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("conferences: {}\n")
    with pytest.raises(ConfigError, match=r"empty.yaml:1: conferences: no conference is defined"):
        load_policies(path)


def test_admission_by_fingerprint_or_identity():
    alice = make_identity("alice").fingerprint
    mallory = make_identity("mallory").fingerprint
    policy = ConferencePolicy(
        "room", conference_identity(),
        participants=(ParticipantRule(fingerprint=alice),
                      ParticipantRule(identity="sip:Bob@Example.COM")),
        moderators=(ParticipantRule(fingerprint=alice),))
    assert policy.admits([mallory, alice], None)
    assert not policy.admits([mallory], "sip:alice@example.com")
    assert policy.admits([mallory], "<sip:Bob@example.com;transport=tls>")
    assert not policy.admits([mallory], "sip:bob@example.com")  # the user part is case-sensitive
    assert policy.is_moderator([alice], None) and not policy.is_moderator([mallory], None)
    open_room = ConferencePolicy("lobby", conference_identity(), open=True)
    assert open_room.admits([mallory], None)


def test_identity_normalization():
    assert normalize_identity("SIP:alice@EXAMPLE.com") == "sip:alice@example.com"
    assert normalize_identity("<sips:Alice@Example.com;gr=x>") == "sips:Alice@example.com"
    assert normalize_identity("tel:+15551234") == "tel:+15551234"


def test_policy_invariants_hold_outside_yaml_too():
    identity = conference_identity()
    with pytest.raises(PolicyError, match="room name"):
        ConferencePolicy("no spaces", identity, open=True)
    with pytest.raises(PolicyError) as info:
        ConferencePolicy("r", identity, open=True, rekey=RekeyPolicy(interval=5000))
    assert info.value.setting == "rekey.interval"
    with pytest.raises(PolicyError, match="at least one profile"):
        ConferencePolicy("r", identity, open=True, profiles=())
    with pytest.raises(PolicyError, match="not a double profile"):
        ConferencePolicy("r", identity, open=True, profiles=(Profile.AEAD_AES_128_GCM,))
    with pytest.raises(ValueError, match="exactly one"):
        ParticipantRule()
    with pytest.raises(ValueError, match="exactly one"):
        ParticipantRule(fingerprint=Fingerprint.of(b"x"), identity="sip:a@b")


def test_conference_identity_is_the_certificates_common_name():
    identity = conference_identity("Board room")
    assert str(identity.fingerprint) == identity.dtls_identity.fingerprint
    with pytest.raises(PolicyError, match="the certificate is for 'Board room', not 'Boardroom'"):
        ConferenceIdentity("Boardroom", identity.dtls_identity)


def test_conference_key_must_be_p256_for_dtls(example):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    made = make_identity("Lobby", key=rsa_key)
    made.write(example.parent / "certs", "lobby")
    with pytest.raises(ConfigError, match=r"conferences.lobby.private_key: the DTLS identity key "
                                          r"must be ECDSA P-256"):
        load_policies(example)
