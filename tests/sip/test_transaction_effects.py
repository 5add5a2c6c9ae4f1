import dataclasses

import pytest

from sipperc.sip import Request
from sipperc.sip.transaction_effects import (
    RequestReceived,
    SendMessage,
    TransactionId,
    TransactionTimeout,
)
from sipperc.sip.transport_address import TransportAddress

SOURCE = TransportAddress("udp", "192.0.2.1", 5060)


def _options() -> Request:
    return Request.build(
        "OPTIONS", "sip:bob@192.0.2.2", from_="<sip:a@192.0.2.1>;tag=1", to="<sip:bob@192.0.2.2>",
        call_id="c1", cseq=1, via="SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
    )


def test_transaction_ids_tell_client_from_server_and_method_apart():
    client = TransactionId("z9hG4bKx", "INVITE")
    server = TransactionId("z9hG4bKx", "INVITE", "192.0.2.1:5060", server=True)
    cancel = TransactionId("z9hG4bKx", "CANCEL", "192.0.2.1:5060", server=True)
    assert len({client, server, cancel, TransactionId("z9hG4bKx", "INVITE")}) == 3


def test_effects_are_frozen_values():
    request = _options()
    txn = TransactionId("z9hG4bKx", "OPTIONS", "192.0.2.1", server=True)
    a = RequestReceived(request, txn, SOURCE)
    assert a == RequestReceived(request, txn, SOURCE)
    assert a.merged is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.source = SOURCE  # type: ignore[misc]
    assert SendMessage(request, SOURCE).transaction is None
    assert TransactionTimeout(txn) != TransactionTimeout(TransactionId("z9hG4bKy", "OPTIONS"))
