"""Run a PERC Key Distributor: the only server trusted with a conference's media keys.

The Key Distributor (RFC 8871 §3) is the DTLS server of every conference endpoint. Media
Distributors connect to it over mutually authenticated TLS (the RFC 9185 tunnel) and relay
their endpoints' DTLS; the conference's SIP call processing (the focus) connects to it over a
second mutually authenticated TLS port to announce which endpoint (certificate fingerprint,
tls-id) to expect. It checks each endpoint against the conference policy, sends the Media
Distributor only the hop-by-hop halves of the keys (MediaKeys), and the endpoints the EKT key
(EKTKey), with a new one on every join and leave and periodically.

    sipperc keyserver --config configs/keyserver.yaml

Also a twist plugin:  twist perc-keyserver --config configs/keyserver.yaml

The configuration (YAML, paths relative to the file; see configs/keyserver.yaml)::

    conferences: conferences.yaml       # the conference policy file
    state_file: kd-state.json           # restart state: SPIs in use, who held the key (no key)
    tunnel:                             # Media Distributors connect here
      listen: {host: 0.0.0.0, port: 4740}
      tls: {certificate: ..., private_key: ..., peer: {fingerprints: [...]}}
    focus:                              # the SIP focus connects here
      listen: {host: 127.0.0.1, port: 4741}
      tls: {...}
    orphan_grace: 30                    # seconds a dropped tunnel's endpoints wait for it
    rejoin_grace: 60                    # after a restart, members back this soon keep the key
    announcement_lifetime: 120          # an announced endpoint must handshake within this

A restart keeps what sipperc.perc.key_distributor_state describes (never a key); endpoints
handshake again when the focus re-INVITEs them with the new tls-ids it is given.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, FirstError
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from sipperc.apps.serving import Readiness, SocketAddress, load_socket_address, run_service
from sipperc.cli import ExitCode
from sipperc.config import ConfigError, load_config
from sipperc.perc.focus_interface import FocusInterfaceServer
from sipperc.perc.focus_service import FocusServerProtocol, listen_for_focus
from sipperc.perc.key_distributor import (
    CloseAssociation,
    EndpointAdmitted,
    EndpointLeft,
    EndpointRefused,
    KeyDistributor,
    KeyDistributorAction,
    Rekeyed,
    SendEKTKey,
    StateChanged,
)
from sipperc.perc.key_distributor_associations import (
    AssociationClosed,
    AssociationOpened,
    AssociationsAdopted,
    AssociationsOrphaned,
    KeyDistributorAssociations,
    Output,
    ToTunnel,
)
from sipperc.perc.key_distributor_state import StateFile, StateFileError
from sipperc.perc.policy import ConferencePolicy, load_policies
from sipperc.perc.tunnel import TunnelClosed
from sipperc.perc.tunnel_messages import TunnelError
from sipperc.perc.tunnel_service import RelayedMessage, TunnelProtocol, listen_for_tunnels
from sipperc.perc.tunnel_tls import MutualTLS, config_path, load_mutual_tls

_log = Logger(namespace="sipperc.keyserver")


@dataclass(frozen=True, slots=True)
class KeyServerConfig:
    """Everything a Key Distributor process needs (see the module docstring)."""

    policies: dict[str, ConferencePolicy]
    state_file: Path
    tunnel: SocketAddress
    tunnel_tls: MutualTLS
    focus: SocketAddress
    focus_tls: MutualTLS
    orphan_grace: float = 30.0
    rejoin_grace: float = 60.0
    announcement_lifetime: float = 120.0


def load_key_server_config(path: str | Path) -> KeyServerConfig:
    """Read a Key Distributor configuration; ConfigError at the offending line."""
    root = load_config(path)
    root.entries({"conferences", "state_file", "tunnel", "focus", "orphan_grace",
                  "rejoin_grace", "announcement_lifetime"})
    policies = load_policies(config_path(root.require("conferences")))
    state_file = config_path(root.require("state_file"))
    if not state_file.parent.is_dir():
        raise root.require("state_file").error(f"directory {state_file.parent} does not exist")
    tunnel = root.require("tunnel")
    tunnel.entries({"listen", "tls"})
    focus = root.require("focus")
    focus.entries({"listen", "tls"})
    return KeyServerConfig(
        policies=policies,
        state_file=state_file,
        tunnel=load_socket_address(tunnel.require("listen"), listening=True),
        tunnel_tls=load_mutual_tls(tunnel.require("tls")),
        focus=load_socket_address(focus.require("listen"), listening=True),
        focus_tls=load_mutual_tls(focus.require("tls")),
        orphan_grace=root.get_float("orphan_grace", 30.0, minimum=0),
        rejoin_grace=root.get_float("rejoin_grace", 60.0, minimum=0),
        announcement_lifetime=root.get_float("announcement_lifetime", 120.0, minimum=1),
    )


class KeyServer(Service):
    """The Key Distributor process: tunnels, focus connections, key logic, state file, timers.

    Once :meth:`when_ready` fired, :attr:`tunnel_port` and :attr:`focus_port` are the bound
    ports (useful with port 0).
    """

    name = "perc-keyserver"

    def __init__(self, config: KeyServerConfig, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.config = config
        self.reactor = reactor
        self.instance = uuid.uuid4()
        self.state_file = StateFile(config.state_file)
        self.key_distributor: KeyDistributor | None = None
        self.associations: KeyDistributorAssociations | None = None
        self.tunnel_port: IListeningPort | None = None
        self.focus_port: IListeningPort | None = None
        self._tunnels: set[TunnelProtocol] = set()
        self._foci: set[FocusServerProtocol] = set()
        self._timer: IDelayedCall | None = None
        self._save_call: IDelayedCall | None = None
        self._ready = Readiness()

    # -- service ----------------------------------------------------------------------------------

    def startService(self) -> None:
        """Load the restart state, then listen for tunnels and foci."""
        super().startService()  # type: ignore[no-untyped-call]
        now = self.reactor.seconds()
        try:
            state = self.state_file.load()
        except StateFileError as error:
            self._ready.fail(Failure(ConfigError(  # type: ignore[no-untyped-call]
                str(self.config.state_file), None, "", str(error))))
            return
        self.key_distributor = KeyDistributor(
            self.config.policies, now, state,
            announcement_lifetime=self.config.announcement_lifetime,
            rejoin_grace=self.config.rejoin_grace)
        self.associations = KeyDistributorAssociations(self.key_distributor,
                                                       orphan_grace=self.config.orphan_grace)
        _log.info("Key Distributor starting", instance=str(self.instance),
                  conferences=", ".join(sorted(self.config.policies)),
                  restored=", ".join(sorted(state.conferences)) or "nothing")
        tunnel = listen_for_tunnels(self.config.tunnel.port, self.config.tunnel_tls, self,
                                    interface=self.config.tunnel.host, reactor=self.reactor)
        focus = listen_for_focus(self.config.focus.port, self.config.focus_tls, self,
                                 interface=self.config.focus.host, reactor=self.reactor)
        tunnel.addCallback(self._listening, "tunnel")
        focus.addCallback(self._listening, "focus")
        both: Deferred[Any] = DeferredList([tunnel, focus], fireOnOneErrback=True,
                                           consumeErrors=True)
        both.addErrback(_first_failure)
        self._ready.watch(both)
        self._arm()

    def when_ready(self) -> Deferred[None]:
        """Fires once both ports listen; fails with the reason one cannot."""
        return self._ready.wait()

    def stopService(self) -> Deferred[Any]:
        """Stop listening, drop every connection, write the state a last time."""
        super().stopService()  # type: ignore[no-untyped-call]
        for call in (self._timer, self._save_call):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._save_call = None
        if self.key_distributor is not None:
            self._save()
        stops = [port.stopListening() for port in (self.tunnel_port, self.focus_port)
                 if port is not None]
        for connection in [*self._tunnels, *self._foci]:
            if connection.transport is not None:
                connection.transport.abortConnection()  # type: ignore[attr-defined]
        return DeferredList([d for d in stops if d is not None])

    def _listening(self, port: IListeningPort, what: str) -> IListeningPort:
        if what == "tunnel":
            self.tunnel_port = port
        else:
            self.focus_port = port
        address = port.getHost()
        _log.info("listening for {what} connections on {host}:{port}", what=what,
                  host=address.host, port=address.port)  # type: ignore[attr-defined]
        return port

    # -- TunnelHandler ------------------------------------------------------------------------

    def tunnel_opened(self, tunnel: TunnelProtocol) -> None:
        """A Media Distributor's SupportedProfiles was accepted."""
        assert self.associations is not None
        self._tunnels.add(tunnel)
        profiles = tunnel.connection.profiles
        assert profiles is not None
        self._carry_out(self.associations.tunnel_opened(tunnel, tunnel.peer_fingerprint,
                                                        profiles, self.reactor.seconds()))

    def tunnel_message(self, tunnel: TunnelProtocol, message: RelayedMessage) -> None:
        """DTLS or EndpointDisconnect from a Media Distributor."""
        assert self.associations is not None
        self._carry_out(self.associations.tunnel_message(tunnel, message,
                                                         self.reactor.seconds()))

    def tunnel_closed(self, tunnel: TunnelProtocol, closed: TunnelClosed) -> None:
        """A Media Distributor's tunnel is gone."""
        self._tunnels.discard(tunnel)
        if self.associations is not None:
            self._carry_out(self.associations.tunnel_closed(tunnel, self.reactor.seconds()))

    # -- FocusHandler -------------------------------------------------------------------------

    def focus_server(self) -> FocusInterfaceServer:
        """The focus interface over this Key Distributor's key logic."""
        assert self.key_distributor is not None
        return FocusInterfaceServer(self.key_distributor, self.instance)

    def focus_now(self) -> float:
        """The key logic's clock."""
        return float(self.reactor.seconds())

    def focus_connected(self, protocol: FocusServerProtocol) -> None:
        """A focus connected."""
        self._foci.add(protocol)
        transport = protocol.transport
        _log.info("focus connected", peer=str(transport.getPeer()) if transport else "?")

    def focus_actions(self, protocol: FocusServerProtocol,
                      actions: list[KeyDistributorAction]) -> None:
        """A withdrawal closed associations (and maybe rekeyed)."""
        assert self.associations is not None
        self._carry_out(self.associations.apply(actions, self.reactor.seconds()))

    def focus_disconnected(self, protocol: FocusServerProtocol) -> None:
        """A focus went away; its announcements stay until they expire."""
        self._foci.discard(protocol)

    # -- internals --------------------------------------------------------------------------------

    def _carry_out(self, outputs: list[Output]) -> None:
        actions: list[KeyDistributorAction] = []
        for output in outputs:
            if isinstance(output, ToTunnel):
                self._send(output)
            elif isinstance(output, AssociationOpened | AssociationClosed | AssociationsOrphaned
                            | AssociationsAdopted):
                _log_association(output)
            else:
                actions.append(output)
                _log_action(output)
                if isinstance(output, StateChanged):
                    self._schedule_save()
        if actions:
            for focus in list(self._foci):
                focus.notify(actions)
        self._arm()

    def _send(self, output: ToTunnel) -> None:
        tunnel = output.tunnel
        assert isinstance(tunnel, TunnelProtocol)
        try:
            tunnel.send(output.message)
        except TunnelError as error:
            _log.warn("tunnel message not sent: {error}", error=str(error))

    def _arm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.running or self.associations is None:
            return
        deadline = self.associations.get_timer()
        if deadline is not None:
            delay = max(0.0, deadline - self.reactor.seconds())
            self._timer = self.reactor.callLater(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        assert self.associations is not None
        self._carry_out(self.associations.handle_timer(self.reactor.seconds()))

    def _schedule_save(self) -> None:
        # Coalesce the state changes of one reactor turn into one atomic write.
        if self._save_call is None or not self._save_call.active():
            self._save_call = self.reactor.callLater(0, self._save)

    def _save(self) -> None:
        self._save_call = None
        assert self.key_distributor is not None
        try:
            self.state_file.save(self.key_distributor.snapshot())
        except StateFileError as error:
            _log.error("cannot save the restart state: {error}", error=str(error))


def _first_failure(failure: Failure) -> Failure:
    """The failure inside a DeferredList's FirstError."""
    error = failure.value
    return error.subFailure if isinstance(error, FirstError) else failure


def _log_association(event: Output) -> None:
    if isinstance(event, AssociationOpened):
        _log.info("DTLS handshake started", association=str(event.association_id),
                  conference=event.room, participant=event.participant_id)
    elif isinstance(event, AssociationClosed):
        _log.info("association closed: {reason}", reason=event.reason,
                  association=str(event.association_id), conference=event.room,
                  participant=event.participant_id)
    elif isinstance(event, AssociationsOrphaned):
        _log.warn("a Media Distributor's tunnel dropped; {count} endpoints wait for it",
                  count=event.count)
    elif isinstance(event, AssociationsAdopted):
        _log.info("the Media Distributor is back; {count} endpoints keyed again",
                  count=event.count)


def _log_action(action: KeyDistributorAction) -> None:
    if isinstance(action, EndpointAdmitted):
        _log.info("endpoint admitted" if action.joined else "endpoint re-handshook",
                  association=str(action.association_id), conference=action.room,
                  participant=action.participant_id, fingerprint=str(action.fingerprint))
    elif isinstance(action, EndpointRefused):
        _log.warn("endpoint refused: {reason}", reason=action.reason,
                  association=str(action.association_id), conference=action.room,
                  participant=action.participant_id)
    elif isinstance(action, EndpointLeft):
        _log.info("endpoint left", conference=action.room, participant=action.participant_id)
    elif isinstance(action, Rekeyed):
        _log.info("new EKT key ({why})", why=action.reason.value, conference=action.room,
                  spi=action.spi, recipients=action.recipients)
    elif isinstance(action, SendEKTKey):
        _log.debug("EKTKey sent", association=str(action.association_id),
                   conference=action.room, spi=action.parameters.spi)
    elif isinstance(action, CloseAssociation):
        _log.info("closing association: {reason}", reason=action.reason,
                  association=str(action.association_id))


# -- the sipperc sub-command ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the configuration file."""
    parser.add_argument("--config", type=Path, required=True,
                        help="Key Distributor configuration (YAML, see configs/keyserver.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="only validate the configuration and print the conferences")


def run(args: argparse.Namespace) -> int:
    """Load the configuration and serve until SIGINT/SIGTERM."""
    config = load_key_server_config(args.config)
    if args.check:
        for room, policy in sorted(config.policies.items()):
            print(f"{room}: {policy.identity.name!r} a=fingerprint:{policy.identity.fingerprint}")
        return ExitCode.OK
    return run_service(KeyServer(config), "keyserver")


__all__ = ["KeyServer", "KeyServerConfig", "add_arguments", "load_key_server_config", "run"]
