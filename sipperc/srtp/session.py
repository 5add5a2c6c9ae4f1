"""The SRTP session: the one entry point for protecting and unprotecting RTP and RTCP.

``SrtpSession(profile, master_key=..., master_salt=...)`` returns the implementation for the
profile (AES-CM with HMAC-SHA1, AES-GCM, or double AES-GCM); every one has the same four
methods and keeps per-SSRC state for both directions.

The RTP hot paths are written for speed, because Python pays for every operation: the RTP
header is only measured, never parsed into objects; ciphers are keyed once per session; each
stream precomputes the salt-and-SSRC part of its IVs as an integer; streams are looked up by
the four SSRC bytes as they are in the packet; the next packet in order takes a shortcut
through the index estimate and the replay list (see :mod:`sipperc.srtp.stream`); an MKI, when
one is used, is inserted and removed by a layer around the transforms (:class:`MkiSession`);
and keys learned from EKT live in SRTP contexts of their own, reached only when a packet's SSRC
has no stream under the negotiated key. ``benchmarks/srtp_bench.py`` measures the result.

Failures raise :class:`~sipperc.srtp.errors.SrtpError` subclasses. A receiving stream is
kept only once a packet from its SSRC authenticates, so forged packets with random SSRCs cost
no memory.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, TypeVar, cast

from sipperc.keymaterial import redacted
from sipperc.rtp.error import RtpError
from sipperc.rtp.packet import rtp_header_length
from sipperc.srtp.errors import AuthenticationError, MalformedPacketError, ReplayError, SrtpError
from sipperc.srtp.key_derivation import SessionKeys
from sipperc.srtp.profile import Profile
from sipperc.srtp.stream import SrtcpStream, SrtpStream

DEFAULT_REPLAY_WINDOW = 128
SRTCP_E_FLAG = 0x80000000
"""RFC 3711 §3.4: the top bit of the word after the encrypted portion: "E", encrypted."""
MAX_MKI_LENGTH = 255
MAX_PREVIOUS_KEYS = 4
"""How many earlier EKT keys of a received SSRC stay usable for late packets."""
_T = TypeVar("_T")


SIMPLE_HEADER_LENGTHS = bytes(12 + 4 * (octet & 0x0F) if octet & 0xD0 == 0x80 else 0
                               for octet in range(256))
"""The RTP header length by first octet when V=2 and X=0 (fixed part and CSRCs), else 0.

The hot paths of the AES-CM, AES-GCM and hop-by-hop sessions start with this look-up inline and
call :func:`header_length` only when it gives 0 or the packet is too short for it: a call costs
about 40 ns, a few percent of a packet's work (measured with ``benchmarks/srtp_bench.py``).
"""


SEQ_AND_SSRC = struct.Struct(">2xH4x4s").unpack_from
"""(SEQ, SSRC bytes) of an RTP packet of at least 12 bytes, in one call.

The hot paths key streams by the SSRC bytes and compare SEQ with the next index: one call here
costs less than a slice and two subscripts (about 30 ns a packet in CPython 3.11, measured).
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

    With EKT (RFC 8870; see :class:`~sipperc.srtp.ekt_session.EKTSession`) the RTP master key
    changes apart from the negotiated one: :meth:`set_sender_key` for the packets this session
    sends, :meth:`set_receiver_key` per received SSRC. SRTCP keeps the negotiated keys: EKT is
    carried over SRTP only (RFC 8870 §4), and RTCP stays within the hop that negotiated them.
    """

    _implementations: ClassVar[dict[Profile, type[SrtpSession]]] = {}
    _authentication_key_length: ClassVar[int] = 0
    """Length of the session authentication key the profile derives (RFC 3711 §4.3)."""
    profile: Profile
    _rtp_tx_salt: int
    _rtp_rx_salt: int
    _rtcp_salt: int

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
        self._learned: dict[bytes, list[SrtpSession]] = {}
        """Per received SSRC with keys from EKT: one SRTP context per key, the newest first."""
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
        self._use_session_keys(self._derive(master_key, master_salt, rtcp=False),
                               self._derive(master_key, master_salt, rtcp=True))

    def _derive(self, master_key: bytes, master_salt: bytes, *, rtcp: bool) -> SessionKeys:
        return SessionKeys.derive(master_key, master_salt, rtcp=rtcp,
                                  authentication_key_length=self._authentication_key_length)

    def _use_session_keys(self, rtp: SessionKeys, rtcp: SessionKeys) -> None:
        """Key the ciphers; separate from derivation so the RFCs' vectors can be checked."""
        self._use_rtp_keys(rtp, outbound=True)
        self._use_rtp_keys(rtp, outbound=False)
        self._use_rtcp_keys(rtcp)

    def _use_rtp_keys(self, keys: SessionKeys, *, outbound: bool) -> None:
        """Key the SRTP cipher of one direction."""
        raise NotImplementedError

    def _use_rtcp_keys(self, keys: SessionKeys) -> None:
        """Key the SRTCP cipher (both directions)."""
        raise NotImplementedError

    def _after_mki(self, rtcp: bool) -> int:
        """How many bytes (the tag) follow the MKI in an SRTP or SRTCP packet (RFC 3711 §3.1)."""
        return 0

    def _nonce_base(self, ssrc: int, salt: int) -> int:
        """What the cipher precomputes from a session salt and the SSRC for each IV."""
        raise NotImplementedError

    @property
    def ekt_key_length(self) -> int:
        """Length of the SRTP master key an EKT field carries (RFC 8870 §4.3.2 step 6)."""
        return self.profile.master_key_length

    @property
    def ekt_salt_length(self) -> int:
        """How many bytes of an EKT parameter set's SRTP master salt are used (§4.3.2 step 4)."""
        return self.profile.master_salt_length

    def _ekt_salt(self, master_key: bytes, master_salt: bytes) -> bytes:
        """Check a key and salt EKT delivers; the salt's first bytes that are used."""
        if len(master_key) != self.ekt_key_length:
            raise ValueError(f"EKT master key must be {self.ekt_key_length} bytes, got "
                             f"{redacted(master_key)}")
        if len(master_salt) < self.ekt_salt_length:
            raise ValueError(f"EKT master salt must be at least {self.ekt_salt_length} bytes, "
                             f"got {redacted(master_salt)}")
        return master_salt[:self.ekt_salt_length]  # RFC 8870 §4.3.2 step 4: the first N bytes

    def set_sender_key(self, master_key: bytes, master_salt: bytes) -> None:
        """Protect RTP from now on with this master key and salt (RFC 8870 §4.3.1).

        The index, ROC and replay state of every sending SSRC carry over; SRTCP keeps the
        negotiated keys. EKT announces a new key 250 ms before it is used like this.
        """
        keys = self._derive(master_key, self._ekt_salt(master_key, master_salt), rtcp=False)
        self._use_rtp_keys(keys, outbound=True)
        self._refresh_sending_streams()

    def ekt_roc(self, ssrc: int) -> int | None:
        """The roll-over counter an EKT field carries for a stream we send; None before any.

        RFC 8870 §4.3.1: the one "used in the SRTP processing" of the packet.
        """
        return self.roc(ssrc)

    def _refresh_sending_streams(self) -> None:
        """Redo the sending streams' IV precomputation after new keys (and salts) were set."""
        for ssrc, stream in self._rtp_tx.items():
            stream.nonce_base = self._nonce_base(int.from_bytes(ssrc), self._rtp_tx_salt)
        for ssrc, rtcp_stream in self._rtcp_tx.items():
            rtcp_stream.nonce_base = self._nonce_base(int.from_bytes(ssrc), self._rtcp_salt)

    def set_receiver_key(self, ssrc: int, master_key: bytes, master_salt: bytes, *, roc: int,
                         seq: int) -> None:
        """Unprotect RTP from ``ssrc`` with this master key and salt (RFC 8870 §4.3.2 step 6).

        ``roc`` is the ROC the EKT field gave for the packet with SEQ ``seq`` that carried it;
        the key's index estimate starts there. Up to four previous keys of the SSRC stay usable
        for late packets, newest first, until :meth:`drop_previous_keys`. Each key is its own
        SRTP context (RFC 3711 §3.2), so the usual path of packets under the negotiated key
        costs nothing more.
        """
        context = SrtpSession(self.profile, master_key=master_key,
                              master_salt=self._ekt_salt(master_key, master_salt),
                              replay_window=self.replay_window)
        context.set_roc(ssrc, roc, seq=seq)
        learned = self._learned.setdefault(ssrc.to_bytes(4), [])
        learned.insert(0, context)
        del learned[1 + MAX_PREVIOUS_KEYS:]
        self._rtp_rx.pop(ssrc.to_bytes(4), None)  # its packets now need the learned keys

    def has_receiver_key(self, ssrc: int) -> bool:
        """Whether a key was learned for ``ssrc`` with :meth:`set_receiver_key`."""
        return ssrc.to_bytes(4) in self._learned

    def drop_previous_keys(self, ssrc: int) -> None:
        """Forget the keys ``ssrc`` used before its current one."""
        del self._learned.get(ssrc.to_bytes(4), [])[1:]

    def _unprotect_unknown(self, srtp: bytes, unprotect: Callable[[Any, bytes], bytes]) -> bytes:
        """The hot path's way out for an SSRC without a stream: a learned key, or a new SSRC.

        ``unprotect`` is the implementation's own unprotect, for :meth:`_first_packet`.
        """
        learned = self._learned.get(srtp[8:12])
        if learned is None:
            return self._first_packet(srtp[8:12], partial(unprotect, self, srtp))
        failures: list[SrtpError] = []
        for context in learned:  # the newest key first, then older ones for late packets
            try:
                return context.unprotect(srtp)
            except (AuthenticationError, ReplayError) as exc:
                failures.append(exc)
        # A replay under the key that opened the packet before says more than a wrong key.
        raise next((exc for exc in failures if isinstance(exc, ReplayError)), failures[0])

    def _new_rtp_tx(self, ssrc: bytes) -> SrtpStream:
        stream = self._rtp_tx[ssrc] = SrtpStream(
            self.replay_window, self._nonce_base(int.from_bytes(ssrc), self._rtp_tx_salt))
        return stream

    def _first_packet(self, ssrc: bytes, receive: Callable[[], _T]) -> _T:
        """Receive the first packet of an SSRC: its stream is kept only if it authenticates.

        ``receive`` is the hot path again (which now finds the new stream), as a
        ``functools.partial``: a lambda would turn the hot path's arguments into closure cells,
        which costs every packet about 30 ns.
        """
        self._rtp_rx[ssrc] = SrtpStream(self.replay_window,
                                        self._nonce_base(int.from_bytes(ssrc), self._rtp_rx_salt))
        try:
            return receive()
        except SrtpError:
            del self._rtp_rx[ssrc]
            raise

    def _rtcp_stream(self, streams: dict[bytes, SrtcpStream], ssrc: bytes) -> SrtcpStream:
        """The SRTCP stream of ``ssrc``; a new receiving one is stored by the caller."""
        stream = streams.get(ssrc)
        if stream is None:
            stream = SrtcpStream(self.replay_window,
                                 self._nonce_base(int.from_bytes(ssrc), self._rtcp_salt))
            if streams is self._rtcp_tx:
                streams[ssrc] = stream
        return stream

    def roc(self, ssrc: int, *, outbound: bool = True) -> int | None:
        """The roll-over counter of a sending (or receiving) SSRC, None if not seen yet."""
        if not outbound and ssrc.to_bytes(4) in self._learned:
            return self._learned[ssrc.to_bytes(4)][0].roc(ssrc, outbound=False)
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
        salt = self._rtp_tx_salt if outbound else self._rtp_rx_salt
        streams[ssrc.to_bytes(4)] = SrtpStream(self.replay_window, self._nonce_base(ssrc, salt),
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
