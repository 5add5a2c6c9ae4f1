"""Helpers shared by the DTLS tests: identities, connected pairs, a lossy simulated network."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from sipperc.dtls import DtlsConnection, Event, Identity
from sipperc.dtls.fragments import encode_fragment, parse_fragments
from sipperc.dtls.record import ContentType, encode_record, parse_records
from sipperc.srtp import EKTCipher, Profile

CLIENT_TLS_ID = "client-tls-id-0123456789"
SERVER_TLS_ID = "server-tls-id-9876543210"


@cache
def identities() -> tuple[Identity, Identity]:
    """(client, server) identities, generated once per test process."""
    return Identity.generate(common_name="client"), Identity.generate(common_name="server")


def make_pair(client_kw: dict[str, object] | None = None,
              server_kw: dict[str, object] | None = None) -> tuple[DtlsConnection, DtlsConnection]:
    """A client and a server that expect each other's fingerprints and tls-ids, with EKT."""
    cid, sid = identities()
    ckw: dict[str, object] = {"srtp_profiles": [Profile.AEAD_AES_128_GCM],
                              "remote_fingerprint": sid.fingerprint,
                              "local_tls_id": CLIENT_TLS_ID, "remote_tls_id": SERVER_TLS_ID,
                              "ekt_ciphers": [EKTCipher.AESKW_128]}
    skw: dict[str, object] = {"srtp_profiles": [Profile.AEAD_AES_128_GCM],
                              "remote_fingerprint": cid.fingerprint,
                              "local_tls_id": SERVER_TLS_ID, "remote_tls_id": CLIENT_TLS_ID,
                              "ekt_ciphers": [EKTCipher.AESKW_128]}
    ckw.update(client_kw or {})
    skw.update(server_kw or {})
    return (DtlsConnection("client", cid, **ckw),  # type: ignore[arg-type]
            DtlsConnection("server", sid, **skw))  # type: ignore[arg-type]


def events(connection: DtlsConnection) -> list[Event]:
    """Drain a connection's events."""
    result = []
    while (event := connection.next_event()) is not None:
        result.append(event)
    return result


Tamper = Callable[[bytes], bytes | None]


def exchange(client: DtlsConnection, server: DtlsConnection, now: float = 0.0, *,
             to_server: Tamper | None = None, to_client: Tamper | None = None,
             rounds: int = 12) -> tuple[list[Event], list[Event]]:
    """Move datagrams both ways until quiet; optional functions rewrite (or drop) them."""
    client_events: list[Event] = []
    server_events: list[Event] = []
    for _ in range(rounds):
        moved = False
        for sent in client.datagrams_to_send(now):
            moved = True
            datagram = to_server(sent) if to_server else sent
            if datagram is not None:
                server.receive_datagram(datagram, now)
        for sent in server.datagrams_to_send(now):
            moved = True
            datagram = to_client(sent) if to_client else sent
            if datagram is not None:
                client.receive_datagram(datagram, now)
        client_events += events(client)
        server_events += events(server)
        if not moved:
            break
    return client_events, server_events


def rewrite_message(msg_type: int, change: Callable[[bytes], bytes]) -> Tamper:
    """A tamper function that rewrites the body of plaintext handshake messages of one type.

    Only unfragmented messages are rewritten (the default MTU keeps them whole).
    """
    def tamper(datagram: bytes) -> bytes:
        out = b""
        for record in parse_records(datagram):
            fragment = record.fragment
            if record.content_type == ContentType.HANDSHAKE and record.epoch == 0:
                pieces = []
                for f in parse_fragments(fragment):
                    body = f.fragment
                    if f.msg_type == msg_type and f.fragment_offset == 0 and len(body) == f.length:
                        body = change(body)
                        pieces.append(encode_fragment(f.msg_type, f.message_seq, len(body), 0,
                                                      body))
                    else:
                        pieces.append(encode_fragment(f.msg_type, f.message_seq, f.length,
                                                      f.fragment_offset, body))
                fragment = b"".join(pieces)
            out += encode_record(record.content_type, record.epoch, record.sequence_number,
                                 fragment, record.version)
        return out
    return tamper


@dataclass(order=True)
class _Delivery:
    at: float
    order: int
    to_server: bool = field(compare=False)
    datagram: bytes = field(compare=False)


class LossyNetwork:
    """Two endpoints joined by a network that loses, duplicates and reorders datagrams."""

    def __init__(self, client: DtlsConnection, server: DtlsConnection, seed: int, *,
                 loss: float = 0.3, duplication: float = 0.1, max_delay: float = 0.08) -> None:
        self.client = client
        self.server = server
        self.random = random.Random(seed)
        self.loss = loss
        self.duplication = duplication
        self.max_delay = max_delay
        self.now = 0.0
        self._queue: list[_Delivery] = []
        self._order = 0
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.on_server_event: Callable[[Event, float], None] | None = None

    def _send(self, datagrams: list[bytes], to_server: bool) -> None:
        for datagram in datagrams:
            copies = 2 if self.random.random() < self.duplication else 1
            for _ in range(copies):
                if self.random.random() < self.loss:
                    continue
                self._order += 1
                at = self.now + self.random.uniform(0.001, self.max_delay)
                heapq.heappush(self._queue, _Delivery(at, self._order, to_server, datagram))

    def _flush(self) -> None:
        self._send(self.client.datagrams_to_send(self.now), True)
        self._send(self.server.datagrams_to_send(self.now), False)
        self.client_events += events(self.client)
        for event in events(self.server):
            self.server_events.append(event)
            if self.on_server_event:
                self.on_server_event(event, self.now)
        self._send(self.server.datagrams_to_send(self.now), False)

    def run(self, until: float, done: Callable[[], bool]) -> None:
        """Advance the simulated clock event by event until ``done()`` or ``until``."""
        self._flush()
        while not done() and self.now < until:
            timers = [t for t in (self.client.get_timer(), self.server.get_timer()) if t]
            candidates = timers + ([self._queue[0].at] if self._queue else [])
            if not candidates:
                break
            self.now = max(self.now, min(candidates))
            while self._queue and self._queue[0].at <= self.now:
                delivery = heapq.heappop(self._queue)
                target = self.server if delivery.to_server else self.client
                target.receive_datagram(delivery.datagram, self.now)
            for conn in (self.client, self.server):
                timer = conn.get_timer()
                if timer is not None and timer <= self.now:
                    conn.handle_timer(self.now)
            self._flush()
