"""The transaction layer (RFC 3261 §17): matching messages to transactions, one timer heap.

:class:`TransactionLayer` is what the TU and the transport edge talk to. It creates client
transactions for the requests the TU sends and server transactions for the requests that
arrive, matches responses (§17.1.3) and retransmitted requests, ACKs and CANCELs (§17.2.3,
§9.2, with the RFC 2543 fallback for branches without the magic cookie), and hands the TU
what no transaction absorbs: ACKs for 2xx and stray 2xx responses. Every method takes
``now`` and returns a list of effects (:mod:`~sipperc.sip.transaction_effects`);
:meth:`get_timer`/:meth:`handle_timer` drive all transaction timers through one heap.

The hot path (a call at a UAS: INVITE, ACK, BYE in; 100/200, 200 out) reads only what
matching needs: the top Via (first element only), the CSeq, and for out-of-dialog requests
the From/To tags (§8.2.2.2 merged-request detection); matching is one dict lookup.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import HeaderField, Via
from sipperc.sip.identifiers import MAGIC_COOKIE, new_branch
from sipperc.sip.message import Request, Response
from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_effects import (
    AckReceived,
    CancelReceived,
    Effect,
    RequestReceived,
    SendMessage,
    StrayResponse,
    TransactionId,
)
from sipperc.sip.transactions import (
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteInput,
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteInput,
    ServerNonInviteTransaction,
    Timer,
    Transaction,
    TransactionStateError,
)
from sipperc.sip.transport import TransportLayer
from sipperc.sip.transport_address import TransportAddress

__all__ = ["TransactionLayer"]

ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
_MergeKey = tuple[str | None, str, int, str]


class TransactionLayer:
    """All transactions of one SIP element, matched by dict lookups, timed by one heap.

    ``transport`` supplies the listening points whose sent-by goes into our Via and the
    §18 rules (size switch to TCP, received/rport, response destinations); requests can
    only be sent over transports it has a listening point for.
    """

    def __init__(
        self, config: TimerConfig | None = None, transport: TransportLayer | None = None
    ) -> None:
        self.config = TimerConfig() if config is None else config
        self.transport = TransportLayer() if transport is None else transport
        self._client: dict[TransactionId, ClientTransaction] = {}
        self._server: dict[TransactionId, ServerTransaction] = {}
        self._merge_index: dict[_MergeKey, TransactionId] = {}
        self._merge_keys: dict[TransactionId, _MergeKey] = {}
        self._pending_cancels: dict[TransactionId, tuple[tuple[str, object], ...]] = {}
        self._udp_fallback: dict[TransactionId, tuple[Request, TransportAddress]] = {}
        self._heap: list[tuple[float, int, Transaction[Any, Any], Timer]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        """How many transactions are alive (client and server)."""
        return len(self._client) + len(self._server)

    def state_of(self, transaction: TransactionId) -> str | None:
        """The state name of a live transaction (``PROCEEDING``...), None once it is gone."""
        txn = self._client.get(transaction) or self._server.get(transaction)
        return None if txn is None else txn.state.name

    # --- messages from the network ----------------------------------------------------------

    def receive(
        self, message: Request | Response, source: TransportAddress, now: float
    ) -> list[Effect]:
        """Feed one parsed message that arrived from ``source``."""
        try:
            if isinstance(message, Response):
                return self._receive_response(message, source, now)
            return self._receive_request(message, source, now)
        except SipParseError as error:
            return self._refuse(message, error, source)

    def _refuse(
        self, message: Request | Response, error: SipParseError, source: TransportAddress
    ) -> list[Effect]:
        """A header the transaction layer needs failed to parse (a message built by hand).

        Requests other than ACK are answered with the parser's status (§8.2); the rest
        is dropped: there is no transaction to tell.
        """
        if not isinstance(message, Request) or message.method == "ACK":
            return []
        try:
            response = message.response(error.status_code, error.reason)
            return [
                SendMessage(response, self.transport.response_destination(message.top_via, source))
            ]
        except (SipParseError, ValueError):
            return []

    def _receive_response(
        self, response: Response, source: TransportAddress, now: float
    ) -> list[Effect]:
        top = response.top_via
        branch = top.branch
        method = response.cseq.method
        txn = None if branch is None else self._client.get(TransactionId(branch, method))
        if txn is None or (txn.sent_by is not None and not _same_sent_by(top, txn.sent_by)):
            # §18.1.2 / RFC 6026 §8.9: only a 2xx to an INVITE interests the TU.
            if method == "INVITE" and response.is_success:
                return [StrayResponse(response, source)]
            return []
        self._udp_fallback.pop(txn.id, None)  # the TCP attempt reached the peer
        effects = txn.handle(txn.classify(response), now, response)  # type: ignore[arg-type]
        if (
            isinstance(txn, ClientInviteTransaction)
            and response.is_provisional
            and txn.id in self._pending_cancels
        ):
            effects.extend(self._start_cancel(txn, now))
        if txn.terminated:
            self._forget(txn)
        return effects

    def _receive_request(
        self, request: Request, source: TransportAddress, now: float
    ) -> list[Effect]:
        top = request.top_via
        branch = top.branch
        method = request.method
        legacy = branch is None or not branch.startswith(MAGIC_COOKIE)
        if legacy:
            branch = _rfc2543_key(request, top)
        assert branch is not None
        key = TransactionId(
            branch,
            "INVITE" if method == "ACK" else method,
            f"{top.host.lower()}:{top.port or ''}",
            server=True,
        )
        txn = self._server.get(key)
        if method == "ACK":
            if isinstance(txn, ServerInviteTransaction) and not (
                legacy and not _acks_response(request, txn.last_response)
            ):
                absorbed = txn.handle(ServerInviteInput.ACK, now, request, source)
                if txn.terminated:
                    self._forget(txn)
                return absorbed
            return [AckReceived(request, source)]  # the ACK for a 2xx (§17.1.1.3)
        if isinstance(txn, ServerInviteTransaction):  # a retransmission
            return txn.handle(ServerInviteInput.REQUEST, now, request, source)
        if txn is not None:
            return txn.handle(ServerNonInviteInput.REQUEST, now, request, source)

        destination = self.transport.response_destination(top, source)
        request = self.transport.stamp_request(request, top, source)
        if method == "CANCEL":
            return self._receive_cancel(key, request, destination, source, now)
        new: ServerTransaction
        if method == "INVITE":
            new = ServerInviteTransaction(key, request, destination, self.config, self._schedule)
        else:
            new = ServerNonInviteTransaction(key, request, destination, self.config, self._schedule)
        self._server[key] = new
        effects: list[Effect] = [
            RequestReceived(request, key, source, self._check_merged(request, key))
        ]
        effects.extend(new.start(now))
        return effects

    def _check_merged(self, request: Request, key: TransactionId) -> TransactionId | None:
        """§8.2.2.2: a tagless request with the From tag, Call-ID, CSeq of another one."""
        if request.to_tag is not None:
            return None
        cseq = request.cseq
        merge_key = (request.from_tag, request.call_id, cseq.seq, cseq.method)
        other = self._merge_index.get(merge_key)
        if other is not None and other in self._server:
            return other
        self._merge_index[merge_key] = key
        self._merge_keys[key] = merge_key
        return None

    def _receive_cancel(
        self,
        key: TransactionId,
        cancel: Request,
        destination: TransportAddress,
        source: TransportAddress,
        now: float,
    ) -> list[Effect]:
        """§9.2: answer the CANCEL ourselves; tell the TU if the INVITE is still pending."""
        txn = ServerNonInviteTransaction(key, cancel, destination, self.config, self._schedule)
        self._server[key] = txn
        invite = self._server.get(replace(key, method="INVITE"))
        if not isinstance(invite, ServerInviteTransaction):
            return self._answer(txn, cancel.response(481), now)
        # §9.2: the To tag of the 200 SHOULD be the one the INVITE's responses carry.
        to_tag = None
        if invite.last_response is not None:
            to_tag = invite.last_response.to_tag
        effects = self._answer(txn, cancel.response(200, to_tag=to_tag), now)
        if invite.state is ServerInviteState.PROCEEDING:
            effects.append(CancelReceived(cancel, invite.id, source))
        return effects

    def _answer(
        self, txn: ServerNonInviteTransaction, response: Response, now: float
    ) -> list[Effect]:
        effects = txn.handle(ServerNonInviteInput.TU_FINAL, now, response)
        if txn.terminated:
            self._forget(txn)
        return effects

    # --- what the TU sends ----------------------------------------------------------------

    def send_request(
        self,
        request: Request,
        destination: TransportAddress,
        now: float,
        *,
        invite_timeout: float | None = None,
    ) -> tuple[TransactionId, list[Effect]]:
        """Start a client transaction for ``request`` (§17.1), sent to ``destination``.

        The layer prepends the top Via (fresh branch, ``rport``, sent-by of the listening
        point; RFC 3261 §8.1.1.7, §18.1.1) and may move a large UDP request to TCP. The
        request actually sent is in the returned :class:`SendMessage`. ACK is not a
        transaction: use :meth:`send_ack`; CANCEL: use :meth:`send_cancel`.
        ``invite_timeout`` shortens this INVITE's Timer B (see :class:`TimerConfig`): a UA
        with another server to try gives up sooner on one that does not answer at all.
        """
        method = request.method
        if method == "ACK":
            raise ValueError("an ACK is not a transaction: use send_ack (RFC 3261 §17.1.1.3)")
        if method == "CANCEL":
            raise ValueError("CANCEL goes with its INVITE: use send_cancel (RFC 3261 §9.1)")
        branch = new_branch()
        sent, actual = self.transport.outgoing_request(request, destination, branch)
        key = TransactionId(branch, method)
        if actual.transport != destination.transport:  # §18.1.1: too large for UDP
            self._udp_fallback[key] = (request, destination)
        config = self.config
        if invite_timeout is not None:
            config = replace(config, invite_timeout=invite_timeout)
        return key, self._start_client(key, sent, actual, now, config)

    def _start_client(
        self,
        key: TransactionId,
        request: Request,
        destination: TransportAddress,
        now: float,
        config: TimerConfig,
    ) -> list[Effect]:
        txn: ClientTransaction
        if key.method == "INVITE":
            txn = ClientInviteTransaction(key, request, destination, config, self._schedule)
        else:
            txn = ClientNonInviteTransaction(key, request, destination, config, self._schedule)
        point = self.transport.listening_point(destination.transport)
        host = point.host
        txn.sent_by = (f"[{host}]" if ":" in host else host, point.port)
        self._client[key] = txn
        effects: list[Effect] = [SendMessage(request, destination, key)]
        effects.extend(txn.start(now))
        return effects

    def send_ack(self, ack: Request, destination: TransportAddress, now: float) -> list[Effect]:
        """Send the ACK for a 2xx (§13.2.2.4): not a transaction, no retransmissions here.

        An ACK without Via gets one with a fresh branch; one that already has a Via (the
        ACK this returned before, re-sent for a retransmitted 2xx) goes out unchanged.
        """
        if ack.method != "ACK":
            raise ValueError(f"send_ack sends ACKs, not {ack.method}")
        if "via" not in ack:
            ack, destination = self.transport.outgoing_request(ack, destination, new_branch())
        return [SendMessage(ack, destination)]

    def send_cancel(
        self, invite: TransactionId, now: float, headers: Iterable[tuple[str, object]] = ()
    ) -> tuple[TransactionId | None, list[Effect]]:
        """Cancel a pending INVITE we sent (RFC 3261 §9.1).

        The CANCEL copies the INVITE's top Via and goes to the same destination. Before any
        provisional response arrived it is held back and sent with the first one (§9.1).
        Returns None when there is nothing to cancel (a final response came, or the INVITE
        transaction is gone). ``headers`` are added (e.g. ``("Reason", ...)``, RFC 3326).
        """
        txn = self._client.get(invite)
        if not isinstance(txn, ClientInviteTransaction) or txn.state not in (
            ClientInviteState.CALLING,
            ClientInviteState.PROCEEDING,
        ):
            return None, []
        cancel_id = TransactionId(invite.branch, "CANCEL")
        if cancel_id in self._client or invite in self._pending_cancels:
            return cancel_id, []
        self._pending_cancels[invite] = tuple(headers)
        if txn.state is ClientInviteState.CALLING:
            return cancel_id, []
        return cancel_id, self._start_cancel(txn, now)

    def _start_cancel(self, invite: ClientInviteTransaction, now: float) -> list[Effect]:
        headers = self._pending_cancels.pop(invite.id)
        assert invite.request is not None  # Calling or Proceeding
        cancel = invite.request.cancel()
        if headers:
            cancel = cancel.with_fields(
                (
                    *cancel.fields[:-1],
                    *(HeaderField.make(name, value) for name, value in headers),
                    cancel.fields[-1],
                )
            )
        key = TransactionId(invite.id.branch, "CANCEL")
        txn = ClientNonInviteTransaction(
            key, cancel, invite.destination, self.config, self._schedule
        )
        txn.sent_by = invite.sent_by
        self._client[key] = txn
        effects: list[Effect] = [SendMessage(cancel, invite.destination, key)]
        effects.extend(txn.start(now))
        return effects

    def send_response(
        self, transaction: TransactionId, response: Response, now: float
    ) -> list[Effect]:
        """Send the TU's response through its server transaction (§17.2).

        Raises :class:`TransactionStateError` when the transaction is gone or its state
        does not allow the response (e.g. a second final response), and ValueError for what
        RFC 4320 §4.1 forbids on non-INVITE requests: 408, and provisionals other than 100.
        """
        txn = self._server.get(transaction)
        if txn is None:
            raise TransactionStateError(f"no server transaction {transaction}")
        code = response.status_code
        if isinstance(txn, ServerNonInviteTransaction) and (
            code == 408 or (code < 200 and code != 100)
        ):
            raise ValueError(
                f"no {code} to a non-INVITE request (RFC 4320 §4.1: only 100 of the"
                " provisionals, and never 408)"
            )
        effects = txn.handle(txn.classify(response), now, response)  # type: ignore[arg-type]
        if txn.terminated:
            self._forget(txn)
        return effects

    def transport_failed(self, transaction: TransactionId, reason: str, now: float) -> list[Effect]:
        """The edge could not send a message of ``transaction`` (§17.1.4, §17.2.4).

        A request moved from UDP to TCP only for its size is sent again over UDP instead
        (RFC 3261 §18.1.1), as a fresh start of the same transaction.
        """
        txn: ClientTransaction | ServerTransaction | None = self._client.get(transaction)
        fallback = self._udp_fallback.pop(transaction, None)
        if fallback is not None and txn is not None and txn.request is not None:
            txn.deadlines.clear()  # the TCP attempt's timers die with it
            original, destination = fallback
            sent, actual = self.transport.outgoing_request(
                original, destination, transaction.branch, may_switch=False
            )
            return self._start_client(transaction, sent, actual, now, txn.config)
        if txn is None:
            txn = self._server.get(transaction)
        if txn is None:
            return []
        effects = txn.handle(txn.TRANSPORT_ERROR, now, reason=reason)  # type: ignore[arg-type]
        if txn.terminated:
            self._forget(txn)
        return effects

    # --- timers ------------------------------------------------------------------------------

    def _schedule(self, txn: Transaction[Any, Any], timer: Timer, deadline: float) -> None:
        heapq.heappush(self._heap, (deadline, next(self._sequence), txn, timer))

    def get_timer(self) -> float | None:
        """The earliest deadline of any live timer, or None."""
        heap = self._heap
        while heap:
            deadline, _, txn, timer = heap[0]
            if txn.deadlines.get(timer) == deadline:
                return deadline
            heapq.heappop(heap)  # cancelled or re-armed
        return None

    def handle_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, in deadline order."""
        heap = self._heap
        effects: list[Effect] = []
        while heap and heap[0][0] <= now:
            deadline, _, txn, timer = heapq.heappop(heap)
            effects.extend(txn.fire(timer, deadline, now))
            if txn.terminated:
                self._forget(txn)  # type: ignore[arg-type]
        return effects

    def _forget(self, txn: ClientTransaction | ServerTransaction) -> None:
        key = txn.id
        if key.server:
            if self._server.get(key) is txn:
                del self._server[key]
            merge_key = self._merge_keys.pop(key, None)
            if merge_key is not None and self._merge_index.get(merge_key) == key:
                del self._merge_index[merge_key]
        else:
            if self._client.get(key) is txn:
                del self._client[key]
            self._pending_cancels.pop(key, None)
            self._udp_fallback.pop(key, None)


def _same_sent_by(top: Via, expected: tuple[str, int | None]) -> bool:
    """§18.1.2: a response's top Via must carry the sent-by we wrote."""
    return top.host.lower() == expected[0].lower() and top.port == expected[1]


def _rfc2543_key(request: Request, top: Via) -> str:
    """§17.2.3 for requests without a magic-cookie branch.

    Request-URI, From tag, Call-ID, CSeq number and the whole top Via identify the
    transaction (the To tag of an ACK is checked separately against our response).
    """
    return "rfc2543 " + " ".join(
        (
            str(request.uri),
            request.from_tag or "",
            request.call_id,
            str(request.cseq.seq),
            top.text,
        )
    )


def _acks_response(ack: Request, response: Response | None) -> bool:
    """§17.2.3: an RFC 2543 ACK matches only with the To tag of our final response."""
    return response is not None and ack.to_tag == response.to_tag
