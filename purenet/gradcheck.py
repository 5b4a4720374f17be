"""``gradcheck``: compare backpropagated gradients with finite differences.

For a layer, the checked scalar is ``f(x) = sum(forward(x) * R)`` with a
fixed random ``R`` (so every output contributes); for a model with a loss,
it is the loss itself, computed the way ``fit`` computes it (the model's
plan; after Softmax, CrossEntropy from the logits its output keeps). Every
parameter entry and every input entry is nudged by ``+-eps`` and the central
difference ``(f(+) - f(-)) / (2 eps)`` is compared with the analytic
gradient. Run it in float64 on small inputs: each entry costs two forward
passes.

Every pass starts from the same state: layers with their own generator
(Dropout) replay the same draws, and buffers (running statistics a
training-mode forward updates) are put back as they were, so the function
differentiated is the same each time.
"""

import math
import random
from typing import Dict, List

from .layers.base import Layer, run_backward
from .matrix import Matrix

__all__ = ["gradcheck", "GradcheckResult"]


class GradcheckResult:
    """Per-tensor errors. ``rel_error[name] = |analytic - numeric| / max(|analytic|, |numeric|)``
    taken over the whole tensor (Euclidean norms); ``ok`` when every tensor is within ``rtol``."""

    def __init__(self, rel_error: Dict[str, float], abs_error: Dict[str, float], rtol: float):
        self.rel_error = rel_error
        self.abs_error = abs_error
        self.rtol = rtol

    @property
    def max_rel_error(self) -> float:
        return max(self.rel_error.values())

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.rtol

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {v:.2e}" for k, v in self.rel_error.items())
        return f"GradcheckResult({'ok' if self.ok else 'FAILED'}; relative errors {parts})"


def _rel(a: List[float], b: List[float]):
    diff = math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b)))
    scale = max(math.sqrt(math.fsum(x * x for x in a)), math.sqrt(math.fsum(y * y for y in b)))
    if scale == 0.0:
        return 0.0, 0.0
    return diff / scale, max(abs(x - y) for x, y in zip(a, b))


def gradcheck(
    obj,
    x,
    y=None,
    loss=None,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    training: bool = False,
    seed: int = 0,
    check_input: bool = True,
) -> GradcheckResult:
    """Check ``obj``'s gradients (a built :class:`Layer`, or a ``Sequential`` with ``y`` and ``loss``).

    Returns a :class:`GradcheckResult` (truthy when every relative error is
    at most ``rtol``). ``training=True`` checks the training-mode forward; a
    layer with its own ``rng`` (Dropout) replays the same random draws.

    >>> import random, purenet as pn
    >>> layer = pn.Dense(3); _ = layer.build((4,), random.Random(0))
    >>> x = pn.Matrix([[0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8]])
    >>> bool(pn.gradcheck(layer, x))
    True
    """
    from .model import Sequential

    if not isinstance(x, Matrix):
        x = Matrix(x)
    if isinstance(obj, Sequential):
        if loss is None or y is None:
            raise ValueError("gradcheck of a model needs targets y and a loss.")
        params = obj.named_parameters()
        random_layers = [l for l in obj.layers if hasattr(l, "rng")]
        states = [l.rng.getstate() for l in random_layers]
        buffers = [(b, list(b.data)) for b in obj.buffers()]

        def run(backward):
            for layer, state in zip(random_layers, states):  # replay the same dropout masks
                layer.rng.setstate(state)
            for b, values in buffers:
                b.data[:] = values
            value, _, gx = obj._loss_and_grad(x, y, loss, training, input_grad=backward)
            return value, gx
    elif isinstance(obj, Layer):
        if not obj.built:
            raise ValueError("gradcheck: build the layer first (layer.build(input_shape, rng)).")
        params = obj.named_parameters()
        buffers = [(b, list(b.data)) for b in obj.buffers()]
        states = [l.rng.getstate() for l in [obj] if hasattr(l, "rng")]
        out = obj.forward(x, training)
        rng = random.Random(seed)
        weights = [rng.uniform(-1.0, 1.0) for _ in out.data]

        def run(backward):
            for state in states:
                obj.rng.setstate(state)
            for b, values in buffers:
                b.data[:] = values
            out = obj.forward(x, training)
            value = math.fsum(a * b for a, b in zip(out.data, weights))
            gx = run_backward(obj, Matrix.from_flat(list(weights), out.rows, out.cols)) if backward else None
            return value, gx
    else:
        raise TypeError(f"gradcheck expects a Layer or a Sequential; Received: {type(obj).__name__}.")

    for _, p in params:
        p.zero_grad()
    _, gx = run(True)
    analytic = {name: list(p.grad.data) for name, p in params}
    if check_input and gx is not None:
        analytic["input"] = list(gx.data)

    targets = [(name, p.data) for name, p in params]
    if check_input and gx is not None:
        targets.append(("input", x.data))
    rel, err = {}, {}
    for name, data in targets:
        numeric = []
        for i in range(len(data)):
            old = data[i]
            data[i] = old + eps
            fp, _ = run(False)
            data[i] = old - eps
            fm, _ = run(False)
            data[i] = old
            numeric.append((fp - fm) / (2.0 * eps))
        rel[name], err[name] = _rel(analytic[name], numeric)
    for _, p in params:
        p.zero_grad()
    for b, values in buffers:  # as before the check
        b.data[:] = values
    return GradcheckResult(rel, err, rtol)
