"""tshark decodes a sipperc DTLS-SRTP handshake: every message, the extensions, the profile."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sipperc.dtls import EKTKey
from sipperc.srtp import Profile
from tests.dtls.harness import exchange, make_pair

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")]

CLIENT_PORT, SERVER_PORT = 47000, 47001
LINKTYPE_RAW = 101  # raw IPv4, no link layer


def write_pcap(path: Path, frames: list[tuple[int, int, bytes]]) -> None:
    """A classic pcap of IPv4/UDP datagrams on 127.0.0.1, one second apart."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for index, (src, dst, payload) in enumerate(frames):
            udp = struct.pack("!HHHH", src, dst, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index, 0, 64, 17, 0,
                             bytes((127, 0, 0, 1)), bytes((127, 0, 0, 1))) + udp
            out.write(struct.pack("<IIII", index, 0, len(ip), len(ip)) + ip)


def test_tshark_decodes_our_handshake(tmp_path: Path) -> None:
    frames: list[tuple[int, int, bytes]] = []

    def record(src: int, dst: int):  # type: ignore[no-untyped-def]
        def keep(datagram: bytes) -> bytes:
            frames.append((src, dst, datagram))
            return datagram
        return keep

    client, server = make_pair({"srtp_profiles": [Profile.AEAD_AES_128_GCM]},
                               {"srtp_profiles": [Profile.AEAD_AES_128_GCM]})
    to_server, to_client = record(CLIENT_PORT, SERVER_PORT), record(SERVER_PORT, CLIENT_PORT)
    exchange(client, server, to_server=to_server, to_client=to_client)
    server.send_ekt_key(EKTKey(bytes(16), bytes(12), 1, 60), 0.0)
    client.send(b"hello")
    exchange(client, server, to_server=to_server, to_client=to_client)
    assert client.is_connected
    pcap = tmp_path / "dtls.pcap"
    write_pcap(pcap, frames)

    summary = subprocess.run(
        ["tshark", "-r", str(pcap), "-d", f"udp.port=={SERVER_PORT},dtls"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    for message in ("Client Hello", "Hello Verify Request",
                    "Server Hello, Certificate, Server Key Exchange, Certificate Request, "
                    "Server Hello Done",
                    "Certificate, Client Key Exchange, Certificate Verify, Change Cipher Spec",
                    "Application Data"):
        assert message in summary, summary
    detail = subprocess.run(
        ["tshark", "-r", str(pcap), "-d", f"udp.port=={SERVER_PORT},dtls", "-V"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    assert "Malformed" not in detail
    assert detail.count("SRTP Protection Profile: SRTP_AEAD_AES_128_GCM (0x0007)") == 3
    for extension in ("extended_master_secret", "external_session_id", "use_srtp",
                      "renegotiation_info"):
        assert f"Extension: {extension}" in detail
    # tshark 4.0 has no name for supported_ekt_ciphers but shows its type number.
    assert "type 39" in detail
    assert "Cipher Suite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b)" in detail
