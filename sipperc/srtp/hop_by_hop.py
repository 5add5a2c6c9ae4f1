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

import struct
from collections.abc import Iterable
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidTag

from sipperc.keymaterial import redacted
from sipperc.rtp.header_extension import HeaderExtension
from sipperc.srtp.aead import TAG_LENGTH, AeadSession
from sipperc.srtp.ekt import SHORT_EKT_FIELD, split_ekt_field
from sipperc.srtp.errors import AuthenticationError, SrtpError
from sipperc.srtp.ohb import (
    SEQ_PRESENT,
    OriginalHeaderBlock,
    encode,
    encoded_length,
    recorded,
)
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import (
    DEFAULT_REPLAY_WINDOW,
    SIMPLE_HEADER_LENGTHS,
    header_length,
)
from sipperc.srtp.stream import SrtpStream

_AFTER_HEADER = 2 * TAG_LENGTH + 1
"""Outer tag, inner tag and at least the one-byte OHB follow the header."""
_FIRST_SEQ_AND_SSRC = struct.Struct(">BxH4x4s").unpack_from
"""The first octet (for SIMPLE_HEADER_LENGTHS), SEQ and SSRC bytes: see SEQ_AND_SSRC. PERC
packets carry the audio level in an extension (RFC 6464), so receive measures a header with an
extension and no CSRC itself too, rather than calling header_length."""
_OHB_SEQ = struct.Struct(">HB").pack
"""The OHB recording only an original SEQ: SEQ, then Config with Q set (RFC 8723 §4)."""
_SEQ_INTO_12 = struct.Struct(">2sH8s").pack
"""A 12-byte RTP header (no CSRC, no extension) with a new SEQ, from the bytes around it."""


class RelayedPacket:
    """A double-SRTP packet after outer decryption: what a Media Distributor may see.

    The RTP header as received (outer PT, SEQ, marker, header extension), the original values
    recorded in the OHB, and the EKT field to pass on. The end-to-end encrypted payload is
    carried along but not exposed.
    """

    __slots__ = ("_header", "_original", "_plaintext", "_seq", "_ssrc", "ekt_field")

    # Made only by HopByHopSession.receive, which fills the slots itself: calling a class with
    # an __init__ costs about 50 ns more per packet in CPython 3.11 (measured).
    _header: bytes  # as received; cut and re-encoded only if send changes something
    _ssrc: bytes
    _seq: int  # the header's SEQ, which receive reads anyway and send needs
    _plaintext: bytes  # outer plaintext: inner ciphertext and tag, then the OHB
    _original: tuple[int, int, bool] | None  # (PT, SEQ, M) from the OHB; None: an empty OHB
    ekt_field: bytes
    """The EKT field that came with the packet (empty if none), re-appended by ``send``."""

    def __repr__(self) -> str:
        return (f"<RelayedPacket SSRC {self.ssrc:#010x} PT {self.payload_type} SEQ "
                f"{self.sequence_number} M {int(self.marker)}, {self.size} bytes end-to-end"
                f" encrypted, {self.original}>")

    @property
    def header(self) -> bytes:
        """The RTP header as received from the last hop (CSRCs and extension included).

        Nothing in it is secret: it is what the wire shows, e.g. for :func:`find_audio_level`.
        """
        return self._header

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
        return self._seq

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
        return len(self._plaintext) - encoded_length(self._plaintext[-1])

    @property
    def _e2e(self) -> bytes:
        """The end-to-end part: the outer plaintext without its OHB."""
        return self._plaintext[:-encoded_length(self._plaintext[-1])]


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
        self._no_ekt_field = SHORT_EKT_FIELD if ekt else b""
        """What replaces a packet's EKT field that is not passed on (keeps it parseable)."""

    def __repr__(self) -> str:
        return (f"<HopByHopSession {self.double_profile.name}, outer master key "
                f"{redacted(b'k' * self.profile.master_key_length)}>")

    def receive(self, packet: bytes) -> RelayedPacket:
        """Outer-decrypt a packet from this session's endpoint (RFC 8723 §5.2 step 1)."""
        # The distributor's hot path: AeadSession._open and the fast paths of header_length,
        # SrtpStream.receive_index and accept, inline (see SIMPLE_HEADER_LENGTHS).
        end = len(packet)
        if not self.ekt:
            ekt_field = b""
        elif end and not packet[-1]:  # a ShortEKTField, the usual case
            ekt_field = SHORT_EKT_FIELD
            end -= 1
        else:
            ekt_field = split_ekt_field(packet)[1]
            end -= len(ekt_field)
        try:
            first, seq, ssrc = _FIRST_SEQ_AND_SSRC(packet)
            length = SIMPLE_HEADER_LENGTHS[first]
            if not length and first & 0xDF == 0x90:  # V=2, X=1, no CSRC: PERC's audio level
                length = 16 + 4 * (packet[14] << 8 | packet[15])  # RFC 3550 §5.3.1
        except (struct.error, IndexError):  # shorter than an RTP header: header_length says why
            length = 0
        if not length or end < length + _AFTER_HEADER:
            length = header_length(packet, len(ekt_field) + _AFTER_HEADER)
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            return self._first_packet(ssrc, partial(self.receive, packet))
        index = stream.highest + 1
        in_order = seq == index & 0xFFFF
        if not in_order:
            index = stream.receive_index(seq)
        header = packet[:length]
        decrypt = self._rtp_decrypt  # see AeadSession._rtp_encrypt
        try:
            plaintext = decrypt((stream.nonce_base ^ index).to_bytes(12), packet[length:end],
                                header)
        except InvalidTag:
            raise self._tag_failure(packet, index) from None
        relayed = RelayedPacket()
        relayed._header = header
        relayed._ssrc = ssrc
        relayed._seq = seq
        relayed._plaintext = plaintext
        relayed.ekt_field = ekt_field
        if plaintext[-1]:  # some distributor recorded original values
            ohb, ohb_length = OriginalHeaderBlock.parse_trailer(plaintext)
            if len(plaintext) - ohb_length < TAG_LENGTH:
                raise AuthenticationError("outer plaintext is too short for the inner tag and "
                                          "OHB")
            relayed._original = ohb.original(header[1] & 0x7F, seq, bool(header[1] & 0x80))
        else:
            relayed._original = None
        if in_order:
            stream.highest = index
        else:
            stream.accept(index)
        return relayed

    def receive_at_unknown_roc(self, packet: bytes, rocs: Iterable[int]) -> RelayedPacket:
        """The first packet of a stream whose roll-over counter this hop does not know.

        A Media Distributor that restarted mid-conference meets streams whose SEQ has wrapped
        already (the late joiner of RFC 3711 §3.3.1), and nothing it can read says how often.
        The given ROCs are tried in turn, one AES-GCM operation each; the stream is kept at
        the first under which the packet authenticates. AuthenticationError if none does.
        """
        header_length(packet)  # MalformedPacketError for what is not an RTP packet
        ssrc = packet[8:12]
        if ssrc in self._rtp_rx:
            return self.receive(packet)
        seq = packet[2] << 8 | packet[3]
        nonce_base = self._nonce_base(int.from_bytes(ssrc), self._rtp_rx_salt)
        try:
            for roc in rocs:
                # One below the packet's index, so the packet is the next one in order.
                self._rtp_rx[ssrc] = SrtpStream(self.replay_window, nonce_base,
                                                (roc << 16 | seq) - 1)
                try:
                    return self.receive(packet)
                except AuthenticationError:
                    continue
        except SrtpError:
            self._rtp_rx.pop(ssrc, None)
            raise
        self._rtp_rx.pop(ssrc, None)
        raise AuthenticationError(f"outer SRTP tag does not verify at any ROC tried "
                                  f"(SSRC {ssrc.hex()})")

    def send(self, packet: RelayedPacket, payload_type: int | None = None,  # noqa: PLR0917
             sequence_number: int | None = None, marker: bool | None = None,
             extension: HeaderExtension | None = None, keep_ekt_field: bool = True) -> bytes:
        """Re-encrypt ``packet`` for this session's endpoint (RFC 8723 §5.2 steps 2-4).

        PT, SEQ and the marker take the given values (None keeps what was received) and the
        OHB records the original of every field that now differs from it. ``extension``
        replaces the header extension of a packet that has one (X cannot change). The EKT field
        is passed on unless ``keep_ekt_field`` is False (it is then replaced by a
        ShortEKTField when EKT is in use, so the packet stays parseable).

        Pass the changes by name. They are not keyword-only because CPython 3.11 looks up
        every omitted keyword-only default in a dict on each call: about 60 ns a packet, 2.5%
        of a re-encrypt (measured with benchmarks/srtp_bench.py).
        """
        seq = packet._seq
        if payload_type is None and marker is None and packet._original is None:
            # Nothing recorded yet and at most the SEQ changes, the usual case (a distributor
            # that switches streams, RFC 7667 §3.7): RFC 8723 §5.2 step 3 by hand, for speed.
            header, plaintext = packet._header, packet._plaintext
            if sequence_number is not None and sequence_number != seq:
                try:
                    header = (_SEQ_INTO_12(header[:2], sequence_number, header[4:])
                              if len(header) == 12
                              else header[:2] + sequence_number.to_bytes(2) + header[4:])
                except (OverflowError, struct.error):
                    raise ValueError(f"sequence number {sequence_number} is not 16 bits") from None
                plaintext = plaintext[:-1] + _OHB_SEQ(seq, SEQ_PRESENT)
                seq = sequence_number
        else:
            header, seq, plaintext = self._rewrite(packet, payload_type, sequence_number, marker)
        if extension is not None:
            fixed = 12 + ((header[0] & 0x0F) << 2)
            if len(header) == fixed:
                raise ValueError("the packet has no header extension; adding one would change X")
            header = (header[:fixed] + extension.profile.to_bytes(2)
                      + (len(extension.data) // 4).to_bytes(2) + extension.data)
        # The fast path of SrtpStream.send_index, inline.
        ssrc = packet._ssrc
        stream = self._rtp_tx.get(ssrc)
        if stream is None:
            stream = self._new_rtp_tx(ssrc)
        index = stream.highest + 1
        if seq == index & 0xFFFF != 0:
            stream.highest = index
        else:
            index = stream.send_index(seq)
        encrypt = self._rtp_encrypt  # see AeadSession._rtp_encrypt
        return header + encrypt((stream.nonce_base ^ index).to_bytes(12), plaintext, header) + (
            packet.ekt_field if keep_ekt_field else self._no_ekt_field)

    @staticmethod
    def _rewrite(packet: RelayedPacket, payload_type: int | None, sequence_number: int | None,
                 marker: bool | None) -> tuple[bytes, int, bytes]:
        """The new header, SEQ and outer plaintext for any change of PT, SEQ and marker."""
        header = packet._header
        current = (header[1] & 0x7F, packet._seq, bool(header[1] & 0x80))
        new = (current[0] if payload_type is None else payload_type,
               current[1] if sequence_number is None else sequence_number,
               current[2] if marker is None else marker)
        if not (0 <= new[0] <= 127 and 0 <= new[1] <= 0xFFFF):
            raise ValueError(f"payload type {new[0]} or sequence number {new[1]} out of range")
        original = current if packet._original is None else packet._original
        plaintext = packet._e2e + encode(*recorded(original, new))
        header = (header[:1] + bytes((new[0] | (0x80 if new[2] else 0),))
                  + new[1].to_bytes(2) + header[4:])
        return header, new[1], plaintext
