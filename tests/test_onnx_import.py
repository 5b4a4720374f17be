"""``pn.load_onnx``: purenet's own exports read back, graphs written with
``onnx.helper`` for what ONNX's test cases leave out (folding, legacy
attributes, constants, float16/float64 weights), external data confined to
the model's folder, clear refusals, and ``.onnx`` files on the command line.

The wide checks against files made elsewhere are in ``test_onnx_cases.py``
(ONNX's own cases) and ``test_onnx_torch.py`` (``torch.onnx.export``).
"""

import gc
import os
import random

import pytest
from hypothesis import given, settings

from conftest import require
from test_onnx import IMAGE, LAYER_CASES, SHIPPED, architectures, float32_weights

import purenet as pn
from purenet import cli
from purenet.io import onnx as pn_onnx

TOLERANCE = 1e-5


def images(n=6, seed=0):
    rng = random.Random(seed)
    return [[rng.random() for _ in range(28 * 28)] for _ in range(n)]


def same_predictions(a, b, x):
    assert a.predict(x).data == b.predict(x).data


# ------------------------------------------------------------ purenet -> ONNX -> purenet
def round_trip(model):
    loaded = pn.load_onnx(pn_onnx.encode_onnx(model))
    assert loaded.input_shape == model.input_shape and loaded.output_shape == model.output_shape
    return loaded


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_every_layer_case_round_trips_with_identical_predictions(case):
    layers = [pn.layers.from_config(type(l).__name__, l.get_config()) for l in LAYER_CASES[case]]
    model = float32_weights(pn.Sequential(layers, input_shape=IMAGE, seed=3))
    loaded = round_trip(model)
    same_predictions(model, loaded, images())
    kept = [type(l).__name__ for l in model.layers if not isinstance(l, pn.Dropout)]
    assert [type(l).__name__ for l in loaded.layers] == kept


@pytest.mark.parametrize("name", list(pn.architectures.ARCHITECTURES))
def test_named_architectures_round_trip(name):
    model = float32_weights(pn.architectures.build(name, seed=4))
    same_predictions(model, round_trip(model), images(3))


@settings(max_examples=15, deadline=None)
@given(model=architectures())
def test_random_architectures_round_trip(model):
    model = float32_weights(model)
    same_predictions(model, round_trip(model), images(2, seed=1))


def test_the_shipped_model_round_trips_byte_for_byte(tmp_path):
    model = pn.load(SHIPPED)
    path = tmp_path / "lenet.onnx"
    pn.export_onnx(model, path)
    loaded = pn.load_onnx(str(path))
    x, _ = pn.datasets.load_bundled("test")
    same_predictions(model, loaded, x[:50])
    assert loaded.history == model.history and loaded.architecture == model.architecture
    assert pn_onnx.encode_onnx(loaded) == path.read_bytes()


def test_log_softmax_and_per_side_padding_round_trip():
    model = float32_weights(pn.Sequential(
        [pn.Conv2D(3, 3, stride=2, padding=((0, 1), (2, 1))), pn.LogSoftmax(), pn.MaxPool2D(2), pn.Flatten(),
         pn.Dense(4), pn.LogSoftmax()], input_shape=IMAGE, seed=2))
    loaded = round_trip(model)
    same_predictions(model, loaded, images(3))
    assert loaded.layers[0].padding == ((0, 1), (2, 1))


# ------------------------------------------------------------ graphs written with onnx.helper
@pytest.fixture(scope="module")
def oh():
    onnx = require("onnx")
    return onnx, onnx.helper, onnx.numpy_helper, require("numpy")


def build(oh, nodes, inits, shape, opset=13, out="y"):
    onnx, helper, _, _ = oh
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", *shape])],
                              [helper.make_tensor_value_info(out, 1, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 8
    return model


def run_both(oh, model, shape, n=3, seed=0):
    """purenet's and onnxruntime's outputs for the same random batch."""
    ort = require("onnxruntime")
    np = oh[3]
    x = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
    ours = pn.load_onnx(model.SerializeToString()).predict(x.reshape(n, -1).astype(np.float64).tolist())
    theirs = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = np.array(ours.data).reshape(theirs.shape)
    assert np.abs(ours - theirs).max() <= TOLERANCE * max(1.0, np.abs(theirs).max())
    return ours


def tensor(oh, name, array, dtype=None):
    np = oh[3]
    return oh[2].from_array(np.asarray(array, dtype=dtype or np.float32), name)


def test_matmul_add_gemm_transb_alpha_beta_and_constants(oh):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=tensor(oh, "v", rng.standard_normal((6, 5)))),
        helper.make_node("MatMul", ["x", "w1"], ["a"]),
        helper.make_node("Add", ["b1", "a"], ["b"]),          # the constant first: still the bias
        helper.make_node("Relu", ["b"], ["c"]),
        helper.make_node("Gemm", ["c", "w2", "b2"], ["d"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Sigmoid", ["d"], ["y"]),
    ]
    inits = [tensor(oh, "b1", rng.standard_normal(5)), tensor(oh, "w2", rng.standard_normal((4, 5))),
             tensor(oh, "b2", rng.standard_normal((1, 4)))]
    model = build(oh, nodes, inits, (6,))
    run_both(oh, model, (6,))
    assert [type(l).__name__ for l in pn.load_onnx(model.SerializeToString()).layers] == \
        ["Dense", "ReLU", "Dense", "Sigmoid"]


def test_a_transposed_input_and_gemm_transa_cancel(oh):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
             helper.make_node("Gemm", ["t", "w", "c"], ["y"], transA=1, alpha=2.0)]
    model = build(oh, nodes, [tensor(oh, "w", rng.standard_normal((5, 3))), tensor(oh, "c", rng.standard_normal(3))],
                  (5,))
    run_both(oh, model, (5,))
    assert [type(l).__name__ for l in pn.load_onnx(model.SerializeToString()).layers] == ["Dense"]
    alone = build(oh, nodes[:1], [], (5,), out="t")
    refused(alone.SerializeToString(), "transposed")


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_float16_and_float64_weights(oh, dtype):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 0, 0, 1]),
             helper.make_node("Flatten", ["c"], ["y"])]
    model = build(oh, nodes, [tensor(oh, "w", w, dtype), tensor(oh, "b", b, dtype)], (2, 5, 5))
    loaded = pn.load_onnx(model.SerializeToString())
    assert loaded.layers[0].weight.data == w.astype(np.float64).ravel().tolist()  # exact: float16 -> float64
    x = rng.standard_normal((2, 2, 5, 5))
    ours = np.array(loaded.predict(x.reshape(2, -1).tolist()).data)
    import itertools
    ref = np.zeros((2, 3, 4, 4))  # the convolution written out: pads top 1, left 0, bottom 0, right 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 1)))
    for n, f, i, j in itertools.product(range(2), range(3), range(4), range(4)):
        ref[n, f, i, j] = (xp[n, :, i:i + 3, j:j + 3] * w[f].astype(np.float64)).sum() + float(b[f])
    assert np.abs(ours - ref.ravel()).max() < 1e-12


def test_batchnorm_after_conv_and_gemm_is_folded_or_kept(oh):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(3)

    def bn(prefix, c):
        return [tensor(oh, f"{prefix}s", rng.uniform(0.5, 1.5, c)), tensor(oh, f"{prefix}b", rng.standard_normal(c)),
                tensor(oh, f"{prefix}m", rng.standard_normal(c)), tensor(oh, f"{prefix}v", rng.uniform(0.5, 2, c))]

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("BatchNormalization", ["c", "1s", "1b", "1m", "1v"], ["d"], epsilon=1e-3),
             helper.make_node("Relu", ["d"], ["e"]),
             helper.make_node("Reshape", ["e", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "g"], ["h"]),
             helper.make_node("BatchNormalization", ["h", "2s", "2b", "2m", "2v"], ["y"])]
    inits = [tensor(oh, "w", rng.standard_normal((4, 1, 3, 3))), tensor(oh, "shape", [0, -1], np.int64),
             tensor(oh, "g", rng.standard_normal((4 * 4 * 4, 5)))] + bn("1", 4) + bn("2", 5)
    model = build(oh, nodes, inits, (1, 7, 7))
    ours = run_both(oh, model, (1, 7, 7))
    kept = pn.load_onnx(model.SerializeToString())
    assert [type(l).__name__ for l in kept.layers] == ["Conv2D", "BatchNorm2D", "ReLU", "Flatten", "Dense", "BatchNorm1D"]
    folded = pn.load_onnx(model.SerializeToString(), fold_batchnorm=True)
    assert [type(l).__name__ for l in folded.layers] == ["Conv2D", "ReLU", "Flatten", "Dense"]
    x = np.random.default_rng(0).standard_normal((3, 49)).tolist()
    assert np.abs(np.array(folded.predict(x).data) - np.array(kept.predict(x).data)).max() < 1e-12
    assert ours.size == 15


def test_opset_7_with_shape_computations_and_reduce_mean(oh):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("Softmax", ["f"], ["y"])]
    inits = [tensor(oh, "w", rng.standard_normal((2, 1, 2, 2))), tensor(oh, "zero", 0, np.int64),
             tensor(oh, "minus1", [-1], np.int64)]
    run_both(oh, build(oh, nodes, inits, (1, 4, 4), opset=7), (1, 4, 4))
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1), helper.make_node("Flatten", ["m"], ["y"])]
    run_both(oh, build(oh, nodes, [tensor(oh, "axes", [-2, -1], np.int64)], (3, 4, 5), opset=18), (3, 4, 5))
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)]
    run_both(oh, build(oh, nodes, [], (3, 4, 5), opset=13), (3, 4, 5))


def refused(data, *words):
    with pytest.raises(pn.ModelFileError) as e:
        pn.load_onnx(data)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    return str(e.value)


def test_refusals_name_the_operator_node_and_attribute(oh):
    onnx, helper, _, np = oh
    w = tensor(oh, "w", np.ones((2, 1, 3, 3)))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", dilations=[2, 2])
    refused(build(oh, [conv], [w], (1, 8, 8)).SerializeToString(), "conv1", "Conv", "dilations=[2, 2]")
    node = helper.make_node("Elu", ["x"], ["y"], name="act")
    refused(build(oh, [node], [], (4,)).SerializeToString(), "'act'", "operator Elu is not supported")
    node = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.microsoft")
    refused(build(oh, [node], [], (4,)).SerializeToString(), "domain 'com.microsoft'")
    branch = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["y"], name="s")]
    refused(build(oh, branch, [], (4,)).SerializeToString(), "'s'", "only chains")
    gemm = helper.make_node("Gemm", ["x", "b"], ["y"], name="g", transA=1)
    refused(build(oh, [gemm], [tensor(oh, "b", np.ones((4, 2)))], (4,)).SerializeToString(), "transA=1")
    old = build(oh, [helper.make_node("Relu", ["x"], ["y"])], [], (4,), opset=5)
    refused(old.SerializeToString(), "operator set 5")
    refused(b"", "empty")
    refused(b"\x08\x07", "no graph")


def test_external_data_is_read_beside_the_model_only(oh, tmp_path):
    onnx, helper, _, np = oh
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    model = build(oh, nodes, [tensor(oh, "w", w)], (4,))
    folder = tmp_path / "m"
    folder.mkdir()
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    loaded = pn.load_onnx(str(folder / "m.onnx"))
    assert loaded.layers[0].weight.data == w.astype(np.float64).ravel().tolist()
    refused((folder / "m.onnx").read_bytes(), "weights.bin", "from its path")  # bytes: no folder to look in

    def with_location(location, length=None):
        m = onnx.load(str(folder / "m.onnx"), load_external_data=False)
        entries = m.graph.initializer[0].external_data
        for e in entries:
            if e.key == "location":
                e.value = location
            if e.key == "length" and length is not None:
                e.value = str(length)
        path = folder / "hostile.onnx"
        path.write_bytes(m.SerializeToString())
        return str(path)

    (tmp_path / "outside.bin").write_bytes(bytes(48))
    for location in ("../outside.bin", "/etc/passwd", str(tmp_path / "outside.bin"), "sub/../../outside.bin"):
        refused(with_location(location), "inside the model's folder")
    if hasattr(os, "symlink"):
        os.symlink(tmp_path / "outside.bin", folder / "link.bin")
        refused(with_location("link.bin"), "leads out of the model's folder")
    refused(with_location("missing.bin"), "missing")
    refused(with_location("weights.bin", length=12), "48 bytes expected")


# ------------------------------------------------------------ the command line and the app
def test_cli_takes_onnx_models_everywhere(tmp_path, capsys):
    onnx_path = str(tmp_path / "lenet.onnx")
    pn.export_onnx(pn.load(SHIPPED), onnx_path)
    assert cli.main(["summary", onnx_path]) == 0
    assert "Total parameters: 27,562" in capsys.readouterr().out
    assert cli.main(["evaluate", onnx_path, "--limit", "50"]) == 0
    assert "accuracy" in capsys.readouterr().out.lower()
    again = str(tmp_path / "again.onnx")
    assert cli.main(["export", onnx_path, "--onnx", again]) == 0
    assert open(again, "rb").read() == open(onnx_path, "rb").read()
    picture = tmp_path / "digit.pgm"
    x, _ = pn.datasets.load_bundled("test")
    picture.write_bytes(b"P5 28 28 255\n" + bytes(int(255 * (1 - v)) for v in x[:1].to_matrix().data))
    assert cli.main(["predict", "--model", onnx_path, str(picture)]) == 0
    assert "digit.pgm:" in capsys.readouterr().out
    # a file without the .onnx name is recognised by its first byte
    renamed = tmp_path / "lenet.model"
    os.rename(onnx_path, renamed)
    assert cli.main(["summary", str(renamed)]) == 0


def test_the_drawing_app_reads_an_onnx_model(tmp_path, capsys, monkeypatch):
    from purenet.app.state import Recogniser

    path = str(tmp_path / "lenet.onnx")
    pn.export_onnx(pn.load(SHIPPED), path)
    recogniser = Recogniser(pn.load_onnx(path))
    assert len(recogniser.names) == 10
    from xvfb import require_tkinter

    require_tkinter()
    monkeypatch.delenv("DISPLAY", raising=False)
    status = cli.main(["draw", "--model", path, "--drawings", str(tmp_path / "d")])
    gc.collect()
    err = capsys.readouterr().err
    assert status == 2 and "cannot open a window" in err  # the model was read; only the display is missing


def test_new_layers_round_trip_one_to_one():
    from test_onnx import new_layer_cases, with_statistics

    for case, layers in new_layer_cases().items():
        model = with_statistics(pn.Sequential(layers, input_shape=IMAGE, seed=6))
        loaded = round_trip(model)
        same_predictions(model, loaded, images(3))
        assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers], case
        assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers], case
        for a, b in zip(model.layers, loaded.layers):
            assert [(n, t.data) for n, t in a.named_buffers() if n != "num_batches_tracked"] == \
                [(n, t.data) for n, t in b.named_buffers() if n != "num_batches_tracked"]
