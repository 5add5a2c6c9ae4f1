import itertools
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.perc.tunnel import (
    SENDABLE,
    TRANSITIONS,
    TunnelClosed,
    TunnelConnection,
    TunnelOpened,
    TunnelRole,
    TunnelState,
    UnknownMessageIgnored,
)
from sipperc.perc.tunnel_messages import (
    EndpointDisconnect,
    MediaKeys,
    MessageType,
    SupportedProfiles,
    TunneledDtls,
    TunnelError,
    UnsupportedVersion,
    encode_message,
    new_association_id,
)
from sipperc.srtp import Profile

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM
PROFILES = SupportedProfiles.of([DOUBLE_128, DOUBLE_256])
ASSOCIATION = uuid.UUID("5b9f4f43-2bd1-4c1e-9a56-0c3f6cf1e0a1")


def hop_keys(profile=DOUBLE_128, association=ASSOCIATION):
    key = profile.master_key_length // 2
    salt = profile.master_salt_length // 2
    return MediaKeys(association, profile.dtls_id, b"\x01" * key, b"\x02" * key,
                     b"\x03" * salt, b"\x04" * salt)


def connected_pair(profiles=PROFILES):
    """An MD and a KD connection joined in memory, with SupportedProfiles delivered."""
    md = TunnelConnection.media_distributor(profiles)
    kd = TunnelConnection.key_distributor()
    md.connection_made()
    kd.connection_made()
    events = kd.receive_data(md.data_to_send())
    return md, kd, events


def test_media_distributor_sends_supported_profiles_first_and_kd_opens():
    md = TunnelConnection.media_distributor(PROFILES)
    md.connection_made()
    first = md.data_to_send()
    assert first == bytes.fromhex("0100070000040009000A")
    kd = TunnelConnection.key_distributor()
    kd.connection_made()
    assert kd.receive_data(first) == [TunnelOpened(PROFILES)]
    assert kd.state is TunnelState.OPEN and kd.profiles == PROFILES


def test_dtls_relay_and_media_keys_in_both_directions():
    md, kd, _ = connected_pair()
    association = new_association_id()
    md.send(TunneledDtls(association, b"\x16\xfe\xfd client hello"))
    assert kd.receive_data(md.data_to_send()) == [
        TunneledDtls(association, b"\x16\xfe\xfd client hello")]
    kd.send(TunneledDtls(association, b"\x16\xfe\xfd server hello"))
    kd.send(hop_keys(association=association))
    kd.send(EndpointDisconnect(association))
    events = md.receive_data(kd.data_to_send())
    assert events == [TunneledDtls(association, b"\x16\xfe\xfd server hello"),
                      hop_keys(association=association), EndpointDisconnect(association)]
    assert md.state is TunnelState.OPEN
    md.send(EndpointDisconnect(association))
    assert kd.receive_data(md.data_to_send()) == [EndpointDisconnect(association)]


def test_byte_at_a_time_delivery_gives_the_same_events():
    md, kd, _ = connected_pair()
    kd.send(hop_keys())
    kd.send(TunneledDtls(ASSOCIATION, bytes(range(200))))
    wire = kd.data_to_send()
    events = []
    for i in range(len(wire)):
        events.extend(md.receive_data(wire[i:i + 1]))
    assert events == [hop_keys(), TunneledDtls(ASSOCIATION, bytes(range(200)))]


def test_kd_rejects_unsupported_version_and_closes():
    md = TunnelConnection.media_distributor(SupportedProfiles.of([DOUBLE_128], version=1))
    kd = TunnelConnection.key_distributor()
    md.connection_made()
    kd.connection_made()
    events = kd.receive_data(md.data_to_send())
    assert events == [TunnelClosed(
        "the Media Distributor asked for tunnel version 1; highest supported is 0", error=True)]
    assert kd.state is TunnelState.CLOSED
    reply = kd.data_to_send()
    assert reply == bytes.fromhex("02000100")
    md_events = md.receive_data(reply)
    assert md_events[0] == UnsupportedVersion(0)
    assert isinstance(md_events[1], TunnelClosed) and md_events[1].error
    assert md.state is TunnelState.CLOSED


def test_kd_rejects_a_future_version_without_parsing_its_body():
    kd = TunnelConnection.key_distributor()
    kd.connection_made()
    # Version 7 with a body layout version 0 cannot parse.
    events = kd.receive_data(b"\x01\x00\x03\x07\xff\xff")
    assert events == [TunnelClosed(
        "the Media Distributor asked for tunnel version 7; highest supported is 0", error=True)]
    assert kd.data_to_send() == b"\x02\x00\x01\x00"


def test_kd_accepts_any_version_it_is_configured_for():
    kd = TunnelConnection.key_distributor(supported_versions=(0, 1))
    kd.connection_made()
    profiles = SupportedProfiles.of([DOUBLE_128], version=1)
    assert kd.receive_data(encode_message(profiles)) == [TunnelOpened(profiles)]


def test_md_recognises_unsupported_version_from_first_four_octets_of_a_longer_message():
    md = TunnelConnection.media_distributor(PROFILES)
    md.connection_made()
    md.data_to_send()
    # A later protocol version might give UnsupportedVersion a longer body.
    assert md.receive_data(b"\x02\x00") == []
    assert md.state is TunnelState.AWAITING_FIRST_REPLY
    events = md.receive_data(b"\x09\x03" + bytes(8))
    assert events[0] == UnsupportedVersion(3)
    assert events[1] == TunnelClosed("the Key Distributor does not support tunnel version 0; "
                                     "its highest is 3", error=True)
    assert md.receive_data(b"more") == []


def test_unsupported_version_after_the_first_message_is_a_protocol_error():
    md, kd, _ = connected_pair()
    kd.send(TunneledDtls(ASSOCIATION, b"x"))
    md.receive_data(kd.data_to_send())
    events = md.receive_data(encode_message(UnsupportedVersion(0)))
    assert events == [TunnelClosed("UNSUPPORTED_VERSION is not allowed from the Key "
                                   "Distributor while the tunnel is open", error=True)]


def test_kd_requires_supported_profiles_first():
    kd = TunnelConnection.key_distributor()
    kd.connection_made()
    events = kd.receive_data(encode_message(TunneledDtls(ASSOCIATION, b"x")))
    assert events == [TunnelClosed("TUNNELED_DTLS is not allowed from the Media Distributor "
                                   "while the tunnel is awaiting-profiles", error=True)]


def test_second_supported_profiles_is_refused():
    _md, kd, _ = connected_pair()
    events = kd.receive_data(encode_message(PROFILES))
    assert len(events) == 1 and isinstance(events[0], TunnelClosed) and events[0].error


def test_md_refuses_media_keys_for_a_profile_it_did_not_offer():
    md, _kd, _ = connected_pair(SupportedProfiles.of([DOUBLE_128]))
    rogue = TunnelConnection.key_distributor()
    rogue.connection_made()
    rogue.receive_data(encode_message(PROFILES))
    rogue.send(hop_keys(DOUBLE_256))
    events = md.receive_data(rogue.data_to_send())
    assert events == [TunnelClosed("MediaKeys: profile 0x000a was not offered in "
                                   "SupportedProfiles", error=True)]


def test_md_refuses_media_keys_that_are_not_hop_by_hop_halves():
    md, _, _ = connected_pair()
    full = MediaKeys(ASSOCIATION, DOUBLE_128.dtls_id, bytes(32), bytes(32), bytes(24), bytes(24))
    events = md.receive_data(encode_message(full))
    assert len(events) == 1 and events[0].error
    assert "client_write_master_key" in events[0].reason


def test_kd_cannot_send_media_keys_the_md_cannot_use():
    _, kd, _ = connected_pair(SupportedProfiles.of([DOUBLE_128]))
    with pytest.raises(ValueError, match="not offered"):
        kd.send(hop_keys(DOUBLE_256))
    full = MediaKeys(ASSOCIATION, DOUBLE_128.dtls_id, bytes(32), bytes(32), bytes(24), bytes(24))
    with pytest.raises(ValueError, match="hop-by-hop"):
        kd.send(full)
    assert kd.data_to_send() == b""


def test_unassigned_message_types_are_skipped_but_not_as_first_message():
    md, _kd, _ = connected_pair()
    events = md.receive_data(b"\x42\x00\x02ab" + encode_message(EndpointDisconnect(ASSOCIATION)))
    assert events == [UnknownMessageIgnored(0x42, 2), EndpointDisconnect(ASSOCIATION)]
    fresh = TunnelConnection.key_distributor()
    fresh.connection_made()
    assert fresh.receive_data(b"\x42\x00\x00") == [
        TunnelClosed("unassigned msg_type 66 as the first message", error=True)]
    # The MD's first reply may be a type a later specification defines: the KD accepted the
    # version, so it is skipped like any other.
    first = TunnelConnection.media_distributor(PROFILES)
    first.connection_made()
    assert first.receive_data(b"\x42\x00\x00") == [UnknownMessageIgnored(0x42, 0)]


def test_reserved_type_zero_closes():
    md, _, _ = connected_pair()
    events = md.receive_data(b"\x00\x00\x00")
    assert events == [TunnelClosed("msg_type 0 is reserved", error=True)]


def test_connection_lost_reports_incomplete_message_once():
    _md, kd, _ = connected_pair()
    kd.receive_data(b"\x04\x00\x20\x01")
    assert kd.connection_lost() == [TunnelClosed(
        "connection lost (with 4 bytes of an incomplete message)", error=False)]
    assert kd.connection_lost() == []


def test_local_close_and_sending_after_close():
    md, _, _ = connected_pair()
    assert md.close("shutting down") == TunnelClosed("shutting down", error=False)
    assert md.close("again") is None
    with pytest.raises(TunnelError, match="cannot send TUNNELED_DTLS while the tunnel is closed"):
        md.send(TunneledDtls(ASSOCIATION, b"x"))


def test_data_before_connection_made_is_an_error():
    kd = TunnelConnection.key_distributor()
    assert kd.receive_data(b"\x01")[0].error


def example(kind: MessageType):
    return {
        MessageType.SUPPORTED_PROFILES: PROFILES,
        MessageType.UNSUPPORTED_VERSION: UnsupportedVersion(0),
        MessageType.MEDIA_KEYS: hop_keys(),
        MessageType.TUNNELED_DTLS: TunneledDtls(ASSOCIATION, b"\x16"),
        MessageType.ENDPOINT_DISCONNECT: EndpointDisconnect(ASSOCIATION),
    }[kind]


def in_state(role: TunnelRole, state: TunnelState) -> TunnelConnection:
    if role is TunnelRole.MEDIA_DISTRIBUTOR:
        conn = TunnelConnection.media_distributor(PROFILES)
    else:
        conn = TunnelConnection.key_distributor()
    if state is TunnelState.IDLE:
        return conn
    conn.connection_made()
    conn.data_to_send()
    if state is TunnelState.OPEN:
        opener = (PROFILES if role is TunnelRole.KEY_DISTRIBUTOR
                  else TunneledDtls(ASSOCIATION, b"\x16"))
        conn.receive_data(encode_message(opener))
    elif state is TunnelState.CLOSED:
        conn.close("test")
    return conn


UNREACHABLE = {(TunnelRole.MEDIA_DISTRIBUTOR, TunnelState.AWAITING_PROFILES),
               (TunnelRole.KEY_DISTRIBUTOR, TunnelState.AWAITING_FIRST_REPLY)}
ALL = [(role, state, kind)
       for role, state, kind in itertools.product(TunnelRole, TunnelState, MessageType)
       if (role, state) not in UNREACHABLE]


@pytest.mark.parametrize(("role", "state", "kind"), ALL)
def test_every_state_and_received_message_follows_the_table(role, state, kind):
    conn = in_state(role, state)
    assert conn.state is state
    events = conn.receive_data(encode_message(example(kind)))
    expected = TRANSITIONS.get((role, state, kind))
    if state is TunnelState.CLOSED:
        assert events == []
    elif expected is None or expected is TunnelState.CLOSED:
        assert conn.state is TunnelState.CLOSED
        assert isinstance(events[-1], TunnelClosed) and events[-1].error
    else:
        assert conn.state is expected
        assert not any(isinstance(e, TunnelClosed) for e in events)


@pytest.mark.parametrize(("role", "state", "kind"), ALL)
def test_every_state_and_sent_message_follows_the_table(role, state, kind):
    conn = in_state(role, state)
    assert conn.state is state
    allowed = kind in SENDABLE[role].get(state, frozenset())
    if allowed:
        conn.send(example(kind))
        assert conn.data_to_send() == encode_message(example(kind))
    else:
        with pytest.raises(TunnelError):
            conn.send(example(kind))


@given(st.binary(max_size=300), st.sampled_from(list(TunnelRole)))
def test_garbage_never_raises_and_close_is_final(data, role):
    conn = in_state(role, TunnelState.OPEN)
    events = conn.receive_data(data)
    for event in events:
        assert not isinstance(event, Exception)
    closes = [e for e in events if isinstance(e, TunnelClosed)]
    assert len(closes) <= 1
    if closes:
        assert events[-1] is closes[0] and conn.state is TunnelState.CLOSED
