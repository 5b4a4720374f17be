"""ONNX files as plain Python: the messages of ``onnx.proto`` that a model of
layers needs, read with the bounded reader of :mod:`purenet.io.protobuf`.

The field numbers are those of ONNX's ``onnx.proto``. Tensors come out as
flat lists of Python floats (float32, float64 and float16 data) or ints
(int64, int32: shapes and axes); any other element type is refused, naming
the tensor. Data kept outside the model (``data_location`` EXTERNAL, what
``torch.onnx.export`` writes for large weights) is read from the file named
by ``location`` only when that file lies inside the model's folder: no
absolute paths, no ``..``, no link leading out, and ``offset``/``length``
checked against the file's size and the tensor's.

What this is not: a validator of everything ONNX allows. Fields the
importer does not use (docs, value_info, training info) are skipped
unparsed.
"""

import os
import re
import struct
import sys
from array import array
from typing import Dict, List, NamedTuple, Optional, Tuple

from ...errors import ModelFileError
from ..protobuf import Limits, Message

__all__ = ["Tensor", "Node", "Graph", "Model", "decode_model", "decode_tensor", "DTYPES"]

#: TensorProto.DataType values read: name, array typecode, bytes per element.
DTYPES = {1: ("float32", "f", 4), 11: ("float64", "d", 8), 10: ("float16", "e", 2),
          7: ("int64", "q", 8), 6: ("int32", "i", 4)}
_DTYPE_NAMES = {0: "UNDEFINED", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 8: "string", 9: "bool",
                12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16"}
_ATTR_TYPES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH", 6: "FLOATS", 7: "INTS", 8: "STRINGS"}

MAX_NODES = 20_000
MAX_ELEMENTS = 1 << 28


class Tensor(NamedTuple):
    name: str
    dims: Tuple[int, ...]
    dtype: str
    values: list  # flat, row-major


class Node(NamedTuple):
    op: str
    domain: str
    name: str
    inputs: List[str]
    outputs: List[str]
    attrs: Dict[str, object]  # name -> int, float, str, Tensor, or a list of ints/floats/strs


class Graph(NamedTuple):
    nodes: List[Node]
    initializers: Dict[str, Tensor]
    inputs: List[Tuple[str, Optional[Tuple[object, ...]], int]]  # name, dims (int or str per dim) or None, elem_type
    outputs: List[str]


class Model(NamedTuple):
    ir_version: int
    opsets: Dict[str, int]
    graph: Graph
    metadata: Dict[str, str]


class _Context:
    """What decoding one file shares: its name, folder, limits and external bytes read."""

    def __init__(self, file: str, folder: Optional[str], max_bytes: int):
        self.file, self.folder, self.max_bytes = file, folder, max_bytes
        self.limits = Limits()
        self.external_bytes = 0

    def error(self, text: str) -> ModelFileError:
        return ModelFileError(f"{self.file}: {text}")


def decode_model(data, file: str = "<bytes>", folder: Optional[str] = None,
                 max_bytes: int = 256 * 1024 * 1024) -> Model:
    """A ``ModelProto``'s graph, operator sets and metadata.

    Args:
        data: the file's bytes.
        file: its name, for error messages.
        folder: the model's folder, where external data may be; None refuses external data.
        max_bytes: the most external data read in all.
    """
    ctx = _Context(file, folder, max_bytes)
    m = Message(data, ctx.limits, 0, "ModelProto")
    if not m.has(7):
        raise ctx.error("no graph: not an ONNX model (ModelProto.graph, field 7, is missing).")
    opsets = {}
    for o in m.messages(8, "OperatorSetIdProto"):
        opsets[o.string(1)] = o.int(2)
    metadata = {e.string(1): e.string(2) for e in m.messages(14, "StringStringEntryProto")}
    return Model(m.int(1), opsets, _graph(m.message(7, "GraphProto"), ctx), metadata)


def _graph(g: Message, ctx: _Context) -> Graph:
    nodes = []
    for raw in g.bytes_list(1, "node"):
        if len(nodes) >= MAX_NODES:
            raise ctx.error(f"more than {MAX_NODES} nodes.")
        nodes.append(_node(Message(raw, ctx.limits, g.depth + 1, "NodeProto"), ctx))
    inits = {}
    for t in g.messages(5, "TensorProto"):
        tensor = decode_tensor(t, ctx)
        inits[tensor.name] = tensor
    if g.has(15):
        raise ctx.error("sparse initializers are not supported.")
    inputs = [(v.string(1),) + _dims(v) for v in g.messages(11, "ValueInfoProto")]
    outputs = [v.string(1) for v in g.messages(12, "ValueInfoProto")]
    return Graph(nodes, inits, inputs, outputs)


def _dims(value_info: Message) -> Tuple[Optional[Tuple[object, ...]], int]:
    """The dims of a tensor ValueInfoProto (None if unknown) and its elem_type (0 if not a tensor)."""
    t = value_info.message(2, "TypeProto")
    tensor = t.message(1, "TypeProto.Tensor") if t is not None else None
    if tensor is None:
        return None, 0
    shape = tensor.message(2, "TensorShapeProto")
    if shape is None:
        return None, tensor.int(1)
    return tuple(d.int(1) if d.has(1) else (d.string(2) or "?") for d in shape.messages(1, "Dimension")), tensor.int(1)


def _node(n: Message, ctx: _Context) -> Node:
    attrs = {}
    for a in n.messages(5, "AttributeProto"):
        name = a.string(1)
        attrs[name] = _attribute(a, name, ctx)
    return Node(n.string(4), n.string(7), n.string(3), n.strings(1), n.strings(2), attrs)


def _attribute(a: Message, name: str, ctx: _Context):
    kind = a.int(20)
    if kind == 0:  # files from before the type field: the value field present says it
        kind = next((k for f, k in ((2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (8, 7), (9, 8)) if a.has(f)), 0)
    if kind == 1:
        return _shortest(a.float(2))
    if kind == 2:
        return a.int(3)
    if kind == 3:
        try:
            return bytes(a.bytes(4)).decode("utf-8")
        except UnicodeDecodeError:
            raise ctx.error(f"attribute {name!r} is not UTF-8.") from None
    if kind == 4:
        return decode_tensor(a.message(5, "TensorProto"), ctx)
    if kind == 6:
        return [_shortest(v) for v in a.floats(7)]
    if kind == 7:
        return a.ints(8)
    if kind == 8:
        return a.strings(9)
    return _Unsupported(_ATTR_TYPES.get(kind, str(kind)))


def _shortest(value: float) -> float:
    """The shortest decimal that is the same float32 as ``value`` (attributes are float32:
    an epsilon written as 1e-3 comes back as 1e-3, not 0.0010000000474974513)."""
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", short))[0] == value:
            return short
    return value


class _Unsupported(NamedTuple):
    kind: str  # an attribute the importer never needs (a subgraph, sparse tensor...)


def decode_tensor(t: Message, ctx) -> Tensor:
    """A ``TensorProto`` as a :class:`Tensor` (``ctx``: a decoding context, or a file name)."""
    if isinstance(ctx, str):
        ctx = _Context(ctx, None, 0)
    name = t.string(8)
    dims = tuple(t.ints(1))
    if any(d < 0 for d in dims):
        raise ctx.error(f"tensor {name!r} has a negative dimension: {list(dims)}.")
    count = 1
    for d in dims:
        count *= d
    if count > MAX_ELEMENTS:
        raise ctx.error(f"tensor {name!r} has {count} elements; at most {MAX_ELEMENTS} are read.")
    code = t.int(2)
    if code not in DTYPES:
        raise ctx.error(f"tensor {name!r} has element type {_DTYPE_NAMES.get(code, code)}; expected one of "
                        f"{', '.join(v[0] for v in DTYPES.values())}.")
    dtype, typecode, size = DTYPES[code]
    if t.has(3):
        raise ctx.error(f"tensor {name!r} is segmented; segmented tensors are not supported.")
    if t.int(14) == 1:  # data_location EXTERNAL
        raw = _external(t, name, count * size, ctx)
    elif t.has(9):
        raw = t.bytes(9)
    else:
        values = _typed_values(t, code, name, ctx)
        if len(values) != count:
            raise ctx.error(f"tensor {name!r} of shape {list(dims)} needs {count} values; Received: {len(values)}.")
        return Tensor(name, dims, dtype, values)
    if len(raw) != count * size:
        raise ctx.error(f"tensor {name!r} of shape {list(dims)} ({dtype}) needs {count * size} bytes of data; "
                        f"Received: {len(raw)}.")
    return Tensor(name, dims, dtype, _unpack(raw, typecode, count))


def _unpack(raw, typecode: str, count: int) -> list:
    if typecode == "e":  # no array typecode for float16
        return list(struct.unpack(f"<{count}e", raw))
    values = array(typecode)
    values.frombytes(bytes(raw))
    if sys.byteorder != "little":  # ONNX raw data is little-endian
        values.byteswap()
    return values.tolist()


def _typed_values(t: Message, code: int, name: str, ctx: _Context) -> list:
    if code == 1:
        return t.floats(4, "float_data")
    if code == 11:
        return t.doubles(10, "double_data")
    if code == 7:
        return t.ints(7, "int64_data")
    if code == 6:
        return t.ints(5, "int32_data")
    # float16: the bits of each value in int32_data
    bits = t.ints(5, "int32_data")
    if any(not 0 <= b < 1 << 16 for b in bits):
        raise ctx.error(f"tensor {name!r}: float16 values must be 16-bit patterns.")
    return list(struct.unpack(f"<{len(bits)}e", struct.pack(f"<{len(bits)}H", *bits)))


_SAFE_LOCATION = re.compile(r"^[^/\\:\x00]+(?:[/\\][^/\\:\x00]+)*$")


def _external(t: Message, name: str, nbytes: int, ctx: _Context) -> bytes:
    entries = {e.string(1): e.string(2) for e in t.messages(13, "StringStringEntryProto")}
    location = entries.get("location", "")
    if ctx.folder is None:
        raise ctx.error(f"tensor {name!r} keeps its data in the external file {location!r}; load the model "
                        "from its path, so that the file beside it can be found.")
    parts = re.split(r"[/\\]", location)
    if not _SAFE_LOCATION.match(location) or any(p in (".", "..") for p in parts) or os.path.isabs(location):
        raise ctx.error(f"tensor {name!r}: external data must be a relative path inside the model's folder, "
                        f"without '..'; Received: location {location!r}.")
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries["length"]) if "length" in entries else None
    except ValueError:
        raise ctx.error(f"tensor {name!r}: external data offset and length must be integers; "
                        f"Received: {entries.get('offset')!r}, {entries.get('length')!r}.") from None
    root = os.path.realpath(ctx.folder)
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, path]) != root:
        raise ctx.error(f"tensor {name!r}: external data {location!r} leads out of the model's folder.")
    if not os.path.isfile(path):
        raise ctx.error(f"tensor {name!r}: external data file {location!r} is missing beside the model.")
    size = os.path.getsize(path)
    if length is None:
        length = size - offset
    if offset < 0 or length != nbytes or offset + length > size:
        raise ctx.error(f"tensor {name!r}: external data of {nbytes} bytes expected at offset {offset} of "
                        f"{location!r} ({size} bytes); Received: length {length}.")
    ctx.external_bytes += length
    if ctx.external_bytes > ctx.max_bytes:
        raise ctx.error(f"more than {ctx.max_bytes} bytes of external data.")
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise ctx.error(f"tensor {name!r}: external data file {location!r} changed while being read.")
    return data
