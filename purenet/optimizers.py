"""Optimizers, in order of increasing complexity: ``SGD`` (with momentum), ``Adam``.

An optimizer owns its update state (momentum buffers, Adam moments), keyed
by parameter; layers only hold values and gradients. ``step(parameters)``
applies one update from the parameters' ``.grad``; ``zero_grad(parameters)``
clears the gradients. The update rules and the meaning of ``weight_decay``
(an L2 term added to the gradient) follow ``torch.optim.SGD`` and
``torch.optim.Adam``, so the same hyperparameters behave the same.
"""

import math
from typing import Dict, Iterable, List

from .layers.base import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "OPTIMIZERS"]


def _check_rate(value, name, low=0.0, high=None, inclusive_low=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; Received: {value!r}.")
    if (value < low) or (value == low and not inclusive_low) or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else (f">= {low}" if inclusive_low else f"> {low}")
        raise ValueError(f"{name} must be {bound}; Received: {value!r}.")
    return float(value)


class Optimizer:
    """Base class: ``step(parameters)`` updates from ``.grad``; state is per parameter."""

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = _check_rate(lr, "lr")
        self.weight_decay = _check_rate(weight_decay, "weight_decay", inclusive_low=True)
        self.state: Dict[int, dict] = {}
        self.iterations = 0

    def _grad(self, p: Parameter) -> List[float]:
        if self.weight_decay:
            wd = self.weight_decay
            return [g + wd * w for g, w in zip(p.grad.data, p.data)]
        return p.grad.data

    def _state(self, p: Parameter) -> dict:
        key = id(p)
        entry = self.state.get(key)
        if entry is None or entry["param"] is not p:
            entry = self.state[key] = {"param": p}
        return entry

    def step(self, parameters: Iterable[Parameter]) -> None:
        self.iterations += 1
        for p in parameters:
            self._update(p, self._state(p))

    def _update(self, p: Parameter, state: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def zero_grad(parameters: Iterable[Parameter]) -> None:
        for p in parameters:
            p.zero_grad()

    def get_config(self):
        cfg = {"lr": self.lr}
        if self.weight_decay:
            cfg["weight_decay"] = self.weight_decay
        return cfg

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum.

    ``g = grad + weight_decay * w``; with momentum ``v = momentum * v + g``
    (``v = g`` on the first step) and ``w -= lr * v``; without, ``w -= lr * g``.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _check_rate(momentum, "momentum", 0.0, 1.0, inclusive_low=True)

    def _update(self, p, state):
        g = self._grad(p)
        lr = self.lr
        if self.momentum:
            buf = state.get("momentum")
            if buf is None:
                buf = list(g)
            else:
                mu = self.momentum
                buf = [mu * b + d for b, d in zip(buf, g)]
            state["momentum"] = buf
            g = buf
        p.data[:] = [w - lr * d for w, d in zip(p.data, g)]

    def get_config(self):
        cfg = super().get_config()
        if self.momentum:
            cfg["momentum"] = self.momentum
        return cfg


class Adam(Optimizer):
    """Adam: per-weight step sizes from running moments of the gradient.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = _check_rate(beta1, "beta1", 0.0, 1.0, inclusive_low=True)
        self.beta2 = _check_rate(beta2, "beta2", 0.0, 1.0, inclusive_low=True)
        self.eps = _check_rate(eps, "eps")

    def _update(self, p, state):
        g = self._grad(p)
        b1, b2 = self.beta1, self.beta2
        t = state["t"] = state.get("t", 0) + 1
        m = state.get("m") or [0.0] * len(g)
        v = state.get("v") or [0.0] * len(g)
        m = state["m"] = [b1 * a + (1.0 - b1) * d for a, d in zip(m, g)]
        v = state["v"] = [b2 * a + (1.0 - b2) * d * d for a, d in zip(v, g)]
        step = self.lr / (1.0 - b1 ** t)
        inv_c2 = 1.0 / (1.0 - b2 ** t)
        eps, sqrt = self.eps, math.sqrt
        p.data[:] = [w - step * a / (sqrt(b * inv_c2) + eps) for w, a, b in zip(p.data, m, v)]

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps})
        return cfg


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam)}
