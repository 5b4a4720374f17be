"""``ConvReLUPool``: Conv2D -> ReLU -> MaxPool2D computed in a cheaper order
(and ``GatedDense``: a Dense layer after a ReLU, backward only where it matters).

Not layers users build: :func:`plan` substitutes them for the layers when
:class:`purenet.Sequential` trains, evaluates or predicts, and they use the
layers' weights. ``ConvReLUPool``'s results are the same as running the three
layers, because max and ReLU commute and adding a bias is monotonic:

    ``max_window(relu(z + b)) = relu(max_window(z) + b)``

so the bias and ReLU are applied after pooling, to a quarter of the values
(for 2x2 pools). Backward uses the same fact: only each window's winner gets
a gradient, and only where the ReLU let the pooled value through, so the
weight gradient is a dot product over the winners' patches alone instead of
over every output position.

The loops are :func:`purenet.kernels.conv_relu_pool` and
:func:`purenet.kernels.conv_relu_pool_grad` (one version per backend).
``GatedDense`` gives the same gradients as the plain Dense layer wherever
anything downstream reads them (see its docstring).

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
from .dense import Dense
from .pooling import MaxPool2D
from .reshape import Flatten

__all__ = ["ConvReLUPool", "GatedDense", "plan"]


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


class GatedDense:
    """A Dense layer fed by a ReLU (or a fused block, maybe through Flatten).

    Its input gradient matters only where its input is positive: everywhere
    else the ReLU's backward (or the block's, which reads only the windows
    that passed) multiplies it by 0. So only those entries are computed,
    about half of them; the rest are left 0. Forward is the Dense layer's.
    """

    def __init__(self, dense: Dense):
        self.dense = dense
        self.output_shape = dense.output_shape

    @staticmethod
    def matches(steps, layer) -> bool:
        if type(layer) is not Dense:
            return False
        before = [s for s in steps if type(s) is not Flatten]
        return bool(before) and type(before[-1]) in (ReLU, ConvReLUPool)

    def parameters(self) -> List[Parameter]:
        return self.dense.parameters()

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        return self.dense.forward(x, training)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        return self.dense.backward(grad, input_grad, gated=True)


def plan(layers) -> list:
    """The steps that compute ``layers``: each Conv2D-ReLU-MaxPool2D run fused, each
    Dense fed by a ReLU gated, the rest as is."""
    steps, i = [], 0
    while i < len(layers):
        if ConvReLUPool.matches(layers, i):
            steps.append(ConvReLUPool(*layers[i : i + 3]))
            i += 3
            continue
        layer = layers[i]
        steps.append(GatedDense(layer) if GatedDense.matches(steps, layer) else layer)
        i += 1
    return steps
