"""The SRTP session: the one entry point for protecting and unprotecting RTP and RTCP.

``SrtpSession(profile, master_key=..., master_salt=...)`` returns the implementation for the
profile (AES-CM with HMAC-SHA1, AES-GCM, or double AES-GCM); every one has the same four
methods and keeps per-SSRC state for both directions.

The RTP hot paths are written for speed, because Python pays for every operation: the RTP
header is only measured, never parsed into objects; ciphers are keyed once per session; each
stream precomputes the salt-and-SSRC part of its IVs as an integer; streams are looked up by
the four SSRC bytes as they are in the packet; and the next packet in order takes a shortcut
through the index estimate and the replay list (see :mod:`sipperc.srtp.stream`).

Failures raise :class:`~sipperc.srtp.errors.SrtpError` subclasses. A receiving stream is
kept only once a packet from its SSRC authenticates, so forged packets with random SSRCs cost
no memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from sipperc.keymaterial import redacted
from sipperc.rtp.error import RtpError
from sipperc.rtp.packet import rtp_header_length
from sipperc.srtp.errors import AuthenticationError, MalformedPacketError, SrtpError
from sipperc.srtp.profile import Profile
from sipperc.srtp.stream import SrtcpStream, SrtpStream

DEFAULT_REPLAY_WINDOW = 128
SRTCP_E_FLAG = 0x80000000
"""RFC 3711 §3.4: the top bit of the word after the encrypted portion: "E", encrypted."""
MAX_MKI_LENGTH = 255
_T = TypeVar("_T")


SIMPLE_HEADER_LENGTHS = bytes(12 + 4 * (octet & 0x0F) if octet & 0xD0 == 0x80 else 0
                               for octet in range(256))
"""The RTP header length by first octet when V=2 and X=0 (fixed part and CSRCs), else 0.

The hot paths of the AES-CM, AES-GCM and hop-by-hop sessions start with this look-up inline and
call :func:`header_length` only when it gives 0 or the packet is too short for it: a call costs
about 40 ns, a few percent of a packet's work (measured with ``benchmarks/srtp_bench.py``).
"""


def header_length(packet: bytes, trailer: int = 0) -> int:
    """Length of the RTP header of ``packet`` (RFC 3550 §5.1, §5.3.1), measured, not parsed.

    Raises :class:`MalformedPacketError` unless at least ``trailer`` bytes (tags, OHB) follow
    the header. The usual header (no extension) is one table look-up.
    """
    length = SIMPLE_HEADER_LENGTHS[packet[0]] if packet else 0
    if length and len(packet) >= length + trailer:
        return length
    try:
        length = rtp_header_length(packet)
    except RtpError as exc:
        raise MalformedPacketError(str(exc)) from None
    if len(packet) < length + trailer:
        raise MalformedPacketError(f"SRTP packet of {len(packet)} bytes is too short for its "
                                   f"header and tag ({length} + {trailer} bytes)")
    return length


def rtcp_ssrc(packet: bytes) -> bytes:
    """The sender SSRC of a compound RTCP packet, as its 4 bytes: SRTCP is keyed by it."""
    if len(packet) < 8:
        raise MalformedPacketError(f"RTCP packet of {len(packet)} bytes is shorter than the "
                                   "8-byte header")
    if packet[0] >> 6 != 2:
        raise MalformedPacketError(f"RTCP version {packet[0] >> 6}, expected 2")
    return packet[4:8]


class SrtpSession:
    """SRTP and SRTCP for one master key and salt, for any number of SSRCs (RFC 3711 §3.2).

    - ``replay_window``: size in packets of each stream's replay window (RFC 3711 §3.3.2,
      at least 64); it also bounds how late a reordered packet may arrive.
    - ``mki``: the Master Key Identifier to put in and expect on every packet (RFC 3711 §3.1),
      or None. It must not be used with EKT (RFC 8870 §4).
    - ``encrypt_rtcp``: False sends SRTCP with E=0, authenticated only (RFC 3711 §3.4,
      ``UNENCRYPTED_SRTCP`` in SDES); received packets are handled by their own E flag.

    The first SRTCP index sent is 0, as RFC 3711 §3.4 says (libsrtp starts at 1; each accepts
    the other's).
    """

    _implementations: ClassVar[dict[Profile, type[SrtpSession]]] = {}
    profile: Profile

    def __init_subclass__(cls, profiles: tuple[Profile, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for profile in profiles:
            SrtpSession._implementations[profile] = cls

    def __new__(cls, profile: Profile, *args: Any, **kwargs: Any) -> SrtpSession:
        """Pick the implementation class registered for ``profile`` (with an MKI layer)."""
        implementation = SrtpSession._implementations.get(profile) if cls is SrtpSession else cls
        if implementation is None:
            raise ValueError(f"no SRTP implementation for profile {profile!r}")
        if kwargs.get("mki") is not None and not issubclass(implementation, MkiSession):
            implementation = _with_mki(implementation)
        return object.__new__(implementation)

    def __init__(self, profile: Profile, *, master_key: bytes, master_salt: bytes,
                 replay_window: int = DEFAULT_REPLAY_WINDOW, mki: bytes | None = None,
                 encrypt_rtcp: bool = True) -> None:
        if len(master_key) != profile.master_key_length:
            raise ValueError(f"{profile.name} needs a {profile.master_key_length}-byte master "
                             f"key, got {redacted(master_key)}")
        if len(master_salt) != profile.master_salt_length:
            raise ValueError(f"{profile.name} needs a {profile.master_salt_length}-byte master "
                             f"salt, got {redacted(master_salt)}")
        if replay_window < 64:
            raise ValueError(f"replay window of {replay_window} packets; RFC 3711 §3.3.2 asks "
                             "for at least 64")
        if mki is not None and not 1 <= len(mki) <= MAX_MKI_LENGTH:
            raise ValueError(f"MKI of {len(mki)} bytes; it must be 1 to 255 bytes")
        self.profile = profile
        self.replay_window = replay_window
        self.encrypt_rtcp = encrypt_rtcp
        self._mki = bytes(mki or b"")
        self._rtp_tx: dict[bytes, SrtpStream] = {}
        self._rtp_rx: dict[bytes, SrtpStream] = {}
        self._rtcp_tx: dict[bytes, SrtcpStream] = {}
        self._rtcp_rx: dict[bytes, SrtcpStream] = {}
        self._install_keys(bytes(master_key), bytes(master_salt))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.profile.name}, master key "
                f"<{self.profile.master_key_length} bytes>, {len(self._rtp_tx)} sending and "
                f"{len(self._rtp_rx)} receiving SSRCs>")

    @property
    def mki(self) -> bytes | None:
        """The Master Key Identifier carried on every packet, or None."""
        return self._mki or None

    def _install_keys(self, master_key: bytes, master_salt: bytes) -> None:
        raise NotImplementedError

    def _after_mki(self, rtcp: bool) -> int:
        """How many bytes (the tag) follow the MKI in an SRTP or SRTCP packet (RFC 3711 §3.1)."""
        return 0

    def _nonce_base(self, ssrc: int, rtcp: bool) -> int:
        """What the cipher precomputes from its session salt and the SSRC for each IV."""
        raise NotImplementedError

    def _new_rtp_tx(self, ssrc: bytes) -> SrtpStream:
        stream = self._rtp_tx[ssrc] = SrtpStream(self.replay_window,
                                                 self._nonce_base(int.from_bytes(ssrc), False))
        return stream

    def _first_packet(self, ssrc: bytes, receive: Callable[[], _T]) -> _T:
        """Receive the first packet of an SSRC: its stream is kept only if it authenticates.

        ``receive`` is the hot path again (which now finds the new stream), as a
        ``functools.partial``: a lambda would turn the hot path's arguments into closure cells,
        which costs every packet about 30 ns.
        """
        self._rtp_rx[ssrc] = SrtpStream(self.replay_window,
                                        self._nonce_base(int.from_bytes(ssrc), False))
        try:
            return receive()
        except SrtpError:
            del self._rtp_rx[ssrc]
            raise

    def _rtcp_stream(self, streams: dict[bytes, SrtcpStream], ssrc: bytes) -> SrtcpStream:
        """The SRTCP stream of ``ssrc``; a new receiving one is stored by the caller."""
        stream = streams.get(ssrc)
        if stream is None:
            stream = SrtcpStream(self.replay_window, self._nonce_base(int.from_bytes(ssrc), True))
            if streams is self._rtcp_tx:
                streams[ssrc] = stream
        return stream

    def roc(self, ssrc: int, *, outbound: bool = True) -> int | None:
        """The roll-over counter of a sending (or receiving) SSRC, None if not seen yet."""
        stream = (self._rtp_tx if outbound else self._rtp_rx).get(ssrc.to_bytes(4))
        return None if stream is None else stream.roc

    def set_roc(self, ssrc: int, roc: int, *, seq: int = 0, outbound: bool = False) -> None:
        """Restart a stream at roll-over counter ``roc`` (RFC 3711 §3.3.1, late joiners).

        ``seq`` is the SEQ of a packet known to belong to that ROC (an EKT field gives the ROC
        of the packet that carries it, RFC 8870 §4.1); later indices are estimated around it.
        For a receiver this is how a ROC learned out of band (SDES, RFC 4568 §6.4.1; EKT)
        seeds the estimate. Replaces the stream's state, replay list included.
        """
        if not 0 <= roc < 1 << 32:
            raise ValueError(f"ROC {roc} is not 32 bits")
        if not 0 <= seq <= 0xFFFF:
            raise ValueError(f"SEQ {seq} is not 16 bits")
        streams = self._rtp_tx if outbound else self._rtp_rx
        streams[ssrc.to_bytes(4)] = SrtpStream(self.replay_window, self._nonce_base(ssrc, False),
                                               roc << 16 | seq)

    def protect(self, rtp: bytes) -> bytes:
        """Protect one RTP packet (RFC 3711 §3.3)."""
        raise NotImplementedError

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt one SRTP packet, returning the RTP packet (RFC 3711 §3.3)."""
        raise NotImplementedError

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect one compound RTCP packet (RFC 3711 §3.4)."""
        raise NotImplementedError

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt one SRTCP packet, returning the compound RTCP packet."""
        raise NotImplementedError


class MkiSession(SrtpSession):
    """The Master Key Identifier layer (RFC 3711 §3.1) around an implementation's transforms.

    A session created with an ``mki`` is of a subclass of its implementation with this class
    first in line: it inserts the MKI into every packet the implementation protects and checks
    and removes it before the implementation unprotects, so the transforms themselves never
    look for one (they are the hot paths; most sessions have no MKI, and EKT forbids it). The
    MKI is not authenticated: with AES-CM it sits between the authenticated portion and the tag,
    with AEAD at the end of the packet (RFC 7714 §8.1, §9).
    """

    def protect(self, rtp: bytes) -> bytes:
        """Protect with the implementation, then insert the MKI."""
        return self._insert_mki(super().protect(rtp), self._after_mki(False))

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and remove the MKI, then unprotect with the implementation."""
        return super().unprotect(self._remove_mki(srtp, self._after_mki(False), "SRTP"))

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect with the implementation, then insert the MKI."""
        return self._insert_mki(super().protect_rtcp(rtcp), self._after_mki(True))

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and remove the MKI, then unprotect with the implementation."""
        return super().unprotect_rtcp(self._remove_mki(srtcp, self._after_mki(True), "SRTCP"))

    def _insert_mki(self, packet: bytes, after: int) -> bytes:
        at = len(packet) - after
        return packet[:at] + self._mki + packet[at:]

    def _remove_mki(self, packet: bytes, after: int, kind: str) -> bytes:
        end = len(packet) - after
        start = end - len(self._mki)
        if start < 0:
            raise MalformedPacketError(f"{kind} packet of {len(packet)} bytes is too short for "
                                       "its MKI and tag")
        if packet[start:end] != self._mki:
            raise AuthenticationError(f"{kind} packet carries an unknown MKI")
        return packet[:start] + packet[end:]


_MKI_CLASSES: dict[type[SrtpSession], type[SrtpSession]] = {}


def _with_mki(implementation: type[SrtpSession]) -> type[SrtpSession]:
    """``implementation`` with the MKI layer in front of it (one class per implementation)."""
    if implementation not in _MKI_CLASSES:
        _MKI_CLASSES[implementation] = cast(type[SrtpSession], type(
            implementation.__name__, (MkiSession, implementation), {}))
    return _MKI_CLASSES[implementation]
