"""Elementwise activations (``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``) and ``Softmax``.

None of them has weights or changes the shape: input and output are both
``(N, D)``.
"""

import math
from typing import Optional

from ..matrix import Matrix
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "sigmoid", "softmax_rows"]

_exp = math.exp


def sigmoid(v: float) -> float:
    """``1 / (1 + e^-v)``, computed without overflow for large ``|v|``."""
    if v >= 0.0:
        return 1.0 / (1.0 + _exp(-v))
    e = _exp(v)
    return e / (1.0 + e)


def softmax_rows(data, rows, cols):
    """Row-wise softmax of a flat ``(rows, cols)`` list, shifted by each row's max."""
    out = []
    for s in range(0, rows * cols, cols):
        row = data[s : s + cols]
        m = max(row)
        e = [_exp(v - m) for v in row]
        inv = 1.0 / sum(e)
        out += [v * inv for v in e]
    return out


class _Elementwise(Layer):
    """An activation applied to every entry; subclasses give ``_forward``/``_backward``."""

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        y = self._forward(x.data)
        self._x, self._y = x.data, y
        return Matrix.from_flat(y, x.rows, x.cols)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        rows = len(self._y) // grad.cols if grad.cols else 0
        self._check_grad(grad, rows)
        if not input_grad:
            return None
        return Matrix.from_flat(self._backward(grad.data), grad.rows, grad.cols)


class ReLU(_Elementwise):
    """Rectified linear unit.

    Forward:  ``y = max(x, 0)``.   Backward: ``dx = dy`` where ``x > 0``, else 0.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    def _forward(self, x):
        return [v if v > 0.0 else 0.0 for v in x]

    def _backward(self, g):
        return [d if v > 0.0 else 0.0 for d, v in zip(g, self._x)]


class LeakyReLU(_Elementwise):
    """Leaky rectified linear unit (PyTorch's ``nn.LeakyReLU``).

    Forward:  ``y = x`` where ``x > 0``, else ``negative_slope * x``.
    Backward: ``dx = dy`` where ``x > 0``, else ``negative_slope * dy``.

    Args:
        negative_slope: the slope for negative inputs (any finite number).

    Shape:
        input ``(N, D)``, output ``(N, D)``.

    Example:
        >>> import random
        >>> act = LeakyReLU(0.1)
        >>> act.build((3,), random.Random(0))
        (3,)
        >>> act.forward(Matrix([[-2.0, 0.0, 3.0]])).data
        [-0.2, 0.0, 3.0]
    """

    def __init__(self, negative_slope: float = 0.01):
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float))
            or not math.isfinite(negative_slope)
        ):
            raise ValueError(f"LeakyReLU negative_slope must be a finite number; Received: {negative_slope!r}.")
        self.negative_slope = float(negative_slope)

    def _forward(self, x):
        a = self.negative_slope
        return [v if v > 0.0 else v * a for v in x]

    def _backward(self, g):
        a = self.negative_slope
        return [d if v > 0.0 else d * a for d, v in zip(g, self._x)]

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class Sigmoid(_Elementwise):
    """Logistic sigmoid.

    Forward:  ``y = 1 / (1 + e^-x)``.   Backward: ``dx = dy * y * (1 - y)``.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    def _forward(self, x):
        return list(map(sigmoid, x))

    def _backward(self, g):
        return [d * y * (1.0 - y) for d, y in zip(g, self._y)]


class Tanh(_Elementwise):
    """Hyperbolic tangent.

    Forward:  ``y = tanh(x)``.   Backward: ``dx = dy * (1 - y^2)``.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    def _forward(self, x):
        return list(map(math.tanh, x))

    def _backward(self, g):
        return [d * (1.0 - y * y) for d, y in zip(g, self._y)]


class Softmax(Layer):
    """Softmax over each row: the outputs of a sample are positive and sum to 1.

    Forward:  ``y_i = e^(x_i - m) / sum_j e^(x_j - m)`` with ``m = max_j x_j``
    (the shift changes nothing mathematically and prevents overflow).

    Backward: ``dx_i = y_i * (dy_i - sum_j dy_j y_j)``.

    Followed by :class:`purenet.CrossEntropy`, a :class:`purenet.Sequential`
    fuses the pair and computes the loss from the logits, so the gradient
    ``p - y`` stays exact even when a probability underflows to 0.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        self._y = softmax_rows(x.data, x.rows, x.cols)
        return Matrix.from_flat(self._y, x.rows, x.cols)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        cols = grad.cols
        self._check_grad(grad, len(self._y) // cols)
        if not input_grad:
            return None
        y, g, out = self._y, grad.data, []
        for s in range(0, len(y), cols):
            yr, gr = y[s : s + cols], g[s : s + cols]
            inner = math.fsum(a * b for a, b in zip(yr, gr))
            out += [a * (b - inner) for a, b in zip(yr, gr)]
        return Matrix.from_flat(out, grad.rows, cols)
