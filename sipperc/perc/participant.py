"""One PERC conference participant's media and keys, as a sans-I/O object.

This is the endpoint of RFC 8871 §3, the object the softphone and the B2BUA are built on. What
SIP signalling settles (the Media Distributor's address, the Key Distributor's fingerprint and
``tls-id``, our own ``tls-id``, the codecs and the audio-level ``extmap`` id) goes in as
:class:`PercSessionParameters` (:meth:`PercSessionParameters.from_negotiated_stream` reads it
off an SDP offer/answer result) and :class:`~sipperc.media.negotiated.NegotiatedMedia`; from
then on :class:`Participant`:

1. runs DTLS as the **client** (RFC 8871 §4.5.1) to the Key Distributor, through the Media
   Distributor, offering the double profiles and EKT (RFC 8870 §5.2.1), sending our tls-id as
   ``external_session_id`` and requiring the Key Distributor's to equal the one in the SDP
   answer (RFC 9185 §5.1: otherwise the keys are invalid and the association is ended);
2. keys double SRTP from the DTLS export (RFC 8723 §3: our outer half protects hop-by-hop, the
   Media Distributor holds the same half from MediaKeys) and installs each EKTKey it receives
   (RFC 8870 §5.2.2): every new SPI makes a new random end-to-end key for our stream, announced
   in Full EKT fields (:class:`~sipperc.srtp.EKTSession`);
3. sends audio frames from any source as double-SRTP RTP with EKT and the RFC 6464 audio level
   (:class:`~sipperc.media.rtp_session.RtpSession` with :class:`PercTransform`), and decodes
   every other participant's stream into per-source frames
   (:class:`~sipperc.media.conference_receiver.ConferenceReceiver`);
4. keeps itself keyed: a failed or closed association is retried with back-off; when nothing
   authenticates from the Media Distributor for ``hop_timeout`` seconds (a Media Distributor
   that lost our keys) it runs a new handshake; :meth:`renew_association` does the same on
   the signalling's request (a re-INVITE with a new Key Distributor tls-id after a Key
   Distributor restart). Media keeps flowing under the current keys meanwhile; a new
   association only replaces the hop-by-hop keys (RFC 8871 §4.5.2), everything end-to-end
   (EKT keys, our media key and epoch, every stream's index and replay state) carries over;
5. reports what happens as events (:data:`ParticipantEvent`): association up or lost, each new
   EKT key (the conference's key epoch), sources joining and leaving (the roster as this
   endpoint sees it), DTMF, and periodic statistics.

Time is passed in (``now``, seconds); nothing here opens a socket or reads a clock. The Twisted
edge is :mod:`sipperc.perc.participant_endpoint`.
"""

from __future__ import annotations

import os
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sipperc.dtls import (
    ConnectionClosed,
    DtlsConnection,
    EKTKeyReceived,
    Fingerprint,
    HandshakeComplete,
    Identity,
    classify,
)
from sipperc.dtls.demux import PacketKind
from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.negotiated import NegotiatedFormat, NegotiatedMedia
from sipperc.media.pcm import Pcm
from sipperc.media.rtp_session import MediaEvent, RtpSession, SessionStatistics, SourceLeft
from sipperc.sdp import AUDIO_LEVEL_URI
from sipperc.sdp.offer_answer import NegotiatedStream
from sipperc.sdp.security import PERC_PROFILES, DtlsSrtp
from sipperc.srtp import (
    DoubleSrtpSession,
    EKTAuthenticationError,
    EKTCipher,
    EKTParameterSet,
    EKTSession,
    EndToEndAuthenticationError,
    Profile,
    ReplayError,
    SrtpError,
    SrtpSession,
)
from sipperc.srtp.ekt_session import EKTKeyExpiredError

DEFAULT_HOP_TIMEOUT = 10.0
REFUSED_FOR = 1.0
REFUSED_PACKETS = 25
"""A hop whose packets all fail for this long and this many is out of step with us."""
DEFAULT_STATISTICS_INTERVAL = 5.0
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before the Nth retry of a failed association (the last one repeats)."""

class SessionParametersError(ValueError):
    """A negotiated stream that a PERC participant cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class PercSessionParameters:
    """What signalling settled for one PERC participant.

    ``media_distributor`` is where media and DTLS go (the SDP answer's ``c=``/``m=``);
    ``key_distributor_fingerprints`` and ``key_distributor_tls_id`` are the answer's
    ``a=fingerprint`` and ``a=tls-id``, which belong to the Key Distributor (RFC 9185 §5.4);
    ``local_tls_id`` is our own ``a=tls-id`` (RFC 8842), sent as ``external_session_id``;
    ``profiles`` the double profiles to offer in ``use_srtp``; ``ekt_ciphers`` the EKT
    ciphers to offer, most preferred first; ``audio_level_id`` the ``a=extmap`` id of RFC 6464
    (None: not negotiated).
    """

    media_distributor: tuple[str, int]
    key_distributor_fingerprints: tuple[Fingerprint, ...]
    key_distributor_tls_id: bytes
    local_tls_id: bytes
    profiles: tuple[Profile, ...] = PERC_PROFILES
    ekt_ciphers: tuple[EKTCipher, ...] = (EKTCipher.AESKW_128, EKTCipher.AESKW_256)
    audio_level_id: int | None = 1

    def __post_init__(self) -> None:
        if not self.key_distributor_fingerprints:
            raise SessionParametersError("the Key Distributor's fingerprint is needed")
        if not self.profiles or not all(p.is_double for p in self.profiles):
            raise SessionParametersError("PERC needs the RFC 8723 double profiles")
        if not self.ekt_ciphers:
            raise SessionParametersError("at least one EKT cipher must be offered")
        host, port = self.media_distributor
        if not host or not 1 <= port <= 65535:
            raise SessionParametersError(f"no usable Media Distributor address {host}:{port}")
        if self.audio_level_id is not None and not 1 <= self.audio_level_id <= 255:
            raise SessionParametersError(f"extmap id {self.audio_level_id} is out of range")

    @classmethod
    def from_negotiated_stream(cls, stream: NegotiatedStream,
                               ekt_ciphers: Sequence[EKTCipher] = (EKTCipher.AESKW_128,
                                                                   EKTCipher.AESKW_256),
                               ) -> PercSessionParameters:
        """Read the parameters off an accepted PERC audio stream of an SDP exchange.

        The SIP layer calls this with the ``NegotiatedStream`` of the conference's audio
        ``m=`` line; it refuses anything that is not PERC with us as the DTLS client.
        """
        security = stream.security
        if not stream.accepted:
            raise SessionParametersError(f"stream {stream.index} was not accepted: "
                                         f"{stream.reason or 'rejected'}")
        if not isinstance(security, DtlsSrtp) or not security.perc:
            raise SessionParametersError("the stream is not PERC (double SRTP keyed by DTLS)")
        if security.role.value != "client":
            raise SessionParametersError("a PERC endpoint must be the DTLS client (RFC 8871 "
                                         "§4.5.1); the answer must say a=setup:passive")
        if security.remote_tls_id is None:
            raise SessionParametersError("the answer has no a=tls-id: the Key Distributor's "
                                         "external_session_id cannot be checked (RFC 9185 §5.1)")
        fingerprints = tuple(f.certificate_fingerprint for f in security.remote_fingerprints
                             if f.certificate_fingerprint is not None)
        if not fingerprints:
            raise SessionParametersError("no a=fingerprint with a hash function sipperc checks")
        if stream.remote_address is None or not stream.remote_port:
            raise SessionParametersError("the answer gives no Media Distributor address")
        level = next((e.id for e in stream.extensions if e.uri == AUDIO_LEVEL_URI), None)
        return cls(
            media_distributor=(stream.remote_address, stream.remote_port),
            key_distributor_fingerprints=fingerprints,
            key_distributor_tls_id=security.remote_tls_id.value.encode("ascii"),
            local_tls_id=security.local_tls_id.value.encode("ascii"),
            profiles=security.profiles,
            ekt_ciphers=tuple(ekt_ciphers),
            audio_level_id=level,
        )


def negotiated_media(stream: NegotiatedStream, ptime: float | None = None) -> NegotiatedMedia:
    """The media layer's view of the codecs an SDP exchange settled on (RFC 3264 §6.1)."""
    formats = []
    for codec in stream.codecs:
        fmtp: dict[str, str] = {}
        for item in (codec.remote_fmtp or "").split(";"):
            name, _, value = item.strip().partition("=")
            if name:
                fmtp[name.strip().lower()] = value.strip()
        formats.append(NegotiatedFormat(codec.send_payload_type, codec.name, codec.clock_rate,
                                        codec.codec.channels, fmtp, codec.receive_payload_type))
    chosen = ptime if ptime is not None else (stream.ptime or 20) / 1000
    try:
        return NegotiatedMedia(formats, chosen)
    except CodecError as error:
        raise SessionParametersError(str(error)) from None


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssociationEstablished:
    """DTLS with the Key Distributor is up; hop-by-hop keys are in place (no EKT key yet)."""

    profile: Profile
    ekt_cipher: EKTCipher
    key_distributor_fingerprint: str


@dataclass(frozen=True, slots=True)
class EKTKeyInstalled:
    """A new EKT key from the Key Distributor is in use (a join, a leave, or periodic).

    ``spi`` names the conference's key epoch; our stream got a new end-to-end key with it.
    """

    spi: int
    ttl: int
    cipher: EKTCipher


@dataclass(frozen=True, slots=True)
class AssociationLost:
    """The association with the Key Distributor ended or failed.

    ``retry_at`` is when the next attempt starts (None: not retried, the participant closed).
    """

    reason: str
    retry_at: float | None


@dataclass(frozen=True, slots=True)
class PercStatistics:
    """The media session's RFC 3550 figures plus the PERC side of this participant."""

    media: SessionStatistics
    keyed: bool
    spi: int | None
    ekt_keys_received: int
    associations: int
    frames_not_sent: int
    """Audio frames dropped because no EKT key was installed yet (nobody could decrypt)."""


ParticipantEvent = (AssociationEstablished | EKTKeyInstalled | AssociationLost | PercStatistics
                    | MediaEvent)


@dataclass(frozen=True, slots=True, repr=False)
class ParticipantKeys:
    """The end-to-end secrets this participant held: what a leak audit looks for elsewhere.

    Only recorded when the participant was made with ``audit_keys=True`` (tests, audits):
    keeping old keys around defeats forward secrecy, so production participants do not.
    """

    sender_keys: tuple[bytes, ...]
    ekt_keys: tuple[bytes, ...]
    shared_salts: tuple[bytes, ...]
    dtls_inner_halves: tuple[bytes, ...]

    def __repr__(self) -> str:
        return (f"ParticipantKeys({len(self.sender_keys)} sender keys, "
                f"{len(self.ekt_keys)} EKT keys, {len(self.dtls_inner_halves)} DTLS inner halves)")


# -- the transform -------------------------------------------------------------------------------


class PercTransform:
    """Double SRTP with EKT as a media :class:`~sipperc.media.transform.Transform`.

    The transform protocol has no clock, so the participant sets :attr:`now` before each call
    it makes into the media session. Until an EKT key is installed :attr:`ekt` is None and
    every call refuses the packet (nobody could decrypt what we sent).
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.ekt: EKTSession | None = None
        self.last_authenticated: float | None = None
        self.hop_refusals: dict[bytes, tuple[int, float]] = {}
        """Per SSRC: packets the hop-by-hop layer refused in a row, and since when."""

    def protect(self, rtp: bytes) -> bytes:
        """Double-protect with EKT (RFC 8723 §5.1, RFC 8870 §4.3.1)."""
        return self._keyed().protect(rtp, self.now)

    def unprotect(self, srtp: bytes) -> bytes:
        """Both layers; the EKT field first (RFC 8870 §4.3.2)."""
        return self._counted(lambda ekt: ekt.unprotect(srtp, self.now), srtp[8:12])

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """SRTCP under our hop-by-hop key (RFC 8723 §6)."""
        return self._keyed().protect_rtcp(rtcp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """SRTCP from the Media Distributor, under its hop-by-hop key for us."""
        return self._counted(lambda ekt: ekt.unprotect_rtcp(srtcp), srtcp[4:8])

    def _counted(self, operation: Callable[[EKTSession], bytes], ssrc: bytes) -> bytes:
        try:
            plain = operation(self._keyed())
        except (EndToEndAuthenticationError, EKTAuthenticationError, ReplayError):
            raise  # the hop is in step with us: keys or duplicates, not the hop's state
        except SrtpError:
            count, since = self.hop_refusals.get(ssrc, (0, self.now))
            self.hop_refusals[ssrc] = (count + 1, since)
            raise
        self.last_authenticated = self.now
        if self.hop_refusals:
            self.hop_refusals.pop(ssrc, None)
        return plain

    def _keyed(self) -> EKTSession:
        if self.ekt is None:
            raise EKTKeyExpiredError("not keyed yet")
        return self.ekt


# -- the participant ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Association:
    connection: DtlsConnection
    established: bool = False


@dataclass(slots=True)
class _Audit:
    sender_keys: list[bytes] = field(default_factory=list)
    ekt_keys: list[bytes] = field(default_factory=list)
    salts: list[bytes] = field(default_factory=list)
    dtls_inner: list[bytes] = field(default_factory=list)


class Participant:
    """One PERC participant (see the module docstring).

    Drive it with :meth:`start`, :meth:`datagram_received`, :meth:`send_frame`,
    :meth:`read_frames` and :meth:`handle_timer`; after every call write
    :meth:`datagrams_to_send` to the Media Distributor, take the events (:meth:`next_event`)
    and arm a timer for :meth:`get_timer`.
    """

    def __init__(self, identity: Identity, session: PercSessionParameters,
                 media: NegotiatedMedia, *, now: float, ssrc: int | None = None,
                 hop_timeout: float = DEFAULT_HOP_TIMEOUT,
                 statistics_interval: float | None = DEFAULT_STATISTICS_INTERVAL,
                 dtls_initial_timeout: float = 1.0, audit_keys: bool = False) -> None:
        if hop_timeout <= 0:
            raise ValueError("hop_timeout must be positive")
        self.identity = identity
        self.session = session
        self.media = media
        self.hop_timeout = hop_timeout
        self.statistics_interval = statistics_interval
        self._dtls_initial_timeout = dtls_initial_timeout
        self.transform = PercTransform()
        self.transform.now = now
        self.rtp = RtpSession(media.send_stream(), media.payload_types, now=now,
                              transform=self.transform, audio_level_id=session.audio_level_id,
                              ssrc=ssrc)
        self._association: _Association | None = None
        self._spis: list[int] = []
        self._events: deque[ParticipantEvent] = deque()
        self._outgoing: list[bytes] = []
        self._retry_at: float | None = None
        self._failures = 0
        self._associations = 0
        self._frames_not_sent = 0
        self._next_statistics = (now + statistics_interval if statistics_interval is not None
                                 else None)
        self._closed = False
        self._audit = _Audit() if audit_keys else None
        self._keyed_since = now
        self._renewed_at = float("-inf")
        self._superseded: _Association | None = None
        self._pending: EKTSession | None = None

    def __repr__(self) -> str:
        spi = self.transform.ekt.outbound.ekt_spi if self.keyed and self.transform.ekt \
            and self.transform.ekt.outbound else None
        return f"<Participant SSRC {self.rtp.ssrc:#010x} keyed={self.keyed} SPI {spi}>"

    # -- state ------------------------------------------------------------------------------------

    @property
    def ssrc(self) -> int:
        """Our stream's SSRC."""
        return self.rtp.ssrc

    @property
    def keyed(self) -> bool:
        """True once an EKT key is installed: our media can be sent and read."""
        ekt = self.transform.ekt
        return ekt is not None and ekt.outbound is not None

    @property
    def spi(self) -> int | None:
        """The SPI of the EKT key our Full EKT fields use now (the conference's key epoch)."""
        ekt = self.transform.ekt
        return ekt.outbound.ekt_spi if ekt is not None and ekt.outbound is not None else None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # -- inputs -----------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Open the first association (the ClientHello goes out with the next datagrams)."""
        if self._association is None and not self._closed:
            self._open(now)

    def renew_association(self, now: float,
                          session: PercSessionParameters | None = None) -> None:
        """Run a new DTLS handshake, e.g. after a re-INVITE gave a new Key Distributor tls-id.

        Media keeps flowing under the current keys until the new association is keyed.
        """
        if self._closed:
            return
        if session is not None:
            self.session = session  # a new Media Distributor address is the edge's business
        current = self._association
        if current is not None and not current.established:
            current.connection.close()
        self._open(now)

    def datagram_received(self, data: bytes, now: float) -> None:
        """A datagram from the Media Distributor: DTLS, RTP or RTCP (RFC 7983)."""
        if self._closed:
            return
        self.transform.now = now
        kind = classify(data)
        if kind is PacketKind.DTLS:
            association = self._association
            if association is not None:
                association.connection.receive_datagram(data, now)
                self._service(association, now)
        elif kind in (PacketKind.RTP, PacketKind.RTCP):
            for event in self.rtp.receive(data, now):
                self._events.append(event)
            self._check_hop(now)

    def send_frame(self, pcm: Pcm, now: float) -> None:
        """One frame of our audio; encoded, double-protected and queued if we are keyed."""
        if self._closed:
            return
        self.transform.now = now
        if not self.keyed:
            self._frames_not_sent += 1
            return
        try:
            self._outgoing += self.rtp.send_frame(pcm, now)
        except EKTKeyExpiredError:
            # The EKT key's TTL ran out before a new one came (RFC 8870 §5.2.2): stop sending.
            self._frames_not_sent += 1
        self._poll_rtcp(now)

    def read_frames(self, now: float) -> tuple[Pcm, dict[int, Pcm]]:
        """One frame of everyone mixed, and one frame per source (SSRC)."""
        self.transform.now = now
        receiver = self.rtp.receiver
        before = set(receiver.streams)
        each = self.rtp.read_sources(now)
        for ssrc in before - set(receiver.streams):
            self._events.append(SourceLeft(ssrc, None))  # a missed BYE (RFC 3550 §6.3.5)
        return receiver.mixer.mix(each), each

    def handle_timer(self, now: float) -> None:
        """Retransmissions, retries, the hop liveness check, RTCP and statistics."""
        if self._closed:
            return
        self.transform.now = now
        association = self._association
        if association is not None:
            timer = association.connection.get_timer()
            if timer is not None and now >= timer:
                association.connection.handle_timer(now)
                self._service(association, now)
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._open(now)
        last = self.transform.last_authenticated
        if (self.keyed and self._association is not None and self._association.established
                and now - (last if last is not None else self._keyed_since) >= self.hop_timeout):
            # Nothing from the Media Distributor authenticates: it lost our keys (a restart
            # it could not recover from) or we lost its. A new association rekeys the hop.
            self.transform.last_authenticated = now
            self._events.append(AssociationLost(
                f"nothing authenticated from the Media Distributor for {self.hop_timeout:g} s",
                now))
            self._open(now)
        self._poll_rtcp(now)
        if self._next_statistics is not None and now >= self._next_statistics:
            assert self.statistics_interval is not None
            self._next_statistics = now + self.statistics_interval
            self._events.append(self.statistics())

    def close(self, now: float, reason: str | None = None) -> None:
        """Leave: RTCP BYE, then DTLS close_notify (the Key Distributor rekeys the others)."""
        if self._closed:
            return
        self.transform.now = now
        if self.keyed:
            self._outgoing.append(self.rtp.bye(now, reason))
        association = self._association
        if association is not None:
            association.connection.close()
            self._outgoing += association.connection.datagrams_to_send(now)
        self._closed = True
        self._retry_at = None
        self._events.append(AssociationLost(reason or "closed", None))

    # -- outputs ------------------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Datagrams for the Media Distributor, in order."""
        association = self._association
        if association is not None and not self._closed:
            self._outgoing += association.connection.datagrams_to_send(now)
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> ParticipantEvent | None:
        """The oldest event not yet taken."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do next."""
        if self._closed:
            return None
        deadlines = [d for d in (self._retry_at, self._next_statistics) if d is not None]
        association = self._association
        if association is not None:
            timer = association.connection.get_timer()
            if timer is not None:
                deadlines.append(timer)
            if association.established and self.keyed:
                last = self.transform.last_authenticated
                deadlines.append((last if last is not None else self._keyed_since)
                                 + self.hop_timeout)
        if self.keyed:
            deadlines.append(self.rtp.rtcp_deadline)
        return min(deadlines) if deadlines else None

    def statistics(self) -> PercStatistics:
        """Everything counted so far."""
        return PercStatistics(self.rtp.statistics(), self.keyed, self.spi, len(self._spis),
                              self._associations, self._frames_not_sent)

    def key_audit(self) -> ParticipantKeys:
        """The end-to-end secrets held so far (only with ``audit_keys=True``)."""
        if self._audit is None:
            raise RuntimeError("this participant was not made with audit_keys=True")
        audit = self._audit
        return ParticipantKeys(tuple(audit.sender_keys), tuple(audit.ekt_keys),
                               tuple(audit.salts), tuple(audit.dtls_inner))

    # -- internals ------------------------------------------------------------------------------

    def _open(self, now: float) -> None:
        session = self.session
        connection = DtlsConnection(
            "client", self.identity, session.profiles, session.key_distributor_fingerprints,
            local_tls_id=session.local_tls_id, remote_tls_id=session.key_distributor_tls_id,
            ekt_ciphers=session.ekt_ciphers, initial_timeout=self._dtls_initial_timeout,
            max_timeout=10.0)
        previous = self._association
        self._association = _Association(connection)
        if previous is not None and previous.established and self.transform.ekt is not None:
            # Keep the keyed association's media running until the new one is keyed.
            self._superseded = previous
        self._associations += 1

    def _service(self, association: _Association, now: float) -> None:
        while (event := association.connection.next_event()) is not None:
            if association is not self._association:
                continue
            if isinstance(event, HandshakeComplete):
                self._established(association, event, now)
            elif isinstance(event, EKTKeyReceived):
                self._ekt_key(association, event, now)
            elif isinstance(event, ConnectionClosed):
                self._lost(event.reason if not event.clean else
                           "the Key Distributor closed the association", now)
                return

    def _established(self, association: _Association, event: HandshakeComplete,
                     now: float) -> None:
        profile, cipher = event.srtp_profile, event.ekt_cipher
        problem = None
        if profile is None or not profile.is_double:
            problem = "the Key Distributor did not negotiate a double profile (RFC 8723)"
        elif cipher is None:
            problem = "the Key Distributor did not negotiate EKT (RFC 8870)"
        elif event.external_session_id_verified is not True:
            problem = ("the Key Distributor's external_session_id is missing; its keys are "
                       "not valid (RFC 9185 §5.1)")
        if problem is not None or profile is None or cipher is None:
            association.connection.close()
            self._lost(problem or "unusable association", now)
            return
        keys = association.connection.export_srtp_keys()
        half_key = profile.master_key_length // 2
        half_salt = profile.master_salt_length // 2
        association.established = True
        self._failures = 0
        if self._audit is not None:
            self._audit.dtls_inner += [keys.client_key[:half_key], keys.server_key[:half_key]]
        ekt = self.transform.ekt
        if ekt is None:
            # The first association: double SRTP keyed from the export (inner || outer each,
            # RFC 8723 §3); the inner halves are replaced by EKT before anything is sent.
            sender = SrtpSession(profile, master_key=keys.client_key,
                                 master_salt=keys.client_salt)
            receiver = SrtpSession(profile, master_key=keys.server_key,
                                   master_salt=keys.server_salt)
            assert isinstance(sender, DoubleSrtpSession)
            assert isinstance(receiver, DoubleSrtpSession)
            self._pending = EKTSession(sender, receiver, random=self._new_key)
        elif ekt.sender.profile is profile:
            # A renewed association: only the hop-by-hop keys change (RFC 8871 §4.5.2).
            assert isinstance(ekt.sender, DoubleSrtpSession)
            assert isinstance(ekt.receiver, DoubleSrtpSession)
            ekt.sender.replace_hop_by_hop_key(keys.client_key[half_key:],
                                              keys.client_salt[half_salt:])
            ekt.receiver.replace_hop_by_hop_key(keys.server_key[half_key:],
                                                keys.server_salt[half_salt:])
            self._keyed_since = now
            self.transform.last_authenticated = None
        else:
            association.connection.close()
            self._lost(f"the renewed association chose {profile.name}, not the profile in use",
                       now)
            return
        self._superseded = None
        self._events.append(AssociationEstablished(profile, cipher, str(Fingerprint.of(
            event.peer_certificate))))

    def _ekt_key(self, association: _Association, event: EKTKeyReceived, now: float) -> None:
        parameters = EKTParameterSet(event.ekt_key_value, event.srtp_master_salt, event.ekt_spi,
                                     event.ekt_ttl, event.cipher, received_at=event.received_at)
        if self._audit is not None:
            self._audit.ekt_keys.append(event.ekt_key_value)
            self._audit.salts.append(event.srtp_master_salt)
        ekt = self.transform.ekt
        if ekt is None:
            ekt = self._pending
            if ekt is None:
                return  # cannot happen: EKTKey comes after the handshake
            self.transform.ekt = ekt
            self._pending = None
            self._keyed_since = now
        ekt.install(parameters, now)
        if parameters.ekt_spi not in self._spis:
            self._spis.append(parameters.ekt_spi)
        self._events.append(EKTKeyInstalled(parameters.ekt_spi, parameters.ekt_ttl,
                                            parameters.cipher))

    def _new_key(self, length: int) -> bytes:
        key = os.urandom(length)
        if self._audit is not None:
            self._audit.sender_keys.append(key)
        return key

    def _lost(self, reason: str, now: float) -> None:
        self._failures += 1
        delay = RETRY_DELAYS[min(self._failures, len(RETRY_DELAYS)) - 1]
        # A little jitter, so a conference's endpoints do not retry in lock-step.
        self._retry_at = now + delay * (1 + secrets.randbelow(100) / 1000)
        superseded = self._superseded
        if superseded is not None:
            self._association = superseded  # media goes on under the keys we still have
            self._superseded = None
        self._events.append(AssociationLost(reason, self._retry_at))

    def _check_hop(self, now: float) -> None:
        """A stream the Media Distributor sends keeps failing hop-by-hop: renew.

        A Media Distributor that restarted sends under the right keys but restarts its
        contexts at roll-over counter 0, which a stream of ours that has wrapped does not
        expect: a new association starts both ends afresh. End-to-end and EKT failures do not
        count (a new joiner cannot read the quarter second before the others' new keys, RFC
        8870 §4.3.1), and renewals for this reason are at least ``hop_timeout`` apart, so
        forged packets cannot make us handshake over and over.
        """
        transform = self.transform
        association = self._association
        if (not transform.hop_refusals or association is None or not association.established
                or not self.keyed or now - self._renewed_at < self.hop_timeout):
            return
        for ssrc, (count, since) in transform.hop_refusals.items():
            if count >= REFUSED_PACKETS and now - since >= REFUSED_FOR:
                transform.hop_refusals.clear()
                self._renewed_at = now
                self._events.append(AssociationLost(
                    f"{count} packets of SSRC {ssrc.hex()} from the Media Distributor refused "
                    f"hop-by-hop for {now - since:.1f} s", now))
                self._open(now)
                return

    def _poll_rtcp(self, now: float) -> None:
        if self.keyed:
            self._outgoing += self.rtp.poll_rtcp(now)


__all__ = [
    "AssociationEstablished",
    "AssociationLost",
    "EKTKeyInstalled",
    "Participant",
    "ParticipantEvent",
    "ParticipantKeys",
    "PercSessionParameters",
    "PercStatistics",
    "PercTransform",
    "SessionParametersError",
    "negotiated_media",
]
