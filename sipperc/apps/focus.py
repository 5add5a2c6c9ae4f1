"""Run the SIP focus of PERC conferences: the call processing, which never holds a media key.

Each room is a conference URI, ``sip:ROOM@DOMAIN``. PERC endpoints dial in (others get 488),
the focus announces each one's DTLS fingerprint and tls-id to the Key Distributor and answers
with the room's Media Distributor address and the Key Distributor's fingerprint and tls-id
(:mod:`sipperc.perc.sip_focus`). Phones subscribe to the conference URI with
``Event: conference`` for the roster (RFC 4575); a REFER inside a call adds a participant; a
moderator sends ``lock``, ``unlock`` or ``kick <sip-uri>`` as a MESSAGE to the conference URI.

    sipperc focus --config configs/focus.yaml

Also a twist plugin:  twist perc-focus --config configs/focus.yaml

The configuration (YAML, paths relative to the file; see configs/focus.yaml)::

    sip:
      listen: [udp:127.0.0.1:5070, tcp:127.0.0.1:5070]
      domain: conf.example.com          # conference URIs are sip:<room>@<domain>
      tls: {certificate: ..., private_key: ..., trust: ca.pem}   # for tls: listeners
      authentication: {realm: conf.example.com, passwords: passwords.yaml}   # optional
    key_distributor:                    # the Key Distributor's focus port (keyserver focus:)
      host: 127.0.0.1
      port: 4741
      tls: {certificate: ..., private_key: ..., peer: {fingerprints: [...]}}
    media_distributors:                 # optional: talking reports (distributor.yaml focus:)
      listen: {host: 127.0.0.1, port: 4742}
      tls: {certificate: ..., private_key: ..., peer: {fingerprints: [...]}}
    announce_timeout: 10                # seconds an INVITE waits for the Key Distributor
    codecs: [opus, PCMU, telephone-event]
    rooms:
      design-review:
        name: Design review
        media_distributor: {host: 127.0.0.1, port: 40000}   # distributor.yaml rooms.*.listen
        pin: "0815"                     # optional: dial sip:design-review@host;pin=0815
        pin_attempts: 3                 # wrong PINs before a caller is shut out ...
        pin_lockout: 300                # ... for this many seconds
        locked: false
        max_participants: 25
        moderators: [sip:alice@example.com]
"""

from __future__ import annotations

import argparse
import secrets
import stat
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from sipperc.apps.serving import Readiness, SocketAddress, load_socket_address, run_service
from sipperc.cli import ExitCode
from sipperc.config import ConfigNode, load_config
from sipperc.perc.conference_room import (
    DEFAULT_PIN_ATTEMPTS,
    DEFAULT_PIN_LOCKOUT,
    RoomSettings,
)
from sipperc.perc.focus_service import FocusInterfaceClient
from sipperc.perc.participant_call import G722, OPUS, PCMA, PCMU, TELEPHONE_EVENT
from sipperc.perc.policy import normalize_identity
from sipperc.perc.sip_focus import DEFAULT_ANNOUNCE_TIMEOUT, FocusSettings, SipFocus
from sipperc.perc.speaker_report_service import listen_for_speaker_reports
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS, config_path, load_mutual_tls
from sipperc.sdp import Codec
from sipperc.sip.digest import DigestServer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import TlsConfig

_log = Logger(namespace="sipperc.focus")

CODECS = {"opus": OPUS, "pcmu": PCMU, "pcma": PCMA, "g722": G722,
          "telephone-event": TELEPHONE_EVENT}
"""The codecs a room may offer, by the name written in the configuration."""


class FocusConfig:
    """Everything a focus process needs (see the module docstring)."""

    def __init__(self, settings: FocusSettings, key_distributor_host: str,
                 key_distributor_port: int, tls: MutualTLS, *,
                 speakers: tuple[SocketAddress, MutualTLS] | None = None) -> None:
        self.settings = settings
        self.key_distributor_host = key_distributor_host
        self.key_distributor_port = key_distributor_port
        self.tls = tls
        self.speakers = speakers
        """Where Media Distributors' talking reports are taken, and their TLS (or None)."""


def load_focus_config(path: str | Path) -> FocusConfig:
    """Read a focus configuration; ConfigError at the offending line."""
    root = load_config(path)
    root.entries({"sip", "key_distributor", "media_distributors", "announce_timeout", "codecs",
                  "rooms"})
    sip = root.require("sip")
    sip.entries({"listen", "domain", "tls", "authentication"})
    listen = []
    for item in sip.get_list("listen"):
        if not isinstance(item.value, str):
            raise item.error("expected transport:host:port, e.g. udp:127.0.0.1:5070")
        try:
            listen.append(str(TransportAddress.parse(item.value)))
        except ValueError as exc:
            raise item.error(str(exc)) from None
    if not listen:
        raise sip.require("listen").error("at least one listening address is needed")
    domain = sip.get_str("domain")
    tls = _sip_tls(sip, any(text.startswith("tls:") for text in listen))
    kd = root.require("key_distributor")
    kd.entries({"host", "port", "tls"})
    kd_host = kd.get_str("host")
    kd_port = kd.get_int("port", minimum=1, maximum=65535)
    codecs = _codecs(root)
    rooms: dict[str, RoomSettings] = {}
    for name, node in root.require("rooms").entries().items():
        rooms[name] = _room(name, node)
    if not rooms:
        raise root.require("rooms").error("no room is defined")
    settings = FocusSettings(tuple(listen), domain, rooms, codecs,
                             root.get_float("announce_timeout", DEFAULT_ANNOUNCE_TIMEOUT,
                                            minimum=0.1), tls=tls,
                             authentication=_authentication(sip))
    speakers = None
    mds = root.child("media_distributors")
    if mds is not None:
        mds.entries({"listen", "tls"})
        speakers = (load_socket_address(mds.require("listen"), listening=True),
                    load_mutual_tls(mds.require("tls")))
    return FocusConfig(settings, kd_host, kd_port, load_mutual_tls(kd.require("tls")),
                       speakers=speakers)


def _sip_tls(sip: ConfigNode, listening: bool) -> TlsConfig | None:
    """``sip.tls``: our certificate for ``tls:`` listeners, and whom we trust (RFC 5922)."""
    node = sip.child("tls")
    if node is None:
        if listening:
            raise sip.require("listen").error("a tls: listener needs sip.tls with certificate "
                                              "and private_key")
        return None
    node.entries({"certificate", "private_key", "trust", "verify"})
    paths = {}
    for name in ("certificate", "private_key", "trust"):
        child = node.child(name)
        if child is None:
            continue
        path = config_path(child)
        if not path.is_file():
            raise child.error(f"{path}: no such file")
        paths[name] = path
    if ("certificate" in paths) != ("private_key" in paths):
        raise node.error("certificate and private_key go together")
    if listening and "certificate" not in paths:
        raise node.error("a tls: listener needs a certificate and private_key")
    return TlsConfig(certificate=paths.get("certificate"),
                     private_key=paths.get("private_key"), trust=paths.get("trust"),
                     verify=node.get_bool("verify", True))


def _authentication(sip: ConfigNode) -> DigestServer | None:
    """``sip.authentication``: digest for callers, subscribers and moderators (RFC 3261 §22).

    ``passwords`` is a YAML file ``user: password`` that others may not read (chmod 600).
    """
    node = sip.child("authentication")
    if node is None:
        return None
    node.entries({"realm", "passwords"})
    realm = node.get_str("realm")
    passwords_node = node.require("passwords")
    path = config_path(passwords_node)
    if not path.is_file():
        raise passwords_node.error(f"{path}: no such file")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise passwords_node.error(f"{path} is readable by other users (mode "
                                   f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    passwords: dict[str, str] = {}
    for user, entry in load_config(path).entries().items():
        if not isinstance(entry.value, str) or not entry.value:
            raise entry.error("expected the user's password (quote it)")
        passwords[user] = entry.value
    if not passwords:
        raise passwords_node.error(f"{path} lists no user")
    return DigestServer(realm, passwords.get, secrets.token_bytes(32))


def _codecs(root: ConfigNode) -> tuple[Codec, ...]:
    items = root.get_list("codecs")
    if not items:
        return (OPUS, PCMU, TELEPHONE_EVENT)
    codecs = []
    for item in items:
        name = item.value.lower() if isinstance(item.value, str) else None
        if name not in CODECS:
            raise item.error(f"expected one of {', '.join(sorted(CODECS))}")
        codecs.append(CODECS[name])
    if all(c is TELEPHONE_EVENT for c in codecs):
        raise root.require("codecs").error("an audio codec is needed, not only telephone-event")
    return tuple(codecs)


def _room(name: str, node: ConfigNode) -> RoomSettings:
    node.entries({"name", "media_distributor", "pin", "pin_attempts", "pin_lockout", "locked",
                  "max_participants", "moderators"})
    md = load_socket_address(node.require("media_distributor"), listening=False)
    pin_node = node.child("pin")
    if pin_node is not None and not isinstance(pin_node.value, str):
        raise pin_node.error("write the PIN in quotes, e.g. pin: \"0815\" "
                             "(YAML reads unquoted digits as a number)")
    if pin_node is not None and not (pin_node.value.isdigit() and 4 <= len(pin_node.value) <= 16):
        raise pin_node.error("a PIN is 4 to 16 digits")
    moderators = []
    for item in node.get_list("moderators"):
        if not isinstance(item.value, str) or not item.value.lower().startswith(
                ("sip:", "sips:", "tel:")):
            raise item.error("expected a sip:, sips: or tel: URI")
        moderators.append(normalize_identity(item.value))
    maximum = node.child("max_participants")
    try:
        return RoomSettings(
            room=name, name=node.get_str("name", name), media_distributor=(md.host, md.port),
            pin=pin_node.value if pin_node is not None else None,
            locked=node.get_bool("locked", False),
            max_participants=node.get_int("max_participants", minimum=1)
            if maximum is not None else None,
            moderators=tuple(moderators),
            pin_attempts=node.get_int("pin_attempts", DEFAULT_PIN_ATTEMPTS, minimum=1),
            pin_lockout=node.get_float("pin_lockout", DEFAULT_PIN_LOCKOUT, minimum=0))
    except ValueError as exc:
        raise node.error(str(exc)) from None


class FocusServer(Service):
    """The focus process as a service with :meth:`when_ready` (like the other servers)."""

    name = "perc-focus"

    def __init__(self, config: FocusConfig, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.config = config
        self.reactor = reactor
        client = FocusInterfaceClient.to_host(
            config.key_distributor_host, config.key_distributor_port, config.tls,
            reactor=reactor, focus_name=f"sipperc-focus@{config.settings.domain}",
            backoff=ReconnectBackoff(0.25, 2.0, 2.0))
        self.focus = SipFocus(config.settings, client, reactor=reactor)
        self.speaker_port: IListeningPort | None = None
        self._ready = Readiness()

    def startService(self) -> None:
        """Listen for SIP (and talking reports), connect to the Key Distributor."""
        super().startService()  # type: ignore[no-untyped-call]
        try:
            self.focus.start()
        except CannotListenError:
            self._ready.fail(Failure())  # type: ignore[no-untyped-call]
            return
        if self.config.speakers is None:
            self._ready.watch(maybeDeferred(lambda: None))
            return
        address, tls = self.config.speakers
        listening = listen_for_speaker_reports(address.port, tls, self.focus.talking,
                                               interface=address.host, reactor=self.reactor)
        self._ready.watch(listening.addCallback(self._speakers_listening))

    def _speakers_listening(self, port: IListeningPort) -> None:
        self.speaker_port = port
        bound = port.getHost()
        _log.info("taking talking reports on {address}", address=str(bound))

    def when_ready(self) -> Deferred[None]:
        """Fires once SIP listens."""
        return self._ready.wait()

    def stopService(self) -> Deferred[Any]:
        """Hang up, unsubscribe everyone, disconnect."""
        super().stopService()  # type: ignore[no-untyped-call]
        if self.speaker_port is not None:
            self.speaker_port.stopListening()
            self.speaker_port = None
        return self.focus.stop()


# -- the sipperc sub-command ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the configuration file."""
    parser.add_argument("--config", type=Path, required=True,
                        help="focus configuration (YAML, see configs/focus.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="only validate the configuration and print the conference URIs")


def run(args: argparse.Namespace) -> int:
    """Load the configuration and serve until SIGINT/SIGTERM."""
    config = load_focus_config(args.config)
    if args.check:
        for room in config.settings.rooms.values():
            print(f"sip:{room.room}@{config.settings.domain}: {room.name!r} media "
                  f"{room.media_distributor[0]}:{room.media_distributor[1]}")
        return ExitCode.OK
    return run_service(FocusServer(config), "focus")


__all__ = ["CODECS", "FocusConfig", "FocusServer", "add_arguments", "load_focus_config", "run"]
