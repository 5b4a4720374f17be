"""``MaxPool2D``: the largest value of each window, per channel."""

from typing import Optional, Tuple, Union

from .. import kernels
from ..matrix import Matrix
from .base import Layer, Shape, shape_size
from .conv import _pair, conv_output_size

__all__ = ["MaxPool2D"]


class MaxPool2D(Layer):
    """2-D max pooling over channel-first images.

    Forward:  ``y[n, c, i, j] = max_{ky, kx} x[n, c, i*SH + ky, j*SW + kx]``.

    Backward: the gradient of each output goes to the input that won its
    window (the first maximum in row-major window order on ties, as in
    PyTorch); where windows overlap (stride < pool size), contributions add.

    How: for each window tap a precomputed index list gathers the whole
    batch in one C call, and ``map(max, *taps)`` takes every window's max.
    Backward zips the taps into one tuple per window; the ``index`` of the
    max in it picks the winner (computed only when a gradient is needed).
    Those two steps are :func:`purenet.kernels.window_max` and
    :func:`purenet.kernels.window_winners` (index loops on PyPy).

    Args:
        pool_size: PH = PW as an int, or ``(PH, PW)``.
        stride: an int or ``(SH, SW)``; defaults to ``pool_size``.

    Shape:
        input ``(N, C*H*W)``, output ``(N, C*OH*OW)`` with
        ``OH = floor((H - PH) / SH) + 1`` and likewise OW (windows that
        would run past the edge are dropped).

    Example:
        >>> import random
        >>> MaxPool2D(2).build((8, 26, 26), random.Random(0))
        (8, 13, 13)
    """

    def __init__(self, pool_size: Union[int, Tuple[int, int]] = 2, stride: Union[int, Tuple[int, int], None] = None):
        self.pool = _pair(pool_size, "pool_size")
        self.strides = self.pool if stride is None else _pair(stride, "stride")
        if min(self.pool) < 1 or min(self.strides) < 1:
            raise ValueError(f"MaxPool2D pool_size and stride must be >= 1; Received: {pool_size!r}, {stride!r}.")
        self.pool_size = pool_size if isinstance(pool_size, int) else tuple(pool_size)
        self.stride = stride if stride is None or isinstance(stride, int) else tuple(stride)
        self._index_cache = {}

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"MaxPool2D expects samples of shape (C, H, W); Received: {tuple(input_shape)}.")
        c, h, w = input_shape
        oh = conv_output_size(h, self.pool[0], self.strides[0], 0, 0)
        ow = conv_output_size(w, self.pool[1], self.strides[1], 0, 0)
        if oh < 1 or ow < 1:
            raise ValueError(f"MaxPool2D pool {self.pool} is larger than the input (C, H, W)={tuple(input_shape)}.")
        return (c, oh, ow)

    def build(self, input_shape, rng):
        self._index_cache = {}
        return super().build(input_shape, rng)

    def _batch_taps(self, n: int):
        """Per window tap, the input index for every (sample, channel, window);
        and the same tables transposed: per window, the indices of its taps."""
        cached = self._index_cache.get(n)
        if cached is None:
            c_in, h, w = self.input_shape
            _, oh, ow = self.output_shape
            sh, sw = self.strides
            size = c_in * h * w
            taps = []
            for ky in range(self.pool[0]):
                for kx in range(self.pool[1]):
                    idx = []
                    for s in range(n):
                        for c in range(c_in):
                            base = s * size + c * h * w
                            for i in range(oh):
                                row = base + (i * sh + ky) * w + kx
                                idx.extend(range(row, row + ow * sw, sw))
                    taps.append(idx)
            cached = (taps, kernels.transpose(taps))
            if len(self._index_cache) >= 4:
                self._index_cache.clear()
            self._index_cache[n] = cached
        return cached

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        taps, _ = self._batch_taps(x.rows)
        self._taps = [kernels.gather(x.data, idx) for idx in taps]  # PH*PW x (N*C*OH*OW)
        self._maxes = kernels.window_max(self._taps)
        self._rows = x.rows
        return Matrix.from_flat(self._maxes, x.rows, shape_size(self.output_shape))

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        self._check_grad(grad, self._rows)
        if not input_grad:
            return None
        _, windows_idx = self._batch_taps(self._rows)
        # each window's winner: the position of its max among its taps, then that tap's input index
        winners = kernels.window_winners(self._taps, self._maxes, windows_idx)
        dx = [0.0] * (self._rows * shape_size(self.input_shape))
        if self.strides[0] >= self.pool[0] and self.strides[1] >= self.pool[1]:
            for i, g in zip(winners, grad.data):  # windows are disjoint
                dx[i] = g
        else:
            kernels.add_into(dx, winners, grad.data)
        return Matrix.from_flat(dx, self._rows, len(dx) // self._rows)

    def get_config(self):
        cfg = {"pool_size": self.pool_size}
        if self.stride is not None:
            cfg["stride"] = self.stride
        return cfg
