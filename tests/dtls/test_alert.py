"""Alert bodies and the layer's error types."""

from __future__ import annotations

import pytest

from sipperc.dtls.alert import (
    AlertDescription,
    AlertLevel,
    DecodeError,
    DtlsAlertError,
    decode_alert,
    encode_alert,
)


def test_round_trip_and_unknown_description() -> None:
    body = encode_alert(AlertLevel.FATAL, AlertDescription.BAD_CERTIFICATE)
    assert body == b"\x02\x2a"
    assert decode_alert(body) == (AlertLevel.FATAL, AlertDescription.BAD_CERTIFICATE)
    assert decode_alert(b"\x01\xfe") == (AlertLevel.WARNING, 254)


@pytest.mark.parametrize("body", [b"", b"\x02", b"\x02\x00\x00"])
def test_wrong_length(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_alert(body)


def test_bad_level_and_error_text() -> None:
    with pytest.raises(DtlsAlertError) as info:
        decode_alert(b"\x07\x00")
    assert info.value.description is AlertDescription.ILLEGAL_PARAMETER
    assert str(DecodeError("x: short")) == "decode_error: x: short"
