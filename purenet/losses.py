"""Loss functions: a value for a batch and its gradient.

``loss.forward(pred, target)`` returns the mean loss over the batch (a
float); ``loss.backward()`` returns the gradient of that mean with respect to
``pred`` as a Matrix of ``pred``'s shape. Targets are either integer class
labels (a list of ints) or a Matrix / list of rows of the prediction's shape
(one-hot or soft labels for the cross-entropies, any values for MSE).

Cross-entropies can take logits (``from_logits=True``): the loss is then
computed from ``log-sum-exp`` and the gradient is exactly ``p - y``, with no
probability that can underflow. They switch to that form by themselves when
the prediction is the output of the matching activation (``Softmax`` before
``CrossEntropy``, ``Sigmoid`` before ``BinaryCrossEntropy``), which keeps its
logits (:class:`purenet.layers.activations.Probabilities`): ``backward()``
then returns a :class:`~purenet.layers.activations.ProbabilityGradient`,
``d loss / d p`` carrying the exact ``d loss / d logits`` that the
activation's backward passes on. So ``model.backward(loss.backward())``,
``train_on_batch`` and ``fit`` all get ``p - y``.
"""

import math
from numbers import Integral
from typing import List, Sequence, Union

from .layers.activations import Probabilities, ProbabilityGradient, sigmoid, softmax_rows
from .matrix import Matrix

__all__ = ["Loss", "MeanSquaredError", "BinaryCrossEntropy", "CrossEntropy", "LOSSES", "targets_matrix"]

Target = Union[Matrix, Sequence[int], Sequence[Sequence[float]]]

_TINY = 1e-300  # keeps log(p) finite when a probability is exactly 0


def _check_pred(pred, name):
    if not isinstance(pred, Matrix):
        raise TypeError(f"{name}.forward expects predictions as a Matrix; Received: {type(pred).__name__}.")


def is_label_list(target) -> bool:
    """True for a flat sequence of integer class labels."""
    return (
        isinstance(target, (list, tuple, range))
        and len(target) > 0
        and all(isinstance(t, Integral) and not isinstance(t, bool) for t in target)
    )


def check_labels(labels: Sequence[int], rows: int, classes: int, name: str) -> List[int]:
    """Validate integer class labels: one per row, each in ``[0, classes)``."""
    if len(labels) != rows:
        raise ValueError(f"{name}: expected {rows} labels (one per prediction row); Received: {len(labels)}.")
    bad = [t for t in labels if not 0 <= t < classes]
    if bad:
        raise ValueError(
            f"{name}: labels must be class indices in [0, {classes - 1}] for {classes} outputs; "
            f"Received: {bad[0]!r}" + (f" (and {len(bad) - 1} more out of range)." if len(bad) > 1 else ".")
        )
    return [int(t) for t in labels]


def targets_matrix(target: Target, rows: int, cols: int, name: str) -> Matrix:
    """The target as a ``(rows, cols)`` Matrix (integer labels become one-hot rows)."""
    if isinstance(target, Matrix):
        m = target
    elif is_label_list(target):
        if len(target) != rows:
            raise ValueError(f"{name}: expected {rows} labels (one per prediction row); Received: {len(target)}.")
        labels = check_labels(target, rows, cols, name) if cols > 1 else list(target)
        if cols == 1:
            return Matrix.from_flat([float(t) for t in labels], rows, 1)
        data = [0.0] * (rows * cols)
        for i, t in enumerate(labels):
            data[i * cols + t] = 1.0
        return Matrix.from_flat(data, rows, cols)
    elif isinstance(target, (list, tuple)) and target and all(isinstance(t, (int, float)) for t in target) and cols == 1:
        if len(target) != rows:
            raise ValueError(f"{name}: expected {rows} targets (one per prediction row); Received: {len(target)}.")
        m = Matrix.from_flat([float(t) for t in target], len(target), 1)
    else:
        try:
            m = Matrix(target)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: targets must be class labels or rows of {cols} values; Received: {e}") from None
    if m.shape != (rows, cols):
        raise ValueError(f"{name}: expected targets of shape ({rows}, {cols}) to match the predictions; Received: {m.shape}.")
    if not all(map(math.isfinite, m.data)):
        raise ValueError(f"{name}: expected finite target values; Received NaN or infinity.")
    return m


def _check_unit_interval(values, what, hint=""):
    bad = next((v for v in values if not 0.0 <= v <= 1.0), None)
    if bad is not None:
        raise ValueError(f"BinaryCrossEntropy: {what} must lie in [0, 1]{hint}; Received: {bad!r}.")


class Loss:
    """Base class: ``forward(pred, target) -> float`` and ``backward() -> Matrix``."""

    def forward(self, pred: Matrix, target: Target) -> float:
        raise NotImplementedError

    def backward(self) -> Matrix:
        if getattr(self, "_grad", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward().")
        return self._grad

    def __call__(self, pred: Matrix, target: Target) -> float:
        return self.forward(pred, target)

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean squared error over every entry.

    Forward:  ``L = mean_{n, d} (p[n, d] - y[n, d])^2``.
    Backward: ``dL/dp = 2 (p - y) / (N * D)``.

    Integer labels are turned into one-hot rows, as the original
    from-scratch project trained its classifier.

    Shape:
        pred ``(N, D)``; target ``(N, D)`` or N integer labels.
    """

    def forward(self, pred: Matrix, target: Target) -> float:
        _check_pred(pred, "MeanSquaredError")
        y = targets_matrix(target, pred.rows, pred.cols, "MeanSquaredError")
        diff = [a - b for a, b in zip(pred.data, y.data)]
        n = len(diff)
        self._grad = Matrix.from_flat([d * (2.0 / n) for d in diff], pred.rows, pred.cols)
        return math.fsum(d * d for d in diff) / n


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy over every entry (independent yes/no outputs).

    Forward:  ``L = -mean_{n, d} [y log p + (1 - y) log(1 - p)]``.
    Backward: ``dL/dp = (p - y) / (p (1 - p)) / (N * D)``.

    With ``from_logits=True`` the input is ``z`` with ``p = sigmoid(z)``:
    ``L = mean [max(z, 0) - z y + log(1 + e^-|z|)]`` and ``dL/dz = (p - y) / (N * D)``.
    A :class:`purenet.Sigmoid`'s output (which keeps its logits) is taken that
    way by itself; ``backward()`` then also carries ``dL/dz`` (see the module
    docstring).

    Shape:
        pred ``(N, D)``; target ``(N, D)`` in [0, 1], or N labels 0/1 when D = 1.
    """

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def forward(self, pred: Matrix, target: Target) -> float:
        _check_pred(pred, "BinaryCrossEntropy")
        y = targets_matrix(target, pred.rows, pred.cols, "BinaryCrossEntropy")
        _check_unit_interval(y.data, "targets")
        if self.from_logits:
            return self._from_logits(pred, y)
        if isinstance(pred, Probabilities) and pred.activation == "sigmoid":  # a Sigmoid's output: use its logits
            value = self._from_logits(pred.logits, y)
            logits_grad = self._grad
            self._from_probabilities(pred, y)
            self._grad = ProbabilityGradient.of(self._grad, logits_grad, pred)
            return value
        return self._from_probabilities(pred, y)

    def _from_probabilities(self, pred: Matrix, y: Matrix) -> float:
        _check_unit_interval(pred.data, "predictions", " (or use from_logits=True for logits)")
        n = len(y.data)
        terms, grad = [], []
        for p, t in zip(pred.data, y.data):
            pc = min(max(p, _TINY), 1.0 - 1e-16)
            terms.append(-(t * math.log(pc) + (1.0 - t) * math.log1p(-pc)))
            grad.append((pc - t) / (pc * (1.0 - pc)) / n)
        self._grad = Matrix.from_flat(grad, pred.rows, pred.cols)
        return math.fsum(terms) / n

    def forward_logits(self, logits: Matrix, target: Target) -> float:
        """The loss of ``sigmoid(logits)``; ``backward()`` then gives ``dL/dlogits``."""
        _check_pred(logits, "BinaryCrossEntropy")
        y = targets_matrix(target, logits.rows, logits.cols, "BinaryCrossEntropy")
        _check_unit_interval(y.data, "targets")
        return self._from_logits(logits, y)

    def _from_logits(self, logits: Matrix, y: Matrix) -> float:
        n = len(y.data)
        z = logits.data
        terms = [max(v, 0.0) - v * t + math.log1p(math.exp(-abs(v))) for v, t in zip(z, y.data)]
        self._grad = Matrix.from_flat([(sigmoid(v) - t) / n for v, t in zip(z, y.data)], logits.rows, logits.cols)
        return math.fsum(terms) / n

    def get_config(self):
        return {"from_logits": True} if self.from_logits else {}


class CrossEntropy(Loss):
    """Categorical cross-entropy for one-of-C classification.

    Forward:  ``L = -mean_n sum_c y[n, c] log p[n, c]`` (with integer labels,
    ``-mean_n log p[n, label_n]``).
    Backward: ``dL/dp = -y / p / N``.

    With ``from_logits=True`` the input is ``z`` with ``p = softmax(z)``:
    ``L = mean_n [logsumexp(z_n) - sum_c y[n, c] z[n, c]]`` and
    ``dL/dz = (p - y) / N`` (``(sum(y) p - y) / N`` for targets that do not sum
    to 1), exact even when ``p`` underflows. A :class:`purenet.Softmax`'s
    output (which keeps its logits) is taken that way by itself, so the loss
    equals PyTorch's ``cross_entropy`` of the logits; ``backward()`` then also
    carries ``dL/dz`` (see the module docstring).

    Shape:
        pred ``(N, C)``; target N integer labels in ``[0, C)`` or ``(N, C)`` rows.
    """

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def forward(self, pred: Matrix, target: Target) -> float:
        _check_pred(pred, "CrossEntropy")
        if self.from_logits:
            return self.forward_logits(pred, target)
        if isinstance(pred, Probabilities) and pred.activation == "softmax":  # a Softmax's output: use its logits
            value = self.forward_logits(pred.logits, target)
            logits_grad = self._grad
            self._from_probabilities(pred, target)
            self._grad = ProbabilityGradient.of(self._grad, logits_grad, pred)
            return value
        return self._from_probabilities(pred, target)

    def _from_probabilities(self, pred: Matrix, target: Target) -> float:
        if pred.cols < 2:
            raise ValueError(f"CrossEntropy needs at least 2 classes; Received predictions of shape {pred.shape}. Use BinaryCrossEntropy.")
        n, c = pred.rows, pred.cols
        p = pred.data
        if is_label_list(target):
            labels = check_labels(target, n, c, "CrossEntropy")
            picked = [max(p[i * c + t], _TINY) for i, t in enumerate(labels)]
            grad = [0.0] * (n * c)
            for i, (t, pt) in enumerate(zip(labels, picked)):
                grad[i * c + t] = -1.0 / (pt * n)
            self._grad = Matrix.from_flat(grad, n, c)
            return -math.fsum(map(math.log, picked)) / n
        y = targets_matrix(target, n, c, "CrossEntropy").data
        self._grad = Matrix.from_flat([-t / (max(q, _TINY) * n) for q, t in zip(p, y)], n, c)
        return -math.fsum(t * math.log(max(q, _TINY)) for q, t in zip(p, y) if t) / n

    def forward_logits(self, logits: Matrix, target: Target) -> float:
        """The loss of ``softmax(logits)``; ``backward()`` then gives ``dL/dlogits``.

        The probabilities it computed on the way stay in ``last_probabilities``
        (a flat ``(N, C)`` list), so a training loop can count correct
        predictions without a second forward pass.
        """
        _check_pred(logits, "CrossEntropy")
        n, c = logits.rows, logits.cols
        if c < 2:
            raise ValueError(f"CrossEntropy needs at least 2 classes; Received logits of shape {logits.shape}.")
        z = logits.data
        probs = softmax_rows(z, n, c)
        log_norm = []  # logsumexp of each row
        for s in range(0, n * c, c):
            row = z[s : s + c]
            m = max(row)
            log_norm.append(m + math.log(math.fsum(math.exp(v - m) for v in row)))
        inv_n = 1.0 / n
        if is_label_list(target):
            labels = check_labels(target, n, c, "CrossEntropy")
            grad = [q * inv_n for q in probs]
            losses = []
            for i, t in enumerate(labels):
                grad[i * c + t] -= inv_n
                losses.append(log_norm[i] - z[i * c + t])
        else:
            y = targets_matrix(target, n, c, "CrossEntropy").data
            grad, losses = [], []
            for i, s in enumerate(range(0, n * c, c)):
                yr = y[s : s + c]
                mass = math.fsum(yr)  # 1 for one-hot or normalised soft targets
                # L_i = mass * logsumexp(z_i) - y_i . z_i, so dL_i/dz = mass * p_i - y_i
                losses.append(log_norm[i] * mass - math.fsum(a * b for a, b in zip(yr, z[s : s + c])))
                grad += [(mass * q - t) * inv_n for q, t in zip(probs[s : s + c], yr)]
        self._grad = Matrix.from_flat(grad, n, c)
        self.last_probabilities = probs
        return math.fsum(losses) / n

    def get_config(self):
        return {"from_logits": True} if self.from_logits else {}


LOSSES = {cls.__name__: cls for cls in (MeanSquaredError, BinaryCrossEntropy, CrossEntropy)}
