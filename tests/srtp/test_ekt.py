import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.srtp import (
    AuthenticationError,
    EKTCipher,
    EKTParameterSet,
    EKTPlaintext,
    FullEKTField,
    MalformedPacketError,
    split_ekt_field,
)

EKT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PERC_VECTOR_FIELD = bytes.fromhex(
    "46fdc02e9d2dacc35c1bf2caa19b4ae043814bbc4e34b1a25ae7f3338b7eaa50a991f7ec629f1778"
    "1234" "0000" "002f" "02")


def parameter_set(**changes):
    fields = {"ekt_key_value": EKT_KEY, "srtp_master_salt": bytes(range(0x40, 0x4C)),
              "ekt_spi": 0x1234, "ekt_ttl": 3600, "cipher": EKTCipher.AESKW_128}
    return EKTParameterSet(**(fields | changes))


def test_perc_md_section_7_full_field():
    plaintext = EKTPlaintext(bytes(range(16)), 0x5501A0B2, 0)
    assert bytes(plaintext).hex() == "10" + bytes(range(16)).hex() + "5501a0b2" "00000000"
    field = parameter_set().full_field(plaintext, epoch=0)
    assert field == PERC_VECTOR_FIELD
    assert len(field) == 47  # RFC 5649 output is 8*ceil(25/8)+8 = 40, not 25+1+8 (perc.md §3.3)


def test_aeskw256_with_a_32_byte_inner_key_gives_a_63_byte_field():
    keys = parameter_set(ekt_key_value=bytes(32), cipher=EKTCipher.AESKW_256)
    field = keys.full_field(EKTPlaintext(bytes(32), 1, 2), epoch=5)
    assert len(field) == 63
    _, _, full = split_ekt_field(b"srtp" + field)
    assert full == FullEKTField(field[:56], 0x1234, 5)
    assert keys.unwrap(full.ciphertext) == EKTPlaintext(bytes(32), 1, 2)


def test_split_full_short_and_unknown_fields():
    srtp = b"\x80" + bytes(20)
    assert split_ekt_field(srtp + PERC_VECTOR_FIELD) == (
        srtp, PERC_VECTOR_FIELD, FullEKTField(PERC_VECTOR_FIELD[:40], 0x1234, 0))
    assert split_ekt_field(srtp + b"\x00") == (srtp, b"\x00", None)
    extension = b"future" + (9).to_bytes(2) + b"\x40"
    assert split_ekt_field(srtp + extension) == (srtp, extension, None)


@pytest.mark.parametrize("packet", [b"", b"\x02", b"abc\x00\x05\x02", b"\x00\x03\x03",
                                    bytes(10) + b"\x00\x07\x02"])
def test_fields_whose_length_does_not_fit_are_malformed(packet):
    with pytest.raises(MalformedPacketError):
        split_ekt_field(packet)


@given(st.binary(max_size=80))
def test_split_raises_only_malformed_packet_error(packet):
    try:
        srtp, field, _ = split_ekt_field(packet)
    except MalformedPacketError:
        return
    assert srtp + field == packet


def test_unwrap_failures_are_authentication_failures():
    keys = parameter_set()
    with pytest.raises(AuthenticationError, match="does not unwrap under SPI 4660"):
        parameter_set(ekt_key_value=bytes(16)).unwrap(PERC_VECTOR_FIELD[:40])
    with pytest.raises(AuthenticationError):
        keys.unwrap(PERC_VECTOR_FIELD[:39])
    # A plaintext whose length byte lies is refused too.
    bogus = keys.wrap(EKTPlaintext(bytes(16), 1, 2))
    assert keys.unwrap(bogus).ssrc == 1
    with pytest.raises(AuthenticationError, match="length"):
        EKTPlaintext.parse(b"\x11" + bytes(24))


def test_parameter_set_is_built_from_the_dtls_ektkey_fields_and_hides_keys():
    keys = parameter_set(received_at=100.0, ekt_ttl=30)
    assert keys.expires_at == 130.0
    assert EKT_KEY.hex() not in repr(keys) and "<16 bytes>" in repr(keys)
    assert "<12 bytes>" in repr(keys)
    with pytest.raises(ValueError, match="16-byte EKTKey"):
        parameter_set(ekt_key_value=bytes(32))
    with pytest.raises(ValueError, match="24 bits"):
        parameter_set(ekt_ttl=1 << 24)
    with pytest.raises(ValueError, match="16 bits"):
        parameter_set(ekt_spi=1 << 16)
    with pytest.raises(ValueError, match="salt"):
        parameter_set(srtp_master_salt=b"")
    assert "master_key=<16 bytes>" in repr(EKTPlaintext(bytes(16), 1, 0))
