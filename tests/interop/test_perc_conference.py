"""The PERC proof: a conference with the Key and Media Distributors as their own processes.

Key Distributor and Media Distributor run as ``sipperc keyserver`` / ``sipperc distributor``
processes from YAML configurations; five participants (the library object) run here, joined
through the focus interface by the test, which stands in for the SIP focus. The test shows:

- every participant decodes every other one's audio (a distinct tone each);
- a join and a leave each give every sender a new SPI and a new media key;
- an endpoint whose certificate does not match its announced fingerprint is refused and never
  gets the EKT key;
- a Key Distributor crash and restart: media never stops, and every participant is keyed by
  the restarted Key Distributor (new EKT key) within 5 s of it being back;
- a Media Distributor crash and restart: media is back within 5 s of it being up, without any
  participant running a new handshake;
- afterwards, the Media Distributor's memory and log hold no end-to-end key, no EKT key and
  no shared salt of the run; and, the control, the same search finds keys the process was
  made to leak on purpose (SIGUSR1, tests/interop/leak_seeding_distributor.py).
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.apps.leak_search import conference_secrets, search_memory, search_text
from sipperc.apps.server_process import ServerProcess, free_port
from sipperc.dtls import Identity
from sipperc.perc.focus_interface import ParticipantState
from sipperc.perc.participant import AssociationLost, EKTKeyInstalled
from tests.interop.perc_processes import ROOT
from tests.perc.conference import Conference, Servers, until, wait

KD_READY = "listening for focus connections"
MD_READY = "tunnel TLS established"


@pytest.mark.interop
class PercConferenceProcessTests(TestCase):
    timeout = 180

    def setUp(self):
        self.directory = Path(self.mktemp()).resolve()
        self.servers = Servers()
        self.servers.write_files(self.directory)
        self.tunnel_port, self.focus_port = free_port(), free_port()
        self.media_port = free_port(socket.SOCK_DGRAM)
        kd_config = self.servers.keyserver_yaml(self.directory, self.tunnel_port,
                                                self.focus_port)
        md_config = self.servers.distributor_yaml(self.directory, self.tunnel_port,
                                                  self.media_port, last_n=6)
        self.leak_file = self.directory / "leak.hex"
        self.kd = ServerProcess("keyserver", ["-m", "sipperc", "--log-format", "json",
                                              "keyserver", "--config", str(kd_config)],
                                self.directory / "keyserver.log", cwd=ROOT)
        self.md = ServerProcess("distributor", ["tests/interop/leak_seeding_distributor.py",
                                                "--log-format", "json", "distributor",
                                                "--config", str(md_config)],
                                self.directory / "distributor.log",
                                env={"SIPPERC_TEST_LEAK_FILE": str(self.leak_file)}, cwd=ROOT)
        self.addCleanup(self.kd.kill)
        self.addCleanup(self.md.kill)

    @inlineCallbacks
    def start_servers(self):
        self.kd.start()
        yield until(lambda: self.kd.ready(KD_READY), 30)
        self.md.start()
        yield until(lambda: self.md.ready(MD_READY), 30)
        self.conference = Conference(self.servers, ("127.0.0.1", self.media_port),
                                     self.focus_port)
        self.conference.focus.startService()
        self.addCleanup(self.conference.focus.stopService)
        self.addCleanup(self.conference.stop)
        yield until(lambda: self.conference.focus.connected, 10)

    @staticmethod
    def hop_losses(member):
        """The times ``member`` gave up on its hop to the Media Distributor."""
        return [e for e in member.events if isinstance(e, AssociationLost)
                and "from the Media Distributor" in e.reason]

    def spis(self):
        return {m.name: m.participant.spi for m in self.conference.members.values()}

    def media_keys(self):
        return {m.name: len(m.participant.key_audit().sender_keys)
                for m in self.conference.members.values()}

    @inlineCallbacks
    def test_conference_keys_restarts_and_what_the_media_distributor_never_holds(self):
        yield self.start_servers()
        conference = self.conference
        for name in ("alice", "bob", "carol", "dave", "erin"):
            yield conference.join(name)

        # 1. Everyone decodes everyone (five tones, twenty streams).
        yield until(conference.everyone_hears_everyone, 15)

        # 2. A join: a new SPI and a new media key at every sender.
        spis, keys = self.spis(), self.media_keys()
        yield conference.join("frank")
        yield until(lambda: len(set(self.spis().values())) == 1
                    and set(self.spis().values()).isdisjoint(spis.values()), 10)
        yield wait(0.5)
        assert all(self.media_keys()[n] == keys[n] + 1 for n in keys)
        yield until(conference.everyone_hears_everyone, 10)

        # ... and a leave, the same.
        spis, keys = self.spis(), self.media_keys()
        yield conference.leave("frank")
        del keys["frank"]
        yield until(lambda: set(self.spis().values()).isdisjoint(spis.values()), 10)
        yield wait(0.5)
        assert all(self.media_keys()[n] == keys[n] + 1 for n in keys)

        # 3. A certificate that does not match the announced fingerprint gets nothing.
        mallory = yield conference.join("mallory", announce_identity=Identity.generate("x"),
                                        frequency=2600.0)
        yield until(lambda: any(s.participant_id == "mallory"
                                and s.state is ParticipantState.REFUSED
                                for s in conference.statuses), 10)
        assert not mallory.participant.keyed
        assert not any(isinstance(e, EKTKeyInstalled) for e in mallory.events)
        yield conference.leave("mallory")
        yield until(conference.everyone_hears_everyone, 10)

        # 4. The Key Distributor crashes and comes back.
        before = set(self.spis().values())
        self.kd.kill()
        for member in conference.members.values():
            member.clear()
        yield wait(1.0)
        assert conference.everyone_hears_everyone(), "media goes on without the KD"
        self.kd.start()
        yield until(lambda: self.kd.ready(KD_READY), 30)
        back = time.monotonic()
        yield until(lambda: len(set(self.spis().values())) == 1
                    and set(self.spis().values()).isdisjoint(before), 10)
        for member in conference.members.values():
            member.clear()
        yield until(conference.everyone_hears_everyone, 10)
        kd_recovery = time.monotonic() - back
        assert kd_recovery < 5.0, f"keyed by the restarted KD after {kd_recovery:.1f} s"
        assert {key[1] for key, _ in conference.reannounced} == set(conference.members)

        # 5. The Media Distributor crashes and comes back on its port.
        lost_before = {m.name: len(self.hop_losses(m)) for m in conference.members.values()}
        self.md.kill()
        killed = time.monotonic()
        self.md.start()
        yield until(lambda: self.md.ready(MD_READY), 30)
        up = time.monotonic()
        for member in conference.members.values():
            member.clear()
        yield until(conference.everyone_hears_everyone, 10)
        md_recovery = time.monotonic() - up
        assert md_recovery < 5.0, f"media back {md_recovery:.1f} s after the MD was up"
        assert self.md.log.read_text().count("recovered after a restart") == 5
        # The MD recovers the streams itself (trial ROCs), so no handshake is needed: one each
        # for the KD restart. On a loaded machine the restart may outlast a participant's hop
        # timeout; that participant then rekeys its hop once, and says why.
        for member in conference.members.values():
            renewals = len(self.hop_losses(member)) - lost_before[member.name]
            assert renewals <= 1, f"{member.name} renewed {renewals} times for one MD restart"
            assert member.participant.statistics().associations == 2 + renewals

        # 6. The Media Distributor never held an end-to-end key, nor the EKT key.
        secrets_of_the_run = conference_secrets(
            (m.name, m.participant.key_audit()) for m in conference.members.values())
        assert len(secrets_of_the_run) > 100
        in_memory, searched = search_memory(self.md.pid, secrets_of_the_run)
        assert searched > 10_000_000
        assert in_memory == {}, f"E2E secrets in the MD's memory: {in_memory}"
        assert search_text(self.md.log, secrets_of_the_run) == {}
        # The Key Distributor holds the EKT key in memory, never on disk or in its log.
        state = (self.directory / "kd-state.json").read_bytes()
        assert b"members" in state
        assert search_text(self.directory / "kd-state.json", secrets_of_the_run) == {}
        assert search_text(self.kd.log, secrets_of_the_run) == {}

        # The control: keys leaked on purpose are found, in memory and in the log.
        alice = conference.members["alice"].participant.key_audit()
        seeded = {"alice media key": alice.sender_keys[-1], "EKT key": alice.ekt_keys[-1]}
        self.leak_file.write_text("\n".join(v.hex() for v in seeded.values()))
        self.md.process.send_signal(signal.SIGUSR1)
        yield until(lambda: "deliberately leaked" in self.md.log.read_text(), 10)
        in_memory, _ = search_memory(self.md.pid, seeded)
        assert set(in_memory) == set(seeded)
        assert set(search_text(self.md.log, seeded)) == set(seeded)

        print(f"\nKD restart: keyed again {kd_recovery:.2f} s after it was back; "
              f"MD restart: media back {md_recovery:.2f} s after it was up "
              f"({up - killed:.2f} s to start); searched {searched / 1e6:.0f} MB of the MD")

        yield conference.stop()
        assert self.md.stop() == 0
        assert self.kd.stop() == 0

    def tearDown(self):
        # Let the reactor settle sockets closed by the cleanups.
        return wait(0.1)


