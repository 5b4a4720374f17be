"""PyTorch as the oracle: the same network, the same weights, the same numbers.

Weights go purenet -> PyTorch through ``model.state_dict()`` reshaped by each
parameter's ``tensor_shape`` and ``nn.Sequential.load_state_dict``; and
PyTorch -> purenet through ``state_dict()`` converted with ``.tolist()``.
Forward outputs, losses, input gradients and parameter gradients must agree
within 1e-10 in float64, and so must several steps of SGD and Adam.

Skipped without torch, except under PURENET_REQUIRE_ORACLES=1.
"""

import random

import pytest

from conftest import require

torch = require("torch")

import purenet as pn  # noqa: E402
from purenet import Matrix  # noqa: E402
from purenet.layers.activations import ProbabilityGradient  # noqa: E402

nn = torch.nn
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
F = torch.nn.functional
TOL = 1e-10


def assert_close(actual, expected, tol=TOL, what=""):
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64).reshape(actual.shape)
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol, msg=lambda m: f"{what}: {m}")


def as_tensor(m, shape=None):
    t = torch.tensor(m.data, dtype=torch.float64)
    return t.reshape(shape if shape is not None else (m.rows, m.cols))


# ---------------------------------------------------------- model translation


def torch_layer(layer):
    """The PyTorch module equivalent to a built purenet layer."""
    if isinstance(layer, pn.Conv2D):
        c = layer.input_shape[0]
        padding = layer.padding if isinstance(layer.padding, str) else layer.padding
        return nn.Conv2d(c, layer.filters, layer.kernel_size, stride=layer.stride, padding=padding, bias=layer.use_bias)
    if isinstance(layer, pn.MaxPool2D):
        return nn.MaxPool2d(layer.pool_size, stride=layer.stride)
    if isinstance(layer, pn.Dense):
        return nn.Linear(layer.input_shape[0], layer.units, bias=layer.use_bias)
    if isinstance(layer, pn.Flatten):
        return nn.Flatten()
    if isinstance(layer, pn.Softmax):
        return nn.Softmax(dim=1)
    if isinstance(layer, pn.LogSoftmax):
        return nn.LogSoftmax(dim=1)
    if isinstance(layer, pn.Dropout):
        return nn.Dropout(layer.rate)
    return {pn.ReLU: nn.ReLU, pn.Sigmoid: nn.Sigmoid, pn.Tanh: nn.Tanh}[type(layer)]()


def to_torch(model):
    """An nn.Sequential with purenet's weights, loaded through state_dict names."""
    tmodel = nn.Sequential(*[torch_layer(l) for l in model.layers]).double()
    shapes = {name: p.tensor_shape for name, p in model.named_parameters()}
    state = {name: as_tensor(m, shapes[name]) for name, m in model.state_dict().items()}
    assert list(state) == list(tmodel.state_dict())  # the same names, in the same order
    tmodel.load_state_dict(state)
    tmodel.eval()
    return tmodel


def randomize(model, rng, scale=0.5):
    for _, p in model.named_parameters():
        p.assign([rng.uniform(-scale, scale) for _ in p.data])


def image_batch(rng, n, shape, sparsity=0.0):
    size = shape[0] * shape[1] * shape[2]
    data = [0.0 if rng.random() < sparsity else rng.uniform(-1.0, 1.0) for _ in range(n * size)]
    return Matrix.from_flat(data, n, size)


# ----------------------------------------------------------- random networks


HEADS = ["softmax_ce_labels", "softmax_ce_soft", "sigmoid_bce", "mse", "ce_logits", "bce_logits"]


def random_network(seed):
    """A random small CNN (conv [act] [pool] flatten dense [act] dense head) and its loss."""
    r = random.Random(seed)
    while True:
        c, h, w = r.randint(1, 3), r.randint(3, 9), r.randint(3, 9)
        kernel = r.choice([1, 2, 3, (2, 3), (3, 1), (1, 4), 4])
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        padding = r.choice([0, 1, 2, (1, 0), (0, 2), "same", "same"])
        stride = 1 if padding == "same" else r.choice([1, 2, 3, (1, 2), (2, 1)])
        conv = pn.Conv2D(r.randint(1, 4), kernel, stride=stride, padding=padding, use_bias=r.random() < 0.8)
        try:
            shape = conv.build((c, h, w), random.Random(0))
        except ValueError:
            continue
        break
    layers = [conv]
    act = r.choice([pn.ReLU, pn.Tanh, pn.Sigmoid, None])
    if act:
        layers.append(act())
    pool = r.choice([2, 3, (2, 1), (1, 2), (2, 3)])
    pool_stride = r.choice([None, 1, 2, (1, 2), 3])
    pool_layer = pn.MaxPool2D(pool, stride=pool_stride)
    try:
        pool_layer.build(shape, random.Random(0))
        layers.append(pool_layer)
    except ValueError:
        pass
    layers += [pn.Flatten(), pn.Dense(r.randint(2, 6), use_bias=r.random() < 0.8)]
    layers.append(r.choice([pn.ReLU, pn.Tanh, pn.Sigmoid])())
    head = HEADS[seed % len(HEADS)]
    outputs = r.randint(2, 4)
    layers.append(pn.Dense(outputs))
    if head.startswith("softmax"):
        layers.append(pn.Softmax())
    elif head == "sigmoid_bce":
        layers.append(pn.Sigmoid())
    model = pn.Sequential(layers, input_shape=(c, h, w), seed=seed)
    return model, head, outputs, r


def targets_for(head, n, outputs, r):
    """(purenet target, torch target, purenet loss, torch loss fn taking the logits/outputs)."""
    if head in ("softmax_ce_labels", "ce_logits"):
        labels = [r.randrange(outputs) for _ in range(n)]
        loss = pn.CrossEntropy(from_logits=head == "ce_logits")
        return labels, torch.tensor(labels), loss, F.cross_entropy
    if head == "softmax_ce_soft":
        rows = []
        for _ in range(n):
            v = [r.uniform(0.1, 1.0) for _ in range(outputs)]
            rows.append([a / sum(v) for a in v])
        return rows, torch.tensor(rows, dtype=torch.float64), pn.CrossEntropy(), F.cross_entropy
    if head in ("sigmoid_bce", "bce_logits"):
        rows = [[float(r.random() < 0.5) if r.random() < 0.5 else r.random() for _ in range(outputs)] for _ in range(n)]
        loss = pn.BinaryCrossEntropy(from_logits=head == "bce_logits")
        return rows, torch.tensor(rows, dtype=torch.float64), loss, F.binary_cross_entropy_with_logits
    rows = [[r.uniform(-1, 1) for _ in range(outputs)] for _ in range(n)]
    return rows, torch.tensor(rows, dtype=torch.float64), pn.MeanSquaredError(), F.mse_loss


@pytest.mark.parametrize("seed", range(24))
def test_random_network_forward_loss_and_gradients(seed):
    model, head, outputs, r = random_network(seed)
    randomize(model, r)
    tmodel = to_torch(model)
    n = r.randint(1, 4)
    x = image_batch(r, n, model.input_shape, sparsity=r.choice([0.0, 0.5, 0.9]))
    y, ty, loss, tloss = targets_for(head, n, outputs, r)

    tx = as_tensor(x, (n,) + model.input_shape).requires_grad_(True)
    tout = tmodel(tx)
    assert_close(model.forward(x), tout.detach(), what="forward")
    assert_close(model.predict(x), tout.detach(), what="predict")

    # the training path (fused Softmax/Sigmoid + loss where applicable)
    fused = head in ("softmax_ce_labels", "softmax_ce_soft", "sigmoid_bce")
    loss.forward(model.forward(x), y)  # the loss takes the logits the Softmax / Sigmoid output keeps
    assert isinstance(loss.backward(), ProbabilityGradient) is fused
    t_pre = tmodel[:-1](tx) if fused else tout  # PyTorch's losses take the logits
    t_value = tloss(t_pre, ty)
    t_value.backward()
    model.zero_grad()
    value, _, gx = model._loss_and_grad(x, y, loss, False, input_grad=True)
    assert value == pytest.approx(t_value.item(), rel=TOL, abs=TOL)
    assert_close(gx, tx.grad.reshape(n, -1), what="input gradient")
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, tparams[name].grad, what=f"{name} gradient")

    # the manual path: forward, loss, backward agrees too (moderate logits here)
    model.zero_grad()
    out = model.forward(x)
    assert loss.forward(out, y) == pytest.approx(t_value.item(), rel=1e-9)
    gx2 = model.backward(loss.backward())
    assert_close(gx2, tx.grad.reshape(n, -1), tol=1e-9, what="manual input gradient")
    assert model.evaluate(x, y, loss=loss)["loss"] == pytest.approx(t_value.item(), rel=TOL, abs=TOL)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: pn.Conv2D(3, 4, padding="same"), (2, 6, 7)),
        (lambda: pn.Conv2D(2, (2, 3), padding="same"), (3, 5, 4)),
        (lambda: pn.Conv2D(4, (3, 2), stride=(2, 3), padding=(2, 1)), (2, 9, 8)),
        (lambda: pn.Conv2D(2, 3, stride=2, padding=1, use_bias=False), (3, 7, 9)),
        (lambda: pn.Conv2D(2, 5, padding=3), (1, 4, 4)),  # padding wider than half the kernel
    ],
)
def test_conv2d_layer_parity(make, shape):
    rng = random.Random(1)
    model = pn.Sequential([make()], input_shape=shape, seed=0)
    randomize(model, rng)
    tmodel = to_torch(model)
    x = image_batch(rng, 3, shape)
    tx = as_tensor(x, (3,) + shape).requires_grad_(True)
    tout = tmodel(tx)
    assert model.layers[0].output_shape == tuple(tout.shape[1:])
    assert_close(model.forward(x), tout.detach().reshape(3, -1))
    g = Matrix.from_flat([rng.uniform(-1, 1) for _ in range(tout.numel())], 3, tout[0].numel())
    tout.backward(as_tensor(g, tout.shape))
    model.zero_grad()
    assert_close(model.backward(g), tx.grad.reshape(3, -1))
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, tparams[name].grad, what=name)


@pytest.mark.parametrize(
    "pool,stride,shape",
    [(3, 2, (2, 7, 9)), (2, 3, (2, 8, 7)), ((2, 3), (1, 2), (1, 5, 7)), ((3, 2), None, (2, 6, 5)), (2, 1, (1, 4, 4))],
)
def test_maxpool2d_parity_with_ties(pool, stride, shape):
    """Integer-valued inputs tie often: the winner must be PyTorch's (first maximum)."""
    rng = random.Random(2)
    model = pn.Sequential([pn.MaxPool2D(pool, stride=stride)], input_shape=shape, seed=0)
    tmodel = to_torch(model)
    size = shape[0] * shape[1] * shape[2]
    x = Matrix.from_flat([float(rng.randint(-2, 2)) for _ in range(2 * size)], 2, size)
    tx = as_tensor(x, (2,) + shape).requires_grad_(True)
    tout = tmodel(tx)
    assert_close(model.forward(x), tout.detach().reshape(2, -1))
    g = Matrix.from_flat([rng.uniform(-1, 1) for _ in range(tout.numel())], 2, tout[0].numel())
    tout.backward(as_tensor(g, tout.shape))
    assert_close(model.backward(g), tx.grad.reshape(2, -1))


def test_activations_and_softmax_parity():
    rng = random.Random(3)
    x = Matrix.from_flat([rng.uniform(-30, 30) for _ in range(4 * 7)], 4, 7)
    for layer in (pn.ReLU(), pn.Sigmoid(), pn.Tanh(), pn.Softmax(), pn.LogSoftmax()):
        model = pn.Sequential([layer], input_shape=(7,))
        tmodel = to_torch(model)
        tx = as_tensor(x).requires_grad_(True)
        tout = tmodel(tx)
        assert_close(model.forward(x), tout.detach(), what=type(layer).__name__)
        g = Matrix.from_flat([rng.uniform(-1, 1) for _ in range(28)], 4, 7)
        tout.backward(as_tensor(g))
        assert_close(model.backward(g), tx.grad, what=type(layer).__name__)


def test_losses_parity():
    rng = random.Random(4)
    z = Matrix.from_flat([rng.uniform(-5, 5) for _ in range(5 * 3)], 5, 3)
    tz = as_tensor(z)
    labels = [0, 2, 1, 1, 2]
    soft = [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5]]
    probs = torch.softmax(tz, dim=1)
    sig = torch.sigmoid(tz)
    cases = [
        (pn.CrossEntropy(from_logits=True), z, labels, lambda t: F.cross_entropy(t, torch.tensor(labels)), tz),
        (pn.CrossEntropy(from_logits=True), z, soft, lambda t: F.cross_entropy(t, torch.tensor(soft, dtype=torch.float64)), tz),
        (pn.CrossEntropy(), Matrix(probs.tolist()), labels, lambda t: F.nll_loss(torch.log(t), torch.tensor(labels)), probs),
        (pn.BinaryCrossEntropy(), Matrix(sig.tolist()), soft, lambda t: F.binary_cross_entropy(t, torch.tensor(soft, dtype=torch.float64)), sig),
        (pn.BinaryCrossEntropy(from_logits=True), z, soft, lambda t: F.binary_cross_entropy_with_logits(t, torch.tensor(soft, dtype=torch.float64)), tz),
        (pn.MeanSquaredError(), z, soft, lambda t: F.mse_loss(t, torch.tensor(soft, dtype=torch.float64)), tz),
        (pn.MeanSquaredError(), z, labels, lambda t: F.mse_loss(t, F.one_hot(torch.tensor(labels), 3).double()), tz),
    ]
    for loss, pred, target, tfn, tpred in cases:
        leaf = tpred.detach().clone().requires_grad_(True)
        tvalue = tfn(leaf)
        tvalue.backward()
        assert loss.forward(pred, target) == pytest.approx(tvalue.item(), rel=TOL, abs=TOL), repr(loss)
        assert_close(loss.backward(), leaf.grad, what=repr(loss))


# --------------------------------------------------------------- optimizers


def run_optimizer_pair(make_pn, make_torch, steps=6, seed=0):
    rng = random.Random(seed)
    shapes = [(3, 4), (1, 4), (2, 2)]
    params = [pn.Parameter.from_flat([rng.uniform(-1, 1) for _ in range(r * c)], r, c) for r, c in shapes]
    tparams = [torch.tensor(p.data, dtype=torch.float64).reshape(p.shape).requires_grad_(True) for p in params]
    opt, topt = make_pn(), make_torch(tparams)
    for _ in range(steps):
        for p, tp in zip(params, tparams):
            g = [rng.uniform(-1, 1) * 10 ** rng.randint(-3, 1) for _ in p.data]
            p.grad.data = list(g)
            tp.grad = torch.tensor(g, dtype=torch.float64).reshape(p.shape)
        opt.step(params)
        topt.step()
        for p, tp in zip(params, tparams):
            assert_close(p, tp.detach(), what=repr(opt))
    return params


@pytest.mark.parametrize(
    "make_pn,make_torch",
    [
        (lambda: pn.SGD(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
        (lambda: pn.SGD(0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
        (
            lambda: pn.SGD(0.05, momentum=0.8, weight_decay=0.01),
            lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, weight_decay=0.01),
        ),
        (lambda: pn.SGD(0.1, weight_decay=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.1)),
        (lambda: pn.Adam(1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
        (
            lambda: pn.Adam(3e-3, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.05),
            lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.05),
        ),
    ],
    ids=["sgd", "sgd-momentum", "sgd-momentum-wd", "sgd-wd", "adam", "adam-wd"],
)
def test_optimizer_steps_match_torch(make_pn, make_torch):
    run_optimizer_pair(make_pn, make_torch)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_training_steps_match_torch(opt_name):
    """train_on_batch (fused Softmax + CrossEntropy) vs a PyTorch loop on the same CNN."""
    rng = random.Random(7)
    model = pn.Sequential(
        [pn.Conv2D(3, 3, padding=1), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(4), pn.Softmax()],
        input_shape=(1, 6, 6),
        seed=3,
    )
    tmodel = to_torch(model)
    if opt_name == "sgd":
        opt = pn.SGD(0.1, momentum=0.9, weight_decay=1e-3)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        opt = pn.Adam(1e-2, weight_decay=1e-3)
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2, weight_decay=1e-3)
    for step in range(4):
        x = image_batch(rng, 5, (1, 6, 6), sparsity=0.3)
        labels = [rng.randrange(4) for _ in range(5)]
        step_both(model, tmodel, opt, topt, x, labels, (5, 1, 6, 6), step)


def step_both(model, tmodel, opt, topt, x, labels, shape, step):
    """One training step of the purenet model and of its torch copy: same loss, same weights after."""
    value = model.train_on_batch(x, labels, loss=pn.CrossEntropy(), optimizer=opt)
    topt.zero_grad()
    tvalue = F.cross_entropy(tmodel[:-1](as_tensor(x, shape)), torch.tensor(labels))
    tvalue.backward()
    topt.step()
    assert value == pytest.approx(tvalue.item(), rel=TOL, abs=TOL)
    tstate = tmodel.state_dict()
    for name, p in model.named_parameters():
        assert_close(p, tstate[name], what=f"step {step} {name}")


def test_training_on_8bit_images_matches_torch():
    """Images of byte / 255 values, as purenet.datasets delivers them: the first block
    then computes on integers (kernels.conv_relu_pool_bytes on CPython) and hands
    the Dense gradient straight to it; still PyTorch's numbers within 1e-10."""
    rng = random.Random(8)
    model = pn.Sequential(
        [pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 12, 12),
        seed=4,
    )
    randomize(model, rng, scale=0.3)  # biases of both signs: blank windows pass for some filters
    tmodel = to_torch(model)
    opt, topt = pn.SGD(0.2), torch.optim.SGD(tmodel.parameters(), lr=0.2)
    for step in range(4):
        x = Matrix.from_flat([0.0 if rng.random() < 0.7 else rng.randrange(1, 256) / 255 for _ in range(6 * 144)], 6, 144)
        labels = [rng.randrange(3) for _ in range(6)]
        step_both(model, tmodel, opt, topt, x, labels, (6, 1, 12, 12), step)


# ------------------------------------------------------------ state dicts


def test_load_state_dict_from_torch_tolist():
    torch.manual_seed(0)
    model = pn.Sequential(
        [pn.Conv2D(3, (3, 2), padding=1), pn.Tanh(), pn.MaxPool2D(2), pn.Conv2D(2, 2, use_bias=False), pn.ReLU(),
         pn.Flatten(), pn.Dense(5), pn.Sigmoid(), pn.Dense(3), pn.Softmax()],
        input_shape=(2, 8, 7),
        seed=0,
    )
    tmodel = nn.Sequential(*[torch_layer(l) for l in model.layers]).double()  # PyTorch's own init
    state = {k: v.tolist() for k, v in tmodel.state_dict().items()}
    assert [len(torch.tensor(state["0.weight"]).shape), len(torch.tensor(state["0.bias"]).shape)] == [4, 1]
    model.load_state_dict(state)
    tmodel.eval()
    x = image_batch(random.Random(8), 3, (2, 8, 7))
    assert_close(model.forward(x), tmodel(as_tensor(x, (3, 2, 8, 7))).detach())
    for name, m in model.state_dict().items():
        assert_close(m, tmodel.state_dict()[name], tol=0, what=name)  # bit-exact copy
    # and back: purenet's state_dict (2-D) reshaped by tensor_shape loads into PyTorch unchanged
    again = to_torch(model)
    for name, t in again.state_dict().items():
        assert torch.equal(t, tmodel.state_dict()[name]), name
