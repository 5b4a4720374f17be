"""Optimizers, in order of increasing complexity: ``SGD`` (with momentum), ``Adam``.

An optimizer owns its update state (momentum buffers, Adam moments), keyed
by parameter; layers only hold values and gradients. ``step(parameters)``
applies one update from the parameters' ``.grad``; ``zero_grad(parameters)``
clears the gradients. The update rules and the meaning of ``weight_decay``
(an L2 term added to the gradient) follow ``torch.optim.SGD`` and
``torch.optim.Adam``, so the same hyperparameters behave the same.
"""

import math
from typing import Dict, Iterable, List, Tuple

from . import kernels
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
        self.update(parameters)

    def update(self, parameters: Iterable[Parameter]) -> None:
        """Update ``parameters`` from their ``.grad`` as part of the step last counted:
        ``step(a + b)`` is ``step(a)`` then ``update(b)``. Data-parallel training
        (:meth:`purenet.parallel.Workers.step`) updates the first block this way first."""
        for p in parameters:
            self._update(p, self._state(p))

    def _update(self, p: Parameter, state: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def zero_grad(parameters: Iterable[Parameter]) -> None:
        for p in parameters:
            p.zero_grad()

    def state_dict(self, named_parameters: Iterable[Tuple[str, Parameter]]) -> dict:
        """The update state as plain data, keyed by parameter name (what survives a file).

        ``named_parameters`` is ``model.named_parameters()``. Returns
        ``{"class", "config", "iterations", "state": {name: {key: list of floats or int}}}``
        with copies of the buffers (``momentum``; Adam's ``m``, ``v`` and step ``t``).
        Parameters without state are left out.
        """
        state = {}
        for name, p in named_parameters:
            entry = self.state.get(id(p))
            if entry is None or entry["param"] is not p:
                continue
            values = {k: list(v) if isinstance(v, list) else v for k, v in entry.items() if k != "param"}
            if values:
                state[name] = values
        return {"class": type(self).__name__, "config": self.get_config(), "iterations": self.iterations, "state": state}

    def load_state_dict(self, state: dict, named_parameters: Iterable[Tuple[str, Parameter]]) -> None:
        """Restore what :meth:`state_dict` returned onto the parameters ``named_parameters``
        names (the same model, or one rebuilt from a file). The hyperparameters are the
        constructor's: ``state["config"]`` is not applied. Raises ``ValueError`` (and
        changes nothing) when the state does not fit the optimizer or the parameters."""
        if not isinstance(state, dict) or state.get("class") != type(self).__name__:
            got = state.get("class") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{type(self).__name__}.load_state_dict expects the state of a {type(self).__name__}; Received: {got!r}.")
        iterations, entries = state.get("iterations", 0), state.get("state", {})
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations must be a non-negative int; Received: {iterations!r}.")
        if not isinstance(entries, dict):
            raise ValueError(f"state must be a dict of parameter name -> dict; Received: {type(entries).__name__}.")
        params = dict(named_parameters)
        new = {}
        for name, values in entries.items():
            p = params.get(name)
            if p is None:
                raise ValueError(f"optimizer state for an unknown parameter {name!r}; expected one of {list(params)}.")
            if not isinstance(values, dict):
                raise ValueError(f"optimizer state of {name} must be a dict; Received: {type(values).__name__}.")
            entry = {"param": p}
            for key, v in values.items():
                if isinstance(v, (list, tuple)):
                    if len(v) != len(p.data) or not all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v
                    ):
                        raise ValueError(
                            f"optimizer state {name}.{key} must be {len(p.data)} finite numbers (one per weight); "
                            f"Received: {len(v)} values."
                        )
                    entry[key] = [float(x) for x in v]
                elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    entry[key] = v
                else:
                    raise ValueError(f"optimizer state {name}.{key} must be a list of numbers or a count; Received: {v!r}.")
            new[id(p)] = entry
        self.state = new
        self.iterations = iterations

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
                buf = kernels.momentum_step(buf, g, self.momentum)
            state["momentum"] = buf
            g = buf
        kernels.sgd_step(p.data, g, lr)

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
        step = self.lr / (1.0 - b1 ** t)
        inv_c2 = 1.0 / (1.0 - b2 ** t)
        state["m"], state["v"] = kernels.adam_step(p.data, m, v, g, b1, b2, step, inv_c2, self.eps)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps})
        return cfg


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam)}
