"""Handshake fragmentation and in-order reassembly (RFC 6347 §4.2.2, §4.2.3)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls.alert import DecodeError, DtlsAlertError
from sipperc.dtls.fragments import (
    HandshakeFragment,
    HandshakeReassembler,
    encode_message,
    parse_fragments,
    split_message,
)


@given(st.binary(max_size=3000), st.integers(1, 500), st.randoms(use_true_random=False))
def test_split_shuffle_duplicate_reassemble(body: bytes, size: int, rnd: random.Random) -> None:
    fragments = [f for encoded in split_message(11, 3, body, size)
                 for f in parse_fragments(encoded)]
    assert all(len(f.fragment) <= size for f in fragments)
    fragments += rnd.sample(fragments, k=len(fragments) // 2)  # duplicates
    rnd.shuffle(fragments)
    reassembler = HandshakeReassembler()
    reassembler.restart(3)
    for fragment in fragments:
        assert reassembler.add(fragment, 0)
    message = reassembler.pop()
    assert message is not None and (message.msg_type, message.message_seq, message.body) == (
        11, 3, body)
    assert reassembler.pop() is None
    assert not reassembler.add(fragments[0], 0)  # old now: a retransmission


def test_messages_released_in_order_and_future_buffered() -> None:
    reassembler = HandshakeReassembler()
    second = parse_fragments(encode_message(12, 1, b"two"))[0]
    first = parse_fragments(encode_message(11, 0, b"one"))[0]
    reassembler.add(second, 0)
    assert reassembler.pop() is None
    reassembler.add(first, 0)
    assert [m.body for m in (reassembler.pop(), reassembler.pop())] == [b"one", b"two"]


def test_several_fragments_in_one_record() -> None:
    data = encode_message(2, 0, b"a") + encode_message(14, 1, b"")
    assert [f.msg_type for f in parse_fragments(data)] == [2, 14]


@pytest.mark.parametrize("data", [
    encode_message(1, 0, b"abcd")[:11],                        # header cut
    encode_message(1, 0, b"abcd")[:-1],                        # fragment cut
    bytes((1, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 4)) + b"abcd",     # offset+len beyond length
])
def test_broken_fragments_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_fragments(data)


def test_inconsistent_fragments_are_refused() -> None:
    reassembler = HandshakeReassembler()
    reassembler.add(HandshakeFragment(11, 10, 0, 0, b"abc"), 0)
    with pytest.raises(DtlsAlertError, match="disagree"):
        reassembler.add(HandshakeFragment(12, 10, 0, 3, b"def"), 0)
    with pytest.raises(DtlsAlertError, match="disagree"):
        reassembler.add(HandshakeFragment(11, 10, 0, 3, b"def"), 1)


def test_huge_message_length_refused() -> None:
    with pytest.raises(DtlsAlertError, match="bytes"):
        parse_fragments(bytes((11, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0)))
