"""Named model architectures: the models the command line, tests and benchmarks share.

    >>> from purenet.architectures import build
    >>> model = build("cnn-small")
    >>> model.count_params()
    13610
    >>> build("mlp", classes=2).output_shape
    (2,)

Each name maps to a function that returns a fresh list of layers for a given
number of classes; :func:`build` wraps them in a :class:`purenet.Sequential`
for 28x28 grey images, ``input_shape=(1, 28, 28)``, seeded.

- ``cnn-small``: exactly the reference workload of PERFORMANCE.md, one conv
  stage and a linear classifier (13,610 parameters). The default of
  ``purenet train``: fast, and ~98% on MNIST.
- ``mlp``: the classic fully connected baseline, one hidden layer of 128
  (101,770 parameters). No convolution, so a yardstick for what it buys.
- ``lenet``: the accuracy model, two conv/pool stages and a small dense
  head (27,562 parameters), in the spirit of LeCun's LeNet-5 but sized for
  pure Python: 8 and 16 filters of 3x3 (LeNet-5 had 6 and 16 of 5x5 and
  three dense layers), valid padding so the second stage works on 13x13
  maps, and a 64-unit hidden layer. Per image it costs about 0.2 M
  multiply-adds forward (conv1 49 k, conv2 139 k, dense 26 k), four times
  cnn-small, which is what a full 60,000-image MNIST epoch can afford on
  one core. It is the model meant to pass 99% on MNIST; measured so far:
  ``purenet train --arch lenet --data mnist --epochs 5`` (the other
  options at their defaults) reaches 98.96% on the 10,000 test images
  (15 minutes on PyPy 3.9; ~2.5 minutes per epoch there).

- ``cnn-bn``: the same two conv/pool stages as lenet, each followed by
  ``BatchNorm2D``, then a third convolution (32 filters, no bias: the
  BatchNorm after it would cancel one) with ``BatchNorm2D`` and
  ``LeakyReLU``, and ``GlobalAvgPool2D`` instead of a dense layer over
  positions (6,298 parameters). BatchNorm sits after each pooled stage so
  that every Conv2D-ReLU-MaxPool2D run keeps its fused step.

What this module is not: a model zoo or a config language. Models with
other shapes are written directly as ``pn.Sequential([...])``; this file
only names the few that everything else refers to.
"""

from typing import Callable, Dict, List

from .layers import (
    BatchNorm2D, Conv2D, Dense, Flatten, GlobalAvgPool2D, Layer, LeakyReLU, MaxPool2D, ReLU, Softmax,
)
from .model import Sequential

__all__ = ["ARCHITECTURES", "INPUT_SHAPE", "build", "describe"]

#: One MNIST image: (C, H, W).
INPUT_SHAPE = (1, 28, 28)


def cnn_small(classes: int) -> List[Layer]:
    """Conv2D(8, 3) ReLU MaxPool2D(2) Flatten Dense Softmax: one conv stage.

    Shapes: (1, 28, 28) -> (8, 26, 26) -> (8, 13, 13) -> 1352 -> classes.
    """
    return [Conv2D(8, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(classes), Softmax()]


def mlp(classes: int) -> List[Layer]:
    """Flatten Dense(128) ReLU Dense Softmax: no convolution.

    Shapes: 784 -> 128 -> classes.
    """
    return [Flatten(), Dense(128), ReLU(), Dense(classes), Softmax()]


def lenet(classes: int) -> List[Layer]:
    """2 x [Conv2D(8|16, 3) ReLU MaxPool2D(2)] Flatten Dense(64) ReLU Dense Softmax.

    Shapes: (1, 28, 28) -> (8, 26, 26) -> (8, 13, 13) -> (16, 11, 11) -> (16, 5, 5) -> 400
    -> 64 -> classes.
    """
    return [
        Conv2D(8, 3), ReLU(), MaxPool2D(2),
        Conv2D(16, 3), ReLU(), MaxPool2D(2),
        Flatten(), Dense(64), ReLU(), Dense(classes), Softmax(),
    ]


def cnn_bn(classes: int) -> List[Layer]:
    """2 x [Conv2D ReLU MaxPool2D BatchNorm2D], Conv2D BatchNorm2D LeakyReLU, GlobalAvgPool2D Dense Softmax.

    Shapes: (1, 28, 28) -> (8, 26, 26) -> (8, 13, 13) -> (16, 11, 11) -> (16, 5, 5)
    -> (32, 3, 3) -> 32 -> classes.
    """
    return [
        Conv2D(8, 3), ReLU(), MaxPool2D(2), BatchNorm2D(),
        Conv2D(16, 3), ReLU(), MaxPool2D(2), BatchNorm2D(),
        Conv2D(32, 3, use_bias=False), BatchNorm2D(), LeakyReLU(0.1), GlobalAvgPool2D(),
        Dense(classes), Softmax(),
    ]


#: name -> function(classes) returning a fresh list of layers.
ARCHITECTURES: Dict[str, Callable[[int], List[Layer]]] = {
    "cnn-small": cnn_small,
    "mlp": mlp,
    "lenet": lenet,
    "cnn-bn": cnn_bn,
}


def describe(name: str) -> str:
    """A one-line description of architecture ``name`` (its builder's docstring)."""
    return _get(name).__doc__.strip().splitlines()[0]


def build(name: str, classes: int = 10, seed: int = 0) -> Sequential:
    """A fresh, seeded model of architecture ``name`` for ``(1, 28, 28)`` images.

    Args:
        name: one of :data:`ARCHITECTURES` (``"cnn-small"``, ``"mlp"``, ``"lenet"``, ``"cnn-bn"``).
        classes: number of outputs (classes), at least 2.
        seed: seeds the model's generator (weights, shuffling); the same seed
            gives the same weights.

    Raises:
        ValueError: unknown ``name`` or fewer than 2 classes.
    """
    make = _get(name)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be an int >= 2 (a softmax over one class is always 1); Received: {classes!r}.")
    return Sequential(make(classes), input_shape=INPUT_SHAPE, seed=seed)


def _get(name: str) -> Callable[[int], List[Layer]]:
    make = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if make is None:
        raise ValueError(f"unknown architecture: expected one of {', '.join(ARCHITECTURES)}; Received: {name!r}.")
    return make
