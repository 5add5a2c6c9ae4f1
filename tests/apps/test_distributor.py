"""sipperc distributor: configuration, the command, and the server with a restart."""

from __future__ import annotations

import pytest
from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SkipTest

from sipperc.apps.distributor import DistributorServer, load_distributor_config
from sipperc.cli import ExitCode, main
from sipperc.config import ConfigError
from sipperc.perc.media_distributor import DropReason
from tests.perc.conference import ROOM, ConferenceTestCase, until


def test_a_valid_configuration_loads(files):
    servers, directory = files
    config = load_distributor_config(servers.distributor_yaml(directory, 4740, 40000, last_n=4))
    assert (config.key_distributor.host, config.key_distributor.port) == ("127.0.0.1", 4740)
    ((address, room),) = config.rooms
    assert (address.port, room.room, room.switching.last_n, room.audio_level_id) == (
        40000, ROOM, 4, 1)
    assert config.tls.trust.fingerprints == (servers.kd_tunnel.fingerprint,)
    assert config.reconnect.maximum == 0.5


@pytest.mark.parametrize(("edit", "where", "problem"), [
    (lambda t: t.replace("last_n: 5", "last_n: 0"), ":9: rooms.design-review.last_n", ">= 1"),
    (lambda t: t + "profiles: [AEAD_AES_128_GCM]\n", ":13: profiles[0]",
     "not a double profile"),
    (lambda t: t + "profiles: [ROT13]\n", ":13: profiles[0]", "unknown profile"),
    (lambda t: t.replace("last_n: 5", "last_n: 5\n    audio_level_id: 300"),
     ":10: rooms.design-review.audio_level_id", "from 1 to 255"),
    (lambda t: t.replace("port: 4740", "port: 0"), ":1: key_distributor.port", "from 1 to"),
    (lambda t: t.replace("reconnect: {initial: 0.1, maximum: 0.5}",
                         "reconnect: {initial: 2, maximum: 1}"), ":12: reconnect.maximum",
     "below 'initial'"),
])
def test_configuration_errors_name_the_line(files, edit, where, problem):
    servers, directory = files
    path = servers.distributor_yaml(directory, 4740, 40000)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError) as error:
        load_distributor_config(path)
    assert where in str(error.value) and problem in str(error.value)


def test_the_sender_process_can_be_turned_off(files):
    servers, directory = files
    path = servers.distributor_yaml(directory, 4740, 40000)
    assert load_distributor_config(path).fanout_process
    path.write_text(path.read_text() + "fanout_process: false\n")
    assert not load_distributor_config(path).fanout_process


def test_two_rooms_on_one_port_are_refused(files):
    servers, directory = files
    path = servers.distributor_yaml(directory, 4740, 40000)
    text = path.read_text().replace("rooms:\n", "rooms:\n  lobby:\n"
                                    "    listen: {host: 127.0.0.1, port: 40000}\n")
    path.write_text(text)
    with pytest.raises(ConfigError, match="port of its own"):
        load_distributor_config(path)


def test_check_prints_the_rooms(files, capsys):
    servers, directory = files
    path = servers.distributor_yaml(directory, 4740, 40000)
    assert main(["distributor", "--config", str(path), "--check"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == f"{ROOM}: 127.0.0.1:40000 last_n=5"


class DistributorTests(ConferenceTestCase):

    @defer.inlineCallbacks
    def test_a_restarted_distributor_forwards_again_without_new_handshakes(self):
        conference = self.conference
        for name in ("alice", "bob", "carol"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 10)
        old = conference.distributor
        port = old.ports[ROOM].getHost().port
        yield old.stopService()
        conference.distributor = DistributorServer(
            conference.distributor_config(conference.key_server.tunnel_port.getHost().port,
                                          port), reactor)
        conference.distributor.startService()
        yield conference.distributor.when_ready()
        started = reactor.seconds()
        for member in conference.members.values():
            member.clear()
        yield until(conference.everyone_hears_everyone, 5)
        assert reactor.seconds() - started < 5
        statistics = conference.distributor.core.statistics(reactor.seconds())
        assert statistics.recovered_bindings == 3
        assert all(m.participant.statistics().associations == 1
                   for m in conference.members.values())

    @defer.inlineCallbacks
    def test_statistics_count_what_was_forwarded_and_dropped(self):
        conference = self.conference
        for name in ("alice", "bob"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 10)
        distributor = conference.distributor
        stranger = reactor.listenUDP(0, _Quiet(), interface="127.0.0.1")
        self.addCleanup(stranger.stopListening)
        stranger.write(b"\x80" + bytes(40), ("127.0.0.1", distributor.ports[ROOM].getHost().port))
        yield until(lambda: distributor.core.statistics(reactor.seconds()).dropped[
            DropReason.UNKNOWN_SOURCE] == 1, 5)
        statistics = distributor.core.statistics(reactor.seconds())
        room = statistics.rooms[ROOM]
        assert room.participants == 2 and room.copies_forwarded > 50
        assert statistics.datagrams_sent >= room.copies_forwarded
        distributor._log_statistics()  # the periodic log line does not fail


    @defer.inlineCallbacks
    def _three_with_the_sender_process(self):
        """Alice, Bob and Carol hear each other, every fan-out half through the process."""
        distributor = self.conference.distributor
        if distributor.fanout is None:
            raise SkipTest("no sendmmsg(2) here")
        distributor.fanout_minimum = 2  # three participants: two copies per packet
        for name in ("alice", "bob", "carol"):
            yield self.conference.join(name)
        yield until(self.conference.everyone_hears_everyone, 10)
        return distributor

    @defer.inlineCallbacks
    def test_the_sender_process_sends_half_of_each_fan_out(self):
        distributor = yield self._three_with_the_sender_process()
        yield until(lambda: distributor.fanout.sent > 100, 5)
        assert distributor.fanout.errors == 0

    @defer.inlineCallbacks
    def test_forwarding_goes_on_when_the_sender_process_dies(self):
        distributor = yield self._three_with_the_sender_process()
        process = distributor.fanout.process
        process.kill()
        yield until(lambda: process.poll() is not None, 5)
        yield until(lambda: distributor.fanout is None, 5)  # noticed at the next hand-over
        for member in self.conference.members.values():
            member.clear()
        yield until(self.conference.everyone_hears_everyone, 5)


class _Quiet(DatagramProtocol):
    """A stranger on the network: sends to the room port, keeps nothing."""


def test_talking_reports_go_to_the_focus_when_configured(files):
    servers, directory = files
    assert load_distributor_config(servers.distributor_yaml(directory, 4740, 40000)).focus \
        is None
    path = servers.distributor_yaml(directory, 4740, 40000, speakers_port=4742)
    config = load_distributor_config(path)
    assert (config.focus.host, config.focus.port) == ("127.0.0.1", 4742)
    assert config.focus_tls.trust.fingerprints == (servers.focus.fingerprint,)
    path.write_text(path.read_text().replace("port: 4742", "port: 0"))
    with pytest.raises(ConfigError, match=r"distributor.yaml:\d+: focus.port"):
        load_distributor_config(path)
