"""Searching an untrusted server's memory and log for the end-to-end secrets of a conference.

PERC's promise (RFC 8871 §3, §8) is that the Media Distributor and the call processing never
hold an end-to-end media key, nor the EKT key that carries them. The participants know every
secret they held (:meth:`sipperc.perc.participant.Participant.key_audit`, recorded only when
asked for); :func:`conference_secrets` lists them with what the media layer derives from them,
and :func:`search_memory` / :func:`search_text` look for each of them, raw or in any printable
form, in a running process's writable memory (``/proc/PID/mem``) and in a log file. The demo
and the proof tests run them against the Media Distributor after a whole rekeying conference.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from sipperc.perc.participant import ParticipantKeys
from sipperc.srtp.key_derivation import SessionKeys


def conference_secrets(held: Iterable[tuple[str, ParticipantKeys]]) -> dict[str, bytes]:
    """Every end-to-end secret the named participants held, labelled for a report.

    EKT keys and shared salts (RFC 8870 §5.2.2), the inner halves of the DTLS exports (RFC 8723
    §3: ours, never the Media Distributor's), each sender's media master keys, and the SRTP
    session encryption keys derived from them (RFC 3711 §4.3) with every shared salt.
    """
    found: dict[str, bytes] = {}
    for name, keys in held:
        for i, key in enumerate(keys.ekt_keys):
            found[f"{name} EKT key {i}"] = key
        for i, salt in enumerate(keys.shared_salts):
            found[f"{name} shared salt {i}"] = salt
        for i, half in enumerate(keys.dtls_inner_halves):
            found[f"{name} DTLS inner half {i}"] = half
        for i, key in enumerate(keys.sender_keys):
            found[f"{name} media key {i}"] = key
            for j, salt in enumerate(keys.shared_salts):
                derived = SessionKeys.derive(key, salt, rtcp=False, authentication_key_length=0)
                found[f"{name} media key {i} session key (salt {j})"] = derived.encryption_key
    return found


def readable_writable_regions(pid: int) -> list[tuple[int, int, str]]:
    """(start, end, name) of the process's readable, writable mappings: where data lives.

    Keys can only be in writable memory (heap, anonymous mappings, stacks, data sections);
    read-only code and files mapped read-only cannot hold what the process received.
    """
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        span, perms = parts[0], parts[1]
        name = parts[5] if len(parts) > 5 else ""
        if perms[0] != "r" or perms[1] != "w" or name in ("[vvar]", "[vsyscall]"):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        regions.append((start, end, name))
    return regions


def search_memory(pid: int, needles: Mapping[str, bytes]) -> tuple[dict[str, str], int]:
    """Which needles occur in the process's writable memory (and where), and bytes searched.

    Reading another process's memory needs ptrace rights over it: being root, or its parent
    (the Yama default). PermissionError comes out if neither holds.
    """
    search = MultiNeedleSearch(needles)
    found: dict[str, str] = {}
    searched = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for start, end, name in readable_writable_regions(pid):
            try:
                memory.seek(start)
                data = memory.read(end - start)
            except OSError:
                continue  # a mapping that went away or cannot be read (guard pages)
            searched += len(data)
            for label, offset in search.find(data, exclude=found.keys()).items():
                found[label] = f"{name or 'anonymous'} @ {start + offset:#x}"
    return found, searched


class MultiNeedleSearch:
    """Every needle at once, at any offset, in one pass over the data.

    Searching 200 secrets in 150 MB one by one reads 30 GB. Here numpy marks, for a whole
    chunk at a time, the offsets whose first two bytes start some needle (a table of 65536
    flags: about one offset in 300 for 200 needles), keeps those whose first four bytes do,
    and only those few are compared with the needles.
    """

    CHUNK = 1 << 24

    def __init__(self, needles: Mapping[str, bytes]) -> None:
        self._pairs = np.zeros(1 << 16, dtype=bool)
        self._by_prefix: dict[int, list[tuple[str, bytes]]] = {}
        self._short: dict[str, bytes] = {}
        for label, needle in needles.items():
            if len(needle) < 4:
                self._short[label] = needle
                continue
            self._pairs[int.from_bytes(needle[:2], "little")] = True
            prefix = int.from_bytes(needle[:4], "little")
            self._by_prefix.setdefault(prefix, []).append((label, needle))
        self._prefixes = np.array(sorted(self._by_prefix), dtype=np.uint32)

    def find(self, data: bytes, exclude: Iterable[str] = ()) -> dict[str, int]:
        """Offset of the first occurrence of each needle found in ``data``, by label."""
        skip = set(exclude)
        found = {label: data.find(needle) for label, needle in self._short.items()
                 if label not in skip and needle in data}
        if not self._by_prefix:
            return found
        octets = np.frombuffer(data, dtype=np.uint8)
        for start in range(0, max(len(octets) - 3, 0), self.CHUNK):
            chunk = octets[start:start + self.CHUNK + 3]
            candidates = []
            for parity in (0, 1):  # pairs starting at even, then odd offsets
                usable = (len(chunk) - parity) // 2 * 2
                pairs = chunk[parity:parity + usable].view("<u2")
                candidates.append(np.flatnonzero(self._pairs[pairs]) * 2 + parity)
            offsets = np.concatenate(candidates)
            offsets = offsets[offsets + 4 <= len(chunk)]
            if not len(offsets):
                continue
            words = (chunk[offsets].astype(np.uint32) | chunk[offsets + 1].astype(np.uint32) << 8
                     | chunk[offsets + 2].astype(np.uint32) << 16
                     | chunk[offsets + 3].astype(np.uint32) << 24)
            keep = np.isin(words, self._prefixes)
            for offset, word in zip(offsets[keep].tolist(), words[keep].tolist(), strict=True):
                for label, needle in self._by_prefix[word]:
                    if label not in skip and label not in found and \
                            data.startswith(needle, start + offset):
                        found[label] = start + offset
        return found


def text_forms(secret: bytes) -> list[bytes]:
    """How a secret could appear in a log: hex (either case), base64, Python's repr."""
    return [secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret), repr(secret).encode()]


def search_text(path: Path, needles: Mapping[str, bytes]) -> dict[str, str]:
    """Which needles occur in a file (a log), raw or in any text form; what was found."""
    data = path.read_bytes()
    found = {}
    for label, needle in needles.items():
        for form in [needle, *text_forms(needle)]:
            if form in data:
                found[label] = form.decode("latin-1")[:40]
                break
    return found


__all__ = ["MultiNeedleSearch", "conference_secrets", "readable_writable_regions",
           "search_memory", "search_text", "text_forms"]
