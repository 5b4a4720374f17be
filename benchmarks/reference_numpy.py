"""The same SGD training step in NumPy, for scale (never used by purenet).

Same interface and conventions as ``naive.py`` (read its docstring): PyTorch
weight layout and names, mean cross-entropy with a stable log-softmax, the
gradient of the mean, ReLU'(0) = 0, max-pool ties to the first maximum in
row-major window order (``argmax`` returns the first occurrence).

The whole batch is processed at once. The convolution is im2col through
``numpy.lib.stride_tricks.sliding_window_view`` followed by one matrix
product; the pooling reshapes each 2x2 window onto a last axis of 4.

``init_from_state(state, dtype="float64")`` takes ``"float32"`` too; the
runner times both. ``prepare(images, labels, dtype)`` turns a batch of flat
lists into arrays once, so the timed step measures the math, not the list
conversion (the runner prepares every implementation's batches outside the
timed region).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

IMAGE_SIZE = 28


def init_from_state(state, dtype="float64"):
    dtype = np.dtype(dtype)
    if "9.weight" in state:
        kind = "lenet"
        names = tuple(n + s for n in ("0.", "3.", "7.", "9.") for s in ("weight", "bias"))
    elif "4.weight" in state:
        kind = "cnn-small"
        names = ("0.weight", "0.bias", "4.weight", "4.bias")
    elif "2.weight" in state:
        kind = "mlp"
        names = ("0.weight", "0.bias", "2.weight", "2.bias")
    else:
        raise ValueError("unknown state dict: %s" % sorted(state))
    params = {"kind": kind, "dtype": dtype}
    for name in names:
        value = np.array(state[name], dtype=dtype)
        if name.endswith("bias"):
            value = value.reshape(-1)
        params[name] = value
    if kind == "cnn-small" and params["0.weight"].ndim != 4:
        raise ValueError("cnn-small: '0.weight' must be 4-D [f][c][ky][kx]")
    return params


def state_dict(params):
    return {name: value.astype(np.float64).tolist()
            for name, value in params.items() if name not in ("kind", "dtype")}


def prepare(images, labels, dtype="float64"):
    x = images if isinstance(images, np.ndarray) else np.array(images, dtype=dtype)
    x = np.ascontiguousarray(x, dtype=dtype).reshape(len(labels), -1)
    y = np.asarray(labels, dtype=np.int64)
    return x, y


def _as_arrays(params, images, labels):
    if isinstance(images, np.ndarray) and images.dtype == params["dtype"]:
        return images, np.asarray(labels, dtype=np.int64)
    return prepare(images, labels, params["dtype"])


def _softmax_ce(logits, y):
    """Mean loss and d(mean loss)/dlogits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    batch = logits.shape[0]
    loss = -log_p[np.arange(batch), y].mean()
    grad = np.exp(log_p)
    grad[np.arange(batch), y] -= 1.0
    grad /= batch
    return float(loss), grad


def _cnn_forward(params, x):
    w = params["0.weight"]
    filters, channels, k, _ = w.shape
    batch = x.shape[0]
    images = x.reshape(batch, channels, IMAGE_SIZE, IMAGE_SIZE)
    # (B, C, OH, OW, k, k) -> (B, OH, OW, C, k, k) -> (B*OH*OW, C*k*k)
    windows = sliding_window_view(images, (k, k), axis=(2, 3))
    out_h, out_w = windows.shape[2], windows.shape[3]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(batch * out_h * out_w,
                                                        channels * k * k)
    conv = cols @ w.reshape(filters, -1).T + params["0.bias"]          # (B*OH*OW, F)
    conv = conv.reshape(batch, out_h, out_w, filters).transpose(0, 3, 1, 2)  # NCHW
    relu = np.maximum(conv, 0.0)
    ph, pw = out_h // 2, out_w // 2
    win = relu[:, :, :ph * 2, :pw * 2].reshape(batch, filters, ph, 2, pw, 2)
    win = win.transpose(0, 1, 2, 4, 3, 5).reshape(batch, filters, ph, pw, 4)
    arg = win.argmax(axis=4)
    pooled = np.take_along_axis(win, arg[..., None], axis=4)[..., 0]
    flat = pooled.reshape(batch, -1)
    logits = flat @ params["4.weight"].T + params["4.bias"]
    return cols, conv, arg, flat, logits


def _cnn_step(params, x, y, lr):
    cols, conv, arg, flat, logits = _cnn_forward(params, x)
    loss, g_logits = _softmax_ce(logits, y)
    w4 = params["4.weight"]
    g_w4 = g_logits.T @ flat
    g_b4 = g_logits.sum(axis=0)
    g_flat = g_logits @ w4
    batch, filters, out_h, out_w = conv.shape
    ph, pw = out_h // 2, out_w // 2
    g_win = np.zeros((batch, filters, ph, pw, 4), dtype=conv.dtype)
    np.put_along_axis(g_win, arg[..., None],
                      g_flat.reshape(batch, filters, ph, pw, 1), axis=4)
    g_relu = np.zeros_like(conv)
    g_relu[:, :, :ph * 2, :pw * 2] = (
        g_win.reshape(batch, filters, ph, pw, 2, 2).transpose(0, 1, 2, 4, 3, 5)
        .reshape(batch, filters, ph * 2, pw * 2))
    g_conv = np.where(conv > 0.0, g_relu, 0.0)
    g_conv_rows = g_conv.transpose(0, 2, 3, 1).reshape(-1, filters)    # (B*OH*OW, F)
    w0 = params["0.weight"]
    g_w0 = (g_conv_rows.T @ cols).reshape(w0.shape)
    g_b0 = g_conv_rows.sum(axis=0)
    w0 -= lr * g_w0
    params["0.bias"] -= lr * g_b0
    w4 -= lr * g_w4
    params["4.bias"] -= lr * g_b4
    return loss


def _mlp_forward(params, x):
    pre = x @ params["0.weight"].T + params["0.bias"]
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ params["2.weight"].T + params["2.bias"]
    return pre, hidden, logits


def _mlp_step(params, x, y, lr):
    pre, hidden, logits = _mlp_forward(params, x)
    loss, g_logits = _softmax_ce(logits, y)
    w2 = params["2.weight"]
    g_w2 = g_logits.T @ hidden
    g_b2 = g_logits.sum(axis=0)
    g_pre = np.where(pre > 0.0, g_logits @ w2, 0.0)
    g_w0 = g_pre.T @ x
    g_b0 = g_pre.sum(axis=0)
    params["0.weight"] -= lr * g_w0
    params["0.bias"] -= lr * g_b0
    w2 -= lr * g_w2
    params["2.bias"] -= lr * g_b2
    return loss


def _conv_block(x, w, b):
    """Conv (valid, stride 1) + ReLU + 2x2 max pool on NCHW ``x``; returns the pooled maps and a cache."""
    filters, channels, k, _ = w.shape
    batch = x.shape[0]
    windows = sliding_window_view(x, (k, k), axis=(2, 3))
    out_h, out_w = windows.shape[2], windows.shape[3]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(batch * out_h * out_w, channels * k * k)
    conv = (cols @ w.reshape(filters, -1).T + b).reshape(batch, out_h, out_w, filters).transpose(0, 3, 1, 2)
    relu = np.maximum(conv, 0.0)
    ph, pw = out_h // 2, out_w // 2
    win = relu[:, :, :ph * 2, :pw * 2].reshape(batch, filters, ph, 2, pw, 2)
    win = win.transpose(0, 1, 2, 4, 3, 5).reshape(batch, filters, ph, pw, 4)
    arg = win.argmax(axis=4)
    pooled = np.take_along_axis(win, arg[..., None], axis=4)[..., 0]
    return pooled, (x.shape, cols, conv, arg)


def _conv_block_backward(g_pooled, w, cache, need_input_grad):
    """Gradients of :func:`_conv_block`: ``(g_w, g_b, g_x or None)``."""
    x_shape, cols, conv, arg = cache
    batch, filters, out_h, out_w = conv.shape
    ph, pw = out_h // 2, out_w // 2
    g_win = np.zeros((batch, filters, ph, pw, 4), dtype=conv.dtype)
    np.put_along_axis(g_win, arg[..., None], g_pooled.reshape(batch, filters, ph, pw, 1), axis=4)
    g_relu = np.zeros_like(conv)
    g_relu[:, :, :ph * 2, :pw * 2] = (
        g_win.reshape(batch, filters, ph, pw, 2, 2).transpose(0, 1, 2, 4, 3, 5)
        .reshape(batch, filters, ph * 2, pw * 2))
    g_rows = np.where(conv > 0.0, g_relu, 0.0).transpose(0, 2, 3, 1).reshape(-1, filters)
    g_w = (g_rows.T @ cols).reshape(w.shape)
    g_b = g_rows.sum(axis=0)
    if not need_input_grad:
        return g_w, g_b, None
    _, channels, k, _ = w.shape
    g_cols = (g_rows @ w.reshape(filters, -1)).reshape(batch, out_h, out_w, channels, k, k)
    g_x = np.zeros(x_shape, dtype=conv.dtype)
    for ky in range(k):  # col2im: every tap adds back onto the pixels it read
        for kx in range(k):
            g_x[:, :, ky:ky + out_h, kx:kx + out_w] += g_cols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    return g_w, g_b, g_x


def _lenet_forward(params, x):
    batch = x.shape[0]
    p1, c1 = _conv_block(x.reshape(batch, 1, IMAGE_SIZE, IMAGE_SIZE), params["0.weight"], params["0.bias"])
    p2, c2 = _conv_block(p1, params["3.weight"], params["3.bias"])
    flat = p2.reshape(batch, -1)
    pre = flat @ params["7.weight"].T + params["7.bias"]
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ params["9.weight"].T + params["9.bias"]
    return c1, c2, p2.shape, flat, pre, hidden, logits


def _lenet_step(params, x, y, lr):
    c1, c2, p2_shape, flat, pre, hidden, logits = _lenet_forward(params, x)
    loss, g_logits = _softmax_ce(logits, y)
    grads = {"9.weight": g_logits.T @ hidden, "9.bias": g_logits.sum(axis=0)}
    g_pre = np.where(pre > 0.0, g_logits @ params["9.weight"], 0.0)
    grads["7.weight"], grads["7.bias"] = g_pre.T @ flat, g_pre.sum(axis=0)
    g_p2 = (g_pre @ params["7.weight"]).reshape(p2_shape)
    grads["3.weight"], grads["3.bias"], g_p1 = _conv_block_backward(g_p2, params["3.weight"], c2, True)
    grads["0.weight"], grads["0.bias"], _ = _conv_block_backward(g_p1, params["0.weight"], c1, False)
    for name, g in grads.items():
        params[name] -= lr * g
    return loss


STEPS = {"cnn-small": _cnn_step, "mlp": _mlp_step, "lenet": _lenet_step}
FORWARDS = {"cnn-small": _cnn_forward, "mlp": _mlp_forward, "lenet": _lenet_forward}


def train_step(params, images, labels, lr):
    """One SGD step on the batch; returns the mean loss before the update."""
    x, y = _as_arrays(params, images, labels)
    lr = params["dtype"].type(lr)
    return STEPS[params["kind"]](params, x, y, lr)


def loss_only(params, images, labels):
    x, y = _as_arrays(params, images, labels)
    logits = FORWARDS[params["kind"]](params, x)[-1]
    return _softmax_ce(logits, y)[0]


def train_mlp(x, y, seed, epochs=15, lr=0.05, batch=64):
    """A 784-256-128-10 ReLU MLP trained on arrays ``x`` (N, 784), ``y`` (N,) with softmax
    cross-entropy and SGD with momentum 0.9, the rate x0.85 per epoch, seeded: the NumPy
    yardstick of ``scripts/mlp_baseline.py``. Returns ``(weights, biases)``, weights ``(in, out)``."""
    rng = np.random.default_rng(seed)
    sizes = [784, 256, 128, 10]
    weights = [rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]
    velocity = [np.zeros_like(p) for p in weights + biases]
    for epoch in range(epochs):
        rate = lr * 0.85**epoch
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            idx = order[s : s + batch]
            acts = [x[idx]]
            for i, (w, b) in enumerate(zip(weights, biases)):
                z = acts[-1] @ w + b
                acts.append(np.maximum(z, 0) if i < len(weights) - 1 else z)
            p = np.exp(acts[-1] - acts[-1].max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            grad = p / len(idx)  # (N, 10): d loss / d logits
            grads_w, grads_b = [], []
            for i in range(len(weights) - 1, -1, -1):
                grads_w.insert(0, acts[i].T @ grad)
                grads_b.insert(0, grad.sum(0))
                if i:
                    grad = (grad @ weights[i].T) * (acts[i] > 0)
            for k, (param, g) in enumerate(zip(weights + biases, grads_w + grads_b)):
                velocity[k] = 0.9 * velocity[k] - rate * g
                param += velocity[k]
    return weights, biases
