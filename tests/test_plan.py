"""One execution plan for every entry point.

``forward``/``backward``, ``train_on_batch``, ``fit``, ``evaluate`` and
``predict`` run the steps made from the model's current ``layers``: changing
the list is reflected (or refused), a subclass of a fused layer runs its own
code, backward refuses to run out of order, and the input gradient that
``backward`` returns unevaluated has the values an eager computation gives.
"""

import random

import pytest

import purenet as pn
from purenet import Matrix
from purenet.architectures import build
from purenet.layers import fused
from purenet.model import InputGradient


def digits(n=8, start=0):
    x, y = pn.datasets.load_bundled("train")
    return x[start : start + n].to_matrix(), [int(v) for v in y[start : start + n]]


def manual_step(model, loss, optimizer, x, y):
    out = model.forward(x, training=True)
    value = loss.forward(out, y)
    model.zero_grad()
    model.backward(loss.backward())
    optimizer.step(model.parameters())
    return value


def kinds(model):
    return [type(s).__name__ for s in model._steps]


@pytest.mark.parametrize("name", ["cnn-small", "mlp"])
def test_manual_loop_is_train_on_batch(name):
    """The manual loop and train_on_batch run the same steps: bit-identical training."""
    a, b = build(name, seed=3), build(name, seed=3)
    opt_a, opt_b = pn.Adam(1e-3), pn.Adam(1e-3)
    loss_a, loss_b = pn.CrossEntropy(), pn.CrossEntropy()
    for k in range(3):
        x, y = digits(8, 8 * k)
        assert manual_step(a, loss_a, opt_a, x, y) == b.train_on_batch(x, y, loss=loss_b, optimizer=opt_b)
    for (name_a, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert pa.data == pb.data, name_a


def test_forward_predict_and_evaluate_use_the_current_layers():
    model = build("cnn-small", seed=0)
    x, y = digits(6)
    assert kinds(model)[0] == "ConvReLUPool"
    model.layers[1] = pn.Tanh()  # no longer a Conv2D-ReLU-MaxPool2D run
    assert kinds(model) == ["Conv2D", "Tanh", "MaxPool2D", "Flatten", "Dense", "Softmax"]
    layer_by_layer = x
    for layer in model.layers:
        layer_by_layer = layer.forward(layer_by_layer)
    assert model.forward(x).data == layer_by_layer.data
    assert model.predict(x).data == layer_by_layer.data
    loss = pn.CrossEntropy()
    assert model.evaluate(x, y, batch_size=6)["loss"] == loss.forward(model.forward(x), y)


def test_a_layer_added_unbuilt_is_built_and_a_misfit_is_refused():
    model = pn.Sequential([pn.Dense(4), pn.ReLU(), pn.Dense(3), pn.Softmax()], input_shape=(5,), seed=0)
    x = Matrix([[0.1, 0.2, -0.3, 0.4, 0.5]])
    model.layers.insert(2, pn.Dense(6))
    model.layers.insert(3, pn.ReLU())
    with pytest.raises(ValueError, match=r"layer 4 \(Dense\) was built for samples of shape \(4,\) but receives \(6,\)"):
        model.predict(x)
    model.layers[4] = pn.Dense(2)
    assert model.predict(x).shape == (1, 2)
    assert model.output_shape == (2,)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    model.layers.append(model.layers[0])
    with pytest.raises(ValueError, match="appears twice"):
        model.forward(x)


def test_subclasses_are_not_fused():
    class MyConv(pn.Conv2D):
        calls = 0

        def backward(self, grad, input_grad=True):
            MyConv.calls += 1
            return pn.Conv2D.backward(self, grad, input_grad)

    model = pn.Sequential([MyConv(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
                          input_shape=(1, 8, 8), seed=0)
    assert kinds(model)[:3] == ["MyConv", "ReLU", "MaxPool2D"]
    x = Matrix.from_flat([random.Random(1).random() for _ in range(128)], 2, 64)
    model.train_on_batch(x, [0, 2])
    out = model.forward(x, training=True)
    loss = pn.CrossEntropy()
    loss.forward(out, [0, 2])
    model.backward(loss.backward())
    assert MyConv.calls == 2


def test_backward_out_of_order_fails_clearly():
    model = build("cnn-small", seed=0)
    x, y = digits(4)
    loss = pn.CrossEntropy()
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) first"):
        model.backward(Matrix.zeros(4, 10))
    out = model.forward(x, training=True)
    loss.forward(out, y)
    with pytest.raises(ValueError, match=r"shape \(4, 10\).*Received: \(3, 10\)"):
        model.backward(Matrix.zeros(3, 10))
    model.backward(loss.backward())
    with pytest.raises(RuntimeError, match=r"already ran for the last forward\(\)"):
        model.backward(loss.backward())
    out = model.forward(x, training=True)
    loss.forward(out, y)
    model.predict(x)  # replaces what the layers kept for backward
    with pytest.raises(RuntimeError, match=r"another pass .* ran since the last forward\(\)"):
        model.backward(loss.backward())
    out = model.forward(x, training=True)
    model.layers[-1] = pn.Softmax()
    with pytest.raises(RuntimeError, match=r"model.layers changed since the last forward\(\)"):
        model.backward(Matrix.zeros(4, 10))


@pytest.mark.parametrize("name", ["cnn-small", "mlp"])
def test_input_gradient_is_computed_when_read_with_the_eager_values(name):
    x, y = digits(8)
    eager = build(name, seed=2)
    _, _, expected = eager._loss_and_grad(x, y, pn.CrossEntropy(), True, input_grad=True)
    model = build(name, seed=2)
    loss, opt = pn.CrossEntropy(), pn.SGD(0.5)
    out = model.forward(x, training=True)
    loss.forward(out, y)
    model.zero_grad()
    gx = model.backward(loss.backward())
    assert isinstance(gx, InputGradient) and gx.shape == (8, 784)
    for (n, p), (_, q) in zip(model.named_parameters(), eager.named_parameters()):
        assert p.grad.data == q.grad.data, n
    opt.step(model.parameters())  # changes the weights the input gradient depends on
    assert gx.data == expected.data
    assert any(gx.data)


def test_input_gradient_read_after_the_next_forward():
    x, y = digits(4)
    loss = pn.CrossEntropy()
    # a first step with weights: its values are kept, so a later forward changes nothing
    cnn = build("cnn-small", seed=0)
    loss.forward(cnn.forward(x, training=True), y)
    gx = cnn.backward(loss.backward())
    _, _, expected = build("cnn-small", seed=0)._loss_and_grad(x, y, loss, True, input_grad=True)
    cnn.forward(digits(4, 4)[0], training=True)
    assert gx.data == expected.data
    # a Flatten before the first weights: reading after the next forward is refused, not stale
    mlp = build("mlp", seed=0)
    loss.forward(mlp.forward(x, training=True), y)
    gx = mlp.backward(loss.backward())
    mlp.predict(x)
    with pytest.raises(RuntimeError, match=r"read it before the next forward\(\)"):
        gx.data


def test_input_grad_false_and_eager_paths_agree_with_the_layers():
    """The deferred Conv2D / Dense input gradients equal their backward's."""
    rng = random.Random(4)
    model = pn.Sequential([pn.Conv2D(2, 3, padding=1), pn.Tanh(), pn.Flatten(), pn.Dense(3)], input_shape=(1, 5, 5), seed=0)
    x = Matrix.from_flat([rng.uniform(-1, 1) for _ in range(50)], 2, 25)
    grad = Matrix.from_flat([rng.uniform(-1, 1) for _ in range(6)], 2, 3)
    model.forward(x)
    gx = model.backward(grad)
    expected = grad
    for layer in reversed(model.layers):  # no fused step here: the layers keep this forward's values
        expected = layer.backward(expected)
    assert gx.data == expected.data
    model.forward(x)
    assert model.backward(grad, input_grad=False) is None


def test_plan_is_remade_only_when_the_layers_change():
    model = build("cnn-small", seed=0)
    steps = model._steps
    assert model._steps is steps
    model.layers = list(model.layers)  # the same layers in a new list: the same plan
    assert model._steps is steps
    model.layers[0] = pn.Conv2D(8, 3)
    assert model._steps is not steps
    assert isinstance(model._steps[0], fused.ConvReLUPool) and model._steps[0].conv is model.layers[0]
