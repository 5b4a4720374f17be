"""Softmax + CrossEntropy (and Sigmoid + BinaryCrossEntropy) are exact on every
way of training, checked against PyTorch float64 on the logits.

The logits here are about 1000 in magnitude and the labels confidently wrong:
the true class's probability underflows to 0, where the chain rule through
the probabilities (``-y / p`` times the Softmax Jacobian) gives nothing, and
only a loss taken from the logits gives ``p - y``. Every entry point is
checked: the manual loop (``forward``, ``loss.forward``, ``backward``),
``train_on_batch``, ``fit``, ``evaluate`` and the path ``gradcheck`` runs.
The model starts with a Conv2D-ReLU-MaxPool2D run, so the fused steps are
the ones checked.

Skipped without torch, except under PURENET_REQUIRE_ORACLES=1.
"""

import random

import pytest

from conftest import require

torch = require("torch")

import purenet as pn  # noqa: E402
from purenet import Matrix  # noqa: E402
from purenet.layers.activations import Probabilities, ProbabilityGradient  # noqa: E402

F = torch.nn.functional
TOL = 1e-9
LR = 0.01


def make_model(head, outputs, x, seed):
    """Conv2D-ReLU-MaxPool2D, Flatten, Dense scaled so that its largest output on x is 2000, then the head."""
    model = pn.Sequential(
        [pn.Conv2D(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(outputs), head],
        input_shape=(1, 8, 8),
        seed=seed,
    )
    dense = model.layers[4]
    scale = 2000.0 / max(map(abs, model.forward(x).logits.data))
    dense.weight.assign([w * scale for w in dense.weight.data])
    return model


def make_input(kind, rng, n=4):
    if kind == "bytes":  # 8-bit images with blank background: the integer forward of the fused block
        data = [rng.randrange(256) / 255.0 if rng.random() < 0.4 else 0.0 for _ in range(n * 64)]
    else:
        data = [rng.uniform(-1.0, 1.0) for _ in range(n * 64)]
    return Matrix.from_flat(data, n, 64)


def torch_twin(model):
    """The same network in PyTorch float64, with the same weights."""
    conv, dense = model.layers[0], model.layers[4]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, conv.filters, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(dense.input_shape[0], dense.units),
    ).double()
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, p in model.named_parameters():
            params[name].copy_(torch.tensor(p.data, dtype=torch.float64).reshape(p.tensor_shape))
    return net


def torch_reference(model, x, labels, binary):
    """(loss, {name: gradient}) from PyTorch, the loss taken from the logits."""
    net = torch_twin(model)
    logits = net(torch.tensor(x.data, dtype=torch.float64).reshape(x.rows, 1, 8, 8))
    assert logits.abs().max().item() > 1000.0  # the regime where probabilities underflow
    if binary:
        target = torch.tensor([[float(t)] for t in labels], dtype=torch.float64)
        value = F.binary_cross_entropy_with_logits(logits, target)
    else:
        value = F.cross_entropy(logits, torch.tensor(labels))
    value.backward()
    return value.item(), {name: p.grad.flatten().tolist() for name, p in net.named_parameters()}, logits.detach()


def wrong_labels(model, x, binary):
    """The least likely class of each sample (confidently wrong targets)."""
    out = model.predict(x)
    if binary:
        return [int(v < 0.5) for v in out.data]
    return [row.index(min(row)) for row in out.tolist()]


def assert_close(actual, expected, what, tol=TOL):
    assert len(actual) == len(expected), what
    worst = max(abs(a - b) for a, b in zip(actual, expected))
    assert worst <= tol, f"{what}: max difference {worst:.3e} > {tol}"


CASES = [(kind, binary) for kind in ("bytes", "floats") for binary in (False, True)]


def setup(kind, binary, seed):
    rng = random.Random(seed)
    x = make_input(kind, rng)
    model = make_model(pn.Sigmoid() if binary else pn.Softmax(), 1 if binary else 3, x, seed)
    labels = wrong_labels(model, x, binary)
    loss = pn.BinaryCrossEntropy() if binary else pn.CrossEntropy()
    return model, x, labels, loss


@pytest.mark.parametrize("kind,binary", CASES)
def test_manual_loop_matches_torch(kind, binary):
    model, x, labels, loss = setup(kind, binary, 1)
    value_t, grads_t, logits_t = torch_reference(model, x, labels, binary)
    out = model.forward(x, training=True)
    assert isinstance(out, Probabilities) and out.activation == ("sigmoid" if binary else "softmax")
    assert_close(out.logits.data, logits_t.flatten().tolist(), "logits kept on the output", tol=1e-9 * 1000)
    value = loss.forward(out, labels)
    assert value == pytest.approx(value_t, rel=TOL, abs=TOL)
    grad = loss.backward()
    assert isinstance(grad, ProbabilityGradient)
    # d loss / d logits is exactly (p - y) / N, even where p_true underflowed to 0
    p = out.data
    classes = out.cols
    onehot = [float(labels[i // classes] == i % classes) if classes > 1 else float(labels[i]) for i in range(len(p))]
    # some sample's target has probability exactly 0: the chain rule through p gives nothing there
    assert any((1.0 - q if t == 0.0 else q) == 0.0 for q, t in zip(p, onehot) if classes == 1 or t == 1.0)
    assert grad.logits_grad.data == [(a - t) / len(labels) for a, t in zip(p, onehot)]
    assert any(g != 0.0 for g in grad.logits_grad.data)
    model.zero_grad()
    model.backward(grad)
    for name, param in model.named_parameters():
        assert_close(param.grad.data, grads_t[name], f"manual loop {name} gradient")
        assert any(param.grad.data), name


@pytest.mark.parametrize("kind,binary", CASES)
def test_train_on_batch_matches_torch(kind, binary):
    model, x, labels, loss = setup(kind, binary, 2)
    value_t, grads_t, _ = torch_reference(model, x, labels, binary)
    before = {name: list(p.data) for name, p in model.named_parameters()}
    value = model.train_on_batch(x, labels, loss=loss, optimizer=pn.SGD(LR))
    assert value == pytest.approx(value_t, rel=TOL, abs=TOL)
    for name, param in model.named_parameters():
        expected = [w - LR * g for w, g in zip(before[name], grads_t[name])]
        assert_close(param.data, expected, f"train_on_batch {name} after the step")


@pytest.mark.parametrize("kind,binary", CASES)
def test_fit_and_evaluate_match_torch(kind, binary):
    model, x, labels, loss = setup(kind, binary, 3)
    value_t, grads_t, _ = torch_reference(model, x, labels, binary)
    assert model.evaluate(x, labels, loss=loss)["loss"] == pytest.approx(value_t, rel=TOL, abs=TOL)
    before = {name: list(p.data) for name, p in model.named_parameters()}
    history = model.fit(x, labels, epochs=1, batch_size=x.rows, shuffle=False, loss=loss, optimizer=pn.SGD(LR))
    assert history["loss"][0] == pytest.approx(value_t, rel=TOL, abs=TOL)
    for name, param in model.named_parameters():
        expected = [w - LR * g for w, g in zip(before[name], grads_t[name])]
        assert_close(param.data, expected, f"fit {name} after the step")


@pytest.mark.parametrize("kind,binary", CASES)
def test_gradcheck_path_matches_torch(kind, binary):
    model, x, labels, loss = setup(kind, binary, 4)
    value_t, grads_t, _ = torch_reference(model, x, labels, binary)
    model.zero_grad()
    value, _, gx = model._loss_and_grad(x, labels, loss, False, input_grad=True)  # what pn.gradcheck runs
    assert value == pytest.approx(value_t, rel=TOL, abs=TOL)
    for name, param in model.named_parameters():
        assert_close(param.grad.data, grads_t[name], f"gradcheck path {name} gradient")
    # the input gradient of the manual loop (computed when read) is the same
    model.zero_grad()
    out = model.forward(x)
    loss.forward(out, labels)
    assert model.backward(loss.backward()).data == gx.data


def test_softmax_subclass_runs_its_own_code_everywhere():
    """A Softmax subclass with its own forward is not taken for a Softmax: every
    path computes the loss of what it returns."""

    class Tempered(pn.Softmax):
        def forward(self, x, training=False):
            return pn.Softmax.forward(self, x * 0.5, training)  # keeps x * 0.5 as its logits

        def backward(self, grad, input_grad=True):
            g = pn.Softmax.backward(self, grad, input_grad)
            return None if g is None else g * 0.5

    rng = random.Random(5)
    model = pn.Sequential([pn.Dense(3), Tempered()], input_shape=(4,), seed=0)
    x = Matrix([[rng.uniform(-1, 1) for _ in range(4)] for _ in range(3)])
    labels = [0, 2, 1]
    loss = pn.CrossEntropy()
    manual = loss.forward(model.forward(x), labels)
    dense = model.layers[0]
    logits = torch.tensor((dense.forward(x) * 0.5).data, dtype=torch.float64).reshape(3, 3)
    assert manual == pytest.approx(F.cross_entropy(logits, torch.tensor(labels)).item(), rel=TOL)
    assert model.evaluate(x, labels, loss=loss)["loss"] == pytest.approx(manual, rel=1e-15)
    assert pn.gradcheck(model, x, y=labels, loss=loss).ok


def test_manual_gradient_accumulation_with_a_scaled_loss_gradient():
    """Two halves of the batch, each loss gradient scaled by 1/2 (or divided by 2),
    accumulate to PyTorch's gradient of the whole batch's mean loss."""
    model, x, labels, loss = setup("floats", False, 6)
    _, grads_t, _ = torch_reference(model, x, labels, False)
    model.zero_grad()
    for rows, scale in ((range(0, 2), lambda g: g * 0.5), (range(2, 4), lambda g: g / 2)):
        half = Matrix([x.data[r * 64 : (r + 1) * 64] for r in rows])
        loss.forward(model.forward(half, training=True), [labels[r] for r in rows])
        grad = scale(loss.backward())
        assert isinstance(grad, ProbabilityGradient)
        model.backward(grad)
    for name, param in model.named_parameters():
        assert_close(param.grad.data, grads_t[name], f"accumulated {name} gradient")
