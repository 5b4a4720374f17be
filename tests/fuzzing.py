"""Hostile files for every purenet reader, and a runner that holds each read to account.

Used by ``tests/test_fuzz_readers.py`` (a few hundred seeded cases in CI)
and ``scripts/fuzz_readers.py`` (thousands, nightly-style, with figures).

Each reader in :data:`READERS` has a Hypothesis strategy of inputs built
three ways: valid files (so a correct reader must also *succeed*), byte-level
mutations of valid files (truncation, bit flips, overwritten, inserted,
deleted and duplicated ranges, a lying 32/64-bit number written anywhere)
and structured lies that get past the outer checks to reach the inner ones
(a safetensors header whose container is consistent but whose fields lie;
a PNG whose chunks carry correct CRCs around a lying IHDR or a zlib bomb; an
IDX header claiming 10^12 elements; a checkpoint naming ``os.system`` as its
optimizer). :func:`run_case` then reads one input and classifies the result:
a valid result or the reader's documented error is fine; any other
exception, a hang past the guard or an allocation past the limit is a
finding, reported with the input's size and a traceback.

What this is not: a coverage-guided fuzzer. The structure comes from the
formats, so the cases reach the checks deep inside each reader instead of
dying at the magic number.
"""

import gzip
import io
import json
import os
import random
import signal
import struct
import tempfile
import time
import traceback
import zlib
from typing import Callable, Dict, NamedTuple, Optional, Tuple

from hypothesis import strategies as st

try:
    import tracemalloc
except ImportError:  # PyPy has no tracemalloc: there, memory is not measured
    tracemalloc = None

import purenet as pn
from purenet.datasets.idx import read_idx
from purenet.datasets.mnist import load_mnist
from purenet.errors import DatasetError, ImageError, ModelFileError
from purenet.io.checkpoint import load_checkpoint, save_checkpoint
from purenet.io.imagefile import read_image
from purenet.io.jpeg import decode_jpeg
from purenet.io.modelfile import load_model, load_state_dict_file
from purenet.io.onnx import encode_onnx, load_onnx
from purenet.io.protobuf import bytes_field, int_field, message_field, string_field
from purenet.io.pgm import decode_pgm
from purenet.io.png import SIGNATURE, decode_png
from purenet.io.safetensors import encode_safetensors, parse_safetensors

# Numbers a lying header likes to hold: edges of the integer widths, 10^12, negatives as unsigned.
LIES = (0, 1, 2, 7, 8, 255, 256, 65535, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 10**9, 10**12,
        2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1)


# ----------------------------------------------------------------- seeds
def _tmp_bytes(write: Callable[[str], None]) -> bytes:
    """The bytes a path-writing function produces."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        write(path)
        with open(path, "rb") as f:
            return f.read()


def _small_cnn(seed: int) -> pn.Sequential:
    return pn.Sequential(
        [pn.Conv2D(2, 3, padding=1), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dropout(0.25),
         pn.Dense(4), pn.Tanh(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 6, 6), seed=seed,
    )


def _small_mlp(seed: int) -> pn.Sequential:
    return pn.Sequential([pn.Dense(3, use_bias=False), pn.Sigmoid(), pn.Dense(2), pn.Softmax()],
                         input_shape=(5,), seed=seed)


def _trained(model, optimizer):
    x = [[((i * 7 + j * 3) % 11) / 10.0 for j in range(model.in_features)] for i in range(8)]
    model.fit(x, [i % model.out_features for i in range(8)], epochs=1, batch_size=4, optimizer=optimizer)
    model.classes = list(range(model.out_features))
    return model


_SEEDS: Dict[str, tuple] = {}


def seeds(kind: str) -> tuple:
    """Valid files of one kind, built once per process."""
    if kind not in _SEEDS:
        _SEEDS[kind] = tuple(_SEED_BUILDERS[kind]())
    return _SEEDS[kind]


def seed_files(*kinds: str) -> st.SearchStrategy:
    """One of the seed files of ``kinds``, drawn by index (so that Hypothesis never
    builds the repr of a list of whole files)."""
    files = sum((seeds(kind) for kind in kinds), ())
    return st.integers(0, len(files) - 1).map(lambda i: files[i])


def _model_seeds():
    cnn = _trained(_small_cnn(0), pn.Adam(0.01))
    return [_tmp_bytes(lambda p: cnn.save(p)), _tmp_bytes(lambda p: _small_mlp(1).save(p, dtype="F64"))]


def _checkpoint_seeds():
    out = []
    for model, optimizer in ((_small_cnn(2), pn.Adam(0.01)), (_small_mlp(3), pn.SGD(0.1, momentum=0.9)),
                             (_small_mlp(4), pn.SGD(0.1))):
        _trained(model, optimizer)
        out.append(_tmp_bytes(lambda p: save_checkpoint(p, model, optimizer, epoch=1, extra={"note": [1, 2]})))
    return out


def _idx_seeds():
    rng = random.Random(0)
    images = bytes(rng.randrange(256) for _ in range(3 * 28 * 28))
    header = bytes((0, 0, 8, 3)) + struct.pack(">3I", 3, 28, 28)
    labels = bytes((0, 0, 8, 1)) + struct.pack(">I", 3) + bytes([1, 7, 9])
    return [header + images, _gzip(header + images), labels, _gzip(labels)]


def _onnx_seeds():
    image_softmax = pn.Sequential([pn.Conv2D(2, 3, stride=2, padding=((0, 1), (1, 0))), pn.LogSoftmax(), pn.MaxPool2D(2)],
                                  input_shape=(1, 8, 8), seed=5)
    return [encode_onnx(_trained(_small_cnn(4), pn.SGD(0.1))), encode_onnx(_small_mlp(5)), encode_onnx(image_softmax)]


_SEED_BUILDERS = {"model": _model_seeds, "checkpoint": _checkpoint_seeds, "idx": _idx_seeds, "onnx": _onnx_seeds}


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


# ------------------------------------------------------ byte mutations
_position = st.floats(0.0, 1.0, exclude_max=True)
_MUTATION = st.one_of(
    st.tuples(st.just("truncate"), _position),
    st.tuples(st.just("flip"), _position, st.integers(0, 7)),
    st.tuples(st.just("set"), _position, st.integers(0, 255)),
    st.tuples(st.just("insert"), _position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _position, st.integers(1, 64)),
    st.tuples(st.just("duplicate"), _position, st.integers(1, 256)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("lie"), _position, st.sampled_from(LIES), st.sampled_from((">I", "<I", "<Q", ">Q"))),
)


def mutate(data: bytes, mutations) -> bytes:
    """Apply byte-level ``mutations`` (from :data:`_MUTATION`) to ``data``."""
    b = bytearray(data)
    for m in mutations:
        op = m[0]
        at = int(m[1] * len(b)) if op != "append" else len(b)
        if op == "truncate":
            del b[at:]
        elif op == "flip" and b:
            b[at] ^= 1 << m[2]
        elif op == "set" and b:
            b[at] = m[2]
        elif op == "insert":
            b[at:at] = m[2]
        elif op == "delete":
            del b[at : at + m[2]]
        elif op == "duplicate":
            b[at:at] = b[at : at + m[2]]
        elif op == "append":
            b += m[1]
        elif op == "lie":
            fmt = m[3]
            value = m[2] & (0xFFFFFFFF if fmt.endswith("I") else 0xFFFFFFFFFFFFFFFF)
            b[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(b)


def mutated(seed_strategy):
    return st.tuples(seed_strategy, st.lists(_MUTATION, min_size=1, max_size=4)).map(lambda t: mutate(*t))


# --------------------------------------------------------- hostile JSON
def _deep(n: int) -> str:
    return "[" * n + "]" * n


_BOMBS = {
    "deep": _deep(100_000), "unclosed": "[" * 100_000, "deep objects": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "long int": "9" * 5000, "21-digit int": "-" + "9" * 21, "overflow": "1e999", "-overflow": "-1e999",
    "NaN": "NaN", "Infinity": "Infinity", "duplicate keys": '{"a": 1, "a": 2}', "long list": "[" + "1," * 100_000 + "1]",
    "long string": '"' + "x" * 200_000 + '"', "empty": "", "brace": "{", "null": "null", "true": "true",
    "cut list": "[1, 2", "lone surrogate": "\ud800", "escaped surrogate": '"\\ud800"', "ones": "1" * 21,
    "os.system": json.dumps({"class": "os.system", "config": {}}),
    "__import__": json.dumps({"class": "__import__", "config": {}}),
    "huge ints": json.dumps([10**12, -1, 2**64]), "underflow": "0.1e-99999", "20 digits": "1" + "0" * 19,
    "999 deep": _deep(999),
}



def _bomb(name: str) -> str:
    return _BOMBS[name]  # (a function, not _BOMBS.__getitem__, which Hypothesis would describe with the dict)


HOSTILE_JSON = st.one_of(
    st.sampled_from(sorted(_BOMBS)).map(_bomb),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from(LIES)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12,
    ).map(json.dumps),
)


# ---------------------------------------------------- safetensors lies
def split_safetensors(data: bytes) -> Tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def assemble_safetensors(header, body: bytes, length: Optional[int] = None, pad: bool = True) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + body


_HOSTILE_VALUE = st.one_of(
    st.sampled_from(LIES), st.integers(-(2**66), 2**66), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.text(max_size=5), st.lists(st.sampled_from(LIES), max_size=5),
    st.lists(st.integers(-3, 2**40), max_size=5),
    st.sampled_from(["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "f32", "", "os.system", "__import__"]),
    st.recursive(st.integers(0, 9), lambda c: st.lists(c, max_size=2), max_leaves=4),
)

_TENSOR_EDIT = st.one_of(
    st.tuples(st.just("field"), st.integers(0, 10**6), st.sampled_from(["dtype", "shape", "data_offsets", "extra"]),
              _HOSTILE_VALUE),
    st.tuples(st.just("shape"), st.integers(0, 10**6), st.lists(st.sampled_from(LIES), min_size=0, max_size=5)),
    st.tuples(st.just("offsets"), st.integers(0, 10**6), st.sampled_from(LIES + (-1, -8)), st.sampled_from(LIES + (-1,))),
    st.tuples(st.just("copy_offsets"), st.integers(0, 10**6), st.integers(0, 10**6)),  # overlap
    st.tuples(st.just("swap"), st.integers(0, 10**6), st.integers(0, 10**6)),  # unsorted
    st.tuples(st.just("drop"), st.integers(0, 10**6)),
    st.tuples(st.just("rename"), st.integers(0, 10**6), st.sampled_from(["__metadata__", "", "0.weight", "x" * 300,
                                                                      "optimizer.0.weight.m", "optimizer.zz"])),
    st.tuples(st.just("metadata"), st.sampled_from(["format", "format_version", "architecture", "epoch", "optimizer",
                                                    "rng_state", "layer_rng_states", "loss", "history", "classes",
                                                    "extra", "purenet_version", "unknown"]), HOSTILE_JSON),
    st.tuples(st.just("metadata_raw"), _HOSTILE_VALUE),
    st.tuples(st.just("architecture"), st.integers(0, 10**6), st.sampled_from(
        ["class", "units", "filters", "kernel_size", "stride", "padding", "pool_size", "rate", "use_bias",
         "kernel_initializer", "input_shape", "config"]), _HOSTILE_VALUE),
    st.tuples(st.just("layer_class"), st.integers(0, 10**6), st.sampled_from(
        ["os.system", "__import__", "eval", "builtins.exec", "Sequential", "Layer", "subprocess.Popen", "dense", ""])),
    st.tuples(st.just("optimizer_class"), st.sampled_from(["os.system", "__import__", "Optimizer", "sgd", "Adam"])),
    st.tuples(st.just("body"), st.sampled_from(["nan", "inf", "trailing", "short"]), _position),
)


def _pick(keys, i):
    return keys[i % len(keys)] if keys else None


def _edit_header(header: dict, body: bytes, edit) -> Tuple[dict, bytes]:
    """One structured lie in a parsed safetensors header (or its data section)."""
    keys = [k for k in header if k != "__metadata__"]
    meta = header.setdefault("__metadata__", {}) if isinstance(header.get("__metadata__", {}), dict) else {}
    op = edit[0]
    if op == "field" and keys:
        header[_pick(keys, edit[1])][edit[2]] = edit[3]
    elif op == "shape" and keys:
        header[_pick(keys, edit[1])]["shape"] = edit[2]
    elif op == "offsets" and keys:
        header[_pick(keys, edit[1])]["data_offsets"] = [edit[2], edit[3]]
    elif op == "copy_offsets" and keys:
        header[_pick(keys, edit[1])]["data_offsets"] = list(header[_pick(keys, edit[2])]["data_offsets"])
    elif op == "swap" and keys:
        a, b = header[_pick(keys, edit[1])], header[_pick(keys, edit[2])]
        a["data_offsets"], b["data_offsets"] = b["data_offsets"], a["data_offsets"]
    elif op == "drop" and keys:
        del header[_pick(keys, edit[1])]
    elif op == "rename" and keys:
        header[edit[2]] = header.pop(_pick(keys, edit[1]))
    elif op == "metadata":
        meta[edit[1]] = edit[2]
    elif op == "metadata_raw":
        header["__metadata__"] = edit[1]
    elif op in ("architecture", "layer_class") and isinstance(meta.get("architecture"), str):
        arch = json.loads(meta["architecture"])
        if edit[2] == "input_shape" and op == "architecture":
            arch["input_shape"] = edit[3]
        else:
            layer = arch["layers"][edit[1] % len(arch["layers"])]
            if op == "layer_class":
                layer["class"] = edit[2]
            elif edit[2] in ("class", "config"):
                layer[edit[2]] = edit[3]
            else:
                layer["config"][edit[2]] = edit[3]
        meta["architecture"] = json.dumps(arch)
    elif op == "optimizer_class" and isinstance(meta.get("optimizer"), str):
        spec = json.loads(meta["optimizer"])
        spec["class"] = edit[1]
        meta["optimizer"] = json.dumps(spec)
    elif op == "body" and body:
        at = int(edit[2] * len(body)) & ~3
        if edit[1] == "nan":
            body = body[:at] + struct.pack("<f", float("nan")) + body[at + 4 :]
        elif edit[1] == "inf":
            body = body[:at] + struct.pack("<d", float("inf")) + body[at + 8 :]
        elif edit[1] == "trailing":
            body = body + b"\0" * 8
        else:
            body = body[:at]
    return header, body


def header_lies(seed_strategy):
    """Seeds with one to three structured header lies; the container stays consistent."""

    def build(args):
        data, edits, length_lie, pad = args
        header, body = split_safetensors(data)
        for edit in edits:
            try:
                header, body = _edit_header(header, body, edit)
            except (TypeError, KeyError, IndexError, AttributeError, ValueError, RecursionError):
                pass  # an earlier edit left nothing for this one to lie about
        return assemble_safetensors(header, body, length=length_lie, pad=pad)

    return st.tuples(
        seed_strategy, st.lists(_TENSOR_EDIT, min_size=1, max_size=3),
        st.one_of(st.none(), st.none(), st.none(), st.sampled_from(LIES)), st.booleans(),
    ).map(build)


def json_bombs():
    """A whole header that is a JSON bomb (deep, huge, duplicate keys, absurd numbers)."""
    return st.tuples(HOSTILE_JSON, st.booleans()).map(
        lambda t: assemble_safetensors(("{" + t[0] if t[1] else t[0]).encode("utf-8", "surrogatepass"), b"")
    )


_DTYPE_CODES = {"F32": "f", "F64": "d"}


@st.composite
def valid_safetensors(draw):
    """Any small, valid F32/F64 safetensors file (as the reader must accept)."""
    tensors = {}
    for name in draw(st.lists(st.text(min_size=1, max_size=6).filter(lambda s: s != "__metadata__"),
                              max_size=4, unique=True)):
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        count = 1
        for s in shape:
            count *= s
        values = draw(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=count, max_size=count))
        tensors[name] = (draw(st.sampled_from(["F32", "F64"])), shape, values)
    meta = draw(st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
    return encode_safetensors(tensors, meta)


# ----------------------------------------------------------------- IDX
@st.composite
def idx_lies(draw):
    """An IDX header that lies (dims up to 2^32-1 each, wrong type code or ndim) over
    a little or a lot of data, raw or gzip, including a gzip bomb of zeros."""
    ndim = draw(st.integers(0, 6))
    code = draw(st.sampled_from([8, 8, 8, 9, 0x0D, 0xFF]))
    dims = [draw(st.sampled_from((0, 1, 3, 28, 1000, 10**4, 2**16, 2**32 - 1))) for _ in range(ndim)]
    header = bytes((0, 0, code, ndim)) + b"".join(struct.pack(">I", d) for d in dims)
    body = draw(st.one_of(st.binary(max_size=64), st.integers(0, 2_000_000).map(bytes)))
    data = header + body
    return _gzip(data) if draw(st.booleans()) else data


# ----------------------------------------------------------------- PNG
_PNG_FORMATS = [(0, d) for d in (1, 2, 4, 8, 16)] + [(2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
                                                      (4, 8), (4, 16), (6, 8), (6, 16)]
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_chunk(kind: bytes, body: bytes, crc_ok: bool = True, length: Optional[int] = None) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind)) ^ (0 if crc_ok else 1)
    return struct.pack(">I", len(body) if length is None else length & 0xFFFFFFFF) + kind + body + struct.pack(">I", crc)


def scanline_bytes(width: int, height: int, color_type: int, depth: int, interlace: int) -> int:
    bits = _SAMPLES[color_type] * depth
    passes = [(0, 0, 1, 1)] if interlace == 0 else _ADAM7
    total = 0
    for x0, y0, dx, dy in passes:
        pw, ph = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if pw > 0 and ph > 0:
            total += ph * (1 + (pw * bits + 7) // 8)
    return total


@st.composite
def valid_pngs(draw):
    """A small PNG of any colour type, bit depth and interlacing, random filters and
    pixels (palette indices in range), possibly split over several IDAT chunks."""
    color_type, depth = draw(st.sampled_from(_PNG_FORMATS))
    width, height = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    interlace = draw(st.integers(0, 1))
    rng = random.Random(draw(st.integers(0, 2**32)))
    raw = bytearray(rng.randrange(256) for _ in range(scanline_bytes(width, height, color_type, depth, interlace)))
    if color_type == 3:  # every index must be < the palette size: fill with zero-index pixels, filter None
        raw = bytearray(len(raw))
    else:  # random filter types on each row: walk the rows as the decoder does and set their first byte
        _set_filters(raw, width, height, color_type, depth, interlace, rng)
    chunks = [png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))]
    if color_type == 3:
        entries = draw(st.integers(1, 256))
        chunks.append(png_chunk(b"PLTE", bytes(rng.randrange(256) for _ in range(3 * entries))))
        if draw(st.booleans()):
            chunks.append(png_chunk(b"tRNS", bytes(rng.randrange(256) for _ in range(draw(st.integers(0, entries))))))
    elif color_type in (0, 2) and draw(st.booleans()):
        chunks.append(png_chunk(b"tRNS", bytes(rng.randrange(256) for _ in range(2 * _SAMPLES[color_type]))))
    if draw(st.booleans()):
        chunks.append(png_chunk(b"tEXt", b"Comment\0fuzz"))
    compressed = zlib.compress(bytes(raw), draw(st.integers(0, 9)))
    cut = draw(st.integers(0, len(compressed)))
    chunks += [png_chunk(b"IDAT", compressed[:cut]), png_chunk(b"IDAT", compressed[cut:])]
    chunks.append(png_chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def _set_filters(raw, width, height, color_type, depth, interlace, rng):
    bits = _SAMPLES[color_type] * depth
    offset = 0
    for x0, y0, dx, dy in ([(0, 0, 1, 1)] if interlace == 0 else _ADAM7):
        pw, ph = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if pw > 0 and ph > 0:
            stride = (pw * bits + 7) // 8
            for _ in range(ph):
                raw[offset] = rng.randrange(5)
                offset += 1 + stride


@st.composite
def png_lies(draw):
    """Chunks with correct CRCs around lies: a huge or zero IHDR, wrong depth/colour
    type/methods, a zlib bomb (1x1 image, megabytes of zeros; or a huge image from
    a few bytes), chunks out of order, repeated, unknown or with a lying length.
    Most cases tell one lie in an otherwise consistent file, so that it reaches
    the check behind the first one."""
    color_type, depth = draw(st.sampled_from(_PNG_FORMATS))
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    methods = [0, 0, draw(st.integers(0, 1))]
    lie = draw(st.sampled_from(["none", "none", "size", "large", "format", "methods"]))
    if lie == "size":
        width = draw(st.sampled_from((0, 1, 10_000, 10_001, 2**31 - 1, 2**32 - 1)))
        height = draw(st.sampled_from((0, 1, 5000, 10_000, 2**31, 2**32 - 1)))
    elif lie == "large":  # honest but large: the biggest images a digit app meets
        width, height = draw(st.sampled_from(((1000, 1000), (2000, 500), (4000, 30))))
    elif lie == "format":
        depth = draw(st.sampled_from((0, 1, 2, 3, 4, 8, 16, 32, 255)))
        color_type = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 6, 7, 255)))
    elif lie == "methods":
        methods = [draw(st.integers(0, 2)) for _ in range(3)]
    ihdr_body = struct.pack(">IIBBB", width, height, depth, color_type, methods[0]) + bytes(methods[1:])
    ihdr_body = draw(st.sampled_from((ihdr_body, ihdr_body, ihdr_body, ihdr_body[:12], ihdr_body + b"\0")))
    needed = scanline_bytes(min(width, 4000), min(height, 1000), color_type if color_type in _SAMPLES else 0,
                            depth if depth in (1, 2, 4, 8, 16) else 8, methods[2] & 1)
    payload = draw(st.sampled_from(["bomb", "small", "empty", "garbage", "exact", "twice", "bad_adler"]))
    data = {
        "bomb": lambda: zlib.compress(bytes(draw(st.sampled_from((10**6, 10**7)))), 9),
        "small": lambda: zlib.compress(b"\0\0\0\0"),
        "empty": lambda: b"",
        "garbage": lambda: draw(st.binary(max_size=64)),
        "exact": lambda: zlib.compress(bytes(needed)),
        "twice": lambda: zlib.compress(bytes(needed)) * 2,
        "bad_adler": lambda: zlib.compress(bytes(needed))[:-1] + b"\0",
    }[payload]()
    palette = bytes(3 * draw(st.integers(0, 300))) if color_type == 3 and draw(st.integers(0, 3)) else b""
    chunks = [(b"IHDR", ihdr_body), (b"PLTE", palette), (b"tRNS", bytes(draw(st.integers(0, 10)))),
              (b"IDAT", data), (b"IEND", b"")]
    order = draw(st.sampled_from([list(range(len(chunks)))] * 3 + [None]))
    if order is None:
        order = draw(st.permutations(range(len(chunks))))
    keep = [chunks[i] for i in order
            if chunks[i][0] in (b"IHDR", b"IDAT") or (chunks[i][1] or chunks[i][0] == b"IEND") and draw(st.integers(0, 5)) < 5]
    for kind, body in draw(st.lists(st.tuples(st.sampled_from([b"IDAT", b"IHDR", b"IEND", b"PLTE", b"ZZZZ", b"zzZZ",
                                                               b"a\0b1"]), st.binary(max_size=8)), max_size=2)):
        keep.insert(draw(st.integers(0, len(keep))), (kind, body))
    crc_ok = draw(st.integers(0, 9)) < 9  # (Hypothesis favours small numbers: make them the usual case)
    length_lie = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(LIES)))
    liar = draw(st.integers(0, len(keep) - 1))
    out = [png_chunk(k, b, crc_ok=crc_ok, length=length_lie if i == liar else None) for i, (k, b) in enumerate(keep)]
    return SIGNATURE + b"".join(out)


# ----------------------------------------------------------------- PGM
@st.composite
def valid_pgms(draw):
    magic = draw(st.sampled_from([b"P2", b"P5", b"P3", b"P6"]))
    channels = 3 if magic in (b"P3", b"P6") else 1
    width, height = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    maxval = draw(st.sampled_from((1, 7, 255, 256, 1000, 65535)))
    rng = random.Random(draw(st.integers(0, 2**32)))
    values = [rng.randint(0, maxval) for _ in range(width * height * channels)]
    sep = draw(st.sampled_from([b" ", b"\n", b"\t", b"\r\n", b"\n# a comment\n"]))
    header = magic + sep + b"%d" % width + sep + b"%d" % height + sep + b"%d" % maxval
    if magic in (b"P2", b"P3"):
        return header + b"\n" + b" ".join(b"%d" % v for v in values) + b"\n"
    if maxval < 256:
        return header + b"\n" + bytes(values)
    return header + b"\n" + b"".join(struct.pack(">H", v) for v in values)


@st.composite
def pgm_lies(draw):
    magic = draw(st.sampled_from([b"P2", b"P5", b"P3", b"P6", b"P1", b"P4", b"P7", b"P8", b"Pf", b"PF"]))
    number = st.one_of(st.sampled_from([b"0", b"1", b"255", b"256", b"65535", b"65536", b"10000", b"10001",
                                        b"999999999", b"9" * 10, b"9" * 5000, b"-1", b"+3", b"0x10", b"1e3",
                                        b"\xd9\xa3", b"", b"\xef\xbc\x91"]),
                       st.integers(0, 2**40).map(lambda v: b"%d" % v))
    fields = [draw(number) for _ in range(3)]
    sep = draw(st.sampled_from([b" ", b"\n", b"#c\n", b"# no newline", b"\0", b"  #\n  ", b" " * 200_000,
                                b"#" + b"x" * 200_000 + b"\n", b"#\n" * 50_000]))
    body = draw(st.one_of(st.binary(max_size=64), st.integers(0, 100_000).map(lambda n: b"7 " * n),
                          st.integers(0, 500_000).map(bytes)))
    return magic + sep + sep.join(fields) + draw(st.sampled_from([b"\n", b"", b"x", b" "])) + body


# ----------------------------------------------------------------- JPEG
JPEG_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "jpeg")


def _jpeg_seeds():
    """The small JPEGs in tests/data/jpeg (written once by Pillow: no oracle needed here)."""
    out = []
    for name in sorted(os.listdir(JPEG_DATA)):
        if name.endswith(".jpg"):
            with open(os.path.join(JPEG_DATA, name), "rb") as f:
                out.append(f.read())
    return out


_SEED_BUILDERS["jpeg"] = _jpeg_seeds


def split_jpeg(data: bytes):
    """``([(marker, body), ...] before the first scan, the rest from that SOS on)``."""
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segments.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments, data[pos:]


def jpeg_segment(marker: int, body: bytes, length: Optional[int] = None) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", (len(body) + 2 if length is None else length) & 0xFFFF) + body


_JPEG_SIZES = (0, 1, 8, 9, 16, 17, 1000, 16_384, 16_385, 65_535)


@st.composite
def jpeg_lies(draw):
    """A valid small JPEG with one to three structured lies that its markers stay
    consistent around: a frame header with a huge, zero or odd size, sampling
    factors or component count; Huffman tables whose codes overflow their
    lengths or whose symbols are out of range; quantization tables cut short;
    restart intervals that do not match the data; scan headers naming unknown
    components or impossible spectral ranges; thousands of comment segments
    (a marker loop), far more scans than allowed, a hostile Exif block, scan
    data cut, padded with 0xFF or garbage, its restart markers dropped."""
    data = draw(seed_files("jpeg"))
    segments, tail = split_jpeg(data)
    for _ in range(draw(st.integers(1, 3))):
        lie = draw(st.sampled_from(["sof", "sof", "dht", "dqt", "dri", "sos", "flood", "scans", "exif", "tail",
                                    "tail", "marker"]))
        if lie == "sof":
            i = next(i for i, (m, _) in enumerate(segments) if m in (0xC0, 0xC1, 0xC2))
            marker, body = segments[i]
            body = bytearray(body)
            what = draw(st.sampled_from(["size", "size", "sampling", "count", "precision", "tq", "cut"]))
            if what == "size":
                body[1:5] = struct.pack(">HH", draw(st.sampled_from(_JPEG_SIZES)), draw(st.sampled_from(_JPEG_SIZES)))
            elif what == "sampling":
                body[7 + 3 * draw(st.integers(0, (len(body) - 6) // 3 - 1))] = draw(st.integers(0, 255))
            elif what == "count":
                body[5] = draw(st.sampled_from((0, 2, 4, 5, 255)))
            elif what == "precision":
                body[0] = draw(st.sampled_from((0, 7, 12, 16, 255)))
            elif what == "tq":
                body[8] = draw(st.integers(0, 255))
            else:
                del body[draw(st.integers(0, len(body))):]
            segments[i] = (marker, bytes(body))
        elif lie == "dht":
            counts = draw(st.lists(st.integers(0, 255), min_size=16, max_size=16))
            symbols = draw(st.binary(min_size=0, max_size=min(300, sum(counts) + 2)))
            slot = draw(st.sampled_from((0x00, 0x01, 0x10, 0x11, 0x04, 0x20, 0xFF)))
            segments.append((0xC4, bytes([slot]) + bytes(counts) + symbols))
        elif lie == "dqt":
            segments.append((0xDB, bytes([draw(st.sampled_from((0x00, 0x01, 0x10, 0x04, 0x20)))])
                             + draw(st.binary(max_size=140))))
        elif lie == "dri":
            segments.append((0xDD, draw(st.sampled_from((b"", b"\x00", b"\x00\x00", b"\x00\x01", b"\xff\xff",
                                                         b"\x00\x01\x00")))))
        elif lie == "sos" and tail[:2] == b"\xff\xda":
            (length,) = struct.unpack_from(">H", tail, 2)
            header = bytearray(tail[4 : 2 + length])
            at = draw(st.integers(0, max(0, len(header) - 1)))
            if header:
                header[at] = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 0x0F, 0x33, 63, 64, 0xFF)))
            tail = jpeg_segment(0xDA, bytes(header)) + tail[2 + length :]
        elif lie == "flood":
            segments += [(draw(st.sampled_from((0xFE, 0xE0, 0xEF))), b"")] * draw(st.sampled_from((10, 1000, 20_000)))
        elif lie == "scans":
            cut = tail.rfind(b"\xff\xd9")
            scan = tail[:cut] if cut > 0 else tail
            tail = scan * draw(st.sampled_from((2, 101, 300))) + b"\xff\xd9"
        elif lie == "exif":
            tiff = draw(st.sampled_from((b"II*\x00", b"MM\x00*", b"II*\x00\x08\x00\x00\x00"))) + draw(st.binary(max_size=40))
            segments.insert(0, (0xE1, b"Exif\x00\x00" + tiff))
        elif lie == "tail":
            what = draw(st.sampled_from(["cut", "ff", "garbage", "no_rst", "rst"]))
            if what == "cut":
                tail = tail[: int(draw(_position) * len(tail))]
            elif what == "ff":
                at = int(draw(_position) * len(tail))
                tail = tail[:at] + b"\xff" * draw(st.integers(1, 5000)) + tail[at:]
            elif what == "garbage":
                at = 20 + int(draw(_position) * max(0, len(tail) - 20))
                tail = tail[:at] + draw(st.binary(min_size=1, max_size=64)) + tail[at:]
            elif what == "no_rst":
                for n in range(8):
                    tail = tail.replace(bytes((0xFF, 0xD0 + n)), b"")
            else:
                at = 20 + int(draw(_position) * max(0, len(tail) - 20))
                tail = tail[:at] + bytes((0xFF, 0xD0 + draw(st.integers(0, 7)))) * draw(st.integers(1, 40)) + tail[at:]
        else:
            segments.append((draw(st.sampled_from((0xC3, 0xC9, 0xCC, 0xDC, 0xD8, 0xC0, 0xC2, 0x01, 0xD9))),
                             draw(st.binary(max_size=12))))
    length_lie = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from((0, 1, 2, 3, 0xFFFF))))
    liar = draw(st.integers(0, max(0, len(segments) - 1)))
    head = b"".join(jpeg_segment(m, b, length_lie if i == liar else None) for i, (m, b) in enumerate(segments))
    return b"\xff\xd8" + head + tail


# ------------------------------------------------------------- readers
class Reader(NamedTuple):
    name: str
    errors: tuple  # the documented error(s) this reader raises
    read: Callable  # input bytes -> result (writes them to disk first when the reader takes a path)
    strategy: Callable[[], st.SearchStrategy]


def _via_file(function, suffix=""):
    def read(data: bytes, workdir: str):
        path = os.path.join(workdir, "input" + suffix)
        with open(path, "wb") as f:
            f.write(data)
        return lambda: function(path)

    return read


def _in_memory(function):
    return lambda data, workdir: (lambda: function(data))


def _mnist_pair(data: bytes, workdir: str):
    """The bytes as a test-images file next to valid labels (and as labels next to valid images)."""
    which = data[:1] == b"\x00" and len(data) > 3 and data[3] == 1  # ndim 1: a labels file
    files = seeds("idx")
    images, labels = (files[0], data) if which else (data, files[2])
    d = os.path.join(workdir, "mnist")
    os.makedirs(d, exist_ok=True)
    for name, blob in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)
    return lambda: load_mnist("test", root=d, download=False)


def _weights_into_a_model(data: bytes, workdir: str):
    """The bytes as weights for a fresh model (built before the read is timed)."""
    model = _small_cnn(0)
    read = _via_file(lambda path: load_state_dict_file(model, path))
    return read(data, workdir)


@st.composite
def protobuf_lies(draw):
    """ONNX-shaped protobuf that lies: nesting past any limit, a flood of tiny fields,
    lengths past the end, absurd tensor dims and counts, groups, bad UTF-8, hostile
    external-data locations."""
    kind = draw(st.sampled_from(["deep", "flood", "length", "dims", "group", "utf8", "external", "varint"]))
    if kind == "deep":
        data = b""
        for _ in range(draw(st.integers(20, 3000))):
            data = message_field(7, message_field(1, data))
        return data
    if kind == "flood":
        return int_field(1, 7) + b"\x08\x01" * draw(st.integers(100_000, 2_000_000))
    if kind == "length":
        return int_field(1, 7) + b"\x3a" + bytes([0xFF] * 9) + b"\x01"
    if kind == "varint":
        return b"\x08" + b"\xff" * draw(st.integers(10, 100))
    if kind == "group":
        return int_field(1, 7) + bytes([draw(st.sampled_from([0x3B, 0x3C, 0x3E, 0x3F]))]) + b"\x00" * 8
    dims = draw(st.lists(st.sampled_from([0, 1, 7, 2**31, 2**62, -1]), min_size=1, max_size=4))
    tensor = b"".join(int_field(1, d) for d in dims) + int_field(2, draw(st.sampled_from([1, 7, 10, 11, 8, 99])))
    tensor += string_field(8, "w")
    if kind == "utf8":
        tensor += bytes_field(8, b"\xff\xfe")
    elif kind == "external":
        location = draw(st.sampled_from(["/etc/passwd", "../x", "a/../../x", "C:\\x", "", "x\x00y", "missing.bin"]))
        tensor += int_field(14, 1) + message_field(13, string_field(1, "location"), string_field(2, location))
    else:
        tensor += bytes_field(9, bytes(draw(st.integers(0, 64))))
    node = string_field(1, "input") + string_field(1, "w") + string_field(2, "output") + string_field(4, "Conv")
    value = string_field(1, "input") + message_field(2, message_field(1, int_field(1, 1) + message_field(
        2, message_field(1, string_field(2, "N")) + message_field(1, int_field(1, 1)))))
    graph = message_field(1, node) + message_field(5, tensor) + message_field(11, value) + message_field(
        12, string_field(1, "output"))
    return int_field(1, 7) + message_field(7, graph) + message_field(8, int_field(2, 13))


def _safetensors_strategy(kind):
    def strategy():
        valid = seed_files(kind)
        return st.one_of(valid, mutated(valid), header_lies(valid), header_lies(valid), json_bombs())
    return strategy


READERS: Dict[str, Reader] = {r.name: r for r in (
    Reader("idx", (DatasetError,), _via_file(read_idx), lambda: st.one_of(
        seed_files("idx"), mutated(seed_files("idx")), idx_lies())),
    Reader("mnist", (DatasetError,), _mnist_pair, lambda: st.one_of(
        seed_files("idx"), mutated(seed_files("idx")), idx_lies())),
    Reader("safetensors", (ModelFileError,), _in_memory(parse_safetensors), lambda: st.one_of(
        valid_safetensors(), mutated(valid_safetensors()), header_lies(seed_files("model", "checkpoint")),
        json_bombs())),
    Reader("model", (ModelFileError,), _via_file(load_model), _safetensors_strategy("model")),
    Reader("weights", (ModelFileError,), _weights_into_a_model, _safetensors_strategy("model")),
    Reader("checkpoint", (ModelFileError,), _via_file(load_checkpoint), _safetensors_strategy("checkpoint")),
    Reader("onnx", (ModelFileError,), _via_file(load_onnx, ".onnx"), lambda: st.one_of(
        seed_files("onnx"), mutated(seed_files("onnx")), mutated(seed_files("onnx")), protobuf_lies())),
    Reader("png", (ImageError,), _in_memory(decode_png), lambda: st.one_of(
        valid_pngs(), mutated(valid_pngs()), png_lies(), png_lies())),
    Reader("pgm", (ImageError,), _in_memory(decode_pgm), lambda: st.one_of(
        valid_pgms(), mutated(valid_pgms()), pgm_lies())),
    Reader("jpeg", (ImageError,), _in_memory(decode_jpeg), lambda: st.one_of(
        seed_files("jpeg"), mutated(seed_files("jpeg")), jpeg_lies(), jpeg_lies())),
    Reader("image", (ImageError,), _via_file(read_image, ".png"), lambda: st.one_of(
        valid_pngs(), valid_pgms(), seed_files("jpeg"), mutated(valid_pngs() | valid_pgms() | seed_files("jpeg")),
        png_lies(), pgm_lies(), jpeg_lies(), st.binary(max_size=64))),
    Reader("image-reduced", (ImageError,), _via_file(lambda path: read_image(path, min_side=4, gray=True), ".jpg"),
           lambda: st.one_of(valid_pngs(), valid_pgms(), seed_files("jpeg"), mutated(seed_files("jpeg")),
                             png_lies(), jpeg_lies())),
)}


# -------------------------------------------------------------- running
class Finding(AssertionError):
    """An input a reader handled wrongly: an undocumented exception, a hang or a blowup."""


class _Hang(BaseException):
    """Raised by the alarm inside a read that runs past the guard (BaseException, so that
    no ``except Exception`` in a reader can swallow it)."""


class Outcome(NamedTuple):
    result: str  # "ok" or the documented error's class name
    seconds: float
    peak_bytes: Optional[int]  # None when memory was not traced


def run_case(reader: Reader, data: bytes, workdir: str, max_seconds: float, max_bytes: Optional[int],
             trace: bool = True, attempts: int = 1) -> Outcome:
    """Read ``data`` with ``reader``; raise :class:`Finding` unless it gives a result or a
    documented error within ``max_seconds`` and (when ``trace``) ``max_bytes`` of
    Python allocations at peak, when ``trace`` is true and ``tracemalloc`` is running
    (it does not exist on PyPy).

    A read over the time limit is repeated up to ``attempts`` times in all and
    judged by its fastest run: on a shared machine one slow run can be another
    process's fault, three in a row are the reader's.
    """
    outcome = _run_once(reader, data, workdir, max_seconds, trace)
    for _ in range(attempts - 1):
        if outcome.seconds <= max_seconds:
            break
        again = _run_once(reader, data, workdir, max_seconds, trace)
        outcome = min(outcome, again, key=lambda o: o.seconds)
    if outcome.seconds > max_seconds:
        raise Finding(f"{reader.name}: {outcome.seconds:.2f} s (limit {max_seconds} s) on {_describe(data)}")
    if outcome.peak_bytes is not None and max_bytes is not None and outcome.peak_bytes > max_bytes:
        raise Finding(f"{reader.name}: {outcome.peak_bytes / 1e6:.1f} MB allocated at peak "
                      f"(limit {max_bytes / 1e6:g} MB) on {_describe(data)}")
    return outcome


def _run_once(reader: Reader, data: bytes, workdir: str, max_seconds: float, trace: bool) -> Outcome:
    trace = trace and tracemalloc is not None and tracemalloc.is_tracing()
    call = reader.read(data, workdir)
    alarm = hasattr(signal, "setitimer")
    if alarm:
        previous = signal.signal(signal.SIGALRM, _raise_hang)
        signal.setitimer(signal.ITIMER_REAL, max_seconds * 4)  # the hard stop; the limit itself is checked below
    if trace:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    try:
        call()
        result = "ok"
    except reader.errors as e:
        result = type(e).__name__
    except _Hang:
        raise Finding(f"{reader.name}: no answer after {max_seconds * 4:g} s on {_describe(data)}") from None
    except Exception as e:
        raise Finding(f"{reader.name}: undocumented {type(e).__name__} on {_describe(data)}:\n"
                      + "".join(traceback.format_exception(type(e), e, e.__traceback__))) from None
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base if trace else None
    return Outcome(result, seconds, peak)


def _raise_hang(signum, frame):
    raise _Hang()


def _describe(data: bytes) -> str:
    return f"{len(data)} bytes starting {data[:48]!r}"
