"""The Media Distributor's switching core: who hears whom, and how each forwarded copy is rewritten.

A sans-I/O object with no cryptography in it. The Media Distributor's edge outer-decrypts each
packet with the sender's hop-by-hop key, hands :meth:`MediaSwitch.receive_rtp` the header
fields that matter here (:class:`RtpPacketInfo`), and gets back one :class:`Forward` per
receiver: the SEQ, PT and M to put in that receiver's copy. It then records the original
values in the Original Header Block and outer-encrypts with that receiver's key (RFC 8723
§5.2). A :class:`Forward` has no SSRC or timestamp field: RFC 8723 §4 lets a Media
Distributor change PT, SEQ and M only, so this core cannot even express another rewrite.

Selection (last-N): the ``last_n`` loudest participants (default 3) are forwarded to everyone
else, judged from the RFC 6464 audio level header extension. Loudness is a smoothed average
of ``127 - level`` (dB above -127 dBov). For ``hangover`` seconds after it last spoke, a
selected speaker is protected by how loud it was when speaking; a challenger takes the slot of
the weakest selected speaker only after being ``switch_margin_db`` louder than that (or the slot
holder having been silent past its hangover) for ``switch_delay`` seconds in a row. A free slot
is filled at once. This hysteresis keeps the
selection from flapping on coughs and overlapping speech.

Rewriting (RFC 8723 §5.2, RFC 7667 §3.7): each (receiver, source SSRC) pair is forwarded in
runs. Within a run the SEQ keeps a fixed offset from the original, so real loss still shows as a
gap; when a run starts again after a pause, the offset is chosen so the receiver's SEQ continues
from the last one it got: every forwarded stream is gap-free across switching, also across the
16-bit wrap. The first run keeps the original SEQ (nothing to record in the OHB). Packets older
than the start of their run are dropped (they belong to the pause). An audio run starts with M
set (start of a talkspurt, RFC 3551 §4.1); a video run cannot, since M ends a frame, so a
:class:`KeyframeNeeded` event asks the edge to send the source a PLI instead. PT is mapped per
receiver when its SDP numbered a codec differently.

A participant never receives its own media. A packet whose SSRC belongs to another participant
is dropped (:class:`SsrcConflict`). No RTP or RTCP from a participant for ``silence_timeout``
seconds yields :class:`EndpointSilent`, which the Media Distributor turns into an
EndpointDisconnect to the Key Distributor (RFC 9185 §5.3 "SHOULD take a loss of all RTP and
RTCP packets as an indicator").
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from sipperc.rtp import AudioLevel, RtpError, RtpPacket, find_audio_level

SEQ_MODULO = 1 << 16
_HALF = SEQ_MODULO // 2
SILENCE_LEVEL = 127
"""RFC 6464: levels are 0 (0 dBov, loudest) to 127 (-127 dBov, silence)."""


class MediaKind(enum.Enum):
    """What a stream carries; it decides how a resumed stream is marked (M bit or PLI)."""

    AUDIO = "audio"
    VIDEO = "video"


class UnknownParticipantError(LookupError):
    """A participant that is not (or no longer) in the conference was named."""


@dataclass(slots=True)
class RtpPacketInfo:
    """The header fields of one received (outer-decrypted) RTP packet that switching uses.

    ``audio_level`` and ``voice_activity`` come from the RFC 6464 header extension;
    ``voice_activity`` is None when the extension was negotiated with ``vad=off`` (the V bit
    then means nothing) or is absent, and speech is then judged from the level.

    Not frozen, unlike the other values here: a Media Distributor builds one for every packet,
    and a frozen dataclass takes 1.2 us to build where this takes 0.4 us (CPython 3.11).
    """

    ssrc: int
    sequence_number: int
    payload_type: int
    marker: bool
    kind: MediaKind
    size: int
    audio_level: int | None = None
    voice_activity: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.ssrc < 1 << 32:
            raise ValueError(f"ssrc {self.ssrc} is not a 32-bit value")
        if not 0 <= self.sequence_number < SEQ_MODULO:
            raise ValueError(f"sequence_number {self.sequence_number} is not a 16-bit value")
        if not 0 <= self.payload_type < 128:
            raise ValueError(f"payload_type {self.payload_type} is not a 7-bit value")
        if self.audio_level is not None and not 0 <= self.audio_level <= SILENCE_LEVEL:
            raise ValueError(f"audio_level {self.audio_level} is not an RFC 6464 level (0-127)")

    @classmethod
    def from_rtp(cls, packet: RtpPacket, kind: MediaKind, size: int,
                 audio_level_id: int | None = None, vad: bool = True) -> RtpPacketInfo:
        """The switching view of a parsed packet.

        ``audio_level_id`` is the ``a=extmap`` id negotiated for RFC 6464 (None: not
        negotiated); ``vad`` is False when it was negotiated with ``vad=off``. A malformed
        audio level element counts as no level: one bad extension must not stop forwarding.
        """
        level: AudioLevel | None = None
        if audio_level_id is not None and kind is MediaKind.AUDIO:
            try:
                level = find_audio_level(packet, audio_level_id)
            except RtpError:
                level = None
        return cls(packet.ssrc, packet.sequence_number, packet.payload_type, packet.marker,
                   kind, size, None if level is None else level.level,
                   level.voice_activity if level is not None and vad else None)


class Forward(NamedTuple):
    """One copy of a packet for one receiver, with the only fields RFC 8723 lets us change.

    A named tuple rather than a frozen dataclass: one is made per receiver per packet, and a
    tuple is several times cheaper to build; it is just as immutable.
    """

    receiver: str
    sequence_number: int
    payload_type: int
    marker: bool


_new_forward = tuple.__new__
"""``_new_forward(Forward, (receiver, seq, pt, marker))`` builds a Forward without the Python
frame of its ``__new__`` (a third of a microsecond per copy)."""


@dataclass(frozen=True, slots=True)
class SpeakersChanged:
    """The set of forwarded participants changed."""

    selected: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TalkingChanged:
    """``participant`` started or stopped talking, with the selection's hysteresis.

    Talking starts after ``switch_delay`` seconds of speech (gaps up to ``max_packet_gap``)
    and stops ``hangover`` seconds after the last speech, so a roster that shows it (RFC 4575
    through the focus) does not flicker with every syllable.
    """

    participant: str
    talking: bool


@dataclass(frozen=True, slots=True)
class KeyframeNeeded:
    """A video stream starts (again) towards ``receiver``: ask its source for a keyframe (PLI)."""

    source: str
    ssrc: int
    receiver: str


@dataclass(frozen=True, slots=True)
class SsrcConflict:
    """A packet came from ``participant`` with an SSRC that ``owner`` already uses: dropped."""

    participant: str
    ssrc: int
    owner: str


@dataclass(frozen=True, slots=True)
class EndpointSilent:
    """No RTP or RTCP from ``participant`` for ``silent_for`` seconds: it is presumed gone."""

    participant: str
    silent_for: float


SwitchEvent = SpeakersChanged | TalkingChanged | KeyframeNeeded | SsrcConflict | EndpointSilent


@dataclass(frozen=True, slots=True)
class Routing:
    """What to do with one received packet: the copies to send, and what happened."""

    forwards: tuple[Forward, ...] = ()
    events: tuple[SwitchEvent, ...] = ()


_NOWHERE = Routing()
"""The routing of most packets (those of participants not forwarded): made once (speed)."""


@dataclass(frozen=True, slots=True)
class SwitchingConfig:
    """Tuning of selection and loss detection; the defaults suit speech conferences."""

    last_n: int = 3
    hangover: float = 1.5
    switch_margin_db: float = 6.0
    switch_delay: float = 0.3
    speech_level: int = 50
    smoothing: float = 0.3
    silence_timeout: float = 15.0
    check_interval: float = 1.0
    max_packet_gap: float = 0.2
    """A challenger whose packets stop for longer than this starts its challenge over."""

    def __post_init__(self) -> None:
        if self.last_n < 1:
            raise ValueError("last_n must be at least 1")
        if not 0 <= self.speech_level <= SILENCE_LEVEL:
            raise ValueError("speech_level is an RFC 6464 level from 0 to 127")
        for name in ("hangover", "switch_margin_db", "switch_delay", "max_packet_gap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("smoothing", "silence_timeout", "check_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class StreamStatistics:
    """One received stream (SSRC) of a participant."""

    ssrc: int
    kind: MediaKind
    packets_received: int
    bytes_received: int
    packets_lost: int
    copies_forwarded: int


@dataclass(frozen=True, slots=True)
class ParticipantStatistics:
    """One participant, as sender and as receiver."""

    participant: str
    streams: tuple[StreamStatistics, ...]
    packets_received: int
    bytes_received: int
    packets_not_forwarded: int
    packets_sent: int
    bytes_sent: int
    selected: bool
    speaking: bool
    audio_level: int | None
    last_heard: float


@dataclass(frozen=True, slots=True)
class ConferenceStatistics:
    """The whole conference, as one Media Distributor sees it."""

    participants: int
    selected: tuple[str, ...]
    speaker_changes: int
    packets_received: int
    bytes_received: int
    copies_forwarded: int
    bytes_forwarded: int
    packets_dropped: int


@dataclass(slots=True)
class _Outbound:
    """One source SSRC as forwarded to one receiver."""

    offset: int = 0
    in_run: bool = False
    run_first_seq: int = 0
    highest_out: int | None = None


@dataclass(slots=True)
class _Stream:
    ssrc: int
    kind: MediaKind
    packets: int = 0
    octets: int = 0
    copies: int = 0
    base_seq: int = -1
    highest_seq: int = -1  # extended with the number of wraps (RFC 3550 A.1)
    fanout: list[tuple[_Participant, _Outbound]] | None = None
    """Every other participant with its state for this stream, until the roster changes:
    the per-copy loop then finds both without building a key per receiver (speed)."""


@dataclass(slots=True)
class _Participant:
    name: str
    joined: float
    last_heard: float
    payload_types: dict[int, int] = field(default_factory=dict)
    streams: dict[int, _Stream] = field(default_factory=dict)
    score: float = 0.0
    score_time: float | None = None
    last_level: int | None = None
    last_speech: float | None = None
    speech_score: float = 0.0
    challenge_since: float | None = None
    challenge_last: float = 0.0
    talking: bool = False
    talk_since: float | None = None
    silent_reported: bool = False
    packets_in: int = 0
    octets_in: int = 0
    not_forwarded: int = 0
    packets_out: int = 0
    octets_out: int = 0

    def loudness(self, now: float, tau: float, grace: float) -> float:
        """The smoothed loudness, decaying to silence after ``grace`` seconds without a level.

        A sender in DTX sends nothing while it is quiet.
        """
        if self.score_time is None:
            return 0.0
        idle = now - self.score_time - grace
        return self.score if idle <= 0 else self.score * math.exp(-idle / tau)

    def speaking(self, now: float, hangover: float) -> bool:
        return self.last_speech is not None and now - self.last_speech < hangover


class MediaSwitch:
    """The forwarding decisions of one conference on one Media Distributor.

    Call :meth:`add_participant` when an endpoint's hop-by-hop keys are installed, feed every
    received RTP packet to :meth:`receive_rtp` and note RTCP with :meth:`receive_rtcp`; call
    :meth:`handle_timer` at :meth:`get_timer`.
    """

    def __init__(self, config: SwitchingConfig | None = None) -> None:
        self.config = config or SwitchingConfig()
        self._participants: dict[str, _Participant] = {}
        self._owners: dict[int, str] = {}
        self._outbound: dict[tuple[str, int], _Outbound] = {}
        self._selected: list[str] = []
        self._next_check: float | None = None
        self._speaker_changes = 0
        self._dropped = 0

    # -- roster ---------------------------------------------------------------------------------

    def add_participant(self, participant: str, now: float,
                        payload_types: Mapping[int, int] | None = None) -> None:
        """A participant joined; ``payload_types`` maps senders' PTs to the ones it expects."""
        if participant in self._participants:
            raise ValueError(f"participant {participant!r} is already in the conference")
        self._participants[participant] = _Participant(participant, now, now,
                                                       dict(payload_types or {}))
        self._roster_changed()
        if self._next_check is None:
            self._next_check = now + self.config.check_interval

    def set_payload_types(self, receiver: str, payload_types: Mapping[int, int]) -> None:
        """Replace a receiver's PT mapping (after a re-INVITE renumbered its codecs)."""
        self._require(receiver).payload_types = dict(payload_types)

    def remove_participant(self, participant: str, now: float) -> list[SwitchEvent]:
        """A participant left; its slot, if any, goes to the loudest other speaker."""
        gone = self._participants.pop(participant, None)
        if gone is None:
            return []
        for ssrc in gone.streams:
            self._owners.pop(ssrc, None)
        self._outbound = {key: value for key, value in self._outbound.items()
                          if key[0] != participant and key[1] not in gone.streams}
        self._roster_changed()
        if not self._participants:
            self._next_check = None
        events: list[SwitchEvent] = [TalkingChanged(participant, False)] if gone.talking else []
        if participant not in self._selected:
            return events
        before = tuple(self._selected)
        self._selected.remove(participant)
        self._fill_free_slots(now)
        return [*events, self._changed(before)]

    @property
    def participants(self) -> tuple[str, ...]:
        """Everyone in the conference, in joining order."""
        return tuple(self._participants)

    @property
    def selected(self) -> tuple[str, ...]:
        """The participants currently forwarded to everyone else."""
        return tuple(self._selected)

    # -- packets --------------------------------------------------------------------------------

    def receive_rtp(self, now: float, participant: str, packet: RtpPacketInfo) -> Routing:
        """Decide where one received RTP packet goes and how each copy is rewritten."""
        sender = self._require(participant)
        owner = self._owners.setdefault(packet.ssrc, participant)
        if owner != participant:
            self._dropped += 1
            return Routing(events=(SsrcConflict(participant, packet.ssrc, owner),))
        sender.last_heard = now
        sender.silent_reported = False
        sender.packets_in += 1
        sender.octets_in += packet.size
        stream = sender.streams.get(packet.ssrc)
        if stream is None:
            stream = sender.streams[packet.ssrc] = _Stream(packet.ssrc, packet.kind)
        _count(stream, packet)

        events: list[SwitchEvent] = []
        if packet.kind is MediaKind.AUDIO:
            self._hear(now, sender, packet, events)
        if participant not in self._selected:
            sender.not_forwarded += 1
            self._dropped += 1
            return Routing(events=tuple(events)) if events else _NOWHERE

        fanout = stream.fanout
        if fanout is None:
            fanout = stream.fanout = self._fanout(sender, packet.ssrc)
        # The hot loop (one pass per receiver per packet): RFC 8723 §5.2 rewriting, inline.
        forwards: list[Forward] = []
        seq = packet.sequence_number
        payload_type = packet.payload_type
        size = packet.size
        new_forward = _new_forward
        for receiver, outbound in fanout:
            marker = packet.marker
            if not outbound.in_run:
                marker = self._start_run(outbound, receiver, sender, packet, events)
            elif (seq - outbound.run_first_seq) % SEQ_MODULO >= _HALF:
                continue  # older than its run: sent during the pause, never forwarded
            out = (seq + outbound.offset) % SEQ_MODULO
            highest = outbound.highest_out
            if highest is None or (out - highest) % SEQ_MODULO < _HALF:
                outbound.highest_out = out
            types = receiver.payload_types
            forwards.append(new_forward(Forward, (
                receiver.name, out, types.get(payload_type, payload_type) if types
                else payload_type, marker)))
            receiver.packets_out += 1
            receiver.octets_out += size
        stream.copies += len(forwards)
        return Routing(tuple(forwards), tuple(events))

    def receive_rtcp(self, now: float, participant: str) -> None:
        """Any RTCP from a participant shows it is still there."""
        sender = self._require(participant)
        sender.last_heard = now
        sender.silent_reported = False

    def original_sequence(self, receiver: str, ssrc: int, sequence_number: int) -> int | None:
        """The sender's SEQ of the packet ``receiver`` got as ``sequence_number`` from ``ssrc``.

        What a Generic NACK (RFC 4585 §6.2.1) from a receiver must be translated to before it
        goes to the sender; None if that stream was never forwarded to the receiver.
        """
        outbound = self._outbound.get((receiver, ssrc))
        if outbound is None or outbound.highest_out is None:
            return None
        return (sequence_number - outbound.offset) % SEQ_MODULO

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next run (None with nobody in the conference)."""
        return self._next_check

    def handle_timer(self, now: float) -> list[SwitchEvent]:
        """Report silent endpoints and talkers who stopped.

        An endpoint from which nothing arrived for ``silence_timeout`` is reported once
        (:class:`EndpointSilent`); a talker without speech for ``hangover`` stops talking
        (:class:`TalkingChanged`, within ``check_interval`` of it).
        """
        if self._next_check is None or now < self._next_check:
            return []
        self._next_check = now + self.config.check_interval
        events: list[SwitchEvent] = []
        timeout = self.config.silence_timeout
        for participant in self._participants.values():
            if participant.talking and not participant.speaking(now, self.config.hangover):
                participant.talking = False
                events.append(TalkingChanged(participant.name, False))
            silent_for = now - participant.last_heard
            if silent_for >= timeout and not participant.silent_reported:
                participant.silent_reported = True
                events.append(EndpointSilent(participant.name, silent_for))
        return events

    # -- statistics -----------------------------------------------------------------------------

    def participant_statistics(self, participant: str, now: float) -> ParticipantStatistics:
        """Counters and state of one participant."""
        p = self._require(participant)
        streams = tuple(
            StreamStatistics(s.ssrc, s.kind, s.packets, s.octets,
                             max(s.highest_seq - s.base_seq + 1 - s.packets, 0), s.copies)
            for s in p.streams.values())
        speaking = p.speaking(now, self.config.hangover)
        return ParticipantStatistics(
            participant, streams, p.packets_in, p.octets_in, p.not_forwarded, p.packets_out,
            p.octets_out, participant in self._selected, speaking, p.last_level, p.last_heard)

    def statistics(self) -> ConferenceStatistics:
        """Counters of the whole conference."""
        people = self._participants.values()
        return ConferenceStatistics(
            participants=len(self._participants),
            selected=tuple(self._selected),
            speaker_changes=self._speaker_changes,
            packets_received=sum(p.packets_in for p in people),
            bytes_received=sum(p.octets_in for p in people),
            copies_forwarded=sum(p.packets_out for p in people),
            bytes_forwarded=sum(p.octets_out for p in people),
            packets_dropped=self._dropped,
        )

    # -- selection ------------------------------------------------------------------------------

    def _hear(self, now: float, sender: _Participant, packet: RtpPacketInfo,
              events: list[SwitchEvent]) -> None:
        """Update the sender's loudness from one audio packet, then the selection."""
        config = self.config
        level = packet.audio_level
        if level is None:
            speech = False
        else:
            speech = (packet.voice_activity if packet.voice_activity is not None
                      else level <= config.speech_level)
            sample = float(SILENCE_LEVEL - level)
            if sender.score_time is None:
                sender.score = sample
            else:
                previous = self._loudness(sender, now)
                alpha = 1.0 - math.exp(-max(now - sender.score_time, 0.0) / config.smoothing)
                sender.score = previous + alpha * (sample - previous)
            sender.score_time = now
            sender.last_level = level
        if speech:
            if not sender.talking:
                self._start_talking(now, sender, events)
            sender.last_speech = now
            sender.speech_score = sender.score
        before = tuple(self._selected)
        if sender.name in self._selected:
            sender.challenge_since = None
        elif len(self._selected) < min(config.last_n, len(self._participants)):
            if speech or level is None:
                self._selected.append(sender.name)
        elif speech:
            self._challenge(now, sender)
        else:
            sender.challenge_since = None
        if tuple(self._selected) != before:
            events.append(self._changed(before))

    def _start_talking(self, now: float, sender: _Participant,
                       events: list[SwitchEvent]) -> None:
        """Speech from a participant not yet talking: talking once it lasted switch_delay."""
        config = self.config
        if sender.talk_since is None or sender.last_speech is None \
                or now - sender.last_speech > config.max_packet_gap:
            sender.talk_since = now
        if now - sender.talk_since >= config.switch_delay:
            sender.talking = True
            sender.talk_since = None
            events.append(TalkingChanged(sender.name, True))

    def _challenge(self, now: float, challenger: _Participant) -> None:
        """A speaking, unselected participant tries to take the weakest selected slot."""
        config = self.config
        weakest = min(self._selected, key=lambda name: self._hold(now, name))
        hold = self._hold(now, weakest)
        if self._loudness(challenger, now) <= hold:
            challenger.challenge_since = None
            return
        if (challenger.challenge_since is None
                or now - challenger.challenge_last > config.max_packet_gap):
            challenger.challenge_since = now
        challenger.challenge_last = now
        if now - challenger.challenge_since >= config.switch_delay:
            self._selected[self._selected.index(weakest)] = challenger.name
            challenger.challenge_since = None
            self._end_runs(weakest)

    def _hold(self, now: float, name: str) -> float:
        """How loud a challenger must be to take this selected participant's slot.

        Within its hangover a speaker is judged by how loud it was when it last spoke, so a
        breath between sentences does not cost it the slot.
        """
        holder = self._participants[name]
        if not holder.speaking(now, self.config.hangover):
            return -math.inf  # silent past its hangover: any speaker may take the slot
        return holder.speech_score + self.config.switch_margin_db

    def _fill_free_slots(self, now: float) -> None:
        wanted = min(self.config.last_n, len(self._participants))
        candidates = sorted(
            (p for p in self._participants.values()
             if p.name not in self._selected and p.speaking(now, self.config.hangover)),
            key=lambda p: self._loudness(p, now), reverse=True)
        for candidate in candidates[:max(wanted - len(self._selected), 0)]:
            self._selected.append(candidate.name)

    def _loudness(self, participant: _Participant, now: float) -> float:
        return participant.loudness(now, self.config.smoothing, self.config.max_packet_gap)

    def _changed(self, before: tuple[str, ...]) -> SpeakersChanged:
        self._speaker_changes += 1
        after = tuple(self._selected)
        return SpeakersChanged(after, tuple(n for n in after if n not in before),
                               tuple(n for n in before if n not in after))

    def _end_runs(self, participant: str) -> None:
        streams = self._participants[participant].streams
        for (_, ssrc), outbound in self._outbound.items():
            if ssrc in streams:
                outbound.in_run = False

    # -- rewriting ------------------------------------------------------------------------------

    def _fanout(self, sender: _Participant, ssrc: int) -> list[tuple[_Participant, _Outbound]]:
        """Everyone but the sender, each with its (possibly new) state for ``ssrc``."""
        outbound = self._outbound
        return [(receiver, outbound.setdefault((receiver.name, ssrc), _Outbound()))
                for receiver in self._participants.values() if receiver is not sender]

    def _roster_changed(self) -> None:
        for participant in self._participants.values():
            for stream in participant.streams.values():
                stream.fanout = None

    @staticmethod
    def _start_run(outbound: _Outbound, receiver: _Participant, sender: _Participant,
                   packet: RtpPacketInfo, events: list[SwitchEvent]) -> bool:
        """A new run: continue the receiver's SEQ where its last run of this stream ended.

        Returns the marker bit for the run's first copy.
        """
        seq = packet.sequence_number
        if outbound.highest_out is not None:
            outbound.offset = (outbound.highest_out + 1 - seq) % SEQ_MODULO
        outbound.in_run = True
        outbound.run_first_seq = seq
        if packet.kind is MediaKind.AUDIO:
            return True
        events.append(KeyframeNeeded(sender.name, packet.ssrc, receiver.name))
        return packet.marker

    def _require(self, participant: str) -> _Participant:
        found = self._participants.get(participant)
        if found is None:
            raise UnknownParticipantError(f"participant {participant!r} is not in the conference")
        return found


def _count(stream: _Stream, packet: RtpPacketInfo) -> None:
    """Count a packet and extend its SEQ past wraps, for loss statistics (RFC 3550 A.1)."""
    stream.packets += 1
    stream.octets += packet.size
    seq = packet.sequence_number
    if stream.highest_seq < 0:
        stream.base_seq = stream.highest_seq = seq
        return
    delta = (seq - stream.highest_seq) % SEQ_MODULO
    if 0 < delta < _HALF:
        stream.highest_seq += delta
