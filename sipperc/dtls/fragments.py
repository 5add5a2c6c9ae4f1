"""DTLS handshake framing, fragmentation and reassembly (RFC 6347 §4.2.2, §4.2.3).

Messages are cut to fit the path MTU and put back together in ``message_seq`` order.

::

    struct { HandshakeType msg_type; uint24 length; uint16 message_seq;
             uint24 fragment_offset; uint24 fragment_length; ... } Handshake;
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.dtls.alert import AlertDescription, DecodeError, DtlsAlertError

HANDSHAKE_HEADER_LENGTH = 12
#: Largest handshake message accepted: a long certificate chain fits, a memory bomb does not.
MAX_MESSAGE_LENGTH = 1 << 17
#: How far ahead of ``next_receive_seq`` messages are buffered (RFC 6347 §4.2.2 "SHOULD queue").
REORDER_WINDOW = 8


@dataclass(frozen=True, slots=True)
class HandshakeFragment:
    """One fragment as carried in a record."""

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    fragment: bytes


def parse_fragments(plaintext: bytes) -> list[HandshakeFragment]:
    """Every handshake fragment in one record's plaintext."""
    fragments = []
    pos = 0
    while pos < len(plaintext):
        if len(plaintext) - pos < HANDSHAKE_HEADER_LENGTH:
            raise DecodeError("handshake header truncated")
        h = plaintext[pos:pos + HANDSHAKE_HEADER_LENGTH]
        length = int.from_bytes(h[1:4], "big")
        offset = int.from_bytes(h[6:9], "big")
        frag_len = int.from_bytes(h[9:12], "big")
        start = pos + HANDSHAKE_HEADER_LENGTH
        if start + frag_len > len(plaintext):
            raise DecodeError("handshake fragment longer than its record")
        if offset + frag_len > length:
            raise DecodeError(f"fragment {offset}+{frag_len} beyond message length {length}")
        if length > MAX_MESSAGE_LENGTH:
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"handshake message of {length} bytes")
        fragments.append(HandshakeFragment(h[0], length, int.from_bytes(h[4:6], "big"), offset,
                                           plaintext[start:start + frag_len]))
        pos = start + frag_len
    return fragments


def encode_fragment(msg_type: int, message_seq: int, length: int, offset: int,
                    chunk: bytes) -> bytes:
    """Header plus one fragment of a message of ``length`` bytes."""
    return (bytes((msg_type,)) + length.to_bytes(3, "big") + message_seq.to_bytes(2, "big")
            + offset.to_bytes(3, "big") + len(chunk).to_bytes(3, "big") + chunk)


def encode_message(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """A whole message as one fragment: also the form hashed into the transcript (§4.2.6)."""
    return encode_fragment(msg_type, message_seq, len(body), 0, body)


def split_message(msg_type: int, message_seq: int, body: bytes, max_fragment: int) -> list[bytes]:
    """The message cut into encoded fragments of at most ``max_fragment`` body bytes each."""
    if max_fragment < 1:
        raise ValueError("MTU too small to carry a handshake fragment")
    if not body:
        return [encode_fragment(msg_type, message_seq, 0, 0, b"")]
    return [encode_fragment(msg_type, message_seq, len(body), off, body[off:off + max_fragment])
            for off in range(0, len(body), max_fragment)]


class _Partial:
    __slots__ = ("buffer", "epoch", "length", "msg_type", "ranges", "whole")

    def __init__(self, msg_type: int, length: int, epoch: int) -> None:
        self.msg_type = msg_type
        self.epoch = epoch
        self.length = length
        self.buffer = bytearray()
        self.ranges: list[tuple[int, int]] = []
        self.whole: bytes | None = None

    def add(self, offset: int, chunk: bytes) -> None:
        if self.whole is not None:
            return
        if offset == 0 and len(chunk) == self.length:
            self.whole = chunk  # the usual case: the message came in one fragment
            return
        if not self.buffer:
            self.buffer = bytearray(self.length)
        self.buffer[offset:offset + len(chunk)] = chunk
        merged: list[tuple[int, int]] = []
        for start, end in sorted([*self.ranges, (offset, offset + len(chunk))]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        self.ranges = merged

    @property
    def body(self) -> bytes | None:
        if self.whole is not None:
            return self.whole
        if self.length == 0 or self.ranges == [(0, self.length)]:
            return bytes(self.buffer)
        return None


@dataclass(frozen=True, slots=True)
class HandshakeMessage:
    """A reassembled message."""

    msg_type: int
    message_seq: int
    body: bytes
    epoch: int


class HandshakeReassembler:
    """Collects fragments and releases whole messages in ``message_seq`` order."""

    __slots__ = ("_partials", "next_receive_seq")

    def __init__(self) -> None:
        self.next_receive_seq = 0
        self._partials: dict[int, _Partial] = {}

    def add(self, fragment: HandshakeFragment, epoch: int) -> bool:
        """Store a fragment that arrived in a record of ``epoch``.

        False if it belongs to a message already delivered (the peer retransmitted); fragments
        too far ahead are dropped (the peer will retransmit them).
        """
        seq = fragment.message_seq
        if seq < self.next_receive_seq:
            return False
        if seq >= self.next_receive_seq + REORDER_WINDOW:
            return True
        partial = self._partials.get(seq)
        if partial is None:
            partial = self._partials[seq] = _Partial(fragment.msg_type, fragment.length, epoch)
        elif (partial.msg_type != fragment.msg_type or partial.length != fragment.length
              or partial.epoch != epoch):
            raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                                 f"fragments of message {seq} disagree on type, length or epoch")
        partial.add(fragment.fragment_offset, fragment.fragment)
        return True

    def pop(self) -> HandshakeMessage | None:
        """The next message if it is complete."""
        partial = self._partials.get(self.next_receive_seq)
        body = None if partial is None else partial.body
        if partial is None or body is None:
            return None
        del self._partials[self.next_receive_seq]
        message = HandshakeMessage(partial.msg_type, self.next_receive_seq, body, partial.epoch)
        self.next_receive_seq += 1
        return message

    def restart(self, next_receive_seq: int) -> None:
        """Forget everything and expect ``next_receive_seq`` (the server after a cookie)."""
        self._partials.clear()
        self.next_receive_seq = next_receive_seq
