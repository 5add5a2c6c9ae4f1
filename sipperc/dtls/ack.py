"""The acknowledgement sipperc uses for EKTKey over DTLS 1.2 (RFC 8870 §5.2.2).

RFC 8870 requires the recipient of an EKTKey to answer "with an Ack handshake message as
described in Section 7 of [DTLS 1.3]", and says DTLS 1.2 stacks "need explicit affordances for
sending the Ack message ... and for verifying that an Ack message was received". DTLS 1.2 has no
ACK, so sipperc carries RFC 9147's ACK unchanged inside a DTLS 1.2 record:

* record content type ``ack(26)`` (IANA TLS ContentType 26, "DTLS-OK"), protected by the
  current epoch's AEAD exactly like application data, in epoch 1;
* body, RFC 9147 §7::

      struct { uint64 epoch; uint64 sequence_number; } RecordNumber;
      struct { RecordNumber record_numbers<0..2^16-1>; } ACK;

  where ``epoch`` is the DTLS 1.2 16-bit epoch and ``sequence_number`` the 48-bit record
  sequence number, both zero-extended, of each record that carried (a fragment of) the EKTKey.

Why this shape: it is byte-for-byte the message RFC 8870 names, so a DTLS 1.3 implementation's
ACK code can read it; it names records, not messages, so the sender knows which fragments of a
message sent over several records arrived (RFC 9147 §7.1); and a peer that did not negotiate
``supported_ekt_ciphers`` never receives one, because the server sends EKTKey only after
negotiating the extension and the client ACKs only EKTKey records. The client sends an ACK when
it has processed a complete EKTKey, and again for every retransmitted copy it receives; the
server stops retransmitting an EKTKey once every byte of it is covered by acknowledged records.
"""

from __future__ import annotations

from sipperc.dtls.alert import DecodeError
from sipperc.dtls.presentation import Reader, vector

RECORD_NUMBER_LENGTH = 16


def encode_ack(record_numbers: list[tuple[int, int]]) -> bytes:
    """The ACK body for (epoch, sequence_number) pairs."""
    return vector(2, b"".join(e.to_bytes(8, "big") + s.to_bytes(8, "big")
                              for e, s in record_numbers))


def decode_ack(body: bytes) -> list[tuple[int, int]]:
    """Parse an ACK body."""
    r = Reader(body)
    numbers = r.vector(2, "record_numbers")
    r.end("ACK")
    if len(numbers) % RECORD_NUMBER_LENGTH:
        raise DecodeError(f"ACK record_numbers of {len(numbers)} bytes")
    return [(int.from_bytes(numbers[i:i + 8], "big"), int.from_bytes(numbers[i + 8:i + 16], "big"))
            for i in range(0, len(numbers), RECORD_NUMBER_LENGTH)]
