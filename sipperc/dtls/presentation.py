"""Reading and writing the TLS presentation language (RFC 5246 §4).

:class:`Reader` walks a byte string and raises :class:`~sipperc.dtls.alert.DecodeError` naming
the field when the input is short or has bytes left over; the ``vector*`` writers prefix a
length of 1, 2 or 3 bytes.
"""

from __future__ import annotations

from sipperc.dtls.alert import DecodeError


class Reader:
    """A cursor over one structure's bytes."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self._data) - self._pos

    def take(self, length: int, what: str) -> bytes:
        """The next ``length`` bytes."""
        end = self._pos + length
        if end > len(self._data):
            raise DecodeError(f"{what}: needs {length} bytes, {self.remaining} left")
        value = self._data[self._pos:end]
        self._pos = end
        return value

    def uint(self, size: int, what: str) -> int:
        """A big-endian unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size: int, what: str, minimum: int = 0,
               maximum: int | None = None) -> bytes:
        """An opaque vector ``<minimum..maximum>`` with a ``length_size``-byte length."""
        length = self.uint(length_size, f"{what} length")
        if length < minimum or (maximum is not None and length > maximum):
            raise DecodeError(f"{what}: length {length} outside {minimum}..{maximum}")
        return self.take(length, what)

    def rest(self) -> bytes:
        """Everything left."""
        value = self._data[self._pos:]
        self._pos = len(self._data)
        return value

    def end(self, what: str) -> None:
        """Insist that the structure was read completely."""
        if self._pos != len(self._data):
            raise DecodeError(f"{what}: {self.remaining} trailing bytes")


def vector(length_size: int, data: bytes) -> bytes:
    """``data`` prefixed with its length in ``length_size`` bytes."""
    return len(data).to_bytes(length_size, "big") + data


def uint16_list(values: list[int] | tuple[int, ...]) -> bytes:
    """A ``uint16 values<..2^16-1>`` vector."""
    return vector(2, b"".join(v.to_bytes(2, "big") for v in values))


def read_uint16_list(data: bytes, what: str) -> list[int]:
    """Parse the body of a list of uint16 (without its length prefix)."""
    if len(data) % 2:
        raise DecodeError(f"{what}: odd length {len(data)}")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
