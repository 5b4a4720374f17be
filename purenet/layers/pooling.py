"""Pooling over channel-first images: ``MaxPool2D`` (the largest value of each
window), ``AvgPool2D`` (the mean of each window) and ``GlobalAvgPool2D`` (the
mean of each whole channel)."""

from typing import Optional, Tuple, Union

from .. import kernels
from ..matrix import Matrix
from .base import Layer, Shape, shape_size
from .conv import _pair, conv_output_size

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D"]


def _per_batch_size(cache: dict, n: int, make):
    """``make(n)``, kept in ``cache`` for the next batch of n samples (index
    tables depend on the batch size; at most 4 sizes are kept: a training
    batch, the last partial one, and prediction's)."""
    tables = cache.get(n)
    if tables is None:
        tables = make(n)
        if len(cache) >= 4:
            cache.clear()
        cache[n] = tables
    return tables


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
        return _per_batch_size(self._index_cache, n, self._make_taps)

    def _make_taps(self, n: int):
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
        return taps, kernels.transpose(taps)

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


class AvgPool2D(Layer):
    """2-D average pooling over channel-first images (PyTorch's ``nn.AvgPool2d``
    with ``count_include_pad=True``).

    Forward:  ``y[n, c, i, j] = sum_{ky, kx} x[n, c, i*SH + ky - PH, j*SW + kx - PW] / (KH*KW)``,
    with zeros outside the image: a window over the padding still divides
    by ``KH*KW``.

    Backward: ``dx[n, c, h, w] = sum over the windows (i, j) that read
    (h, w) of dy[n, c, i, j] / (KH*KW)``.

    How: both directions are :func:`purenet.kernels.window_mean` over
    precomputed index tables (per window tap, where each window reads; per
    slot, which windows read each input), with one zero appended to the
    values for the padding (and for inputs no window reads).

    Args:
        pool_size: KH = KW as an int, or ``(KH, KW)``.
        stride: an int or ``(SH, SW)``; defaults to ``pool_size``.
        padding: zeros added on each side, an int or ``(PH, PW)``; at most
            half the pool size (as PyTorch requires).

    Shape:
        input ``(N, C*H*W)``, output ``(N, C*OH*OW)`` with
        ``OH = floor((H + 2*PH - KH) / SH) + 1`` and likewise OW.

    Example:
        >>> import random
        >>> pool = AvgPool2D(2)
        >>> pool.build((1, 2, 4), random.Random(0))
        (1, 1, 2)
        >>> pool.forward(Matrix([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])).data
        [3.5, 5.5]
    """

    def __init__(
        self,
        pool_size: Union[int, Tuple[int, int]] = 2,
        stride: Union[int, Tuple[int, int], None] = None,
        padding: Union[int, Tuple[int, int]] = 0,
    ):
        self.pool = _pair(pool_size, "pool_size")
        self.strides = self.pool if stride is None else _pair(stride, "stride")
        self.pads = _pair(padding, "padding")
        if min(self.pool) < 1 or min(self.strides) < 1:
            raise ValueError(f"AvgPool2D pool_size and stride must be >= 1; Received: {pool_size!r}, {stride!r}.")
        if min(self.pads) < 0 or any(2 * p > k for p, k in zip(self.pads, self.pool)):
            raise ValueError(
                f"AvgPool2D padding must be between 0 and half the pool size {self.pool}; Received: {padding!r}."
            )
        self.pool_size = pool_size if isinstance(pool_size, int) else tuple(pool_size)
        self.stride = stride if stride is None or isinstance(stride, int) else tuple(stride)
        self.padding = padding if isinstance(padding, int) else tuple(padding)
        self._index_cache = {}

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"AvgPool2D expects samples of shape (C, H, W); Received: {tuple(input_shape)}.")
        c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.pool, self.strides, self.pads
        oh = conv_output_size(h, kh, sh, ph, ph)
        ow = conv_output_size(w, kw, sw, pw, pw)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"AvgPool2D pool {self.pool} with padding {self.pads} is larger than the input "
                f"(C, H, W)={tuple(input_shape)}."
            )
        return (c, oh, ow)

    def build(self, input_shape, rng):
        self._index_cache = {}
        return super().build(input_shape, rng)

    def _tables(self, n: int):
        """``(taps, slots)`` for a batch of n: per window tap, the input index each
        window reads (``n*C*H*W``, the appended zero, where it reads padding);
        per slot, for each input, the index of a window that reads it
        (``n*C*OH*OW``, the appended zero, when fewer windows do)."""
        return _per_batch_size(self._index_cache, n, self._make_tables)

    def _make_tables(self, n: int):
        c_in, h, w = self.input_shape
        _, oh, ow = self.output_shape
        (kh, kw), (sh, sw), (ph, pw) = self.pool, self.strides, self.pads
        size_in, outputs = n * c_in * h * w, n * c_in * oh * ow
        taps = []
        readers = [[] for _ in range(size_in)]
        for ky in range(kh):
            for kx in range(kw):
                idx = []
                window = 0
                for m in range(n * c_in):  # one (sample, channel) map at a time
                    base = m * h * w
                    for i in range(oh):
                        y = i * sh + ky - ph
                        for j in range(ow):
                            x = j * sw + kx - pw
                            if 0 <= y < h and 0 <= x < w:
                                at = base + y * w + x
                                readers[at].append(window)
                                idx.append(at)
                            else:
                                idx.append(size_in)
                            window += 1
                taps.append(idx)
        depth = max(len(r) for r in readers)
        slots = [[r[s] if s < len(r) else outputs for r in readers] for s in range(depth)]
        return taps, slots

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        taps, _ = self._tables(x.rows)
        self._rows = x.rows
        out = kernels.window_mean(x.data + [0.0], taps, self.pool[0] * self.pool[1])
        return Matrix.from_flat(out, x.rows, shape_size(self.output_shape))

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        rows = getattr(self, "_rows", None)
        if rows is None:
            raise RuntimeError("AvgPool2D.backward called before forward.")
        self._check_grad(grad, rows)
        if not input_grad:
            return None
        _, slots = self._tables(rows)
        dx = kernels.window_mean(grad.data + [0.0], slots, self.pool[0] * self.pool[1])
        return Matrix.from_flat(dx, rows, shape_size(self.input_shape))

    def get_config(self):
        cfg = {"pool_size": self.pool_size}
        if self.stride is not None:
            cfg["stride"] = self.stride
        if self.padding != 0:
            cfg["padding"] = self.padding
        return cfg


class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image (PyTorch's
    ``nn.AdaptiveAvgPool2d(1)`` followed by ``nn.Flatten()``).

    Forward:  ``y[n, c] = sum_{h, w} x[n, c, h, w] / (H*W)``.

    Backward: ``dx[n, c, h, w] = dy[n, c] / (H*W)``.

    Shape:
        input ``(N, C*H*W)``, output ``(N, C)``: samples ``(C, H, W)`` become ``(C,)``.

    Example:
        >>> import random
        >>> pool = GlobalAvgPool2D()
        >>> pool.build((2, 1, 3), random.Random(0))
        (2,)
        >>> pool.forward(Matrix([[1.0, 2.0, 3.0, 0.0, 0.0, 6.0]])).data
        [2.0, 2.0]
    """

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D expects samples of shape (C, H, W); Received: {tuple(input_shape)}.")
        return (input_shape[0],)

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        _, h, w = self.input_shape
        area, data = h * w, x.data
        self._rows = x.rows
        # each (sample, channel) map is one contiguous run of H*W values
        out = [sum(data[s : s + area]) / area for s in range(0, len(data), area)]
        return Matrix.from_flat(out, x.rows, len(out) // x.rows)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        rows = getattr(self, "_rows", None)
        if rows is None:
            raise RuntimeError("GlobalAvgPool2D.backward called before forward.")
        self._check_grad(grad, rows)
        if not input_grad:
            return None
        _, h, w = self.input_shape
        area = h * w
        dx = []
        for g in grad.data:
            dx += [g / area] * area
        return Matrix.from_flat(dx, rows, shape_size(self.input_shape))
