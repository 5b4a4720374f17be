"""Finite-difference gradient checks for every layer, every loss and whole models.

Each check runs twice: through ``pn.gradcheck`` and through the small
finite-difference routine below, written independently of purenet, so a bug
in gradcheck cannot hide a bug in a layer. Everything is float64 on small
shapes; the relative error allowed is 1e-6.
"""

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import purenet as pn
from purenet import Matrix
from purenet.layers.activations import ProbabilityGradient

RTOL = 1e-6
EPS = 1e-6


# ------------------------------------------------------ independent checker


def numeric_gradient(f, data, eps=EPS):
    """Central differences of the scalar ``f()`` w.r.t. every entry of the list ``data``."""
    out = []
    for i in range(len(data)):
        old = data[i]
        data[i] = old + eps
        fp = f()
        data[i] = old - eps
        fm = f()
        data[i] = old
        out.append((fp - fm) / (2.0 * eps))
    return out


def assert_gradients_close(analytic, numeric, name, rtol=RTOL):
    """Relative error of the whole tensor (Euclidean norms) and of every entry
    (against the tensor's largest entry) at most ``rtol``."""
    assert len(analytic) == len(numeric), name
    assert all(map(math.isfinite, analytic)), f"{name}: non-finite analytic gradient"
    scale_inf = max(max(map(abs, analytic)), max(map(abs, numeric)))
    assert scale_inf > 0.0, f"{name}: gradient is identically zero, the check would be vacuous"
    diff = math.sqrt(math.fsum((a - b) ** 2 for a, b in zip(analytic, numeric)))
    scale = max(math.sqrt(math.fsum(a * a for a in analytic)), math.sqrt(math.fsum(b * b for b in numeric)))
    assert diff / scale <= rtol, f"{name}: relative error {diff / scale:.3e}"
    worst = max(abs(a - b) for a, b in zip(analytic, numeric))
    assert worst <= rtol * scale_inf, f"{name}: worst entry error {worst:.3e} (scale {scale_inf:.3e})"


def random_matrix(rows, cols, rng, low=-1.0, high=1.0):
    return Matrix.from_flat([rng.uniform(low, high) for _ in range(rows * cols)], rows, cols)


def away_from_zero(rows, cols, rng, gap=0.05):
    """Random entries with |v| >= gap: no ReLU kink within a finite-difference step."""
    return Matrix.from_flat(
        [rng.choice((-1.0, 1.0)) * rng.uniform(gap, 1.0) for _ in range(rows * cols)], rows, cols
    )


def distinct_values(rows, cols, rng, step=0.01):
    """A shuffled grid of values at least ``step`` apart: no max-pool ties."""
    vals = [(i - rows * cols / 2) * step for i in range(rows * cols)]
    rng.shuffle(vals)
    return Matrix.from_flat(vals, rows, cols)


def layer_check(layer, x, training=False, seed=0):
    """Independent check of a built layer: f(x) = sum(forward(x) * R)."""
    rng = random.Random(seed + 1000)
    rng_state = layer.rng.getstate() if hasattr(layer, "rng") else None

    def forward():
        if rng_state is not None:
            layer.rng.setstate(rng_state)  # the same dropout mask every time
        return layer.forward(x, training)

    out = forward()
    r = [rng.uniform(-1.0, 1.0) for _ in out.data]

    def f():
        return math.fsum(a * b for a, b in zip(forward().data, r))

    for p in layer.parameters():
        p.zero_grad()
    forward()
    gx = layer.backward(Matrix.from_flat(list(r), out.rows, out.cols))
    assert gx.shape == x.shape
    analytic = {name: list(p.grad.data) for name, p in layer.named_parameters()}
    analytic["input"] = list(gx.data)
    checked = 0
    for name, p in layer.named_parameters():
        assert_gradients_close(analytic[name], numeric_gradient(f, p.data), f"{type(layer).__name__}.{name}")
        checked += 1
    assert_gradients_close(analytic["input"], numeric_gradient(f, x.data), f"{type(layer).__name__}.input")
    return checked


def check_layer_both_ways(layer, input_shape, x, training=False):
    layer.build(input_shape, random.Random(1))
    # a bias initialised to exactly 0 is still checked, but give it a value
    for p in layer.parameters():
        p.assign([v + 0.1 * ((i % 7) - 3) for i, v in enumerate(p.data)])
    result = pn.gradcheck(layer, x, eps=EPS, rtol=RTOL, training=training)
    assert result.ok, result
    expected_names = {name for name, _ in layer.named_parameters()} | {"input"}
    assert set(result.rel_error) == expected_names
    layer_check(layer, x, training)


# ------------------------------------------------------------- checker self-test


class _WrongReLU(pn.ReLU):
    """ReLU with a 1% error in its backward pass."""

    def backward(self, grad, input_grad=True):
        g = super().backward(grad, input_grad)
        return g * 1.01


class _WrongDense(pn.Dense):
    """Dense whose bias gradient is off by a factor of 2."""

    def backward(self, grad, input_grad=True):
        before = list(self.bias.grad.data)
        out = super().backward(grad, input_grad)
        self.bias.grad.data = [b + 2 * (a - b) for a, b in zip(self.bias.grad.data, before)]
        return out


def test_checkers_catch_wrong_gradients():
    rng = random.Random(0)
    x = away_from_zero(2, 5, rng)
    relu = _WrongReLU()
    relu.build((5,), rng)
    assert not pn.gradcheck(relu, x).ok
    with pytest.raises(AssertionError):
        layer_check(relu, x)
    dense = _WrongDense(3)
    dense.build((5,), rng)
    result = pn.gradcheck(dense, x)
    assert not result.ok and result.rel_error["bias"] > 0.1 and result.rel_error["weight"] < 1e-8
    with pytest.raises(AssertionError, match="bias"):
        layer_check(dense, x)


# ---------------------------------------------------------------------- Conv2D


CONV_CASES = [
    # (layer, input shape (C, H, W), batch)
    (lambda: pn.Conv2D(4, (2, 3), stride=2, padding=1), (3, 7, 9), 2),
    (lambda: pn.Conv2D(2, (3, 2), stride=(1, 2), padding=(2, 0)), (2, 5, 6), 2),
    (lambda: pn.Conv2D(3, 3, padding="same"), (2, 5, 6), 2),
    (lambda: pn.Conv2D(3, 4, padding="same"), (2, 6, 5), 2),
    (lambda: pn.Conv2D(2, (2, 3), padding="same"), (1, 4, 5), 2),
    (lambda: pn.Conv2D(3, 3, use_bias=False), (2, 5, 5), 2),
    (lambda: pn.Conv2D(2, 1), (3, 3, 4), 2),
    (lambda: pn.Conv2D(2, (3, 3), stride=3, padding=1), (1, 8, 7), 1),
]


@pytest.mark.parametrize("make,shape,batch", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv2d_gradients(make, shape, batch):
    rng = random.Random(7)
    layer = make()
    x = random_matrix(batch, shape[0] * shape[1] * shape[2], rng)
    check_layer_both_ways(layer, shape, x)
    if not layer.use_bias:
        assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_conv2d_gradients_with_sparse_input():
    """Mostly-zero patches take the zero-skipping path in forward."""
    rng = random.Random(3)
    x = Matrix.from_flat([rng.uniform(0.2, 1.0) if rng.random() < 0.1 else 0.0 for _ in range(2 * 81)], 2, 81)
    check_layer_both_ways(pn.Conv2D(3, 3, padding=1), (1, 9, 9), x)


# ------------------------------------------------------------------- MaxPool2D


POOL_CASES = [
    (lambda: pn.MaxPool2D(3, stride=2), (2, 7, 9)),  # overlapping windows
    (lambda: pn.MaxPool2D(2, stride=3), (2, 8, 7)),  # gaps between windows
    (lambda: pn.MaxPool2D((2, 3), stride=(1, 2)), (1, 5, 7)),  # non-square, overlapping rows
    (lambda: pn.MaxPool2D((3, 2)), (2, 6, 5)),  # non-square, dropped edge column
    (lambda: pn.MaxPool2D(2), (3, 4, 4)),
    (lambda: pn.MaxPool2D(1, stride=1), (1, 3, 3)),
]


@pytest.mark.parametrize("make,shape", POOL_CASES, ids=[f"pool{i}" for i in range(len(POOL_CASES))])
def test_maxpool2d_gradients(make, shape):
    rng = random.Random(11)
    x = distinct_values(2, shape[0] * shape[1] * shape[2], rng)
    check_layer_both_ways(make(), shape, x)


def test_maxpool2d_overlapping_windows_add_up():
    """One input that wins two overlapping windows receives both gradients."""
    layer = pn.MaxPool2D(2, stride=1)
    layer.build((1, 2, 3), random.Random(0))
    x = Matrix([[0.0, 9.0, 0.0, 1.0, 2.0, 3.0]])  # 9 wins both windows
    assert layer.forward(x).tolist() == [[9.0, 9.0]]
    assert layer.backward(Matrix([[0.25, 0.5]])).tolist() == [[0.0, 0.75, 0.0, 0.0, 0.0, 0.0]]


# ---------------------------------------------------------- Dense, activations


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_gradients(use_bias):
    rng = random.Random(5)
    check_layer_both_ways(pn.Dense(4, use_bias=use_bias), (5,), random_matrix(3, 5, rng))


def test_dense_gradients_sparse_input_and_single_row():
    rng = random.Random(6)
    sparse = Matrix.from_flat([rng.uniform(-1, 1) if i % 5 == 0 else 0.0 for i in range(4 * 20)], 4, 20)
    check_layer_both_ways(pn.Dense(3), (20,), sparse)
    check_layer_both_ways(pn.Dense(2), (6,), random_matrix(1, 6, rng))


@pytest.mark.parametrize("cls", [pn.ReLU, pn.Sigmoid, pn.Tanh, pn.Softmax, pn.LogSoftmax])
def test_activation_gradients(cls):
    rng = random.Random(9)
    x = away_from_zero(3, 6, rng) * 2.0
    check_layer_both_ways(cls(), (6,), x)


def test_activation_gradients_on_image_shapes():
    rng = random.Random(10)
    for cls in (pn.ReLU, pn.Sigmoid, pn.Tanh):
        check_layer_both_ways(cls(), (2, 3, 2), away_from_zero(2, 12, rng))


def test_flatten_gradients():
    rng = random.Random(12)
    layer = pn.Flatten()
    check_layer_both_ways(layer, (2, 3, 4), random_matrix(2, 24, rng))
    assert layer.output_shape == (24,)


def test_dropout_gradients_training_mode_fixed_mask():
    rng = random.Random(13)
    layer = pn.Dropout(0.5)
    x = away_from_zero(4, 10, rng)
    check_layer_both_ways(layer, (10,), x, training=True)
    state = layer.rng.getstate()
    y = layer.forward(x, training=True)
    dropped = [i for i, v in enumerate(y.data) if v == 0.0]
    assert 0 < len(dropped) < len(y.data)  # the mask really masks
    assert all(v == 0.0 or v == 2.0 * a for v, a in zip(y.data, x.data))
    g = layer.backward(Matrix.full(4, 10, 1.0))
    assert [i for i, v in enumerate(g.data) if v == 0.0] == dropped
    layer.rng.setstate(state)
    assert layer.forward(x, training=True) == y  # the same state gives the same mask


# ------------------------------- BatchNorm1D/2D, AvgPool2D, GlobalAvgPool2D, LeakyReLU


BATCHNORM_CASES = [
    # (layer, input shape, batch)
    (lambda: pn.BatchNorm2D(), (3, 2, 3), 2),
    (lambda: pn.BatchNorm2D(momentum=None, eps=1e-3), (2, 1, 1), 3),
    (lambda: pn.BatchNorm2D(eps=0.5), (1, 3, 2), 1),
    (lambda: pn.BatchNorm1D(), (4,), 3),
    (lambda: pn.BatchNorm1D(momentum=0.5), (2, 3), 2),
]


@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
@pytest.mark.parametrize("make,shape,batch", BATCHNORM_CASES, ids=[f"bn{i}" for i in range(len(BATCHNORM_CASES))])
def test_batchnorm_gradients(make, shape, batch, training):
    rng = random.Random(5)
    layer = make()
    layer.build(shape, random.Random(0))
    size = math.prod(shape)
    # running statistics away from their initial 0 and 1, so evaluation mode uses real ones
    layer.forward(random_matrix(4, size, rng, -2.0, 3.0), training=True)
    layer.forward(random_matrix(4, size, rng, -2.0, 3.0), training=True)
    stats = list(layer.running_mean.data) + list(layer.running_var.data)
    x = random_matrix(batch, size, rng, -2.0, 2.0)
    result = pn.gradcheck(layer, x, eps=EPS, rtol=RTOL, training=training)
    assert result.ok, result
    assert set(result.rel_error) == {"weight", "bias", "input"}
    if not training:  # evaluation never moves the running statistics
        assert list(layer.running_mean.data) + list(layer.running_var.data) == stats
    for p in layer.parameters():
        p.assign([v + 0.1 * ((i % 7) - 3) for i, v in enumerate(p.data)])
    layer_check(layer, x, training)


AVGPOOL_CASES = [
    (lambda: pn.AvgPool2D(2), (2, 5, 4)),  # disjoint windows, dropped edge row
    (lambda: pn.AvgPool2D(3, stride=2, padding=1), (2, 7, 6)),  # overlapping, padded
    (lambda: pn.AvgPool2D((2, 3), stride=(1, 2), padding=(1, 0)), (1, 4, 7)),
    (lambda: pn.AvgPool2D(2, stride=3), (1, 8, 8)),  # gaps: some inputs are read by no window
    (lambda: pn.AvgPool2D(1), (2, 2, 3)),
]


@pytest.mark.parametrize("make,shape", AVGPOOL_CASES, ids=[f"avg{i}" for i in range(len(AVGPOOL_CASES))])
def test_avgpool2d_gradients(make, shape):
    rng = random.Random(13)
    x = random_matrix(2, math.prod(shape), rng)
    check_layer_both_ways(make(), shape, x)


def test_global_avgpool2d_gradients():
    rng = random.Random(17)
    check_layer_both_ways(pn.GlobalAvgPool2D(), (3, 2, 5), random_matrix(2, 30, rng))


@pytest.mark.parametrize("slope", [0.01, 0.3, -0.5, 1.5])
def test_leaky_relu_gradients(slope):
    rng = random.Random(19)
    check_layer_both_ways(pn.LeakyReLU(slope), (2, 3, 2), away_from_zero(3, 12, rng))


# ------------------------------------------------------------------- losses


def loss_check(loss, pred, target, use_logits_api=False):
    """Independent check of ``loss.backward()`` against central differences of ``loss.forward``."""
    fwd = loss.forward_logits if use_logits_api else loss.forward
    value = fwd(pred, target)
    assert math.isfinite(value)
    analytic = list(loss.backward().data)
    assert loss.backward().shape == pred.shape
    numeric = numeric_gradient(lambda: fwd(pred, target), pred.data)
    assert_gradients_close(analytic, numeric, type(loss).__name__)


def probabilities(rows, cols, rng):
    data = []
    for _ in range(rows):
        e = [math.exp(rng.uniform(-1.5, 1.5)) for _ in range(cols)]
        s = sum(e)
        data += [v / s for v in e]
    return Matrix.from_flat(data, rows, cols)


def soft_labels(rows, cols, rng):
    return probabilities(rows, cols, rng).tolist()


def one_hot(labels, cols):
    return [[1.0 if j == t else 0.0 for j in range(cols)] for t in labels]


def test_mse_gradients():
    rng = random.Random(20)
    pred = random_matrix(3, 4, rng)
    loss_check(pn.MeanSquaredError(), pred, random_matrix(3, 4, rng))
    loss_check(pn.MeanSquaredError(), pred, [0, 3, 1])  # integer labels become one-hot
    loss_check(pn.MeanSquaredError(), random_matrix(4, 1, rng), [[0.5], [1.0], [-2.0], [0.0]])


def test_bce_gradients_probabilities():
    rng = random.Random(21)
    pred = random_matrix(3, 4, rng, 0.05, 0.95)
    loss_check(pn.BinaryCrossEntropy(), pred, [[rng.choice((0.0, 1.0)) for _ in range(4)] for _ in range(3)])
    loss_check(pn.BinaryCrossEntropy(), pred, random_matrix(3, 4, rng, 0.0, 1.0))  # soft targets
    loss_check(pn.BinaryCrossEntropy(), random_matrix(4, 1, rng, 0.05, 0.95), [0, 1, 1, 0])


def test_bce_gradients_from_logits():
    rng = random.Random(22)
    z = random_matrix(3, 4, rng, -4.0, 4.0)
    target = random_matrix(3, 4, rng, 0.0, 1.0)
    loss_check(pn.BinaryCrossEntropy(from_logits=True), z, target)
    loss_check(pn.BinaryCrossEntropy(), z, target, use_logits_api=True)
    loss_check(pn.BinaryCrossEntropy(from_logits=True), random_matrix(4, 1, rng, -3, 3), [1, 0, 0, 1])


def test_cross_entropy_gradients_probabilities():
    rng = random.Random(23)
    pred = probabilities(4, 3, rng)
    labels = [0, 2, 1, 2]
    loss_check(pn.CrossEntropy(), pred, labels)
    loss_check(pn.CrossEntropy(), pred, one_hot(labels, 3))
    loss_check(pn.CrossEntropy(), pred, Matrix(one_hot(labels, 3)))
    loss_check(pn.CrossEntropy(), pred, soft_labels(4, 3, rng))


def test_cross_entropy_gradients_from_logits():
    rng = random.Random(24)
    z = random_matrix(4, 5, rng, -3.0, 3.0)
    labels = [4, 0, 2, 2]
    for target in (labels, one_hot(labels, 5), soft_labels(4, 5, rng)):
        loss_check(pn.CrossEntropy(from_logits=True), z, target)
        loss_check(pn.CrossEntropy(), z, target, use_logits_api=True)


def test_cross_entropy_from_logits_values_agree_with_probability_form():
    rng = random.Random(25)
    z = random_matrix(3, 4, rng, -2, 2)
    p = pn.Softmax()
    p.build((4,), rng)
    probs = p.forward(z)
    for target in ([1, 3, 0], soft_labels(3, 4, rng)):
        assert pn.CrossEntropy(from_logits=True).forward(z, target) == pytest.approx(
            pn.CrossEntropy().forward(probs, target), rel=1e-13
        )


def test_cross_entropy_from_logits_unnormalised_soft_targets():
    """Target rows that do not sum to 1 (multi-label, smoothed, a zero row): the
    loss value accounts for sum(y) (``logsumexp * sum(y) - y.z``) but the gradient
    is always ``p - y``, which is only right when sum(y) = 1. Either reject such
    targets with a ValueError or return the true gradient ``sum(y) * p - y``."""
    z = Matrix([[0.3, -0.2, 0.5], [1.0, 0.0, -1.0]])
    y = [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]
    loss = pn.CrossEntropy(from_logits=True)
    try:
        loss.forward(z, y)
    except ValueError:
        return
    loss_check(loss, z, y)


# ------------------------------------------------------ models through gradcheck


def model_loss_checks(model, x, y, loss, fused_expected):
    """pn.gradcheck on the model, and an independent check that computes the
    loss from ``model.forward`` (probabilities) with code written here."""
    loss.forward(model.forward(x), y)  # the loss takes the logits the Softmax / Sigmoid output keeps
    assert isinstance(loss.backward(), ProbabilityGradient) is fused_expected
    result = pn.gradcheck(model, x, y=y, loss=loss, eps=EPS, rtol=RTOL)
    assert result.ok, result
    assert set(result.rel_error) == {n for n, _ in model.named_parameters()} | {"input"}

    def value():
        return reference_loss(model.forward(x), y, loss)

    model.zero_grad()
    v, _, gx = model._loss_and_grad(x, y, loss, False, input_grad=True)
    assert v == pytest.approx(value(), rel=1e-12)
    analytic = {n: list(p.grad.data) for n, p in model.named_parameters()}
    for name, p in model.named_parameters():
        assert_gradients_close(analytic[name], numeric_gradient(value, p.data), name)
    assert_gradients_close(list(gx.data), numeric_gradient(value, x.data), "input")

    # the public manual path (forward, loss, backward) agrees with the fused one
    model.zero_grad()
    out = model.forward(x)
    loss.forward(out, y)
    gx2 = model.backward(loss.backward())
    assert gx2.allclose(gx, rtol=1e-9, atol=1e-15)
    for name, p in model.named_parameters():
        assert p.grad.allclose(Matrix.from_flat(analytic[name], p.rows, p.cols), rtol=1e-9, atol=1e-15), name
    model.zero_grad()


def reference_loss(out, y, loss):
    """The mean loss of predictions ``out`` (probabilities), written independently."""
    n, c = out.rows, out.cols
    p = out.tolist()
    if isinstance(y, list) and all(isinstance(t, int) for t in y):
        y = [[float(t)] for t in y] if c == 1 else one_hot(y, c)
    if isinstance(loss, pn.CrossEntropy):
        return -math.fsum(t * math.log(q) for pr, yr in zip(p, y) for q, t in zip(pr, yr) if t) / n
    if isinstance(loss, pn.BinaryCrossEntropy):
        return -math.fsum(
            t * math.log(q) + (1 - t) * math.log(1 - q) for pr, yr in zip(p, y) for q, t in zip(pr, yr)
        ) / (n * c)
    return math.fsum((q - t) ** 2 for pr, yr in zip(p, y) for q, t in zip(pr, yr)) / (n * c)


def small_cnn(head, seed=0):
    return pn.Sequential(
        [
            pn.Conv2D(2, 3),
            pn.ReLU(),
            pn.MaxPool2D(2),
            pn.Conv2D(3, (3, 2), padding=1),
            pn.ReLU(),
            pn.MaxPool2D(2, stride=1),
            pn.Flatten(),
        ]
        + head,
        input_shape=(1, 9, 8),
        seed=seed,
    )


def cnn_input(rng, n=2):
    return random_matrix(n, 72, rng, 0.0, 1.0)


def test_cnn_softmax_cross_entropy_fused():
    rng = random.Random(30)
    model = small_cnn([pn.Dense(3), pn.Softmax()], seed=1)
    model_loss_checks(model, cnn_input(rng), [2, 0], pn.CrossEntropy(), fused_expected=True)


def test_cnn_softmax_cross_entropy_one_hot_targets():
    rng = random.Random(31)
    model = small_cnn([pn.Dense(3), pn.Softmax()], seed=2)
    model_loss_checks(model, cnn_input(rng), one_hot([1, 2], 3), pn.CrossEntropy(), fused_expected=True)


def test_cnn_sigmoid_binary_cross_entropy_fused():
    rng = random.Random(32)
    model = small_cnn([pn.Dense(1), pn.Sigmoid()], seed=3)
    model_loss_checks(model, cnn_input(rng), [1, 0], pn.BinaryCrossEntropy(), fused_expected=True)
    multi = small_cnn([pn.Dense(2), pn.Sigmoid()], seed=4)
    model_loss_checks(multi, cnn_input(rng), [[1.0, 0.0], [0.3, 1.0]], pn.BinaryCrossEntropy(), fused_expected=True)


def test_unfused_losses_through_models():
    rng = random.Random(33)
    x = random_matrix(3, 4, rng)
    # BCE on softmax outputs and CE on sigmoid outputs are legitimate, and not fused
    model = pn.Sequential([pn.Dense(3), pn.Softmax()], input_shape=(4,), seed=5)
    model_loss_checks(model, x, [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], pn.BinaryCrossEntropy(), False)
    model = pn.Sequential([pn.Dense(3), pn.Sigmoid()], input_shape=(4,), seed=6)
    model_loss_checks(model, x, [0, 2, 1], pn.CrossEntropy(), False)
    model = pn.Sequential([pn.Dense(3), pn.Tanh(), pn.Dense(2)], input_shape=(4,), seed=7)
    model_loss_checks(model, x, [[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]], pn.MeanSquaredError(), False)


def test_models_with_from_logits_losses():
    rng = random.Random(34)
    x = random_matrix(3, 4, rng)
    model = pn.Sequential([pn.Dense(3)], input_shape=(4,), seed=8)
    result = pn.gradcheck(model, x, y=[0, 2, 1], loss=pn.CrossEntropy(from_logits=True))
    assert result.ok, result
    model = pn.Sequential([pn.Dense(2)], input_shape=(4,), seed=9)
    result = pn.gradcheck(model, x, y=[[1, 0], [0, 1], [1, 1]], loss=pn.BinaryCrossEntropy(from_logits=True))
    assert result.ok, result


def test_gradcheck_of_model_with_dropout_in_training_mode():
    """gradcheck's docstring: with training=True "a layer with its own rng (Dropout)
    replays the same random draws". That holds for a single layer but not for a
    Sequential: every forward draws a new mask, so the check fails on a correct model."""
    rng = random.Random(35)
    model = pn.Sequential([pn.Dense(4), pn.Dropout(0.5), pn.Dense(2)], input_shape=(3,), seed=1)
    x = random_matrix(2, 3, rng)
    result = pn.gradcheck(model, x, y=[[0.1, 0.2], [0.3, 0.4]], loss=pn.MeanSquaredError(), training=True)
    assert result.ok, result


# ------------------------------------------ Softmax + CrossEntropy, huge logits


def test_cross_entropy_from_logits_huge_logits_exact():
    z = Matrix([[1024.0, -1024.0, 0.0], [1000.0, 1000.0, -1000.0]])
    loss = pn.CrossEntropy(from_logits=True)
    value = loss.forward(z, [1, 2])
    assert value == pytest.approx((2048.0 + 2000.0 + math.log(2.0)) / 2, rel=1e-15)
    # p = [1, 0, 0] and [0.5, 0.5, 0] exactly, so (p - y) / N is exact in floats
    assert loss.backward().tolist() == [[0.5, -0.5, 0.0], [0.25, 0.25, -0.5]]
    value = loss.forward(z, one_hot([1, 2], 3))
    assert math.isfinite(value)
    assert loss.backward().tolist() == [[0.5, -0.5, 0.0], [0.25, 0.25, -0.5]]


def test_bce_from_logits_huge_logits_exact():
    loss = pn.BinaryCrossEntropy(from_logits=True)
    z = Matrix([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    assert loss.forward(z, [0, 1, 1, 0]) == pytest.approx(500.0, rel=1e-15)
    assert loss.backward().tolist() == [[0.25], [-0.25], [0.0], [0.0]]


def huge_logit_model():
    """Dense(3, no bias) with weight 1024 * I before a Softmax: the logits are 1024 * x."""
    model = pn.Sequential([pn.Dense(3, use_bias=False), pn.Softmax()], input_shape=(3,), seed=0)
    model.load_state_dict({"0.weight": [[1024.0, 0.0, 0.0], [0.0, 1024.0, 0.0], [0.0, 0.0, 1024.0]]})
    return model


def test_softmax_cross_entropy_fused_gradient_is_p_minus_y_for_huge_logits():
    model = huge_logit_model()
    x = Matrix([[1.0, -1.0, 0.0], [1.0, 1.0, -1.0]])  # logits (1024, -1024, 0), (1024, 1024, -1024)
    labels = [1, 2]  # confidently wrong: p_true underflows to 0
    model.zero_grad()
    value, out, gx = model._loss_and_grad(x, labels, pn.CrossEntropy(), False, input_grad=True)
    assert out.logits.tolist() == [[1024.0, -1024.0, 0.0], [1024.0, 1024.0, -1024.0]]
    assert out.tolist() == [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    assert value == pytest.approx((2048.0 + 2048.0 + math.log(2.0)) / 2, rel=1e-15)
    d_logits = [[0.5, -0.5, 0.0], [0.25, 0.25, -0.5]]  # (p - y) / N, exact
    assert gx.tolist() == [[1024.0 * v for v in row] for row in d_logits]  # dX = dZ W, W = 1024 I
    expected_dw = [[sum(d_logits[n][u] * x[n, d] for n in range(2)) for d in range(3)] for u in range(3)]
    assert model.layers[0].weight.grad.tolist() == expected_dw  # dW = dZ^T X
    # the same through gradcheck's public entry point: a finite, passing check
    assert pn.gradcheck(model, x, y=labels, loss=pn.CrossEntropy(), eps=1e-6, rtol=1e-6).ok


def test_softmax_cross_entropy_huge_logits_train_on_batch():
    model = huge_logit_model()
    x = Matrix([[1.0, -1.0, 0.0], [1.0, 1.0, -1.0]])
    labels = [1, 2]
    before = model.state_dict()["0.weight"]
    loss_before = model.train_on_batch(x, labels, loss=pn.CrossEntropy(), optimizer=pn.SGD(0.5))
    assert math.isfinite(loss_before) and loss_before > 1000
    w = model.state_dict()["0.weight"]
    assert w.is_finite()
    assert w != before
    # the step is exactly -lr * dW with dW = dZ^T X
    d_logits = [[0.5, -0.5, 0.0], [0.25, 0.25, -0.5]]
    for u in range(3):
        for d in range(3):
            dw = sum(d_logits[n][u] * x[n, d] for n in range(2))
            assert w[u, d] == pytest.approx(before[u, d] - 0.5 * dw, rel=1e-15, abs=1e-15)
    # the true classes' logits went up, the wrongly predicted ones went down
    z_before = x @ before.T
    z_after = x @ w.T
    assert z_after[0, 1] > z_before[0, 1] and z_after[0, 0] < z_before[0, 0]
    assert z_after[1, 2] > z_before[1, 2] and z_after[1, 0] < z_before[1, 0]
    assert model.evaluate(x, labels, loss=pn.CrossEntropy())["loss"] < loss_before


def test_softmax_cross_entropy_unfused_path_stays_finite_for_huge_logits():
    """model.forward + CrossEntropy on probabilities + model.backward is the unfused path:
    p_true underflows to 0, the loss is clamped, but nothing becomes NaN or infinite."""
    model = huge_logit_model()
    x = Matrix([[1.0, -1.0, 0.0], [1.0, 1.0, -1.0]])
    probs = model.forward(x, training=True)
    assert probs.tolist()[0] == [1.0, 0.0, 0.0]
    loss = pn.CrossEntropy()
    assert math.isfinite(loss.forward(probs, [1, 2]))
    model.zero_grad()
    gx = model.backward(loss.backward())
    assert gx.is_finite()
    assert model.layers[0].weight.grad.is_finite()


# ------------------------- the training path equals the layer-by-layer path


@st.composite
def conv_relu_pool_models(draw):
    """Conv2D-ReLU-MaxPool2D (which fit/evaluate/predict may run as one fused step)
    with strides, padding, overlapping or gapped pools, and integer-valued data
    (exact sums, frequent ties in the pool windows and at the ReLU's zero)."""
    c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    same = draw(st.booleans())
    stride = 1 if same else draw(st.sampled_from([1, 2, (1, 2)]))
    padding = "same" if same else draw(st.sampled_from([0, 1, (1, 0)]))
    h, w = draw(st.integers(3, 7)), draw(st.integers(3, 7))
    conv = pn.Conv2D(f, (kh, kw), stride=stride, padding=padding, use_bias=draw(st.booleans()))
    try:
        _, oh, ow = conv.build((c, h, w), random.Random(0))
    except ValueError:
        oh = ow = 0
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pool_stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2)]))
    assume(oh >= ph and ow >= pw)
    layers = [conv, pn.ReLU(), pn.MaxPool2D((ph, pw), stride=pool_stride), pn.Flatten(), pn.Dense(3), pn.Softmax()]
    model = pn.Sequential(layers, input_shape=(c, h, w), seed=0)
    integer = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return model, integer, seed


@settings(max_examples=30, deadline=None)
@given(conv_relu_pool_models())
def test_training_path_equals_layer_by_layer_path(case):
    model, integer, seed = case
    rng = random.Random(seed)

    def value():
        return float(rng.randint(-2, 2)) if integer else rng.uniform(-1.0, 1.0)

    for _, p in model.named_parameters():
        p.assign([value() for _ in p.data])
    n = rng.randint(1, 3)
    size = model.in_features
    x = Matrix.from_flat([value() if rng.random() < 0.6 else 0.0 for _ in range(n * size)], n, size)
    labels = [rng.randrange(3) for _ in range(n)]

    layer_by_layer = model.forward(x)
    loss = pn.CrossEntropy()
    model.zero_grad()
    manual_value = loss.forward(layer_by_layer, labels)
    manual_gx = model.backward(loss.backward())
    manual = {name: p.grad.copy() for name, p in model.named_parameters()}
    assert model.predict(x, batch_size=2).allclose(layer_by_layer, rtol=1e-12, atol=1e-15)
    model.zero_grad()
    value_, _, gx = model._loss_and_grad(x, labels, pn.CrossEntropy(), True, input_grad=True)
    assert value_ == pytest.approx(manual_value, rel=1e-12, abs=1e-12)
    assert gx.allclose(manual_gx, rtol=1e-10, atol=1e-12)
    for name, p in model.named_parameters():
        assert p.grad.allclose(manual[name], rtol=1e-10, atol=1e-12), name
    result = model.evaluate(x, labels, batch_size=2)
    assert result["loss"] == pytest.approx(manual_value, rel=1e-12, abs=1e-12)


def test_training_path_with_a_single_pool_window():
    """One sample whose pool has one window: a single conv output per window tap.
    (operator.itemgetter with one index returns a bare value, not a tuple.)"""
    model = pn.Sequential(
        [pn.Conv2D(1, 1), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 3, 3),
        seed=0,
    )
    x = [[0.5, -0.2, 0.1, 0.3, 0.0, 0.7, -0.4, 0.2, 0.9]]
    expected = model.forward(x)
    assert model.predict(x).allclose(expected, rtol=1e-12)
    assert model.evaluate(x, [1])["loss"] == pytest.approx(-math.log(expected[0, 1]), rel=1e-12)
    assert math.isfinite(model.train_on_batch(x, [1], optimizer=pn.SGD(0.1)))


def test_dense_after_a_relu_is_gated_in_the_training_path():
    """fit/train_on_batch run a Dense fed by a ReLU (or by a fused conv block) as a
    GatedDense, whose input gradient skips the entries the ReLU zeroes; the
    gradients reaching every parameter are still those of the layer-by-layer path."""
    from purenet.layers import fused

    model = pn.Sequential(
        [pn.Conv2D(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(6), pn.ReLU(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 8, 8),
        seed=1,
    )
    kinds = [type(s).__name__ for s in model._steps]
    assert kinds == ["ConvReLUPool", "Flatten", "GatedDense", "ReLU", "GatedDense", "Softmax"]
    assert not fused.GatedDense.matches([], model.layers[4])  # nothing before it: not gated
    rng = random.Random(2)
    x = Matrix.from_flat([rng.random() if rng.random() < 0.5 else 0.0 for _ in range(3 * 64)], 3, 64)
    assert_fused_gradients_are_the_layers(model, x, [0, 2, 1], input_grad=True)


def assert_fused_gradients_are_the_layers(model, x, labels, input_grad):
    """The fused training step's gradients (and input gradient, if asked) equal the layer-by-layer path's."""
    loss = pn.CrossEntropy()
    model.zero_grad()
    loss.forward(model.forward(x), labels)
    gx_manual = model.backward(loss.backward())
    manual = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    _, _, gx = model._loss_and_grad(x, labels, pn.CrossEntropy(), True, input_grad=input_grad)
    if input_grad:
        assert gx.allclose(gx_manual, rtol=1e-10, atol=1e-12)
    for name, p in model.named_parameters():
        assert p.grad.allclose(manual[name], rtol=1e-10, atol=1e-12), name


@pytest.mark.parametrize("biases", [[0.2, -0.1, 0.05, -0.3], [-0.2, 0.1, -0.05, -0.3], [-0.2, -0.1, -0.05, 0.0]])
@pytest.mark.parametrize("pixels", [False, True])
@pytest.mark.parametrize("input_grad", [False, True])
def test_blank_windows_gradients_deferred_to_the_first_conv_block(input_grad, pixels, biases):
    """A GatedDense right after the first fused conv block computes only the gradients
    the block reads (its windows with ink that passed the ReLU) and hands the block the
    blank windows' share of the bias gradient (the whole input gradient is filled in
    when one is asked for): the gradients are still those of the layer-by-layer path,
    with positive conv biases (blank windows pass the ReLU) and negative ones (they do
    not; with one or none positive, the share is computed differently or not at all),
    and with 8-bit images (byte / 255: the block computes on integers)."""
    from purenet.layers import fused

    model = pn.Sequential(
        [pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 14, 14),
        seed=3,
    )
    assert isinstance(model._steps[2], fused.GatedDense) and model._steps[2].block is model._steps[0]
    model.layers[0].bias.assign(biases)
    rng = random.Random(4)
    ink = [(i, j) for i in range(5, 9) for j in range(4, 10)]  # blank borders: blank windows in every sample
    rows = []
    for _ in range(4):
        image = [0.0] * 196
        for i, j in ink:
            value = rng.randrange(1, 256) / 255 if pixels else rng.random()
            image[i * 14 + j] = value if rng.random() < 0.6 else 0.0
        rows.append(image)
    assert_fused_gradients_are_the_layers(model, Matrix(rows), [0, 2, 1, 2], input_grad)


def test_the_dense_weight_gradient_from_the_rows_of_several_shards():
    """Data-parallel training hands a GatedDense's rows (input, output gradient, ink
    flags) to ``on_rows`` instead of computing its weight gradient; ``weight_grad`` of
    every shard's rows, concatenated, gives the whole batch's dW. Its three kinds of
    columns all occur: windows blank in every sample (each filter's ``relu(b)`` times dY's
    column sums: positive and negative conv biases), windows with ink that the ReLU zeroed
    in every sample (zeros), and the others (dot products). The PyPy backend keeps no ink
    flags: it refuses."""
    from purenet import kernels

    model = pn.Sequential(
        [pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 14, 14),
        seed=5,
    )
    model.layers[0].bias.assign([0.2, -0.1, 0.05, -0.3])
    gated, weight = model._steps[2], model.layers[4].weight
    rng = random.Random(6)
    rows = [[rng.randrange(1, 256) / 255 if 4 < i % 14 < 10 and 4 < i // 14 < 10 and rng.random() < 0.6 else 0.0
             for i in range(196)] for _ in range(5)]
    labels = [0, 2, 1, 2, 0]
    model.zero_grad()
    model._loss_and_grad(Matrix(rows), labels, pn.CrossEntropy(), True)
    whole = {name: p.grad.copy() for name, p in model.named_parameters()}
    held = []
    gated.on_rows = lambda *shard: held.append(shard)
    try:
        model.zero_grad()
        if kernels.BACKEND != "cpython":
            with pytest.raises(RuntimeError, match="ink flags"):
                model._loss_and_grad(Matrix(rows), labels, pn.CrossEntropy(), True)
            return
        for lo, hi in ((0, 2), (2, 5)):
            model._loss_and_grad(Matrix(rows[lo:hi]), labels[lo:hi], pn.CrossEntropy(), True, grad_scale=(hi - lo) / 5)
    finally:
        gated.on_rows = None
    assert [len(x) for x, _, _ in held] == [2, 3] and not any(weight.grad.data)
    x_rows, g_rows, flags = (sum(part, []) for part in zip(*([list(p) for p in shard] for shard in held)))
    q = len(flags) // len(x_rows)
    inked = [any(flags[j::q]) for j in range(q)] * 4
    cols = list(zip(*x_rows))
    kinds = {"blank": inked.count(False), "zeroed": 0, "dots": 0}
    for col, ink in zip(cols, inked):
        if ink:
            kinds["dots" if any(col) else "zeroed"] += 1
    assert all(kinds.values()), kinds
    gated.weight_grad(x_rows, g_rows, flags)
    for name, p in model.named_parameters():
        assert p.grad.allclose(whole[name], rtol=1e-10, atol=1e-12), name
