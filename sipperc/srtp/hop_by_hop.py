"""The Media Distributor's side of double SRTP: hop-by-hop keys only (RFC 8723 §5.2, §6).

A :class:`HopByHopSession` holds the outer (hop-by-hop) half of one endpoint's keys, as the
Key Distributor sends them in MediaKeys (RFC 9185 §5.4: half-length keys). With the session of
the endpoint a packet came from, :meth:`HopByHopSession.receive` cuts off the EKT field,
outer-decrypts and reads the Original Header Block, giving a :class:`RelayedPacket`. With the
session of each endpoint it goes to, :meth:`HopByHopSession.send` applies the PT, SEQ, marker
and header-extension changes the caller asks for, records the original values in the OHB and
outer-encrypts under that recipient's key, so no (key, nonce) pair is ever used twice (§5.2).

What the distributor cannot read or change is not in the API: a :class:`RelayedPacket` exposes
the header read-only and the end-to-end part only as its length; ``send`` takes new values for
PT, SEQ, M and the header extension, and nothing else, so TS, SSRC, CSRCs, P, X and the payload
leave as they arrived. RTCP is hop-by-hop only: ``protect_rtcp``/``unprotect_rtcp`` are plain
RFC 7714 SRTCP under the outer key (§6).
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag

from sipperc.keymaterial import redacted
from sipperc.rtp.header_extension import HeaderExtension
from sipperc.srtp.aead import TAG_LENGTH, AeadSession
from sipperc.srtp.ekt import split_ekt_field
from sipperc.srtp.errors import AuthenticationError, SrtpError
from sipperc.srtp.ohb import OriginalHeaderBlock, encode
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import DEFAULT_REPLAY_WINDOW, malformed
from sipperc.srtp.stream import SrtpStream


class RelayedPacket:
    """A double-SRTP packet after outer decryption: what a Media Distributor may see.

    The RTP header as received (outer PT, SEQ, marker, header extension), the original values
    recorded in the OHB, and the EKT field to pass on. The end-to-end encrypted payload is
    carried along but not exposed.
    """

    __slots__ = ("_e2e", "_header", "_original", "_ssrc", "ekt_field")

    def __init__(self, header: bytes, e2e: bytes, original: tuple[int, int, bool] | None,
                 ekt_field: bytes) -> None:
        self._header = header
        self._ssrc = header[8:12]
        self._e2e = e2e
        self._original = original  # None: the header's own values (an empty OHB)
        self.ekt_field = ekt_field
        """The EKT field that came with the packet (empty if none), re-appended by ``send``."""

    def __repr__(self) -> str:
        return (f"<RelayedPacket SSRC {self.ssrc:#010x} PT {self.payload_type} SEQ "
                f"{self.sequence_number} M {int(self.marker)}, {len(self._e2e)} bytes end-to-end"
                f" encrypted, {self.original}>")

    @property
    def ssrc(self) -> int:
        """The SSRC (the same inside and outside: RFC 8723 §3)."""
        return int.from_bytes(self._header[8:12])

    @property
    def payload_type(self) -> int:
        """PT as received from the last hop."""
        return self._header[1] & 0x7F

    @property
    def sequence_number(self) -> int:
        """SEQ as received from the last hop."""
        return self._header[2] << 8 | self._header[3]

    @property
    def marker(self) -> bool:
        """The marker bit as received from the last hop."""
        return bool(self._header[1] & 0x80)

    @property
    def timestamp(self) -> int:
        """The RTP timestamp (end-to-end authenticated: it can only be read)."""
        return int.from_bytes(self._header[4:8])

    @property
    def csrcs(self) -> tuple[int, ...]:
        """The contributing sources (end-to-end authenticated: they can only be read)."""
        return tuple(int.from_bytes(self._header[offset:offset + 4])
                     for offset in range(12, self._fixed_length, 4))

    @property
    def _fixed_length(self) -> int:
        return 12 + ((self._header[0] & 0x0F) << 2)

    @property
    def extension(self) -> HeaderExtension | None:
        """The header extension (hop-by-hop only), e.g. to read the RFC 6464 audio level."""
        fixed = self._fixed_length
        if len(self._header) == fixed:
            return None
        return HeaderExtension(self._header[fixed] << 8 | self._header[fixed + 1],
                               self._header[fixed + 4:])

    @property
    def original(self) -> OriginalHeaderBlock:
        """The OHB this packet carries: the original values of fields changed on the way."""
        current = (self.payload_type, self.sequence_number, self.marker)
        return OriginalHeaderBlock.recording(self._original or current, current)

    def ohb(self) -> bytes:
        """The OHB as it is on the wire."""
        return bytes(self.original)

    @property
    def original_sequence_number(self) -> int:
        """The SEQ the sender gave this packet, whatever distributors did since."""
        return self.sequence_number if self._original is None else self._original[1]

    @property
    def size(self) -> int:
        """Length of the end-to-end part (inner ciphertext and tag), for statistics."""
        return len(self._e2e)


class HopByHopSession(AeadSession):
    """One endpoint's hop-by-hop (outer) keys, as a Media Distributor holds them.

    ``profile`` is the double profile negotiated; ``master_key`` and ``master_salt`` are only
    the outer halves (RFC 9185 §5.4). ``ekt`` says whether every packet ends in an EKT field
    (RFC 8870), as it does in PERC.
    """

    def __init__(self, profile: Profile, *, master_key: bytes, master_salt: bytes,
                 replay_window: int = DEFAULT_REPLAY_WINDOW, ekt: bool = True,
                 **kwargs: Any) -> None:
        if not profile.is_double:
            raise ValueError(f"{profile.name} is not a double profile (RFC 8723)")
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        super().__init__(profile.inner, master_key=master_key, master_salt=master_salt,
                         replay_window=replay_window)
        self.double_profile = profile
        self.ekt = ekt

    def __repr__(self) -> str:
        return (f"<HopByHopSession {self.double_profile.name}, outer master key "
                f"{redacted(b'k' * self.profile.master_key_length)}>")

    def receive(self, packet: bytes) -> RelayedPacket:
        """Outer-decrypt a packet from this session's endpoint (RFC 8723 §5.2 step 1)."""
        # AeadSession._open and _opened (header_length too) inline: the distributor's hot path.
        wire = packet
        try:
            if not self.ekt:
                ekt_field, end = b"", len(packet)
            elif packet[-1] == 0:  # a ShortEKTField, the usual case
                ekt_field, end = b"\x00", len(packet) - 1
            else:
                packet, ekt_field, _ = split_ekt_field(packet)
                end = len(packet)
            first = packet[0]
            length = 12 + ((first & 0x0F) << 2)
            if first & 0x10:
                length += 4 + ((packet[length + 2] << 8 | packet[length + 3]) << 2)
        except IndexError:
            raise malformed(packet) from None
        # Outer tag, inner tag and at least the one-byte OHB follow the header.
        if first & 0xC0 != 0x80 or end < length + 2 * TAG_LENGTH + 1:
            raise malformed(packet)
        ssrc = packet[8:12]
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            return self._receive_first(wire, ssrc)
        seq = packet[2] << 8 | packet[3]
        index = stream.highest + 1
        in_order = seq == index & 0xFFFF
        if not in_order:
            index = stream.estimate(seq)
            stream.check(index)
        header = packet[:length]
        try:
            plaintext = self._rtp_decrypt((stream.nonce_base ^ index).to_bytes(12),
                                          packet[length:end], header)
        except InvalidTag:
            raise AuthenticationError(f"outer SRTP tag does not verify (SSRC {ssrc.hex()}, "
                                      f"index {index})") from None
        if plaintext[-1]:  # some distributor recorded original values
            ohb, ohb_length = OriginalHeaderBlock.parse_trailer(plaintext)
            if len(plaintext) - ohb_length < TAG_LENGTH:
                raise AuthenticationError("outer plaintext is too short for the inner tag and "
                                          "OHB")
            relayed = RelayedPacket(header, plaintext[:-ohb_length],
                                    ohb.original(header[1] & 0x7F, seq, bool(header[1] & 0x80)),
                                    ekt_field)
        else:
            relayed = RelayedPacket(header, plaintext[:-1], None, ekt_field)
        if in_order:
            stream.highest = index
        else:
            stream.accept(index)
        return relayed

    def _receive_first(self, packet: bytes, ssrc: bytes) -> RelayedPacket:
        """Receive the first packet of an SSRC; its stream is kept only if it authenticates."""
        self._rtp_rx[ssrc] = SrtpStream(self.replay_window,
                                        self._nonce_base(int.from_bytes(ssrc), False))
        try:
            return self.receive(packet)
        except SrtpError:
            del self._rtp_rx[ssrc]
            raise

    def send(self, packet: RelayedPacket, *, payload_type: int | None = None,
             sequence_number: int | None = None, marker: bool | None = None,
             extension: HeaderExtension | None = None, keep_ekt_field: bool = True) -> bytes:
        """Re-encrypt ``packet`` for this session's endpoint (RFC 8723 §5.2 steps 2-4).

        PT, SEQ and the marker take the given values (None keeps what was received) and the
        OHB records the original of every field that now differs from it. ``extension``
        replaces the header extension of a packet that has one (X cannot change). The EKT field
        is passed on unless ``keep_ekt_field`` is False (it is then replaced by a
        ShortEKTField when EKT is in use, so the packet stays parseable).
        """
        header = packet._header
        seq = header[2] << 8 | header[3]
        original = packet._original
        if payload_type is None and marker is None:
            if sequence_number is None or sequence_number == seq:
                ohb = b"\x00" if original is None else packet.ohb()
            else:  # the usual rewrite: SEQ only (RFC 8723 §5.2 step 3, by hand for speed)
                if not 0 <= sequence_number <= 0xFFFF:
                    raise ValueError(f"sequence number {sequence_number} is not 16 bits")
                if original is None:
                    ohb = header[2:4] + b"\x01"
                else:
                    ohb = encode(None if header[1] & 0x7F == original[0] else original[0],
                                 None if sequence_number == original[1] else original[1],
                                 None if bool(header[1] & 0x80) == original[2] else original[2])
                header = header[:2] + sequence_number.to_bytes(2) + header[4:]
                seq = sequence_number
        else:
            header, seq, ohb = self._rewrite(packet, payload_type, sequence_number, marker)
        if extension is not None:
            fixed = 12 + ((header[0] & 0x0F) << 2)
            if len(header) == fixed:
                raise ValueError("the packet has no header extension; adding one would change X")
            header = (header[:fixed] + extension.profile.to_bytes(2)
                      + (len(extension.data) // 4).to_bytes(2) + extension.data)
        stream = self._rtp_tx.get(packet._ssrc) or self._new_rtp_tx(packet._ssrc)
        index = stream.highest + 1
        if seq == index & 0xFFFF:  # the next packet in order (see sipperc.srtp.stream)
            stream.highest = index
        else:
            index = stream.send_index(seq)
        trailer = packet.ekt_field if keep_ekt_field else (b"\x00" if self.ekt else b"")
        return header + self._rtp_encrypt((stream.nonce_base ^ index).to_bytes(12),
                                          packet._e2e + ohb, header) + trailer

    @staticmethod
    def _rewrite(packet: RelayedPacket, payload_type: int | None, sequence_number: int | None,
                 marker: bool | None) -> tuple[bytes, int, bytes]:
        """The new header, SEQ and OHB for any change of PT, SEQ and marker."""
        header = packet._header
        current = (header[1] & 0x7F, header[2] << 8 | header[3], bool(header[1] & 0x80))
        new = (current[0] if payload_type is None else payload_type,
               current[1] if sequence_number is None else sequence_number,
               current[2] if marker is None else marker)
        if not (0 <= new[0] <= 127 and 0 <= new[1] <= 0xFFFF):
            raise ValueError(f"payload type {new[0]} or sequence number {new[1]} out of range")
        original = current if packet._original is None else packet._original
        ohb = bytes(OriginalHeaderBlock.recording(original, new))
        header = (header[:1] + bytes((new[0] | (0x80 if new[2] else 0),))
                  + new[1].to_bytes(2) + header[4:])
        return header, new[1], ohb
