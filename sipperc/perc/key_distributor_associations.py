"""The Key Distributor's end of every endpoint's DTLS association, carried over RFC 9185 tunnels.

A sans-I/O core between the tunnels and the key logic (:class:`KeyDistributor`). The Key
Distributor's edge feeds it what its tunnels deliver (:meth:`tunnel_opened`,
:meth:`tunnel_message`, :meth:`tunnel_closed`) and the time; it answers with
:class:`ToTunnel` messages to write and the key logic's actions (for the log, the focus
interface and the state file), and asks to be woken at :meth:`get_timer`.

Per association (a random UUIDv4 the Media Distributor chose, RFC 9185 §5.3):

1. The first TunneledDtls must carry the ClientHello that opens the handshake. Its
   ``external_session_id`` (RFC 8844) is the endpoint's ``tls-id``; the announcement the call
   processing made for that tls-id (:meth:`KeyDistributor.expectation`) names the conference,
   so the DTLS server answers with that conference's certificate (its identity, RFC 8871 §5),
   its own tls-id for this endpoint, the fingerprints the endpoint's certificate must match,
   the double profiles the conference *and* the tunnel's Media Distributor support (RFC 9185
   §5.4), and the conference's EKT cipher. An unannounced tls-id is refused before any
   handshake state is kept.
2. When the handshake completes the key logic authorizes the endpoint
   (:meth:`KeyDistributor.admit`: tls-id, certificate fingerprint, policy). Only then does the
   Media Distributor get **MediaKeys**, carrying the hop-by-hop (outer) halves of the exported
   keys and salts, never the end-to-end halves (RFC 9185 §5.4, RFC 8723 §3), and the endpoint
   its **EKTKey** (RFC 8870 §5.2.2), reliably (the DTLS layer retransmits until the ACK).
3. Rekeys from the key logic become new EKTKey messages on every member's association.
4. The association ends when the DTLS connection closes or fails, when the Media Distributor
   sends EndpointDisconnect, or when the key logic closes it (a withdrawn or refused
   endpoint); the Media Distributor hears EndpointDisconnect in every case it did not start
   (RFC 9185 §5.4: "send EndpointDisconnect when the DTLS association ends").

**A tunnel that drops** (a Media Distributor restart, a network blip) does not end its
associations at once: their DTLS state and keys live here, not in the Media Distributor. They
wait ``orphan_grace`` seconds for a tunnel from the same Media Distributor (the same TLS
certificate) and are then re-adopted: the new tunnel gets their MediaKeys again, so a restarted
Media Distributor can forward the endpoints' media without any of them running a new handshake
(it binds each MediaKeys to an endpoint address by the first packet that authenticates under
it, see :mod:`sipperc.perc.media_distributor`). Pending EKTKey retransmissions continue on the
new tunnel. Associations still handshaking are dropped (the endpoint retries). Past the grace
period an orphan is gone, like any other departure.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from sipperc.dtls import (
    ConnectionClosed,
    DtlsAlertError,
    DtlsConnection,
    Fingerprint,
    HandshakeComplete,
    external_session_id,
    initial_client_hello,
)
from sipperc.perc.key_distributor import (
    CloseAssociation,
    EndpointAdmitted,
    EndpointRefused,
    Expectation,
    KeyDistributor,
    KeyDistributorAction,
    SendEKTKey,
)
from sipperc.perc.tunnel_messages import (
    EndpointDisconnect,
    MediaKeys,
    SupportedProfiles,
    TunneledDtls,
)
from sipperc.srtp import Profile

DEFAULT_ORPHAN_GRACE = 30.0
DEFAULT_MAX_HANDSHAKING = 2000

TunnelKey = Hashable
"""How the edge names one tunnel connection (any hashable value, e.g. the protocol object)."""

RelayedToMediaDistributor = MediaKeys | TunneledDtls | EndpointDisconnect


@dataclass(frozen=True, slots=True)
class ToTunnel:
    """Write ``message`` to the Media Distributor on ``tunnel``."""

    tunnel: TunnelKey
    message: RelayedToMediaDistributor


@dataclass(frozen=True, slots=True)
class AssociationOpened:
    """A new association's ClientHello named an announced participant: its handshake starts."""

    association_id: uuid.UUID
    room: str
    participant_id: str


@dataclass(frozen=True, slots=True)
class AssociationClosed:
    """An association is over; ``reason`` says why (for the log)."""

    association_id: uuid.UUID
    room: str | None
    participant_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class AssociationsOrphaned:
    """A tunnel dropped; ``count`` keyed associations wait for it to come back."""

    tunnel: TunnelKey
    count: int


@dataclass(frozen=True, slots=True)
class AssociationsAdopted:
    """A returning Media Distributor took over ``count`` orphaned associations."""

    tunnel: TunnelKey
    count: int


AssociationEvent = (AssociationOpened | AssociationClosed | AssociationsOrphaned
                    | AssociationsAdopted)
Output = ToTunnel | AssociationEvent | KeyDistributorAction
"""What the core asks the edge to do or report."""


@dataclass(slots=True)
class _Tunnel:
    key: TunnelKey
    peer: Fingerprint | None
    profiles: SupportedProfiles
    associations: set[uuid.UUID]


class _Association:
    __slots__ = ("admitted", "connection", "expectation", "id", "media_keys", "orphaned_until",
                 "peer", "tls_id", "tunnel")

    def __init__(self, association_id: uuid.UUID, tunnel: _Tunnel | None, tls_id: bytes,
                 expectation: Expectation, connection: DtlsConnection) -> None:
        self.id = association_id
        self.tunnel = tunnel
        self.peer = tunnel.peer if tunnel is not None else None
        self.tls_id = tls_id
        self.expectation = expectation
        self.connection = connection
        self.admitted = False
        self.media_keys: MediaKeys | None = None
        self.orphaned_until: float | None = None


class KeyDistributorAssociations:
    """Every endpoint association of one Key Distributor (see the module docstring)."""

    def __init__(self, key_distributor: KeyDistributor, *,
                 orphan_grace: float = DEFAULT_ORPHAN_GRACE,
                 max_handshaking: int = DEFAULT_MAX_HANDSHAKING,
                 dtls_initial_timeout: float = 1.0) -> None:
        if orphan_grace < 0 or max_handshaking < 1:
            raise ValueError("orphan_grace must not be negative, max_handshaking must be >= 1")
        self.key_distributor = key_distributor
        self.orphan_grace = orphan_grace
        self.max_handshaking = max_handshaking
        self._dtls_initial_timeout = dtls_initial_timeout
        self._tunnels: dict[TunnelKey, _Tunnel] = {}
        self._associations: dict[uuid.UUID, _Association] = {}

    # -- what the edge asks -----------------------------------------------------------------------

    @property
    def associations(self) -> int:
        """Live associations (handshaking, keyed or orphaned)."""
        return len(self._associations)

    def admitted(self) -> list[tuple[uuid.UUID, str, str]]:
        """(association, room, participant) of every keyed association."""
        return [(a.id, a.expectation.room, a.expectation.participant_id)
                for a in self._associations.values() if a.admitted]

    # -- tunnels ----------------------------------------------------------------------------------

    def tunnel_opened(self, tunnel: TunnelKey, peer: Fingerprint | None,
                      profiles: SupportedProfiles, now: float) -> list[Output]:
        """A Media Distributor's SupportedProfiles was accepted: re-adopt its orphans."""
        state = self._tunnels[tunnel] = _Tunnel(tunnel, peer, profiles, set())
        outputs: list[Output] = []
        adopted = 0
        for association in list(self._associations.values()):
            if association.tunnel is not None or association.peer != peer:
                continue
            keys = association.media_keys
            if keys is None or keys.protection_profile not in profiles.protection_profiles:
                continue
            association.tunnel = state
            association.orphaned_until = None
            state.associations.add(association.id)
            outputs.append(ToTunnel(tunnel, keys))
            outputs += self._service(association, now)
            adopted += 1
        if adopted:
            outputs.insert(0, AssociationsAdopted(tunnel, adopted))
        return outputs

    def tunnel_closed(self, tunnel: TunnelKey, now: float) -> list[Output]:
        """A tunnel is gone: keyed associations become orphans, handshakes are dropped."""
        state = self._tunnels.pop(tunnel, None)
        if state is None:
            return []
        outputs: list[Output] = []
        orphaned = 0
        for association_id in sorted(state.associations):
            association = self._associations.get(association_id)
            if association is None:
                continue
            association.tunnel = None
            if association.admitted and self.orphan_grace > 0:
                association.orphaned_until = now + self.orphan_grace
                orphaned += 1
            else:
                outputs += self._end(association, "its tunnel closed during the handshake"
                                     if not association.admitted else "its tunnel closed", now,
                                     notify_tunnel=False)
        if orphaned:
            outputs.insert(0, AssociationsOrphaned(tunnel, orphaned))
        return outputs

    def tunnel_message(self, tunnel: TunnelKey, message: RelayedToMediaDistributor,
                       now: float) -> list[Output]:
        """TunneledDtls or EndpointDisconnect from a Media Distributor."""
        state = self._tunnels.get(tunnel)
        if state is None:
            return []
        if isinstance(message, EndpointDisconnect):
            association = self._associations.get(message.association_id)
            if association is None or association.tunnel is not state:
                return []
            return self._end(association, "the Media Distributor reported the endpoint gone",
                             now, notify_tunnel=False)
        if isinstance(message, TunneledDtls):
            association = self._associations.get(message.association_id)
            if association is None:
                return self._open(state, message, now)
            if association.tunnel is not state:
                # The Media Distributor moved it to another of its tunnels: follow.
                if association.tunnel is not None:
                    association.tunnel.associations.discard(association.id)
                association.tunnel = state
                association.orphaned_until = None
                state.associations.add(association.id)
            association.connection.receive_datagram(message.dtls_message, now)
            return self._service(association, now)
        return []  # MediaKeys never comes from a Media Distributor (the tunnel refuses it)

    # -- the key logic's own decisions -----------------------------------------------------------

    def apply(self, actions: Iterable[KeyDistributorAction], now: float) -> list[Output]:
        """Carry out key-logic actions (from the focus interface, or from this core)."""
        outputs: list[Output] = []
        for action in actions:
            outputs += self._apply(action, now)
        return outputs

    # -- time ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do next."""
        deadlines = [d for d in (self.key_distributor.get_timer(),) if d is not None]
        for association in self._associations.values():
            timer = association.connection.get_timer()
            if timer is not None:
                deadlines.append(timer)
            if association.orphaned_until is not None:
                deadlines.append(association.orphaned_until)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Output]:
        """Retransmissions, rekeys and orphans whose grace period ran out."""
        outputs: list[Output] = []
        for association in list(self._associations.values()):
            if association.id not in self._associations:
                continue  # ended by an earlier step of this loop
            if association.orphaned_until is not None and now >= association.orphaned_until:
                outputs += self._end(association, "its Media Distributor did not come back",
                                     now, notify_tunnel=False)
                continue
            timer = association.connection.get_timer()
            if timer is not None and now >= timer:
                association.connection.handle_timer(now)
                outputs += self._service(association, now)
        outputs += self.apply(self.key_distributor.handle_timer(now), now)
        return outputs

    # -- internals ------------------------------------------------------------------------------

    def _open(self, tunnel: _Tunnel, message: TunneledDtls, now: float) -> list[Output]:
        association_id = message.association_id
        try:
            hello = initial_client_hello(message.dtls_message)
        except DtlsAlertError as error:
            return self._refuse(tunnel, association_id, f"malformed ClientHello: {error}")
        if hello is None:
            # Not the start of a handshake (an association this Key Distributor never knew,
            # e.g. from before a restart): ignore it; the endpoint will start over.
            return []
        handshaking = sum(1 for a in self._associations.values() if not a.admitted)
        if handshaking >= self.max_handshaking:
            return self._refuse(tunnel, association_id, "too many handshakes in progress")
        try:
            tls_id = external_session_id(hello)
        except DtlsAlertError as error:
            return self._refuse(tunnel, association_id, f"malformed external_session_id: {error}")
        if tls_id is None:
            return self._refuse(tunnel, association_id,
                                "the ClientHello carried no external_session_id (RFC 9185 §5.4 "
                                "needs the endpoint's tls-id)")
        expectation = self.key_distributor.expectation(tls_id, now)
        if expectation is None:
            return self._refuse(tunnel, association_id,
                                "no participant was announced with this tls-id")
        policy = expectation.policy
        offered = tunnel.profiles.protection_profiles
        profiles = [p for p in policy.profiles if p.dtls_id in offered]
        if not profiles:
            return self._refuse(tunnel, association_id,
                                "the Media Distributor supports none of the conference's "
                                "double profiles", expectation)
        connection = DtlsConnection(
            "server", policy.identity.dtls_identity, profiles, expectation.fingerprints,
            local_tls_id=expectation.key_distributor_tls_id, remote_tls_id=tls_id,
            ekt_ciphers=(policy.ekt.cipher,), initial_timeout=self._dtls_initial_timeout)
        association = _Association(association_id, tunnel, tls_id, expectation, connection)
        self._associations[association_id] = association
        tunnel.associations.add(association_id)
        outputs: list[Output] = [AssociationOpened(association_id, expectation.room,
                                                   expectation.participant_id)]
        connection.receive_datagram(message.dtls_message, now)
        return outputs + self._service(association, now)

    def _refuse(self, tunnel: _Tunnel, association_id: uuid.UUID, reason: str,
                expectation: Expectation | None = None) -> list[Output]:
        room = expectation.room if expectation else None
        participant = expectation.participant_id if expectation else None
        return [EndpointRefused(association_id, reason, room, participant),
                ToTunnel(tunnel.key, EndpointDisconnect(association_id))]

    def _service(self, association: _Association, now: float) -> list[Output]:
        """Move the connection's datagrams to the tunnel and act on its events."""
        connection = association.connection
        outputs: list[Output] = []
        while True:
            for datagram in connection.datagrams_to_send(now):
                if association.tunnel is not None:
                    outputs.append(ToTunnel(association.tunnel.key,
                                            TunneledDtls(association.id, datagram)))
            event = connection.next_event()
            if event is None:
                break
            if isinstance(event, HandshakeComplete):
                outputs += self._handshake_complete(association, event, now)
            elif isinstance(event, ConnectionClosed):
                if association.id in self._associations:
                    reason = event.reason if not event.clean else "the endpoint closed it"
                    if not association.admitted:
                        expectation = association.expectation
                        outputs.append(EndpointRefused(
                            association.id, f"DTLS handshake failed: {reason}",
                            expectation.room, expectation.participant_id))
                    outputs += self._end(association, reason, now, notify_tunnel=True)
                break
            if association.id not in self._associations:
                break
        return outputs

    def _handshake_complete(self, association: _Association, event: HandshakeComplete,
                            now: float) -> list[Output]:
        expectation = association.expectation
        reason = None
        if event.srtp_profile is None or not event.srtp_profile.is_double:
            reason = "no double SRTP profile was negotiated (RFC 8723)"
        elif event.ekt_cipher is None:
            reason = "the endpoint did not negotiate EKT (RFC 8870 supported_ekt_ciphers)"
        if reason is not None:
            refused: list[Output] = [EndpointRefused(association.id, reason, expectation.room,
                                                     expectation.participant_id)]
            return refused + self._apply(CloseAssociation(association.id, reason), now)
        actions = self.key_distributor.admit(association.id, association.tls_id,
                                             event.peer_certificate, now)
        return self.apply(actions, now)

    def _apply(self, action: KeyDistributorAction, now: float) -> list[Output]:
        outputs: list[Output] = [action]
        if isinstance(action, EndpointAdmitted):
            association = self._associations.get(action.association_id)
            if association is not None:
                association.admitted = True
                association.media_keys = _hop_by_hop_keys(association)
                if association.tunnel is not None:
                    outputs.append(ToTunnel(association.tunnel.key, association.media_keys))
        elif isinstance(action, SendEKTKey):
            association = self._associations.get(action.association_id)
            if association is not None:
                association.connection.send_ekt_key(action.parameters.message(), now)
                outputs += self._service(association, now)
        elif isinstance(action, CloseAssociation):
            association = self._associations.get(action.association_id)
            if association is not None:
                # The key logic already counted the departure; only the DTLS side is left.
                outputs += self._end(association, action.reason, now, notify_tunnel=True,
                                     tell_key_logic=False, close_notify=True)
        return outputs

    def _end(self, association: _Association, reason: str, now: float, *, notify_tunnel: bool,
             tell_key_logic: bool = True, close_notify: bool = False) -> list[Output]:
        """Forget an association; tell the Media Distributor and the key logic as asked."""
        del self._associations[association.id]
        tunnel = association.tunnel
        outputs: list[Output] = []
        connection = association.connection
        if not connection.is_closed:
            connection.close()
        if tunnel is not None:
            tunnel.associations.discard(association.id)
            if close_notify:
                outputs += [ToTunnel(tunnel.key, TunneledDtls(association.id, datagram))
                            for datagram in connection.datagrams_to_send(now)]
            if notify_tunnel:
                outputs.append(ToTunnel(tunnel.key, EndpointDisconnect(association.id)))
        expectation = association.expectation
        outputs.append(AssociationClosed(association.id, expectation.room,
                                         expectation.participant_id, reason))
        if tell_key_logic:
            outputs += self.apply(self.key_distributor.endpoint_gone(association.id, now), now)
        return outputs


def _hop_by_hop_keys(association: _Association) -> MediaKeys:
    """The outer halves of the association's SRTP keys (RFC 9185 §5.4, RFC 8723 §3)."""
    material = association.connection.export_srtp_keys()
    profile: Profile = material.profile
    key_half = profile.master_key_length // 2
    salt_half = profile.master_salt_length // 2
    return MediaKeys(association.id, profile.dtls_id,
                     client_write_master_key=material.client_key[key_half:],
                     server_write_master_key=material.server_key[key_half:],
                     client_write_master_salt=material.client_salt[salt_half:],
                     server_write_master_salt=material.server_salt[salt_half:])


__all__ = [
    "AssociationClosed",
    "AssociationEvent",
    "AssociationOpened",
    "AssociationsAdopted",
    "AssociationsOrphaned",
    "KeyDistributorAssociations",
    "Output",
    "ToTunnel",
]
