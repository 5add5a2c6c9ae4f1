"""tshark decodes the SIP messages sipperc serializes, captured live on the loopback."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sipperc.sip import (
    Address,
    BodyPart,
    MultipartBody,
    Request,
    SipUri,
    Via,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)
from sipperc.sip.uri import Parameters
from tests.sip.corpus import torture

pytestmark = pytest.mark.interop

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _messages(port: int) -> list[bytes]:
    via = Via("UDP", "127.0.0.1", port, Parameters([("branch", new_branch()), ("rport", None)]))
    invite = Request.build(
        "INVITE",
        f"sip:bob@127.0.0.1:{port}",
        from_=Address(
            SipUri(host="127.0.0.1", user="alice"), "Alice", Parameters([("tag", new_tag())])
        ),
        to="Bob <sip:bob@127.0.0.1>",
        call_id=new_call_id("127.0.0.1"),
        cseq=1,
        via=via,
        contact="<sip:alice@127.0.0.1:5070>",
        headers=[("Supported", "100rel, timer"), ("Session-Expires", "1800;refresher=uac")],
        body=SDP,
        content_type="application/sdp",
    )
    ok = invite.response(
        200,
        to_tag=new_tag(),
        contact="<sip:bob@127.0.0.1>",
        body=SDP,
        content_type="application/sdp",
    )
    mixed = MultipartBody.build(
        [BodyPart.make("application/sdp", SDP), BodyPart.make("text/plain", b"hello")]
    )
    message = invite.with_body(bytes(mixed), mixed.content_type)
    forwarded = parse_message(torture("wsinv")).prepend(
        "Via", Via("UDP", "127.0.0.1", port, Parameters([("branch", new_branch())]))
    )
    return [
        bytes(invite),
        bytes(invite.response(100)),
        bytes(ok),
        bytes(invite.ack_for(ok)),
        bytes(message),
        bytes(invite.cancel()),
        bytes(forwarded),
    ]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_our_messages_without_errors(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    messages = _messages(port)
    capture = tmp_path / "sip.pcapng"
    tshark = subprocess.Popen(
        [
            "tshark",
            "-i",
            "lo",
            "-f",
            f"udp dst port {port}",
            "-c",
            str(len(messages)),
            "-a",
            "duration:30",
            "-w",
            str(capture),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tshark.stderr is not None
        deadline = time.monotonic() + 20
        while "Capturing on" not in tshark.stderr.readline():  # capture is running
            if tshark.poll() is not None or time.monotonic() > deadline:
                pytest.skip("tshark cannot capture on the loopback here")
        time.sleep(1.0)  # dumpcap reports before its filter sees the first packets
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for data in messages:
            sender.sendto(data, ("127.0.0.1", port))
            time.sleep(0.05)
        sender.close()
        tshark.wait(timeout=30)
    finally:
        if tshark.poll() is None:
            tshark.kill()
            tshark.wait()
        receiver.close()
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(capture),
            "-d",
            f"udp.port=={port},sip",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.CSeq.method",
            "-e",
            "sip.Via.branch",
            "-e",
            "sdp.media",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert len(fields) == len(messages)
    rows = [line.split("|") for line in fields]
    assert [r[0] or r[1] for r in rows] == [
        "INVITE",
        "100",
        "200",
        "ACK",
        "INVITE",
        "CANCEL",
        "INVITE",
    ]
    assert [r[2] for r in rows] == [
        "INVITE",
        "INVITE",
        "INVITE",
        "ACK",
        "INVITE",
        "CANCEL",
        "INVITE",
    ]
    assert rows[0][4].startswith("audio 49170") and rows[4][4].startswith("audio 49170")
    for row in rows:
        assert row[5] == "", f"tshark marked a message malformed: {row}"
        # Expert info: 6291456 is "warning", 8388608 "error"; notes/chats are fine.
        severities = {int(s) for s in row[6].split(",") if s}
        assert not severities & {6291456, 8388608}, f"tshark warnings/errors: {row}"
