"""Elementwise activations (``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``), ``Softmax`` and ``LogSoftmax``.

None of them has weights or changes the shape: input and output are both
``(N, D)``.

``Softmax`` and ``Sigmoid`` return :class:`Probabilities`: the probabilities,
which keep the logits they came from (``.logits``), as Keras keeps them on
its softmax output. A cross-entropy given such a matrix computes the loss
from the logits, and its gradient (a :class:`ProbabilityGradient`) carries
the exact ``d loss / d logits`` that the activation's backward then returns,
so ``p - y`` stays exact even where a probability underflows to 0.
"""

import math
from numbers import Real
from typing import Optional

from ..matrix import Matrix
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Probabilities", "ProbabilityGradient",
           "sigmoid", "softmax_rows"]

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


class Probabilities(Matrix):
    """The output of :class:`Softmax` or :class:`Sigmoid`: a Matrix of probabilities
    that keeps the logits it was computed from.

    Attributes:
        logits: the activation's input ``z`` (a Matrix of the same shape).
        activation: ``"softmax"`` or ``"sigmoid"``: how the values follow from ``logits``.

    :class:`purenet.CrossEntropy` (given a softmax's output) and
    :class:`purenet.BinaryCrossEntropy` (a sigmoid's) compute the loss from
    ``logits``, as if ``from_logits=True``. Everything else sees a plain Matrix.

    Shape:
        ``(N, D)``, as ``logits``.

    Example:
        >>> p = Softmax()
        >>> _ = p.build((2,), None)
        >>> out = p.forward(Matrix([[1000.0, -1000.0]]))
        >>> out.data, out.logits.data, out.activation
        ([1.0, 0.0], [1000.0, -1000.0], 'softmax')
    """

    __slots__ = ("logits", "activation")

    @classmethod
    def of(cls, data, logits: Matrix, activation: str) -> "Probabilities":
        p = cls.from_flat(data, logits.rows, logits.cols)
        p.logits, p.activation = logits, activation
        return p


class ProbabilityGradient(Matrix):
    """What a cross-entropy's ``backward()`` returns for :class:`Probabilities`:
    ``d loss / d p`` (the values, as for any prediction), plus the exact
    ``d loss / d logits`` in ``logits_grad``.

    The activation that produced ``probabilities`` returns ``logits_grad`` as
    its input gradient instead of multiplying ``d loss / d p`` by its
    Jacobian: the product of ``-y / p`` and ``p`` loses everything once ``p``
    underflows, ``p - y`` does not. Multiplying or dividing by a number
    scales both; any other arithmetic gives a plain Matrix.

    Attributes:
        logits_grad: ``d loss / d logits``, a Matrix of the same shape.
        probabilities: the :class:`Probabilities` the loss was given.

    Shape:
        ``(N, D)``, as the probabilities.
    """

    __slots__ = ("logits_grad", "probabilities")

    @classmethod
    def of(cls, grad: Matrix, logits_grad: Matrix, probabilities: Probabilities) -> "ProbabilityGradient":
        g = cls.from_flat(grad.data, grad.rows, grad.cols)
        g.logits_grad, g.probabilities = logits_grad, probabilities
        return g

    def __mul__(self, other):
        if isinstance(other, Real) and not isinstance(other, bool):
            return ProbabilityGradient.of(Matrix.__mul__(self, other), self.logits_grad * other, self.probabilities)
        return Matrix.__mul__(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, Real) and not isinstance(other, bool):
            return ProbabilityGradient.of(Matrix.__truediv__(self, other), self.logits_grad / other, self.probabilities)
        return Matrix.__truediv__(self, other)


def _logits_grad(grad: Matrix, out: Optional[Matrix]) -> Optional[Matrix]:
    """The exact ``d loss / d logits`` when ``grad`` is the loss's gradient for ``out``, else None."""
    if isinstance(grad, ProbabilityGradient) and out is not None and grad.probabilities is out:
        return grad.logits_grad
    return None


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

    The output is a :class:`Probabilities` keeping ``x`` as its ``logits``:
    :class:`purenet.BinaryCrossEntropy` computes the loss from them, and
    backward returns that loss's exact ``d loss / d x = (y - t) / (N * D)``
    (its :class:`ProbabilityGradient`) instead of the product above, which
    loses it where ``y`` rounds to 0 or 1.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    _out = None

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        y = _Elementwise.forward(self, x, training)
        self._out = out = Probabilities.of(y.data, x, "sigmoid")
        return out

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        exact = _logits_grad(grad, self._out)
        if exact is None:
            return _Elementwise.backward(self, grad, input_grad)
        self._check_grad(grad, self._out.rows)
        return exact if input_grad else None

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

    The output is a :class:`Probabilities` keeping ``x`` as its ``logits``,
    as Keras keeps them on its softmax output: :class:`purenet.CrossEntropy`
    computes the loss from them (``logsumexp(x) - x[label]``), and backward,
    given that loss's gradient (a :class:`ProbabilityGradient`), returns its
    exact ``d loss / d x = (y - t) / N`` instead of the product above, which
    is 0 where ``y`` underflows: ``p - y`` stays exact for confidently wrong
    predictions, on every way of training.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    _out = None

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        self._y = softmax_rows(x.data, x.rows, x.cols)
        self._out = out = Probabilities.of(self._y, x, "softmax")
        return out

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        cols = grad.cols
        self._check_grad(grad, len(self._y) // cols)
        if not input_grad:
            return None
        exact = _logits_grad(grad, self._out)
        if exact is not None:
            return exact
        y, g, out = self._y, grad.data, []
        for s in range(0, len(y), cols):
            yr, gr = y[s : s + cols], g[s : s + cols]
            inner = math.fsum(a * b for a, b in zip(yr, gr))
            out += [a * (b - inner) for a, b in zip(yr, gr)]
        return Matrix.from_flat(out, grad.rows, cols)


class LogSoftmax(Layer):
    """The logarithm of :class:`Softmax`, computed directly: finite even where
    a probability underflows (PyTorch's ``nn.LogSoftmax(dim=1)``).

    Forward:  ``y_i = x_i - m - log(sum_j e^(x_j - m))`` with ``m = max_j x_j``.

    Backward: ``dx_i = dy_i - p_i * sum_j dy_j`` with ``p_i = e^(y_i)``.

    Shape:
        input ``(N, D)``, output ``(N, D)`` (over all D features of a sample).

    Example:
        >>> import random
        >>> layer = LogSoftmax()
        >>> layer.build((2,), random.Random(0))
        (2,)
        >>> [round(v, 4) for v in layer.forward(Matrix([[0.0, 0.0]])).data]
        [-0.6931, -0.6931]
    """

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        cols, out = x.cols, []
        for s in range(0, x.rows * cols, cols):
            row = x.data[s : s + cols]
            m = max(row)
            shift = m + math.log(math.fsum(_exp(v - m) for v in row))
            out += [v - shift for v in row]
        self._y = out
        return Matrix.from_flat(out, x.rows, cols)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        cols = grad.cols
        self._check_grad(grad, len(self._y) // cols if cols else 0)
        if not input_grad:
            return None
        y, g, out = self._y, grad.data, []
        for s in range(0, len(y), cols):
            gr = g[s : s + cols]
            total = math.fsum(gr)
            out += [d - _exp(v) * total for d, v in zip(gr, y[s : s + cols])]
        return Matrix.from_flat(out, grad.rows, cols)
