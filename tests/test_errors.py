"""Bad input raises ValueError / TypeError saying what was expected and what came.

Every case names the fragments its message must contain: the expectation
(a shape, a range, a type) and the value or type actually received.
"""

import math
import random

import pytest

import purenet as pn
from purenet import Matrix

NAN, INF = float("nan"), float("inf")


def raises(exc, fn, *fragments):
    """``fn()`` raises ``exc`` whose message contains every fragment (case-insensitive)."""
    with pytest.raises(exc) as info:
        fn()
    text = str(info.value).lower()
    for f in fragments:
        assert str(f).lower() in text, f"{f!r} not in {str(info.value)!r}"
    return info.value


@pytest.fixture
def cnn():
    return pn.Sequential(
        [pn.Conv2D(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 6, 6),
        seed=0,
    )


def rows(n=4, cols=36, value=0.1):
    return [[value] * cols for _ in range(n)]


LABELS = [0, 1, 2, 0]


# ----------------------------------------------------------------- data shapes


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "forward", "train_on_batch"])
def test_wrong_sample_size(cnn, method):
    for x in (rows(cols=35), Matrix(rows(cols=35)), rows(cols=37)):
        args = (x,) if method in ("predict", "forward") else (x, LABELS)
        raises(ValueError, lambda: getattr(cnn, method)(*args), "36 values", "received", str(len(x[0])))


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_flat_list_instead_of_rows(cnn, method):
    args = ([0.1] * 36,) if method == "predict" else ([0.1] * 36, [0])
    raises(ValueError, lambda: getattr(cnn, method)(*args), "list of samples", "received", "flat list")


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_ragged_rows(cnn, method):
    x = rows(3) + [[0.1] * 35]
    args = (x,) if method == "predict" else (x, LABELS)
    raises(ValueError, lambda: getattr(cnn, method)(*args), "expected 36", "received", "row 3", "35")


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_nan_and_inf_in_data(cnn, method, bad):
    x = rows()
    x[2][5] = bad
    for data in (x, Matrix(x)):
        args = (data,) if method == "predict" else (data, LABELS)
        raises(ValueError, lambda: getattr(cnn, method)(*args), "finite", "received", repr(bad), "sample 2", "value 5")


def test_nan_in_validation_data(cnn):
    x = rows()
    x[0][0] = NAN
    raises(ValueError, lambda: cnn.fit(rows(), LABELS, validation_data=(x, LABELS)), "validation x", "finite", "nan")


def test_train_on_batch_rejects_nan_matrix(cnn):
    """A NaN in a Matrix given to train_on_batch passes unchecked today (the Matrix
    fast path skips as_inputs) and silently turns every weight into NaN."""
    before = cnn.state_dict()
    x = Matrix(rows())
    x[1, 3] = NAN
    raises(ValueError, lambda: cnn.train_on_batch(x, LABELS, optimizer=pn.SGD(0.1)), "finite", "nan")
    assert cnn.state_dict() == before


def test_forward_rejects_nan_rows(cnn):
    x = rows()
    x[0][0] = INF
    raises(ValueError, lambda: cnn.forward(x), "finite", "inf")


# ---------------------------------------------------------------------- labels


@pytest.mark.parametrize("bad", [3, -1, 100])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_labels_out_of_range(cnn, method, bad):
    labels = [0, bad, 1, 2]
    raises(ValueError, lambda: getattr(cnn, method)(rows(), labels), "[0, 2]", "3 outputs", "received", str(bad))


@pytest.mark.parametrize("bad", [3, -1])
def test_labels_out_of_range_train_on_batch_and_losses(cnn, bad):
    raises(ValueError, lambda: cnn.train_on_batch(rows(), [0, bad, 1, 2]), "[0, 2]", "received", str(bad))
    pred = Matrix([[0.2, 0.3, 0.5]] * 2)
    for loss in (pn.CrossEntropy(), pn.CrossEntropy(from_logits=True), pn.MeanSquaredError()):
        raises(ValueError, lambda: loss.forward(pred, [0, bad]), "[0, 2]", "received", str(bad))


def test_labels_out_of_range_binary_model():
    model = pn.Sequential([pn.Dense(1), pn.Sigmoid()], input_shape=(3,))
    raises(ValueError, lambda: model.fit([[0.1, 0.2, 0.3]] * 2, [0, 2]), "[0, 1]", "received", "2")


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_label_count_mismatch(cnn, method):
    for labels in ([0, 1, 2], [0, 1, 2, 0, 1]):
        raises(ValueError, lambda: getattr(cnn, method)(rows(), labels), "expected 4", "received", str(len(labels)))


def test_target_rows_shape_mismatch(cnn):
    raises(ValueError, lambda: cnn.fit(rows(), [[1.0, 0.0, 0.0]] * 3), "(4, 3)", "received", "(3, 3)")
    raises(ValueError, lambda: cnn.evaluate(rows(), [[1.0, 0.0]] * 4), "(4, 3)", "received", "(4, 2)")


def test_nan_in_targets(cnn):
    y = [[1.0, 0.0, 0.0]] * 3 + [[NAN, 0.0, 1.0]]
    raises(ValueError, lambda: cnn.fit(rows(), y), "finite", "nan")
    raises(ValueError, lambda: pn.MeanSquaredError().forward(Matrix(rows(4, 3)), y), "nan")


def test_loss_label_count_mismatch_single_output():
    """With one output column the label list is not counted, and the error comes
    from Matrix.from_flat without naming the loss or the labels."""
    pred = Matrix([[0.5], [0.2]])
    for loss in (pn.MeanSquaredError(), pn.BinaryCrossEntropy()):
        raises(ValueError, lambda: loss.forward(pred, [1]), type(loss).__name__, "expected 2", "label", "received")


def test_bce_range_errors_name_the_value():
    raises(ValueError, lambda: pn.BinaryCrossEntropy().forward(Matrix([[0.5], [1.5]]), [1, 0]), "[0, 1]", "1.5")
    raises(ValueError, lambda: pn.BinaryCrossEntropy().forward(Matrix([[0.5]]), [[2.5]]), "[0, 1]", "2.5")


def test_cross_entropy_needs_two_classes():
    raises(ValueError, lambda: pn.CrossEntropy().forward(Matrix([[1.0]]), [0]), "2 classes", "(1, 1)")


def test_loss_backward_before_forward():
    for loss in (pn.CrossEntropy(), pn.MeanSquaredError(), pn.BinaryCrossEntropy()):
        raises(RuntimeError, loss.backward, "before forward")


# -------------------------------------------------------------- empty, types


def test_empty_data(cnn):
    raises(ValueError, lambda: cnn.fit([], []), "at least one sample", "empty")
    raises(ValueError, lambda: cnn.predict([]), "at least one sample", "empty")
    raises(ValueError, lambda: cnn.evaluate(rows(), []), "expected 4", "empty")


@pytest.mark.parametrize("bad", ["some text", {"a": 1}, 0.5, None])
def test_wrong_input_types(cnn, bad):
    for call in (lambda: cnn.fit(bad, LABELS), lambda: cnn.predict(bad), lambda: cnn.evaluate(bad, LABELS)):
        raises(TypeError, call, "image collection, a matrix or a list of rows", "received", type(bad).__name__)


@pytest.mark.parametrize("bad", ["0120", {"a": 1}])
def test_wrong_label_types(cnn, bad):
    raises((ValueError, TypeError), lambda: cnn.fit(rows(), bad), "labels", "received", type(bad).__name__)


def test_wrong_argument_types_to_fit(cnn):
    raises(TypeError, lambda: cnn.fit(rows(), LABELS, loss="mse"), "purenet loss", "received", "str")
    raises(TypeError, lambda: cnn.fit(rows(), LABELS, optimizer="adam"), "purenet optimizer", "received", "str")
    raises(ValueError, lambda: cnn.fit(rows(), LABELS, epochs=0), "positive int", "received: 0")
    raises(ValueError, lambda: cnn.fit(rows(), LABELS, batch_size=-2), "positive int", "received: -2")
    raises(ValueError, lambda: cnn.predict(rows(), batch_size=1.5), "positive int", "received: 1.5")


def test_validation_data_must_be_a_pair(cnn):
    raises(ValueError, lambda: cnn.fit(rows(), LABELS, validation_data=(rows(),)), "pair", "received", "1")
    raises(ValueError, lambda: cnn.fit(rows(), LABELS, validation_data=(rows(), [0, 5, 0, 0])), "validation y", "5")


def test_layer_forward_type_and_shape_errors():
    layer = pn.Dense(2)
    raises(ValueError, lambda: layer.forward(Matrix([[1.0, 2.0, 3.0]])), "not built")
    layer.build((3,), random.Random(0))
    raises(TypeError, lambda: layer.forward([[1.0, 2.0, 3.0]]), "matrix", "received", "list")
    raises(ValueError, lambda: layer.forward(Matrix([[1.0, 2.0]])), "(n, 3)", "received", "(1, 2)")
    layer.forward(Matrix([[1.0, 2.0, 3.0]]))
    raises(ValueError, lambda: layer.backward(Matrix([[1.0, 2.0, 3.0]])), "(1, 2)", "received", "(1, 3)")


# --------------------------------------------------------------- layer configs


@pytest.mark.parametrize(
    "make,fragments",
    [
        (lambda: pn.Conv2D(0, 3), ["filters", "positive int", "received: 0"]),
        (lambda: pn.Conv2D(2.0, 3), ["filters", "positive int", "received: 2.0"]),
        (lambda: pn.Conv2D(2, 0), ["kernel_size", ">= 1", "received: 0"]),
        (lambda: pn.Conv2D(2, (3,)), ["kernel_size", "pair of ints", "received: (3,)"]),
        (lambda: pn.Conv2D(2, 3, stride=0), ["stride", ">= 1", "received"]),
        (lambda: pn.Conv2D(2, 3, padding=-1), ["padding", ">= 0", "received: -1"]),
        (lambda: pn.Conv2D(2, 3, padding="full"), ["padding", "'same'", "received: 'full'"]),
        (lambda: pn.Conv2D(2, 3, padding="same", stride=2), ["'same'", "stride 1", "received: stride=2"]),
        (lambda: pn.Conv2D(2, 3, kernel_initializer="xavier"), ["initializer", "he_uniform", "received: 'xavier'"]),
        (lambda: pn.MaxPool2D(0), ["pool_size", ">= 1", "received: 0"]),
        (lambda: pn.MaxPool2D(2, stride=0), ["stride", ">= 1", "received"]),
        (lambda: pn.MaxPool2D(2.5), ["pool_size", "int", "received: 2.5"]),
        (lambda: pn.Dense(0), ["units", "positive int", "received: 0"]),
        (lambda: pn.Dense(True), ["units", "positive int", "received: true"]),
        (lambda: pn.Dropout(1.0), ["rate", "[0, 1)", "received: 1.0"]),
        (lambda: pn.Dropout(-0.1), ["rate", "[0, 1)", "received: -0.1"]),
        (lambda: pn.Dropout("0.5"), ["rate", "number", "received: '0.5'"]),
    ],
)
def test_bad_layer_configs(make, fragments):
    raises(ValueError, make, *fragments)


@pytest.mark.parametrize(
    "layers,shape,fragments",
    [
        (lambda: [pn.Conv2D(2, 5)], (1, 3, 3), ["layer 0", "conv2d", "(5, 5)", "(1, 3, 3)"]),
        (lambda: [pn.Conv2D(2, (2, 5))], (1, 4, 3), ["(2, 5)", "(1, 4, 3)"]),
        (lambda: [pn.Conv2D(2, 3)], (9,), ["(c, h, w)", "received: (9,)"]),
        (lambda: [pn.MaxPool2D(4)], (1, 3, 5), ["layer 0", "maxpool2d", "(4, 4)", "larger", "(1, 3, 5)"]),
        (lambda: [pn.MaxPool2D((2, 6))], (1, 3, 5), ["(2, 6)", "(1, 3, 5)"]),
        (lambda: [pn.Conv2D(2, 3), pn.MaxPool2D(4)], (1, 5, 5), ["layer 1", "(4, 4)", "(2, 3, 3)"]),
        (lambda: [pn.Dense(3)], (2, 4, 4), ["dense", "(features,)", "received: (2, 4, 4)", "flatten"]),
        (lambda: [pn.Conv2D(2, 3), pn.ReLU(), pn.Dense(3)], (1, 5, 5), ["layer 2", "received: (2, 3, 3)", "flatten"]),
    ],
)
def test_layer_does_not_fit_input(layers, shape, fragments):
    raises(ValueError, lambda: pn.Sequential(layers(), input_shape=shape), *fragments)


def test_bad_sequential_arguments():
    raises(ValueError, lambda: pn.Sequential([]), "at least one layer", "empty")
    raises(TypeError, lambda: pn.Sequential([pn.Dense(2), "relu"]), "layer 1", "purenet layer", "received: str")
    raises(ValueError, lambda: pn.Sequential([pn.Dense(2)], input_shape=(0,)), "positive ints", "received: (0,)")
    raises(ValueError, lambda: pn.Sequential([pn.Dense(2)], input_shape=(2, 3)), "(c, h, w)", "received: (2, 3)")
    dense = pn.Dense(2)
    raises(ValueError, lambda: pn.Sequential([dense, dense], input_shape=(3,)), "same layer object")
    raises(TypeError, lambda: pn.Sequential([pn.Dense(2)], seed="x"), "seed", "int", "received: 'x'")
    raises(ValueError, lambda: pn.Sequential([pn.Dense(2)]).predict(0.5), "not built")
    raises(ValueError, lambda: pn.layers.from_config("Lambda", {}), "unknown layer", "dense", "received: 'lambda'")
    raises(ValueError, lambda: pn.layers.from_config("Dense", {"units": 2, "activation": "relu"}), "dense", "activation")
    raises(ValueError, lambda: pn.Sequential.from_architecture([1]), "'layers'", "received: list")


# --------------------------------------------------------------- optimizers


@pytest.mark.parametrize(
    "make,fragments",
    [
        (lambda: pn.SGD(0), ["lr", "> 0", "received: 0"]),
        (lambda: pn.SGD(-0.1), ["lr", "> 0", "received: -0.1"]),
        (lambda: pn.SGD(NAN), ["lr", "finite", "received: nan"]),
        (lambda: pn.SGD(INF), ["lr", "finite", "received: inf"]),
        (lambda: pn.SGD("0.1"), ["lr", "number", "received: '0.1'"]),
        (lambda: pn.SGD(0.1, momentum=1.0), ["momentum", "[0.0, 1.0)", "received: 1.0"]),
        (lambda: pn.SGD(0.1, momentum=-0.5), ["momentum", "[0.0, 1.0)", "received: -0.5"]),
        (lambda: pn.SGD(0.1, weight_decay=-1), ["weight_decay", ">= 0", "received: -1"]),
        (lambda: pn.Adam(0), ["lr", "> 0", "received: 0"]),
        (lambda: pn.Adam(lr=True), ["lr", "number", "received: true"]),
        (lambda: pn.Adam(beta1=1.0), ["beta1", "[0.0, 1.0)", "received: 1.0"]),
        (lambda: pn.Adam(beta2=-0.1), ["beta2", "[0.0, 1.0)", "received: -0.1"]),
        (lambda: pn.Adam(eps=0), ["eps", "> 0", "received: 0"]),
        (lambda: pn.Adam(weight_decay=NAN), ["weight_decay", "finite", "received: nan"]),
    ],
)
def test_bad_optimizer_hyperparameters(make, fragments):
    raises(ValueError, make, *fragments)


# ------------------------------------------------------------ load_state_dict


@pytest.fixture
def small():
    return pn.Sequential([pn.Conv2D(2, 3), pn.ReLU(), pn.Flatten(), pn.Dense(3)], input_shape=(1, 4, 4), seed=0)


def good_state(model):
    return {k: v.tolist() for k, v in model.state_dict().items()}


def changed_first(model):
    """A valid new value for the first parameter, so a partial load would show."""
    return {"0.weight": [[9.0] * 9, [8.0] * 9]}


@pytest.mark.parametrize(
    "patch,exc,fragments",
    [
        (lambda s: {**s, "5.weight": [[1.0]]}, ValueError, ["unexpected", "5.weight", "expected", "3.bias"]),
        (lambda s: {k: v for k, v in s.items() if k != "3.bias"}, ValueError, ["missing", "3.bias"]),
        (lambda s: {**s, "3.weight": [[0.0] * 8] * 2}, ValueError, ["3.weight", "(3, 8)", "received: (2, 8)"]),
        (lambda s: {**s, "0.weight": [[[[0.0] * 3] * 3]] * 3}, ValueError, ["(2, 1, 3, 3)", "received: (3, 1, 3, 3)"]),
        (lambda s: {**s, "0.weight": [[[0.0] * 3] * 3] * 2}, ValueError, ["(2, 1, 3, 3)", "received: (2, 3, 3)"]),
        (lambda s: {**s, "3.weight": [[NAN] * 8] + [[0.0] * 8] * 2}, ValueError, ["3.weight", "nan"]),
        (lambda s: {**s, "3.bias": [0.0, INF, 0.0]}, ValueError, ["3.bias", "infinity"]),
        (lambda s: {**s, "3.bias": [0.0, "x", 0.0]}, ValueError, ["3.bias", "numbers", "received: 'x'"]),
        (lambda s: {**s, "3.bias": [0.0, True, 0.0]}, ValueError, ["3.bias", "numbers", "received: true"]),
        (lambda s: {**s, "3.bias": [[0.0, 1.0], [0.0]]}, ValueError, ["3.bias", "ragged"]),
        (lambda s: {**s, "3.bias": 3.0}, TypeError, ["3.bias", "nested lists", "received: float"]),
        (lambda s: {**s, "3.bias": []}, ValueError, ["3.bias", "empty"]),
    ],
)
def test_load_state_dict_errors_leave_weights_unchanged(small, patch, exc, fragments):
    before = small.state_dict()
    state = patch({**good_state(small), **changed_first(small)})
    raises(exc, lambda: small.load_state_dict(state), *fragments)
    assert small.state_dict() == before


def test_load_state_dict_not_a_dict(small):
    raises(TypeError, lambda: small.load_state_dict([("0.weight", [])]), "dict", "received: list")


def test_load_state_dict_valid_inputs_really_load(small):
    """The error cases above are only meaningful if a good load changes the weights."""
    state = {**good_state(small), **changed_first(small)}
    small.load_state_dict(state)
    assert small.state_dict()["0.weight"].tolist() == [[9.0] * 9, [8.0] * 9]
    small.load_state_dict({"3.bias": [1.0, 2.0, 3.0]}, strict=False)
    assert small.state_dict()["3.bias"].tolist() == [[1.0, 2.0, 3.0]]
    assert small.state_dict()["0.weight"].tolist() == [[9.0] * 9, [8.0] * 9]
    assert all(math.isfinite(v) for m in small.state_dict().values() for v in m.data)


def test_bytes_rows_mean_what_the_image_collection_means():
    """A list of bytes rows is 8-bit pixels (byte / 255), exactly as an image collection
    gives them; mixing bytes rows with rows of numbers is refused."""
    rng = random.Random(3)
    pixels = [bytes(rng.randrange(256) for _ in range(16)) for _ in range(5)]
    model = pn.Sequential([pn.Conv2D(2, 3), pn.ReLU(), pn.Flatten(), pn.Dense(3), pn.Softmax()],
                          input_shape=(1, 4, 4), seed=0)
    images = pn.datasets.ImageSet(b"".join(pixels), image_shape=(1, 4, 4))
    from_bytes = model.predict(pixels)
    assert from_bytes.tolist() == model.predict(images).tolist()
    assert from_bytes.tolist() == model.predict([[b / 255 for b in p] for p in pixels]).tolist()
    assert model.evaluate(pixels, [0, 1, 2, 0, 1]) == model.evaluate(images, [0, 1, 2, 0, 1])
    with pytest.raises(TypeError, match="mix of bytes rows"):
        model.predict([pixels[0], [0.5] * 16])
