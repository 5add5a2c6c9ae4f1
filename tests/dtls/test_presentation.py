"""The TLS presentation-language reader and writers."""

from __future__ import annotations

import pytest

from sipperc.dtls.alert import DecodeError
from sipperc.dtls.presentation import Reader, read_uint16_list, uint16_list, vector


def test_reader() -> None:
    r = Reader(b"\x01\x00\x02ab\xff")
    assert r.uint(1, "a") == 1
    assert r.vector(2, "v", 1, 5) == b"ab"
    assert r.remaining == 1
    with pytest.raises(DecodeError, match="trailing"):
        r.end("thing")
    assert r.rest() == b"\xff"
    r.end("thing")


def test_reader_errors_name_the_field() -> None:
    with pytest.raises(DecodeError, match="cookie"):
        Reader(b"\x05ab").vector(1, "cookie")
    with pytest.raises(DecodeError, match="session_id: length 33"):
        Reader(b"\x21" + bytes(33)).vector(1, "session_id", 0, 32)


def test_writers() -> None:
    assert vector(3, b"xy") == b"\x00\x00\x02xy"
    assert uint16_list([1, 0xC02B]) == b"\x00\x04\x00\x01\xc0\x2b"
    assert read_uint16_list(b"\x00\x01\xc0\x2b", "x") == [1, 0xC02B]
    with pytest.raises(DecodeError):
        read_uint16_list(b"\x00", "x")
