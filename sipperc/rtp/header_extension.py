"""RTP header extensions (RFC 3550 §5.3.1) and their RFC 8285 element forms.

The extension is kept as received: the 16-bit "defined by profile" word and the raw data (a
multiple of 4 bytes). Serializing a parsed packet therefore gives back the same bytes, which
matters to anything that authenticates headers (SRTP, RFC 8723 double SRTP). The RFC 8285
elements are read on demand with :meth:`HeaderExtension.elements`, and built with
:meth:`HeaderExtension.from_elements`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sipperc.rtp.error import RtpError

ONE_BYTE_PROFILE = 0xBEDE
"""RFC 8285 §4.2: the "defined by profile" value of the one-byte-header form."""
TWO_BYTE_PROFILE = 0x1000
"""RFC 8285 §4.3: the two-byte-header form is 0x100 in the top 12 bits, then 4 appbits."""

_ONE_BYTE_RESERVED_ID = 15
_MAX_EXTENSION_DATA = 4 * 0xFFFF


@dataclass(frozen=True, slots=True)
class ExtensionElement:
    """One RFC 8285 element: a local identifier (negotiated with ``a=extmap``) and its data."""

    id: int
    data: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.id <= 255:
            raise RtpError(f"header extension element id {self.id} is outside 1..255")
        if len(self.data) > 255:
            raise RtpError(f"header extension element {self.id} has {len(self.data)} bytes "
                           "of data, more than 255")

    @property
    def fits_one_byte_form(self) -> bool:
        """RFC 8285 §4.2: ids 1..14 and 1..16 bytes of data."""
        return self.id < _ONE_BYTE_RESERVED_ID and 1 <= len(self.data) <= 16


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """The RTP header extension: the profile word and the data, padding included."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise RtpError(f"header extension profile {self.profile:#x} is not 16 bits")
        if len(self.data) % 4:
            raise RtpError(f"header extension data is {len(self.data)} bytes, "
                           "not a multiple of 4")
        if len(self.data) > _MAX_EXTENSION_DATA:
            raise RtpError("header extension data is longer than 65535 words")

    @property
    def is_one_byte_form(self) -> bool:
        """True for the RFC 8285 one-byte-header form (profile 0xBEDE)."""
        return self.profile == ONE_BYTE_PROFILE

    @property
    def is_two_byte_form(self) -> bool:
        """True for the RFC 8285 two-byte-header form (profile 0x100X)."""
        return self.profile & 0xFFF0 == TWO_BYTE_PROFILE

    @property
    def appbits(self) -> int:
        """The 4 application bits of the two-byte form (RFC 8285 §4.3)."""
        if not self.is_two_byte_form:
            raise RtpError("appbits exist only in the two-byte-header form")
        return self.profile & 0x000F

    def elements(self) -> tuple[ExtensionElement, ...]:
        """The RFC 8285 elements, in order; padding bytes are skipped.

        Raises :class:`RtpError` for a profile word that is not an RFC 8285 form, or for
        elements that run past the end of the data. In the one-byte form an id of 15 ends
        parsing (RFC 8285 §4.2: "processing of the entire extension should terminate").
        """
        data = self.data
        return tuple(ExtensionElement(element_id, data[start:end])
                     for element_id, start, end in self._spans())

    def element(self, element_id: int) -> bytes | None:
        """The data of the first element with this id, or None if there is none.

        The whole extension is checked as :meth:`elements` checks it, without building the
        element objects: a Media Distributor reads the audio level of every packet.
        """
        found = None
        for candidate, start, end in self._spans():
            if found is None and candidate == element_id:
                found = self.data[start:end]
        return found

    def _spans(self) -> list[tuple[int, int, int]]:
        if self.is_one_byte_form or self.is_two_byte_form:
            return _element_spans(self.data, two_byte=self.is_two_byte_form)
        raise RtpError(f"header extension profile {self.profile:#06x} is not an RFC 8285 form")

    @classmethod
    def from_elements(cls, elements: Iterable[ExtensionElement], *,
                      two_byte: bool | None = None, appbits: int = 0) -> HeaderExtension:
        """Encode elements in the one-byte form when they all fit it, else the two-byte form.

        ``two_byte=True`` forces the two-byte form (e.g. when the SDP negotiated
        ``a=extmap-allow-mixed``); ``two_byte=False`` raises :class:`RtpError` if an element
        does not fit the one-byte form. The data is zero-padded to a multiple of 4 bytes.
        """
        items = tuple(elements)
        if two_byte is None:
            two_byte = not all(element.fits_one_byte_form for element in items)
        if not 0 <= appbits <= 0xF:
            raise RtpError(f"appbits {appbits} is not 4 bits")
        out = bytearray()
        if two_byte:
            for element in items:
                out += bytes((element.id, len(element.data))) + element.data
            profile = TWO_BYTE_PROFILE | appbits
        else:
            if appbits:
                raise RtpError("the one-byte-header form has no appbits")
            for element in items:
                if not element.fits_one_byte_form:
                    raise RtpError(f"element {element.id} with {len(element.data)} bytes does "
                                   "not fit the one-byte-header form")
                out.append(element.id << 4 | (len(element.data) - 1))
                out += element.data
            profile = ONE_BYTE_PROFILE
        out += bytes(-len(out) % 4)
        return cls(profile, bytes(out))


def _element_spans(data: bytes, two_byte: bool) -> list[tuple[int, int, int]]:
    """(id, start, end) of every element of the data, checked (RFC 8285 §4.2, §4.3)."""
    form = "two-byte" if two_byte else "one-byte"
    spans = []
    offset, end = 0, len(data)
    while offset < end:
        if data[offset] == 0:  # RFC 8285 §4.2, §4.3: a padding byte
            offset += 1
            continue
        if two_byte:
            if offset + 2 > end:
                raise RtpError(f"{form} header extension: element {data[offset]} has no "
                               "length byte")
            element_id, length = data[offset], data[offset + 1]
            offset += 2
        else:
            element_id, length = data[offset] >> 4, (data[offset] & 0x0F) + 1
            if element_id == 0:
                raise RtpError(f"{form} header extension: byte {offset} has id 0 and a non-zero "
                               "length (padding bytes must be zero)")
            if element_id == _ONE_BYTE_RESERVED_ID:
                break
            offset += 1
        if offset + length > end:
            raise RtpError(f"{form} header extension: element {element_id} needs {length} "
                           f"bytes, {end - offset} left")
        spans.append((element_id, offset, offset + length))
        offset += length
    return spans
