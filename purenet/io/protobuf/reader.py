"""A bounded protocol-buffers reader: the fields of a message, by number.

    >>> from purenet.io.protobuf.writer import int_field, message_field, string_field
    >>> m = Message(string_field(1, "relu") + int_field(2, 7) + message_field(3, int_field(1, 5)))
    >>> m.string(1), m.int(2), m.message(3).int(1), m.int(9, default=-1)
    ('relu', 7, 5, -1)

Decoding is the writer's encoding run backwards (see :mod:`.writer`): a key
varint ``field << 3 | wire_type``, then a VARINT, an 8-byte I64, a LEN
(varint length, then that many bytes) or a 4-byte I32. A message is split
into its fields once, when it is made; an embedded message stays bytes (a
``memoryview``, never copied) until asked for, and is then parsed one level
deeper. A repeated scalar may come one field per value or packed into one
LEN field; both are read.

Every file is hostile until read: lengths are checked against what is left,
varints stop at ten bytes, groups (wire types 3 and 4, deprecated) are
refused, and :class:`Limits` caps the nesting depth and the number of fields
in one message and in the whole file, so no input makes the reader use much
more memory or time than its size. Any problem raises
:class:`purenet.ModelFileError`.

What this is not: a schema compiler or a validator. It does not know which
fields a message may have; the caller asks for the ones it needs, with the
wire type it expects, and a field of another type is an error.
"""

import struct
from typing import List, Optional

from ...errors import ModelFileError

__all__ = ["Message", "Limits", "signed64"]

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_WIRE_NAMES = {VARINT: "VARINT", I64: "I64", LEN: "LEN", I32: "I32"}


class Limits:
    """Caps shared by every message of one file (one ``Limits`` per file read).

    Args:
        max_depth: how deeply messages may nest (ONNX needs 6).
        max_fields: fields in one message.
        max_total_fields: fields in all the messages read so far together.
    """

    def __init__(self, max_depth: int = 32, max_fields: int = 20_000, max_total_fields: int = 100_000):
        self.max_depth, self.max_fields, self.max_total_fields = max_depth, max_fields, max_total_fields
        self.total_fields = 0


def signed64(value: int) -> int:
    """A varint read as int64 (negative numbers are written as 64-bit two's complement).

    >>> signed64(2**64 - 1)
    -1
    """
    return value - (1 << 64) if value >= 1 << 63 else value


def _varint(buf, pos: int, end: int):
    result = shift = 0
    while True:
        if pos >= end:
            raise ModelFileError("protobuf: a varint runs past the end of its message (truncated file?).")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise ModelFileError("protobuf: a varint longer than 10 bytes.")


class Message:
    """The fields of one encoded message.

    Args:
        data: the encoded message (bytes, bytearray or memoryview).
        limits: the caps of the file being read (a fresh :class:`Limits` if omitted).
        depth: nesting level of this message (0 for the outermost).
        what: the message's name in error messages.
    """

    __slots__ = ("fields", "limits", "depth", "what")

    def __init__(self, data, limits: Optional[Limits] = None, depth: int = 0, what: str = "message"):
        self.limits = limits = limits or Limits()
        self.depth, self.what = depth, what
        if depth > limits.max_depth:
            raise ModelFileError(f"protobuf: messages nested deeper than {limits.max_depth} levels ({what}).")
        buf = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
        fields = {}
        pos, end, count = 0, len(buf), 0
        max_fields = limits.max_fields
        while pos < end:
            k = buf[pos]
            if k < 0x80:  # one-byte keys (fields 1-15) and values are the common case: no call
                pos += 1
            else:
                k, pos = _varint(buf, pos, end)
            number, wire = k >> 3, k & 7
            if number == 0:
                raise ModelFileError(f"protobuf: field number 0 in {what}.")
            if wire == VARINT:
                if pos < end and buf[pos] < 0x80:
                    value = buf[pos]
                    pos += 1
                else:
                    value, pos = _varint(buf, pos, end)
            elif wire == LEN:
                if pos < end and buf[pos] < 0x80:
                    n = buf[pos]
                    pos += 1
                else:
                    n, pos = _varint(buf, pos, end)
                if n > end - pos:
                    raise ModelFileError(f"protobuf: field {number} of {what} claims {n} bytes, {end - pos} are left.")
                value, pos = buf[pos : pos + n], pos + n
            elif wire in (I32, I64):
                n = 4 if wire == I32 else 8
                if n > end - pos:
                    raise ModelFileError(f"protobuf: field {number} of {what} is truncated.")
                value, pos = buf[pos : pos + n], pos + n
            else:
                raise ModelFileError(f"protobuf: wire type {wire} (field {number} of {what}) is not supported; "
                                     "expected 0, 1, 2 or 5.")
            count += 1
            if count > max_fields:
                raise ModelFileError(f"protobuf: more than {limits.max_fields} fields in one {what}.")
            fields.setdefault(number, []).append((wire, value))
        limits.total_fields += count
        if limits.total_fields > limits.max_total_fields:
            raise ModelFileError(f"protobuf: more than {limits.max_total_fields} fields in the file.")
        self.fields = fields

    def has(self, number: int) -> bool:
        return number in self.fields

    def _values(self, number: int, wire: int, name: str) -> list:
        out = []
        for w, v in self.fields.get(number, ()):
            if w != wire:
                raise ModelFileError(f"protobuf: {self.what}.{name} (field {number}) has wire type "
                                     f"{_WIRE_NAMES.get(w, w)}; expected {_WIRE_NAMES[wire]}.")
            out.append(v)
        return out

    # ------------------------------------------------------------ scalars
    def ints(self, number: int, name: str = "") -> List[int]:
        """A repeated int32/int64/enum field, packed or not (values as int64)."""
        out = []
        for w, v in self.fields.get(number, ()):
            if w == VARINT:
                out.append(signed64(v))
            elif w == LEN:  # packed
                pos, end = 0, len(v)
                while pos < end:
                    x, pos = _varint(v, pos, end)
                    out.append(signed64(x))
                    if len(out) > self.limits.max_fields:
                        raise ModelFileError(f"protobuf: more than {self.limits.max_fields} values in "
                                             f"{self.what}.{name or number}.")
            else:
                raise ModelFileError(f"protobuf: {self.what}.{name or number} has wire type "
                                     f"{_WIRE_NAMES.get(w, w)}; expected VARINT or packed LEN.")
        return out

    def int(self, number: int, default: int = 0, name: str = "") -> int:
        """An int field (the last value wins, as protobuf says); ``default`` when absent."""
        values = self.ints(number, name) if number in self.fields else ()
        return values[-1] if values else default

    def _fixed(self, number: int, wire: int, fmt: str, size: int, name: str) -> List[float]:
        out = []
        for w, v in self.fields.get(number, ()):
            if w == wire:
                out.append(struct.unpack("<" + fmt, v)[0])
            elif w == LEN:
                if len(v) % size:
                    raise ModelFileError(f"protobuf: packed {self.what}.{name or number} is {len(v)} bytes, "
                                         f"not a multiple of {size}.")
                out += struct.unpack(f"<{len(v) // size}{fmt}", v)
            else:
                raise ModelFileError(f"protobuf: {self.what}.{name or number} has wire type "
                                     f"{_WIRE_NAMES.get(w, w)}; expected {_WIRE_NAMES[wire]} or packed LEN.")
        return out

    def floats(self, number: int, name: str = "") -> List[float]:
        """A repeated ``float`` field (I32), packed or not."""
        return self._fixed(number, I32, "f", 4, name)

    def doubles(self, number: int, name: str = "") -> List[float]:
        """A repeated ``double`` field (I64), packed or not."""
        return self._fixed(number, I64, "d", 8, name)

    def float(self, number: int, default: float = 0.0, name: str = "") -> float:
        values = self.floats(number, name)
        return values[-1] if values else default

    # ------------------------------------------------------------ bytes and messages
    def bytes_list(self, number: int, name: str = "") -> List[memoryview]:
        return self._values(number, LEN, name or str(number))

    def bytes(self, number: int, default: bytes = b"", name: str = ""):
        values = self.bytes_list(number, name)
        return values[-1] if values else default

    def strings(self, number: int, name: str = "") -> List[str]:
        out = []
        for v in self.bytes_list(number, name):
            try:
                out.append(bytes(v).decode("utf-8"))
            except UnicodeDecodeError:
                raise ModelFileError(f"protobuf: {self.what}.{name or number} is not UTF-8.") from None
        return out

    def string(self, number: int, default: str = "", name: str = "") -> str:
        values = self.strings(number, name)
        return values[-1] if values else default

    def messages(self, number: int, what: str) -> List["Message"]:
        """A repeated embedded message, each parsed one level deeper."""
        return [Message(v, self.limits, self.depth + 1, what) for v in self.bytes_list(number, what)]

    def message(self, number: int, what: str = "") -> Optional["Message"]:
        """An embedded message (several occurrences merge, as protobuf says), or None."""
        values = self.bytes_list(number, what)
        if not values:
            return None
        data = values[0] if len(values) == 1 else b"".join(bytes(v) for v in values)
        return Message(data, self.limits, self.depth + 1, what or str(number))
