"""The SDP offer/answer model (RFC 3264) as a sans-I/O engine.

One :class:`OfferAnswer` per SIP dialog (per call leg of a B2BUA) holds the local media
capabilities and security policy, the streams negotiated so far and the state of the exchange.
It never touches a socket: the application gives it descriptions and transport addresses and
gets back descriptions to send and :class:`NegotiatedSession` values to configure media with.

Offerer::

    offer = engine.create_offer()               # put in INVITE/UPDATE/200 (delayed offer)
    result = engine.receive_answer(answer)      # NegotiatedSession | AnswerRefused
    engine.offer_failed()                       # re-INVITE got 4xx/491: keep the old session
    early = engine.fork()                       # a second early dialog from a forked INVITE

Answerer::

    outcome = engine.receive_offer(offer)       # Answer | OfferRefused
    if isinstance(outcome, OfferRefused):       # 488 (or 491 on glare) with outcome.reason
        ...
    else:                                       # outcome.description goes in the 2xx/ACK,
        ...                                     # outcome.negotiated configures media

Re-offers use the same calls: :meth:`OfferAnswer.hold`, :meth:`~OfferAnswer.resume`,
:meth:`~OfferAnswer.add_stream`, :meth:`~OfferAnswer.remove_stream`,
:meth:`~OfferAnswer.restart_dtls` and :meth:`~OfferAnswer.rekey` change what the next offer says.
The ``o=`` version increases by one exactly when a description differs from the previous one we
sent (RFC 3264 §8). The state machine is the table :data:`TRANSITIONS`.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sipperc.sdp.attributes import (
    EXTMAP_ONE_BYTE_IDS,
    EXTMAP_TWO_BYTE_IDS,
    Attribute,
    Direction,
    ExtMap,
    PacketTime,
    Rtcp,
)
from sipperc.sdp.codec import Codec, NegotiatedCodec
from sipperc.sdp.crypto import Crypto, InlineKey
from sipperc.sdp.description import (
    UNSPECIFIED_ADDRESSES,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    TimeDescription,
)
from sipperc.sdp.dtls import DtlsRole, Fingerprint, Setup, TlsId
from sipperc.sdp.perc import PERC_ATTRIBUTE, PercMarker, PercRole
from sipperc.sdp.security import (
    DtlsIdentity,
    DtlsSrtp,
    MediaSecurityPolicy,
    PlainRtp,
    SdesSrtp,
    SecurityMechanism,
    SrtpKey,
    StreamSecurity,
    classify,
)
from sipperc.srtp.profile import Profile

# --- Values the application gives ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransportAddress:
    """Where we receive a stream: host (IP address or name) and RTP port.

    ``rtcp_port`` is written as ``a=rtcp`` (RFC 3605) when RTCP is not on port + 1 and not
    multiplexed.
    """

    host: str
    port: int
    rtcp_port: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 1-65535")
        if self.rtcp_port is not None and not 1 <= self.rtcp_port <= 65535:
            raise ValueError(f"RTCP port {self.rtcp_port} is outside 1-65535")

    @property
    def addrtype(self) -> str:
        """``IP6`` for an IPv6 literal, else ``IP4`` (RFC 8866 §5.7)."""
        return "IP6" if ":" in self.host else "IP4"


TransportAllocator = Callable[[int, str], TransportAddress]
"""Called with (stream index, media kind) when a stream is newly accepted or offered; returns
the address we receive it on. For a conference focus this is the Media Distributor's."""


@dataclass(frozen=True, slots=True)
class MediaCapabilities:
    """What we can do for one kind of media, and how we describe it.

    ``codecs`` are in order of preference, telephone-event included. ``ptime``/``maxptime``
    are what we want to receive (RFC 8866 §6.4). ``extmaps`` are the header extensions we
    support, with the identifiers our offers use (RFC 8285). ``max_streams`` bounds how many
    offered streams an answer matches to this entry. Several entries may share a kind (a voice
    stream and a receive-only DTMF stream, RFC 4317 §2.4): an offered stream takes the first
    entry of its kind that has room and shares a codec; one that finds none gets port zero.
    ``extra_attributes`` are appended verbatim to our media sections (``a=rtcp-fb``...).
    """

    kind: str
    codecs: tuple[Codec, ...]
    direction: Direction = Direction.SENDRECV
    ptime: int | float | None = None
    maxptime: int | float | None = None
    rtcp_mux: bool = True
    extmaps: tuple[ExtMap, ...] = ()
    max_streams: int = 1
    extra_attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if not self.codecs:
            raise ValueError(f"{self.kind} capabilities list no codec")
        if not _carries_media(self.codecs):
            raise ValueError(f"{self.kind} capabilities list only comfort noise or redundancy")
        if len({e.uri for e in self.extmaps}) != len(self.extmaps):
            raise ValueError("each header extension URI may appear once")
        if self.max_streams < 1:
            raise ValueError("max_streams must be at least 1")


# --- Values the engine returns ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NegotiatedExtension:
    """A header extension both sides use, with its identifier and our direction (RFC 8285 §6)."""

    id: int
    uri: str
    direction: Direction
    remote_attributes: str | None = None


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    """One ``m=`` line after an offer/answer exchange, from our side.

    ``direction`` is ours: whether we send and receive. A rejected or removed stream has
    ``accepted`` False, ``reason`` saying why, and nothing else of interest.
    """

    index: int
    kind: str
    accepted: bool
    reason: str = ""
    mid: str | None = None
    local: TransportAddress | None = None
    remote_address: str | None = None
    remote_port: int = 0
    remote_rtcp_address: str | None = None
    remote_rtcp_port: int | None = None
    rtcp_mux: bool = False
    codecs: tuple[NegotiatedCodec, ...] = ()
    direction: Direction = Direction.INACTIVE
    ptime: int | float | None = None
    maxptime: int | float | None = None
    extensions: tuple[NegotiatedExtension, ...] = ()
    security: StreamSecurity | None = None
    remote_ssrcs: tuple[int, ...] = ()

    @property
    def sends(self) -> bool:
        """True if we should send: our direction allows it and the peer gave an address.

        ``c=0.0.0.0`` is the RFC 2543 hold (RFC 3264 §8.4).
        """
        if not (self.accepted and self.direction.sends and self.remote_address):
            return False
        return self.remote_address not in UNSPECIFIED_ADDRESSES

    @property
    def receives(self) -> bool:
        """True if we should expect media."""
        return self.accepted and self.direction.receives

    @property
    def media_codecs(self) -> tuple[NegotiatedCodec, ...]:
        """The codecs that carry media (telephone-event, CN and the like left out)."""
        return tuple(c for c in self.codecs if not c.codec.auxiliary)

    @property
    def telephone_event(self) -> NegotiatedCodec | None:
        """The RFC 4733 telephone-event format, if negotiated."""
        for codec in self.codecs:
            if codec.name.lower() == "telephone-event":
                return codec
        return None


@dataclass(frozen=True, slots=True)
class NegotiatedSession:
    """The result of a completed exchange: both descriptions and every stream."""

    local: SessionDescription
    remote: SessionDescription
    streams: tuple[NegotiatedStream, ...]

    @property
    def accepted_streams(self) -> tuple[NegotiatedStream, ...]:
        """The streams that carry media."""
        return tuple(s for s in self.streams if s.accepted)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to send and what it agrees to.

    It goes in the 2xx, a reliable 18x, the PRACK/UPDATE response or the ACK.
    """

    description: SessionDescription
    negotiated: NegotiatedSession


@dataclass(frozen=True, slots=True)
class OfferRefused:
    """An offer we cannot answer, and the SIP response that says so.

    The SIP layer answers ``status_code`` (488 Not Acceptable Here, or 491 Request Pending on
    glare, RFC 3261 §14.2) with ``reason``, and a Warning header with ``warning_code``
    (RFC 3261 §20.43) when there is one.
    """

    status_code: int
    reason: str
    warning_code: int | None = None


@dataclass(frozen=True, slots=True)
class AnswerRefused:
    """An answer we cannot use: it breaks RFC 3264 or shares no usable stream.

    The session keeps its previous state; an initial INVITE should be ended with BYE
    (RFC 3261 §13.2.1).
    """

    reason: str


class OfferAnswerStateError(RuntimeError):
    """The application called the engine out of turn (a programming error, not bad input)."""


# --- State machine ---------------------------------------------------------------------------


class OfferAnswerState(enum.Enum):
    """Where an exchange stands (RFC 3264 §4, RFC 6337 §2)."""

    STABLE = "stable"
    LOCAL_OFFER = "local-offer"


class OfferAnswerInput(enum.Enum):
    """What can happen to an exchange."""

    CREATE_OFFER = "create-offer"
    RECEIVE_OFFER = "receive-offer"
    RECEIVE_ANSWER = "receive-answer"
    OFFER_FAILED = "offer-failed"


TRANSITIONS: dict[tuple[OfferAnswerState, OfferAnswerInput], OfferAnswerState | None] = {
    (OfferAnswerState.STABLE, OfferAnswerInput.CREATE_OFFER): OfferAnswerState.LOCAL_OFFER,
    (OfferAnswerState.STABLE, OfferAnswerInput.RECEIVE_OFFER): OfferAnswerState.STABLE,
    # An answer with nothing outstanding is accepted only as a repeat of the last one (the same
    # SDP in an unreliable 183 and then in the 200, RFC 3261 §13.2.1).
    (OfferAnswerState.STABLE, OfferAnswerInput.RECEIVE_ANSWER): OfferAnswerState.STABLE,
    (OfferAnswerState.STABLE, OfferAnswerInput.OFFER_FAILED): None,
    # Asking again for the outstanding offer returns it unchanged (retransmissions, forking).
    (OfferAnswerState.LOCAL_OFFER, OfferAnswerInput.CREATE_OFFER): OfferAnswerState.LOCAL_OFFER,
    # Glare: an offer while ours is outstanding is refused with 491 (RFC 3261 §14.2).
    (OfferAnswerState.LOCAL_OFFER, OfferAnswerInput.RECEIVE_OFFER): OfferAnswerState.LOCAL_OFFER,
    (OfferAnswerState.LOCAL_OFFER, OfferAnswerInput.RECEIVE_ANSWER): OfferAnswerState.STABLE,
    (OfferAnswerState.LOCAL_OFFER, OfferAnswerInput.OFFER_FAILED): OfferAnswerState.STABLE,
}
"""Every (state, input) pair and the state it leads to; None means the input is a misuse."""


# --- Internal per-stream state ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stream:
    kind: str
    proto: str
    capabilities: MediaCapabilities | None = None
    transport: TransportAddress | None = None
    payload_types: tuple[tuple[Codec, int], ...] = ()
    rejected_format: str = "0"
    rejected_rtpmap: str | None = None
    mechanism: SecurityMechanism | None = None
    held: bool = False
    removed: bool = False
    sdes_offered: tuple[Crypto, ...] = ()
    sdes_local: Crypto | None = None
    sdes_remote: Crypto | None = None
    tls_id: TlsId | None = None
    dtls_role: DtlsRole | None = None
    remote_tls_id: TlsId | None = None
    remote_fingerprints: tuple[Fingerprint, ...] = ()
    remote_endpoint: tuple[str, int] | None = None
    mid: str | None = None

    @property
    def active(self) -> bool:
        return self.capabilities is not None and not self.removed

    def wanted_direction(self) -> Direction:
        caps = self.capabilities
        base = caps.direction if caps is not None else Direction.INACTIVE
        # RFC 3264 §8.4 / RFC 6337 §5: hold asks the peer to stop sending to us.
        return base & Direction.SENDONLY if self.held else base


@dataclass(frozen=True, slots=True)
class _StreamOutcome:
    stream: _Stream
    media: MediaDescription
    negotiated: NegotiatedStream


_WARN_TRANSPORT = 302  # Incompatible transport protocol
_WARN_MEDIA_TYPE = 304  # Media type not available
_WARN_FORMAT = 305  # Incompatible media format
_WARN_ATTRIBUTE = 306  # Attribute not understood


class _Rejection(Exception):  # noqa: N818 - internal control flow, never escapes the engine
    def __init__(self, reason: str, warning: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.warning = warning


class _Unusable(Exception):  # noqa: N818 - internal control flow, never escapes the engine
    pass


def _free_ids(used: Iterable[int]) -> Iterable[int]:
    taken = set(used)
    for candidate in (*EXTMAP_ONE_BYTE_IDS, *EXTMAP_TWO_BYTE_IDS):
        if candidate not in taken and candidate != 15:
            yield candidate


def _fmtp(media: MediaDescription, fmt: str) -> str | None:
    found = media.fmtps.get(fmt)
    return found.parameters if found is not None else None


class OfferAnswer:
    """The offer/answer engine for one dialog (RFC 3264).

    ``address`` is the host of the session ``c=`` line (an attribute the application may change
    between exchanges, RFC 4317 §2.5); ``origin_address`` (default: ``address``) is the one in
    ``o=``, which never changes (RFC 3264 §8). ``transports`` gives the address of each stream
    we accept or offer. The first offer has one stream per capability entry, unless
    ``offer_all_capabilities`` is False (then only streams added with :meth:`add_stream`, maybe
    none, RFC 4317 §5.1). ``dtls_answer_role`` is our DTLS role when answering an ``actpass``
    DTLS-SRTP offer: the client (``setup:active``, which RFC 5763 §5 recommends) or the server,
    for peers whose certificates the DTLS client cannot use (baresip's RSA certificate).
    ``dtls_identity`` is required when the policy allows DTLS-SRTP or PERC. ``perc_role`` says
    whether we are a PERC endpoint or a conference focus (which decides the DTLS setup role,
    :mod:`sipperc.sdp.perc`).
    """

    def __init__(
        self,
        *,
        address: str,
        capabilities: Sequence[MediaCapabilities],
        transports: TransportAllocator,
        security: MediaSecurityPolicy | None = None,
        dtls_identity: DtlsIdentity | None = None,
        perc_role: PercRole = PercRole.ENDPOINT,
        username: str = "-",
        origin_address: str | None = None,
        session_id: int | None = None,
        session_name: str = "-",
        explicit_sendrecv: bool = True,
        prefer_local_codec_order: bool = False,
        offer_all_capabilities: bool = True,
        dtls_answer_role: DtlsRole = DtlsRole.CLIENT,
    ) -> None:
        self.security = security or MediaSecurityPolicy.plain_only()
        if self.security.uses_dtls and dtls_identity is None:
            raise ValueError("a policy that allows DTLS-SRTP or PERC needs a dtls_identity")
        if not capabilities:
            raise ValueError("at least one kind of media is needed")
        self.capabilities = tuple(capabilities)
        self.transports = transports
        self.dtls_identity = dtls_identity
        self.perc_role = perc_role
        self.explicit_sendrecv = explicit_sendrecv
        self.prefer_local_codec_order = prefer_local_codec_order
        self.address = address
        self.session_name = session_name
        if session_id is None:
            session_id = int.from_bytes(os.urandom(7), "big") >> 1  # < 2**55: fits int64
        self.offer_all_capabilities = offer_all_capabilities
        self.dtls_answer_role = dtls_answer_role
        origin_host = origin_address or address
        self._origin = Origin(username, session_id, session_id, origin_host,
                              "IN", "IP6" if ":" in origin_host else "IP4")
        self._state = OfferAnswerState.STABLE
        self._streams: tuple[_Stream, ...] = ()
        self._held = False
        self._last_local: SessionDescription | None = None
        self._last_remote: SessionDescription | None = None
        self._pending_offer: SessionDescription | None = None
        self._pre_offer: tuple[tuple[_Stream, ...], SessionDescription | None, Origin] | None = None
        self._negotiated: NegotiatedSession | None = None
        self._restart_dtls: set[int] = set()
        self._rekey: set[int] = set()
        self._delegated_tls_ids: dict[int | None, TlsId] = {}
        self._answered_last = False

    # --- inspection ---------------------------------------------------------------------------

    @property
    def state(self) -> OfferAnswerState:
        """Where the exchange stands."""
        return self._state

    @property
    def negotiated(self) -> NegotiatedSession | None:
        """The result of the last completed exchange."""
        return self._negotiated

    @property
    def local_description(self) -> SessionDescription | None:
        """The last description we produced (offer or answer)."""
        return self._last_local

    @property
    def remote_description(self) -> SessionDescription | None:
        """The last description the peer sent that we accepted."""
        return self._last_remote

    def _advance(self, event: OfferAnswerInput) -> OfferAnswerState:
        following = TRANSITIONS[(self._state, event)]
        if following is None:
            raise OfferAnswerStateError(f"{event.value} is not possible in state "
                                        f"{self._state.value}")
        return following

    # --- changes for the next offer -----------------------------------------------------------

    def _check_stable(self) -> None:
        if self._state is not OfferAnswerState.STABLE:
            raise OfferAnswerStateError("an offer is outstanding; wait for its answer")

    def _stream_indexes(self, index: int | None) -> list[int]:
        if index is None:
            return list(range(len(self._streams)))
        if not 0 <= index < len(self._streams):
            raise IndexError(f"no stream {index}")
        return [index]

    def hold(self, index: int | None = None) -> None:
        """Put one stream (or all, and any accepted later) on hold.

        The next description asks the peer to stop sending (``sendonly`` or ``inactive``,
        RFC 3264 §8.4).
        """
        self._check_stable()
        if index is None:
            self._held = True
        self._streams = tuple(dataclasses.replace(s, held=True) if i in
                              self._stream_indexes(index) else s
                              for i, s in enumerate(self._streams))

    def resume(self, index: int | None = None) -> None:
        """Take one stream (or all) off hold."""
        self._check_stable()
        if index is None:
            self._held = False
        self._streams = tuple(dataclasses.replace(s, held=False) if i in
                              self._stream_indexes(index) else s
                              for i, s in enumerate(self._streams))

    def add_stream(self, capabilities: MediaCapabilities | str) -> int:
        """Add a stream to the next offer (RFC 3264 §8.1); returns its index.

        ``capabilities`` is one of the engine's entries, or a kind naming the first entry of
        that kind.
        """
        self._check_stable()
        if isinstance(capabilities, str):
            caps = next((c for c in self.capabilities if c.kind == capabilities), None)
            if caps is None:
                raise ValueError(f"no capabilities for {capabilities} media")
        else:
            caps = capabilities
        self._streams = (*self._streams, self._new_offer_stream(caps))
        return len(self._streams) - 1

    def update_stream(self, index: int, *, capabilities: MediaCapabilities | None = None,
                      transport: TransportAddress | None = None) -> None:
        """Change what the next description says about a stream.

        New codecs and attributes (payload types already in use keep their numbers,
        RFC 3264 §8.3.2), or a new address we receive it on (RFC 3264 §8.3.1).
        """
        self._check_stable()
        self._stream_indexes(index)
        stream = self._streams[index]
        if capabilities is not None:
            if capabilities.kind != stream.kind:
                raise ValueError(f"stream {index} is {stream.kind}, not {capabilities.kind}")
            stream = dataclasses.replace(
                stream, capabilities=capabilities, removed=False,
                payload_types=_assign_payload_types(capabilities.codecs, stream.payload_types))
        if transport is not None:
            stream = dataclasses.replace(stream, transport=transport)
        self._streams = tuple(stream if i == index else s for i, s in enumerate(self._streams))

    def remove_stream(self, index: int) -> None:
        """Disable a stream in the next offer: port zero (RFC 3264 §8.2)."""
        self._check_stable()
        self._stream_indexes(index)
        self._streams = tuple(dataclasses.replace(s, removed=True) if i == index else s
                              for i, s in enumerate(self._streams))

    def restart_dtls(self, index: int | None = None) -> None:
        """Ask for a new DTLS association (new ``a=tls-id``) in the next offer (RFC 8842 §5.2)."""
        self._check_stable()
        self._restart_dtls.update(self._stream_indexes(index))

    def rekey(self, index: int | None = None) -> None:
        """Offer fresh SDES keys in the next offer (RFC 4568 §7.1.4)."""
        self._check_stable()
        self._rekey.update(self._stream_indexes(index))

    def delegate_dtls(self, identity: DtlsIdentity, tls_id: TlsId,
                      index: int | None = None) -> None:
        """Describe another party's DTLS server: its fingerprints and its ``a=tls-id``.

        A PERC focus speaks for its Key Distributor, the DTLS server behind the Media
        Distributor (RFC 8871 §5.2, RFC 9185 §5.4, perc.md §6): its descriptions carry the Key
        Distributor's fingerprint and the tls-id the Key Distributor picked for this endpoint.
        The Key Distributor picks that tls-id only once it knows the endpoint's, that is after
        the offer arrived, so this may be called between :meth:`receive_offer` and sending the
        answer: the answer not yet sent is rewritten (``local_description`` and ``negotiated``
        change; the ``o=`` version stays, nobody saw the first text). Every later offer and
        answer for stream ``index`` (None: every stream) carries these values until the next
        call: a new tls-id is a new DTLS association (RFC 8842 §5), and here the Key
        Distributor, not this engine, decides when there is one.
        """
        if not self.security.uses_dtls:
            raise ValueError("the policy allows no DTLS-SRTP or PERC stream")
        self.dtls_identity = identity
        if index is None:
            self._delegated_tls_ids = {None: tls_id}
        else:
            self._stream_indexes(index)
            self._delegated_tls_ids[index] = tls_id
        if self._answered_last and self._state is OfferAnswerState.STABLE:
            self._amend_answer()

    def _delegated_tls_id(self, index: int) -> TlsId | None:
        return self._delegated_tls_ids.get(index, self._delegated_tls_ids.get(None))

    def _amend_answer(self) -> None:
        """Put the delegated DTLS values into the answer we produced and have not sent."""
        negotiated, answer = self._negotiated, self._last_local
        assert negotiated is not None and answer is not None and self.dtls_identity is not None
        streams, sections, outcomes = list(self._streams), list(answer.media), []
        for index, result in enumerate(negotiated.streams):
            tls_id = self._delegated_tls_id(index)
            security = result.security
            if tls_id is None or not result.accepted or not isinstance(security, DtlsSrtp):
                outcomes.append(result)
                continue
            streams[index] = dataclasses.replace(streams[index], tls_id=tls_id)
            replaced = [a for a in sections[index].attributes
                        if a.name not in (Fingerprint.name, TlsId.name)]
            at = next((n for n, a in enumerate(replaced) if a.name == "setup"), len(replaced))
            dtls = [Attribute(Fingerprint.name, str(f)) for f in self.dtls_identity.fingerprints]
            dtls.append(Attribute(TlsId.name, str(tls_id)))
            replaced[at + 1:at + 1] = dtls
            sections[index] = dataclasses.replace(sections[index], attributes=tuple(replaced))
            outcomes.append(dataclasses.replace(
                result, security=dataclasses.replace(security, local_tls_id=tls_id)))
        self._streams = tuple(streams)
        self._last_local = dataclasses.replace(answer, media=tuple(sections))
        self._negotiated = NegotiatedSession(self._last_local, negotiated.remote,
                                             tuple(outcomes))

    # --- offerer ------------------------------------------------------------------------------

    def create_offer(self) -> SessionDescription:
        """The offer to send (RFC 3264 §5, §8).

        The first offer has one stream per capability entry; later ones reflect :meth:`hold`,
        :meth:`add_stream` and the other changes.
        """
        following = self._advance(OfferAnswerInput.CREATE_OFFER)
        if self._pending_offer is not None:
            return self._pending_offer
        self._pre_offer = (self._streams, self._last_local, self._origin)
        if not self._streams and self._last_local is None and self.offer_all_capabilities:
            self._streams = tuple(self._new_offer_stream(caps) for caps in self.capabilities)
        streams = []
        sections = []
        for index, stream in enumerate(self._streams):
            updated, media = self._offer_stream(index, stream)
            streams.append(updated)
            sections.append(media)
        self._streams = tuple(streams)
        self._restart_dtls.clear()
        self._rekey.clear()
        self._answered_last = False
        offer = self._finish(sections)
        self._pending_offer = offer
        self._last_local = offer
        self._state = following
        return offer

    def fork(self) -> OfferAnswer:
        """An independent copy of this engine, for one more early dialog.

        A forked INVITE can bring answers to one offer from several UASs (RFC 3261 §13.2.2.4,
        RFC 3264 §4): give each dialog its own fork so that each applies its own answer.
        """
        twin = copy.copy(self)
        twin._restart_dtls = set(self._restart_dtls)
        twin._rekey = set(self._rekey)
        return twin

    def offer_failed(self) -> None:
        """Our offer was rejected (488 or 491 to a re-INVITE, for example).

        The session stays as it was before the offer (RFC 3264 §8, RFC 6337 §3.1); changes
        asked for since (:meth:`hold`...) stay asked for, so the next offer repeats the failed
        one, with the same version, unless the application changes its mind.
        """
        self._state = self._advance(OfferAnswerInput.OFFER_FAILED)
        assert self._pre_offer is not None
        self._streams, self._last_local, self._origin = self._pre_offer
        self._pending_offer = None
        self._pre_offer = None

    def receive_answer(self, answer: SessionDescription) -> NegotiatedSession | AnswerRefused:
        """Apply the peer's answer to our outstanding offer (RFC 3264 §7).

        The same answer again (an unreliable 183 and then the 200, RFC 3261 §13.2.1) returns
        the very same :class:`NegotiatedSession` object: compare with ``is`` to skip it.
        """
        following = self._advance(OfferAnswerInput.RECEIVE_ANSWER)
        if self._state is OfferAnswerState.STABLE:
            if self._negotiated is not None and self._last_remote is not None and \
                    str(answer) == str(self._last_remote):
                return self._negotiated
            return AnswerRefused("no offer is outstanding")
        offer = self._pending_offer
        assert offer is not None
        if len(answer.media) != len(offer.media):
            return AnswerRefused(f"the answer has {len(answer.media)} media sections, the offer "
                                 f"{len(offer.media)} (RFC 3264 §6)")
        outcomes = []
        for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
            stream = self._streams[index]
            if theirs.kind != ours.kind:
                return AnswerRefused(f"media section {index} changed from {ours.kind} to "
                                     f"{theirs.kind} (RFC 3264 §6)")
            if theirs.port == 0 or ours.port == 0:
                reason = "rejected by the answerer" if ours.port else "removed by us"
                outcomes.append(_StreamOutcome(
                    dataclasses.replace(stream, removed=stream.removed or bool(ours.port),
                                        capabilities=stream.capabilities if ours.port == 0
                                        else None),
                    ours, NegotiatedStream(index, ours.kind, False, reason, mid=ours.mid)))
                continue
            if theirs.proto.upper() != ours.proto.upper():
                return AnswerRefused(f"media section {index} answered {theirs.proto} to "
                                     f"{ours.proto} (RFC 3264 §6)")
            try:
                outcomes.append(self._apply_answer_stream(index, stream, ours, answer, theirs))
            except _Rejection as rejection:
                return AnswerRefused(f"media section {index}: {rejection.reason}")
        if offer.media and not any(o.negotiated.accepted for o in outcomes):
            reasons = "; ".join(o.negotiated.reason for o in outcomes)
            return AnswerRefused(f"no usable media stream ({reasons})")
        self._streams = tuple(o.stream for o in outcomes)
        self._last_remote = answer
        self._pending_offer = None
        self._pre_offer = None
        self._negotiated = NegotiatedSession(offer, answer, tuple(o.negotiated for o in outcomes))
        self._state = following
        return self._negotiated

    # --- answerer -----------------------------------------------------------------------------

    def receive_offer(self, offer: SessionDescription) -> Answer | OfferRefused:
        """Answer the peer's offer (RFC 3264 §6) or say why it cannot be answered."""
        following = self._advance(OfferAnswerInput.RECEIVE_OFFER)
        if self._state is OfferAnswerState.LOCAL_OFFER:
            return OfferRefused(491, "an offer of ours is outstanding (glare, RFC 3261 §14.2)")
        if len(offer.media) < len(self._streams):
            return OfferRefused(488, f"the offer has {len(offer.media)} media sections, "
                                     f"fewer than the {len(self._streams)} negotiated "
                                     "(RFC 3264 §8)")
        decisions: list[_Stream | _Rejection] = []
        counts: Counter[int] = Counter()
        for index, media in enumerate(offer.media):
            old = self._streams[index] if index < len(self._streams) else None
            try:
                decisions.append(self._accept_offered_stream(offer, media, old, counts))
            except _Rejection as rejection:
                decisions.append(rejection)
        accepted = [d for d in decisions if isinstance(d, _Stream)]
        if offer.media and not accepted:
            rejections = [d for d in decisions if isinstance(d, _Rejection)]
            return OfferRefused(488, "; ".join(r.reason for r in rejections),
                                rejections[0].warning)
        outcomes = []
        for index, (media, decision) in enumerate(zip(offer.media, decisions, strict=True)):
            if isinstance(decision, _Rejection):
                outcomes.append(self._rejected_answer_stream(index, media, decision))
            else:
                outcomes.append(self._answer_stream(index, offer, media, decision))
        answer = self._finish([o.media for o in outcomes])
        self._streams = tuple(o.stream for o in outcomes)
        self._last_local = answer
        self._last_remote = offer
        self._negotiated = NegotiatedSession(answer, offer, tuple(o.negotiated for o in outcomes))
        self._state = following
        self._answered_last = True
        return Answer(answer, self._negotiated)

    # --- building descriptions ----------------------------------------------------------------

    def _new_offer_stream(self, caps: MediaCapabilities) -> _Stream:
        mechanism = self.security.offer
        return _Stream(kind=caps.kind, proto=mechanism.proto(self.security.feedback),
                       capabilities=caps, payload_types=_assign_payload_types(caps.codecs),
                       mechanism=mechanism, held=self._held)

    def _offer_stream(self, index: int, stream: _Stream) -> tuple[_Stream, MediaDescription]:
        caps = stream.capabilities
        if caps is None or stream.removed:
            # RFC 3264 §8.2: a removed stream keeps its m= line with port zero.
            rtpmap = stream.rejected_rtpmap
            return stream, MediaDescription(
                stream.kind, 0, stream.proto, (stream.rejected_format,),
                attributes=(Attribute("rtpmap", rtpmap),) if rtpmap else ())
        transport = stream.transport or self.transports(index, stream.kind)
        payload_types = _assign_payload_types(caps.codecs, stream.payload_types)
        first_codec, first_pt = payload_types[0]
        stream = dataclasses.replace(
            stream, transport=transport, payload_types=payload_types,
            rejected_format=str(first_pt), rejected_rtpmap=str(first_codec.rtpmap(first_pt)))
        attributes: list[Attribute] = []
        for codec, payload_type in stream.payload_types:
            attributes.extend(self._format_attributes(codec, payload_type))
        attributes.extend(self._common_attributes(caps, stream.wanted_direction(), transport,
                                                  caps.rtcp_mux))
        for extmap in caps.extmaps:
            attributes.append(Attribute(ExtMap.name, str(extmap)))
        mechanism = stream.mechanism
        if mechanism is SecurityMechanism.SDES:
            offered = stream.sdes_offered
            if not offered or index in self._rekey:
                offered = tuple(Crypto.generate(tag, profile) for tag, profile in
                                enumerate(self.security.sdes_profiles, 1))
            stream = dataclasses.replace(stream, sdes_offered=offered)
            attributes.extend(Attribute(Crypto.name, str(c)) for c in offered)
        elif mechanism in (SecurityMechanism.DTLS_SRTP, SecurityMechanism.PERC):
            tls_id = self._delegated_tls_id(index) or stream.tls_id
            if tls_id is None or (index in self._restart_dtls
                                  and self._delegated_tls_id(index) is None):
                tls_id = TlsId.generate()
            stream = dataclasses.replace(stream, tls_id=tls_id)
            perc = mechanism is SecurityMechanism.PERC
            # perc.md §6: a focus offers passive so that the endpoint becomes the DTLS client;
            # everyone else offers actpass (RFC 5763 §5, RFC 8842 §5.2).
            setup = Setup.PASSIVE if perc and self.perc_role is PercRole.FOCUS else Setup.ACTPASS
            attributes.extend(self._dtls_attributes(setup, tls_id, perc))
        if stream.mid is not None:
            attributes.append(Attribute("mid", stream.mid))
        attributes.extend(caps.extra_attributes)
        media = MediaDescription(
            stream.kind, transport.port, stream.proto,
            tuple(str(pt) for _, pt in stream.payload_types),
            connections=self._media_connection(transport), attributes=tuple(attributes))
        return stream, media

    def _format_attributes(self, codec: Codec, payload_type: int) -> list[Attribute]:
        # RFC 3264 §5.1: rtpmap for every format, static ones included (SHOULD).
        attributes = [Attribute("rtpmap", str(codec.rtpmap(payload_type)))]
        if codec.fmtp:
            attributes.append(Attribute("fmtp", f"{payload_type} {codec.fmtp}"))
        return attributes

    def _common_attributes(self, caps: MediaCapabilities, direction: Direction,
                           transport: TransportAddress, rtcp_mux: bool) -> list[Attribute]:
        attributes = []
        if caps.ptime is not None:
            attributes.append(Attribute("ptime", str(PacketTime(caps.ptime))))
        if caps.maxptime is not None:
            attributes.append(Attribute("maxptime", str(PacketTime(caps.maxptime))))
        if direction is not Direction.SENDRECV or self.explicit_sendrecv:
            attributes.append(Attribute(direction.value))
        if transport.rtcp_port is not None and not rtcp_mux:
            attributes.append(Attribute(Rtcp.name, str(Rtcp(transport.rtcp_port))))
        if rtcp_mux:
            attributes.append(Attribute("rtcp-mux"))
        return attributes

    def _dtls_attributes(self, setup: Setup, tls_id: TlsId, perc: bool) -> list[Attribute]:
        assert self.dtls_identity is not None
        attributes = [Attribute("setup", setup.value)]
        attributes.extend(Attribute(Fingerprint.name, str(f))
                          for f in self.dtls_identity.fingerprints)
        attributes.append(Attribute(TlsId.name, str(tls_id)))
        if perc:
            attributes.append(Attribute(PERC_ATTRIBUTE, str(PercMarker.ours(self.perc_role))))
        return attributes

    def _media_connection(self, transport: TransportAddress) -> tuple[Connection, ...]:
        # A stream on the session's address needs no media-level c= (RFC 8866 §5.7).
        if transport.host == self.address:
            return ()
        return (Connection(transport.host, "IN", transport.addrtype),)

    def _finish(self, sections: list[MediaDescription]) -> SessionDescription:
        origin = self._origin
        last = self._last_local
        draft = SessionDescription(
            origin=origin, session_name=self.session_name,
            connection=Connection(self.address, "IN", "IP6" if ":" in self.address else "IP4"),
            times=(TimeDescription(0, 0),), media=tuple(sections))
        if last is not None:
            previous = dataclasses.replace(last, origin=origin)
            if str(previous) != str(draft):
                # RFC 3264 §8: a changed description increments the version by one.
                self._origin = origin.next_version()
                draft = dataclasses.replace(draft, origin=self._origin)
        return draft

    # --- answering one stream -----------------------------------------------------------------

    def _accept_offered_stream(self, offer: SessionDescription, media: MediaDescription,
                               old: _Stream | None, counts: Counter[int]) -> _Stream:
        if media.port == 0:
            raise _Rejection(f"{media.kind} stream disabled by the offerer", _WARN_MEDIA_TYPE)
        mechanism, why = classify(offer, media)
        if mechanism is None:
            raise _Rejection(why, _WARN_TRANSPORT)
        accept = self.security.accept
        peer_role = media.perc.role if media.perc is not None else None
        same_role = mechanism is SecurityMechanism.PERC and peer_role == self.perc_role
        if mechanism is SecurityMechanism.PERC and (mechanism not in accept or same_role):
            mechanism = SecurityMechanism.DTLS_SRTP  # a PERC offer is also a DTLS-SRTP offer
        if mechanism not in accept:
            if same_role:
                raise _Rejection(f"PERC needs an endpoint and a focus; both sides are "
                                 f"{self.perc_role.value}s", _WARN_TRANSPORT)
            if mechanism is SecurityMechanism.DTLS_SRTP and SecurityMechanism.PERC in accept:
                raise _Rejection("PERC is required but the DTLS-SRTP offer has no "
                                 f"a={PERC_ATTRIBUTE} marker", _WARN_TRANSPORT)
            wanted = ", ".join(sorted(m.value for m in accept))
            raise _Rejection(f"{mechanism.value} media is not accepted here (accepted: "
                             f"{wanted})", _WARN_TRANSPORT)
        caps = self._match_capabilities(media, old, counts)
        counts[id(caps)] += 1
        keep = old is not None and old.capabilities is caps and old.transport is not None
        stream = _Stream(
            kind=media.kind, proto=media.proto, capabilities=caps,
            transport=old.transport if keep and old is not None else None,
            mechanism=mechanism, held=old.held if old is not None else self._held,
            mid=media.mid)
        if old is not None and keep:
            stream = dataclasses.replace(
                stream, payload_types=old.payload_types, sdes_local=old.sdes_local,
                sdes_remote=old.sdes_remote,
                tls_id=old.tls_id, dtls_role=old.dtls_role, remote_tls_id=old.remote_tls_id,
                remote_fingerprints=old.remote_fingerprints, remote_endpoint=old.remote_endpoint)
        # Check the security parameters now so that an unusable stream is rejected before any
        # transport is allocated.
        if mechanism is SecurityMechanism.SDES:
            self._choose_crypto(media)
        elif mechanism in (SecurityMechanism.DTLS_SRTP, SecurityMechanism.PERC):
            self._answer_dtls_role(offer, media, mechanism, stream)
        return stream

    def _match_capabilities(self, media: MediaDescription, old: _Stream | None,
                            counts: Counter[int]) -> MediaCapabilities:
        candidates = [c for c in self.capabilities if c.kind == media.kind]
        if not candidates:
            raise _Rejection(f"no {media.kind} media here", _WARN_MEDIA_TYPE)
        if old is not None and old.capabilities is not None:
            # A stream keeps the capability entry it had (RFC 3264 §8: a re-offer changes a
            # stream, it does not make a new one).
            candidates.sort(key=lambda c: c is not old.capabilities)
        room = [c for c in candidates if counts[id(c)] < c.max_streams]
        if not room:
            total = sum(c.max_streams for c in candidates)
            raise _Rejection(f"only {total} {media.kind} stream(s) accepted", _WARN_MEDIA_TYPE)
        for caps in room:
            if self._intersect(caps, media):
                return caps
        offered = ", ".join(self._format_names(media)) or "none"
        raise _Rejection(f"no common {media.kind} codec (offered: {offered})", _WARN_FORMAT)

    @staticmethod
    def _format_names(media: MediaDescription) -> list[str]:
        names = []
        for fmt in media.formats:
            rtpmap = media.rtpmap(fmt)
            names.append(f"{rtpmap.encoding_name}/{rtpmap.clock_rate}" if rtpmap else fmt)
        return names

    def _intersect(self, caps: MediaCapabilities, media: MediaDescription
                   ) -> list[tuple[Codec, int, str | None]]:
        """Codecs we share with an offered section, in the offerer's order or ours.

        Items are (our codec, offered payload type, offered fmtp) (RFC 3264 §6.1).
        """
        found: list[tuple[Codec, int, str | None]] = []
        for fmt in media.formats:
            rtpmap = media.rtpmap(fmt)
            if rtpmap is None:
                continue
            fmtp = _fmtp(media, fmt)
            for codec in caps.codecs:
                if codec.matches(rtpmap, fmtp) and not any(c is codec for c, _, _ in found):
                    found.append((codec, rtpmap.payload_type, fmtp))
                    break
        if self.prefer_local_codec_order:
            order = {id(codec): n for n, codec in enumerate(caps.codecs)}
            found.sort(key=lambda item: order[id(item[0])])
        return found if _carries_media([codec for codec, _, _ in found]) else []

    def _choose_crypto(self, media: MediaDescription) -> Crypto:
        # RFC 4568 §7.1.2: take the first acceptable attribute in the offerer's order.
        problems = []
        allowed = self.security.sdes_profiles
        for crypto in media.crypto:
            profile = crypto.profile
            if profile is None or profile not in allowed:
                problems.append(f"suite {crypto.suite} not accepted")
                continue
            unknown = {n for n in crypto.session_parameter_names if not n.startswith("-")}
            unknown -= {"WSH"}  # a window size hint is only a hint (RFC 4568 §6.3.7)
            if unknown:
                problems.append(f"{crypto.suite} session parameters "
                                f"{', '.join(sorted(unknown))} not supported")
                continue
            if len(crypto.keys) != 1 or not isinstance(crypto.keys[0], InlineKey):
                problems.append(f"{crypto.suite} with several keys or a non-inline key")
                continue
            return crypto
        raise _Rejection("no usable a=crypto (" + "; ".join(problems or ["none offered"]) + ")",
                         _WARN_ATTRIBUTE)

    def _answer_dtls_role(self, offer: SessionDescription, media: MediaDescription,
                          mechanism: SecurityMechanism, old: _Stream) -> DtlsRole:
        if not any(f.supported for f in offer.fingerprints_of(media)):
            raise _Rejection("no a=fingerprint with a hash sipperc can check (RFC 8122 §5)",
                             _WARN_ATTRIBUTE)
        # RFC 4145 §4: a missing setup attribute means active.
        offered = offer.setup_of(media) or Setup.ACTIVE
        if offered is Setup.HOLDCONN:
            raise _Rejection("a=setup:holdconn: no DTLS association wanted", _WARN_ATTRIBUTE)
        if mechanism is SecurityMechanism.PERC:
            # perc.md §6: the endpoint is always the DTLS client, the KD behind a focus the
            # server.
            needed = DtlsRole.SERVER if self.perc_role is PercRole.FOCUS else DtlsRole.CLIENT
            if offered.value == needed.setup.value:
                raise _Rejection(f"PERC needs the endpoint to be the DTLS client; the offer's "
                                 f"setup:{offered.value} makes that impossible", _WARN_ATTRIBUTE)
            return needed
        if offered is Setup.ACTIVE:
            return DtlsRole.SERVER
        if offered is Setup.PASSIVE:
            return DtlsRole.CLIENT
        # actpass: keep the role of an existing association (RFC 8842 §5.3), else the configured
        # one (active by default, as RFC 5763 §5 recommends: the handshake starts with the
        # answer).
        if old.dtls_role is not None and not self._dtls_changed(offer, media, old):
            return old.dtls_role
        return self.dtls_answer_role

    @staticmethod
    def _dtls_changed(offer: SessionDescription, media: MediaDescription, old: _Stream) -> bool:
        """True if the offer asks for a new DTLS association (RFC 8842 §5.3)."""
        remote_tls_id = media.tls_id
        if old.remote_tls_id is not None or remote_tls_id is not None:
            return remote_tls_id != old.remote_tls_id
        # A peer without tls-id (RFC 5763 only): a new certificate or transport means a new
        # association (RFC 8842 §7 on interworking with such peers).
        connection = offer.connection_for(media)
        endpoint = (connection.address if connection else "", media.port)
        return (set(offer.fingerprints_of(media)) != set(old.remote_fingerprints)
                or endpoint != old.remote_endpoint)

    def _rejected_answer_stream(self, index: int, media: MediaDescription,
                                rejection: _Rejection) -> _StreamOutcome:
        # RFC 3264 §6: a rejected stream keeps its m= line with port zero; RFC 4317 §2.2 echoes
        # the first format and its rtpmap.
        fmt = media.formats[0]
        attributes: list[Attribute] = []
        rtpmap = media.rtpmaps.get(int(fmt)) if fmt.isdigit() and len(fmt) <= 3 else None
        if rtpmap is not None:
            attributes.append(Attribute("rtpmap", str(rtpmap)))
        if media.mid is not None:
            attributes.append(Attribute("mid", media.mid))
        answer = MediaDescription(media.kind, 0, media.proto, (fmt,),
                                  attributes=tuple(attributes))
        stream = _Stream(kind=media.kind, proto=media.proto, rejected_format=fmt,
                         rejected_rtpmap=str(rtpmap) if rtpmap else None, mid=media.mid)
        return _StreamOutcome(stream, answer, NegotiatedStream(
            index, media.kind, False, rejection.reason, mid=media.mid))

    def _answer_stream(self, index: int, offer: SessionDescription, media: MediaDescription,
                       stream: _Stream) -> _StreamOutcome:
        caps = stream.capabilities
        assert caps is not None
        transport = stream.transport or self.transports(index, media.kind)
        shared = self._intersect(caps, media)
        # Remember the numbers agreed so that our own re-offers keep them (RFC 3264 §8.3.2).
        agreed = _assign_payload_types(
            caps.codecs, ((codec, pt) for codec, pt, _ in shared), stream.payload_types)
        stream = dataclasses.replace(
            stream, transport=transport, payload_types=agreed,
            rejected_format=str(shared[0][1]),
            rejected_rtpmap=str(shared[0][0].rtpmap(shared[0][1])))
        codecs = tuple(NegotiatedCodec(codec, pt, pt, fmtp) for codec, pt, fmtp in shared)
        attributes: list[Attribute] = []
        for codec, payload_type, _ in shared:
            attributes.extend(self._format_attributes(codec, payload_type))
        offered_direction = offer.direction_of(media)
        direction = offered_direction.reversed & stream.wanted_direction()
        rtcp_mux = media.rtcp_mux and caps.rtcp_mux
        attributes.extend(self._common_attributes(caps, direction, transport, rtcp_mux))
        extensions = self._answer_extensions(caps, media, direction)
        attributes.extend(Attribute(ExtMap.name, str(ExtMap(e.id, e.uri, self._ext_direction(
            e.direction), self._ext_attributes(caps, e.uri)))) for e in extensions)
        security: StreamSecurity
        mechanism = stream.mechanism
        if mechanism is SecurityMechanism.SDES:
            stream, security, crypto_line = self._answer_sdes(media, stream)
            attributes.append(crypto_line)
        elif mechanism in (SecurityMechanism.DTLS_SRTP, SecurityMechanism.PERC):
            assert mechanism is not None
            stream, security = self._answer_dtls(index, offer, media, mechanism, stream)
            assert isinstance(security, DtlsSrtp) and security.role is not None
            attributes.extend(self._dtls_attributes(security.role.setup, security.local_tls_id,
                                                    security.perc))
        else:
            security = PlainRtp()
        if media.mid is not None:
            attributes.append(Attribute("mid", media.mid))
        attributes.extend(caps.extra_attributes)
        answer = MediaDescription(
            media.kind, transport.port, media.proto,
            tuple(str(pt) for _, pt, _ in shared),
            connections=self._media_connection(transport), attributes=tuple(attributes))
        negotiated = self._negotiated_stream(
            index, offer, media, transport=transport, codecs=codecs, direction=direction,
            rtcp_mux=rtcp_mux, extensions=extensions, security=security)
        return _StreamOutcome(stream, answer, negotiated)

    @staticmethod
    def _ext_direction(direction: Direction) -> Direction | None:
        return None if direction is Direction.SENDRECV else direction

    @staticmethod
    def _ext_attributes(caps: MediaCapabilities, uri: str) -> str | None:
        for extmap in caps.extmaps:
            if extmap.uri == uri:
                return extmap.attributes
        return None

    def _answer_extensions(self, caps: MediaCapabilities, media: MediaDescription,
                           direction: Direction) -> list[NegotiatedExtension]:
        supported = {e.uri: e for e in caps.extmaps}
        offered = [e for e in media.extmaps if e.uri in supported]
        # RFC 8285 §7: offered identifiers 4096-4351 leave the choice to the answerer.
        used = [e.id for e in offered if e.id in EXTMAP_TWO_BYTE_IDS]
        free = iter(_free_ids(used))
        result = []
        for extmap in offered:
            ours = supported[extmap.uri]
            ext_id = extmap.id if extmap.id in EXTMAP_TWO_BYTE_IDS else next(free)
            their = extmap.direction or Direction.SENDRECV
            mine = their.reversed & (ours.direction or Direction.SENDRECV) & direction
            if mine is Direction.INACTIVE and direction is not Direction.INACTIVE:
                continue
            result.append(NegotiatedExtension(ext_id, extmap.uri, mine, extmap.attributes))
        return result

    def _answer_sdes(self, media: MediaDescription, stream: _Stream
                     ) -> tuple[_Stream, SdesSrtp, Attribute]:
        chosen = self._choose_crypto(media)
        profile = chosen.profile
        assert profile is not None
        local = stream.sdes_local
        # RFC 4568 §7.1.4: if the offerer kept its key, we keep ours (no rekeying needed).
        if (local is None or stream.sdes_remote != chosen or local.tag != chosen.tag
                or local.suite != chosen.suite):
            local = Crypto(chosen.tag, chosen.suite, (InlineKey.generate(profile),))
        stream = dataclasses.replace(stream, sdes_local=local, sdes_remote=chosen)
        security = SdesSrtp(profile, chosen.tag, _srtp_key(profile, local),
                            _srtp_key(profile, chosen))
        return stream, security, Attribute(Crypto.name, str(local))

    def _answer_dtls(self, index: int, offer: SessionDescription, media: MediaDescription,
                     mechanism: SecurityMechanism, stream: _Stream
                     ) -> tuple[_Stream, DtlsSrtp]:
        role = self._answer_dtls_role(offer, media, mechanism, stream)
        delegated = self._delegated_tls_id(index)
        new_association = (stream.tls_id is None or stream.dtls_role is not role
                           or self._dtls_changed(offer, media, stream)
                           or (delegated is not None and delegated != stream.tls_id))
        tls_id = TlsId.generate() if new_association or stream.tls_id is None else stream.tls_id
        if delegated is not None:
            tls_id = delegated
        connection = offer.connection_for(media)
        fingerprints = offer.fingerprints_of(media)
        stream = dataclasses.replace(
            stream, tls_id=tls_id, dtls_role=role, remote_tls_id=media.tls_id,
            remote_fingerprints=fingerprints,
            remote_endpoint=(connection.address if connection else "", media.port))
        perc = mechanism is SecurityMechanism.PERC
        marker = media.perc
        remote_role = marker.role if marker and isinstance(marker.role, PercRole) else None
        return stream, DtlsSrtp(
            role, _usable_fingerprints(fingerprints), tls_id, media.tls_id, new_association,
            self.security.perc_profiles if perc else self.security.dtls_profiles,
            perc, remote_role if perc else None)

    def _negotiated_stream(self, index: int, remote: SessionDescription,
                           media: MediaDescription, *, transport: TransportAddress,
                           codecs: tuple[NegotiatedCodec, ...], direction: Direction,
                           rtcp_mux: bool, extensions: Sequence[NegotiatedExtension],
                           security: StreamSecurity) -> NegotiatedStream:
        connection = remote.connection_for(media)
        address = connection.address if connection is not None else None
        rtcp = media.rtcp
        if rtcp_mux:
            rtcp_address, rtcp_port = address, media.port
        elif rtcp is not None:
            rtcp_address, rtcp_port = rtcp.address or address, rtcp.port
        else:
            rtcp_address, rtcp_port = address, media.port + 1  # RFC 3550 §11
        return NegotiatedStream(
            index, media.kind, True, mid=media.mid, local=transport, remote_address=address,
            remote_port=media.port, remote_rtcp_address=rtcp_address,
            remote_rtcp_port=rtcp_port, rtcp_mux=rtcp_mux, codecs=codecs,
            direction=direction, ptime=media.ptime, maxptime=media.maxptime,
            extensions=tuple(extensions), security=security,
            remote_ssrcs=tuple(dict.fromkeys(s.ssrc for s in media.ssrcs)))

    # --- applying an answer to one stream -----------------------------------------------------

    def _apply_answer_stream(self, index: int, stream: _Stream, ours: MediaDescription,
                             answer: SessionDescription, theirs: MediaDescription
                             ) -> _StreamOutcome:
        transport = stream.transport
        assert stream.capabilities is not None and transport is not None
        by_pt = {pt: codec for codec, pt in stream.payload_types}
        codecs: list[NegotiatedCodec] = []
        for fmt in theirs.formats:
            rtpmap = theirs.rtpmap(fmt)
            if rtpmap is None:
                continue
            fmtp = _fmtp(theirs, fmt)
            codec = by_pt.get(rtpmap.payload_type)
            if codec is None or not codec.matches(rtpmap, fmtp):
                # RFC 3264 §6.1 / RFC 4317 §2.3: the answer may use its own number.
                codec = next((c for c, _ in stream.payload_types if c.matches(rtpmap, fmtp)),
                             None)
            if codec is None or any(n.codec is codec for n in codecs):
                continue
            receive_pt = next(pt for c, pt in stream.payload_types if c is codec)
            codecs.append(NegotiatedCodec(codec, rtpmap.payload_type, receive_pt, fmtp))
        offered = self._direction_in(self._pending_offer, ours)
        direction = answer.direction_of(theirs).reversed & offered
        if not _carries_media([c.codec for c in codecs]):
            return _StreamOutcome(stream, ours, NegotiatedStream(
                index, ours.kind, False, "the answer shares no codec with the offer",
                mid=ours.mid))
        rtcp_mux = ours.rtcp_mux and theirs.rtcp_mux
        extensions = self._answered_extensions(ours, theirs, direction)
        security: StreamSecurity
        mechanism = stream.mechanism
        if mechanism is SecurityMechanism.SDES:
            stream, security = self._apply_sdes_answer(stream, theirs)
        elif mechanism in (SecurityMechanism.DTLS_SRTP, SecurityMechanism.PERC):
            stream, security = self._apply_dtls_answer(stream, answer, theirs)
        else:
            security = PlainRtp()
        negotiated = self._negotiated_stream(
            index, answer, theirs, transport=transport, codecs=tuple(codecs),
            direction=direction, rtcp_mux=rtcp_mux, extensions=extensions, security=security)
        negotiated = dataclasses.replace(negotiated, mid=ours.mid or theirs.mid)
        return _StreamOutcome(stream, ours, negotiated)

    @staticmethod
    def _direction_in(offer: SessionDescription | None, media: MediaDescription) -> Direction:
        assert offer is not None
        return offer.direction_of(media)

    @staticmethod
    def _answered_extensions(ours: MediaDescription, theirs: MediaDescription,
                             direction: Direction) -> list[NegotiatedExtension]:
        offered = {e.uri: e for e in ours.extmaps}
        result = []
        for extmap in theirs.extmaps:
            mine = offered.get(extmap.uri)
            if mine is None or (mine.id in EXTMAP_TWO_BYTE_IDS and mine.id != extmap.id):
                raise _Rejection(f"a=extmap:{extmap.id} {extmap.uri} was not offered with "
                                 "that identifier (RFC 8285 §6)", _WARN_ATTRIBUTE)
            their = extmap.direction or Direction.SENDRECV
            result.append(NegotiatedExtension(
                extmap.id, extmap.uri,
                their.reversed & (mine.direction or Direction.SENDRECV) & direction,
                extmap.attributes))
        return result

    def _apply_sdes_answer(self, stream: _Stream, theirs: MediaDescription
                           ) -> tuple[_Stream, SdesSrtp]:
        answered = theirs.crypto
        if len(answered) != 1:
            raise _Rejection(f"an SDES answer carries exactly one a=crypto, this one "
                             f"{len(answered)} (RFC 4568 §5.1.2)", _WARN_ATTRIBUTE)
        chosen = answered[0]
        ours = next((c for c in stream.sdes_offered if c.tag == chosen.tag), None)
        if ours is None or ours.suite != chosen.suite or chosen.profile is None:
            raise _Rejection(f"a=crypto tag {chosen.tag} {chosen.suite} does not match an "
                             "offered one (RFC 4568 §5.1.3)", _WARN_ATTRIBUTE)
        if len(chosen.keys) != 1 or not isinstance(chosen.keys[0], InlineKey):
            raise _Rejection("the answer's a=crypto has several keys or a non-inline key",
                             _WARN_ATTRIBUTE)
        profile = chosen.profile
        stream = dataclasses.replace(stream, sdes_local=ours, sdes_remote=chosen)
        return stream, SdesSrtp(profile, chosen.tag, _srtp_key(profile, ours),
                                _srtp_key(profile, chosen))

    def _apply_dtls_answer(self, stream: _Stream, answer: SessionDescription,
                           theirs: MediaDescription) -> tuple[_Stream, DtlsSrtp]:
        setup = answer.setup_of(theirs) or Setup.ACTIVE  # RFC 4145 §4 default
        if setup not in (Setup.ACTIVE, Setup.PASSIVE):
            raise _Rejection(f"an answer's setup must be active or passive, not "
                             f"{setup.value} (RFC 5763 §5)", _WARN_ATTRIBUTE)
        role = DtlsRole.opposite_of(setup)
        fingerprints = answer.fingerprints_of(theirs)
        usable = _usable_fingerprints(fingerprints)
        if not usable:
            raise _Rejection("no a=fingerprint with a hash sipperc can check (RFC 8122 §5)",
                             _WARN_ATTRIBUTE)
        marker = theirs.perc
        # PERC needs the other role on the other side (an endpoint answering an endpoint is
        # only doing DTLS-SRTP).
        perc = (stream.mechanism is SecurityMechanism.PERC and marker is not None
                and marker.role != self.perc_role)
        if stream.mechanism is SecurityMechanism.PERC and not perc and \
                SecurityMechanism.DTLS_SRTP not in self.security.accept:
            raise _Rejection(f"PERC is required but the answer has no a={PERC_ATTRIBUTE} "
                             "marker", _WARN_TRANSPORT)
        if perc and self.perc_role is PercRole.ENDPOINT and role is not DtlsRole.CLIENT:
            raise _Rejection("a PERC focus must answer setup:passive so that the endpoint is "
                             "the DTLS client (perc.md §6)", _WARN_ATTRIBUTE)
        if perc and self.perc_role is PercRole.FOCUS and role is not DtlsRole.SERVER:
            raise _Rejection("a PERC endpoint must answer setup:active (perc.md §6)",
                             _WARN_ATTRIBUTE)
        connection = answer.connection_for(theirs)
        endpoint = (connection.address if connection else "", theirs.port)
        new_association = (stream.dtls_role is not role or
                           self._dtls_changed(answer, theirs, stream))
        tls_id = stream.tls_id
        assert tls_id is not None
        stream = dataclasses.replace(
            stream, dtls_role=role, remote_tls_id=theirs.tls_id,
            remote_fingerprints=fingerprints, remote_endpoint=endpoint)
        remote_role = marker.role if marker and isinstance(marker.role, PercRole) else None
        return stream, DtlsSrtp(
            role, usable, tls_id, theirs.tls_id, new_association,
            self.security.perc_profiles if perc else self.security.dtls_profiles,
            perc, remote_role if perc else None)


def _assign_payload_types(codecs: Sequence[Codec], *fixed: Iterable[tuple[Codec, int]]
                          ) -> tuple[tuple[Codec, int], ...]:
    """A payload type for each codec, numbers already agreed first.

    Then the codec's own number (static or preferred), then the lowest free dynamic one
    (RFC 3551 §3).
    """
    chosen: dict[int, int] = {}  # codec position -> payload type
    used: set[int] = set()
    for pairs in fixed:
        for codec, payload_type in pairs:
            for position, candidate in enumerate(codecs):
                if candidate == codec and position not in chosen and payload_type not in used:
                    chosen[position] = payload_type
                    used.add(payload_type)
    for position, codec in enumerate(codecs):
        if position not in chosen and codec.payload_type is not None and \
                codec.payload_type not in used:
            chosen[position] = codec.payload_type
            used.add(codec.payload_type)
    free = (pt for pt in range(96, 128) if pt not in used)
    for position in range(len(codecs)):
        if position not in chosen:
            dynamic = next(free, None)
            if dynamic is None:
                raise ValueError("more dynamic codecs than payload types 96-127")
            chosen[position] = dynamic
    return tuple((codec, chosen[position]) for position, codec in enumerate(codecs))


def _carries_media(codecs: Sequence[Codec]) -> bool:
    # A stream needs a media codec; telephone-event alone is a DTMF stream (RFC 4317 §2.4),
    # but comfort noise or redundancy alone carries nothing.
    return any(not c.auxiliary or c.name.lower() == "telephone-event" for c in codecs)


def _usable_fingerprints(fingerprints: Iterable[Fingerprint]) -> tuple[Fingerprint, ...]:
    # RFC 8122 §5: check against the strongest hash function we support.
    usable = [f for f in fingerprints if f.supported]
    return tuple(sorted(usable, key=lambda f: -f.strength))


def _srtp_key(profile: Profile, crypto: Crypto) -> SrtpKey:
    key = crypto.keys[0]
    assert isinstance(key, InlineKey)
    master_key, master_salt = key.split(profile)
    mki = None
    if key.mki is not None and key.mki_length is not None:
        mki = key.mki.to_bytes(key.mki_length, "big")
    return SrtpKey(profile, master_key, master_salt, mki, key.lifetime)


__all__ = [
    "TRANSITIONS",
    "Answer",
    "AnswerRefused",
    "MediaCapabilities",
    "NegotiatedExtension",
    "NegotiatedSession",
    "NegotiatedStream",
    "OfferAnswer",
    "OfferAnswerInput",
    "OfferAnswerState",
    "OfferAnswerStateError",
    "OfferRefused",
    "TransportAddress",
    "TransportAllocator",
]
