"""DtlsConnection: handshakes between two sipperc cores, in memory, with time driven by hand."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipperc.dtls import (
    AlertDescription,
    AlertLevel,
    AlertReceived,
    ApplicationDataReceived,
    CipherSuite,
    ConnectionClosed,
    DtlsConnection,
    DtlsStateError,
    EKTKey,
    EKTKeyAcknowledged,
    EKTKeyReceived,
    HandshakeComplete,
    Identity,
    NamedGroup,
    State,
)
from sipperc.dtls.events import Event
from sipperc.dtls.extensions import ExtensionType, encode_extensions
from sipperc.dtls.fragments import encode_message
from sipperc.dtls.handshake import ClientHello, HandshakeType, ServerHello
from sipperc.dtls.record import ContentType, encode_record, parse_records
from sipperc.dtls.state import TRANSITIONS
from sipperc.srtp import EKTCipher, Profile
from tests.dtls.harness import (
    LossyNetwork,
    events,
    exchange,
    identities,
    make_pair,
    rewrite_message,
)

EKT = EKTKey(bytes(range(16)), bytes(range(100, 112)), 0x1234, 3600)


def closed_with(events_: list[Event]) -> ConnectionClosed:
    closed = [e for e in events_ if isinstance(e, ConnectionClosed)]
    assert closed, f"no ConnectionClosed in {events_}"
    return closed[-1]


def test_handshake_negotiates_everything_and_keys_agree() -> None:
    client, server = make_pair()
    client_events, server_events = exchange(client, server)
    done_c = next(e for e in client_events if isinstance(e, HandshakeComplete))
    done_s = next(e for e in server_events if isinstance(e, HandshakeComplete))
    cid, sid = identities()
    assert done_c.peer_fingerprint == sid.fingerprint
    assert done_s.peer_fingerprint == cid.fingerprint
    assert done_c.cipher_suite is CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert done_c.group is NamedGroup.X25519
    assert done_c.srtp_profile is done_s.srtp_profile is Profile.AEAD_AES_128_GCM
    assert done_c.ekt_cipher is done_s.ekt_cipher is EKTCipher.AESKW_128
    assert done_c.external_session_id_verified and done_s.external_session_id_verified
    keys = client.export_srtp_keys()
    assert keys == server.export_srtp_keys()
    assert len(keys.client_key) == 16 and len(keys.server_salt) == 12
    assert keys.client_key != keys.server_key
    assert client.export_keying_material(b"EXPERIMENTAL-x", 40, b"ctx") == \
        server.export_keying_material(b"EXPERIMENTAL-x", 40, b"ctx")
    assert client.export_keying_material(b"EXPERIMENTAL-x", 40) != \
        client.export_keying_material(b"EXPERIMENTAL-x", 40, b"")


ECDSA_SUITES = [s for s in CipherSuite if not s.parameters.rsa]
RSA_SUITES = [s for s in CipherSuite if s.parameters.rsa]


@pytest.mark.parametrize("suite", ECDSA_SUITES)
@pytest.mark.parametrize("group", list(NamedGroup))
def test_every_suite_and_group(suite: CipherSuite, group: NamedGroup) -> None:
    client, server = make_pair({"cipher_suites": [suite], "groups": [group]})
    client_events, _ = exchange(client, server)
    done = next(e for e in client_events if isinstance(e, HandshakeComplete))
    assert (done.cipher_suite, done.group) == (suite, group)
    client.send(b"ping")
    _, server_events = exchange(client, server)
    assert server_events == [ApplicationDataReceived(b"ping")]


@pytest.mark.parametrize("profile", [p for p in Profile if p.name.startswith(("AES", "AEAD",
                                                                               "DOUBLE"))])
def test_every_srtp_profile_exports_its_lengths(profile: Profile) -> None:
    client, server = make_pair({"srtp_profiles": [profile]},
                               {"srtp_profiles": list(Profile)})
    exchange(client, server)
    keys = client.export_srtp_keys()
    assert keys.profile is profile
    assert len(keys.client_key) == len(keys.server_key) == profile.master_key_length
    assert len(keys.client_salt) == len(keys.server_salt) == profile.master_salt_length
    assert keys == server.export_srtp_keys()


def test_server_picks_srtp_profile_by_its_own_preference() -> None:
    double = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
    client, server = make_pair({"srtp_profiles": [Profile.AEAD_AES_128_GCM, double]},
                               {"srtp_profiles": [double, Profile.AEAD_AES_128_GCM]})
    exchange(client, server)
    assert client.srtp_profile is server.srtp_profile is double


def test_application_data_both_ways_and_replay_dropped() -> None:
    client, server = make_pair()
    exchange(client, server)
    server.send(b"to client")
    [datagram] = server.datagrams_to_send(0.0)
    client.receive_datagram(datagram, 0.0)
    client.receive_datagram(datagram, 0.0)  # replayed: RFC 6347 §4.1.2.6
    assert events(client) == [ApplicationDataReceived(b"to client")]
    client.send(b"to server")
    _, server_events = exchange(client, server)
    assert server_events == [ApplicationDataReceived(b"to server")]


def test_send_before_handshake_is_a_state_error() -> None:
    client, _ = make_pair()
    with pytest.raises(DtlsStateError):
        client.send(b"x")
    with pytest.raises(DtlsStateError):
        client.export_srtp_keys()


def test_ekt_key_delivered_once_and_acknowledged() -> None:
    client, server = make_pair()
    exchange(client, server)
    server.send_ekt_key(EKT, 5.0)
    assert server.get_timer() == 6.0
    client_events, server_events = exchange(client, server, 5.0)
    [received] = [e for e in client_events if isinstance(e, EKTKeyReceived)]
    assert (received.ekt_key_value, received.srtp_master_salt, received.ekt_spi,
            received.ekt_ttl, received.cipher) == (EKT.ekt_key_value, EKT.srtp_master_salt,
                                                   0x1234, 3600, EKTCipher.AESKW_128)
    assert received.received_at == 5.0
    assert server_events == [EKTKeyAcknowledged(0x1234)]
    assert server.get_timer() is None
    assert "00010203" not in repr(received) and "<16 bytes>" in repr(received)


def test_lost_ack_makes_server_retransmit_and_client_re_ack_without_second_event() -> None:
    client, server = make_pair()
    exchange(client, server)
    server.send_ekt_key(EKT, 0.0)
    for datagram in server.datagrams_to_send(0.0):
        client.receive_datagram(datagram, 0.0)
    client.datagrams_to_send(0.0)  # the ACK is lost
    assert sum(isinstance(e, EKTKeyReceived) for e in events(client)) == 1
    server.handle_timer(1.0)
    assert server.get_timer() == 3.0  # back-off doubled (RFC 6347 §4.2.4.1)
    client_events, server_events = exchange(client, server, 1.0)
    assert not any(isinstance(e, EKTKeyReceived) for e in client_events)
    assert server_events == [EKTKeyAcknowledged(0x1234)]


def test_ekt_key_rules() -> None:
    client, server = make_pair(server_kw={"ekt_ciphers": []})
    exchange(client, server)
    assert client.ekt_cipher is None
    with pytest.raises(DtlsStateError):
        server.send_ekt_key(EKT, 0.0)
    with pytest.raises(DtlsStateError):
        client.send_ekt_key(EKT, 0.0)
    client, server = make_pair()
    exchange(client, server)
    with pytest.raises(ValueError, match="16-byte"):
        server.send_ekt_key(EKTKey(bytes(32), bytes(12), 1, 1), 0.0)


def test_client_picks_nothing_server_picks_client_ekt_preference() -> None:
    client, server = make_pair({"ekt_ciphers": [EKTCipher.AESKW_256, EKTCipher.AESKW_128]},
                               {"ekt_ciphers": [EKTCipher.AESKW_128, EKTCipher.AESKW_256]})
    exchange(client, server)
    assert client.ekt_cipher is server.ekt_cipher is EKTCipher.AESKW_256


def test_ekt_key_of_wrong_length_from_server_is_illegal_parameter() -> None:
    client, server = make_pair()
    exchange(client, server)
    bad = EKTKey(bytes(32), bytes(12), 1, 60).encode()
    server._queue_record(ContentType.HANDSHAKE, 1,  # a misbehaving server
                         encode_message(HandshakeType.EKT_KEY, server._message_seq, bad))
    client_events, server_events = exchange(client, server)
    assert closed_with(client_events).alert == AlertDescription.ILLEGAL_PARAMETER
    assert AlertReceived(AlertLevel.FATAL, AlertDescription.ILLEGAL_PARAMETER) in server_events


def test_ekt_key_without_negotiation_is_unexpected() -> None:
    client, server = make_pair({"ekt_ciphers": []})
    exchange(client, server)
    server._queue_record(ContentType.HANDSHAKE, 1, encode_message(
        HandshakeType.EKT_KEY, server._message_seq, EKT.encode()))
    client_events, _ = exchange(client, server)
    assert closed_with(client_events).alert == AlertDescription.UNEXPECTED_MESSAGE


@pytest.mark.parametrize("seed", [*range(12),
                                  *(pytest.param(s, marks=pytest.mark.slow)
                                    for s in range(12, 500))])
def test_handshake_and_ekt_survive_loss_reordering_duplication(seed: int) -> None:
    client, server = make_pair({"mtu": 400}, {"mtu": 400})
    net = LossyNetwork(client, server, seed, loss=0.3, duplication=0.15)

    def on_server_event(event: Event, now: float) -> None:
        if isinstance(event, HandshakeComplete):
            server.send_ekt_key(EKT, now)

    net.on_server_event = on_server_event
    net.run(600.0, lambda: any(isinstance(e, EKTKeyAcknowledged) for e in net.server_events)
            and client.is_connected)
    assert client.is_connected and server.is_connected, (net.client_events, net.server_events)
    assert client.export_srtp_keys() == server.export_srtp_keys()
    assert sum(isinstance(e, EKTKeyReceived) for e in net.client_events) == 1
    assert sum(isinstance(e, HandshakeComplete) for e in net.client_events) == 1
    assert sum(isinstance(e, EKTKeyAcknowledged) for e in net.server_events) == 1
    # Keep going a while: duplicates and late retransmissions must not deliver the key again.
    net.run(net.now + 30.0, lambda: False)
    assert sum(isinstance(e, EKTKeyReceived) for e in net.client_events) == 1


def test_small_mtu_fragments_every_flight() -> None:
    client, server = make_pair({"mtu": 150}, {"mtu": 150})
    sizes: list[int] = []

    def measure(datagram: bytes) -> bytes:
        sizes.append(len(datagram))
        return datagram

    exchange(client, server, to_server=measure, to_client=measure)
    assert client.is_connected and server.is_connected
    assert max(sizes) <= 150
    server.send_ekt_key(EKT, 0.0)
    client_events, _ = exchange(client, server, to_server=measure, to_client=measure)
    assert any(isinstance(e, EKTKeyReceived) for e in client_events)
    assert max(sizes) <= 150


def test_retransmission_backs_off_then_gives_up() -> None:
    client, _ = make_pair({"max_retransmissions": 3})
    assert len(client.datagrams_to_send(0.0)) == 1
    deadlines = []
    now = 0.0
    while (timer := client.get_timer()) is not None:
        deadlines.append(timer)
        now = timer
        client.handle_timer(now)
        if not client.is_closed:
            assert len(client.datagrams_to_send(now)) == 1  # the ClientHello again
    assert deadlines == [1.0, 3.0, 7.0, 15.0]
    closed = closed_with(events(client))
    assert closed.alert is None and "timed out" in closed.reason


def test_cookie_exchange_keeps_server_stateless_until_cookie() -> None:
    client, server = make_pair()
    [hello] = client.datagrams_to_send(0.0)
    server.receive_datagram(hello, 0.0)
    assert server.state is State.SERVER_WAIT_CLIENT_HELLO
    assert server.get_timer() is None  # a HelloVerifyRequest is never retransmitted
    [hvr] = server.datagrams_to_send(0.0)
    [record] = parse_records(hvr)
    assert record.fragment[0] == HandshakeType.HELLO_VERIFY_REQUEST
    assert record.version == 0xFEFF  # RFC 6347 §4.2.1: SHOULD use DTLS 1.0 here
    client.receive_datagram(hvr, 0.0)
    [hello2] = client.datagrams_to_send(0.0)
    server.receive_datagram(hello2, 0.0)
    assert server.state is State.SERVER_WAIT_CERTIFICATE


def test_forged_cookie_gets_another_hello_verify_request() -> None:
    def forge(body: bytes) -> bytes:
        hello = ClientHello.decode(body)
        if not hello.cookie:
            return body
        return ClientHello(hello.version, hello.random, hello.session_id, bytes(32),
                           hello.cipher_suites, hello.compression_methods,
                           hello.extensions).encode()

    client, server = make_pair()
    exchange(client, server, to_server=rewrite_message(HandshakeType.CLIENT_HELLO, forge),
             rounds=4)
    assert server.state is State.SERVER_WAIT_CLIENT_HELLO
    assert not client.is_connected


# ------------------------------------------------------------------ certificates and identity


def test_wrong_server_fingerprint_is_bad_certificate_and_no_keys() -> None:
    other = Identity.generate()
    client, server = make_pair({"remote_fingerprint": other.fingerprint})
    client_events, server_events = exchange(client, server)
    assert closed_with(client_events).alert == AlertDescription.BAD_CERTIFICATE
    assert AlertReceived(AlertLevel.FATAL, AlertDescription.BAD_CERTIFICATE) in server_events
    assert not any(isinstance(e, HandshakeComplete) for e in client_events)
    with pytest.raises(DtlsStateError):
        client.export_srtp_keys()


def test_wrong_client_fingerprint_is_bad_certificate() -> None:
    other = Identity.generate()
    client, server = make_pair(server_kw={"remote_fingerprint": [other.fingerprint_with("sha-1"),
                                                                  other.fingerprint]})
    client_events, server_events = exchange(client, server)
    assert closed_with(server_events).alert == AlertDescription.BAD_CERTIFICATE
    assert closed_with(client_events).by_peer
    with pytest.raises(DtlsStateError):
        server.export_srtp_keys()


def test_any_of_several_fingerprints_may_match() -> None:
    cid, _ = identities()
    client, server = make_pair(server_kw={"remote_fingerprint": [
        Identity.generate().fingerprint, cid.fingerprint_with("sha-384")]})
    exchange(client, server)
    assert server.is_connected


def test_no_expected_fingerprint_accepts_any_certificate() -> None:
    client, server = make_pair({"remote_fingerprint": None}, {"remote_fingerprint": None})
    exchange(client, server)
    assert client.is_connected and server.is_connected


@pytest.mark.parametrize("side", ["client", "server"])
def test_external_session_id_mismatch_is_handshake_failure(side: str) -> None:
    wrong = {"remote_tls_id": "not-the-right-tls-id-at-all"}
    client, server = make_pair(wrong if side == "client" else None,
                               wrong if side == "server" else None)
    client_events, server_events = exchange(client, server)
    failing = client_events if side == "client" else server_events
    assert closed_with(failing).alert == AlertDescription.HANDSHAKE_FAILURE
    assert "tls-id" in closed_with(failing).reason


def test_peer_without_external_session_id_is_reported_unverified() -> None:
    client, server = make_pair({"local_tls_id": None})
    _, server_events = exchange(client, server)
    done = next(e for e in server_events if isinstance(e, HandshakeComplete))
    assert done.external_session_id_verified is False


def test_tls_id_length_is_checked() -> None:
    with pytest.raises(ValueError, match="tls-id"):
        make_pair({"local_tls_id": "short"})


# ------------------------------------------------------------------ downgrades and tampering


def _edit_extensions(body: bytes, server: bool, edit: dict[int, bytes | None]) -> bytes:
    hello = ServerHello.decode(body) if server else ClientHello.decode(body)
    extensions = dict(hello.extensions)
    for ext_type, value in edit.items():
        if value is None:
            extensions.pop(ext_type, None)
        else:
            extensions[ext_type] = value
    if isinstance(hello, ServerHello):
        return ServerHello(hello.version, hello.random, hello.session_id, hello.cipher_suite,
                           hello.compression_method, extensions).encode()
    return ClientHello(hello.version, hello.random, hello.session_id, hello.cookie,
                       hello.cipher_suites, hello.compression_methods, extensions).encode()


def _duplicate_last_extension(body: bytes) -> bytes:
    extensions = ServerHello.decode(body).extensions
    block = encode_extensions(extensions)
    ext_type, data = list(extensions.items())[-1]
    entry = ext_type.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    items = block[2:] + entry
    return body[:-len(block)] + len(items).to_bytes(2, "big") + items


SERVER_HELLO_ATTACKS = {
    "version DTLS 1.0": (lambda b: b"\xfe\xff" + b[2:], AlertDescription.PROTOCOL_VERSION),
    "suite not offered": (lambda b: b[:2 + 32 + 1] + b"\xc0\x2c" + b[2 + 32 + 3:],
                          AlertDescription.ILLEGAL_PARAMETER),
    "extended master secret stripped": (
        lambda b: _edit_extensions(b, True, {ExtensionType.EXTENDED_MASTER_SECRET: None}),
        AlertDescription.HANDSHAKE_FAILURE),
    "use_srtp stripped": (lambda b: _edit_extensions(b, True, {ExtensionType.USE_SRTP: None}),
                          AlertDescription.HANDSHAKE_FAILURE),
    "srtp profile not offered": (
        lambda b: _edit_extensions(b, True, {ExtensionType.USE_SRTP: b"\x00\x02\x00\x01\x00"}),
        AlertDescription.ILLEGAL_PARAMETER),
    "srtp MKI invented": (
        lambda b: _edit_extensions(b, True, {ExtensionType.USE_SRTP: b"\x00\x02\x00\x07\x01\x09"}),
        AlertDescription.ILLEGAL_PARAMETER),
    "unsolicited extension": (lambda b: _edit_extensions(b, True, {0x0010: b"\x00\x00"}),
                              AlertDescription.UNSUPPORTED_EXTENSION),
    "ekt cipher not offered": (
        lambda b: _edit_extensions(b, True, {ExtensionType.SUPPORTED_EKT_CIPHERS: b"\x02"}),
        AlertDescription.ILLEGAL_PARAMETER),
    "renegotiation_info not empty": (
        lambda b: _edit_extensions(b, True, {ExtensionType.RENEGOTIATION_INFO: b"\x01\x00"}),
        AlertDescription.HANDSHAKE_FAILURE),
    "truncated": (lambda b: b[:20], AlertDescription.DECODE_ERROR),
    "trailing garbage": (lambda b: b + b"\x00", AlertDescription.DECODE_ERROR),
    "duplicate extension": (_duplicate_last_extension,
                            AlertDescription.ILLEGAL_PARAMETER),
}


@pytest.mark.parametrize("attack", list(SERVER_HELLO_ATTACKS))
def test_tampered_server_hello_is_refused(attack: str) -> None:
    change, alert = SERVER_HELLO_ATTACKS[attack]
    client, server = make_pair({"cipher_suites": [CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]})
    client_events, server_events = exchange(
        client, server, to_client=rewrite_message(HandshakeType.SERVER_HELLO, change))
    assert closed_with(client_events).alert == alert, closed_with(client_events)
    assert AlertReceived(AlertLevel.FATAL, alert) in server_events
    assert not client.is_connected and not server.is_connected


CLIENT_HELLO_ATTACKS = {
    "only DTLS 1.0": (lambda b: b"\xfe\xff" + b[2:], AlertDescription.PROTOCOL_VERSION),
    "no extended master secret": (
        lambda b: _edit_extensions(b, False, {ExtensionType.EXTENDED_MASTER_SECRET: None}),
        AlertDescription.HANDSHAKE_FAILURE),
    "no use_srtp": (lambda b: _edit_extensions(b, False, {ExtensionType.USE_SRTP: None}),
                    AlertDescription.HANDSHAKE_FAILURE),
    "no common group": (
        lambda b: _edit_extensions(b, False, {ExtensionType.SUPPORTED_GROUPS: b"\x00\x02\x00\x18"}),
        AlertDescription.HANDSHAKE_FAILURE),
    "no ecdsa signatures": (
        lambda b: _edit_extensions(b, False, {ExtensionType.SIGNATURE_ALGORITHMS:
                                              b"\x00\x02\x04\x01"}),
        AlertDescription.HANDSHAKE_FAILURE),
    "truncated extensions": (lambda b: b[:-1], AlertDescription.DECODE_ERROR),
}


@pytest.mark.parametrize("attack", list(CLIENT_HELLO_ATTACKS))
def test_tampered_client_hello_is_refused(attack: str) -> None:
    change, alert = CLIENT_HELLO_ATTACKS[attack]
    client, server = make_pair(server_kw={"cookie_exchange": False})
    client_events, server_events = exchange(
        client, server, to_server=rewrite_message(HandshakeType.CLIENT_HELLO, change))
    assert closed_with(server_events).alert == alert, closed_with(server_events)
    assert AlertReceived(AlertLevel.FATAL, alert) in client_events


def test_our_server_never_picks_an_rsa_suite_for_its_ecdsa_certificate() -> None:
    client, server = make_pair({"cipher_suites": RSA_SUITES})
    _, server_events = exchange(client, server)
    assert closed_with(server_events).alert == AlertDescription.HANDSHAKE_FAILURE
    client, server = make_pair({"cipher_suites": [*RSA_SUITES, *ECDSA_SUITES]})
    exchange(client, server)
    assert server.cipher_suite is CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256


def test_ecdsa_certificate_under_an_rsa_suite_is_unsupported() -> None:
    def to_rsa_suite(body: bytes) -> bytes:
        return body[:2 + 32 + 1] + b"\xc0\x2f" + body[2 + 32 + 3:]

    client, server = make_pair()
    client_events, _ = exchange(
        client, server, to_client=rewrite_message(HandshakeType.SERVER_HELLO, to_rsa_suite))
    assert closed_with(client_events).alert == AlertDescription.UNSUPPORTED_CERTIFICATE


def test_no_common_cipher_suite() -> None:
    client, server = make_pair(
        {"cipher_suites": [CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]},
        {"cipher_suites": [CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]})
    _, server_events = exchange(client, server)
    assert closed_with(server_events).alert == AlertDescription.HANDSHAKE_FAILURE


def test_bad_server_key_exchange_signature_is_decrypt_error() -> None:
    def flip_last(body: bytes) -> bytes:
        return body[:-1] + bytes((body[-1] ^ 1,))

    client, server = make_pair()
    client_events, _ = exchange(
        client, server, to_client=rewrite_message(HandshakeType.SERVER_KEY_EXCHANGE, flip_last))
    assert closed_with(client_events).alert in (AlertDescription.DECRYPT_ERROR,
                                                AlertDescription.DECODE_ERROR)


def test_transcript_tampering_is_caught_by_certificate_verify() -> None:
    # The client ignores certificate_authorities, but the transcripts now differ.
    def add_authority(body: bytes) -> bytes:
        return body[:-2] + b"\x00\x03\x00\x01\x41"

    client, server = make_pair()
    _, server_events = exchange(
        client, server, to_client=rewrite_message(HandshakeType.CERTIFICATE_REQUEST,
                                                  add_authority))
    assert closed_with(server_events).alert == AlertDescription.DECRYPT_ERROR


def test_bad_finished_is_decrypt_error(monkeypatch: pytest.MonkeyPatch) -> None:
    client, server = make_pair()
    original = client._finished_message

    def corrupted() -> object:
        item = original()
        return type(item)(item.epoch, item.msg_type, item.message_seq, bytes(12))

    monkeypatch.setattr(client, "_finished_message", corrupted)
    client_events, server_events = exchange(client, server)
    assert closed_with(server_events).alert == AlertDescription.DECRYPT_ERROR
    assert "Finished" in closed_with(server_events).reason
    assert AlertReceived(AlertLevel.FATAL, AlertDescription.DECRYPT_ERROR) in client_events


def test_garbage_and_flipped_records_are_dropped_silently() -> None:
    client, server = make_pair()

    def garble(datagram: bytes) -> bytes:
        server.receive_datagram(b"\x16\xfe\xfd" + bytes(20), 0.0)  # record claims too much
        server.receive_datagram(b"\x17\xfe\xfd\x00\x01" + bytes(8), 0.0)  # truncated header
        return datagram

    exchange(client, server, to_server=garble)
    assert client.is_connected and server.is_connected
    client.send(b"secret")
    [datagram] = client.datagrams_to_send(0.0)
    for i in range(13, len(datagram)):
        flipped = bytearray(datagram)
        flipped[i] ^= 0x40
        server.receive_datagram(bytes(flipped), 0.0)
    assert events(server) == []  # bad_record_mac is never sent (RFC 6347 §4.1.2.7)
    server.receive_datagram(datagram, 0.0)
    assert events(server) == [ApplicationDataReceived(b"secret")]


def test_truncated_handshake_fragment_is_decode_error() -> None:
    client, server = make_pair(server_kw={"cookie_exchange": False})
    [hello] = client.datagrams_to_send(0.0)
    [record] = parse_records(hello)
    broken = record.fragment[:12] + record.fragment[12:40]  # header claims more than follows
    server.receive_datagram(encode_record(22, 0, 5, broken), 0.0)
    assert closed_with(events(server)).alert == AlertDescription.DECODE_ERROR


# ------------------------------------------------------------------ state machine


def _drive_to(role: str, target: State) -> tuple[DtlsConnection, DtlsConnection] | None:
    """A fresh pair, records delivered one at a time until ``role`` is in ``target``."""
    client, server = make_pair()
    me = client if role == "client" else server
    if me.state is target:
        return client, server
    client.datagrams_to_send(0.0) if target is State.CLIENT_WAIT_SERVER_HELLO else None
    if me.state is target:
        return client, server
    for _ in range(12):
        for sender, receiver in ((client, server), (server, client)):
            for datagram in sender.datagrams_to_send(0.0):
                for record in parse_records(datagram):
                    receiver.receive_datagram(encode_record(
                        record.content_type, record.epoch, record.sequence_number,
                        record.fragment, record.version), 0.0)
                    if me.state is target:
                        return client, server
    return None


UNEXPECTED = [(state, msg) for state in State if state not in (State.CLOSED, State.CLIENT_START)
              for msg in HandshakeType if (state, msg) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "message"), UNEXPECTED,
                         ids=[f"{s.name}-{m.name}" for s, m in UNEXPECTED])
def test_unexpected_message_in_every_state(state: State, message: HandshakeType) -> None:
    role = "client" if state.name.startswith("CLIENT") else "server"
    pair = _drive_to(role, state)
    assert pair is not None, f"could not reach {state}"
    client, server = pair
    me, peer = (client, server) if role == "client" else (server, client)
    events(me)
    epoch = 1 if me.is_connected else 0
    seq = me._reassembler.next_receive_seq if state is not State.SERVER_WAIT_CLIENT_HELLO else 0
    if epoch:
        peer._queue_record(ContentType.HANDSHAKE, 1, encode_message(message, seq, b""))
        datagrams = peer.datagrams_to_send(0.0)
    else:
        datagrams = [encode_record(ContentType.HANDSHAKE, 0, 1000,
                                   encode_message(message, seq, b""))]
    for datagram in datagrams:
        me.receive_datagram(datagram, 0.0)
    assert closed_with(events(me)).alert == AlertDescription.UNEXPECTED_MESSAGE


def test_finished_in_epoch_zero_is_unexpected() -> None:
    pair = _drive_to("client", State.CLIENT_WAIT_FINISHED)
    assert pair is not None
    client, _ = pair
    client.receive_datagram(encode_record(ContentType.HANDSHAKE, 0, 1000, encode_message(
        HandshakeType.FINISHED, client._reassembler.next_receive_seq, bytes(12))), 0.0)
    assert closed_with(events(client)).alert == AlertDescription.UNEXPECTED_MESSAGE


@pytest.mark.parametrize("sender", ["client", "server"])
def test_renegotiation_is_refused_with_a_warning(sender: str) -> None:
    client, server = make_pair()
    exchange(client, server)
    me, peer = (server, client) if sender == "server" else (client, server)
    msg_type = HandshakeType.HELLO_REQUEST if sender == "server" else HandshakeType.CLIENT_HELLO
    body = b"" if sender == "server" else ClientHello(
        0xFEFD, bytes(32), b"", b"", (0xC02B,), b"\x00", {}).encode()
    me._queue_record(ContentType.HANDSHAKE, 1, encode_message(msg_type, me._message_seq, body))
    me_events, _ = exchange(me, peer)
    assert AlertReceived(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION) in me_events
    assert client.is_connected and server.is_connected


def test_close_notify_both_ways_and_secrets_wiped() -> None:
    client, server = make_pair()
    exchange(client, server)
    master = client._master
    assert master is not None
    client.close()
    client_events, server_events = exchange(client, server)
    assert server_events[0] == AlertReceived(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
    closed = closed_with(server_events)
    assert closed.clean and closed.by_peer
    assert closed_with(client_events).clean
    assert client.is_closed and server.is_closed
    assert bytes(master._secret) == bytes(48)
    with pytest.raises(DtlsStateError):
        client.send(b"x")


def test_plaintext_alert_cannot_kill_an_established_association() -> None:
    client, server = make_pair()
    exchange(client, server)
    forged = encode_record(ContentType.ALERT, 0, 999, bytes((2, AlertDescription.BAD_RECORD_MAC)))
    client.receive_datagram(forged, 0.0)
    assert client.is_connected and events(client) == []


def test_repr_hides_keys() -> None:
    client, server = make_pair()
    exchange(client, server)
    keys = client.export_srtp_keys()
    for text in (repr(keys), repr(client), repr(client._master), repr(EKT)):
        assert keys.client_key.hex() not in text
        assert "bytes>" in text or "DtlsConnection" in text


def test_constructor_validates() -> None:
    cid, _ = identities()
    with pytest.raises(ValueError, match="role"):
        DtlsConnection("peer", cid)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mtu"):
        DtlsConnection("client", cid, mtu=50)


# ------------------------------------------------------------------ fuzzing real flights


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, position, value in ops:
        if not buf:
            break
        pos = position % len(buf)
        if kind == 0:
            buf[pos] ^= 1 << (value % 8)
        elif kind == 1:
            buf[pos] = value
        elif kind == 2:
            del buf[pos:]
        elif kind == 3:
            buf.insert(pos, value)
        else:
            del buf[pos]
    return bytes(buf)


_OPS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2**16), st.integers(0, 255)),
                min_size=1, max_size=4)


def _fuzz_one(target: int, ops: list[tuple[int, int, int]]) -> None:
    client, server = make_pair({"mtu": 300}, {"mtu": 300})
    count = 0

    def tamper(datagram: bytes) -> bytes:
        nonlocal count
        count += 1
        return _mutate(datagram, ops) if count - 1 == target else datagram

    client_events, server_events = exchange(client, server, to_server=tamper, to_client=tamper)
    if client.is_connected and server.is_connected:
        assert client.export_srtp_keys() == server.export_srtp_keys()
        server.send_ekt_key(EKT, 0.0)
        c2, _ = exchange(client, server, to_server=tamper, to_client=tamper)
        client_events += c2
        assert sum(isinstance(e, EKTKeyReceived) for e in client_events) <= 1
    for event in client_events + server_events:
        if isinstance(event, ConnectionClosed) and event.alert is not None:
            assert isinstance(event.alert, AlertDescription | int)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 12), _OPS)
def test_mutated_flights_never_raise(target: int, ops: list[tuple[int, int, int]]) -> None:
    _fuzz_one(target, ops)


@pytest.mark.slow
@settings(max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 12), _OPS)
def test_mutated_flights_never_raise_100k(target: int, ops: list[tuple[int, int, int]]) -> None:
    _fuzz_one(target, ops)


def test_finished_overtaking_the_key_exchange_is_kept_not_dropped() -> None:
    client, server = make_pair(server_kw={"cookie_exchange": False})
    exchange(client, server, rounds=1)  # ClientHello -> flight 4 -> client sends flight 5
    assert client.state is State.CLIENT_WAIT_FINISHED
    datagrams = client.datagrams_to_send(0.0)
    records = [r for d in datagrams for r in parse_records(d)]
    # Deliver the epoch-1 Finished first, then the rest: no retransmission timer needed.
    records.sort(key=lambda r: -r.epoch)
    for record in records:
        server.receive_datagram(encode_record(record.content_type, record.epoch,
                                              record.sequence_number, record.fragment), 0.0)
    assert server.is_connected


def test_rekey_sends_a_second_ekt_key_in_order() -> None:
    client, server = make_pair()
    exchange(client, server)
    second = EKTKey(bytes(16), bytes(12), 0x1235, 60)
    server.send_ekt_key(EKT, 0.0)
    server.send_ekt_key(second, 0.0)
    client_events, server_events = exchange(client, server)
    assert [e.ekt_spi for e in client_events if isinstance(e, EKTKeyReceived)] == [0x1234,
                                                                                   0x1235]
    assert server_events == [EKTKeyAcknowledged(0x1234), EKTKeyAcknowledged(0x1235)]
    assert server.get_timer() is None
