import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.rtp import ExtensionElement, HeaderExtension, RtpError
from tests.rtp.strategies import one_byte_elements, two_byte_elements


def test_rfc8285_one_byte_example():
    # RFC 8285 §4.2 figure: id 1 with 1 byte, id 2 with 2 bytes, then padding.
    ext = HeaderExtension(0xBEDE, bytes.fromhex("10aa21bbbb000000"))
    assert ext.is_one_byte_form and not ext.is_two_byte_form
    assert ext.elements() == (ExtensionElement(1, b"\xaa"), ExtensionElement(2, b"\xbb\xbb"))
    assert ext.element(2) == b"\xbb\xbb" and ext.element(3) is None


def test_rfc8285_two_byte_example_with_zero_length_element_and_appbits():
    # RFC 8285 §4.3: id 1 len 0, id 2 len 1, padding.
    ext = HeaderExtension(0x1005, bytes.fromhex("01000201aa000000"))
    assert ext.is_two_byte_form and ext.appbits == 5
    assert ext.elements() == (ExtensionElement(1, b""), ExtensionElement(2, b"\xaa"))


def test_id_15_ends_one_byte_parsing():
    ext = HeaderExtension(0xBEDE, bytes.fromhex("10aaf0ff"))
    assert ext.elements() == (ExtensionElement(1, b"\xaa"),)


def test_from_elements_picks_the_one_byte_form_when_everything_fits():
    small = HeaderExtension.from_elements([ExtensionElement(3, b"\x01")])
    assert small.profile == 0xBEDE and small.data == bytes.fromhex("30010000")
    large = HeaderExtension.from_elements([ExtensionElement(3, bytes(17))])
    assert large.profile == 0x1000 and large.data[:2] == b"\x03\x11"
    with pytest.raises(RtpError, match="does not fit the one-byte"):
        HeaderExtension.from_elements([ExtensionElement(20, b"x")], two_byte=False)


@given(st.lists(one_byte_elements, max_size=8))
def test_one_byte_round_trip(elements):
    ext = HeaderExtension.from_elements(elements)
    assert ext.is_one_byte_form
    assert ext.elements() == tuple(elements)


@given(st.lists(two_byte_elements, max_size=8), st.integers(0, 15))
def test_two_byte_round_trip(elements, appbits):
    ext = HeaderExtension.from_elements(elements, two_byte=True, appbits=appbits)
    assert ext.appbits == appbits
    assert ext.elements() == tuple(elements)


@given(st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_garbage_elements_raise_rtp_error_only(profile, data):
    data += bytes(-len(data) % 4)
    with contextlib.suppress(RtpError):
        HeaderExtension(profile, data).elements()


@pytest.mark.parametrize(("ext", "message"), [
    (HeaderExtension(0xBEDE, bytes.fromhex("13aa0000")), "element 1 needs 4 bytes, 3 left"),
    (HeaderExtension(0xBEDE, bytes.fromhex("01000000")), "id 0 and a non-zero length"),
    (HeaderExtension(0x1000, bytes.fromhex("000000ff")), "no length byte"),
    (HeaderExtension(0x1000, bytes.fromhex("0105aa00")), "needs 5 bytes, 2 left"),
    (HeaderExtension(0x1234, b""), "not an RFC 8285 form"),
])
def test_malformed_elements_name_the_problem(ext, message):
    with pytest.raises(RtpError, match=message):
        ext.elements()


def test_constructor_checks():
    with pytest.raises(RtpError, match="multiple of 4"):
        HeaderExtension(0xBEDE, b"abc")
    with pytest.raises(RtpError, match="not 16 bits"):
        HeaderExtension(0x10000)
    with pytest.raises(RtpError, match=r"outside 1\.\.255"):
        ExtensionElement(0, b"")
    with pytest.raises(RtpError, match="only in the two-byte"):
        _ = HeaderExtension(0xBEDE).appbits
