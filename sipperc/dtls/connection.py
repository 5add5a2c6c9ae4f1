"""A sans-I/O DTLS 1.2 connection for DTLS-SRTP (RFC 6347, RFC 5764) with EKT (RFC 8870 §5.2).

The object never touches a socket or a clock: the caller feeds datagrams and the current time
and collects datagrams, events and the next deadline (the aioquic shape)::

    conn = DtlsConnection("client", identity, [Profile.AEAD_AES_128_GCM], peer_fingerprint)
    for datagram in conn.datagrams_to_send(now): transport.write(datagram)
    conn.receive_datagram(data, now)        # when a DTLS datagram arrives
    conn.handle_timer(now)                  # when get_timer() has passed
    while (event := conn.next_event()) is not None: ...

What it negotiates: ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305, X25519 or P-256, the
extended master secret (required), ``use_srtp`` (RFC 5764 §4.1), ``external_session_id``
(RFC 8844 §4.3), ``supported_ekt_ciphers`` (RFC 8870 §5.2.1). The server always asks for the
client's certificate (RFC 5763 §5) and both sides check the peer's against the SDP fingerprint.
No session resumption and no renegotiation: a HelloRequest or a second ClientHello is answered
with a ``no_renegotiation`` warning (RFC 5746 §4.2, RFC 5246 §7.2.2).
"""

from __future__ import annotations

import hmac
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from twisted.logger import Logger

from sipperc.dtls import ack as ack_codec
from sipperc.dtls.alert import (
    AlertDescription,
    AlertLevel,
    DtlsAlertError,
    DtlsStateError,
    decode_alert,
    encode_alert,
)
from sipperc.dtls.cipher_suite import (
    ACCEPTED_SIGNATURE_SCHEMES,
    DEFAULT_CIPHER_SUITES,
    DEFAULT_GROUPS,
    EMPTY_RENEGOTIATION_INFO_SCSV,
    CipherSuite,
    NamedGroup,
    SignatureScheme,
)
from sipperc.dtls.events import (
    AlertReceived,
    ApplicationDataReceived,
    ConnectionClosed,
    EKTKeyAcknowledged,
    EKTKeyReceived,
    Event,
    HandshakeComplete,
)
from sipperc.dtls.extensions import (
    UNCOMPRESSED,
    ExtensionType,
    UseSrtp,
    decode_ekt_cipher_selection,
    decode_ekt_ciphers_offer,
    decode_external_session_id,
    decode_point_formats,
    decode_renegotiation_info,
    decode_uint16_vector,
    encode_ekt_ciphers_offer,
    encode_external_session_id,
)
from sipperc.dtls.fragments import (
    HANDSHAKE_HEADER_LENGTH,
    HandshakeFragment,
    HandshakeMessage,
    HandshakeReassembler,
    encode_fragment,
    encode_message,
    parse_fragments,
    split_message,
)
from sipperc.dtls.handshake import (
    ECDSA_SIGN,
    RSA_SIGN,
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    DigitallySigned,
    EKTKey,
    Finished,
    HandshakeType,
    HelloVerifyRequest,
    ServerHello,
    ServerKeyExchange,
    empty_body,
)
from sipperc.dtls.identity import Fingerprint, Identity, fingerprints
from sipperc.dtls.key_schedule import MasterSecret, transcript_hash
from sipperc.dtls.presentation import uint16_list, vector
from sipperc.dtls.record import (
    DTLS_1_0,
    DTLS_1_2,
    MAX_PLAINTEXT,
    MAX_SEQUENCE,
    RECORD_HEADER_LENGTH,
    ContentType,
    Record,
    RecordProtection,
    ReplayWindow,
    encode_record,
    parse_records,
)
from sipperc.dtls.srtp_keys import EXPORTER_LABEL, SrtpKeyingMaterial, exporter_length
from sipperc.dtls.state import CONNECTED, State, transition
from sipperc.srtp import EKTCipher, Profile

_log = Logger(namespace="sipperc.dtls")

Role = Literal["client", "server"]

_CCS_BODY = b"\x01"
_MAX_FRAGMENTED_HELLO = 4096
_MAX_EARLY_RECORDS = 8
_HASHES: dict[SignatureScheme, hashes.HashAlgorithm] = {
    SignatureScheme.ECDSA_SECP256R1_SHA256: hashes.SHA256(),
    SignatureScheme.ECDSA_SECP384R1_SHA384: hashes.SHA384(),
    SignatureScheme.ECDSA_SECP521R1_SHA512: hashes.SHA512(),
    SignatureScheme.RSA_PKCS1_SHA256: hashes.SHA256(),
    SignatureScheme.RSA_PKCS1_SHA384: hashes.SHA384(),
    SignatureScheme.RSA_PKCS1_SHA512: hashes.SHA512(),
    SignatureScheme.RSA_PSS_RSAE_SHA256: hashes.SHA256(),
    SignatureScheme.RSA_PSS_RSAE_SHA384: hashes.SHA384(),
}
_ECDSA_SCHEMES = frozenset({SignatureScheme.ECDSA_SECP256R1_SHA256,
                            SignatureScheme.ECDSA_SECP384R1_SHA384,
                            SignatureScheme.ECDSA_SECP521R1_SHA512})
_PSS_SCHEMES = frozenset({SignatureScheme.RSA_PSS_RSAE_SHA256,
                          SignatureScheme.RSA_PSS_RSAE_SHA384})


@dataclass(frozen=True, slots=True)
class _FlightMessage:
    """One message of a flight, kept to be re-sent verbatim (RFC 6347 §4.2.4)."""

    epoch: int
    msg_type: int  # -1 for ChangeCipherSpec
    message_seq: int
    body: bytes


class _PendingEKTKey:
    """An EKTKey sent and not yet fully acknowledged."""

    __slots__ = ("acked", "body", "message", "message_seq")

    def __init__(self, message: EKTKey, message_seq: int, body: bytes) -> None:
        self.message = message
        self.message_seq = message_seq
        self.body = body
        self.acked = bytearray(len(body))


class _RetransmitTimer:
    """RFC 6347 §4.2.4.1: start at ``initial``, double on every expiry up to ``maximum``."""

    __slots__ = ("count", "deadline", "initial", "maximum", "timeout")

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.timeout = initial
        self.deadline: float | None = None
        self.count = 0

    def start(self, now: float) -> None:
        self.timeout = self.initial
        self.count = 0
        self.deadline = now + self.timeout

    def back_off(self, now: float) -> None:
        self.count += 1
        self.timeout = min(self.timeout * 2, self.maximum)
        self.deadline = now + self.timeout

    def stop(self) -> None:
        self.deadline = None


class DtlsConnection:
    """One DTLS 1.2 association, client or server, without I/O.

    Parameters beyond the required shape:

    - ``local_tls_id`` / ``remote_tls_id``: this side's and the peer's SDP ``tls-id`` values
      (RFC 8842), sent and checked as ``external_session_id`` (RFC 8844 §4.3).
    - ``ekt_ciphers``: client: EKT ciphers to offer in preference order; server: the ones it
      accepts. Empty means EKT is not negotiated.
    - ``mtu``: the largest datagram to send (IP and UDP headers excluded); handshake messages
      are fragmented to fit (RFC 6347 §4.1.1.1).
    - ``initial_timeout``, ``max_timeout``, ``max_retransmissions``: flight retransmission
      (RFC 6347 §4.2.4.1: 1 s doubling to 60 s); after ``max_retransmissions`` unanswered
      retransmissions the connection closes.
    - ``cookie_exchange``: server sends HelloVerifyRequest before committing state (§4.2.1).
    """

    def __init__(
        self,
        role: Role,
        identity: Identity,
        srtp_profiles: Sequence[Profile] = (),
        remote_fingerprint: str | Fingerprint | Iterable[str | Fingerprint] | None = None,
        *,
        local_tls_id: str | bytes | None = None,
        remote_tls_id: str | bytes | None = None,
        ekt_ciphers: Sequence[EKTCipher] = (),
        cipher_suites: Sequence[CipherSuite] = DEFAULT_CIPHER_SUITES,
        groups: Sequence[NamedGroup] = DEFAULT_GROUPS,
        mtu: int = 1200,
        initial_timeout: float = 1.0,
        max_timeout: float = 60.0,
        max_retransmissions: int = 10,
        cookie_exchange: bool = True,
    ) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        if mtu < 100:
            raise ValueError("mtu below 100 bytes cannot carry a DTLS handshake")
        if not cipher_suites or not groups:
            raise ValueError("at least one cipher suite and one group are needed")
        self.role: Role = role
        self.is_client = role == "client"
        self._identity = identity
        self._profiles = tuple(Profile(p) for p in srtp_profiles)
        self._expected = (None if remote_fingerprint is None
                          else fingerprints(remote_fingerprint))
        self._local_tls_id = _tls_id(local_tls_id)
        self._remote_tls_id = _tls_id(remote_tls_id)
        self._ekt_ciphers = tuple(EKTCipher(c) for c in ekt_ciphers)
        self._suites = tuple(CipherSuite(s) for s in cipher_suites)
        self._groups = tuple(NamedGroup(g) for g in groups)
        self.mtu = mtu
        self._max_retransmissions = max_retransmissions
        self._cookie_exchange = cookie_exchange
        self._cookie_secret = os.urandom(32)

        self.state = State.CLIENT_START if self.is_client else State.SERVER_WAIT_CLIENT_HELLO
        self._events: deque[Event] = deque()
        self._records_out: list[bytes] = []
        self._write_epoch = 0
        self._write_seq = [0, 0]
        self._write_protection: list[RecordProtection | None] = [None, None]
        self._read_protection: list[RecordProtection | None] = [None, None]
        self._replay = [ReplayWindow(), ReplayWindow()]
        self._reassembler = HandshakeReassembler()
        self._early_records: list[Record] = []
        self._message_seq = 0
        self._transcript = bytearray()
        self._flight: list[_FlightMessage] = []
        self._flight_timer = _RetransmitTimer(initial_timeout, max_timeout)
        self._ekt_timer = _RetransmitTimer(initial_timeout, max_timeout)

        # Negotiated values.
        self._client_random = b""
        self._server_random = b""
        self._cookie = b""
        self._client_hello: ClientHello | None = None
        self.cipher_suite: CipherSuite | None = None
        self.group: NamedGroup | None = None
        self.srtp_profile: Profile | None = None
        self.ekt_cipher: EKTCipher | None = None
        self._session_id_verified: bool | None = None
        self._ecdh_key: x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey | None = None
        self._peer_public = b""
        self.peer_certificate: bytes | None = None
        self._peer_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None
        self._certificate_requested = False
        self._master: MasterSecret | None = None

        # EKTKey reliability (RFC 8870 §5.2.2, see sipperc.dtls.ack).
        self._ekt_pending: dict[int, _PendingEKTKey] = {}
        self._ekt_record_ranges: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self._ekt_records_in: dict[int, list[tuple[int, int]]] = {}

    def __repr__(self) -> str:
        return f"<DtlsConnection {self.role} {self.state.name}>"

    # ------------------------------------------------------------------ public API

    @property
    def is_connected(self) -> bool:
        """True once the handshake has completed and until the connection closes."""
        return self.state in CONNECTED

    @property
    def is_closed(self) -> bool:
        """True once the connection has ended."""
        return self.state is State.CLOSED

    def receive_datagram(self, data: bytes, now: float) -> None:
        """Process one UDP payload carrying DTLS records (RFC 7983: first byte 20..63)."""
        if self.state is State.CLOSED or self.state is State.CLIENT_START:
            return
        try:
            retransmitted = False
            records = parse_records(data)
            while records:
                for record in records:
                    retransmitted |= self._receive_record(record, now)
                    if self.is_closed:
                        return
                # Epoch-1 records that came before the keys existed, now that they do.
                records = []
                if self._early_records and self._read_protection[1] is not None:
                    records, self._early_records = self._early_records, []
            if retransmitted and self._flight and self.state not in (
                    State.CLIENT_CONNECTED, State.SERVER_WAIT_CLIENT_HELLO):
                # RFC 6347 §4.2.4: the peer re-sent its last flight, so ours was lost.
                self._transmit_flight()
        except DtlsAlertError as error:
            self._fail(error)

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Datagrams to put on the wire now; a client sends its first ClientHello here."""
        if self.state is State.CLIENT_START:
            self._start_client(now)
        records, self._records_out = self._records_out, []
        datagrams: list[bytes] = []
        current = b""
        for record in records:
            if current and len(current) + len(record) > self.mtu:
                datagrams.append(current)
                current = b""
            current += record
        if current:
            datagrams.append(current)
        return datagrams

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        deadlines = [d for d in (self._flight_timer.deadline, self._ekt_timer.deadline)
                     if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Retransmit what timed out (RFC 6347 §4.2.4)."""
        if self.state is State.CLIENT_START:
            self._start_client(now)
            return
        timer = self._flight_timer
        if timer.deadline is not None and now >= timer.deadline:
            if timer.count >= self._max_retransmissions:
                self._close("handshake timed out", None, by_peer=False)
                return
            timer.back_off(now)
            self._transmit_flight()
        timer = self._ekt_timer
        if timer.deadline is not None and now >= timer.deadline:
            if timer.count >= self._max_retransmissions:
                self._close("EKTKey not acknowledged", None, by_peer=False)
                return
            timer.back_off(now)
            for pending in self._ekt_pending.values():
                self._send_ekt_records(pending)

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def send(self, data: bytes) -> None:
        """Send application data in one record (RFC 6347 §4.1.1: one record per datagram)."""
        if not self.is_connected:
            raise DtlsStateError(f"cannot send application data in state {self.state.name}")
        if len(data) > MAX_PLAINTEXT:
            raise ValueError(f"application data record of {len(data)} bytes, "
                             f"the limit is {MAX_PLAINTEXT}")
        self._queue_record(ContentType.APPLICATION_DATA, self._write_epoch, bytes(data))

    def send_ekt_key(self, ekt_key: EKTKey, now: float) -> None:
        """Server: send an EKTKey (RFC 8870 §5.2.2), retransmitted until the client ACKs it."""
        if self.is_client:
            raise DtlsStateError("only the DTLS server sends EKTKey (RFC 8870 §5.2.2)")
        if self.state is not State.SERVER_CONNECTED:
            raise DtlsStateError(f"cannot send EKTKey in state {self.state.name}")
        if self.ekt_cipher is None:
            raise DtlsStateError("the client did not negotiate supported_ekt_ciphers")
        if len(ekt_key.ekt_key_value) != self.ekt_cipher.key_length:
            raise ValueError(f"{self.ekt_cipher.name} needs a {self.ekt_cipher.key_length}-byte "
                             f"EKTKey, got {len(ekt_key.ekt_key_value)}")
        pending = _PendingEKTKey(ekt_key, self._message_seq, ekt_key.encode())
        self._message_seq += 1
        self._ekt_pending[pending.message_seq] = pending
        self._send_ekt_records(pending)
        if self._ekt_timer.deadline is None:
            self._ekt_timer.start(now)

    def close(self) -> None:
        """Send close_notify (if connected), end the connection and wipe the keys."""
        if self.state is State.CLOSED:
            return
        if self.is_connected:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._close("closed locally", AlertDescription.CLOSE_NOTIFY, by_peer=False)

    def export_keying_material(self, label: bytes, length: int,
                               context: bytes | None = None) -> bytes:
        """RFC 5705 exporter output of ``length`` bytes."""
        if not self.is_connected or self._master is None:
            raise DtlsStateError("keying material exists only on a connected association")
        return self._master.export(label, length, context)

    def export_srtp_keys(self) -> SrtpKeyingMaterial:
        """The negotiated SRTP profile and master keys and salts (RFC 5764 §4.2)."""
        if self.srtp_profile is None:
            raise DtlsStateError("no SRTP profile was negotiated")
        profile = self.srtp_profile
        material = self.export_keying_material(EXPORTER_LABEL, exporter_length(profile))
        return SrtpKeyingMaterial.split(profile, material)

    # ------------------------------------------------------------------ records

    def _receive_record(self, record: Record, now: float) -> bool:
        """Handle one record; True if it carried a retransmitted handshake message."""
        if record.version not in (DTLS_1_2, DTLS_1_0) or record.epoch > 1:
            return False
        protection = self._read_protection[record.epoch]
        if record.epoch and protection is None:
            # RFC 6347 §4.1: records of the next epoch may overtake the messages that create
            # its keys (a reordered Finished); keep a few instead of waiting for a resend.
            if len(self._early_records) < _MAX_EARLY_RECORDS and not self.is_connected:
                self._early_records.append(record)
            return False
        replay = self._replay[record.epoch]
        if replay.is_replay(record.sequence_number):
            return False
        if protection is not None:
            try:
                plaintext = protection.open(record)
            except DtlsAlertError:
                return False  # RFC 6347 §4.1.2.7: invalid records are silently discarded
        else:
            plaintext = record.fragment
        ctype = record.content_type
        if ctype == ContentType.HANDSHAKE:
            if protection is not None or plaintext:
                # Epoch 0 is unauthenticated: an empty forged record must not burn a number.
                replay.mark(record.sequence_number)
            return self._receive_handshake(record, plaintext, now)
        replay.mark(record.sequence_number)
        if ctype == ContentType.ALERT:
            # Once connected, only protected alerts count: a forged plaintext alert must not
            # tear down an established association.
            if record.epoch == 1 or not self.is_connected:
                self._receive_alert(plaintext)
        elif ctype == ContentType.APPLICATION_DATA:
            # Data in epoch 1 before our Finished check is dropped (RFC 6347 §4.1 allows it).
            if self.is_connected and record.epoch == 1:
                self._events.append(ApplicationDataReceived(plaintext))
        elif ctype == ContentType.CHANGE_CIPHER_SPEC:
            if plaintext != _CCS_BODY:
                raise DtlsAlertError(AlertDescription.DECODE_ERROR, "bad ChangeCipherSpec")
        elif ctype == ContentType.ACK and record.epoch == 1:
            self._receive_ack(plaintext)
        return False

    def _receive_handshake(self, record: Record, plaintext: bytes, now: float) -> bool:
        retransmitted = False
        for fragment in parse_fragments(plaintext):
            if self.state is State.SERVER_WAIT_CLIENT_HELLO:
                self._receive_initial_client_hello(record, fragment, now)
                continue
            is_ekt = fragment.msg_type == HandshakeType.EKT_KEY and self.is_client
            if is_ekt:
                self._ekt_records_in.setdefault(fragment.message_seq, []).append(record.number)
            if not self._reassembler.add(fragment, record.epoch):
                retransmitted = True
                if is_ekt and record.epoch == 1 and self.is_connected:
                    # A copy of an EKTKey we processed: our ACK was lost (RFC 9147 §7.1).
                    self._send_ack(self._ekt_records_in.pop(fragment.message_seq, []))
        while self.state is not State.CLOSED and (message := self._reassembler.pop()) is not None:
            self._handle_message(message, now)
        return retransmitted

    def _queue_record(self, content_type: int, epoch: int, plaintext: bytes) -> tuple[int, int]:
        seq = self._write_seq[epoch]
        if seq > MAX_SEQUENCE:
            raise DtlsAlertError(AlertDescription.INTERNAL_ERROR, "record sequence exhausted")
        self._write_seq[epoch] = seq + 1
        protection = self._write_protection[epoch]
        fragment = (protection.seal(content_type, epoch, seq, plaintext) if protection
                    else plaintext)
        self._records_out.append(encode_record(content_type, epoch, seq, fragment))
        return epoch, seq

    def _max_fragment(self, epoch: int) -> int:
        protection = self._write_protection[epoch]
        overhead = protection.overhead if protection else 0
        return self.mtu - RECORD_HEADER_LENGTH - overhead - HANDSHAKE_HEADER_LENGTH

    def _transmit_flight(self) -> None:
        """(Re)send the current flight with fresh record sequence numbers."""
        for item in self._flight:
            if item.msg_type < 0:
                self._queue_record(ContentType.CHANGE_CIPHER_SPEC, item.epoch, _CCS_BODY)
                continue
            # Several small fragments share a record when they fit (fewer datagrams).
            for fragment in split_message(item.msg_type, item.message_seq, item.body,
                                          self._max_fragment(item.epoch)):
                self._queue_record(ContentType.HANDSHAKE, item.epoch, fragment)

    def _send_flight(self, messages: list[_FlightMessage], now: float, *,
                     timer: bool = True) -> None:
        self._flight = messages
        self._transmit_flight()
        if timer:
            self._flight_timer.start(now)
        else:
            self._flight_timer.stop()

    def _message(self, msg_type: HandshakeType, body: bytes, epoch: int = 0) -> _FlightMessage:
        """A new outgoing message: takes the next message_seq and joins the transcript."""
        item = _FlightMessage(epoch, msg_type, self._message_seq, body)
        self._message_seq += 1
        self._transcript += encode_message(msg_type, item.message_seq, body)
        return item

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        self._queue_record(ContentType.ALERT, self._write_epoch, encode_alert(level, description))

    def _receive_alert(self, body: bytes) -> None:
        level, description = decode_alert(body)
        self._events.append(AlertReceived(level, description))
        if description == AlertDescription.CLOSE_NOTIFY:
            # RFC 5246 §7.2.1: answer close_notify with close_notify.
            if self.is_connected:
                self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
            self._close("peer sent close_notify", description, by_peer=True)
        elif level == AlertLevel.FATAL:
            name = getattr(description, "name", str(description)).lower()
            self._close(f"peer sent fatal alert {name}", description, by_peer=True)

    def _fail(self, error: DtlsAlertError) -> None:
        """Send the fatal alert for ``error`` and close (RFC 5246 §7.2.2)."""
        _log.info("DTLS {role} failed: {error}", role=self.role, error=error.message,
                  alert=error.description.name)
        self._send_alert(AlertLevel.FATAL, error.description)
        self._close(error.message, error.description, by_peer=False)

    def _close(self, reason: str, alert: AlertDescription | int | None, *, by_peer: bool) -> None:
        self.state = State.CLOSED
        self._flight_timer.stop()
        self._ekt_timer.stop()
        self._flight = []
        self._ekt_pending.clear()
        if self._master is not None:
            self._master.wipe()
        self._master = None
        self._ecdh_key = None
        self._early_records = []
        # Records already queued (a final alert) were sealed when queued.
        self._read_protection = [None, None]
        self._write_protection = [None, None]
        self._events.append(ConnectionClosed(reason, alert, by_peer))

    # ------------------------------------------------------------------ handshake dispatch

    def _handle_message(self, message: HandshakeMessage, now: float) -> None:
        try:
            msg_type = HandshakeType(message.msg_type)
        except ValueError:
            raise DtlsAlertError(AlertDescription.UNEXPECTED_MESSAGE,
                                 f"unknown handshake message type {message.msg_type}") from None
        step = transition(self.state, msg_type)
        if step is None:
            raise DtlsAlertError(AlertDescription.UNEXPECTED_MESSAGE,
                                 f"{msg_type.name} in state {self.state.name}")
        next_state, epoch = step
        if message.epoch != epoch:
            raise DtlsAlertError(AlertDescription.UNEXPECTED_MESSAGE,
                                 f"{msg_type.name} in epoch {message.epoch}, expected {epoch}")
        handler = getattr(self, f"_on_{msg_type.name.lower()}")
        handler(message, now)
        if self.state is not State.CLOSED:
            self.state = next_state

    # ------------------------------------------------------------------ client

    def _start_client(self, now: float) -> None:
        self._client_random = os.urandom(32)
        self._send_client_hello(now)
        self.state = State.CLIENT_WAIT_SERVER_HELLO

    def _send_client_hello(self, now: float) -> None:
        extensions: dict[int, bytes] = {
            ExtensionType.SUPPORTED_GROUPS: uint16_list(self._groups),
            ExtensionType.EC_POINT_FORMATS: vector(1, bytes((UNCOMPRESSED,))),
            ExtensionType.SIGNATURE_ALGORITHMS: uint16_list(ACCEPTED_SIGNATURE_SCHEMES),
            ExtensionType.EXTENDED_MASTER_SECRET: b"",
            ExtensionType.RENEGOTIATION_INFO: vector(1, b""),
        }
        if self._profiles:
            extensions[ExtensionType.USE_SRTP] = UseSrtp(
                tuple(p.dtls_id for p in self._profiles)).encode()
        if self._ekt_ciphers:
            extensions[ExtensionType.SUPPORTED_EKT_CIPHERS] = encode_ekt_ciphers_offer(
                list(self._ekt_ciphers))
        if self._local_tls_id is not None:
            extensions[ExtensionType.EXTERNAL_SESSION_ID] = encode_external_session_id(
                self._local_tls_id)
        hello = ClientHello(DTLS_1_2, self._client_random, b"", self._cookie, self._suites,
                            b"\x00", extensions)
        # RFC 6347 §4.2.1: the ClientHello answering a HelloVerifyRequest starts the transcript.
        self._transcript = bytearray()
        self._send_flight([self._message(HandshakeType.CLIENT_HELLO, hello.encode())], now)

    def _on_hello_verify_request(self, message: HandshakeMessage, now: float) -> None:
        hvr = HelloVerifyRequest.decode(message.body)
        if hvr.version not in (DTLS_1_0, DTLS_1_2):
            raise DtlsAlertError(AlertDescription.PROTOCOL_VERSION,
                                 f"HelloVerifyRequest version {hvr.version:#06x}")
        if not hvr.cookie:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER, "empty cookie")
        self._cookie = hvr.cookie
        self._send_client_hello(now)

    def _on_server_hello(self, message: HandshakeMessage, now: float) -> None:
        hello = ServerHello.decode(message.body)
        if hello.version != DTLS_1_2:
            raise DtlsAlertError(AlertDescription.PROTOCOL_VERSION,
                                 f"server chose version {hello.version:#06x}, only DTLS 1.2 "
                                 "is offered")
        if hello.cipher_suite not in self._suites:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"server chose cipher suite {hello.cipher_suite:#06x} "
                                 "that was not offered")
        if hello.compression_method != 0:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 "server chose a compression method that was not offered")
        offered = {ExtensionType.SUPPORTED_GROUPS, ExtensionType.EC_POINT_FORMATS,
                   ExtensionType.EXTENDED_MASTER_SECRET, ExtensionType.RENEGOTIATION_INFO}
        if self._profiles:
            offered.add(ExtensionType.USE_SRTP)
        if self._ekt_ciphers:
            offered.add(ExtensionType.SUPPORTED_EKT_CIPHERS)
        if self._local_tls_id is not None:
            offered.add(ExtensionType.EXTERNAL_SESSION_ID)
        extra = set(hello.extensions) - offered
        if extra:
            raise DtlsAlertError(AlertDescription.UNSUPPORTED_EXTENSION,
                                 f"ServerHello carries extension(s) {sorted(extra)} "
                                 "that were not offered")
        ext = hello.extensions
        if ExtensionType.EXTENDED_MASTER_SECRET not in ext:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "server did not negotiate the extended master secret "
                                 "(RFC 7627 is required)")
        if ext[ExtensionType.EXTENDED_MASTER_SECRET]:
            raise DtlsAlertError(AlertDescription.DECODE_ERROR,
                                 "extended_master_secret is not empty")
        if ExtensionType.RENEGOTIATION_INFO in ext and decode_renegotiation_info(
                ext[ExtensionType.RENEGOTIATION_INFO]):
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "renegotiation_info not empty on an initial handshake")
        if ExtensionType.EC_POINT_FORMATS in ext and UNCOMPRESSED not in decode_point_formats(
                ext[ExtensionType.EC_POINT_FORMATS]):
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 "server does not accept uncompressed points")
        if self._profiles:
            if ExtensionType.USE_SRTP not in ext:
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                     "server did not negotiate use_srtp")
            use_srtp = UseSrtp.decode(ext[ExtensionType.USE_SRTP])
            offered_ids = [p.dtls_id for p in self._profiles]
            if len(use_srtp.profiles) != 1 or use_srtp.profiles[0] not in offered_ids:
                raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                     f"server chose SRTP profile(s) {use_srtp.profiles} "
                                     f"from an offer of {offered_ids}")
            if use_srtp.mki:
                # RFC 5764 §4.1.1: an MKI different from the one offered (none).
                raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                     "server returned an SRTP MKI that was not offered")
            self.srtp_profile = Profile.from_dtls_id(use_srtp.profiles[0])
        if ExtensionType.SUPPORTED_EKT_CIPHERS in ext:
            selected = decode_ekt_cipher_selection(ext[ExtensionType.SUPPORTED_EKT_CIPHERS])
            if selected not in self._ekt_ciphers:
                raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                     f"server chose EKT cipher {selected} that was not offered")
            self.ekt_cipher = EKTCipher(selected)
        self._check_external_session_id(ext)
        self._server_random = hello.random
        self.cipher_suite = CipherSuite(hello.cipher_suite)
        self._add_to_transcript(message)

    def _on_certificate(self, message: HandshakeMessage, now: float) -> None:
        certificate = Certificate.decode(message.body)
        if not certificate.certificates:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "peer sent no certificate (DTLS-SRTP authenticates both "
                                 "sides by fingerprint, RFC 5763 §5)")
        der = certificate.certificates[0]
        if self._expected is not None and not any(f.matches(der) for f in self._expected):
            raise DtlsAlertError(AlertDescription.BAD_CERTIFICATE,
                                 "peer certificate does not match the SDP fingerprint")
        try:
            key = x509.load_der_x509_certificate(der).public_key()
        except ValueError as error:
            raise DtlsAlertError(AlertDescription.BAD_CERTIFICATE,
                                 f"peer certificate does not parse: {error}") from None
        # The server's key must fit the suite (ECDHE_ECDSA or ECDHE_RSA); a client's may be either.
        rsa_suite = self.cipher_suite is not None and self.cipher_suite.parameters.rsa
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or (
                self.is_client and isinstance(key, rsa.RSAPublicKey) != rsa_suite):
            raise DtlsAlertError(AlertDescription.UNSUPPORTED_CERTIFICATE,
                                 f"peer certificate key {type(key).__name__} cannot be used "
                                 "with the negotiated suite")
        self._peer_key = key
        self.peer_certificate = der
        self._add_to_transcript(message)

    def _on_server_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        ske = ServerKeyExchange.decode(message.body)
        if ske.group not in self._groups:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"server chose group {ske.group} that was not offered")
        self._verify(ske.signed, self._client_random + self._server_random + ske.params(),
                     "ServerKeyExchange")
        self.group = NamedGroup(ske.group)
        self._peer_public = ske.public
        self._add_to_transcript(message)

    def _on_certificate_request(self, message: HandshakeMessage, now: float) -> None:
        request = CertificateRequest.decode(message.body)
        if ECDSA_SIGN not in request.certificate_types:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "server does not accept ECDSA client certificates")
        if SignatureScheme.ECDSA_SECP256R1_SHA256 not in request.signature_schemes:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "server does not accept ecdsa_secp256r1_sha256 signatures")
        self._certificate_requested = True
        self._add_to_transcript(message)

    def _on_server_hello_done(self, message: HandshakeMessage, now: float) -> None:
        empty_body(message.body, "ServerHelloDone")
        self._add_to_transcript(message)
        assert self.group is not None and self.cipher_suite is not None
        public, shared = self._key_agreement(self.group, self._peer_public)
        flight = []
        if self._certificate_requested:
            flight.append(self._message(HandshakeType.CERTIFICATE,
                                        Certificate((self._identity.certificate_der,)).encode()))
        flight.append(self._message(HandshakeType.CLIENT_KEY_EXCHANGE,
                                    ClientKeyExchange(public).encode()))
        self._derive_master_secret(shared)
        if self._certificate_requested:
            signature = self._identity.private_key.sign(bytes(self._transcript),
                                                        ec.ECDSA(hashes.SHA256()))
            flight.append(self._message(HandshakeType.CERTIFICATE_VERIFY, CertificateVerify(
                DigitallySigned(SignatureScheme.ECDSA_SECP256R1_SHA256, signature)).encode()))
        flight.append(_FlightMessage(0, -1, 0, _CCS_BODY))
        flight.append(self._finished_message())
        self._send_flight(flight, now)

    def _on_finished(self, message: HandshakeMessage, now: float) -> None:
        finished = Finished.decode(message.body)
        assert self._master is not None and self.cipher_suite is not None
        expected = self._master.verify_data(
            not self.is_client, transcript_hash(self.cipher_suite.parameters.hash_name,
                                                bytes(self._transcript)))
        if not hmac.compare_digest(expected, finished.verify_data):
            raise DtlsAlertError(AlertDescription.DECRYPT_ERROR, "Finished verify_data is wrong")
        self._add_to_transcript(message)
        if self.is_client:
            # Flight 5 is implicitly acknowledged by the server's Finished (RFC 6347 §4.2.4).
            self._flight = []
            self._flight_timer.stop()
        else:
            self._send_flight([_FlightMessage(0, -1, 0, _CCS_BODY), self._finished_message()],
                              now, timer=False)
        self._ecdh_key = None
        self._transcript = bytearray()
        assert self.cipher_suite is not None and self.group is not None
        assert self.peer_certificate is not None
        self._events.append(HandshakeComplete(
            self.cipher_suite, self.group, self.srtp_profile, self.ekt_cipher,
            self.peer_certificate, str(Fingerprint.of(self.peer_certificate)),
            self._session_id_verified))
        _log.info("DTLS {role} connected: {suite} {group} srtp={profile} ekt={ekt}",
                  role=self.role, suite=self.cipher_suite.name, group=self.group.name,
                  profile=self.srtp_profile.name if self.srtp_profile else None,
                  ekt=self.ekt_cipher.name if self.ekt_cipher else None)

    def _on_ekt_key(self, message: HandshakeMessage, now: float) -> None:
        if self.ekt_cipher is None:
            raise DtlsAlertError(AlertDescription.UNEXPECTED_MESSAGE,
                                 "EKTKey without negotiated supported_ekt_ciphers")
        ekt = EKTKey.decode(message.body)
        if len(ekt.ekt_key_value) != self.ekt_cipher.key_length:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"{len(ekt.ekt_key_value)}-byte EKTKey for "
                                 f"{self.ekt_cipher.name}")
        self._events.append(EKTKeyReceived(ekt.ekt_key_value, ekt.srtp_master_salt, ekt.ekt_spi,
                                           ekt.ekt_ttl, self.ekt_cipher, now))
        self._send_ack(self._ekt_records_in.pop(message.message_seq, []))

    def _on_hello_request(self, message: HandshakeMessage, now: float) -> None:
        empty_body(message.body, "HelloRequest")
        self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)

    def _send_ack(self, record_numbers: list[tuple[int, int]]) -> None:
        if record_numbers:
            self._queue_record(ContentType.ACK, 1, ack_codec.encode_ack(record_numbers))

    # ------------------------------------------------------------------ server

    def _receive_initial_client_hello(self, record: Record, fragment: HandshakeFragment,
                                      now: float) -> None:
        """Stateless ClientHello processing until the cookie checks out (RFC 6347 §4.2.1)."""
        msg_type, message_seq, body = fragment.msg_type, fragment.message_seq, fragment.fragment
        if record.epoch != 0:
            return
        if msg_type != HandshakeType.CLIENT_HELLO:
            raise DtlsAlertError(AlertDescription.UNEXPECTED_MESSAGE,
                                 f"handshake message type {msg_type} before ClientHello")
        if fragment.fragment_offset != 0 or len(body) != fragment.length:
            # A fragmented ClientHello (tiny MTU): reassemble it, but only a small one, so that
            # a stateless server commits at most a few kilobytes before the cookie checks out.
            if fragment.length > _MAX_FRAGMENTED_HELLO:
                return
            if self._reassembler.next_receive_seq != message_seq:
                self._reassembler.restart(message_seq)
            self._reassembler.add(fragment, 0)
            message = self._reassembler.pop()
            if message is None:
                return
            body = message.body
        hello = ClientHello.decode(body)
        if hello.version > DTLS_1_2:  # DTLS versions count down: 0xFEFF is 1.0
            raise DtlsAlertError(AlertDescription.PROTOCOL_VERSION,
                                 f"client offers version {hello.version:#06x}, DTLS 1.2 needed")
        if self._cookie_exchange:
            cookie = hmac.digest(self._cookie_secret, hello.encode_without_cookie(), "sha256")
            if not hmac.compare_digest(cookie, hello.cookie):
                hvr = HelloVerifyRequest(DTLS_1_0, cookie).encode()
                # RFC 6347 §4.2.1: reuse the ClientHello's record sequence number.
                self._records_out.append(encode_record(
                    ContentType.HANDSHAKE, 0, record.sequence_number,
                    encode_message(HandshakeType.HELLO_VERIFY_REQUEST, message_seq, hvr),
                    DTLS_1_0))
                return
        self._reassembler.restart(message_seq + 1)
        # RFC 6347 §4.2.1: a stateless server's later records continue from the ClientHello's
        # record sequence number (so they never repeat the HelloVerifyRequest's), and its
        # message_seq continues from the ClientHello's.
        self._write_seq[0] = max(self._write_seq[0], record.sequence_number)
        self._message_seq = message_seq
        self._client_hello = hello
        self._handle_message(HandshakeMessage(msg_type, message_seq, body, 0), now)

    def _on_client_hello(self, message: HandshakeMessage, now: float) -> None:
        if self.state is State.SERVER_CONNECTED:
            self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return
        hello = self._client_hello
        assert hello is not None
        self._client_hello = None
        # Our certificate is ECDSA (Identity), so only ECDHE_ECDSA suites can be served.
        suites = [s for s in self._suites if s in hello.cipher_suites and not s.parameters.rsa]
        if not suites:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE, "no common cipher suite")
        if 0 not in hello.compression_methods:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 "null compression not offered")
        ext = hello.extensions
        if ExtensionType.EXTENDED_MASTER_SECRET not in ext:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "client did not offer the extended master secret "
                                 "(RFC 7627 is required)")
        schemes = (decode_uint16_vector(ext[ExtensionType.SIGNATURE_ALGORITHMS],
                                        "signature_algorithms")
                   if ExtensionType.SIGNATURE_ALGORITHMS in ext else [])
        if SignatureScheme.ECDSA_SECP256R1_SHA256 not in schemes:
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "client does not accept ecdsa_secp256r1_sha256")
        if ExtensionType.SUPPORTED_GROUPS in ext:
            offered = decode_uint16_vector(ext[ExtensionType.SUPPORTED_GROUPS],
                                           "supported_groups")
            groups = [g for g in self._groups if g in offered]
            if not groups:
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE, "no common group")
            group = groups[0]
        else:
            group = NamedGroup.SECP256R1  # RFC 8422 §4: no extension, any curve will do
            if group not in self._groups:
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE, "no common group")
        if ExtensionType.EC_POINT_FORMATS in ext and UNCOMPRESSED not in decode_point_formats(
                ext[ExtensionType.EC_POINT_FORMATS]):
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 "client does not accept uncompressed points")
        reply: dict[int, bytes] = {}
        secure_renegotiation = EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        if ExtensionType.RENEGOTIATION_INFO in ext:
            if decode_renegotiation_info(ext[ExtensionType.RENEGOTIATION_INFO]):
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                     "renegotiation_info not empty on an initial handshake")
            secure_renegotiation = True
        if secure_renegotiation:
            reply[ExtensionType.RENEGOTIATION_INFO] = vector(1, b"")
        reply[ExtensionType.EXTENDED_MASTER_SECRET] = b""
        if ExtensionType.EC_POINT_FORMATS in ext:
            reply[ExtensionType.EC_POINT_FORMATS] = vector(1, bytes((UNCOMPRESSED,)))
        if self._profiles:
            if ExtensionType.USE_SRTP not in ext:
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                     "client did not offer use_srtp")
            client_profiles = UseSrtp.decode(ext[ExtensionType.USE_SRTP]).profiles
            # Like OpenSSL: the server's own preference order decides.
            common = [p for p in self._profiles if p.dtls_id in client_profiles]
            if not common:
                raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                     f"no common SRTP profile in {client_profiles}")
            self.srtp_profile = common[0]
            reply[ExtensionType.USE_SRTP] = UseSrtp((common[0].dtls_id,)).encode()
        if self._ekt_ciphers and ExtensionType.SUPPORTED_EKT_CIPHERS in ext:
            wanted = decode_ekt_ciphers_offer(ext[ExtensionType.SUPPORTED_EKT_CIPHERS])
            # RFC 8870 §5.2.1: the client lists its ciphers in preference order.
            chosen = next((c for c in wanted if c in self._ekt_ciphers), None)
            if chosen is not None:
                self.ekt_cipher = EKTCipher(chosen)
                reply[ExtensionType.SUPPORTED_EKT_CIPHERS] = bytes((chosen,))
        self._check_external_session_id(ext)
        if ExtensionType.EXTERNAL_SESSION_ID in ext and self._local_tls_id is not None:
            reply[ExtensionType.EXTERNAL_SESSION_ID] = encode_external_session_id(
                self._local_tls_id)

        self.cipher_suite = suites[0]
        self.group = group
        self._client_random = hello.random
        self._server_random = os.urandom(32)
        self._transcript = bytearray()
        self._add_to_transcript(message)
        server_hello = ServerHello(DTLS_1_2, self._server_random, b"", self.cipher_suite, 0,
                                   reply)
        flight = [self._message(HandshakeType.SERVER_HELLO, server_hello.encode()),
                  self._message(HandshakeType.CERTIFICATE,
                                Certificate((self._identity.certificate_der,)).encode())]
        public = self._new_ecdh_key(group)
        params = ServerKeyExchange(group, public, DigitallySigned(0, b"")).params()
        signature = self._identity.private_key.sign(
            self._client_random + self._server_random + params, ec.ECDSA(hashes.SHA256()))
        ske = ServerKeyExchange(group, public,
                                DigitallySigned(SignatureScheme.ECDSA_SECP256R1_SHA256, signature))
        flight.append(self._message(HandshakeType.SERVER_KEY_EXCHANGE, ske.encode()))
        request = CertificateRequest(bytes((ECDSA_SIGN, RSA_SIGN)), ACCEPTED_SIGNATURE_SCHEMES)
        flight.append(self._message(HandshakeType.CERTIFICATE_REQUEST, request.encode()))
        flight.append(self._message(HandshakeType.SERVER_HELLO_DONE, b""))
        self._send_flight(flight, now)

    def _on_client_key_exchange(self, message: HandshakeMessage, now: float) -> None:
        cke = ClientKeyExchange.decode(message.body)
        assert self.group is not None
        shared = self._shared_secret(self.group, cke.public)
        self._add_to_transcript(message)
        self._derive_master_secret(shared)

    def _on_certificate_verify(self, message: HandshakeMessage, now: float) -> None:
        verify = CertificateVerify.decode(message.body)
        self._verify(verify.signed, bytes(self._transcript), "CertificateVerify")
        self._add_to_transcript(message)

    # ------------------------------------------------------------------ shared steps

    def _check_external_session_id(self, ext: dict[int, bytes]) -> None:
        """RFC 8844 §4.3: the peer's value must be the tls-id from the peer's SDP."""
        if ExtensionType.EXTERNAL_SESSION_ID not in ext:
            self._session_id_verified = None if self._remote_tls_id is None else False
            return
        received = decode_external_session_id(ext[ExtensionType.EXTERNAL_SESSION_ID])
        if self._remote_tls_id is None:
            self._session_id_verified = None
            return
        if not hmac.compare_digest(received, self._remote_tls_id):
            raise DtlsAlertError(AlertDescription.HANDSHAKE_FAILURE,
                                 "external_session_id does not match the peer's SDP tls-id")
        self._session_id_verified = True

    def _add_to_transcript(self, message: HandshakeMessage) -> None:
        self._transcript += encode_message(message.msg_type, message.message_seq, message.body)

    def _new_ecdh_key(self, group: NamedGroup) -> bytes:
        if group is NamedGroup.X25519:
            key = x25519.X25519PrivateKey.generate()
            self._ecdh_key = key
            return key.public_key().public_bytes_raw()
        p256 = ec.generate_private_key(ec.SECP256R1())
        self._ecdh_key = p256
        return p256.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)

    def _shared_secret(self, group: NamedGroup, peer_public: bytes) -> bytes:
        """ECDH with our ephemeral key; illegal_parameter for a bad point (RFC 8422 §5.10)."""
        key = self._ecdh_key
        try:
            if isinstance(key, x25519.X25519PrivateKey):
                if len(peer_public) != 32:
                    raise ValueError("X25519 public value must be 32 bytes")
                return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            if len(peer_public) != 65 or peer_public[0] != 4:
                raise ValueError("P-256 public value must be an uncompressed point")
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
            return key.exchange(ec.ECDH(), point)
        except ValueError as error:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"bad {group.name} public value: {error}") from None

    def _key_agreement(self, group: NamedGroup, peer_public: bytes) -> tuple[bytes, bytes]:
        public = self._new_ecdh_key(group)
        return public, self._shared_secret(group, peer_public)

    def _derive_master_secret(self, pre_master_secret: bytes) -> None:
        """Master secret (RFC 7627) and the epoch-1 keys for both directions."""
        assert self.cipher_suite is not None
        session_hash = transcript_hash(self.cipher_suite.parameters.hash_name,
                                       bytes(self._transcript))
        self._master = MasterSecret(self.cipher_suite, pre_master_secret, session_hash,
                                    self._client_random, self._server_random)
        client_keys, server_keys = self._master.traffic_keys()
        mine, theirs = (client_keys, server_keys) if self.is_client else (server_keys,
                                                                          client_keys)
        self._write_protection[1] = RecordProtection(self.cipher_suite, mine)
        self._read_protection[1] = RecordProtection(self.cipher_suite, theirs)

    def _finished_message(self) -> _FlightMessage:
        assert self._master is not None and self.cipher_suite is not None
        verify_data = self._master.verify_data(
            self.is_client, transcript_hash(self.cipher_suite.parameters.hash_name,
                                            bytes(self._transcript)))
        self._write_epoch = 1
        return self._message(HandshakeType.FINISHED, verify_data, epoch=1)

    def _verify(self, signed: DigitallySigned, data: bytes, what: str) -> None:
        """Check a peer signature: decrypt_error if it fails (RFC 5246 §7.2.2)."""
        key = self._peer_key
        try:
            scheme = SignatureScheme(signed.scheme)
        except ValueError:
            scheme = None
        if scheme is None or scheme not in ACCEPTED_SIGNATURE_SCHEMES:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"{what} signed with unoffered scheme {signed.scheme:#06x}")
        digest = _HASHES[scheme]
        try:
            if isinstance(key, ec.EllipticCurvePublicKey) and scheme in _ECDSA_SCHEMES:
                key.verify(signed.signature, data, ec.ECDSA(digest))
            elif isinstance(key, rsa.RSAPublicKey) and scheme in _PSS_SCHEMES:
                key.verify(signed.signature, data,
                           padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
            elif isinstance(key, rsa.RSAPublicKey) and scheme not in _ECDSA_SCHEMES:
                key.verify(signed.signature, data, padding.PKCS1v15(), digest)
            else:
                raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                     f"{what} scheme {scheme.name} does not fit the "
                                     "certificate's key")
        except InvalidSignature:
            raise DtlsAlertError(AlertDescription.DECRYPT_ERROR,
                                 f"{what} signature does not verify") from None

    # ------------------------------------------------------------------ EKTKey reliability

    def _send_ekt_records(self, pending: _PendingEKTKey) -> None:
        """Send the unacknowledged parts of an EKTKey, remembering which record carried what."""
        body = pending.body
        size = self._max_fragment(1)
        for offset in range(0, len(body), size):
            end = min(offset + size, len(body))
            if all(pending.acked[offset:end]):
                continue
            fragment = encode_fragment(HandshakeType.EKT_KEY, pending.message_seq, len(body),
                                       offset, body[offset:end])
            number = self._queue_record(ContentType.HANDSHAKE, 1, fragment)
            self._ekt_record_ranges[number] = [(pending.message_seq, offset, end)]

    def _receive_ack(self, body: bytes) -> None:
        """Server: mark acknowledged EKTKey bytes; finished messages stop retransmitting."""
        if self.is_client or not self.is_connected:
            return
        for number in ack_codec.decode_ack(body):
            for message_seq, start, end in self._ekt_record_ranges.pop(number, []):
                pending = self._ekt_pending.get(message_seq)
                if pending is None:
                    continue
                pending.acked[start:end] = b"\x01" * (end - start)
                if all(pending.acked):
                    del self._ekt_pending[message_seq]
                    self._events.append(EKTKeyAcknowledged(pending.message.ekt_spi))
        if not self._ekt_pending:
            self._ekt_timer.stop()
            self._ekt_record_ranges.clear()


def _tls_id(value: str | bytes | None) -> bytes | None:
    """An SDP tls-id (RFC 8842 §5) as the ASCII octets RFC 8844 §4.3 puts in the extension."""
    if value is None:
        return None
    raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
    if not 20 <= len(raw) <= 255:
        raise ValueError("a tls-id is 20 to 255 characters (RFC 8842 §5, RFC 8844 §4.3)")
    return raw
