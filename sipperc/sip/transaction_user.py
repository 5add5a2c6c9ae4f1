"""The transaction user (TU, RFC 3261 §5): what sits on the transaction layer.

The dialog layer's ``UserAgent``, a registrar or a test responder is a TU. It is sans-I/O
like the layers below it, and plugs into the Twisted edge (``SipService``) through this
protocol:

- The TU is built with the :class:`~sipperc.sip.transaction_layer.TransactionLayer` the edge
  owns, and calls it directly (``send_request``, ``send_response``, ``send_ack``,
  ``send_cancel``); those calls return effects.
- The edge hands each TU effect the transaction layer produces (``RequestReceived``,
  ``ResponseReceived``, ``AckReceived``, ``CancelReceived``, ``StrayResponse``,
  ``TransactionTimeout``, ``TransportFailure``) to :meth:`TransactionUser.handle_effect`.
- Whatever the TU returns, from ``handle_effect`` or ``handle_timer``, the edge processes in
  order: ``SendMessage`` goes to the transport, a TU effect comes back to the TU, anything
  else (the TU's own events: incoming call, call answered...) goes to the application's
  event sink.
- Work the application starts (placing a call) returns effects the same way; the
  application passes them to ``SipService.process(effects)``.
- The edge arms one reactor timer for the earliest of the transaction layer's and the TU's
  :meth:`TransactionUser.get_timer` deadlines, and calls ``handle_timer`` on both when due.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sipperc.sip.transaction_effects import TuEffect

__all__ = ["TransactionUser"]


class TransactionUser(Protocol):
    """A sans-I/O TU: takes transaction-layer effects and time, returns effects and events."""

    def handle_effect(self, effect: TuEffect, now: float) -> Iterable[object]:
        """React to one effect of the transaction layer; return what should follow."""
        ...

    def get_timer(self) -> float | None:
        """The TU's next deadline (monotonic seconds), or None."""
        ...

    def handle_timer(self, now: float) -> Iterable[object]:
        """Run every TU timer due at ``now``; return what should follow."""
        ...
