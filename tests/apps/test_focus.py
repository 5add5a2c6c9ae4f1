"""sipperc focus: configuration (errors at the line), the command, the twist plugin."""

from __future__ import annotations

import pytest

from sipperc.apps.focus import load_focus_config
from sipperc.cli import ExitCode, main
from sipperc.config import ConfigError
from sipperc.perc.participant_call import PCMU, TELEPHONE_EVENT
from tests.interop.sip_conference import focus_yaml
from tests.perc.conference import ROOM

ROOM_LINES = ('    pin: "0815"\n    locked: true\n    max_participants: 4\n'
              "    moderators: [sip:Alice@Example.com]\n")


def write(files, room_lines=ROOM_LINES):
    servers, directory = files
    return focus_yaml(servers, directory, sip_port=5070, focus_port=4741, media_port=40000,
                      room_lines=room_lines)


def test_a_valid_configuration_loads(files):
    config = load_focus_config(write(files))
    settings = config.settings
    assert settings.listen == ("udp:127.0.0.1:5070",)
    assert settings.domain == "127.0.0.1"
    assert settings.codecs == (PCMU, TELEPHONE_EVENT)
    assert (config.key_distributor_host, config.key_distributor_port) == ("127.0.0.1", 4741)
    room = settings.rooms[ROOM]
    assert room.media_distributor == ("127.0.0.1", 40000)
    assert (room.pin, room.locked, room.max_participants) == ("0815", True, 4)
    assert room.moderators == ("sip:Alice@example.com",)


@pytest.mark.parametrize(("room_lines", "where", "problem"), [
    ("    pin: 815\n", ":17: rooms.design-review.pin", "quotes"),
    ("    pin: '12'\n", ":17: rooms.design-review.pin", "4 to 16 digits"),
    ("    max_participants: 0\n", ":17: rooms.design-review.max_participants", ">= 1"),
    ("    moderators: [alice]\n", ":17: rooms.design-review.moderators", "sip:"),
    ("    colour: blue\n", ":17: rooms.design-review.colour", "unknown setting"),
])
def test_errors_name_the_file_line_and_setting(files, room_lines, where, problem):
    with pytest.raises(ConfigError) as caught:
        load_focus_config(write(files, room_lines))
    message = str(caught.value)
    assert f"focus.yaml{where}" in message and problem in message, message


def test_a_bad_listening_address_and_codec_are_named(files):
    path = write(files)
    text = path.read_text()
    path.write_text(text.replace("udp:127.0.0.1:5070", "sctp:127.0.0.1:5070"))
    with pytest.raises(ConfigError, match=r"focus.yaml:2: sip.listen.*unknown transport"):
        load_focus_config(path)
    path.write_text(text.replace("codecs: [PCMU, telephone-event]", "codecs: [AMR]"))
    with pytest.raises(ConfigError, match=r"focus.yaml:12: codecs.*expected one of"):
        load_focus_config(path)


def test_check_prints_the_conference_uris(files, capsys):
    assert main(["focus", "--config", str(write(files)), "--check"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"sip:{ROOM}@127.0.0.1: 'Design review' media 127.0.0.1:40000" in out


def test_a_bad_configuration_exits_with_the_config_status(files, capsys):
    assert main(["focus", "--config", str(write(files, "    pin: 815\n"))]) == ExitCode.CONFIG
    assert "focus.yaml:17" in capsys.readouterr().err


def test_sip_over_tls_needs_our_certificate(files):
    path = write(files)
    text = path.read_text().replace("listen: [udp:127.0.0.1:5070]",
                                    "listen: [udp:127.0.0.1:5070, tls:127.0.0.1:5071]")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"focus.yaml:2: sip.listen.*needs sip.tls"):
        load_focus_config(path)
    path.write_text(text.replace("  domain: 127.0.0.1\n", "  domain: 127.0.0.1\n"
                                 "  tls: {certificate: focus.pem, private_key: focus.key}\n"))
    tls = load_focus_config(path).settings.tls
    assert tls.certificate.name == "focus.pem" and tls.verify
    path.write_text(text.replace("  domain: 127.0.0.1\n", "  domain: 127.0.0.1\n"
                                 "  tls: {certificate: focus.pem}\n"))
    with pytest.raises(ConfigError, match=r"focus.yaml:4: sip.tls.*go together"):
        load_focus_config(path)


def test_digest_passwords_come_from_a_private_file(files):
    _, directory = files
    path = write(files)
    passwords = directory / "passwords.yaml"
    passwords.write_text('alice: "correct horse"\n')
    passwords.chmod(0o644)
    text = path.read_text().replace("  domain: 127.0.0.1\n", "  domain: 127.0.0.1\n"
                                    "  authentication: {realm: conf.test, "
                                    "passwords: passwords.yaml}\n")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"focus.yaml:4: sip.authentication.passwords.*"
                                          r"chmod 600"):
        load_focus_config(path)
    passwords.chmod(0o600)
    server = load_focus_config(path).settings.authentication
    assert server.realm == "conf.test"


def test_talking_reports_are_taken_where_configured_from_the_named_peer(files):
    servers, directory = files
    assert load_focus_config(write(files)).speakers is None
    path = focus_yaml(servers, directory, sip_port=5070, focus_port=4741, media_port=40000,
                      speakers_port=4742)
    address, tls = load_focus_config(path).speakers
    assert (address.host, address.port) == ("127.0.0.1", 4742)
    assert tls.trust.fingerprints == (servers.md.fingerprint,)
    path.write_text(path.read_text().replace("  listen: {host: 127.0.0.1, port: 4742}\n", ""))
    with pytest.raises(ConfigError, match=r"focus.yaml:\d+: media_distributors.listen"):
        load_focus_config(path)
