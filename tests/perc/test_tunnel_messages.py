import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.perc.tunnel_messages import (
    MAX_DTLS_MESSAGE_LENGTH,
    EndpointDisconnect,
    MediaKeys,
    MessageType,
    SupportedProfiles,
    TunnelDecodeError,
    TunneledDtls,
    TunnelMessageReader,
    UnsupportedVersion,
    decode_body,
    encode_message,
    message_type,
    new_association_id,
    type_of,
)
from sipperc.srtp import Profile

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM
ASSOCIATION = uuid.UUID("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0")


def media_keys(profile=DOUBLE_128, association=ASSOCIATION, mki=b""):
    key = profile.master_key_length // 2
    salt = profile.master_salt_length // 2
    return MediaKeys(association, profile.dtls_id, bytes(range(key)), bytes(range(1, key + 1)),
                     bytes(range(2, salt + 2)), bytes(range(3, salt + 3)), mki)


def decode(wire: bytes):
    kind = message_type(wire[0])
    assert kind is not None
    assert int.from_bytes(wire[1:3], "big") == len(wire) - 3
    return decode_body(kind, wire[3:])


def test_rfc9185_section7_example_encoding():
    # RFC 9185 §7: SupportedProfiles advertising both double profiles.
    message = SupportedProfiles.of([DOUBLE_128, DOUBLE_256])
    wire = encode_message(message)
    assert wire == bytes.fromhex("0100070000040009000A")
    assert decode(wire) == message
    assert message.version == 0
    assert message.profiles == (DOUBLE_128, DOUBLE_256)


def test_unknown_profile_code_points_round_trip_but_are_not_listed_as_known():
    message = SupportedProfiles((0x0009, 0xABCD))
    assert decode(encode_message(message)) == message
    assert message.profiles == (DOUBLE_128,)


def test_each_message_layout_field_by_field():
    assoc = ASSOCIATION.bytes
    assert encode_message(UnsupportedVersion(3)) == bytes.fromhex("02000103")
    assert encode_message(EndpointDisconnect(ASSOCIATION)) == b"\x05\x00\x10" + assoc
    assert encode_message(TunneledDtls(ASSOCIATION, b"\x16\xfe\xfd")) == (
        b"\x04\x00\x15" + assoc + b"\x00\x03\x16\xfe\xfd")
    keys = media_keys(mki=b"\x07")
    wire = encode_message(keys)
    expected_body = (assoc + b"\x00\x09" + b"\x01\x07"
                     + b"\x10" + bytes(range(16)) + b"\x10" + bytes(range(1, 17))
                     + b"\x0c" + bytes(range(2, 14)) + b"\x0c" + bytes(range(3, 15)))
    assert wire == b"\x03" + len(expected_body).to_bytes(2, "big") + expected_body


def test_media_keys_repr_hides_keys_and_salts():
    keys = MediaKeys(ASSOCIATION, DOUBLE_128.dtls_id, b"K" * 16, b"L" * 16, b"S" * 12, b"T" * 12)
    text = repr(keys)
    assert "KKKK" not in text and "LLLL" not in text and "SSSS" not in text
    assert "b'" not in text
    assert "<16 bytes>" in text and "<12 bytes>" in text and str(ASSOCIATION) in text


def test_tunneled_dtls_repr_shows_only_length():
    assert repr(TunneledDtls(ASSOCIATION, b"secret-ish")) == (
        f"TunneledDtls(association_id={ASSOCIATION}, dtls_message=<10 bytes>)")


def test_media_keys_half_length_check():
    media_keys(DOUBLE_128).check_hop_by_hop_lengths()
    media_keys(DOUBLE_256).check_hop_by_hop_lengths()
    full = MediaKeys(ASSOCIATION, DOUBLE_128.dtls_id, bytes(32), bytes(32), bytes(24), bytes(24))
    with pytest.raises(ValueError, match="carries 16 bytes hop-by-hop, got 32"):
        full.check_hop_by_hop_lengths()
    single = MediaKeys(ASSOCIATION, Profile.AEAD_AES_128_GCM.dtls_id, bytes(16), bytes(16),
                       bytes(12), bytes(12))
    with pytest.raises(ValueError, match="not a double profile"):
        single.check_hop_by_hop_lengths()
    with pytest.raises(ValueError, match="unknown profile 0x1234"):
        MediaKeys(ASSOCIATION, 0x1234, b"k", b"k", b"s", b"s").check_hop_by_hop_lengths()


def test_constructors_reject_values_the_wire_cannot_carry():
    with pytest.raises(ValueError, match="at least one profile"):
        SupportedProfiles(())
    with pytest.raises(ValueError, match="version"):
        SupportedProfiles((9,), version=256)
    with pytest.raises(ValueError, match="highest_version"):
        UnsupportedVersion(-1)
    with pytest.raises(ValueError, match="dtls_message"):
        TunneledDtls(ASSOCIATION, b"")
    with pytest.raises(ValueError, match="dtls_message"):
        TunneledDtls(ASSOCIATION, bytes(MAX_DTLS_MESSAGE_LENGTH + 1))
    with pytest.raises(ValueError, match="client_write_master_key"):
        MediaKeys(ASSOCIATION, 9, b"", b"k", b"s", b"s")
    with pytest.raises(ValueError, match="mki"):
        MediaKeys(ASSOCIATION, 9, b"k", b"k", b"s", b"s", bytes(256))


def test_largest_tunneled_dtls_fits_the_length_field():
    wire = encode_message(TunneledDtls(ASSOCIATION, bytes(MAX_DTLS_MESSAGE_LENGTH)))
    assert int.from_bytes(wire[1:3], "big") == 0xFFFF
    assert decode(wire).dtls_message == bytes(MAX_DTLS_MESSAGE_LENGTH)


def test_association_ids_are_random_version_4_uuids():
    ids = {new_association_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)


def test_message_type_codes():
    assert message_type(4) is MessageType.TUNNELED_DTLS
    assert message_type(6) is None and message_type(255) is None
    with pytest.raises(TunnelDecodeError, match="reserved"):
        message_type(0)


@pytest.mark.parametrize(("kind", "body", "problem"), [
    (MessageType.SUPPORTED_PROFILES, b"\x00\x00\x00",
     "SUPPORTED_PROFILES: protection_profiles: length 0 outside 2"),
    (MessageType.SUPPORTED_PROFILES, b"\x00\x00\x03\x00\x09\x00", "odd length"),
    (MessageType.SUPPORTED_PROFILES, b"\x00\x00\x04\x00\x09",
     "protection_profiles: needs 4 bytes, 2 left"),
    (MessageType.UNSUPPORTED_VERSION, b"", "highest_version: needs 1 bytes, 0 left"),
    (MessageType.UNSUPPORTED_VERSION, b"\x00\x00", "body: 1 trailing bytes"),
    (MessageType.ENDPOINT_DISCONNECT, bytes(15), "association_id: needs 16 bytes"),
    (MessageType.TUNNELED_DTLS, bytes(16) + b"\x00\x00", "dtls_message: length 0 outside 1"),
    (MessageType.MEDIA_KEYS, bytes(16) + b"\x00\x09\x00\x00",
     "client_write_SRTP_master_key: length 0 outside 1"),
])
def test_malformed_bodies_name_the_field(kind, body, problem):
    with pytest.raises(TunnelDecodeError, match=problem):
        decode_body(kind, body)


uuids = st.builds(uuid.UUID, bytes=st.binary(min_size=16, max_size=16))
opaque = st.binary(min_size=1, max_size=255)
messages = st.one_of(
    st.builds(SupportedProfiles, st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40)
              .map(tuple), st.integers(0, 255)),
    st.builds(UnsupportedVersion, st.integers(0, 255)),
    st.builds(MediaKeys, uuids, st.integers(0, 0xFFFF), opaque, opaque, opaque, opaque,
              st.binary(max_size=255)),
    st.builds(TunneledDtls, uuids, st.binary(min_size=1, max_size=3000)),
    st.builds(EndpointDisconnect, uuids),
)


@given(messages)
def test_every_message_round_trips(message):
    wire = encode_message(message)
    assert wire[0] == type_of(message)
    assert decode(wire) == message


@given(messages, st.data())
def test_truncated_or_extended_bodies_are_rejected(message, data):
    wire = encode_message(message)
    kind, body = MessageType(wire[0]), wire[3:]
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(TunnelDecodeError):
        decode_body(kind, body[:cut])
    with pytest.raises(TunnelDecodeError, match="trailing bytes"):
        decode_body(kind, body + data.draw(st.binary(min_size=1, max_size=8)))


@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_reader_reassembles_frames_from_any_split(batch, data):
    stream = b"".join(encode_message(m) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader = TunnelMessageReader()
    frames = []
    start = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[start:cut])
        frames.extend(reader.frames())
        start = cut
    assert [decode_body(MessageType(f.msg_type), f.body) for f in frames] == batch
    assert reader.buffered == b""


@given(st.sampled_from(list(MessageType)), st.binary(max_size=200))
def test_arbitrary_bodies_decode_or_raise_our_error(kind, body):
    try:
        message = decode_body(kind, body)
    except TunnelDecodeError:
        return
    assert encode_message(message)[3:] == body
