import itertools
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls import Fingerprint, Identity
from sipperc.perc.focus_interface import (
    RECEIVABLE,
    SENDABLE,
    Accepted,
    Announce,
    FocusInterfaceClosed,
    FocusInterfaceConnection,
    FocusInterfaceError,
    FocusInterfaceServer,
    FocusMessageType,
    FocusRole,
    FocusState,
    Hello,
    ParticipantState,
    ParticipantStatus,
    Refused,
    VersionRefused,
    Welcome,
    Withdraw,
    Withdrawn,
    decode_focus_body,
    encode_focus_message,
)
from sipperc.perc.key_distributor import (
    KeyDistributor,
    ParticipantAnnouncement,
    SendEKTKey,
)
from sipperc.perc.policy import ConferenceIdentity, ConferencePolicy, ParticipantRule

KD_IDENTITY = Identity.generate("Design review")
ALICE = Identity.generate("alice")
MALLORY = Identity.generate("mallory")
INSTANCE = uuid.UUID("7d0c1e51-0f4b-4b8e-9d1b-7a3e52f0c9aa")


def announcement(who=ALICE, participant="alice", tls=b"alice-tls-id-0123456789", room="room"):
    return ParticipantAnnouncement(room, participant, tls, (Fingerprint.parse(who.fingerprint),),
                                   "sip:alice@example.com")


def setup(policy=None):
    policy = policy or ConferencePolicy(
        "room", ConferenceIdentity("Design review", KD_IDENTITY), open=False,
        participants=(ParticipantRule(fingerprint=Fingerprint.parse(ALICE.fingerprint)),))
    kd = KeyDistributor({"room": policy}, 0.0)
    server = FocusInterfaceServer(kd, INSTANCE)
    focus = FocusInterfaceConnection(FocusRole.FOCUS, focus_name="focus-1")
    server.connection_made()
    focus.connection_made()
    exchange(focus, server)
    return kd, server, focus


def exchange(focus, server, now=0.0):
    """Move bytes both ways until quiet; returns (focus events, KD actions, wire KD->focus)."""
    events, actions, wire = [], [], b""
    while True:
        to_kd = focus.data_to_send()
        if to_kd:
            new_actions, _ = server.receive_data(to_kd, now)
            actions += new_actions
        to_focus = server.data_to_send()
        wire += to_focus
        if to_focus:
            events += focus.receive_data(to_focus)
        if not to_kd and not to_focus:
            return events, actions, wire


def test_hello_welcome_opens_both_sides():
    _, server, focus = setup()
    assert focus.state is FocusState.OPEN and server.connection.state is FocusState.OPEN
    assert focus.peer_instance == INSTANCE


def test_announce_is_answered_with_public_values_only():
    kd, server, focus = setup()
    request = focus.announce(announcement())
    events, _, _ = exchange(focus, server)
    (accepted,) = events
    assert accepted.request_id == request
    assert str(accepted.key_distributor_fingerprint) == KD_IDENTITY.fingerprint
    assert kd.expectation(b"alice-tls-id-0123456789", 0.0).key_distributor_tls_id == (
        accepted.key_distributor_tls_id)


def test_unlisted_participant_is_refused_at_announcement():
    _, server, focus = setup()
    request = focus.announce(announcement(MALLORY, "mallory", b"mallory-tls-id-01234567"))
    events, _, _ = exchange(focus, server)
    assert events == [Refused(request, "not on the conference's participant list")]


def test_focus_hears_who_was_admitted_refused_and_left():
    kd, server, focus = setup()
    focus.announce(announcement())
    exchange(focus, server)
    association = uuid.uuid4()
    actions = kd.admit(association, b"alice-tls-id-0123456789", ALICE.certificate_der, 1.0)
    server.notify(actions)
    impostor = uuid.uuid4()
    server.notify(kd.admit(impostor, b"alice-tls-id-0123456789", MALLORY.certificate_der, 1.0))
    server.notify(kd.endpoint_gone(association, 2.0))
    events, _, _ = exchange(focus, server)
    assert events == [
        ParticipantStatus("room", "alice", ParticipantState.ADMITTED),
        ParticipantStatus("room", "alice", ParticipantState.REFUSED,
                          "the certificate does not match the fingerprint in the endpoint's SDP"),
        ParticipantStatus("room", "alice", ParticipantState.LEFT),
    ]


def test_withdraw_closes_the_participants_associations():
    kd, server, focus = setup()
    focus.announce(announcement())
    exchange(focus, server)
    association = uuid.uuid4()
    kd.admit(association, b"alice-tls-id-0123456789", ALICE.certificate_der, 1.0)
    request = focus.withdraw("room", "alice")
    events, actions, _ = exchange(focus, server, now=2.0)
    assert events == [Withdrawn(request)]
    assert any(getattr(a, "association_id", None) == association for a in actions)


def test_no_key_material_ever_reaches_the_focus():
    """A whole conference's worth of keys, and the focus connection carries none of them."""
    policy = ConferencePolicy("room", ConferenceIdentity("Design review", KD_IDENTITY),
                              open=True)
    kd, server, focus = setup(policy)
    endpoints = [Identity.generate(f"e{i}") for i in range(4)]
    secrets_sent = []
    wire = b""
    for i, endpoint in enumerate(endpoints):
        tls = f"endpoint-{i}-tls-id-0123456".encode()
        focus.announce(announcement(endpoint, f"p{i}", tls))
        wire += exchange(focus, server)[2]
        actions = kd.admit(uuid.uuid4(), tls, endpoint.certificate_der, float(i))
        server.notify(actions)
        secrets_sent += [a.parameters for a in actions if isinstance(a, SendEKTKey)]
        wire += exchange(focus, server)[2]
    assert len({p.spi for p in secrets_sent}) == 4  # it rekeyed on every join
    for parameters in secrets_sent:
        assert parameters.ekt_key not in wire
        assert parameters.srtp_master_salt not in wire


def test_unsupported_version_is_refused_and_closed():
    kd = KeyDistributor({}, 0.0)
    server = FocusInterfaceServer(kd, INSTANCE)
    server.connection_made()
    _, closed = server.receive_data(encode_focus_message(Hello(3, "future")), 0.0)
    assert closed == FocusInterfaceClosed("the focus asked for version 3; highest supported is 0",
                                          True)
    reply = server.data_to_send()
    focus = FocusInterfaceConnection(FocusRole.FOCUS)
    focus.connection_made()
    events = focus.receive_data(reply)
    assert events[0] == VersionRefused(0) and events[1].error


messages = st.one_of(
    st.builds(Hello, st.integers(0, 255), st.text(max_size=20)),
    st.builds(Announce, st.integers(0, 2**32 - 1), st.builds(
        ParticipantAnnouncement, st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
        st.text(min_size=1, max_size=30).filter(lambda t: len(t.encode()) <= 255),
        st.from_regex(rb"[A-Za-z0-9+/_-]{20,40}", fullmatch=True),
        st.lists(st.binary(min_size=1, max_size=30).map(Fingerprint.of), min_size=1,
                 max_size=3).map(tuple),
        st.none() | st.just("sip:bob@example.com"))),
    st.builds(Withdraw, st.integers(0, 2**32 - 1), st.just("room"), st.just("bob")),
    st.builds(Welcome, st.integers(0, 255), st.uuids()),
    st.builds(Accepted, st.integers(0, 2**32 - 1), st.binary(max_size=9).map(Fingerprint.of),
              st.from_regex(rb"[A-Za-z0-9_-]{24}", fullmatch=True)),
    st.builds(Refused, st.integers(0, 2**32 - 1), st.text(max_size=50)),
    st.builds(Withdrawn, st.integers(0, 2**32 - 1)),
    st.builds(ParticipantStatus, st.just("room"), st.just("p"),
              st.sampled_from(list(ParticipantState)), st.text(max_size=20)),
    st.builds(VersionRefused, st.integers(0, 255)),
)


@given(messages)
def test_every_message_round_trips(message):
    wire = encode_focus_message(message)
    assert decode_focus_body(FocusMessageType(wire[0]), wire[3:]) == message


@given(messages, st.data())
def test_truncated_bodies_raise_our_error(message, data):
    wire = encode_focus_message(message)
    body = wire[3:]
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(FocusInterfaceError):
        decode_focus_body(FocusMessageType(wire[0]), body[:cut])


@given(st.binary(max_size=300), st.sampled_from(list(FocusRole)))
def test_garbage_never_raises_and_closes_once(data, role):
    conn = FocusInterfaceConnection(role, instance=INSTANCE)
    conn.connection_made()
    events = conn.receive_data(data)
    closes = [e for e in events if isinstance(e, FocusInterfaceClosed)]
    assert len(closes) <= 1
    if closes:
        assert conn.state is FocusState.CLOSED


EXAMPLES = {
    FocusMessageType.HELLO: Hello(0, "f"),
    FocusMessageType.ANNOUNCE: Announce(1, announcement()),
    FocusMessageType.WITHDRAW: Withdraw(1, "room", "alice"),
    FocusMessageType.WELCOME: Welcome(0, INSTANCE),
    FocusMessageType.ACCEPTED: Accepted(1, Fingerprint.parse(KD_IDENTITY.fingerprint),
                                        b"kd-tls-id-0123456789abc"),
    FocusMessageType.REFUSED: Refused(1, "no"),
    FocusMessageType.WITHDRAWN: Withdrawn(1),
    FocusMessageType.PARTICIPANT_STATUS: ParticipantStatus("room", "a", ParticipantState.LEFT),
    FocusMessageType.VERSION_REFUSED: VersionRefused(0),
}


def opened(role):
    conn = FocusInterfaceConnection(role, instance=INSTANCE)
    conn.connection_made()
    conn.data_to_send()
    opener = Welcome(0, INSTANCE) if role is FocusRole.FOCUS else Hello(0, "f")
    conn.receive_data(encode_focus_message(opener))
    conn.data_to_send()
    return conn


@pytest.mark.parametrize(("role", "kind"), list(itertools.product(FocusRole, FocusMessageType)))
def test_open_connections_follow_the_tables(role, kind):
    receiver = opened(role)
    events = receiver.receive_data(encode_focus_message(EXAMPLES[kind]))
    if kind in RECEIVABLE[(role, FocusState.OPEN)]:
        assert events == [EXAMPLES[kind]]
    else:
        assert isinstance(events[-1], FocusInterfaceClosed) and events[-1].error
    sender = opened(role)
    if kind in SENDABLE[(role, FocusState.OPEN)]:
        sender.send(EXAMPLES[kind])
    else:
        with pytest.raises(FocusInterfaceError):
            sender.send(EXAMPLES[kind])
