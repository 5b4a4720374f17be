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

Shape:
    input ``(N, C*H*W)``, output ``(N, F*PH*PW)``, as the pool's output.
"""

import operator
import random
from itertools import accumulate, compress, repeat
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
        self._taps = taps = conv.gather_taps(x)  # K x (N*P): im2col, one tuple per tap
        # Only patches with some ink need a dot product; an empty one gives 0 (before the bias).
        live = list(map(any, zip(*taps)))
        patches = list(compress(zip(*taps), live))  # (L, K), L live patches
        count = len(patches)
        # where each conv output lives: its patch's rank among the live ones, or
        # `count`, the slot of a 0.0 appended after the live outputs
        rank = [r - 1 if a else count for r, a in zip(accumulate(live), live)]
        pool_taps, _ = self._map_pool._batch_taps(n)
        # one picker per pool-window tap: conv outputs straight into window order
        pickers = [kernels.getter(kernels.gather(rank, idx)) for idx in pool_taps]
        biases = conv.bias.data if conv.use_bias else [0.0] * conv.filters
        dot = kernels.dot
        self._window_values, self._maxes, self._outs = [], [], []
        for w, b in zip(conv.weight.row_lists(), biases):
            z = list(map(dot, repeat(w, count), patches))  # (L,) this filter's live outputs
            z.append(0.0)
            values = [pick(z) for pick in pickers]  # window taps x (N*Q)
            maxes = list(map(max, *values)) if len(values) > 1 else list(values[0])
            out = [v if v > 0.0 else 0.0 for v in map(operator.add, maxes, [b] * len(maxes))]
            self._window_values.append(values)
            self._maxes.append(maxes)
            self._outs.append(out)
        q = len(self._outs[0]) // n  # pooled positions per filter map
        data = []
        for s in range(0, n * q, q):  # reorder to (N, F*Q)
            for out in self._outs:
                data += out[s : s + q]
        self._n = n
        return Matrix.from_flat(data, n, conv.filters * q)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        conv, n = self.conv, self._n
        f_count = conv.filters
        q = len(self._outs[0]) // n
        if grad.shape != (n, f_count * q):
            raise ValueError(f"ConvReLUPool.backward expects a gradient of shape {(n, f_count * q)}; Received: {grad.shape}.")
        _, windows_idx = self._map_pool._batch_taps(n)
        overlapping = self.pool.strides[0] < self.pool.pool[0] or self.pool.strides[1] < self.pool.pool[1]
        p = len(self._taps[0]) // n
        g, fq = grad.data, f_count * q
        dot, gather = kernels.dot, kernels.gather
        dw, db, g_maps = [], [], []
        for f in range(f_count):
            gf = []
            for s in range(f * q, n * fq, fq):
                gf += g[s : s + q]
            out = self._outs[f]
            # Only windows whose output passed the ReLU (out > 0) carry a gradient,
            # and within each only its winner: the position of its max.
            gm = list(compress(gf, out))
            windows = compress(zip(*self._window_values[f]), out)
            winner_pos = map(tuple.index, windows, compress(self._maxes[f], out))
            winners = list(map(operator.getitem, compress(windows_idx, out), winner_pos))  # in the (N*P) map
            dw += [dot(gm, gather(tap, winners)) for tap in self._taps]
            db.append(sum(gm))
            if input_grad:
                gz = [0.0] * (n * p)
                if overlapping:
                    kernels.add_into(gz, winners, gm)
                else:
                    for i, d in zip(winners, gm):
                        gz[i] = d
                g_maps.append(gz)
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
