"""``Dropout``: randomly silence activations while training."""

import random
from typing import Optional

from ..matrix import Matrix
from .base import Layer, Shape

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout.

    Forward (training): ``y = x * m / (1 - rate)`` with ``m ~ Bernoulli(1 - rate)``
    drawn per entry; at inference ``y = x``.  Backward: ``dx = dy * m / (1 - rate)``.

    The mask comes from a ``random.Random`` seeded, at ``build``, from the
    model's generator, so a seeded model drops the same units every run.

    Args:
        rate: fraction of entries set to zero, in ``[0, 1)``.

    Shape:
        input ``(N, D)``, output ``(N, D)``.
    """

    def __init__(self, rate: float = 0.5):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be a number in [0, 1); Received: {rate!r}.")
        self.rate = float(rate)
        self.rng = random.Random(0)
        self._scale = None

    def build(self, input_shape: Shape, rng: random.Random) -> Shape:
        self.rng = random.Random(rng.getrandbits(64))
        return super().build(input_shape, rng)

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        if not training or self.rate == 0.0:
            self._scale = None
            return x
        keep, scale, rnd = self.rate, 1.0 / (1.0 - self.rate), self.rng.random
        self._scale = [scale if rnd() >= keep else 0.0 for _ in range(len(x.data))]
        return Matrix.from_flat([a * b for a, b in zip(x.data, self._scale)], x.rows, x.cols)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        if not input_grad:
            return None
        if self._scale is None:
            return grad
        if len(grad.data) != len(self._scale):
            raise ValueError(f"Dropout.backward expects a gradient of the last forward's shape; Received: {grad.shape}.")
        return Matrix.from_flat([a * b for a, b in zip(grad.data, self._scale)], grad.rows, grad.cols)

    def get_config(self):
        return {"rate": self.rate}
