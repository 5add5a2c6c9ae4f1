"""Multipart message bodies (RFC 5621, with the MIME rules of RFC 2046 §5.1).

A SIP body may be ``multipart/mixed`` (several bodies, e.g. SDP plus an ISUP or PIDF
part), ``multipart/alternative`` or ``multipart/related``; parts may nest. Part contents are
bytes and are not decoded (SIP uses ``binary`` transfer encoding, RFC 5621 §9.1).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import HeaderField, MediaType, header_key, parse_fields

__all__ = ["BodyPart", "MultipartBody", "find_part"]


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One body part.

    Its MIME header fields (Content-Type, Content-Disposition, Content-ID...) and its content.
    """

    fields: tuple[HeaderField, ...]
    body: bytes

    @classmethod
    def make(
        cls,
        content_type: MediaType | str,
        body: bytes,
        headers: Iterable[tuple[str, object]] = (),
    ) -> BodyPart:
        """A part with the given type, content and further MIME headers.

        E.g. ``headers=[("Content-Disposition", "session;handling=required")]``.
        """
        fields = (
            HeaderField.make("Content-Type", content_type),
            *(HeaderField.make(n, v) for n, v in headers),
        )
        return cls(fields, body)

    def get(self, name: str) -> str | None:
        """The value of a MIME header of this part."""
        key = header_key(name)
        for f in self.fields:
            if f.key == key:
                return f.value
        return None

    @property
    def content_type(self) -> MediaType:
        """The part's type; ``text/plain`` when absent (RFC 2046 §5.1.1)."""
        value = self.get("Content-Type")
        if value is None:
            return MediaType("text", "plain")
        try:
            return MediaType.parse(value)
        except SipParseError as exc:
            raise SipParseError(400, "Bad Content-Type in body part", detail=value) from exc

    def __bytes__(self) -> bytes:
        head = "".join(f.raw for f in self.fields).encode("utf-8", "surrogateescape")
        return head + b"\r\n" + self.body


@dataclass(frozen=True, slots=True)
class MultipartBody:
    """A multipart body: boundary, parts, and the (ignored) preamble and epilogue."""

    content_type: MediaType
    parts: tuple[BodyPart, ...]
    preamble: bytes = b""
    epilogue: bytes = b""

    @property
    def boundary(self) -> str:
        """The boundary string (RFC 2046 §5.1.1)."""
        boundary = self.content_type.boundary
        assert boundary is not None
        return boundary

    @classmethod
    def build(
        cls, parts: Sequence[BodyPart], subtype: str = "mixed", boundary: str | None = None
    ) -> MultipartBody:
        """A new multipart body; a random boundary is chosen unless one is given."""
        boundary = boundary or f"sipperc-{secrets.token_hex(12)}"
        for part in parts:
            if f"--{boundary}".encode() in part.body:
                raise ValueError("boundary occurs in a body part")
        content_type = MediaType.parse(f"multipart/{subtype};boundary={boundary}")
        return cls(content_type, tuple(parts))

    @classmethod
    def parse(cls, content_type: MediaType, body: bytes) -> MultipartBody:
        """Split ``body`` at the boundary named by ``content_type`` (RFC 2046 §5.1.1)."""
        boundary = content_type.boundary
        if not content_type.mime.startswith("multipart/") or not boundary:
            raise SipParseError(400, "Multipart body without boundary")
        delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
        # The first delimiter may start the body; every later one follows a CRLF.
        if body.startswith(delimiter):
            pos = 0
        else:
            pos = body.find(b"\r\n" + delimiter)
            if pos < 0:
                raise SipParseError(400, "Multipart boundary not found")
            pos += 2
        preamble = body[: max(pos - 2, 0)]
        parts: list[BodyPart] = []
        while True:
            pos += len(delimiter)
            if body.startswith(b"--", pos):  # close-delimiter
                epilogue = body[pos + 2 :]
                return cls(content_type, tuple(parts), preamble, epilogue)
            line_end = body.find(b"\r\n", pos)
            if line_end < 0:
                raise SipParseError(400, "Truncated multipart body")
            # transport-padding (LWSP) may follow the boundary.
            if body[pos:line_end].strip(b" \t"):
                raise SipParseError(400, "Malformed multipart boundary line")
            next_delim = body.find(b"\r\n" + delimiter, line_end)
            if next_delim < 0:
                raise SipParseError(400, "Multipart body without close-delimiter")
            parts.append(_parse_part(body[line_end + 2 : next_delim]))
            pos = next_delim + 2

    def __bytes__(self) -> bytes:
        delimiter = b"--" + self.boundary.encode("utf-8", "surrogateescape")
        out = [self.preamble + b"\r\n" if self.preamble else b""]
        for part in self.parts:
            out.append(delimiter + b"\r\n" + bytes(part) + b"\r\n")
        out.append(delimiter + b"--" + self.epilogue)
        return b"".join(out)


def _parse_part(data: bytes) -> BodyPart:
    if data.startswith(b"\r\n"):  # no MIME headers at all
        return BodyPart((), data[2:])
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise SipParseError(400, "Body part without an empty line after its headers")
    lines = data[:end].decode("utf-8", "surrogateescape").split("\r\n")
    try:
        fields = parse_fields(lines, 0)
    except SipParseError as exc:
        raise SipParseError(400, "Bad header in body part", detail=exc.detail) from exc
    return BodyPart(tuple(fields), data[end + 4 :])


def find_part(content_type: MediaType, body: bytes, mime: str) -> bytes | None:
    """The first body of type ``mime``, searching nested multiparts depth first."""
    if content_type.mime == mime:
        return body
    if not content_type.mime.startswith("multipart/"):
        return None
    for part in MultipartBody.parse(content_type, body).parts:
        found = find_part(part.content_type, part.body, mime)
        if found is not None:
            return found
    return None
