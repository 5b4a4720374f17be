"""Model files: round trips, the bytes on disk, and every way a file can be wrong.

The format half checks what purenet writes against the safetensors layout
by hand (``struct`` + ``json``, no purenet code). The error half crafts a
broken file for each check the reader makes, and asserts that loading raises
``pn.ModelFileError`` whose message names the file and what was wrong.
"""

import json
import os
import random
import struct
import time

import pytest

import purenet as pn
from conftest import resave
from purenet.io import modelfile
from purenet.io.safetensors import (
    HEADER_CAP, encode_safetensors, parse_safetensors, read_safetensors, write_safetensors,
)
from purenet.layers import BUILTIN_LAYERS


def small_cnn(seed=0):
    return pn.Sequential(
        [pn.Conv2D(3, 3, padding=1), pn.ReLU(), pn.MaxPool2D(2), pn.Conv2D(2, (2, 3), stride=(1, 2), use_bias=False),
         pn.Tanh(), pn.Flatten(), pn.Dropout(0.25), pn.Dense(5), pn.Sigmoid(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 8, 8), seed=seed,
    )


def inputs(n=6, size=64):
    return [[((i * 31 + j * 7) % 17) / 16.0 for j in range(size)] for i in range(n)]


@pytest.fixture
def trained():
    """A small CNN trained a little, so that biases and weights are all non-trivial."""
    model = small_cnn()
    model.fit(inputs(12), [i % 3 for i in range(12)], epochs=2, batch_size=4, optimizer=pn.Adam(0.01))
    return model


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def split(path):
    """(header dict, header bytes, data bytes) of a file, parsed by hand."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 : 8 + n], blob[8 + n :]


def assemble(header, data=b"", pad=True, length=None):
    """A safetensors file from a header (dict or raw bytes) and data, built by hand."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def entry(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def raises(path, *fragments, load=pn.load):
    with pytest.raises(pn.ModelFileError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message


def with_arch(edit):
    def meta(m):
        arch = json.loads(m["architecture"])
        edit(arch)
        m["architecture"] = json.dumps(arch)

    return meta


# ------------------------------------------------------------ round trips


def test_f64_round_trip_is_exact(trained, tmp_path):
    path = tmp_path / "m.safetensors"
    trained.history = {"loss": [0.5, 0.25], "accuracy": [0.5, 0.75]}
    trained.classes = [3, 5, 7]
    trained.save(path, dtype="F64")
    loaded = pn.load(path)
    assert isinstance(loaded, pn.Sequential)
    for (name, a), (name2, b) in zip(trained.state_dict().items(), loaded.state_dict().items()):
        assert name == name2 and a.shape == b.shape and a.data == b.data
    assert loaded.predict(inputs()).data == trained.predict(inputs()).data
    assert loaded.architecture == trained.architecture
    assert loaded.history == trained.history
    assert loaded.classes == [3, 5, 7]
    assert repr(loaded) == repr(trained)
    assert pn.Sequential.load(path).predict(inputs()).data == trained.predict(inputs()).data


def test_f32_round_trip_rounds_to_float32(trained, tmp_path):
    path = tmp_path / "m.safetensors"
    trained.save(path)  # F32 by default
    loaded = pn.load(path)
    for name, m in trained.state_dict().items():
        assert loaded.state_dict()[name].data == [f32(v) for v in m.data], name
    got, want = loaded.predict(inputs()).data, trained.predict(inputs()).data
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-5
    assert loaded.classes is None and loaded.history == trained.history


def test_mnist_model_predicts_identically_after_f64_round_trip(tmp_path):
    x, y = pn.datasets.load_bundled("test")
    model = pn.architectures.build("cnn-small", seed=3)
    model.fit(x[:64], y[:64], epochs=1, batch_size=32)
    model.save(tmp_path / "digits.safetensors", dtype="F64")
    loaded = pn.load(str(tmp_path / "digits.safetensors"))
    assert loaded.predict(x[64:96]).data == model.predict(x[64:96]).data
    assert loaded.evaluate(x[:64], y[:64]) == model.evaluate(x[:64], y[:64])


def test_file_layout_follows_safetensors(trained, tmp_path):
    path = tmp_path / "m.safetensors"
    trained.history = {"loss": [1.0, float("nan")]}
    trained.classes = [0, 1, 2]
    trained.save(path)
    header, raw, data = split(path)
    assert len(raw) % 8 == 0 and raw == raw.rstrip() + b" " * (len(raw) - len(raw.rstrip()))
    names = [k for k in header if k != "__metadata__"]
    assert list(header) == sorted(header)  # keys sorted
    params = dict(trained.named_parameters())
    assert sorted(names) == sorted(params)
    offset = 0
    for name in names:  # contiguous in header order, PyTorch shapes, raw little-endian float32
        e = header[name]
        assert e["dtype"] == "F32" and e["data_offsets"][0] == offset
        assert tuple(e["shape"]) == tuple(params[name].tensor_shape)
        begin, end = e["data_offsets"]
        values = struct.unpack(f"<{(end - begin) // 4}f", data[begin:end])
        assert list(values) == [f32(v) for v in params[name].data]
        offset = end
    assert offset == len(data)
    assert header["0.weight"]["shape"] == [3, 1, 3, 3] and header["0.bias"]["shape"] == [3]
    assert header["3.weight"]["shape"] == [2, 3, 2, 3] and "3.bias" not in header
    assert header["7.weight"]["shape"] == [5, 2 * 3 * 1] and header["9.bias"]["shape"] == [3]

    meta = header["__metadata__"]
    assert set(meta) == {"format", "format_version", "purenet_version", "architecture", "history", "classes"}
    assert all(isinstance(v, str) for v in meta.values())  # the safetensors rule
    assert meta["format"] == "purenet" and meta["format_version"] == "1"
    assert meta["purenet_version"] == pn.__version__
    arch = json.loads(meta["architecture"])
    assert arch == trained.architecture
    assert arch["input_shape"] == [1, 8, 8]
    assert [l["class"] for l in arch["layers"]][:4] == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D"]
    assert arch["layers"][3]["config"] == {"filters": 2, "kernel_size": [2, 3], "stride": [1, 2], "use_bias": False}
    assert json.loads(meta["history"]) == {"loss": [1.0, None]}  # JSON has no NaN
    assert json.loads(meta["classes"]) == [0, 1, 2]
    assert pn.load(path).history == {"loss": [1.0, None]}


def test_f64_file_layout(trained, tmp_path):
    trained.save(tmp_path / "m.safetensors", dtype="F64")
    header, _, data = split(tmp_path / "m.safetensors")
    begin, end = header["9.weight"]["data_offsets"]
    assert header["9.weight"]["dtype"] == "F64"
    assert list(struct.unpack(f"<{(end - begin) // 8}d", data[begin:end])) == trained.layers[9].weight.data


def test_save_is_atomic_and_leaves_no_temporary_files(trained, tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    trained.save(path, dtype="F64")
    before = path.read_bytes()
    other = small_cnn(seed=5)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["m.safetensors"]  # and the temporary file is gone
    other.save(path)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert pn.load(path).state_dict()["0.weight"].data == [f32(v) for v in other.layers[0].weight.data]


def test_save_rejects_what_cannot_be_written(tmp_path):
    model = pn.Sequential([pn.Dense(2)], input_shape=(2,))
    with pytest.raises(ValueError, match="dtype"):
        model.save(tmp_path / "a", dtype="F16")
    with pytest.raises(ValueError, match="not built"):
        pn.Sequential([pn.Dense(2)]).save(tmp_path / "a")
    model.layers[0].weight.data[0] = 1e39  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match="0.weight.*F32"):
        model.save(tmp_path / "a")
    model.save(tmp_path / "a", dtype="F64")
    model.layers[0].weight.data[0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        model.save(tmp_path / "b", dtype="F64")
    model.layers[0].weight.data[0] = 0.0
    model.classes = [True, False]
    with pytest.raises(ValueError, match="classes"):
        model.save(tmp_path / "c")
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_safetensors_writer_and_reader_directly(tmp_path):
    tensors = {"b": ("F32", (2,), [0.5, -2.0]), "a": ("F64", (1, 2, 1), [1.0, 3.0]), "empty": ("F32", (0, 3), [])}
    blob = encode_safetensors(tensors, {"k": "v"})
    got, meta = parse_safetensors(blob)
    assert meta == {"k": "v"}
    assert {k: (t.dtype, t.shape, t.values) for k, t in got.items()} == tensors
    assert list(got) == ["a", "b", "empty"]  # header order
    with pytest.raises(TypeError, match="strings"):
        encode_safetensors(tensors, {"k": 1})
    with pytest.raises(ValueError, match="holds 2 values"):
        encode_safetensors({"x": ("F32", (2,), [1.0, 2.0, 3.0])})
    with pytest.raises(TypeError, match="real numbers"):
        encode_safetensors({"x": ("F32", (1,), [True])})
    with pytest.raises(ValueError, match="__metadata__"):
        encode_safetensors({"__metadata__": ("F32", (1,), [1.0])})
    # a header without padding is valid safetensors (MLX writes such files): the generic reader takes it
    raw = assemble({"x": entry()}, struct.pack("<f", 1.5), pad=False)
    assert (len(raw) - 12) % 8 and parse_safetensors(raw)[0]["x"].values == [1.5]
    assert parse_safetensors(assemble({"__metadata__": None, "x": entry()}, struct.pack("<f", 2.0)))[1] == {}


def test_every_registered_layer_has_known_parameter_shapes():
    """load_model checks tensor shapes before building, from a table of layer kinds:
    a new layer must be added to it (or allocation is no longer guarded)."""
    samples = {"Dense": {"units": 2}, "Conv2D": {"filters": 2, "kernel_size": 1}}
    for name in BUILTIN_LAYERS:
        layer = pn.layers.from_config(name, samples.get(name, {}))
        shape = (4,) if name in ("Dense", "BatchNorm1D") else (1, 4, 4)
        params = modelfile._layer_parameters(layer, shape)
        assert params is not None, f"{name} is missing from purenet.io.modelfile's parameter table"
        layer.build(shape, random.Random(0))
        tensors = list(layer.named_parameters()) + list(layer.named_buffers())
        assert params == {n: tuple(p.tensor_shape) for n, p in tensors}, name


# ------------------------------------------------------- container errors


@pytest.fixture
def saved(trained, tmp_path):
    path = tmp_path / "good.safetensors"
    trained.save(path)
    return path


def write(tmp_path, blob, name="bad.safetensors"):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def test_missing_file_and_directory(tmp_path):
    raises(tmp_path / "nope.safetensors", "cannot open", "No such file")
    raises(tmp_path, "cannot open")
    with pytest.raises(pn.ModelFileError, match="cannot open"):
        pn.load_checkpoint(tmp_path / "nope")
    with pytest.raises(ValueError):  # ModelFileError is a ValueError
        read_safetensors(tmp_path / "nope")


def test_truncated_at_every_kind_of_point(saved, tmp_path):
    blob = saved.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    for cut in (0, 1, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 3, len(blob) - 4, len(blob) - 1):
        raises(write(tmp_path, blob[:cut]), "truncated")


def test_header_length_lies(saved, tmp_path):
    blob = saved.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    body = blob[8:]
    raises(write(tmp_path, struct.pack("<Q", 2 ** 63) + body), "header length", f"at most {HEADER_CAP}")
    raises(write(tmp_path, struct.pack("<Q", HEADER_CAP + 1) + body), "header length", str(HEADER_CAP + 1))
    raises(write(tmp_path, struct.pack("<Q", len(body) + 1) + body), "header length", f"at most {len(body)}")
    raises(write(tmp_path, struct.pack("<Q", 1) + body), "header length", "at least 2")
    raises(write(tmp_path, struct.pack("<Q", 0) + body), "header length")
    # too short: the JSON ends early, or the data does not start where the header says
    raises(write(tmp_path, struct.pack("<Q", n - 8) + body), "header")
    raises(write(tmp_path, struct.pack("<Q", n + 8) + body), "header")
    raises(write(tmp_path, assemble({"x": entry()}, b"\0" * 4, pad=False)), "header length", "multiple of 8")


def test_oversized_file(saved):
    size = os.path.getsize(saved)
    with pytest.raises(pn.ModelFileError, match=f"file size: expected at most 64 bytes.*{size} bytes"):
        modelfile.load_model(saved, max_bytes=64)
    with pytest.raises(pn.ModelFileError, match="file size"):
        read_safetensors(saved, max_bytes=size - 1)
    assert read_safetensors(saved, max_bytes=size)[1]["format"] == "purenet"


@pytest.mark.parametrize(
    "header, fragments",
    [
        (b"{not json}", ["header", "valid JSON"]),
        (b'{"a": 1,}', ["header", "valid JSON"]),
        (b"\xff\xfe{}", ["header", "UTF-8"]),
        (b'{"x": "\xc3"}', ["UTF-8"]),
        (b"[1, 2, 3]", ["header", "JSON object"]),
        (b'"text"', ["JSON object"]),
        (b"  {}", ["starting with '{'"]),
        (b'{"a": NaN}', ["NaN"]),
        (b'{"a": Infinity}', ["Infinity"]),
        (b'{"a": 1e999}', ["out of range"]),
        (b'{"a": ' + b"9" * 5000 + b"}", ["5000 digits"]),
        (b'{"a": [' + b"[" * 100000 + b"]" * 100000 + b"]}", ["nesting too deep"]),
        (b'{"a": ' + b'{"b": ' * 100000 + b"1" + b"}" * 100001, ["nesting too deep"]),
    ],
)
def test_header_is_not_strict_json_object(tmp_path, header, fragments):
    raises(write(tmp_path, assemble(header)), *fragments)


def test_duplicate_keys(tmp_path):
    raw = b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    raises(write(tmp_path, assemble(raw, b"\0" * 4)), "duplicate key 'x'")
    raw = b'{"x": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 4]}}'
    raises(write(tmp_path, assemble(raw, b"\0" * 4)), "duplicate key 'dtype'")


@pytest.mark.parametrize(
    "dtype, fragments",
    [
        ("F16", ["'x' dtype", "unsupported dtype 'F16'", "float32"]),
        ("BF16", ["unsupported dtype 'BF16'"]),
        ("I32", ["unsupported dtype 'I32'"]),
        ("U8", ["unsupported dtype 'U8'"]),
        ("F17", ["unknown dtype 'F17'", "['F32', 'F64', 'I64']"]),
        ("f32", ["unknown dtype 'f32'"]),
        (32, ["'x' dtype", "a string", "an int"]),
    ],
)
def test_dtypes(tmp_path, dtype, fragments):
    raises(write(tmp_path, assemble({"x": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)),
           *fragments)


@pytest.mark.parametrize(
    "shape",
    ["3", 3, None, [1.0], [True], [-1], [[1]], ["1"], {"0": 1}],
)
def test_bad_shape_types(tmp_path, shape):
    raises(write(tmp_path, assemble({"x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}, b"\0" * 4)),
           "'x' shape", "a list of non-negative ints")


@pytest.mark.parametrize(
    "offsets, fragments",
    [
        ([-4, 0], ["two non-negative ints", "[-4, 0]"]),
        ([0, -4], ["two non-negative ints"]),
        ([False, 4], ["two non-negative ints", "[False, 4]"]),
        ([0, True], ["two non-negative ints"]),
        ([0.0, 4.0], ["two non-negative ints", "[0.0, 4.0]"]),
        ([0, 4, 8], ["two non-negative ints"]),
        ([0], ["two non-negative ints"]),
        ("0-4", ["two non-negative ints"]),
        ([4, 0], ["begin <= end", "[4, 0]"]),
        ([0, 12], ["inside the 4-byte data section", "[0, 12]"]),
        ([2 ** 64, 2 ** 64 + 4], ["inside the 4-byte data section"]),
    ],
)
def test_bad_offsets(tmp_path, offsets, fragments):
    raises(write(tmp_path, assemble({"x": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}, b"\0" * 4)),
           "'x' data_offsets", *fragments)


def test_entry_fields(tmp_path):
    raises(write(tmp_path, assemble({"x": [1, 2]}, b"")), "tensor 'x'", "an object", "a list")
    raises(write(tmp_path, assemble({"x": {"dtype": "F32", "shape": [1]}}, b"\0" * 4)),
           "tensor 'x'", "no ['data_offsets']")
    raises(write(tmp_path, assemble({"x": dict(entry(), extra=1)}, b"\0" * 4)), "tensor 'x'", "unknown field(s) ['extra']")


def test_metadata_must_be_strings(tmp_path):
    raises(write(tmp_path, assemble({"__metadata__": {"format": 1}})), "__metadata__['format']", "a string", "an int")
    raises(write(tmp_path, assemble({"__metadata__": ["a"]})), "__metadata__", "an object of strings")


def test_shape_does_not_match_byte_count(tmp_path):
    raises(write(tmp_path, assemble({"x": entry(shape=(2, 3), offsets=(0, 8))}, b"\0" * 8)),
           "tensor 'x'", "spanning 24 bytes", "[2, 3] = 6 values", "[0, 8], 8 bytes")
    huge = [2 ** 40] * 40  # the product is never computed in full
    start = time.perf_counter()
    raises(write(tmp_path, assemble({"x": entry(shape=huge, offsets=(0, 8))}, b"\0" * 8)), "tensor 'x'", "more than 8")
    assert time.perf_counter() - start < 1.0


def test_overlapping_tensors(tmp_path):
    header = {"a": entry(shape=(2,), offsets=(0, 8)), "b": entry(shape=(2,), offsets=(4, 12))}
    raises(write(tmp_path, assemble(header, b"\0" * 12)), "tensor 'b' data_offsets", "overlaps tensor 'a'", "[4, 12]")
    header = {"a": entry(shape=(1,), offsets=(0, 4)), "b": entry(shape=(1,), offsets=(0, 4))}
    raises(write(tmp_path, assemble(header, b"\0" * 4)), "overlaps")


def test_hole_in_data(tmp_path):
    header = {"a": entry(shape=(1,), offsets=(0, 4)), "b": entry(shape=(1,), offsets=(8, 12))}
    raises(write(tmp_path, assemble(header, b"\0" * 12)), "tensor 'b' data_offsets", "no holes", "bytes 4..8")
    raises(write(tmp_path, assemble({"a": entry(offsets=(4, 8))}, b"\0" * 8)), "starting at byte 0")


def test_trailing_bytes(saved, tmp_path):
    raises(write(tmp_path, saved.read_bytes() + b"\0" * 8), "data section", "8 trailing bytes")
    raises(write(tmp_path, assemble({"a": entry()}, b"\0" * 5)), "1 trailing bytes")
    raises(write(tmp_path, assemble({}, b"junk")), "4 trailing bytes")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights(saved, tmp_path, bad):
    header, raw, data = split(saved)
    begin, _ = header["7.weight"]["data_offsets"]
    data = data[: begin + 8] + struct.pack("<f", bad) + data[begin + 12 :]
    raises(write(tmp_path, struct.pack("<Q", len(raw)) + raw + data), "tensor '7.weight'", "finite numbers",
           "at flat index 2")


def test_long_names_are_cut_in_messages(tmp_path):
    name = "n" * 100000
    message = raises(write(tmp_path, assemble({name: entry(dtype="F99")}, b"\0" * 4)), "unknown dtype")
    assert len(message) < 600


# ---------------------------------------------------------- model errors


def test_missing_or_wrong_format_metadata(saved, tmp_path):
    out = tmp_path / "x.safetensors"
    raises(resave(saved, out, meta=lambda m: m.clear()), "__metadata__['format']", "no 'format' key",
           "pn.load_state_dict_file")
    raises(resave(saved, out, meta=lambda m: m.update(format="pt")), "__metadata__['format']", "'pt'")
    raises(resave(saved, out, meta=lambda m: m.update(format_version="2")), "format_version", "'1'", "'2'")
    raises(resave(saved, out, meta=lambda m: m.pop("format_version")), "format_version", "no 'format_version' key")
    raises(resave(saved, out, meta=lambda m: m.pop("architecture")), "__metadata__", "no ['architecture']")
    raises(resave(saved, out, meta=lambda m: m.update(mystery="1")), "__metadata__", "unknown key(s) ['mystery']")
    # a plain safetensors file without metadata
    t, _ = read_safetensors(saved)
    write_safetensors(out, {k: (v.dtype, v.shape, v.values) for k, v in t.items()})
    raises(out, "not a purenet file")


def test_unknown_layer_class(saved, tmp_path):
    def evil(arch):
        arch["layers"][1]["class"] = "os.system"

    raises(resave(saved, tmp_path / "x", meta=with_arch(evil)), "layer 1 class", "unknown layer 'os.system'", "'Conv2D'")

    def not_a_string(arch):
        arch["layers"][1]["class"] = ["ReLU"]

    raises(resave(saved, tmp_path / "x", meta=with_arch(not_a_string)), "layer 1 class", "unknown layer ['ReLU']")


@pytest.mark.parametrize(
    "index, config, fragments",
    [
        (9, {"units": "three"}, ["layer 9 (Dense) config", "units"]),
        (9, {"units": 3.5}, ["layer 9 (Dense) config", "units"]),
        (9, {"units": True}, ["layer 9 (Dense) config"]),
        (9, {"units": 3, "activation": "relu"}, ["layer 9 (Dense) config", "activation"]),
        (9, {"units": {"n": 3}}, ["config 'units'", "a number, string, bool, null or a list"]),
        (9, {"units": [[3]]}, ["config 'units'", "a number, string, bool, null or a list"]),
        (0, {"filters": 3, "kernel_size": 3, "padding": "full"}, ["layer 0 (Conv2D) config", "padding"]),
        (0, {"filters": 3, "kernel_size": 30}, ["layer 0 (Conv2D)", "does not fit"]),
        (6, {"rate": 2.0}, ["layer 6 (Dropout) config", "rate"]),
        (9, {"units": 3, "kernel_initializer": "__import__"}, ["layer 9 (Dense) config"]),
    ],
)
def test_layer_config_with_wrong_types_or_values(saved, tmp_path, index, config, fragments):
    def edit(arch):
        arch["layers"][index]["config"] = config

    raises(resave(saved, tmp_path / "x", meta=with_arch(edit)), *fragments)


def test_architecture_structure(saved, tmp_path):
    out = tmp_path / "x"
    raises(resave(saved, out, meta=lambda m: m.update(architecture="{oops")), "__metadata__['architecture']",
           "valid JSON")
    raises(resave(saved, out, meta=lambda m: m.update(architecture="[]")), "architecture", "a list")
    raises(resave(saved, out, meta=with_arch(lambda a: a.update(input_shape=None))), "input_shape", "None")
    raises(resave(saved, out, meta=with_arch(lambda a: a.update(input_shape=[1, 8]))), "input_shape", "[1, 8]")
    raises(resave(saved, out, meta=with_arch(lambda a: a.update(input_shape=[1, 8, 0]))), "input_shape")
    raises(resave(saved, out, meta=with_arch(lambda a: a.update(layers=[]))), "layers", "a non-empty list")
    raises(resave(saved, out, meta=with_arch(lambda a: a.update(extra=1))), "exactly the keys")
    raises(resave(saved, out, meta=with_arch(lambda a: a["layers"].__setitem__(2, "MaxPool2D"))), "layer 2",
           "'MaxPool2D'")
    raises(resave(saved, out, meta=with_arch(lambda a: a["layers"][2].pop("config"))), "layer 2", "exactly the keys")
    # layers that do not fit their input shape
    raises(resave(saved, out, meta=with_arch(lambda a: a["layers"].pop(5))), "layer 6 (Dense)",
           "takes samples of shape (2, 3, 1)", "Put a Flatten() layer before it")


def test_tensor_names_must_match_the_architecture(saved, tmp_path):
    def rename(t):
        t["90.weight"] = t.pop("9.weight")

    message = raises(resave(saved, tmp_path / "x", tensors=rename), "tensors", "missing ['9.weight']",
                     "unexpected ['90.weight']")
    assert "9.bias" in message  # the expected list names them all
    raises(resave(saved, tmp_path / "x", tensors=lambda t: t.pop("0.bias")), "missing ['0.bias']")
    raises(resave(saved, tmp_path / "x", tensors=lambda t: t.update(extra=("F32", (1,), [0.0]))), "unexpected ['extra']")


def test_tensor_shape_must_match_the_architecture(saved, tmp_path):
    def transpose(t):
        dtype, shape, values = t["9.weight"]
        t["9.weight"] = (dtype, (shape[1], shape[0]), values)

    raises(resave(saved, tmp_path / "x", tensors=transpose), "tensor '9.weight' shape", "(3, 5)", "(5, 3)")

    def flat_conv(t):  # purenet's 2-D conv layout is not what files hold
        dtype, shape, values = t["0.weight"]
        t["0.weight"] = (dtype, (3, 9), values)

    raises(resave(saved, tmp_path / "x", tensors=flat_conv), "tensor '0.weight' shape", "(3, 1, 3, 3)", "(3, 9)")


def test_huge_layer_in_architecture_is_rejected_before_allocating(saved, tmp_path):
    """A file that claims Dense(10**9) with a tiny tensor must fail on the shape,
    without building a billion weights first."""

    def huge(arch):
        arch["layers"][9]["config"] = {"units": 10 ** 9}

    start = time.perf_counter()
    raises(resave(saved, tmp_path / "x", meta=with_arch(huge)), "tensor '9.weight' shape", "(1000000000, 5)")

    def huge_input(arch):
        arch["input_shape"] = [1, 10 ** 6, 10 ** 6]

    raises(resave(saved, tmp_path / "x", meta=with_arch(huge_input)), "shape")
    assert time.perf_counter() - start < 2.0


def test_history_and_classes_types(saved, tmp_path):
    out = tmp_path / "x"
    raises(resave(saved, out, meta=lambda m: m.update(history="[1]")), "__metadata__['history']", "a list")
    raises(resave(saved, out, meta=lambda m: m.update(history='{"loss": [1, "a"]}')), "history", "'loss'",
           "a list of numbers")
    raises(resave(saved, out, meta=lambda m: m.update(history='{"loss": [true]}')), "history", "a list of numbers")
    raises(resave(saved, out, meta=lambda m: m.update(classes='{"a": 1}')), "__metadata__['classes']",
           "a list of ints or strings")
    raises(resave(saved, out, meta=lambda m: m.update(classes="[[1]]")), "classes")
    raises(resave(saved, out, meta=lambda m: m.update(classes="[0, 1")), "classes", "valid JSON")
    resave(saved, out, meta=lambda m: m.update(classes='["cat", "dog", 3]', history='{"loss": [1, null, 0.5]}'))
    model = pn.load(out)
    assert model.classes == ["cat", "dog", 3] and model.history == {"loss": [1.0, None, 0.5]}


def test_load_state_dict_file(saved, tmp_path):
    model = small_cnn(seed=9)
    pn.load_state_dict_file(model, saved)  # metadata is ignored; names and shapes fit
    assert model.predict(inputs()).data == pn.load(saved).predict(inputs()).data
    raises(saved, "tensors", "unexpected ['3.weight', '7.bias'", load=lambda p: pn.load_state_dict_file(
        pn.Sequential([pn.Dense(2)], input_shape=(3,)), p))
    other = pn.Sequential([pn.Conv2D(3, 3, padding=1), pn.ReLU(), pn.Flatten(), pn.Dense(4)], input_shape=(1, 8, 8))
    t, _ = read_safetensors(saved)
    write_safetensors(tmp_path / "w", {"0.weight": (t["0.weight"].dtype, t["0.weight"].shape, t["0.weight"].values)})
    before = other.state_dict()
    raises(tmp_path / "w", "missing ['0.bias', '3.weight', '3.bias']",
           load=lambda p: pn.load_state_dict_file(other, p))
    pn.load_state_dict_file(other, tmp_path / "w", strict=False)
    assert other.state_dict()["0.weight"].data == t["0.weight"].values
    assert other.state_dict()["3.weight"].data == before["3.weight"].data
    write_safetensors(tmp_path / "w", {"0.weight": ("F32", (3, 1, 9), [0.0] * 27)})
    raises(tmp_path / "w", "tensor '0.weight' shape", "(3, 1, 3, 3)",
           load=lambda p: pn.load_state_dict_file(other, p, strict=False))
    # purenet's own 2-D layout is accepted too
    write_safetensors(tmp_path / "w", {"0.weight": ("F64", (3, 9), [0.25] * 27), "0.bias": ("F64", (1, 3), [1.0] * 3)})
    pn.load_state_dict_file(other, tmp_path / "w", strict=False)
    assert other.state_dict()["0.bias"].data == [1.0] * 3
