"""A strict reader and a writer for safetensors files, in the standard library alone.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> write_safetensors(path, {"w": ("F64", (2, 2), [1.0, 2.0, 3.0, 4.0])}, {"note": "hi"})
    >>> tensors, metadata = read_safetensors(path)
    >>> tensors["w"]
    Tensor(dtype='F64', shape=(2, 2), values=[1.0, 2.0, 3.0, 4.0])
    >>> metadata
    {'note': 'hi'}

The format (https://github.com/huggingface/safetensors): an 8-byte
little-endian unsigned header length N, N bytes of UTF-8 JSON, then the raw
tensor bytes. The JSON maps each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end)}`` (offsets relative to the
start of the data section; row-major, little-endian) and may hold
``"__metadata__"``, a map of strings to strings.

The writer emits ``F32``, ``F64`` or ``I64`` tensors with keys sorted, offsets
contiguous in that order, and the header padded with spaces to a multiple
of 8 bytes (as the reference writer does, so tensors stay aligned).

The reader treats the file as hostile. Every number in the header is checked
before anything is allocated from it: the header length against the file and
a cap, the JSON's syntax (no duplicate keys, no NaN, no absurd integers, no
deep nesting, not too many values), each entry's fields and types, each tensor's byte count
against its dtype and shape, and the ranges against each other (they must
tile the data section exactly: no overlap, no hole, no trailing bytes).
Weights must be finite. Any failure raises :class:`purenet.ModelFileError`
naming the file, the field, what was expected and what was found.

What this module is not: a general tensor library. It reads and writes
``F32``, ``F64`` and ``I64`` only (other dtypes are reported as unsupported),
returns flat lists of Python floats (ints for ``I64``) and knows nothing of models; see
:mod:`purenet.io.modelfile` for that.
"""

import io
import json
import math
import os
import struct
import sys
from array import array
from numbers import Real
from typing import Dict, List, Mapping, NamedTuple, NoReturn, Optional, Sequence, Tuple, Union

from ..errors import ModelFileError
from .atomic import write_atomic

__all__ = [
    "Tensor", "DTYPES", "HEADER_CAP", "MAX_JSON_ITEMS", "DEFAULT_MAX_BYTES",
    "read_safetensors", "parse_safetensors", "encode_safetensors", "write_safetensors", "loads_json",
]

#: Supported dtypes: name -> (array typecode, bytes per value). ``I64`` is for
#: counters such as BatchNorm's ``num_batches_tracked`` (PyTorch saves it so);
#: its values are read as Python ints.
DTYPES = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8)}

#: Dtypes of the safetensors spec that purenet recognises but does not read.
OTHER_DTYPES = frozenset(
    ("BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "U64", "C64",
     "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4")
)

#: The largest header accepted, in bytes. The reference implementation allows
#: 100 MB, but a header is JSON, which grows 20-60 times when parsed into
#: Python objects; purenet's own headers are a few kilobytes, and those of
#: large foreign models a few hundred.
HEADER_CAP = 8 * 1024 * 1024

#: The most values (numbers, strings, objects, lists) a JSON text may hold, as
#: counted by its commas and brackets before parsing: with the size cap, what
#: keeps a "JSON bomb" (a million tiny objects) from exhausting memory. A
#: checkpoint holds a few thousand (its generator states).
MAX_JSON_ITEMS = 250_000

#: The largest file read by default. A float read from a file becomes a Python
#: float (about 32 bytes in a list), so 256 MiB of F32 is already ~2 GB of memory.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

# Integers in headers are byte offsets and dimensions: 20 digits covers 2**64.
_MAX_INT_DIGITS = 20

PathLike = Union[str, "os.PathLike[str]"]


class Tensor(NamedTuple):
    """One tensor: its safetensors dtype, its shape and its values, flat in row-major order."""

    dtype: str
    shape: Tuple[int, ...]
    values: List[float]


# ------------------------------------------------------------------ errors
def short_repr(value, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a hostile file can hold megabyte strings."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" ({len(text)} chars)"


def display_name(path) -> str:
    """How error messages name the file at ``path``."""
    if isinstance(path, (str, bytes, os.PathLike)):
        return os.fsdecode(os.fspath(path))
    return repr(path)


def json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a bool", type(None): "null",
            int: "an int", float: "a float"}.get(type(value), type(value).__name__)


def fail(file: str, field: str, expected: str, found: str) -> NoReturn:
    """Raise the :class:`ModelFileError` every check in :mod:`purenet.io` raises."""
    raise ModelFileError(f"{file}: {field}: expected {expected}; Received: {found}.")


# -------------------------------------------------------------------- JSON
class _Problem(Exception):
    """Raised by the JSON hooks; turned into a ModelFileError by :func:`loads_json`."""


def _object(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _Problem(f"duplicate key {short_repr(key)}")
        obj[key] = value
    return obj


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Problem(f"an integer with {len(text.lstrip('-'))} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > 64:
        raise _Problem(f"a number written with {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Problem(f"the number {text[:30]} (out of range)")
    return value


def _constant(text: str):
    raise _Problem(f"{text} (not valid JSON)")


def loads_json(text: str, file: str, field: str):
    """Parse ``text`` as strict JSON: no duplicate keys, no NaN or Infinity, no
    integers over 20 digits, no numbers out of float range, bounded nesting, at
    most :data:`MAX_JSON_ITEMS` values. Raises :class:`ModelFileError` naming
    ``file`` and ``field``."""
    items = text.count(",") + text.count("[") + text.count("{")  # an upper bound, counted before any parsing
    if items > MAX_JSON_ITEMS:
        fail(file, field, f"JSON of at most {MAX_JSON_ITEMS:,} values",
             f"about {items:,} (commas and brackets in {len(text):,} characters)")
    try:
        return json.loads(text, object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Problem as e:
        fail(file, field, "valid JSON", str(e))
    except json.JSONDecodeError as e:
        fail(file, field, "valid JSON", f"{e.msg} at line {e.lineno} column {e.colno}")
    except RecursionError:
        fail(file, field, "valid JSON", "nesting too deep")
    except (ValueError, TypeError, MemoryError) as e:  # anything else the parser can raise on odd input
        fail(file, field, "valid JSON", short_repr(str(e)))


# ------------------------------------------------------------------ reading
def read_safetensors(
    path: PathLike, max_bytes: int = DEFAULT_MAX_BYTES, aligned: bool = False
) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """Read a safetensors file: ``({name: Tensor(dtype, shape, values)}, metadata)``.

    Args:
        path: the file.
        max_bytes: refuse files larger than this (before reading them).
        aligned: also require the header length to be a multiple of 8, as
            every purenet (and reference) writer pads it. Off by default:
            the format allows unpadded headers and some writers (MLX) emit them.

    Tensors come back in header order, each value a Python float. Raises
    :class:`purenet.ModelFileError` for a missing or unreadable file and for
    anything malformed, truncated, oversized or unsupported in it.
    """
    name = display_name(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ModelFileError(f"{name}: cannot open the file: {e.strerror or e}.") from None
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            return _read(f, size, name, max_bytes, aligned)
        except OSError as e:
            raise ModelFileError(f"{name}: cannot read the file: {e.strerror or e}.") from None


def parse_safetensors(
    data: bytes, name: str = "<bytes>", max_bytes: int = DEFAULT_MAX_BYTES, aligned: bool = False
) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """:func:`read_safetensors` for bytes already in memory (``name`` labels errors)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_safetensors expects bytes; Received: {type(data).__name__}.")
    data = bytes(data)
    return _read(io.BytesIO(data), len(data), name, max_bytes, aligned)


def _read(f, size: int, name: str, max_bytes: int, aligned: bool):
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 8:
        raise ValueError(f"max_bytes must be an int >= 8; Received: {max_bytes!r}.")
    if size > max_bytes:
        fail(name, "file size", f"at most {max_bytes} bytes (pass a larger max_bytes to read it)", f"{size} bytes")
    if size < 8:
        fail(name, "header length", "8 bytes (a little-endian u64) at the start of the file",
             f"a file of {size} bytes (truncated, or not a safetensors file)")
    head = f.read(8)
    if len(head) != 8:
        fail(name, "header length", "8 bytes", f"{len(head)} bytes (the file shrank while being read)")
    (n,) = struct.unpack("<Q", head)
    if n > HEADER_CAP:
        fail(name, "header length", f"at most {HEADER_CAP} bytes", f"{n} (not a safetensors file?)")
    if n > size - 8:
        fail(name, "header length", f"at most {size - 8} (the bytes after the length field)",
             f"{n} (the file is truncated, or not a safetensors file)")
    if n < 2:
        fail(name, "header length", "at least 2 (the shortest JSON object, '{}')", str(n))
    if aligned and n % 8:
        fail(name, "header length", "a multiple of 8 (purenet pads its headers with spaces)", str(n))
    raw = f.read(n)
    if len(raw) != n:
        fail(name, "header", f"{n} bytes", f"{len(raw)} bytes (the file shrank while being read)")
    header = _parse_header(raw, name)
    data_size = size - 8 - n
    entries, metadata = _check_header(header, data_size, name)

    # Everything is checked: now read, one tensor at a time, in file order.
    tensors = {}
    little = sys.byteorder == "little"
    for begin, end, key, dtype, shape in sorted(entries.values(), key=lambda e: (e[0], e[1])):
        f.seek(8 + n + begin)
        raw = f.read(end - begin)
        if len(raw) != end - begin:
            fail(name, f"tensor {short_repr(key)}", f"{end - begin} bytes of data",
                 f"{len(raw)} bytes (the file shrank while being read)")
        values = array(DTYPES[dtype][0])
        values.frombytes(raw)
        if not little:
            values.byteswap()
        values = values.tolist()
        if not all(map(math.isfinite, values)):
            i = next(i for i, v in enumerate(values) if not math.isfinite(v))
            fail(name, f"tensor {short_repr(key)}", "finite numbers", f"{values[i]} at flat index {i}")
        tensors[key] = Tensor(dtype, shape, values)
    return {key: tensors[key] for key in entries}, metadata


def _parse_header(raw: bytes, name: str) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(name, "header", "UTF-8 text", f"an invalid byte at offset {8 + e.start}")
    if not text.startswith("{"):
        fail(name, "header", "a JSON object starting with '{'", short_repr(text[:20]))
    header = loads_json(text, name, "header")
    if not isinstance(header, dict):
        fail(name, "header", "a JSON object", json_type(header))
    return header


def _is_count(value) -> bool:
    """A non-negative int that is not a bool (JSON true would otherwise pass as 1)."""
    return type(value) is int and value >= 0


def _check_header(header: dict, data_size: int, name: str):
    """Check every entry; returns ``({key: (begin, end, key, dtype, shape)}, metadata)``."""
    metadata: Dict[str, str] = {}
    entries = {}
    for key, entry in header.items():
        if key == "__metadata__":
            if entry is None:  # the reference reader accepts null for "no metadata"
                continue
            if not isinstance(entry, dict):
                fail(name, "__metadata__", "an object of strings", json_type(entry))
            for mkey, mvalue in entry.items():
                if not isinstance(mvalue, str):
                    fail(name, f"__metadata__[{short_repr(mkey)}]", "a string (safetensors metadata values are strings)",
                         json_type(mvalue))
            metadata = dict(entry)
            continue
        field = f"tensor {short_repr(key)}"
        if not isinstance(entry, dict):
            fail(name, field, 'an object {"dtype", "shape", "data_offsets"}', json_type(entry))
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
        unknown = [k for k in entry if k not in ("dtype", "shape", "data_offsets")]
        if missing or unknown:
            found = ", ".join(
                ([f"no {missing}"] if missing else []) + ([f"unknown field(s) {short_repr(unknown)}"] if unknown else [])
            )
            fail(name, field, 'exactly the fields "dtype", "shape", "data_offsets"', found)
        dtype = entry["dtype"]
        if not isinstance(dtype, str):
            fail(name, f"{field} dtype", "a string", json_type(dtype))
        if dtype not in DTYPES:
            if dtype in OTHER_DTYPES:
                fail(name, f"{field} dtype", f"one of {sorted(DTYPES)} (purenet works in float32/float64, counters in int64)",
                     f"the unsupported dtype {dtype!r}; convert the tensor to float32 first")
            fail(name, f"{field} dtype", f"one of {sorted(DTYPES)}", f"the unknown dtype {short_repr(dtype)}")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
            fail(name, f"{field} shape", "a list of non-negative ints", short_repr(shape))
        offsets = entry["data_offsets"]
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
            fail(name, f"{field} data_offsets", "a list of two non-negative ints [begin, end]", short_repr(offsets))
        begin, end = offsets
        if begin > end:
            fail(name, f"{field} data_offsets", "begin <= end", f"[{begin}, {end}]")
        if end > data_size:
            fail(name, f"{field} data_offsets", f"a range inside the {data_size}-byte data section",
                 f"[{begin}, {end}] (the file is truncated, or the offsets are wrong)")
        itemsize = DTYPES[dtype][1]
        count = _count(shape, data_size)
        if count * itemsize != end - begin:
            if count <= data_size:
                expected = (f"data_offsets spanning {count * itemsize} bytes "
                            f"(shape {short_repr(shape)} = {count} values of {itemsize} bytes, {dtype})")
            else:
                expected = f"a shape that fits the data section; shape {short_repr(shape)} has more than {data_size} values"
            fail(name, field, expected, f"data_offsets [{begin}, {end}], {end - begin} bytes")
        entries[key] = (begin, end, key, dtype, tuple(shape))

    # The ranges must tile the data section: sorted by start, each begins where the last ended.
    pos, previous = 0, None
    for begin, end, key, _, _ in sorted(entries.values(), key=lambda e: (e[0], e[1])):
        if begin < pos:
            fail(name, f"tensor {short_repr(key)} data_offsets", f"a range starting at byte {pos} or later",
                 f"[{begin}, {end}], which overlaps tensor {short_repr(previous)}")
        if begin > pos:
            fail(name, f"tensor {short_repr(key)} data_offsets", f"a range starting at byte {pos} (no holes in the data)",
                 f"[{begin}, {end}]: bytes {pos}..{begin} belong to no tensor")
        pos, previous = end, key
    if pos != data_size:
        fail(name, "data section", f"{pos} bytes (the end of the last tensor)",
             f"{data_size} bytes: {data_size - pos} trailing bytes belong to no tensor")
    return entries, metadata


def _count(shape: Sequence[int], limit: int) -> int:
    """The number of values in ``shape``; stops once past ``limit`` (such a shape is wrong anyway)."""
    if 0 in shape:
        return 0
    count = 1
    for s in shape:
        count *= s
        if count > limit:
            return count
    return count


# ------------------------------------------------------------------ writing
def encode_safetensors(
    tensors: Mapping[str, Tuple[str, Sequence[int], Sequence[float]]], metadata: Optional[Mapping[str, str]] = None
) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` (``{name: (dtype, shape, flat values)}``)."""
    return b"".join(_encode(tensors, metadata))


def write_safetensors(
    path: PathLike,
    tensors: Mapping[str, Tuple[str, Sequence[int], Sequence[float]]],
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Write ``tensors`` (``{name: (dtype, shape, flat values)}``, dtype ``"F32"``,
    ``"F64"`` or ``"I64"``) and string ``metadata`` to ``path``, atomically (see :mod:`purenet.io.atomic`).

    Raises ``ValueError`` / ``TypeError`` for tensors that cannot be written
    (wrong length, non-finite values, a value out of float32 range...).
    """
    write_atomic(path, _encode(tensors, metadata))


def _encode(tensors, metadata) -> List[bytes]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a dict of name -> (dtype, shape, values); Received: {type(tensors).__name__}.")
    header: Dict[str, object] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise TypeError("metadata must be a dict of strings to strings (the safetensors rule); "
                            f"Received: {short_repr(metadata)}.")
        header["__metadata__"] = dict(metadata)
    little = sys.byteorder == "little"
    blobs, offset = [], 0
    for key in sorted(tensors):
        if not isinstance(key, str) or key == "__metadata__":
            raise ValueError(f"tensor names must be strings other than '__metadata__'; Received: {key!r}.")
        try:
            dtype, shape, values = tensors[key]
        except (TypeError, ValueError):
            raise TypeError(f"tensor {key!r} must be a (dtype, shape, values) triple; Received: {short_repr(tensors[key])}.") from None
        if dtype not in DTYPES:
            raise ValueError(f"tensor {key!r}: dtype must be one of {sorted(DTYPES)}; Received: {dtype!r}.")
        shape = tuple(shape)
        if not all(_is_count(s) for s in shape):
            raise ValueError(f"tensor {key!r}: shape must be non-negative ints; Received: {shape!r}.")
        values = list(values)
        if len(values) != _count(shape, len(values)):
            raise ValueError(f"tensor {key!r}: shape {shape} holds {_count(shape, 1 << 62)} values; Received: {len(values)}.")
        if not set(map(type, values)) <= {float, int}:  # the fast path; bools are type bool, not int
            for v in values:
                if isinstance(v, bool) or not isinstance(v, Real):
                    raise TypeError(f"tensor {key!r} must hold real numbers; Received: {short_repr(v)}.")
            values = [float(v) for v in values]
        code, itemsize = DTYPES[dtype]
        if dtype == "I64":
            if not all(float(v).is_integer() for v in values):
                i = next(i for i, v in enumerate(values) if not float(v).is_integer())
                raise ValueError(f"tensor {key!r}: I64 holds whole numbers; Received: {values[i]!r} at flat index {i}.")
            values = [int(v) for v in values]
        try:
            data = array(code, values)
        except OverflowError:
            raise ValueError(f"tensor {key!r}: a value is out of the range of {dtype}.") from None
        if not all(map(math.isfinite, data)):
            i = next(i for i, v in enumerate(data) if not math.isfinite(v))
            raise ValueError(
                f"tensor {key!r}: values must be finite in {dtype}; Received: {values[i]!r} at flat index {i}."
            )
        if not little:
            data.byteswap()
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data) * itemsize]}
        offset += len(data) * itemsize
        blobs.append(data.tobytes())
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data (and every tensor in it) starts 8-byte aligned
    if len(text) > HEADER_CAP:
        raise ValueError(f"the header would be {len(text)} bytes; safetensors allows at most {HEADER_CAP}.")
    return [struct.pack("<Q", len(text)), text] + blobs
