"""sipperc keyserver: configuration, the command, and the server over real TLS on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from twisted.internet import defer, reactor

from sipperc.apps.keyserver import KeyServer, load_key_server_config
from sipperc.cli import ExitCode, main
from sipperc.config import ConfigError
from sipperc.dtls import Identity
from sipperc.perc.focus_interface import ParticipantState
from sipperc.perc.participant import EKTKeyInstalled
from tests.perc.conference import (
    ROOM,
    ConferenceTestCase,
    until,
    wait,
)


def test_a_valid_configuration_loads(files):
    servers, directory = files
    config = load_key_server_config(servers.keyserver_yaml(directory, 4740, 4741))
    assert list(config.policies) == [ROOM]
    assert config.state_file == directory / "kd-state.json"
    assert (config.tunnel.host, config.tunnel.port) == ("127.0.0.1", 4740)
    assert config.tunnel_tls.trust.fingerprints == (servers.md.fingerprint,)
    assert config.focus_tls.trust.fingerprints == (servers.focus.fingerprint,)


@pytest.mark.parametrize(("edit", "where", "problem"), [
    (lambda t: t.replace("state_file: kd-state.json", "state_file: nowhere/kd.json"),
     ":2: state_file", "does not exist"),
    (lambda t: t.replace("host: 127.0.0.1, port: 4740", "host: kd.example, port: 4740"),
     ":5: tunnel.listen.host", "not an IP address"),
    (lambda t: t.replace("port: 4741", "port: 99999"), ":11: focus.listen.port",
     "from 0 to 65535"),
    (lambda t: t + "colour: blue\n", ":16: colour", "unknown setting"),
    (lambda t: t.replace("orphan_grace: 30", "orphan_grace: soon"), ":3: orphan_grace",
     "expected a number"),
])
def test_configuration_errors_name_the_line(files, edit, where, problem):
    servers, directory = files
    path = servers.keyserver_yaml(directory, 4740, 4741)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError) as error:
        load_key_server_config(path)
    assert where in str(error.value) and problem in str(error.value)


def test_check_prints_each_conference_and_its_fingerprint(files, capsys):
    servers, directory = files
    path = servers.keyserver_yaml(directory, 4740, 4741)
    assert main(["keyserver", "--config", str(path), "--check"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.strip() == (f"{ROOM}: 'Design review' "
                           f"a=fingerprint:{servers.conference.fingerprint}")
    path.write_text(path.read_text().replace("conferences.yaml", "missing.yaml"))
    assert main(["keyserver", "--config", str(path), "--check"]) == ExitCode.CONFIG
    assert "missing.yaml" in capsys.readouterr().err


class KeyServerTests(ConferenceTestCase):

    @defer.inlineCallbacks
    def test_participants_are_keyed_and_the_focus_hears_of_them(self):
        conference = self.conference
        for name in ("alice", "bob", "carol"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 10)
        admitted = {s.participant_id for s in conference.statuses
                    if s.state is ParticipantState.ADMITTED}
        assert admitted == {"alice", "bob", "carol"}
        yield conference.leave("carol")
        yield until(lambda: any(s.participant_id == "carol" and s.state is ParticipantState.LEFT
                                for s in conference.statuses), 5)
        yield wait(0.1)
        state = json.loads((conference.tmp_path / "kd-state.json").read_text())
        members = state["conferences"][ROOM]["members"]
        assert len(members) == 2
        keys = [k for m in conference.members.values() for k in m.participant.key_audit().ekt_keys]
        text = (conference.tmp_path / "kd-state.json").read_bytes()
        assert not any(key.hex().encode() in text or key in text for key in keys)

    @defer.inlineCallbacks
    def test_an_endpoint_with_the_wrong_certificate_is_refused(self):
        conference = self.conference
        yield conference.join("alice")
        mallory = yield conference.join("mallory", announce_identity=Identity.generate("x"))
        yield until(lambda: any(s.participant_id == "mallory"
                                and s.state is ParticipantState.REFUSED
                                for s in conference.statuses), 10)
        yield wait(0.5)
        assert not mallory.participant.keyed
        assert not any(isinstance(e, EKTKeyInstalled) for e in mallory.events)

    @defer.inlineCallbacks
    def test_a_restarted_key_distributor_keys_everyone_again(self):
        conference = self.conference
        for name in ("alice", "bob"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 10)
        before = {m.participant.spi for m in conference.members.values()}
        old = conference.key_server
        tunnel_port = old.tunnel_port.getHost().port
        focus_port = old.focus_port.getHost().port
        yield old.stopService()
        config = conference.key_server_config()
        config = type(config)(**{**{f: getattr(config, f) for f in config.__dataclass_fields__},
                                 "tunnel": type(config.tunnel)("127.0.0.1", tunnel_port),
                                 "focus": type(config.focus)("127.0.0.1", focus_port)})
        conference.key_server = KeyServer(config, reactor)
        conference.key_server.startService()
        yield conference.key_server.when_ready()
        assert conference.key_server.instance != old.instance
        yield until(lambda: len(conference.reannounced) == 2, 10)
        yield until(lambda: len({m.participant.spi for m in conference.members.values()}) == 1
                    and {m.participant.spi for m in conference.members.values()} != before, 10)
        for member in conference.members.values():
            member.clear()
        yield until(conference.everyone_hears_everyone, 5)

    def test_a_port_in_use_fails_when_ready(self):
        busy = self.conference.key_server.tunnel_port.getHost().port
        config = self.conference.key_server_config()
        config = type(config)(**{**{f: getattr(config, f) for f in config.__dataclass_fields__},
                                 "tunnel": type(config.tunnel)("127.0.0.1", busy)})
        server = KeyServer(config, reactor)
        server.startService()
        self.addCleanup(server.stopService)
        return self.assertFailure(server.when_ready(), Exception)
