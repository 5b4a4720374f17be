"""A deliberately naive pure-Python SGD training step: the baseline.

This is how the original "CNN from scratch without packages" student project
trained: nested lists of lists, one index loop per element, one sample at a
time. The gradients of every sample of the batch are accumulated, then
averaged and applied with plain SGD. There are no tricks here on purpose (no
``math.sumprod``, no ``zip`` transposes, no ``itemgetter``, no whole-batch
kernels): it is the yardstick that ``benchmarks/run.py`` measures purenet
against, and the tests use it as an independent oracle.

Three workloads (those of ``benchmarks/run.py``):

``cnn-small``
    Conv2D(1->8, 3x3, stride 1, no padding) + ReLU + MaxPool2D(2) + Flatten
    (channel-first: index ``c*13*13 + y*13 + x``) + Dense(1352->10) +
    softmax cross-entropy.
``mlp``
    Dense(784->128) + ReLU + Dense(128->10) + softmax cross-entropy.
``lenet``
    Conv2D(1->8, 3x3) + ReLU + MaxPool2D(2) + Conv2D(8->16, 3x3) + ReLU +
    MaxPool2D(2) (11x11 -> 5x5, the last row and column dropped) + Flatten +
    Dense(400->64) + ReLU + Dense(64->10) + softmax cross-entropy: the
    shipped model's architecture. The second convolution also sends its
    gradient back to its input, through the first pool and ReLU.

Weights use PyTorch's layout and the names of the equivalent
``nn.Sequential``: conv weight ``[f][c][ky][kx]``, conv bias ``[f]``, dense
weight ``[out][in]``, dense bias ``[out]``; ``"0.*"`` and ``"4.*"`` for
cnn-small (Conv2d, ReLU, MaxPool2d, Flatten, Linear), ``"0.*"`` and ``"2.*"``
for mlp (Linear, ReLU, Linear), ``"0.*"``, ``"3.*"``, ``"7.*"`` and ``"9.*"``
for lenet.

Conventions (shared with purenet and the references): the loss is the mean
cross-entropy over the batch and the gradient is that of the mean; the
log-softmax is the stable one (max subtracted); ReLU's derivative at 0 is 0;
a max-pool tie goes to the first maximum in row-major window order.

Interface::

    params = init_from_state({"0.weight": ..., "0.bias": ..., ...})
    loss = train_step(params, images, labels, lr)   # loss before the update
    loss = loss_only(params, images, labels)
    state = state_dict(params)                       # name -> nested lists

``images`` is a list of flat lists of 784 floats in [0, 1] (row-major 28x28),
``labels`` a list of ints in 0..9. Standard library only.
"""

import math

IMAGE_SIZE = 28
CNN_FILTERS = 8
CNN_KERNEL = 3
CNN_POOL = 2


def _copy(value):
    """Deep-copy nested lists (or tuples) of numbers into lists of floats."""
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return float(value)


def _as_vector(value):
    """A bias given as [n] or as a (1, n) row -> a flat list of floats."""
    value = _copy(value)
    if len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    return value


def _depth(value):
    d = 0
    while isinstance(value, list):
        d += 1
        value = value[0]
    return d


def init_from_state(state):
    """Build the parameters from a PyTorch-style state dict of nested lists.

    The workload is recognised from the names and shapes: a 4-D ``"0.weight"``
    with ``"4.weight"`` is cnn-small, a 2-D ``"0.weight"`` with ``"2.weight"``
    is the mlp. Everything is copied, so the caller's lists are never changed.
    """
    if "9.weight" in state:
        params = {"kind": "lenet"}
        for name in ("0", "3", "7", "9"):
            params[name + ".weight"] = _copy(state[name + ".weight"])
            params[name + ".bias"] = _as_vector(state[name + ".bias"])
        for name in ("0.weight", "3.weight"):
            if _depth(params[name]) != 4:
                raise ValueError("lenet: %r must be [f][c][ky][kx], got depth %d"
                                 % (name, _depth(params[name])))
        return params
    if "4.weight" in state:
        w = _copy(state["0.weight"])
        if _depth(w) != 4:
            raise ValueError("cnn-small: '0.weight' must be [f][c][ky][kx], got depth %d"
                             % _depth(w))
        return {
            "kind": "cnn-small",
            "0.weight": w,
            "0.bias": _as_vector(state["0.bias"]),
            "4.weight": _copy(state["4.weight"]),
            "4.bias": _as_vector(state["4.bias"]),
        }
    if "2.weight" in state:
        return {
            "kind": "mlp",
            "0.weight": _copy(state["0.weight"]),
            "0.bias": _as_vector(state["0.bias"]),
            "2.weight": _copy(state["2.weight"]),
            "2.bias": _as_vector(state["2.bias"]),
        }
    raise ValueError("unknown state dict: expected '0.*' and '4.*' (cnn-small), "
                     "'0.*' and '2.*' (mlp) or '0.*', '3.*', '7.*', '9.*' (lenet), got %s"
                     % sorted(state))


def state_dict(params):
    """The current weights, name -> nested lists (a copy)."""
    return {name: _copy(value) for name, value in params.items() if name != "kind"}


# ----------------------------------------------------------------------------
# Building blocks, one sample at a time
# ----------------------------------------------------------------------------

def _to_image(flat):
    """Flat 784 list -> [1][28][28] (one channel)."""
    image = []
    for y in range(IMAGE_SIZE):
        row = []
        for x in range(IMAGE_SIZE):
            row.append(flat[y * IMAGE_SIZE + x])
        image.append(row)
    return [image]


def _dense_forward(weight, bias, inputs):
    outputs = []
    for o in range(len(weight)):
        total = bias[o]
        for i in range(len(inputs)):
            total += weight[o][i] * inputs[i]
        outputs.append(total)
    return outputs


def _softmax_cross_entropy(logits, label):
    """Stable log-softmax: returns (loss, dloss/dlogits) for one sample."""
    biggest = logits[0]
    for k in range(1, len(logits)):
        if logits[k] > biggest:
            biggest = logits[k]
    total = 0.0
    for k in range(len(logits)):
        total += math.exp(logits[k] - biggest)
    log_sum = biggest + math.log(total)
    loss = log_sum - logits[label]
    grad = []
    for k in range(len(logits)):
        p = math.exp(logits[k] - log_sum)
        if k == label:
            p -= 1.0
        grad.append(p)
    return loss, grad


def _dense_backward(weight, inputs, grad_out, grad_weight, grad_bias, need_input_grad):
    """Accumulate the dense layer's parameter gradients; return d/dinputs."""
    for o in range(len(weight)):
        g = grad_out[o]
        grad_bias[o] += g
        for i in range(len(inputs)):
            grad_weight[o][i] += g * inputs[i]
    if not need_input_grad:
        return None
    grad_in = []
    for i in range(len(inputs)):
        total = 0.0
        for o in range(len(weight)):
            total += weight[o][i] * grad_out[o]
        grad_in.append(total)
    return grad_in


def _conv_forward(weight, bias, image):
    """Valid convolution, stride 1: image [c][h][w] -> [f][h-k+1][w-k+1]."""
    filters = len(weight)
    channels = len(weight[0])
    k = len(weight[0][0])
    out_h = len(image[0]) - k + 1
    out_w = len(image[0][0]) - k + 1
    out = []
    for f in range(filters):
        fmap = []
        for y in range(out_h):
            row = []
            for x in range(out_w):
                total = bias[f]
                for c in range(channels):
                    for ky in range(k):
                        for kx in range(k):
                            total += weight[f][c][ky][kx] * image[c][y + ky][x + kx]
                row.append(total)
            fmap.append(row)
        out.append(fmap)
    return out


def _relu_forward(maps):
    out = []
    for f in range(len(maps)):
        fmap = []
        for y in range(len(maps[f])):
            row = []
            for x in range(len(maps[f][y])):
                v = maps[f][y][x]
                row.append(v if v > 0.0 else 0.0)
            fmap.append(row)
        out.append(fmap)
    return out


def _maxpool_forward(maps, size):
    """Non-overlapping max pool; also returns the winner (y, x) per output.

    Ties go to the first maximum in row-major window order (strict ``>``).
    """
    out = []
    winners = []
    for f in range(len(maps)):
        fmap = []
        fwin = []
        for py in range(len(maps[f]) // size):
            row = []
            wrow = []
            for px in range(len(maps[f][0]) // size):
                best = maps[f][py * size][px * size]
                best_y = py * size
                best_x = px * size
                for dy in range(size):
                    for dx in range(size):
                        v = maps[f][py * size + dy][px * size + dx]
                        if v > best:
                            best = v
                            best_y = py * size + dy
                            best_x = px * size + dx
                row.append(best)
                wrow.append((best_y, best_x))
            fmap.append(row)
            fwin.append(wrow)
        out.append(fmap)
        winners.append(fwin)
    return out, winners


def _flatten(maps):
    flat = []
    for f in range(len(maps)):
        for y in range(len(maps[f])):
            for x in range(len(maps[f][y])):
                flat.append(maps[f][y][x])
    return flat


def _zeros_like(value):
    if isinstance(value, list):
        return [_zeros_like(v) for v in value]
    return 0.0


# ----------------------------------------------------------------------------
# cnn-small
# ----------------------------------------------------------------------------

def _cnn_forward(params, flat_image):
    image = _to_image(flat_image)
    conv = _conv_forward(params["0.weight"], params["0.bias"], image)
    relu = _relu_forward(conv)
    pooled, winners = _maxpool_forward(relu, CNN_POOL)
    flat = _flatten(pooled)
    logits = _dense_forward(params["4.weight"], params["4.bias"], flat)
    return image, conv, winners, pooled, flat, logits


def _cnn_sample(params, grads, flat_image, label):
    image, conv, winners, pooled, flat, logits = _cnn_forward(params, flat_image)
    loss, grad_logits = _softmax_cross_entropy(logits, label)
    grad_flat = _dense_backward(params["4.weight"], flat, grad_logits,
                                grads["4.weight"], grads["4.bias"], True)
    # Unflatten, then route each pooled gradient to its window's winner.
    filters = len(pooled)
    ph = len(pooled[0])
    pw = len(pooled[0][0])
    grad_relu = _zeros_like(conv)
    for f in range(filters):
        for py in range(ph):
            for px in range(pw):
                wy, wx = winners[f][py][px]
                grad_relu[f][wy][wx] += grad_flat[f * ph * pw + py * pw + px]
    # ReLU backward (derivative 0 at 0).
    grad_conv = _zeros_like(conv)
    for f in range(filters):
        for y in range(len(conv[f])):
            for x in range(len(conv[f][y])):
                if conv[f][y][x] > 0.0:
                    grad_conv[f][y][x] = grad_relu[f][y][x]
    # Conv parameter gradients (no input gradient for the first layer).
    weight = params["0.weight"]
    gw = grads["0.weight"]
    gb = grads["0.bias"]
    channels = len(weight[0])
    k = len(weight[0][0])
    for f in range(filters):
        for y in range(len(grad_conv[f])):
            for x in range(len(grad_conv[f][y])):
                g = grad_conv[f][y][x]
                gb[f] += g
                for c in range(channels):
                    for ky in range(k):
                        for kx in range(k):
                            gw[f][c][ky][kx] += g * image[c][y + ky][x + kx]
    return loss


def _cnn_loss(params, flat_image, label):
    logits = _cnn_forward(params, flat_image)[-1]
    return _softmax_cross_entropy(logits, label)[0]


# ----------------------------------------------------------------------------
# mlp
# ----------------------------------------------------------------------------

def _mlp_sample(params, grads, flat_image, label):
    hidden_pre = _dense_forward(params["0.weight"], params["0.bias"], flat_image)
    hidden = []
    for v in hidden_pre:
        hidden.append(v if v > 0.0 else 0.0)
    logits = _dense_forward(params["2.weight"], params["2.bias"], hidden)
    loss, grad_logits = _softmax_cross_entropy(logits, label)
    grad_hidden = _dense_backward(params["2.weight"], hidden, grad_logits,
                                  grads["2.weight"], grads["2.bias"], True)
    grad_pre = []
    for j in range(len(hidden_pre)):
        grad_pre.append(grad_hidden[j] if hidden_pre[j] > 0.0 else 0.0)
    _dense_backward(params["0.weight"], flat_image, grad_pre,
                    grads["0.weight"], grads["0.bias"], False)
    return loss


def _mlp_loss(params, flat_image, label):
    hidden = _dense_forward(params["0.weight"], params["0.bias"], flat_image)
    for j in range(len(hidden)):
        if hidden[j] < 0.0:
            hidden[j] = 0.0
    logits = _dense_forward(params["2.weight"], params["2.bias"], hidden)
    return _softmax_cross_entropy(logits, label)[0]


# ----------------------------------------------------------------------------
# lenet
# ----------------------------------------------------------------------------

def _unflatten(flat, channels, height, width):
    maps = []
    for c in range(channels):
        fmap = []
        for y in range(height):
            row = []
            for x in range(width):
                row.append(flat[c * height * width + y * width + x])
            fmap.append(row)
        maps.append(fmap)
    return maps


def _maxpool_backward(grad_pooled, winners, like):
    """Route each pooled gradient to its window's winner; zeros elsewhere."""
    grad = _zeros_like(like)
    for f in range(len(grad_pooled)):
        for py in range(len(grad_pooled[f])):
            for px in range(len(grad_pooled[f][py])):
                wy, wx = winners[f][py][px]
                grad[f][wy][wx] += grad_pooled[f][py][px]
    return grad


def _relu_backward(grad, pre):
    out = _zeros_like(pre)
    for f in range(len(pre)):
        for y in range(len(pre[f])):
            for x in range(len(pre[f][y])):
                if pre[f][y][x] > 0.0:
                    out[f][y][x] = grad[f][y][x]
    return out


def _conv_backward(weight, image, grad_out, grad_weight, grad_bias, need_input_grad):
    """Accumulate the conv parameter gradients; return d/dimage (or None)."""
    channels = len(weight[0])
    k = len(weight[0][0])
    grad_in = _zeros_like(image) if need_input_grad else None
    for f in range(len(weight)):
        for y in range(len(grad_out[f])):
            for x in range(len(grad_out[f][y])):
                g = grad_out[f][y][x]
                grad_bias[f] += g
                for c in range(channels):
                    for ky in range(k):
                        for kx in range(k):
                            grad_weight[f][c][ky][kx] += g * image[c][y + ky][x + kx]
                            if need_input_grad:
                                grad_in[c][y + ky][x + kx] += g * weight[f][c][ky][kx]
    return grad_in


def _lenet_forward(params, flat_image):
    image = _to_image(flat_image)
    conv1 = _conv_forward(params["0.weight"], params["0.bias"], image)
    pool1, win1 = _maxpool_forward(_relu_forward(conv1), CNN_POOL)
    conv2 = _conv_forward(params["3.weight"], params["3.bias"], pool1)
    pool2, win2 = _maxpool_forward(_relu_forward(conv2), CNN_POOL)
    flat = _flatten(pool2)
    hidden_pre = _dense_forward(params["7.weight"], params["7.bias"], flat)
    hidden = []
    for v in hidden_pre:
        hidden.append(v if v > 0.0 else 0.0)
    logits = _dense_forward(params["9.weight"], params["9.bias"], hidden)
    return image, conv1, win1, pool1, conv2, win2, pool2, flat, hidden_pre, hidden, logits


def _lenet_sample(params, grads, flat_image, label):
    (image, conv1, win1, pool1, conv2, win2, pool2, flat, hidden_pre, hidden,
     logits) = _lenet_forward(params, flat_image)
    loss, grad_logits = _softmax_cross_entropy(logits, label)
    grad_hidden = _dense_backward(params["9.weight"], hidden, grad_logits,
                                  grads["9.weight"], grads["9.bias"], True)
    grad_pre = []
    for j in range(len(hidden_pre)):
        grad_pre.append(grad_hidden[j] if hidden_pre[j] > 0.0 else 0.0)
    grad_flat = _dense_backward(params["7.weight"], flat, grad_pre,
                                grads["7.weight"], grads["7.bias"], True)
    grad_pool2 = _unflatten(grad_flat, len(pool2), len(pool2[0]), len(pool2[0][0]))
    grad_conv2 = _relu_backward(_maxpool_backward(grad_pool2, win2, conv2), conv2)
    grad_pool1 = _conv_backward(params["3.weight"], pool1, grad_conv2,
                                grads["3.weight"], grads["3.bias"], True)
    grad_conv1 = _relu_backward(_maxpool_backward(grad_pool1, win1, conv1), conv1)
    _conv_backward(params["0.weight"], image, grad_conv1,
                   grads["0.weight"], grads["0.bias"], False)
    return loss


def _lenet_loss(params, flat_image, label):
    logits = _lenet_forward(params, flat_image)[-1]
    return _softmax_cross_entropy(logits, label)[0]


# ----------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------

SAMPLE_STEPS = {"cnn-small": _cnn_sample, "mlp": _mlp_sample, "lenet": _lenet_sample}
SAMPLE_LOSSES = {"cnn-small": _cnn_loss, "mlp": _mlp_loss, "lenet": _lenet_loss}


def _sgd_update(value, grad, scale):
    """value -= scale * grad, elementwise over nested lists, in place."""
    for i in range(len(value)):
        if isinstance(value[i], list):
            _sgd_update(value[i], grad[i], scale)
        else:
            value[i] -= scale * grad[i]


def _check_batch(images, labels):
    if len(images) != len(labels) or not images:
        raise ValueError("need a non-empty batch with one label per image, got "
                         "%d images and %d labels" % (len(images), len(labels)))


def train_step(params, images, labels, lr):
    """One SGD step on a batch; returns the mean loss before the update."""
    _check_batch(images, labels)
    sample = SAMPLE_STEPS[params["kind"]]
    names = [name for name in params if name != "kind"]
    grads = {}
    for name in names:
        grads[name] = _zeros_like(params[name])
    total = 0.0
    for n in range(len(images)):
        total += sample(params, grads, images[n], labels[n])
    batch = len(images)
    for name in names:
        # The gradient of the mean is the summed gradient divided by the batch.
        _sgd_update(params[name], grads[name], lr / batch)
    return total / batch


def loss_only(params, images, labels):
    """Mean cross-entropy of the batch, no update."""
    _check_batch(images, labels)
    loss = SAMPLE_LOSSES[params["kind"]]
    total = 0.0
    for n in range(len(images)):
        total += loss(params, images[n], labels[n])
    return total / len(images)
