import pytest

from sipperc.sip import BodyPart, MediaType, MultipartBody, SipParseError, parse_message
from tests.sip.corpus import INVITE, torture


def test_rfc4475_mpart01():
    m = parse_message(torture("mpart01"))
    assert m.content_type is not None
    body = MultipartBody.parse(m.content_type, m.body)
    assert [p.content_type.mime for p in body.parts] == ["text/plain", "application/octet-stream"]
    assert body.parts[0].get("Content-Transfer-Encoding") == "binary"
    assert bytes(body) == m.body  # byte-exact


def test_build_nested_and_find():
    sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    inner = MultipartBody.build([BodyPart.make("application/sdp", sdp)], "alternative")
    outer = MultipartBody.build(
        [
            BodyPart.make(
                "application/pidf+xml",
                b"<presence/>",
                [("Content-Disposition", "render;handling=optional")],
            ),
            BodyPart.make(inner.content_type, bytes(inner)),
        ]
    )
    m = parse_message(INVITE).with_body(bytes(outer), outer.content_type)
    again = parse_message(bytes(m))
    assert again.find_body("application/sdp") == sdp
    assert again.find_body("application/pidf+xml") == b"<presence/>"
    assert again.find_body("image/png") is None
    parsed = MultipartBody.parse(again.content_type, again.body)  # type: ignore[arg-type]
    assert parsed.parts[0].get("content-disposition") == "render;handling=optional"


def test_malformed_multipart():
    t = MediaType.parse("multipart/mixed;boundary=xx")
    for bad in (b"no boundary here", b"--xx\r\nContent-Type: a/b\r\n\r\nbody", b"--xx"):
        with pytest.raises(SipParseError):
            MultipartBody.parse(t, bad)
    with pytest.raises(SipParseError):
        MultipartBody.parse(MediaType.parse("multipart/mixed"), b"")
    with pytest.raises(ValueError):
        MultipartBody.build([BodyPart.make("text/plain", b"--b")], boundary="b")
