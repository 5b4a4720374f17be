"""``Conv2D``: 2-D convolution (cross-correlation, as in PyTorch and Keras).

How it is computed (im2col by gathering): for each kernel tap ``t = (c, ky,
kx)`` a precomputed index list picks, for every sample ``n`` and output
position ``p``, the input pixel that tap sees. One C-level ``itemgetter``
call per tap gathers a whole batch; zipping the K tap lists gives one patch
tuple of length K per output position, and each output is then a single dot
product of a patch with a filter row. Padding costs nothing: padded
positions point at one extra 0.0 appended after the batch.

Patches that are all zeros (most of an MNIST digit's background) are
skipped: their outputs are just the bias.

The weight gradient reuses the gathered taps: ``dW[f, t]`` is one long dot
product of filter f's output gradient with tap t over the whole batch. The
input gradient scatters ``W^T dY`` back through the same index lists.

That is how the CPython backend runs it; on PyPy the same kernel calls
(:func:`purenet.kernels.matmul_taps`, :func:`purenet.kernels.add_taps_into`)
are plain loops over the tap lists (:mod:`purenet.kernels_pypy`).
"""

import random
from typing import Callable, List, Optional, Tuple, Union

from .. import init, kernels
from ..matrix import Matrix
from .base import Layer, Parameter, Shape, shape_size

__all__ = ["Conv2D", "conv_output_size"]


def _pair(value, name):
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (value[0], value[1])
    raise ValueError(f"{name} must be an int or a pair of ints; Received: {value!r}.")


def _sides(padding) -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) of an int, ``(PH, PW)`` or ``((PT, PB), (PL, PR))`` padding."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(v, (tuple, list)) for v in padding):
        (pt, pb), (pl, pr) = _pair(padding[0], "padding"), _pair(padding[1], "padding")
        return (pt, pb, pl, pr)
    ph, pw = _pair(padding, "padding")
    return (ph, ph, pw, pw)


def conv_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> int:
    """``floor((size + pads - kernel) / stride) + 1``, the conv/pool output size."""
    return (size + pad_before + pad_after - kernel) // stride + 1


class Conv2D(Layer):
    """2-D convolution over channel-first images.

    Forward:  ``y[n, f, i, j] = b[f] + sum_{c, ky, kx} W[f, c, ky, kx] *
    x[n, c, i*SH + ky - PT, j*SW + kx - PL]`` (zero outside the image).

    Backward: ``dW[f, c, ky, kx] = sum_{n, i, j} dY[n, f, i, j] * x[n, c, i*SH + ky - PT, ...]``,
    ``db[f] = sum_{n, i, j} dY[n, f, i, j]``, and ``dX`` receives
    ``W[f, c, ky, kx] * dY[n, f, i, j]`` at every pixel the forward read.

    Args:
        filters: number of output channels F.
        kernel_size: KH = KW as an int, or ``(KH, KW)``.
        stride: an int or ``(SH, SW)``.
        padding: zeros added on each side: an int, ``(PH, PW)``, or ``"same"``
            (stride 1 only: output as large as the input; for an even kernel
            the extra row/column goes at the bottom/right, like PyTorch).
            ``((PT, PB), (PL, PR))`` gives each side its own padding (what
            ONNX's ``pads`` and TensorFlow's "same" with a stride can need).
        use_bias: add a per-filter bias.
        kernel_initializer: a name from :data:`purenet.init.INITIALIZERS`.

    Shape:
        input ``(N, C*H*W)``, output ``(N, F*OH*OW)`` with
        ``OH = floor((H + PT + PB - KH) / SH) + 1`` and likewise OW.
        ``weight`` is ``(F, C*KH*KW)``, whose flat order is PyTorch's
        ``(F, C, KH, KW)``; ``bias`` is ``(1, F)``.

    Example:
        >>> import random
        >>> conv = Conv2D(8, 3, padding="same")
        >>> conv.build((1, 28, 28), random.Random(0))
        (8, 28, 28)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Union[int, Tuple[int, int]],
        stride: Union[int, Tuple[int, int]] = 1,
        padding: Union[int, Tuple[int, int], str] = 0,
        use_bias: bool = True,
        kernel_initializer: str = "he_uniform",
    ):
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"Conv2D filters must be a positive int; Received: {filters!r}.")
        self.kernel = _pair(kernel_size, "kernel_size")
        self.strides = _pair(stride, "stride")
        if min(self.kernel) < 1 or min(self.strides) < 1:
            raise ValueError(f"Conv2D kernel_size and stride must be >= 1; Received: {kernel_size!r}, {stride!r}.")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2D padding must be an int, a pair or 'same'/'valid'; Received: {padding!r}.")
            if padding == "same" and self.strides != (1, 1):
                raise ValueError(
                    "Conv2D padding='same' needs stride 1 (as in PyTorch); "
                    f"Received: stride={stride!r}. Give the padding as an int instead."
                )
        else:
            p = _sides(padding)
            if min(p) < 0:
                raise ValueError(f"Conv2D padding must be >= 0; Received: {padding!r}.")
        init.get(kernel_initializer)
        self.filters = filters
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        self.stride = stride if isinstance(stride, int) else tuple(stride)
        if isinstance(padding, (int, str)):
            self.padding = padding
        elif all(isinstance(v, (tuple, list)) for v in padding):
            self.padding = tuple(tuple(v) for v in padding)
        else:
            self.padding = tuple(padding)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.weight: Optional[Parameter] = None
        self.bias: Optional[Parameter] = None
        self._index_cache = {}

    # ---------------------------------------------------------------- shapes
    def _pads(self) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right)."""
        if self.padding == "same":
            th, tw = self.kernel[0] - 1, self.kernel[1] - 1
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        if self.padding == "valid":
            return (0, 0, 0, 0)
        return _sides(self.padding)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D expects samples of shape (C, H, W); Received: {tuple(input_shape)}.")
        _, h, w = input_shape
        pt, pb, pl, pr = self._pads()
        oh = conv_output_size(h, self.kernel[0], self.strides[0], pt, pb)
        ow = conv_output_size(w, self.kernel[1], self.strides[1], pl, pr)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"Conv2D kernel {self.kernel} with padding {self.padding!r} does not fit input "
                f"(C, H, W)={tuple(input_shape)}: output would be {oh}x{ow}."
            )
        return (self.filters, oh, ow)

    def build(self, input_shape: Shape, rng: random.Random) -> Shape:
        out = super().build(input_shape, rng)
        c = input_shape[0]
        k = c * self.kernel[0] * self.kernel[1]
        fan_out = self.filters * self.kernel[0] * self.kernel[1]
        w = init.get(self.kernel_initializer)(k, fan_out, self.filters * k, rng)
        self.weight = Parameter.from_flat(w, self.filters, k, tensor_shape=(self.filters, c) + self.kernel)
        if self.use_bias:
            self.bias = Parameter.from_flat([0.0] * self.filters, 1, self.filters, tensor_shape=(self.filters,))
        self._index_cache = {}
        return out

    # --------------------------------------------------------- index tables
    def _sample_taps(self) -> List[List[int]]:
        """For each tap (c, ky, kx): the input index each output position of one
        sample reads, or -1 where it reads padding."""
        c_in, h, w = self.input_shape
        _, oh, ow = self.output_shape
        kh, kw = self.kernel
        sh, sw = self.strides
        pt, _, pl, _ = self._pads()
        taps = []
        for c in range(c_in):
            for ky in range(kh):
                for kx in range(kw):
                    idx = []
                    for i in range(oh):
                        y = i * sh + ky - pt
                        if 0 <= y < h:
                            row = c * h * w + y * w
                            idx.extend(row + x if 0 <= x < w else -1 for x in range(kx - pl, kx - pl + ow * sw, sw))
                        else:
                            idx.extend([-1] * ow)
                    taps.append(idx)
        return taps

    def _batch_taps(self, n: int) -> List[List[int]]:
        """Tap index lists for a batch of n samples; padding points at index n*C*H*W."""
        cached = self._index_cache.get(n)
        if cached is None:
            size = shape_size(self.input_shape)
            pad = n * size
            cached = []
            for idx in self._sample_taps():
                full = []
                for s in range(n):
                    off = s * size
                    full.extend(pad if i < 0 else i + off for i in idx)
                cached.append(full)
            if len(self._index_cache) >= 4:
                self._index_cache.clear()
            self._index_cache[n] = cached
        return cached

    # ------------------------------------------------------------- compute
    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        n = x.rows
        f_count, oh, ow = self.output_shape
        p = oh * ow
        self._taps = taps = self.gather_taps(x)
        biases = self.bias.data if self.use_bias else [0.0] * f_count
        per_filter = kernels.matmul_taps(self.weight.row_lists(), taps, biases)  # F x (N*P)
        out = []
        for s in range(0, n * p, p):  # reorder to (N, F*P)
            for y in per_filter:
                out += y[s : s + p]
        return Matrix.from_flat(out, n, f_count * p)

    def gather_taps(self, x: Matrix) -> List[tuple]:
        """im2col by gathering: for each tap (c, ky, kx), the input value it sees
        at every (sample, output position): K sequences of N*OH*OW values."""
        src = x.data + [0.0] if any(self._pads()) else x.data
        return [kernels.gather(src, idx) for idx in self._batch_taps(x.rows)]

    def live_patches(self, x: Matrix) -> Optional[tuple]:
        """Whether each (sample, output position) sees a nonzero input: N*OH*OW
        values (0/1), or None with padding (or on a backend that tests patches itself)."""
        if any(self._pads()):
            return None
        c_in, h, w = self.input_shape
        kh, kw = self.kernel
        offsets = [c * h * w + ky * w + kx for c in range(c_in) for ky in range(kh) for kx in range(kw)]
        return kernels.nonzero_near(x.data, offsets, self._batch_taps(x.rows)[0])

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        g_filters, n = self._parameter_grads(grad)
        if not input_grad:
            return None
        return self.input_grad(g_filters, n)

    def backward_deferred(self, grad: Matrix) -> Callable[[], Matrix]:
        """``backward(grad, input_grad=False)`` now, and a function that returns the
        input gradient ``backward(grad)`` would have returned, computed when called
        (from a copy of the weights: an optimizer step in between changes nothing).
        :meth:`purenet.Sequential.backward` uses it for a first layer."""
        g_filters, n = self._parameter_grads(grad)
        w_rows = self.weight.row_lists()  # copies
        return lambda: self.input_grad(g_filters, n, w_rows)

    def _parameter_grads(self, grad: Matrix):
        """Add dW and db into the parameters' ``.grad``; returns each filter's output gradient and N."""
        n = len(self._taps[0]) // (self.output_shape[1] * self.output_shape[2])
        self._check_grad(grad, n)
        f_count, oh, ow = self.output_shape
        p = oh * ow
        fp = f_count * p
        g = grad.data
        g_filters = []  # F x (N*P): each filter's output gradient over the batch
        for f in range(f_count):
            col = []
            for s in range(f * p, n * fp, fp):
                col += g[s : s + p]
            g_filters.append(col)
        dot = kernels.dot
        self.weight.accumulate([dot(gf, tap) for gf in g_filters for tap in self._taps])
        if self.use_bias:
            self.bias.accumulate([sum(gf) for gf in g_filters])
        return g_filters, n

    def input_grad(self, g_filters: List[List[float]], n: int, w_rows: Optional[List[List[float]]] = None) -> Matrix:
        """``dX`` from each filter's output gradient (F lists of N*OH*OW):
        every tap sends ``W[f, t] * dY[f]`` back to the pixel it read
        (``w_rows``: the weights' rows to use, by default the current ones)."""
        size = shape_size(self.input_shape)
        dx = [0.0] * (n * size + 1)  # the last slot absorbs padding
        if w_rows is None:
            w_rows = self.weight.row_lists()
        kernels.add_taps_into(dx, self._batch_taps(n), w_rows, g_filters)
        del dx[-1]
        return Matrix.from_flat(dx, n, size)

    def parameters(self) -> List[Parameter]:
        return [p for p in (self.weight, self.bias) if p is not None]

    def named_parameters(self) -> List[Tuple[str, Parameter]]:
        return [(k, p) for k, p in (("weight", self.weight), ("bias", self.bias)) if p is not None]

    def get_config(self):
        cfg = {"filters": self.filters, "kernel_size": self.kernel_size}
        if self.stride != 1:
            cfg["stride"] = self.stride
        if self.padding != 0:
            cfg["padding"] = self.padding
        if not self.use_bias:
            cfg["use_bias"] = False
        if self.kernel_initializer != "he_uniform":
            cfg["kernel_initializer"] = self.kernel_initializer
        return cfg
