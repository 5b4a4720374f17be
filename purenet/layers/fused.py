"""``ConvReLUPool``: Conv2D -> ReLU -> MaxPool2D computed in a cheaper order
(and ``GatedDense``: a Dense layer after a ReLU, backward only where it matters).

Not layers users build: :func:`plan` substitutes them for the layers
whenever :class:`purenet.Sequential` runs (``forward``/``backward``,
``train_on_batch``, ``fit``, ``evaluate``, ``predict``), matching exact layer
types only, and they use the layers' weights. ``ConvReLUPool``'s results are the same as running the three
layers, because max and ReLU commute and adding a bias is monotonic:

    ``max_window(relu(z + b)) = relu(max_window(z) + b)``

so the bias and ReLU are applied after pooling, to a quarter of the values
(for 2x2 pools). Backward uses the same fact: only each window's winner gets
a gradient, and only where the ReLU let the pooled value through, so the
weight gradient is a dot product over the winners' patches alone instead of
over every output position.

The loops are :func:`purenet.kernels.conv_relu_pool` and
:func:`purenet.kernels.conv_relu_pool_grad` (one version per backend). When
the input is 8-bit images (every value exactly ``byte / 255``, as
:mod:`purenet.datasets` delivers them) and the convolution has no padding,
the forward is :func:`purenet.kernels.conv_relu_pool_bytes` instead: the
same numbers (within ~1e-15 of the filters' size) computed as integer SIMD
in Python's big integers, thousands of dot products per operation (on
PyPy: the float products, exactly, read from the image in place and only
for the windows with ink).
``GatedDense`` gives the same gradients as the plain Dense layer wherever
anything downstream reads them (see its docstring). Right after the model's
first block it computes only the gradients the block reads, hands them to
it per filter, and replaces the windows the block found blank (no ink in
any patch) by their summed share of its bias gradient
(:meth:`GatedDense.defer_to`).

Shape:
    input ``(N, C*H*W)``, output ``(N, F*PH*PW)``, as the pool's output.
"""

import operator
import random
from itertools import chain, compress
from typing import Callable, List, Optional

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
        self._deferred = None  # set by a GatedDense that left the blank windows out (see GatedDense.defer_to)
        self._prepared = None  # (x, pixels, lanes, taps, live) from prepare

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

    def prepare(self, x: Matrix) -> None:
        """Do now what the next :meth:`forward` of this very ``x`` needs from ``x`` alone
        (no weights): a data-parallel worker calls it for its next shard while it
        waits for the new weights. For 8-bit images that is recovering the bytes
        and packing each tap's pixels into integer lanes (``kernels.byte_lanes``),
        otherwise the im2col taps and which patches have ink."""
        conv = self.conv
        conv._check_input(x)
        n = x.rows
        pixels = None if any(conv._pads()) else kernels.pixel_bytes(x.data)
        if pixels is not None:  # 8-bit images: integer arithmetic (see kernels.conv_relu_pool_bytes)
            pool_taps, _ = self._map_pool._batch_taps(n)
            lanes = kernels.byte_lanes(pixels, conv._batch_taps(n), pool_taps)
            self._prepared = (x, pixels, lanes, None, None)
        else:
            self._prepared = (x, None, None, conv.gather_taps(x), conv.live_patches(x))

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        conv = self.conv
        n = x.rows
        self._cache = self._deferred = None  # let the last batch's go before this one's is built
        if self._prepared is None or self._prepared[0] is not x:
            self.prepare(x)
        (_, pixels, lanes, taps, live), self._prepared = self._prepared, None
        pool_taps, _ = self._map_pool._batch_taps(n)
        biases = _biases(conv)
        w_rows = conv.weight.row_lists()
        if pixels is not None:
            tap_index = conv._batch_taps(n)
            data, self._cache = kernels.conv_relu_pool_bytes(
                pixels, x.data, tap_index, w_rows, biases, pool_taps, n, lanes)
        else:
            data, self._cache = kernels.conv_relu_pool(taps, w_rows, biases, pool_taps, n, live)
        self._n = n
        return Matrix.from_flat(data, n, len(data) // n)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        conv, n = self.conv, self._n
        expected = (n, shape_size(self.output_shape))
        if grad.shape != expected:
            raise ValueError(f"ConvReLUPool.backward expects a gradient of shape {expected}; Received: {grad.shape}.")
        windows_idx, overlapping = self._windows(n)
        passed = blank_share = None
        deferred, self._deferred = self._deferred, None
        if deferred is not None and deferred[0] is grad:  # GatedDense computed only the gradients needed here
            _, passed, blank_share, fill_in = deferred
            if input_grad:  # the input gradient needs every window's own gradient
                fill_in()
                passed = blank_share = None
        dw, db, g_maps = kernels.conv_relu_pool_grad(self._cache, grad.data, windows_idx, overlapping, input_grad, passed)
        if blank_share is not None:
            db = list(map(operator.add, db, blank_share))
        conv.weight.accumulate(dw)
        if conv.use_bias:
            conv.bias.accumulate(db)
        if not input_grad:
            return None
        return conv.input_grad(g_maps, n)

    def backward_deferred(self, grad: Matrix) -> Callable[[], Matrix]:
        """``backward(grad, input_grad=False)`` now, and a function that returns the
        input gradient ``backward(grad)`` would have returned, computed when called.

        The input gradient costs about as much as the rest of the block's
        backward; :meth:`purenet.Sequential.backward` returns it unevaluated so
        that a training loop which never reads it never pays for it. The
        function keeps what it needs (this forward's saved values, a copy of
        the weights), so later forwards and optimizer steps do not change its
        result; when called it recomputes the block's gradients with
        ``input_grad`` and keeps only the input gradient.
        """
        deferred = self._deferred
        fill_in = deferred[3] if deferred is not None and deferred[0] is grad else None
        cache, n, conv = self._cache, self._n, self.conv
        self.backward(grad, input_grad=False)
        w_rows = conv.weight.row_lists()  # copies: the optimizer's next step changes the weights in place

        def input_gradient() -> Matrix:
            if fill_in is not None:  # the gradient GatedDense left as zeros (see GatedDense.defer_to)
                fill_in()
            windows_idx, overlapping = self._windows(n)
            _, _, g_maps = kernels.conv_relu_pool_grad(cache, grad.data, windows_idx, overlapping, True)
            return conv.input_grad(g_maps, n, w_rows)

        return input_gradient

    def _windows(self, n: int):
        """The pool windows' positions in a filter's map for a batch of n, and whether they overlap."""
        _, windows_idx = self._map_pool._batch_taps(n)
        overlapping = self.pool.strides[0] < self.pool.pool[0] or self.pool.strides[1] < self.pool.pool[1]
        return windows_idx, overlapping


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
        self.block: Optional[ConvReLUPool] = None  # see defer_to
        # data-parallel training (purenet.parallel) sets this: backward then hands it
        # (x_rows, g_rows, flags) instead of computing the weight gradient (see weight_grad)
        self.on_rows: Optional[Callable[[list, list, list], None]] = None

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

    def defer_to(self, block: ConvReLUPool) -> None:
        """Feed on ``block``, the model's first step, computing only the gradients it reads.

        The block, first, sends no gradient to its input: it needs its output
        gradient only at the windows whose output passed its ReLU, for the
        weight and bias gradients. Of those, a window with ink gets its own
        gradient, a dot product of ``dY[n]`` with a column of W, handed to the
        block as one list per filter (no ``(N, D)`` matrix of mostly zeros is
        built, scattered and picked from again). A blank window's output is
        ``relu(b_f)`` in every sample, and its gradient reaches nothing but the
        bias gradient of filter f, as a sum: with ``U`` outputs and ``Q``
        windows per filter map, that sum is ``sum_u dot(W[u, f's windows],
        E[u])`` with ``E[u, j] = sum_n dY[n, u] * blank[n, j]``, a ``(U, N) @
        (N, Q)`` product, instead of a dot product per blank window and sample.
        Only where ``relu(b_f) > 0``, though: with no such filter there is none
        to compute, and with one (both usual on MNIST, whose blank background
        pushes the biases down) the same sum in another order,
        ``sum_{u,n} dY[n, u] * dot(W[u, f's windows], blank[n])``, costs less.
        """
        self.block = block

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        ink = None
        if self.block is not None and input_grad:
            ink = kernels.conv_relu_pool_ink(self.block._cache)
        if ink is None:
            if self.on_rows is not None:
                raise RuntimeError("GatedDense.on_rows needs the first block's ink flags, which this backend does not keep.")
            return self.dense.backward(grad, input_grad, gated=True)
        return self._backward_ink(grad, ink)

    def _backward_ink(self, grad: Matrix, ink) -> Matrix:
        """:meth:`backward` with the block's gradients handed to it directly (see defer_to).

        Returns a placeholder input gradient (zeros) that the block recognises;
        it is filled in only if the block needs its own input gradient.
        """
        dense, block = self.dense, self.block
        x_rows = dense._x_rows
        n = len(x_rows)
        dense._check_grad(grad, n)
        g_rows = grad.row_lists()
        flags, samples, windows = ink
        d = len(x_rows[0])
        q = len(flags) // n  # windows per filter map
        conv = block.conv
        biases = _biases(conv)
        g_cols = kernels.transpose(g_rows)  # (U, N)
        sums = [sum(c) for c in g_cols]  # dY's column sums: the bias gradient
        if self.on_rows is not None:  # another process computes dW, over many shards' rows at once
            self.on_rows(x_rows, g_rows, flags)
        else:
            dense.weight.accumulate(_weight_grad(g_cols, x_rows, sums, flags, q, biases))
        if dense.use_bias:
            dense.bias.accumulate(sums)
        w_rows = dense.weight.row_lists()  # (U, D)
        w_cols = kernels.transpose(w_rows)  # (D, U): column f*Q + j is filter f's window j
        passed = [
            list(map(kernels.dot, kernels.gather(g_rows, rows), kernels.gather(w_cols[s : s + q], cols)))
            for s, rows, cols in zip(range(0, d, q), samples, windows)
        ]
        # blank windows pass the ReLU only where relu(b_f) > 0: trained on MNIST, most
        # of cnn-small's conv biases are negative, often all or all but one
        positive = [f for f, b in enumerate(biases) if b > 0.0]
        share = [0.0] * len(biases)
        if positive:
            blank = kernels.rows_of([0.0 if v else 1.0 for v in flags], n, q)  # (N, Q)
            if len(positive) == 1:  # the same sum in another order: (U, Q) @ (Q, N) for this filter only
                s = positive[0] * q
                per_sample = kernels.matmul_nt([w[s : s + q] for w in w_rows], blank)  # (U, N)
                share[positive[0]] = kernels.dot(per_sample, list(chain.from_iterable(g_cols)))
            else:
                e = kernels.rows_of(kernels.matmul_nt(g_cols, kernels.transpose(blank)), len(w_rows), q)
                share = [
                    sum(map(kernels.dot, (w[s : s + q] for w in w_rows), e)) if b > 0.0 else 0.0
                    for s, b in zip(range(0, d, q), biases)
                ]
        out = Matrix.from_flat([0.0] * (n * d), n, d)

        def fill_in():  # the whole input gradient, where the input is nonzero
            out.data[:] = kernels.matmul_nt_where(g_rows, w_cols, x_rows)

        block._deferred = (out, passed, share, fill_in)
        return out

    def weight_grad(self, x_rows: list, g_rows: list, flags: list) -> None:
        """Add ``dW = dY^T X`` of the rows given to the weight's ``.grad``.

        For data-parallel training (:mod:`purenet.parallel`): each process's
        backward hands its shard's input rows, output gradient rows and ink
        flags to :attr:`on_rows` instead of computing dW, and one process calls
        this with every shard's rows, concatenated in batch order. dW is U*D
        dot products whatever the number of rows (13,520 in cnn-small), so
        this computes them once per batch instead of once per shard.
        """
        g_cols = kernels.transpose(g_rows)
        sums = [sum(c) for c in g_cols]
        q = len(flags) // len(x_rows)
        self.dense.weight.accumulate(_weight_grad(g_cols, x_rows, sums, flags, q, _biases(self.block.conv)))


def _biases(conv: Conv2D) -> List[float]:
    return conv.bias.data if conv.use_bias else [0.0] * conv.filters


def _weight_grad(g_cols, x_rows, sums, flags, q: int, biases) -> list:
    """``dW = dY^T X`` flat ``(U, D)``, with dot products only for the columns that need them.

    ``X`` is the first block's output: ``(N, F*Q)``, column ``f*Q + j`` filter
    f's window j. A window blank in every sample (``flags``: ink per sample
    and window) holds exactly ``relu(b_f)`` in every row, so its column of dW
    is ``relu(b_f)`` times dY's column sums (``sums``); a window with ink that
    the ReLU zeroed in every sample gives a column of zeros. Neither needs a
    dot product of N terms. On MNIST batches of 32 that is ~8% and ~12% of
    cnn-small's 13,520 dot products, a fixed count whatever the batch (their
    length is the number of rows): ~0.9 of ~4.5 ms.
    """
    cols = kernels.transpose(x_rows)
    inked = [any(flags[j::q]) for j in range(q)] * len(biases)  # flags[s*q + j]: sample s, window j
    mask = list(map(operator.and_, inked, map(any, cols)))  # the columns that need dot products
    if all(mask):
        return kernels.matmul_nt(g_cols, cols)
    live = list(compress(cols, mask))
    dots = kernels.matmul_nt(g_cols, live)  # (U, L)
    width = len(live)
    # each column's place in a row of [its L dot products] + [F blank-column values] + [0.0]
    rank = iter(range(width))
    zero = width + len(biases)
    index = [next(rank) if m else zero if i else width + c // q for c, (m, i) in enumerate(zip(mask, inked))]
    order = operator.itemgetter(*index) if len(index) > 1 else lambda row: (row[index[0]],)
    relu_b = [b if b > 0.0 else 0.0 for b in biases]
    out = []
    for u, s in enumerate(sums):
        out += order(dots[u * width : (u + 1) * width] + [r * s for r in relu_b] + [0.0])
    return out


def plan(layers) -> list:
    """The steps that compute ``layers``: each Conv2D-ReLU-MaxPool2D run fused, each
    Dense fed by a ReLU gated, the rest as is. Only those exact classes are
    matched: a subclass may compute something else, so it runs its own code."""
    steps, i = [], 0
    while i < len(layers):
        if ConvReLUPool.matches(layers, i):
            steps.append(ConvReLUPool(*layers[i : i + 3]))
            i += 3
            continue
        layer = layers[i]
        if GatedDense.matches(steps, layer):
            gated = GatedDense(layer)
            if type(steps[0]) is ConvReLUPool and all(type(s) is Flatten for s in steps[1:]):
                gated.defer_to(steps[0])
            layer = gated
        steps.append(layer)
        i += 1
    return steps
