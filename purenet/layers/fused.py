"""``ConvReLUPool``: Conv2D -> ReLU -> MaxPool2D computed in a cheaper order.

Not a layer users build: :class:`purenet.Sequential` substitutes it for
those three layers when it trains, evaluates or predicts, and it uses their
weights. Results are the same as running the three layers, because max and
ReLU commute and adding a bias is monotonic:

    ``max_window(relu(z + b)) = relu(max_window(z) + b)``

so the bias and ReLU are applied after pooling, to a quarter of the values
(for 2x2 pools). Backward uses the same fact: only each window's winner gets
a gradient, and only where the ReLU let the pooled value through, so the
weight gradient is a dot product over the winners' patches alone instead of
over every output position.

The loops are :func:`purenet.kernels.conv_relu_pool` and
:func:`purenet.kernels.conv_relu_pool_grad` (one version per backend).

Shape:
    input ``(N, C*H*W)``, output ``(N, F*PH*PW)``, as the pool's output.
"""

import random
from typing import List, Optional

from .. import kernels
from ..matrix import Matrix
from .activations import ReLU
from .base import Parameter, shape_size
from .conv import Conv2D
from .pooling import MaxPool2D

__all__ = ["ConvReLUPool", "plan"]


class ConvReLUPool:
    """The fused block; see the module docstring."""

    def __init__(self, conv: Conv2D, relu: ReLU, pool: MaxPool2D):
        self.conv, self.relu, self.pool = conv, relu, pool
        # pooling tables for one filter's (N, OH, OW) map: a pool over a single channel
        self._map_pool = MaxPool2D(pool.pool, pool.strides)
        self._map_pool.build((1,) + conv.output_shape[1:], random.Random(0))
        self.output_shape = pool.output_shape

    @staticmethod
    def matches(layers, i) -> bool:
        return (
            i + 2 < len(layers)
            and type(layers[i]) is Conv2D
            and type(layers[i + 1]) is ReLU
            and type(layers[i + 2]) is MaxPool2D
        )

    def parameters(self) -> List[Parameter]:
        return self.conv.parameters()

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        conv = self.conv
        conv._check_input(x)
        n = x.rows
        self._cache = None  # let the last batch's go before this one's is built
        taps = conv.gather_taps(x)  # K x (N*P): im2col, one sequence per tap
        pool_taps, _ = self._map_pool._batch_taps(n)
        biases = conv.bias.data if conv.use_bias else [0.0] * conv.filters
        data, self._cache = kernels.conv_relu_pool(taps, conv.weight.row_lists(), biases, pool_taps, n)
        self._n = n
        return Matrix.from_flat(data, n, len(data) // n)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        conv, n = self.conv, self._n
        expected = (n, shape_size(self.output_shape))
        if grad.shape != expected:
            raise ValueError(f"ConvReLUPool.backward expects a gradient of shape {expected}; Received: {grad.shape}.")
        _, windows_idx = self._map_pool._batch_taps(n)
        overlapping = self.pool.strides[0] < self.pool.pool[0] or self.pool.strides[1] < self.pool.pool[1]
        dw, db, g_maps = kernels.conv_relu_pool_grad(self._cache, grad.data, windows_idx, overlapping, input_grad)
        conv.weight.accumulate(dw)
        if conv.use_bias:
            conv.bias.accumulate(db)
        if not input_grad:
            return None
        return conv.input_grad(g_maps, n)


def plan(layers) -> list:
    """The steps that compute ``layers``: each Conv2D-ReLU-MaxPool2D run fused, the rest as is."""
    steps, i = [], 0
    while i < len(layers):
        if ConvReLUPool.matches(layers, i):
            steps.append(ConvReLUPool(*layers[i : i + 3]))
            i += 3
        else:
            steps.append(layers[i])
            i += 1
    return steps
