"""The same SGD training step in PyTorch, for scale (never used by purenet).

Same interface and conventions as ``naive.py``: the real ``nn.Sequential``
(so the state-dict names are PyTorch's own), ``F.cross_entropy`` (mean over
the batch, stable log-softmax), autograd, and a plain SGD update
``p -= lr * p.grad``. PyTorch's CPU max pool sends a tie to the first
maximum and its ReLU has derivative 0 at 0, like the others.

``cnn-bn`` (BatchNorm2D, LeakyReLU, global average pooling) exists here
only, not in naive.py or reference_numpy.py; its BatchNorm layers train on
the batch's statistics and move their running statistics, as purenet's.

The runner times float32 with ``torch.set_num_threads(1)`` (one core, like
pure Python); ``init_from_state(state, dtype="float64")`` exists so the
verification can hold PyTorch to the same 1e-9 as everything else.
``prepare(images, labels, dtype)`` builds the tensors once, outside the timed
region.
"""

import copy

import torch
from torch import nn
import torch.nn.functional as F

torch.set_num_threads(1)

IMAGE_SIZE = 28


def _dtype(dtype):
    return {"float32": torch.float32, "float64": torch.float64}[str(dtype)]


def init_from_state(state, dtype="float32"):
    dt = _dtype(dtype)
    if "13.weight" in state:
        kind = "cnn-bn"
        w13 = torch.tensor(state["13.weight"], dtype=dt)
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(8),
                              nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(16),
                              nn.Conv2d(16, 32, 3, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.1),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w13.shape[1], w13.shape[0]))
    elif "9.weight" in state:
        kind = "lenet"
        w0 = torch.tensor(state["0.weight"], dtype=dt)
        w3 = torch.tensor(state["3.weight"], dtype=dt)
        w7 = torch.tensor(state["7.weight"], dtype=dt)
        w9 = torch.tensor(state["9.weight"], dtype=dt)
        model = nn.Sequential(nn.Conv2d(w0.shape[1], w0.shape[0], w0.shape[2]), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(w3.shape[1], w3.shape[0], w3.shape[2]), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(w7.shape[1], w7.shape[0]), nn.ReLU(),
                              nn.Linear(w9.shape[1], w9.shape[0]))
    elif "4.weight" in state:
        kind = "cnn-small"
        w0 = torch.tensor(state["0.weight"], dtype=dt)
        w4 = torch.tensor(state["4.weight"], dtype=dt)
        filters, channels, k, _ = w0.shape
        model = nn.Sequential(nn.Conv2d(channels, filters, k), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(w4.shape[1], w4.shape[0]))
    elif "2.weight" in state:
        kind = "mlp"
        w0 = torch.tensor(state["0.weight"], dtype=dt)
        w2 = torch.tensor(state["2.weight"], dtype=dt)
        model = nn.Sequential(nn.Linear(w0.shape[1], w0.shape[0]), nn.ReLU(),
                              nn.Linear(w2.shape[1], w2.shape[0]))
    else:
        raise ValueError("unknown state dict: %s" % sorted(state))
    model = model.to(dt)
    own = model.state_dict()
    loaded = {name: torch.tensor(value, dtype=dt).reshape(own[name].shape)
              for name, value in state.items()}
    model.load_state_dict(loaded)
    return {"kind": kind, "dtype": dt, "model": model}


def state_dict(params):
    return {name: value.detach().to(torch.float64).tolist()
            for name, value in params["model"].state_dict().items()}


def prepare(images, labels, dtype="float32"):
    dt = _dtype(dtype)
    x = images if isinstance(images, torch.Tensor) else torch.tensor(images, dtype=dt)
    x = x.to(dt).reshape(len(labels), -1)
    y = torch.as_tensor(labels, dtype=torch.int64)
    return x, y


def _inputs(params, images, labels):
    if isinstance(images, torch.Tensor) and images.dtype == params["dtype"]:
        x, y = images, torch.as_tensor(labels, dtype=torch.int64)
    else:
        x, y = prepare(images, labels, str(params["dtype"]).replace("torch.", ""))
    if params["kind"] in ("cnn-small", "lenet", "cnn-bn"):
        x = x.reshape(x.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE)
    return x, y


def train_step(params, images, labels, lr):
    """One SGD step on the batch; returns the mean loss before the update."""
    model = params["model"]
    x, y = _inputs(params, images, labels)
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.item()


def loss_only(params, images, labels):
    """The loss train_step would report, changing nothing: in training mode (a
    BatchNorm normalises with the batch's statistics) on a copy of the model,
    whose running statistics move instead of the model's."""
    x, y = _inputs(params, images, labels)
    with torch.no_grad():
        return F.cross_entropy(copy.deepcopy(params["model"])(x), y).item()
