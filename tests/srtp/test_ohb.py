import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.srtp import AuthenticationError, OriginalHeaderBlock
from sipperc.srtp.ohb import EMPTY, encode

ohbs = st.builds(OriginalHeaderBlock, st.none() | st.integers(0, 127),
                 st.none() | st.integers(0, 0xFFFF), st.none() | st.booleans())


def test_wire_order_is_pt_seq_config():
    # perc.md §7: PT 64 and SEQ 0xf17b recorded.
    assert bytes(OriginalHeaderBlock(0x40, 0xF17B)) == bytes.fromhex("40f17b03")
    assert bytes(EMPTY) == b"\x00"
    assert bytes(OriginalHeaderBlock(marker=True)) == b"\x0c"
    assert bytes(OriginalHeaderBlock(marker=False)) == b"\x04"
    assert bytes(OriginalHeaderBlock(7, None, True)) == bytes.fromhex("070e")


@given(ohbs, st.binary(max_size=20))
def test_parsed_backwards_from_the_end(ohb, before):
    wire = bytes(ohb)
    assert len(wire) <= 4
    assert OriginalHeaderBlock.parse_trailer(before + wire) == (ohb, len(wire))
    assert encode(ohb.payload_type, ohb.sequence_number, ohb.marker) == wire


@pytest.mark.parametrize(("plaintext", "message"), [
    (b"", "empty"),
    (b"\x10", "reserved bits"),
    (b"\x80", "reserved bits"),
    (b"\x08", "B set without M"),
    (b"\x03", "longer than"),
    (b"\x00\x01", "longer than"),
    (b"\xff\x00\x00\x03", "not 7 bits"),
])
def test_malformed_blocks_fail_authentication(plaintext, message):
    with pytest.raises(AuthenticationError, match=message):
        OriginalHeaderBlock.parse_trailer(plaintext)


def test_recording_follows_rfc8723_section_5_2():
    original = (0, 100, False)
    # A first change adds the original value.
    assert OriginalHeaderBlock.recording(original, (96, 100, False)) == OriginalHeaderBlock(0)
    # A field put back to its original value is dropped.
    assert OriginalHeaderBlock.recording(original, (0, 100, False)) == EMPTY
    # A second distributor changing SEQ again keeps the first one's record.
    assert OriginalHeaderBlock.recording(original, (0, 7, True)) == OriginalHeaderBlock(
        None, 100, False)
    assert OriginalHeaderBlock(None, 100, False).original(0, 7, True) == original


@given(st.tuples(st.integers(0, 127), st.integers(0, 0xFFFF), st.booleans()),
       st.tuples(st.integers(0, 127), st.integers(0, 0xFFFF), st.booleans()))
def test_recording_then_reading_gives_back_the_original(original, current):
    ohb = OriginalHeaderBlock.recording(original, current)
    assert ohb.original(*current) == original
    assert (ohb == EMPTY) == (original == current)


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match=r"0\.\.127"):
        OriginalHeaderBlock(128)
    with pytest.raises(ValueError, match="16 bits"):
        OriginalHeaderBlock(None, 1 << 16)
