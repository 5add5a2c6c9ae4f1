"""Events hide key material and say how a connection ended."""

from __future__ import annotations

from sipperc.dtls.alert import AlertDescription
from sipperc.dtls.events import ApplicationDataReceived, ConnectionClosed, EKTKeyReceived
from sipperc.srtp import EKTCipher


def test_reprs_hide_secrets() -> None:
    event = EKTKeyReceived(b"\x11" * 16, b"\x22" * 12, 5, 60, EKTCipher.AESKW_128, 1.5)
    assert "1111" not in repr(event) and "2222" not in repr(event)
    assert "<16 bytes>" in repr(event) and "ekt_spi=5" in repr(event)
    assert "secret" not in repr(ApplicationDataReceived(b"secret"))


def test_closed_clean_only_for_close_notify() -> None:
    assert ConnectionClosed("bye", AlertDescription.CLOSE_NOTIFY, True).clean
    assert not ConnectionClosed("bad", AlertDescription.BAD_CERTIFICATE, False).clean
    assert not ConnectionClosed("timed out", None, False).clean
