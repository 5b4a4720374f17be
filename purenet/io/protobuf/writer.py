"""A protocol-buffers writer: just enough of the wire format to write ONNX files.

    >>> string_field(2, "purenet").hex(" ")
    '12 07 70 75 72 65 6e 65 74'

A protobuf message is a sequence of fields. Each field is a key, the varint
``field_number << 3 | wire_type``, followed by its value, encoded by wire type:

    0  VARINT  int32, int64, enum, bool: 7 bits per byte, least significant
               group first, the high bit set on every byte but the last.
               A negative int is its 64-bit two's complement (ten bytes).
    2  LEN     string, bytes, an embedded message, a packed repeated scalar:
               a varint byte count, then the bytes.

(Floats have wire types of their own, I32 and I64; ONNX files keep weights in
``raw_data`` bytes instead, so this writer does not need them.)

A repeated field is the same field written once per element; an embedded
message is just its encoded fields wrapped in a LEN field, so messages are
built bottom-up as byte strings and joined. Field order does not matter to
readers; writers (this one included) use field-number order by convention.

What this is not: a schema compiler (the reader is :mod:`.reader`). It writes exactly the
fields it is asked to write, zeros included (proto2 files such as ONNX's
tell "set to 0" from "not set"), and knows nothing of which field numbers a
message has: :mod:`purenet.io.onnx` names them.
"""

__all__ = ["VARINT", "LEN", "varint", "key", "int_field", "bytes_field", "string_field", "message_field"]

VARINT, LEN = 0, 2

_UINT64 = 1 << 64


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint; negative ints as their 64-bit two's complement.

    >>> varint(1), varint(300), len(varint(-1))
    (b'\\x01', b'\\xac\\x02', 10)
    """
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 63) <= value < _UINT64:
        raise ValueError(f"a varint must be an int in [-2**63, 2**64); Received: {value!r}.")
    value %= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    """The key that starts a field: ``field << 3 | wire_type`` as a varint."""
    if isinstance(field, bool) or not isinstance(field, int) or not 1 <= field < 1 << 29:
        raise ValueError(f"a field number must be an int in [1, 2**29); Received: {field!r}.")
    return varint(field << 3 | wire_type)


def int_field(field: int, value: int) -> bytes:
    """An int32/int64/enum field (wire type VARINT)."""
    return key(field, VARINT) + varint(value)


def bytes_field(field: int, data: bytes) -> bytes:
    """A bytes field (wire type LEN): the length, then the bytes."""
    return key(field, LEN) + varint(len(data)) + bytes(data)


def string_field(field: int, text: str) -> bytes:
    """A string field: its UTF-8 bytes as a LEN field."""
    return bytes_field(field, text.encode("utf-8"))


def message_field(field: int, *parts: bytes) -> bytes:
    """An embedded message whose encoded fields are ``parts``, as a LEN field."""
    return bytes_field(field, b"".join(parts))
