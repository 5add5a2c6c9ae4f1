"""The checks behind ``sipperc demo``'s verdict, on what the run recorded.

Each check takes plain records of the run (who was in the room when, which EKT keys each
participant installed, the rekeys the Key Distributor logged, the rosters the focus sent, the
recordings, the secrets the participants held) and adds one line of :class:`Verdict` with the
details a user reads: whether it holds, and why not. Nothing here runs the conference, so each
check is tested on records made up to pass or to fail (tests/apps/test_demo_verdict.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sipperc.apps.leak_search import search_memory, search_text
from sipperc.media.pcm import Pcm
from sipperc.media.resample import Resampler
from sipperc.media.voice_match import LoopedVoice
from sipperc.media.wav_file import read_wav

MATCH_RATE = 8000
"""Voices are recognised at telephone bandwidth: every codec keeps it, and it is quick."""
MATCH_THRESHOLD = 0.7
"""A recording scores at least this against its speaker's voice (Opus and G.711: about 0.95)."""
MATCH_MARGIN = 0.2
"""... and beats every other voice by this much (different voices score about 0.3)."""


@dataclass(frozen=True, slots=True)
class Presence:
    """One participant's part in the run: when it was in the room, and the keys it installed.

    ``refused`` is why the conference turned it away (then it never joined).
    """

    name: str
    joined_at: float | None
    left_at: float | None
    refused: str | None = None
    spis: tuple[int, ...] = ()

    def met(self, other: Presence) -> bool:
        """Whether the two were ever in the room together.

        Also True when one of them never got in: they were meant to meet, so the check that
        expects it fails.
        """
        if self.joined_at is None or other.joined_at is None:
            return True
        end = self.left_at if self.left_at is not None else float("inf")
        other_end = other.left_at if other.left_at is not None else float("inf")
        return max(self.joined_at, other.joined_at) < min(end, other_end)

    def present_at(self, when: float) -> bool:
        """In the room at ``when``."""
        return (self.joined_at is not None and self.joined_at <= when
                and (self.left_at is None or self.left_at > when))


@dataclass(frozen=True, slots=True)
class Hearing:
    """What one participant's recording of another is, by voice."""

    listener: str
    speaker: str
    score: float
    """Match against the speaker's own voice (0: nothing recorded)."""
    best_other: tuple[str, float] | None
    """The best-matching other voice, if any recording exists."""

    @property
    def holds(self) -> bool:
        """Decrypted, decoded, and the speaker's voice rather than anyone else's."""
        other = self.best_other[1] if self.best_other is not None else 0.0
        return self.score >= MATCH_THRESHOLD and self.score - other >= MATCH_MARGIN


@dataclass(frozen=True, slots=True)
class Rekey:
    """A new EKT key the Key Distributor reported in its log."""

    at: float
    spi: int
    why: str
    recipients: int


@dataclass(slots=True)
class Verdict:
    """Every check of the run, each with the lines that explain it."""

    checks: list[tuple[str, bool, list[str]]] = field(default_factory=list)

    def add(self, name: str, holds: bool, lines: list[str]) -> None:
        """Record one check."""
        self.checks.append((name, holds, lines))

    @property
    def holds(self) -> bool:
        """True if there are checks and every one holds."""
        return bool(self.checks) and all(holds for _, holds, _ in self.checks)

    def as_json(self) -> dict[str, Any]:
        """For ``verdict.json``."""
        return {"holds": self.holds,
                "checks": [{"check": name, "holds": holds, "details": lines}
                           for name, holds, lines in self.checks]}

    def write(self, out: TextIO) -> None:
        """The verdict as the demo prints it: one block per check, then PASS or FAIL."""
        out.write("\nverdict:\n")
        for name, holds, lines in self.checks:
            first, *rest = lines or [""]
            out.write(f"  [{'ok  ' if holds else 'FAIL'}] {name:<8} {first}\n")
            for line in rest:
                out.write(f"         {'':<8}   {line}\n")
        out.write("PASS: PERC kept its promise\n" if self.holds else
                  "FAIL: see the checks marked FAIL above\n")


def at_match_rate(path: Path) -> Pcm:
    """A WAV file's samples at :data:`MATCH_RATE`."""
    pcm, rate = read_wav(path)
    return Resampler(rate, MATCH_RATE).process(pcm) if rate != MATCH_RATE else pcm


def check_audio(verdict: Verdict, presences: Sequence[Presence], voices: Mapping[str, Path],
                heard: Path) -> None:
    """Every participant recorded every other one it met, in that one's voice.

    ``voices`` are the files each participant played; ``heard/LISTENER/from-SPEAKER.wav`` the
    recordings. Every recording is scored against every voice: its speaker's must match
    (:data:`MATCH_THRESHOLD`) and beat all others (:data:`MATCH_MARGIN`).
    """
    looped = {name: LoopedVoice(at_match_rate(path), MATCH_RATE)
              for name, path in voices.items()}
    hearings: list[Hearing] = []
    lines: list[str] = []
    for listener in presences:
        heard_here = []
        for speaker in presences:
            if speaker is listener or not listener.met(speaker):
                continue
            hearing = _hearing(listener.name, speaker.name, looped,
                               heard / listener.name / f"from-{speaker.name}.wav")
            hearings.append(hearing)
            heard_here.append(f"{speaker.name} {hearing.score:.2f}"
                              + ("" if hearing.holds else " (FAILED)"))
        lines.append(f"{listener.name} heard " + (", ".join(heard_here) or "nobody")
                     + (f" [refused: {listener.refused}]" if listener.refused else ""))
    missing = [p.name for p in presences if p.joined_at is None]
    good = sum(h.holds for h in hearings)
    holds = bool(hearings) and good == len(hearings) and not missing
    verdict.add("audio", holds, [
        f"{good} of {len(hearings)} streams decrypted, decoded and recognised as their "
        f"speaker's voice (correlation >= {MATCH_THRESHOLD}, ahead of every other voice by "
        f">= {MATCH_MARGIN})"
        + (f"; never in the room: {', '.join(missing)}" if missing else ""), *lines])


def _hearing(listener: str, speaker: str, voices: Mapping[str, LoopedVoice],
             path: Path) -> Hearing:
    if not path.exists():
        return Hearing(listener, speaker, 0.0, None)
    recording = at_match_rate(path)
    others = [(name, voice.match(recording)) for name, voice in voices.items()
              if name != speaker]
    return Hearing(listener, speaker, voices[speaker].match(recording),
                   max(others, key=lambda other: other[1]) if others else None)


def check_rekeys(verdict: Verdict, presences: Sequence[Presence], rekeys: Sequence[Rekey],
                 leaver: str, newcomer: str) -> None:
    """The leave and the join each made a new EKT key (RFC 8871 §4.5.2).

    Everyone then in the room installed it; the one who had left never got it.
    """
    by_name = {p.name: p for p in presences}
    gone = by_name[leaver]
    lines: list[str] = []
    holds = True
    for what, name, when in (("leave", leaver, gone.left_at),
                             ("join", newcomer, by_name[newcomer].joined_at)):
        rekey = next((r for r in rekeys if r.why == what and when is not None
                      and r.at >= when - 0.5), None)
        if rekey is None:
            holds = False
            lines.append(f"{what} of {name}: no new EKT key for it")
            continue
        present = [p for p in presences if p is not gone and p.present_at(rekey.at)]
        lacking = [p.name for p in present if rekey.spi not in p.spis]
        leaked = rekey.spi in gone.spis
        holds = holds and bool(present) and not lacking and not leaked
        lines.append(f"{what} of {name}: new EKT key SPI {rekey.spi}, installed by "
                     f"{len(present) - len(lacking)} of {len(present)} in the room"
                     + (f" (not {', '.join(lacking)})" if lacking else "")
                     + (f"; {leaver} (gone) got it too!" if leaked else
                        f"; {leaver} (gone) never got it"))
    verdict.add("rekey", holds, lines)


def check_roster(verdict: Verdict, rosters: Sequence[tuple[str, ...]], *,
                 watcher: str | None, in_the_room: tuple[str, ...], leaver: str,
                 newcomer: str) -> None:
    """The roster the focus NOTIFYed (RFC 4575) showed the leaver, then not.

    At the end it names exactly who is in the room (display names, sorted).
    """
    final = rosters[-1] if rosters else ()
    seen_leaver = any(leaver in roster for roster in rosters)
    holds = (watcher is not None and final == in_the_room and seen_leaver
             and leaver not in final and newcomer in final)
    verdict.add("roster", holds, [
        f"{watcher or 'nobody'}'s RFC 4575 roster at the end: {', '.join(final) or '-'}; "
        f"in the room: {', '.join(in_the_room) or '-'}; {len(rosters)} versions seen, "
        f"{leaver} " + ("in one, then gone" if seen_leaver else "never")])


def check_secrets(verdict: Verdict, needles: Mapping[str, bytes],
                  processes: Mapping[str, int], files: Mapping[str, Path]) -> None:
    """None of the run's end-to-end secrets is in these processes' memory nor in these files.

    A process whose memory cannot be read here is reported, not counted as clean or dirty;
    a file that does not exist is skipped.
    """
    lines = []
    holds = bool(needles)
    for what, pid in processes.items():
        try:
            in_memory, searched = search_memory(pid, needles)
        except (PermissionError, ProcessLookupError, FileNotFoundError) as error:
            lines.append(f"{what} memory: not searchable here ({error})")
            continue
        holds = holds and not in_memory
        lines.append(f"{what} memory: {searched / 1e6:.0f} MB searched, "
                     + (f"FOUND {', '.join(sorted(in_memory))}" if in_memory else "none found"))
    for what, path in files.items():
        if not path.exists():
            continue
        found = search_text(path, needles)
        holds = holds and not found
        lines.append(f"{what} ({path.stat().st_size / 1e3:.0f} kB): "
                     + (f"FOUND {', '.join(sorted(found))}" if found else "none found"))
    verdict.add("keys", holds, [
        f"{len(needles)} end-to-end secrets of the run (EKT keys, shared salts, media keys, "
        f"session keys, DTLS inner halves) searched for, raw, hex and base64:", *lines])


def check_exits(verdict: Verdict, statuses: Sequence[tuple[str, int | None]]) -> None:
    """Every server exited with status 0 when told to stop."""
    holds = bool(statuses) and all(status == 0 for _, status in statuses)
    verdict.add("servers", holds, [", ".join(f"{name} exited with {status}"
                                             for name, status in statuses)])


__all__ = ["MATCH_MARGIN", "MATCH_RATE", "MATCH_THRESHOLD", "Hearing", "Presence", "Rekey",
           "Verdict", "at_match_rate", "check_audio", "check_exits", "check_rekeys",
           "check_roster", "check_secrets"]
