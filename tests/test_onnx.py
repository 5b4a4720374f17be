"""ONNX export (``pn.export_onnx``, ``purenet export``): the files are valid ONNX and
compute what purenet computes.

Two oracles check it. ``onnx`` decodes the file with Google's protobuf code
(which, serializing the message again, must give the file's bytes exactly),
``onnx.checker`` (full check) validates it and shape inference derives every
intermediate shape, which must be the layers' output shapes; onnxruntime runs
it on bundled MNIST test images and must give ``model.predict``'s outputs
within 1e-5, for every layer type and option, random architectures
(hypothesis), the named architectures and the shipped pretrained model.
Before comparing, the purenet model's weights are rounded to float32 (the
values the file holds), so the comparison measures the arithmetic alone.

The protobuf writer is also checked without those oracles, by a small
independent decoder of the wire format written here, so the encoding is
tested on every interpreter (PyPy and 3.9 included).
"""

import json
import os
import random
import struct
import subprocess
import sys
from array import array

import pytest
from hypothesis import given, strategies as st

from conftest import require, run_page

import purenet as pn
from purenet import cli
from purenet.io import onnx as pn_onnx
from purenet.io.protobuf import bytes_field, int_field, key, message_field, string_field, varint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "purenet", "models", "lenet-mnist.safetensors")
TOLERANCE = 1e-5


# ------------------------------------------------------------ an independent decoder
def read_varint(data: bytes, pos: int):
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode(data: bytes):
    """A message's fields as ``{field number: [values]}``: ints for VARINT, bytes for LEN."""
    fields, pos = {}, 0
    while pos < len(data):
        k, pos = read_varint(data, pos)
        number, wire = k >> 3, k & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            size, pos = read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
            assert pos <= len(data), "a LEN field runs past the end"
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def test_varints_match_the_protobuf_documentation():
    # the examples of https://protobuf.dev/programming-guides/encoding/
    assert int_field(1, 150) == bytes([0x08, 0x96, 0x01])
    assert string_field(2, "testing") == bytes([0x12, 0x07]) + b"testing"
    assert varint(1) == b"\x01" and varint(0) == b"\x00"
    assert varint(-2) == bytes([0xFE] + [0xFF] * 8 + [0x01])  # int64 -2: ten bytes, two's complement


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1))
def test_varints_round_trip(value):
    data = varint(value)
    decoded, end = read_varint(data, 0)
    assert end == len(data) and len(data) <= 10
    assert decoded == value % (1 << 64)
    assert all(b & 0x80 for b in data[:-1]) and not data[-1] & 0x80


@given(st.integers(1, (1 << 29) - 1), st.binary(max_size=300))
def test_length_delimited_fields_round_trip(number, payload):
    assert decode(bytes_field(number, payload)) == {number: [payload]}
    assert decode(message_field(number, payload[:7], payload[7:])) == {number: [payload]}


@pytest.mark.parametrize("bad", [-(1 << 63) - 1, 1 << 64, 1.0, True, "1"])
def test_varint_rejects_what_it_cannot_encode(bad):
    with pytest.raises(ValueError, match="varint"):
        varint(bad)


@pytest.mark.parametrize("bad", [0, 1 << 29, -1])
def test_field_numbers_are_checked(bad):
    with pytest.raises(ValueError, match="field number"):
        key(bad, 0)


def small_model(**kw):
    layers = [pn.Conv2D(3, 4, padding="same"), pn.Tanh(), pn.MaxPool2D(2), pn.Flatten(), pn.Dropout(0.3),
              pn.Dense(5, use_bias=False), pn.Softmax()]
    return pn.Sequential(layers, input_shape=(1, 10, 10), seed=kw.get("seed", 0))


def test_the_encoding_read_back_by_an_independent_decoder():
    model = small_model()
    model.classes = ["a", "b", "c", "d", "e"]
    m = decode(pn_onnx.encode_onnx(model))
    assert m[1] == [7]  # ir_version
    assert [x.decode() for x in m[2] + m[3]] == ["purenet", pn.__version__]
    assert decode(m[8][0]) == {2: [13]}  # opset_import: default domain, version 13
    props = {decode(p)[1][0].decode(): decode(p)[2][0].decode() for p in m[14]}
    assert props["classes"] == '["a", "b", "c", "d", "e"]'
    assert pn.Sequential.from_architecture(json.loads(props["architecture"])).architecture == model.architecture

    g = decode(m[7][0])
    nodes = [decode(n) for n in g[1]]
    assert [n[4][0].decode() for n in nodes] == ["Conv", "Tanh", "MaxPool", "Flatten", "Identity", "Gemm", "Softmax"]
    assert nodes[0][1] == [b"input", b"0.weight", b"0.bias"] and nodes[-1][2] == [b"output"]
    for a, b in zip(nodes, nodes[1:]):
        assert b[1][0] == a[2][0]  # each node reads the previous one's output
    conv_attrs = {decode(a)[1][0].decode(): decode(a) for a in nodes[0][5]}
    assert conv_attrs["pads"][20] == [7] and conv_attrs["pads"][8] == [1, 1, 2, 2]  # INTS [top, left, bottom, right]
    gemm_attrs = [decode(a) for a in nodes[5][5]]
    assert gemm_attrs == [{1: [b"transB"], 20: [2], 3: [1]}]
    assert nodes[5][1] == [b"4.Dropout", b"5.weight"]  # no bias input: use_bias=False

    state = dict(model.named_parameters())
    tensors = [decode(t) for t in g[5]]
    assert [t[8][0].decode() for t in tensors] == list(state)
    for t in tensors:
        p = state[t[8][0].decode()]
        assert t[1] == list(p.tensor_shape) and t[2] == [1]  # dims, FLOAT
        assert t[9][0] == struct.pack(f"<{len(p.data)}f", *p.data)  # raw_data, little-endian float32

    (inp,), (out,) = [decode(v) for v in g[11]], [decode(v) for v in g[12]]
    for value, name, dims in ((inp, b"input", ["N", 1, 10, 10]), (out, b"output", ["N", 5])):
        assert value[1] == [name]
        tensor_type = decode(decode(value[2][0])[1][0])
        assert tensor_type[1] == [1]  # elem_type FLOAT
        found = []
        for d in decode(tensor_type[2][0])[1]:
            d = decode(d)
            found.append(d[2][0].decode() if 2 in d else d[1][0])
        assert found == dims


def test_softmax_over_image_shaped_samples_reshapes_with_a_kept_batch():
    model = pn.Sequential([pn.Conv2D(2, 3), pn.Softmax()], input_shape=(1, 5, 5))
    g = decode(decode(pn_onnx.encode_onnx(model))[7][0])
    assert [decode(n)[4][0] for n in g[1]] == [b"Conv", b"Flatten", b"Softmax", b"Reshape"]
    shape = decode(g[5][-1])
    assert shape[8] == [b"1.shape"] and shape[2] == [7] and shape[1] == [4]  # INT64, 4 values
    assert [signed64(v) for v in struct.unpack("<4q", shape[9][0])] == [0, 2, 3, 3]


def test_export_is_deterministic(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    pn.export_onnx(small_model(), a)
    pn.export_onnx(small_model(), b)
    assert a.read_bytes() == b.read_bytes() == pn_onnx.encode_onnx(small_model())
    assert a.read_bytes() != pn_onnx.encode_onnx(small_model(seed=1))


# ------------------------------------------------------------ what cannot be exported
class Doubled(pn.ReLU):
    """A user's layer: an exact-type match keeps it from passing for a ReLU."""

    def _forward(self, x):
        return [2 * v for v in x]


def test_unknown_layers_unbuilt_models_and_non_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"layer 1 is a Doubled; expected one of .*Conv2D, Dense"):
        pn.export_onnx(pn.Sequential([pn.Dense(2), Doubled()], input_shape=(3,)), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="not built"):
        pn.export_onnx(pn.Sequential([pn.Dense(2)]), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="expected a purenet Sequential; Received: list"):
        pn.export_onnx([pn.Dense(2)], tmp_path / "x.onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value, message", [(float("nan"), "nan in '0.weight' at flat index 4"),
                                            (1e39, "1e[+]39 in '0.weight' at flat index 4")])
def test_weights_float32_cannot_hold_are_refused_and_the_old_file_kept(tmp_path, value, message):
    model = pn.Sequential([pn.Dense(2)], input_shape=(3,))
    model.layers[0].weight.data[4] = value
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="weights must be finite in float32; Received: " + message):
        pn.export_onnx(model, path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.onnx"]


# ------------------------------------------------------------ the command line
def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_exports_the_shipped_model(capsys, tmp_path):
    out_path = tmp_path / "lenet.onnx"
    status, out, err = run_cli(capsys, "export", SHIPPED, "--onnx", str(out_path))
    assert status == 0 and err == ""
    assert out == (f"wrote {out_path} ({out_path.stat().st_size:,} bytes): ONNX opset 13, "
                   "input 'input' (N, 1, 28, 28), output 'output' (N, 10)\n")
    assert out_path.read_bytes() == pn_onnx.encode_onnx(pn.load(SHIPPED))


def test_cli_exports_a_checkpoints_model(capsys, tmp_path):
    model = small_model()
    ckpt = tmp_path / "run.ckpt"
    pn.save_checkpoint(ckpt, model, pn.Adam(), epoch=2)
    status, out, _ = run_cli(capsys, "export", str(ckpt), "--onnx", str(tmp_path / "run.onnx"))
    assert status == 0 and "output 'output' (N, 5)" in out
    assert (tmp_path / "run.onnx").read_bytes() == pn_onnx.encode_onnx(model)


def test_cli_errors_are_one_line_with_exit_status_2(capsys, tmp_path):
    model_path = tmp_path / "m.safetensors"
    small_model().save(model_path)
    before = model_path.read_bytes()
    cases = [
        (["export", str(model_path)], "the following arguments are required: --onnx"),
        (["export", str(tmp_path / "missing.safetensors"), "--onnx", "x.onnx"], "cannot open it"),
        (["export", str(model_path), "--onnx", str(model_path)], "expected a new file; Received: the model file itself"),
        (["export", str(model_path), "--onnx", str(tmp_path / "no" / "x.onnx")],
         f"--onnx {tmp_path / 'no' / 'x.onnx'}: cannot write the file: No such file or directory."),
        (["export", str(model_path), "--onnx", str(tmp_path)], "cannot write the file: Is a directory."),
    ]
    for argv, fragment in cases:
        status, out, err = run_cli(capsys, *argv)
        assert status == 2 and out == "", argv
        assert err.count("\n") == 1 and err.startswith("purenet export: error: ") and fragment in err, err
    assert model_path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temporary file left behind


def test_cli_refuses_a_model_float32_cannot_hold(capsys, tmp_path):
    model = pn.Sequential([pn.Dense(2)], input_shape=(3,))
    model.layers[0].bias.data[1] = -1e300  # a valid F64 model file, but no float32 holds it
    model.save(tmp_path / "big.safetensors", dtype="F64")
    status, out, err = run_cli(capsys, "export", str(tmp_path / "big.safetensors"), "--onnx", str(tmp_path / "big.onnx"))
    assert status == 2 and out == "" and not (tmp_path / "big.onnx").exists()
    assert err == (f"purenet export: error: {tmp_path / 'big.safetensors'}: ONNX export: weights must be finite in "
                   "float32; Received: -1e+300 in '0.bias' at flat index 1.\n")


def test_cli_help(capsys):
    status, out, _ = run_cli(capsys, "export", "--help")
    assert status == 0 and out.startswith("usage: purenet export [-h] --onnx OUT MODEL")
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0 and "write a saved model as an ONNX file" in out


def test_export_runs_with_only_the_stdlib(tmp_path):
    from test_isolation import run, last_json

    proc = run(f"""
        import json
        from purenet.cli import main
        status = main(["export", {SHIPPED!r}, "--onnx", {str(tmp_path / 'x.onnx')!r}])
        print(json.dumps({{"status": status, "blocked": BLOCKED}}))
        """)
    assert last_json(proc) == {"status": 0, "blocked": []}
    assert (tmp_path / "x.onnx").read_bytes() == pn_onnx.encode_onnx(pn.load(SHIPPED))


def test_python_m_purenet_export(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout, installed or not
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "purenet", "export", SHIPPED, "--onnx", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"wrote {tmp_path / 'm.onnx'} ("), proc.stderr


# ------------------------------------------------------------ the oracles: onnx, onnxruntime
@pytest.fixture(scope="module")
def oracles():
    return require("onnx"), require("onnxruntime"), require("numpy")


@pytest.fixture(scope="module")
def images():
    x, _ = pn.datasets.load_bundled("test")
    return x[:48]


def float32_weights(model, seed=0):
    """Non-zero biases (a fresh layer's are 0, which would hide a misplaced bias),
    then every weight rounded to float32, the values the ONNX file holds."""
    rng = random.Random(seed)
    for name, p in model.named_parameters():
        values = [rng.uniform(-0.5, 0.5) for _ in p.data] if name.endswith("bias") else p.data
        p.assign(list(array("f", values)))
    return model


def check_export(model, x, tmp_path, oracles):
    """Export ``model``; the file passes onnx's checker and shape inference, and
    onnxruntime's outputs equal ``model.predict(x)`` within TOLERANCE. Returns the ModelProto."""
    onnx, ort, np = oracles
    path = tmp_path / "model.onnx"
    pn.export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    # canonical: Google's protobuf writes the message it read back byte for byte as we wrote it
    assert proto.SerializeToString() == path.read_bytes()

    inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    produced = [n.output[0] for n in proto.graph.node]
    for i, layer in enumerate(model.layers):
        name = "output" if i == len(model.layers) - 1 else f"{i}.{type(layer).__name__}"
        assert name in produced
        assert shapes[name] == ["N", *layer.output_shape], (name, shapes[name])

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name) == ("input", ["N", *model.input_shape], "output")
    m = x.to_matrix() if hasattr(x, "to_matrix") else pn.Matrix(x)
    batch = np.array(m.data, dtype=np.float32).reshape((m.rows, *model.input_shape))
    theirs = session.run(["output"], {"input": batch})[0]
    ours = model.predict(x)
    assert theirs.shape == (ours.rows, *model.output_shape)
    diff = np.abs(theirs.reshape(ours.shape).astype(np.float64) - np.array(ours.data).reshape(ours.shape)).max()
    assert diff <= TOLERANCE, f"onnxruntime differs from purenet by {diff}"
    return proto


IMAGE = (1, 28, 28)
LAYER_CASES = {
    "conv": [pn.Conv2D(4, 3)],
    "conv-stride-padding": [pn.Conv2D(4, (3, 5), stride=(2, 3), padding=(1, 2))],
    "conv-same-even-kernel": [pn.Conv2D(3, 4, padding="same")],
    "conv-valid-no-bias": [pn.Conv2D(3, 5, padding="valid", use_bias=False)],
    "conv-1x1-stride": [pn.Conv2D(2, 1, stride=3)],
    "maxpool": [pn.MaxPool2D(2)],
    "maxpool-overlapping": [pn.MaxPool2D(3, stride=1)],
    "maxpool-rect-strided": [pn.MaxPool2D((2, 3), stride=(3, 2))],
    "flatten": [pn.Flatten()],
    "dense": [pn.Flatten(), pn.Dense(10)],
    "dense-no-bias": [pn.Flatten(), pn.Dense(7, use_bias=False)],
    "relu": [pn.Conv2D(2, 3), pn.ReLU()],
    "sigmoid": [pn.Conv2D(2, 3), pn.Sigmoid()],
    "tanh": [pn.Conv2D(2, 3), pn.Tanh()],
    "softmax": [pn.Flatten(), pn.Dense(10), pn.Softmax()],
    "softmax-over-an-image": [pn.Conv2D(2, 3, stride=2), pn.Softmax(), pn.MaxPool2D(2)],
    "dropout": [pn.Flatten(), pn.Dropout(0.5), pn.Dense(10), pn.Dropout(0.2)],
    "everything": [pn.Conv2D(4, 3, padding="same"), pn.ReLU(), pn.MaxPool2D(2),
                   pn.Conv2D(6, (3, 2), stride=(2, 1), padding=(1, 0), use_bias=False), pn.Tanh(),
                   pn.MaxPool2D(2, stride=1), pn.Flatten(), pn.Dropout(0.2), pn.Dense(16), pn.Sigmoid(),
                   pn.Dense(10), pn.Softmax()],
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_every_layer_exports_and_runs_the_same(case, images, tmp_path, oracles):
    layers = [pn.layers.from_config(type(l).__name__, l.get_config()) for l in LAYER_CASES[case]]
    model = float32_weights(pn.Sequential(layers, input_shape=IMAGE, seed=3))
    check_export(model, images, tmp_path, oracles)


def test_flat_feature_inputs(tmp_path, oracles, images):
    model = float32_weights(pn.Sequential([pn.Dense(32), pn.Tanh(), pn.Flatten(), pn.Dense(10), pn.Sigmoid()],
                                          input_shape=(784,), seed=1))
    rows = images.to_matrix()
    proto = check_export(model, [rows.data[i * 784 : (i + 1) * 784] for i in range(rows.rows)], tmp_path, oracles)
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["N", 784]


@pytest.mark.parametrize("name", list(pn.architectures.ARCHITECTURES))
def test_named_architectures(name, images, tmp_path, oracles):
    check_export(float32_weights(pn.architectures.build(name, seed=4)), images, tmp_path, oracles)


def test_the_shipped_model(tmp_path, oracles):
    onnx, _, _ = oracles
    model = pn.load(SHIPPED)  # float32 weights already
    x, y = pn.datasets.load_bundled("test")
    proto = check_export(model, x[:300], tmp_path, oracles)
    assert proto.producer_name == "purenet" and proto.producer_version == pn.__version__
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 13)] and proto.ir_version == 7
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["architecture"]) == model.architecture
    state = dict(model.named_parameters())
    assert [t.name for t in proto.graph.initializer] == list(state)
    for t in proto.graph.initializer:
        values = onnx.numpy_helper.to_array(t)
        assert values.dtype.name == "float32" and list(values.shape) == list(state[t.name].tensor_shape)
        assert values.ravel().tolist() == state[t.name].data


def test_any_batch_size(tmp_path, oracles, images):
    onnx, ort, np = oracles
    model = float32_weights(pn.architectures.build("cnn-small", seed=0))
    pn.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 5, 0):
        out = session.run(None, {"input": np.zeros((n, 1, 28, 28), dtype=np.float32)})[0]
        assert out.shape == (n, 10)


def test_the_onnx_page_runs_as_shown(oracles):
    runner, globs, report = run_page(os.path.join(REPO, "docs", "onnx.md"))
    assert runner.failures == 0, report
    assert runner.tries >= 10 and globs["probabilities"].shape == (200, 10)


# ------------------------------------------------------------ random architectures
@st.composite
def architectures(draw):
    """A random valid Sequential for (1, 28, 28) images: a conv/pool/activation
    stage of random options, then optional dense layers and a final activation."""
    shape, layers = IMAGE, []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "act", "dropout", "softmax"]))
        if kind == "conv":
            k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
            stride = draw(st.sampled_from([1, 2, (1, 2), (3, 1)]))
            padding = draw(st.sampled_from([0, 1, (2, 0), "valid"] + (["same"] if stride == 1 else [])))
            layer = pn.Conv2D(draw(st.integers(1, 4)), k, stride=stride, padding=padding, use_bias=draw(st.booleans()))
        elif kind == "pool":
            layer = pn.MaxPool2D(draw(st.sampled_from([2, 3, (2, 1)])), stride=draw(st.sampled_from([None, 1, 2, (1, 3)])))
        elif kind == "act":
            layer = draw(st.sampled_from([pn.ReLU, pn.Sigmoid, pn.Tanh]))()
        elif kind == "dropout":
            layer = pn.Dropout(0.5)
        else:
            layer = pn.Softmax()
        try:
            shape = layer.compute_output_shape(shape)
        except ValueError:  # too small for this kernel: leave it out
            continue
        layers.append(layer)
    layers.append(pn.Flatten())
    for _ in range(draw(st.integers(0, 2))):
        layers.append(pn.Dense(draw(st.integers(1, 12)), use_bias=draw(st.booleans())))
        layers.append(draw(st.sampled_from([pn.ReLU, pn.Sigmoid, pn.Tanh, pn.Dropout]))())
    layers.append(pn.Dense(draw(st.integers(2, 10))))
    head = draw(st.sampled_from([None, pn.Softmax, pn.Sigmoid, pn.Tanh]))
    if head:
        layers.append(head())
    return pn.Sequential(layers, input_shape=IMAGE, seed=draw(st.integers(0, 1000)))


@given(model=architectures())
def test_random_architectures(model, tmp_path_factory, oracles):
    x, _ = pn.datasets.load_bundled("test")
    check_export(float32_weights(model), x[:16], tmp_path_factory.mktemp("random"), oracles)


# ------------------------------------------------------------ layers with state, average pooling, LeakyReLU
def new_layer_cases():
    return {
        "batchnorm2d": [pn.Conv2D(3, 3), pn.BatchNorm2D(eps=1e-3), pn.ReLU()],
        "batchnorm1d": [pn.Flatten(), pn.Dense(6), pn.BatchNorm1D(), pn.Tanh()],
        "avgpool": [pn.AvgPool2D(2)],
        "avgpool-padded-strided": [pn.AvgPool2D((3, 2), stride=(2, 1), padding=1)],
        "global-avgpool": [pn.Conv2D(4, 3), pn.GlobalAvgPool2D(), pn.Dense(3)],
        "leaky-relu": [pn.Conv2D(2, 3), pn.LeakyReLU(0.2)],
        "all-of-them": [pn.Conv2D(4, 3, padding=1), pn.BatchNorm2D(), pn.LeakyReLU(), pn.AvgPool2D(2),
                        pn.Conv2D(6, 3), pn.BatchNorm2D(), pn.ReLU(), pn.GlobalAvgPool2D(), pn.Dense(8),
                        pn.BatchNorm1D(), pn.LeakyReLU(0.1), pn.Dense(10), pn.Softmax()],
    }


def with_statistics(model, seed=0):
    """Running statistics and affine weights away from their initial values (float32 values)."""
    rng = random.Random(seed)
    for layer in model.layers:
        for name, b in layer.named_buffers():
            if name == "running_mean":
                b.assign(list(array("f", [rng.uniform(-1, 1) for _ in b.data])))
            elif name == "running_var":
                b.assign(list(array("f", [rng.uniform(0.5, 2) for _ in b.data])))
    return float32_weights(model, seed)


@pytest.mark.parametrize("case", ["batchnorm2d", "batchnorm1d", "avgpool", "avgpool-padded-strided",
                                  "global-avgpool", "leaky-relu", "all-of-them"])
def test_new_layers_export_and_run_the_same(case, images, tmp_path, oracles):
    layers = new_layer_cases()[case]
    model = with_statistics(pn.Sequential(layers, input_shape=IMAGE, seed=5))
    check_export(model, images, tmp_path, oracles)
