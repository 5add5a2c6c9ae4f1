"""Record framing, AEAD protection and the replay window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls.alert import AlertDescription, DtlsAlertError
from sipperc.dtls.cipher_suite import CipherSuite
from sipperc.dtls.key_schedule import TrafficKeys
from sipperc.dtls.record import (
    ContentType,
    Record,
    RecordProtection,
    ReplayWindow,
    encode_record,
    parse_records,
)


def test_records_split_and_truncated_tail_dropped() -> None:
    one = encode_record(ContentType.HANDSHAKE, 0, 5, b"abc")
    two = encode_record(ContentType.ALERT, 1, 2**48 - 1, b"\x01\x00")
    records = parse_records(one + two + two[:10])
    assert records == [Record(22, 0xFEFD, 0, 5, b"abc"), Record(21, 0xFEFD, 1, 2**48 - 1,
                                                                  b"\x01\x00")]
    assert parse_records(one[:-1]) == []
    assert records[1].number == (1, 2**48 - 1)


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_seal_open_and_tamper(suite: CipherSuite) -> None:
    p = suite.parameters
    keys = TrafficKeys(bytes(range(p.key_length)), bytes(range(p.fixed_iv_length)))
    sender, receiver = RecordProtection(suite, keys), RecordProtection(suite, keys)
    fragment = sender.seal(ContentType.APPLICATION_DATA, 1, 7, b"media keys")
    assert len(fragment) == len(b"media keys") + sender.overhead
    record = Record(ContentType.APPLICATION_DATA, 0xFEFD, 1, 7, fragment)
    assert receiver.open(record) == b"media keys"
    # The sequence number, type and every byte are authenticated (RFC 5246 §6.2.3.3).
    for changed in (Record(23, 0xFEFD, 1, 8, fragment), Record(21, 0xFEFD, 1, 7, fragment),
                    Record(23, 0xFEFD, 1, 7, fragment[:-1] + bytes((fragment[-1] ^ 1,))),
                    Record(23, 0xFEFD, 1, 7, fragment[:5])):
        with pytest.raises(DtlsAlertError) as info:
            receiver.open(changed)
        assert info.value.description is AlertDescription.BAD_RECORD_MAC
    assert "keys hidden" in repr(sender)


def test_gcm_explicit_nonce_is_epoch_and_sequence() -> None:
    suite = CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    sealed = RecordProtection(suite, TrafficKeys(bytes(16), bytes(4))).seal(23, 1, 3, b"x")
    assert sealed[:8] == bytes.fromhex("0001000000000003")  # RFC 5288 §3, as OpenSSL sends


def test_replay_window() -> None:
    window = ReplayWindow()
    assert not window.is_replay(10)
    window.mark(10)
    assert window.is_replay(10)
    assert not window.is_replay(9)
    window.mark(9)
    window.mark(100)
    assert window.is_replay(36)  # fell out of the 64-record window
    assert not window.is_replay(37)
    window.mark(2**48 - 1)  # a jump of 2^48 must not build a 2^48-bit integer
    assert window.is_replay(2**48 - 1) and window.is_replay(100)


@given(st.lists(st.integers(0, 300), max_size=80))
def test_replay_window_matches_a_set(numbers: list[int]) -> None:
    window, seen = ReplayWindow(), set[int]()
    for n in numbers:
        expected = n in seen or (bool(seen) and n <= max(seen) - 64)
        assert window.is_replay(n) == expected
        if not expected:
            window.mark(n)
            seen.add(n)
