"""What a Key Distributor keeps across a restart, and the file it keeps it in.

What must survive, and why
--------------------------
A Key Distributor restart loses every DTLS association (their keys were in memory), so it can
reach no endpoint until each one runs a new handshake; the call processing makes them do so by
re-INVITEing with the Key Distributor's new ``tls-id`` (RFC 8842), which the Key Distributor
announces through :mod:`sipperc.perc.focus_interface`. Media keeps flowing meanwhile: the Media
Distributor has its hop-by-hop keys and the endpoints their EKT key, neither needs the Key
Distributor until the next rekey or the key's TTL. What the restarted Key Distributor needs to
stay correct is therefore small, and none of it is secret:

1. **SPIs still in use** (RFC 8870 §4.2: each EKT parameter set has its own SPI). Endpoints
   keep old parameter sets for late packets, and ones that have not yet re-handshaken still
   send under the old SPI. A restarted Key Distributor that picked one of those SPIs for its
   new key would make endpoints unwrap new tags with an old key (or replace a key others still
   use): media breaks until everyone is rekeyed. So it keeps the SPI cursor and every SPI whose
   key may still be in use (until its TTL has run out since it was last handed out).
2. **Who held the current key** (the member roster, by certificate fingerprint). After a
   restart the old key is gone and the first endpoint back gets a new one. Members returning
   within a grace period get that same key without a rekey: they could read everything under
   the old key anyway, so a rekey per returning member (a storm of N rekeys for N endpoints)
   buys nothing. An endpoint that is *not* on the roster, or returns after the grace period, is
   a join like any other, and triggers the rekey policy. Without the roster the Key
   Distributor would have to treat every returning member as a newcomer.

What is deliberately **not** kept:

- **The EKT key itself.** Writing it to disk would put the one secret that decrypts every
  sender's media (RFC 8870 §6) into backups and disk images that outlive the conference. It is
  not needed: every endpoint must handshake again anyway, and a fresh key after a restart costs
  one rekey.
- **DTLS state**: a restarted server cannot resume the associations' keys; endpoints handshake
  again.
- **Expected participants** (fingerprint and ``tls-id`` announced by the call processing): the
  call processing re-announces them whenever its connection to the Key Distributor comes back
  (a rule of the focus interface), so they cannot go stale on disk.

How
---
One JSON file for all conferences (``KeyDistributorState``), rewritten atomically whenever the
state changes: written to a temporary file in the same directory with mode 0600, flushed and
fsync'd, renamed over the old one, and the directory fsync'd, so a crash leaves either the old
or the new file, never a torn one. It is never group- or world-readable although it holds no
key: the roster says who attends which conference. A file that cannot be parsed stops the Key
Distributor with :class:`StateFileError` naming the problem rather than silently starting
fresh (which would risk SPI reuse); delete it deliberately to start over.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipperc.dtls import Fingerprint

FORMAT = "sipperc-key-distributor-state"
VERSION = 1
SPI_SPACE = 1 << 16


class StateFileError(Exception):
    """The state file cannot be read or written; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ConferenceState:
    """What one conference needs after a restart (see the module docstring).

    ``next_spi`` is where the SPI search starts; ``live_spis`` maps each SPI whose key may still
    be in use to the (wall-clock, seconds) time after which no endpoint may use it any more;
    ``members`` are the fingerprints of the endpoints that held the current key.
    """

    next_spi: int
    live_spis: Mapping[int, float] = field(default_factory=dict)
    members: frozenset[Fingerprint] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.next_spi < SPI_SPACE:
            raise ValueError(f"next_spi {self.next_spi} is not a 16-bit SPI")
        for spi in self.live_spis:
            if not 0 <= spi < SPI_SPACE:
                raise ValueError(f"SPI {spi} is not a 16-bit SPI")


@dataclass(frozen=True, slots=True)
class KeyDistributorState:
    """The restart state of every conference, by room."""

    conferences: Mapping[str, ConferenceState] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The file's contents."""
        document = {
            "format": FORMAT,
            "version": VERSION,
            "conferences": {
                room: {
                    "next_spi": state.next_spi,
                    "live_spis": {str(spi): until for spi, until in
                                  sorted(state.live_spis.items())},
                    "members": sorted(str(member) for member in state.members),
                }
                for room, state in sorted(self.conferences.items())
            },
        }
        return (json.dumps(document, indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, source: str = "<state>") -> KeyDistributorState:
        """Parse the file's contents; StateFileError naming what is wrong."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{source}: not JSON ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StateFileError(f"{source}: not a sipperc Key Distributor state file")
        if document.get("version") != VERSION:
            raise StateFileError(f"{source}: state format version {document.get('version')!r} "
                                 f"is not {VERSION}")
        rooms = document.get("conferences")
        if not isinstance(rooms, dict):
            raise StateFileError(f"{source}: 'conferences' must be an object")
        conferences: dict[str, ConferenceState] = {}
        for room, entry in rooms.items():
            try:
                conferences[room] = _conference(entry)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise StateFileError(f"{source}: conference {room!r}: {exc}") from None
        return cls(conferences)


def _conference(entry: Any) -> ConferenceState:
    if not isinstance(entry, dict):
        raise ValueError("expected an object")
    next_spi = entry["next_spi"]
    if isinstance(next_spi, bool) or not isinstance(next_spi, int):
        raise ValueError("next_spi must be an integer")
    live: dict[int, float] = {}
    for spi, until in entry.get("live_spis", {}).items():
        if isinstance(until, bool) or not isinstance(until, int | float):
            raise ValueError(f"live_spis[{spi}] must be a time in seconds")
        live[int(spi)] = float(until)
    members = frozenset(Fingerprint.parse(text) for text in entry.get("members", []))
    return ConferenceState(next_spi, live, members)


class StateFile:
    """The Key Distributor's state on disk, replaced atomically (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> KeyDistributorState:
        """The saved state; an empty state if the file does not exist yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return KeyDistributorState()
        except OSError as exc:
            raise StateFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        return KeyDistributorState.from_json(data, str(self.path))

    def save(self, state: KeyDistributorState) -> None:
        """Replace the file with ``state``: all or nothing, mode 0600."""
        directory = self.path.parent
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise StateFileError(f"{self.path}: cannot write in {directory}: "
                                 f"{exc.strerror or exc}") from None
        try:
            with os.fdopen(handle, "wb") as stream:
                os.fchmod(stream.fileno(), stat.S_IRUSR | stat.S_IWUSR)
                stream.write(state.to_json())
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise StateFileError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        directory_handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)
