import uuid
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.dtls import EKTKey, Fingerprint, Identity
from sipperc.perc.key_distributor import (
    AnnouncementAccepted,
    AnnouncementRefused,
    CloseAssociation,
    ConferenceKeying,
    EKTParameterSet,
    EndpointAdmitted,
    EndpointLeft,
    EndpointRefused,
    KeyDistributor,
    ParticipantAnnouncement,
    Rekeyed,
    RekeyReason,
    SendEKTKey,
    SPIExhaustedError,
    StateChanged,
)
from sipperc.perc.key_distributor_state import ConferenceState
from sipperc.perc.policy import (
    ConferenceIdentity,
    ConferencePolicy,
    EKTPolicy,
    ParticipantRule,
    RekeyPolicy,
)
from sipperc.srtp import EKTCipher

KD_IDENTITY = Identity.generate("Design review")
ENDPOINTS = [Identity.generate(f"endpoint-{i}") for i in range(6)]


def policy(**changes):
    base = ConferencePolicy("room", ConferenceIdentity("Design review", KD_IDENTITY), open=True)
    return replace(base, **changes)


def tls_id(n):
    return f"endpoint-tls-id-{n:08d}".encode()


def announcement(n, room="room", identity=None, fingerprint=None):
    return ParticipantAnnouncement(
        room, f"participant-{n}", tls_id(n),
        (fingerprint or Fingerprint.parse(ENDPOINTS[n].fingerprint),), identity)


class Harness:
    """A KeyDistributor with endpoints that announce, connect and leave."""

    def __init__(self, **policy_changes):
        self.now = 1000.0
        self.kd = KeyDistributor({"room": policy(**policy_changes)}, self.now)
        self.associations = {}
        self.actions = []

    def announce(self, n, **kwargs):
        return self.kd.announce(announcement(n, **kwargs), self.now)

    def connect(self, n, certificate=None):
        association = uuid.uuid4()
        self.associations.setdefault(n, []).append(association)
        cert = certificate or ENDPOINTS[n].certificate_der
        actions = self.kd.admit(association, tls_id(n), cert, self.now)
        self.actions += actions
        return association, actions

    def join(self, n):
        self.announce(n)
        return self.connect(n)

    def gone(self, association):
        actions = self.kd.endpoint_gone(association, self.now)
        self.actions += actions
        return actions

    def tick(self, seconds):
        self.now += seconds
        actions = []
        while (deadline := self.kd.get_timer()) is not None and deadline <= self.now:
            actions += self.kd.handle_timer(deadline)
        actions += self.kd.handle_timer(self.now)
        self.actions += actions
        return actions


def keys_sent(actions):
    return [(a.association_id, a.parameters) for a in actions if isinstance(a, SendEKTKey)]


def test_parameter_set_hides_its_secrets_and_becomes_an_ekt_key_message():
    params = EKTParameterSet(7, EKTCipher.AESKW_128, b"K" * 16, b"S" * 12, 1200, 5.0)
    assert "KKKK" not in repr(params) and "SSSS" not in repr(params)
    assert "<16 bytes>" in repr(params) and "<12 bytes>" in repr(params)
    assert params.message() == EKTKey(b"K" * 16, b"S" * 12, 7, 1200)
    with pytest.raises(ValueError, match="32-byte EKTKey"):
        EKTParameterSet(7, EKTCipher.AESKW_256, b"K" * 16, b"S" * 12, 1200, 5.0)


def test_announcement_answer_carries_the_conference_fingerprint_and_a_kd_tls_id():
    h = Harness()
    answer = h.announce(0)
    assert isinstance(answer, AnnouncementAccepted)
    assert str(answer.key_distributor_fingerprint) == KD_IDENTITY.fingerprint
    assert 20 <= len(answer.key_distributor_tls_id) <= 255
    assert h.announce(0) == answer  # idempotent
    other = h.announce(1)
    assert other.key_distributor_tls_id != answer.key_distributor_tls_id


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: announcement(0, room="nowhere"), "no conference 'nowhere' here"),
    (lambda: replace(announcement(1), tls_id=tls_id(0)),
     "tls-id already announced for another participant"),
    (lambda: replace(announcement(0), identity="sip:x@y"),
     "tls-id already announced with other credentials"),
])
def test_bad_announcements_are_refused(make, reason):
    h = Harness()
    h.announce(0)
    result = h.kd.announce(make(), h.now)
    assert isinstance(result, AnnouncementRefused) and result.reason == reason


def test_announcement_values_are_validated():
    with pytest.raises(ValueError, match="tls_id"):
        replace(announcement(0), tls_id=b"short")
    with pytest.raises(ValueError, match="tls_id"):
        replace(announcement(0), tls_id=b"x" * 19 + b" ")
    with pytest.raises(ValueError, match="fingerprints"):
        replace(announcement(0), fingerprints=())


def test_listed_room_refuses_an_unlisted_announcement_before_any_dtls():
    listed = ParticipantRule(fingerprint=Fingerprint.parse(ENDPOINTS[0].fingerprint))
    h = Harness(open=False, participants=(listed,))
    assert isinstance(h.announce(0), AnnouncementAccepted)
    refused = h.announce(1)
    assert refused == AnnouncementRefused("room", "participant-1",
                                          "not on the conference's participant list")


def test_first_endpoint_gets_a_fresh_key():
    h = Harness()
    association, actions = h.join(0)
    admitted, rekeyed, sent, state = actions
    assert admitted == EndpointAdmitted(association, "room", "participant-0",
                                        Fingerprint.of(ENDPOINTS[0].certificate_der), True)
    assert rekeyed.reason is RekeyReason.FIRST and rekeyed.recipients == 1
    assert sent.association_id == association and sent.parameters.spi == rekeyed.spi
    assert len(sent.parameters.ekt_key) == 16 and len(sent.parameters.srtp_master_salt) == 12
    assert sent.parameters.ttl == 1200
    assert isinstance(state, StateChanged)


@pytest.mark.parametrize(("tls", "cert", "reason"), [
    (None, ENDPOINTS[0].certificate_der, "carried no external_session_id"),
    (tls_id(5), ENDPOINTS[0].certificate_der, "no participant was announced with this tls-id"),
    (tls_id(0), ENDPOINTS[1].certificate_der, "certificate does not match the fingerprint"),
])
def test_unauthorized_endpoints_get_no_keys(tls, cert, reason):
    h = Harness()
    h.announce(0)
    association = uuid.uuid4()
    actions = h.kd.admit(association, tls, cert, h.now)
    assert keys_sent(actions) == []
    refused, close = actions
    assert isinstance(refused, EndpointRefused) and reason in refused.reason
    assert close == CloseAssociation(association, refused.reason)


def test_identity_entries_trust_the_announced_identity_fingerprints_the_certificate():
    bob = ParticipantRule(identity="sip:bob@example.com")
    h = Harness(open=False, participants=(bob,))
    assert isinstance(h.announce(0, identity="sip:bob@example.com"), AnnouncementAccepted)
    _, actions = h.connect(0)
    assert keys_sent(actions)
    alice = ParticipantRule(fingerprint=Fingerprint.parse(ENDPOINTS[2].fingerprint))
    h = Harness(open=False, participants=(alice,))
    # Announced with Alice's fingerprint, but the endpoint shows another certificate.
    h.kd.announce(announcement(3, fingerprint=Fingerprint.parse(ENDPOINTS[2].fingerprint)),
                  h.now)
    _, actions = h.connect(3, certificate=ENDPOINTS[3].certificate_der)
    assert keys_sent(actions) == []


def test_unused_announcements_expire():
    h = Harness()
    h.announce(0)
    h.tick(121)
    _, actions = h.connect(0)
    assert isinstance(actions[0], EndpointRefused)
    assert h.kd.expectation(tls_id(0), h.now) is None


def test_expectation_tells_the_edge_how_to_set_up_dtls():
    h = Harness()
    answer = h.announce(0)
    expected = h.kd.expectation(tls_id(0), h.now)
    assert expected.room == "room" and expected.participant_id == "participant-0"
    assert expected.key_distributor_tls_id == answer.key_distributor_tls_id
    assert expected.policy.identity.dtls_identity is KD_IDENTITY
    assert expected.fingerprints == (Fingerprint.parse(ENDPOINTS[0].fingerprint),)


def test_join_rekeys_everyone_and_the_newcomer_never_sees_the_old_key():
    h = Harness()
    a, first = h.join(0)
    old = keys_sent(first)[0][1]
    b, actions = h.join(1)
    rekeyed = next(x for x in actions if isinstance(x, Rekeyed))
    assert rekeyed.reason is RekeyReason.JOIN and rekeyed.recipients == 2
    sent = keys_sent(actions)
    assert {assoc for assoc, _ in sent} == {a, b}
    new = sent[0][1]
    assert new.spi != old.spi and new.ekt_key != old.ekt_key
    assert new.srtp_master_salt != old.srtp_master_salt
    assert all(p.spi == new.spi for assoc, p in keys_sent(h.actions) if assoc == b)


def test_without_rekey_on_join_the_newcomer_gets_the_current_key():
    h = Harness(rekey=RekeyPolicy(on_join=False))
    _, first = h.join(0)
    b, actions = h.join(1)
    assert not any(isinstance(x, Rekeyed) for x in actions)
    assert keys_sent(actions) == [(b, keys_sent(first)[0][1])]


def test_leave_rekeys_the_others_and_the_leaver_never_gets_the_new_key():
    h = Harness()
    a, _ = h.join(0)
    b, _ = h.join(1)
    c, _ = h.join(2)
    actions = h.gone(b)
    assert actions[0] == EndpointLeft("room", "participant-1",
                                      Fingerprint.of(ENDPOINTS[1].certificate_der))
    rekeyed = actions[1]
    assert rekeyed.reason is RekeyReason.LEAVE and rekeyed.recipients == 2
    assert {assoc for assoc, _ in keys_sent(actions)} == {a, c}
    assert h.gone(b) == []


def test_without_rekey_on_leave_the_key_stays():
    h = Harness(rekey=RekeyPolicy(on_leave=False))
    h.join(0)
    b, _ = h.join(1)
    actions = h.gone(b)
    assert not any(isinstance(x, Rekeyed) for x in actions)


def test_a_members_second_association_is_a_re_handshake_not_a_join():
    h = Harness()
    a1, _ = h.join(0)
    h.join(1)
    current = keys_sent(h.actions)[-1][1]
    a2, actions = h.connect(0)  # e.g. after a re-INVITE or a Media Distributor restart
    assert actions[0].joined is False
    assert keys_sent(actions) == [(a2, current)]
    assert not any(isinstance(x, Rekeyed) for x in actions)
    closing_old = h.gone(a1)
    assert not any(isinstance(x, (Rekeyed, EndpointLeft)) for x in closing_old)


def test_periodic_rekey_and_ttl_bound():
    h = Harness(rekey=RekeyPolicy(interval=300))
    h.join(0)
    h.join(1)
    assert h.kd.get_timer() == pytest.approx(h.now + 300)
    actions = h.tick(300)
    rekeyed = [x for x in actions if isinstance(x, Rekeyed)]
    assert [r.reason for r in rekeyed] == [RekeyReason.PERIODIC]
    assert rekeyed[0].recipients == 2
    h2 = Harness(rekey=RekeyPolicy(interval=None), ekt=EKTPolicy(ttl=100))
    h2.join(0)
    assert h2.kd.get_timer() == pytest.approx(h2.now + 90)  # before the TTL runs out
    assert any(isinstance(x, Rekeyed) for x in h2.tick(90))


def test_an_empty_conference_drops_its_key_and_never_reuses_the_spi():
    h = Harness()
    a, first = h.join(0)
    old = keys_sent(first)[0][1]
    h.gone(a)
    _, again = h.join(1)
    new = keys_sent(again)[0][1]
    assert new.spi != old.spi and new.ekt_key != old.ekt_key
    assert [x.reason for x in again if isinstance(x, Rekeyed)] == [RekeyReason.FIRST]


def test_withdraw_closes_the_participants_associations_and_rekeys():
    h = Harness()
    h.join(0)
    b, _ = h.join(1)
    actions = h.kd.withdraw("room", "participant-1", h.now)
    assert actions[0] == CloseAssociation(b, "the participant was withdrawn")
    assert any(isinstance(x, Rekeyed) and x.reason is RekeyReason.LEAVE for x in actions)
    assert h.kd.expectation(tls_id(1), h.now) is None


def test_max_participants_counts_endpoints_not_associations():
    h = Harness(max_participants=2)
    h.join(0)
    h.join(1)
    _, refused = h.join(2)
    assert isinstance(refused[0], EndpointRefused) and "full" in refused[0].reason
    _, again = h.connect(1)  # a member's re-handshake still works
    assert keys_sent(again)


def test_restart_keeps_spis_and_lets_members_return_without_a_rekey_storm():
    h = Harness()
    for n in range(3):
        h.join(n)
    before = {p.spi for _, p in keys_sent(h.actions)}
    state = h.kd.snapshot()
    assert state.conferences["room"].members == {
        Fingerprint.of(ENDPOINTS[n].certificate_der) for n in range(3)}
    # The Key Distributor restarts: a new core from the saved state.
    h.now += 5
    h.kd = KeyDistributor({"room": policy()}, h.now, state)
    h.actions = []
    for n in range(3):
        h.join(n)
    rekeys = [x for x in h.actions if isinstance(x, Rekeyed)]
    assert [r.reason for r in rekeys] == [RekeyReason.FIRST]  # one new key, not three
    assert rekeys[0].spi not in before
    # Someone who was not a member is a newcomer as usual.
    h.join(3)
    assert [x.reason for x in h.actions if isinstance(x, Rekeyed)][-1] is RekeyReason.JOIN


def test_members_returning_after_the_grace_period_are_newcomers():
    h = Harness()
    h.join(0)
    h.join(1)
    state = h.kd.snapshot()
    h.kd = KeyDistributor({"room": policy()}, h.now, state, rejoin_grace=10)
    h.join(0)
    h.tick(11)
    _, actions = h.join(1)
    assert any(isinstance(x, Rekeyed) and x.reason is RekeyReason.JOIN for x in actions)


def test_spi_exhaustion_is_an_error_not_a_reuse():
    state = ConferenceState(0, {spi: 1e12 for spi in range(65536)})
    keying = ConferenceKeying(policy(), 0.0, state)
    with pytest.raises(SPIExhaustedError, match="all 65536 SPIs"):
        keying.join(Fingerprint.of(b"x"), "p", uuid.uuid4(), 0.0)


def test_spis_whose_keys_expired_can_come_round_again():
    state = ConferenceState(10, {spi: 50.0 for spi in range(65536) if spi != 3})
    keying = ConferenceKeying(policy(), 0.0, state)
    actions = keying.join(Fingerprint.of(b"x"), "p", uuid.uuid4(), 0.0)
    assert keys_sent(actions)[0][1].spi == 3
    later = ConferenceKeying(policy(), 100.0, state)
    assert keys_sent(later.join(Fingerprint.of(b"x"), "p", uuid.uuid4(), 100.0))[0][1].spi == 10


# -- properties ---------------------------------------------------------------------------------

operations = st.lists(st.one_of(
    st.tuples(st.just("join"), st.integers(0, 5)),
    st.tuples(st.just("leave"), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.floats(0.1, 400.0)),
), max_size=40)


@settings(max_examples=80, deadline=None)
@given(operations)
def test_nobody_reads_before_joining_or_after_leaving_and_spis_are_unique(ops):
    """Whatever the sequence of joins, leaves and time: a joiner is never given a key someone
    else already had, a leaver's keys are never handed out again, SPIs are never reused, and
    every member always holds the newest key."""
    h = Harness(rekey=RekeyPolicy(interval=300))
    present = {}  # endpoint -> association
    received = {}  # spi -> set of endpoints it was sent to
    created = []
    left_with = []  # (time, set of spis the leaver held)
    owner = {}
    for op, value in ops:
        if op == "join" and value not in present:
            association, actions = h.join(value)
            present[value] = association
            owner[association] = value
        elif op == "leave" and value in present:
            actions = h.gone(present.pop(value))
        elif op == "wait":
            actions = h.tick(value)
        else:
            continue
        for action in actions:
            if isinstance(action, Rekeyed):
                created.append(action.spi)
        before = {spi: set(who) for spi, who in received.items()}
        for association, params in keys_sent(actions):
            endpoint = owner[association]
            if op == "join" and endpoint == value:
                # A joiner may only get a key nobody else had before it came (rekey on join).
                assert before.get(params.spi, set()) <= {endpoint}
            for _, spis in left_with:
                assert params.spi not in spis
            received.setdefault(params.spi, set()).add(endpoint)
        if op == "leave":
            left_with.append((h.now, {spi for spi, who in received.items() if value in who}))
        if present:
            newest = created[-1]
            assert all(value in received[newest] for value in present)
    assert len(created) == len(set(created))


def test_pending_announcements_are_bounded():
    kd = KeyDistributor({"room": policy()}, 0.0, max_pending_announcements=2)
    assert isinstance(kd.announce(announcement(0), 0.0), AnnouncementAccepted)
    assert isinstance(kd.announce(announcement(1), 0.0), AnnouncementAccepted)
    refused = kd.announce(announcement(2), 0.0)
    assert refused == AnnouncementRefused("room", "participant-2",
                                          "too many pending announcements")
    kd.admit(uuid.uuid4(), tls_id(0), ENDPOINTS[0].certificate_der, 1.0)  # no longer pending
    assert isinstance(kd.announce(announcement(2), 1.0), AnnouncementAccepted)
