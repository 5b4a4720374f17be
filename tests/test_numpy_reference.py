"""Forward and backward values of every layer, loss and a whole model against
reference implementations written here with NumPy (float64), within 1e-12.

The references are deliberately naive and independent of purenet's code:
convolution and pooling loop over output positions on zero-padded NCHW
arrays, gradients are the textbook formulas. Random configurations come from
hypothesis with a bounded number of examples; inputs include mostly-zero
images so the sparse fast paths (skipped all-zero patches, nonzero gathers)
are compared too.
"""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require

np = require("numpy")

import purenet as pn  # noqa: E402
from purenet import Matrix  # noqa: E402

TOL = 1e-12
FAST = settings(max_examples=30, deadline=None)


def to_np(m):
    return np.array(m.data, dtype=np.float64).reshape(m.rows, m.cols)


def to_m(a):
    a = np.asarray(a, dtype=np.float64)
    return Matrix.from_flat(a.reshape(a.shape[0], -1).ravel().tolist(), a.shape[0], int(np.prod(a.shape[1:])))


def close(actual, expected, tol=TOL):
    actual = to_np(actual) if isinstance(actual, Matrix) else np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64).reshape(actual.shape)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def make_input(rng, shape, sparsity, integer=False):
    """Random NCHW/ND array; ``sparsity`` of the entries are exactly zero."""
    x = rng.integers(-3, 4, size=shape).astype(np.float64) if integer else rng.uniform(-1.0, 1.0, size=shape)
    x[rng.random(shape) < sparsity] = 0.0
    return x


def set_params(layer, rng):
    """Random weights and (nonzero) biases; returns them as NumPy arrays in PyTorch shapes."""
    out = {}
    for name, p in layer.named_parameters():
        values = rng.uniform(-1.0, 1.0, size=p.tensor_shape)
        p.assign(values.ravel().tolist())
        out[name] = values
    return out


# ----------------------------------------------------------- NumPy references


def pads_of(padding, kh, kw):
    if padding == "same":
        return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2, (kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    if padding == "valid":
        return (0, 0, 0, 0)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph, pw, pw)


def np_conv_forward(x, w, b, stride, pads):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    sh, sw = stride
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, :, i, j] = np.einsum("nckl,fckl->nf", patch, w)
    if b is not None:
        y += b[None, :, None, None]
    return y


def np_conv_backward(x, w, g, stride, pads):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    sh, sw = stride
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    _, _, oh, ow = g.shape
    for i in range(oh):
        for j in range(ow):
            window = (slice(None), slice(None), slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))
            dw += np.einsum("nf,nckl->fckl", g[:, :, i, j], xp[window])
            dxp[window] += np.einsum("nf,fckl->nckl", g[:, :, i, j], w)
    dx = dxp[:, :, pt : pt + h, pl : pl + wd]
    return dx, dw, g.sum(axis=(0, 2, 3))


def np_pool_forward(x, pool, stride):
    n, c, h, w = x.shape
    ph, pw = pool
    sh, sw = stride
    oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    arg = np.zeros((n, c, oh, ow), dtype=int)
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * sh : i * sh + ph, j * sw : j * sw + pw].reshape(n, c, -1)
            y[:, :, i, j] = win.max(axis=2)
            arg[:, :, i, j] = win.argmax(axis=2)  # first maximum in row-major order
    return y, arg


def np_pool_backward(x, g, pool, stride, arg):
    n, c, h, w = x.shape
    ph, pw = pool
    sh, sw = stride
    dx = np.zeros_like(x)
    _, _, oh, ow = g.shape
    for i in range(oh):
        for j in range(ow):
            for a in range(n):
                for b in range(c):
                    k = arg[a, b, i, j]
                    dx[a, b, i * sh + k // pw, j * sw + k % pw] += g[a, b, i, j]
    return dx


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_sigmoid(z):
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


# ---------------------------------------------------------------------- Conv2D


@st.composite
def conv_configs(draw):
    c = draw(st.integers(1, 3))
    f = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    same = draw(st.booleans())
    if same:
        stride, padding = (1, 1), "same"
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)), st.just("valid")))
    pt, pb, pl, pr = pads_of(padding, kh, kw)
    h = draw(st.integers(max(1, kh - pt - pb), 7))
    w = draw(st.integers(max(1, kw - pl - pr), 7))
    return dict(
        n=draw(st.integers(1, 3)), c=c, h=h, w=w, f=f, kernel=(kh, kw), stride=stride, padding=padding,
        use_bias=draw(st.booleans()), sparsity=draw(st.sampled_from([0.0, 0.5, 0.95, 1.0])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def conv_layer(cfg):
    kernel = cfg["kernel"] if cfg["kernel"][0] != cfg["kernel"][1] else cfg["kernel"][0]
    stride = cfg["stride"] if cfg["stride"][0] != cfg["stride"][1] else cfg["stride"][0]
    return pn.Conv2D(cfg["f"], kernel, stride=stride, padding=cfg["padding"], use_bias=cfg["use_bias"])


@FAST
@given(conv_configs())
def test_conv2d_forward_backward_match_numpy(cfg):
    rng = np.random.default_rng(cfg["seed"])
    layer = conv_layer(cfg)
    out_shape = layer.build((cfg["c"], cfg["h"], cfg["w"]), random.Random(0))
    params = set_params(layer, rng)
    x = make_input(rng, (cfg["n"], cfg["c"], cfg["h"], cfg["w"]), cfg["sparsity"])
    pads = pads_of(cfg["padding"], *cfg["kernel"])
    expected = np_conv_forward(x, params["weight"], params.get("bias"), cfg["stride"], pads)
    assert out_shape == expected.shape[1:]
    y = layer.forward(to_m(x))
    close(y, expected)

    g = rng.uniform(-1.0, 1.0, size=expected.shape)
    dx, dw, db = np_conv_backward(x, params["weight"], g, cfg["stride"], pads)
    for p in layer.parameters():
        p.zero_grad()
    gx = layer.backward(to_m(g))
    close(gx, dx)
    close(layer.weight.grad, dw)
    if cfg["use_bias"]:
        close(layer.bias.grad, db)
    else:
        assert layer.bias is None
    assert layer.backward(to_m(g), input_grad=False) is None
    close(layer.weight.grad, 2 * dw)  # gradients accumulate


def test_conv2d_batch_size_changes_between_calls():
    """Index tables are cached per batch size: alternate sizes and compare each to NumPy."""
    rng = np.random.default_rng(1)
    layer = pn.Conv2D(2, (2, 3), stride=(2, 1), padding=(1, 1))
    layer.build((2, 5, 6), random.Random(0))
    params = set_params(layer, rng)
    for n in (3, 1, 5, 2, 6, 4, 3, 1):
        x = make_input(rng, (n, 2, 5, 6), 0.3)
        close(layer.forward(to_m(x)), np_conv_forward(x, params["weight"], params["bias"], (2, 1), (1, 1, 1, 1)))


# ------------------------------------------------------------------- MaxPool2D


@st.composite
def pool_configs(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    return dict(
        n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), h=draw(st.integers(ph, 8)), w=draw(st.integers(pw, 8)),
        pool=(ph, pw), stride=stride, integer=draw(st.booleans()), sparsity=draw(st.sampled_from([0.0, 0.5, 1.0])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@FAST
@given(pool_configs())
def test_maxpool2d_forward_backward_match_numpy(cfg):
    """Integer-valued inputs make ties common: the first maximum in row-major
    window order wins, as in NumPy's argmax and PyTorch."""
    rng = np.random.default_rng(cfg["seed"])
    pool = cfg["pool"] if cfg["pool"][0] != cfg["pool"][1] else cfg["pool"][0]
    stride = cfg["stride"]
    layer = pn.MaxPool2D(pool, stride=stride)
    layer.build((cfg["c"], cfg["h"], cfg["w"]), random.Random(0))
    x = make_input(rng, (cfg["n"], cfg["c"], cfg["h"], cfg["w"]), cfg["sparsity"], integer=cfg["integer"])
    strides = stride or cfg["pool"]
    expected, arg = np_pool_forward(x, cfg["pool"], strides)
    assert layer.output_shape == expected.shape[1:]
    close(layer.forward(to_m(x)), expected)
    g = rng.uniform(-1.0, 1.0, size=expected.shape)
    close(layer.backward(to_m(g)), np_pool_backward(x, g, cfg["pool"], strides, arg))


# ---------------------------------------------------------------------- Dense


@FAST
@given(
    st.integers(1, 4), st.integers(1, 12), st.integers(1, 5), st.booleans(),
    st.sampled_from([0.0, 0.5, 0.8, 1.0]), st.integers(0, 2**32 - 1),
)
def test_dense_forward_backward_match_numpy(n, d, u, use_bias, sparsity, seed):
    rng = np.random.default_rng(seed)
    layer = pn.Dense(u, use_bias=use_bias)
    assert layer.build((d,), random.Random(0)) == (u,)
    params = set_params(layer, rng)
    x = make_input(rng, (n, d), sparsity)
    w = params["weight"]
    expected = x @ w.T + (params["bias"] if use_bias else 0.0)
    close(layer.forward(to_m(x)), expected)
    g = rng.uniform(-1.0, 1.0, size=(n, u))
    gx = layer.backward(to_m(g))
    close(gx, g @ w)
    close(layer.weight.grad, g.T @ x)
    if use_bias:
        close(layer.bias.grad, g.sum(axis=0))


# ------------------------------------------------------------- activations


ACTIVATIONS = {
    "ReLU": (lambda z: np.maximum(z, 0.0), lambda z, y, g: g * (z > 0)),
    "Sigmoid": (np_sigmoid, lambda z, y, g: g * y * (1 - y)),
    "Tanh": (np.tanh, lambda z, y, g: g * (1 - y * y)),
    "Softmax": (np_softmax, lambda z, y, g: y * (g - (g * y).sum(axis=1, keepdims=True))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@FAST
@given(st.integers(1, 4), st.integers(1, 7), st.floats(0.1, 30.0), st.integers(0, 2**32 - 1))
def test_activations_match_numpy(name, n, d, scale, seed):
    rng = np.random.default_rng(seed)
    layer = getattr(pn, name)()
    layer.build((d,), random.Random(0))
    z = rng.uniform(-scale, scale, size=(n, d))
    f, df = ACTIVATIONS[name]
    y = f(z)
    out = layer.forward(to_m(z))
    close(out, y)
    g = rng.uniform(-1.0, 1.0, size=(n, d))
    close(layer.backward(to_m(g)), df(z, y, g))


def test_activations_extreme_inputs():
    z = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
    for name in ("Sigmoid", "Tanh", "Softmax", "ReLU"):
        layer = getattr(pn, name)()
        layer.build((5,), random.Random(0))
        close(layer.forward(to_m(z)), ACTIVATIONS[name][0](z))


def test_flatten_and_dropout_match_numpy():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(2, 3, 4, 5))
    flat = pn.Flatten()
    assert flat.build((3, 4, 5), random.Random(0)) == (60,)
    close(flat.forward(to_m(x)), x.reshape(2, -1))  # NCHW flatten order
    g = rng.uniform(-1, 1, size=(2, 60))
    close(flat.backward(to_m(g)), g)

    drop = pn.Dropout(0.25)
    drop.build((60,), random.Random(5))
    xm = to_m(x)
    close(drop.forward(xm, training=False), x.reshape(2, -1))
    y = to_np(drop.forward(xm, training=True))
    mask = (y != 0.0) / 0.75
    close(y, x.reshape(2, -1) * mask)
    close(drop.backward(to_m(g)), g * mask)
    assert 0 < (y == 0).sum() < y.size


# -------------------------------------------------------------------- losses


@FAST
@given(st.integers(1, 4), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_losses_match_numpy(n, c, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-4, 4, size=(n, c))
    p = np_softmax(z)
    labels = rng.integers(0, c, size=n)
    y = np.eye(c)[labels]
    soft = np_softmax(rng.uniform(-2, 2, size=(n, c)))

    mse = pn.MeanSquaredError()
    t = rng.uniform(-1, 1, size=(n, c))
    assert mse.forward(to_m(z), to_m(t)) == pytest.approx(((z - t) ** 2).mean(), rel=TOL, abs=TOL)
    close(mse.backward(), 2 * (z - t) / z.size)
    assert mse.forward(to_m(z), labels.tolist()) == pytest.approx(((z - y) ** 2).mean(), rel=TOL, abs=TOL)

    ce = pn.CrossEntropy()
    for target, tmat in ((labels.tolist(), y), (y.tolist(), y), (soft.tolist(), soft)):
        expected = -(tmat * np.log(p)).sum() / n
        assert ce.forward(to_m(p), target) == pytest.approx(expected, rel=TOL, abs=TOL)
        close(ce.backward(), -tmat / p / n)
        ce_logits = pn.CrossEntropy(from_logits=True)
        lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
        expected = (lse * tmat.sum(axis=1) - (tmat * z).sum(axis=1)).mean()
        assert ce_logits.forward(to_m(z), target) == pytest.approx(expected, rel=TOL, abs=TOL)
        close(ce_logits.backward(), (p - tmat) / n)

    q = np_sigmoid(z)
    bt = (rng.random((n, c)) < 0.5).astype(float)
    for target in (bt, rng.uniform(0, 1, size=(n, c))):
        bce = pn.BinaryCrossEntropy()
        expected = -(target * np.log(q) + (1 - target) * np.log1p(-q)).mean()
        assert bce.forward(to_m(q), to_m(target)) == pytest.approx(expected, rel=TOL, abs=TOL)
        close(bce.backward(), (q - target) / (q * (1 - q)) / q.size)
        bce = pn.BinaryCrossEntropy(from_logits=True)
        expected = (np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))).mean()
        assert bce.forward(to_m(z), to_m(target)) == pytest.approx(expected, rel=TOL, abs=TOL)
        close(bce.backward(), (q - target) / q.size)


# ---------------------------------------------------------------- full model


def np_model_forward(x, params, last_activation):
    """conv(4,3,pad 1)-relu-pool2 - conv(6,(2,3),stride (1,2))-relu-pool(2,stride 1) - flatten - dense(5)."""
    h = np_conv_forward(x, params["0.weight"], params["0.bias"], (1, 1), (1, 1, 1, 1))
    h = np.maximum(h, 0)
    h, _ = np_pool_forward(h, (2, 2), (2, 2))
    h = np_conv_forward(h, params["3.weight"], params["3.bias"], (1, 2), (0, 0, 0, 0))
    h = np.maximum(h, 0)
    h, _ = np_pool_forward(h, (2, 2), (1, 1))
    h = h.reshape(h.shape[0], -1)
    z = h @ params["7.weight"].T + params["7.bias"]
    return z, last_activation(z)


def full_model(last):
    return pn.Sequential(
        [
            pn.Conv2D(4, 3, padding=1), pn.ReLU(), pn.MaxPool2D(2),
            pn.Conv2D(6, (2, 3), stride=(1, 2)), pn.ReLU(), pn.MaxPool2D(2, stride=1),
            pn.Flatten(), pn.Dense(5), last,
        ],
        input_shape=(2, 10, 12),
        seed=0,
    )


@pytest.mark.parametrize("sparsity", [0.0, 0.85])
def test_full_model_forward_loss_and_gradients_match_numpy(sparsity):
    rng = np.random.default_rng(11)
    model = full_model(pn.Softmax())
    params = {}
    for name, p in model.named_parameters():
        params[name] = rng.uniform(-0.5, 0.5, size=p.tensor_shape)
    model.load_state_dict({k: v.tolist() for k, v in params.items()})  # 4-D conv weights, 1-D biases
    x = make_input(rng, (3, 2, 10, 12), sparsity)
    z, p = np_model_forward(x, params, np_softmax)
    close(model.forward(to_m(x)), p)
    close(model.predict(to_m(x), batch_size=2), p)
    labels = [4, 0, 2]
    result = model.evaluate(to_m(x), labels)
    assert result["loss"] == pytest.approx(-np.log(p[np.arange(3), labels]).mean(), rel=TOL, abs=TOL)
    assert result["accuracy"] == pytest.approx(np.mean(p.argmax(axis=1) == labels))
    # gradient of the loss w.r.t. the logits reaching the Dense layer: dW7 = (p - y)^T h / N
    model.zero_grad()
    value, out, _ = model._loss_and_grad(to_m(x), labels, pn.CrossEntropy(), False)
    close(out, p)
    close(out.logits, z)  # the Softmax's output keeps its logits, which the loss used
    y = np.eye(5)[labels]
    h_in = model.layers[6].forward(model.layers[5].forward(model.layers[4].forward(model.layers[3].forward(
        model.layers[2].forward(model.layers[1].forward(model.layers[0].forward(to_m(x))))))))
    close(model.layers[7].weight.grad, (p - y).T @ to_np(h_in) / 3)
    close(model.layers[7].bias.grad, (p - y).sum(axis=0) / 3)


def test_full_model_sigmoid_forward_matches_numpy():
    rng = np.random.default_rng(12)
    model = full_model(pn.Sigmoid())
    params = {name: rng.uniform(-0.5, 0.5, size=p.tensor_shape) for name, p in model.named_parameters()}
    model.load_state_dict({k: v.tolist() for k, v in params.items()})
    x = make_input(rng, (2, 2, 10, 12), 0.3)
    _, q = np_model_forward(x, params, np_sigmoid)
    close(model.forward(to_m(x)), q)
    target = (rng.random((2, 5)) < 0.5).astype(float)
    expected = -(target * np.log(q) + (1 - target) * np.log1p(-q)).mean()
    assert model.evaluate(to_m(x), to_m(target))["loss"] == pytest.approx(expected, rel=1e-11, abs=TOL)
