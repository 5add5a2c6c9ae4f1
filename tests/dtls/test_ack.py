"""The RFC 9147 ACK body sipperc carries in DTLS 1.2 for EKTKey."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls.ack import decode_ack, encode_ack
from sipperc.dtls.alert import DecodeError


def test_wire_format() -> None:
    # RecordNumber = uint64 epoch, uint64 sequence_number; a 2-byte vector length first.
    assert encode_ack([(1, 5)]) == b"\x00\x10" + (1).to_bytes(8, "big") + (5).to_bytes(8, "big")
    assert encode_ack([]) == b"\x00\x00"


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 2**48 - 1)), max_size=20))
def test_round_trip(numbers: list[tuple[int, int]]) -> None:
    assert decode_ack(encode_ack(numbers)) == numbers


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x01\x00", b"\x00\x10" + bytes(15),
                                  b"\x00\x00\x00"])
def test_malformed(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_ack(body)
