"""The hot loops: dot products, matrix products, transposes, gathers.

Every number-crunching loop in purenet lives here (and, in the form PyPy
runs fastest, in :mod:`purenet.kernels_pypy`), so the rest of the library
reads as math. The kernels work on plain Python lists of floats; a
"row list" is a list of sequences (lists or tuples), one per row.

Two backends, chosen once at import time by the interpreter (``BACKEND``):

- ``"cpython"``, this module: the loops are pushed into C (``math.sumprod``,
  ``map`` over ``repeat()``, ``operator.itemgetter`` gathers, ``zip(*rows)``
  transposes, ``itertools.compress``), which is what CPython runs fastest;
- ``"pypy"``, :mod:`purenet.kernels_pypy`: the same functions as plain index
  loops over flat lists, which PyPy's JIT compiles to machine code (the C
  tricks above run about 5x slower there). On PyPy its functions replace
  the ones defined here, so callers just use ``kernels.<name>``.

Which dot product is fastest also depends on the CPython version
(measured in docs/performance.md, "Kernel facts"):

- CPython 3.12+: ``math.sumprod``, a C loop with extended-precision
  accumulation (about 130 M multiply-adds/s on a long inner dimension);
- older CPython: ``sum(map(operator.mul, a, b))`` (about 50 M/s).

All products are arranged as ``A @ B.T`` (``matmul_nt``) so that each output
element is one dot product of two rows: the inner dimension is then the long
one and the data is read in storage order.

Besides products, a few kernels compute a whole layer step (convolution from
im2col data, max pooling, the fused Conv2D-ReLU-MaxPool2D step): their loops
are where the two backends differ most, so they live here too.

Not here: shapes, validation, autograd. Callers check their inputs.
"""

import math
import operator
import platform
import sys
from array import array
from itertools import accumulate, chain, compress, repeat
from typing import NamedTuple, Optional

# The kernel names are listed once, in kernels_pypy.__all__: both backends
# define exactly those (tests/test_kernels.py checks they agree).
from .kernels_pypy import __all__ as _KERNELS

__all__ = ["BACKEND", *_KERNELS]

#: ``"pypy"`` on PyPy (the loops of :mod:`purenet.kernels_pypy`), else ``"cpython"``.
BACKEND = "pypy" if platform.python_implementation() == "PyPy" else "cpython"

_mul = operator.mul

if hasattr(math, "sumprod"):
    dot = math.sumprod
    DOT_KERNEL = "math.sumprod"
else:  # CPython 3.9-3.11 (and PyPy, which replaces it below)

    def dot(a, b):
        """Dot product of two equal-length sequences."""
        return sum(map(_mul, a, b))

    DOT_KERNEL = "sum(map(mul))"


def rows_of(data, rows, cols):
    """Split a flat row-major list into ``rows`` lists of ``cols`` items."""
    if rows == 1:
        return [data]
    return [data[i : i + cols] for i in range(0, rows * cols, cols)]


def transpose(row_list):
    """Transpose a row list: ``(R, C)`` rows -> ``(C, R)`` tuples."""
    return list(zip(*row_list))


def matmul_nt(a_rows, b_rows):
    """``A @ B.T`` as a flat row-major list.

    a_rows: ``(M, K)`` row list; b_rows: ``(N, K)`` row list. Returns the
    ``M*N`` products ``dot(a_i, b_j)`` in row-major order.
    """
    out = []
    n = len(b_rows)
    extend = out.extend
    for a in a_rows:
        extend(map(dot, repeat(a, n), b_rows))
    return out


def matmul_nt_sparse_a(a_rows, b_rows):
    """``A @ B.T`` like :func:`matmul_nt`, faster when rows of A are mostly zeros.

    For a sparse row (an MNIST image is about 80% blank pixels) only its
    nonzero entries are multiplied: they and the matching entries of every
    B row are gathered first, then dotted.
    """
    out = []
    n = len(b_rows)
    extend = out.extend
    for a in a_rows:
        zeros = a.count(0.0)  # (a C loop: cheaper than listing the nonzeros of a dense row)
        if zeros * 2 < len(a) or len(a) - zeros < 2:
            extend(map(dot, repeat(a, n), b_rows))
            continue
        pick = getter(list(compress(range(len(a)), a)))
        extend(map(dot, repeat(pick(a), n), map(pick, b_rows)))
    return out


def matmul_nt_skip_zero(a_rows, b_rows):
    """``A @ B.T`` like :func:`matmul_nt`, faster when many rows of B are all zero.

    A zero row of B makes a zero column of the result, so only the others
    are multiplied. Used for weight gradients, ``dY^T X``, where X is a batch
    of sparse inputs seen column by column (a pixel that is blank in every
    image of the batch contributes nothing).
    """
    live = list(map(any, b_rows))
    if live.count(True) > 0.75 * len(b_rows):
        return matmul_nt(a_rows, b_rows)
    m = len(a_rows)
    zero = (0.0,) * m
    cols = [tuple(map(dot, a_rows, repeat(b, m))) if alive else zero for b, alive in zip(b_rows, live)]
    out = []
    for row in zip(*cols):
        out += row
    return out


def matmul_sparse_rows(w_rows, x_rows, biases):
    """``[[b_f + dot(w_f, x) for x in x_rows] for f]``, skipping all-zero rows of x.

    w_rows: ``(F, K)``; x_rows: ``(M, K)`` tuples; biases: F floats. Returns F
    lists of M outputs. An all-zero x row (an empty patch of an image's
    background) gives exactly the bias, so only the others are multiplied.
    """
    live = list(map(any, x_rows))
    count = len(x_rows)
    if live.count(True) > 0.9 * count:  # dense input: skipping would not pay
        return [[v + b for v in map(dot, repeat(w, count), x_rows)] for w, b in zip(w_rows, biases)]
    positions = list(compress(range(count), live))
    rows = list(compress(x_rows, live))
    out = []
    for w, b in zip(w_rows, biases):
        y = [b] * count
        for i, v in zip(positions, map(dot, repeat(w, len(rows)), rows)):
            y[i] = v + b
        out.append(y)
    return out


def getter(indices):
    """A callable ``f(seq) -> tuple(seq[i] for i in indices)`` (a tuple even for one index)."""
    if len(indices) == 1:
        i = indices[0]
        return lambda seq: (seq[i],)
    if not indices:
        return lambda seq: ()
    return operator.itemgetter(*indices)


def gather(seq, indices):
    """``[seq[i] for i in indices]`` as a tuple, at C speed."""
    if len(indices) == 1:
        return (seq[indices[0]],)
    if not indices:
        return ()
    return operator.itemgetter(*indices)(seq)


def nonzero_near(data, offsets, positions):
    """For each p in positions: 1 if any ``data[p + o]`` (o in offsets, all >= 0) is nonzero, else 0.

    Which patches of a convolution hold ink, at bitset speed: one byte per
    value (0 or 1), ORed with itself shifted by each offset as one big
    integer, instead of zipping and testing every patch. Returns a tuple (the
    PyPy backend returns None: its loops test the patches themselves).
    """
    return _near(bytes(map(bool, data)), offsets, positions)


def _near(raw_bytes, offsets, positions):
    """:func:`nonzero_near` on one byte per value (zero or not)."""
    raw = int.from_bytes(raw_bytes, "little")
    near = raw
    for off in offsets:
        if off:
            near |= raw >> (8 * off)
    return gather(near.to_bytes(len(raw_bytes), "little"), positions)


#: The byte k of each value k / 255 (the float an 8-bit pixel becomes, see pixel_bytes).
_BYTE_OF = {k / 255: k for k in range(256)}


def pixel_bytes(data):
    """``bytes(v * 255 for v in data)`` if every value is exactly ``k / 255`` (k in 0..255), else None.

    Images from :mod:`purenet.datasets` (and ``purenet.inputs``) arrive as
    ``byte / 255`` floats; recovering the bytes (one dict lookup per value,
    ~0.8 ms per MNIST batch of 32) lets :func:`conv_relu_pool_bytes` compute
    the first convolution on exact integers. Any other value (a normalised
    or augmented input, NaN) gives None: the float path then runs.
    """
    try:
        return bytes(map(_BYTE_OF.__getitem__, data))
    except (KeyError, TypeError):
        return None


def add_into(target, indices, values):
    """Scatter-add: ``target[i] += v`` for each pair (repeated indices add up)."""
    for i, v in zip(indices, values):
        target[i] += v


def zeroed(values):
    """A list of ``len(values)`` zeros; may be ``values`` itself, cleared in place (PyPy)."""
    return [0.0] * len(values)


def add_lists(a, b):
    """Elementwise sum of two equal-length sequences, as a list.

    The result may be ``a`` itself updated in place (the PyPy backend does
    that), so callers pass a list they own and use only the result.
    """
    return list(map(operator.add, a, b))


def matmul_nt_where(a_rows, b_rows, mask_rows):
    """``A @ B.T`` like :func:`matmul_nt`, but only where ``mask`` is nonzero (0.0 elsewhere).

    mask_rows: ``(M, N)``. Only the kept entries are multiplied: for the input
    gradient of a layer fed by a ReLU, about half of them.
    """
    out = []
    n = len(b_rows)
    for a, mask in zip(a_rows, mask_rows):
        keep = list(compress(range(n), mask))
        if len(keep) == n:
            out.extend(map(dot, repeat(a, n), b_rows))
            continue
        row = [0.0] * n
        for j, v in zip(keep, map(dot, repeat(a, len(keep)), gather(b_rows, keep))):
            row[j] = v
        out += row
    return out


def dense_grad(g_rows, x_rows, w_rows, use_bias, gated=False):
    """The gradients of a dense layer ``Y = X W^T + b`` from ``dY``.

    g_rows: ``dY`` ``(N, U)``; x_rows: ``X`` ``(N, D)``; w_rows: ``W`` ``(U, D)``,
    or None when no input gradient is wanted. Returns ``(dW, db, dX)``:
    ``dW = dY^T X`` flat ``(U, D)``; ``db`` the U column sums of ``dY`` (None
    without ``use_bias``); ``dX = dY W`` flat ``(N, D)`` (None without w_rows),
    with ``gated`` only where X is nonzero (0.0 elsewhere): X came out of a
    ReLU, whose backward zeroes the rest anyway.
    Both products are arranged as ``A @ B.T`` over transposed rows, so that
    their inner dimension is the long one.
    """
    g_cols = transpose(g_rows)  # (U, N)
    x_cols = transpose(x_rows)  # (D, N)
    dw = matmul_nt_skip_zero(g_cols, x_cols)  # (U, D)
    db = [sum(c) for c in g_cols] if use_bias else None
    dx = None
    if w_rows is not None:
        w_cols = transpose(w_rows)  # W^T (D, U)
        dx = matmul_nt_where(g_rows, w_cols, x_rows) if gated else matmul_nt(g_rows, w_cols)  # (N, D)
    return dw, db, dx


def matmul_taps(w_rows, taps, biases):
    """Convolution outputs from im2col data: ``matmul_sparse_rows(w_rows, transpose(taps), biases)``.

    taps: K sequences (one per kernel tap) of M values, the input each tap
    sees at each output position. Returns F lists of M:
    ``b_f + dot(w_f, patch_p)``, an all-zero patch giving exactly the bias.
    """
    return matmul_sparse_rows(w_rows, list(zip(*taps)), biases)


def add_taps_into(dx, tap_index, w_rows, g_filters):
    """Scatter a convolution's input gradient into ``dx``.

    For every tap t and position p: ``dx[tap_index[t][p]] += sum_f w_rows[f][t] * g_filters[f][p]``
    (w_rows: F rows of K weights; g_filters: F lists of the output gradient
    at every position; tap_index: K lists of positions in dx).
    """
    g_positions = transpose(g_filters)  # (P, F)
    live = list(map(any, g_positions))
    if live.count(True) < 0.75 * len(live):
        # after max pooling most positions won no window for any filter: skip them
        pick = getter(list(compress(range(len(live)), live)))
        g_positions = pick(g_positions)
        tap_index = [pick(idx) for idx in tap_index]
    count = len(g_positions)
    for w_tap, idx in zip(transpose(w_rows), tap_index):
        add_into(dx, idx, map(dot, repeat(w_tap, count), g_positions))


def window_max(values):
    """Each window's largest value: the elementwise max of K equal-length sequences (a list)."""
    return list(map(max, *values)) if len(values) > 1 else list(values[0])


def window_winners(values, maxes, windows):
    """For each window w, ``windows[w][t]`` for the first tap t whose value is ``maxes[w]``.

    values: K tuples (one per window tap) of W values; windows: W sequences
    of K input indices. Returns an iterator over the winners' input indices.
    """
    return map(operator.getitem, windows, map(tuple.index, zip(*values), maxes))


def window_mean(values, windows_taps, divisor):
    """``out[w] = sum_t values[windows_taps[t][w]] / divisor``: the mean of each window.

    windows_taps: K equal-length index sequences, one per window tap (the
    taps added in that order). Average pooling's forward pass (values: the
    input; taps: where each window reads) and its backward pass (values: the
    gradient; taps: which windows read each input) are both this.
    """
    taps = [gather(values, idx) for idx in windows_taps]
    total = taps[0]
    for tap in taps[1:]:  # chained maps: no tuple per window, unlike sum(zip(*taps))
        total = map(operator.add, total, tap)
    return [v / divisor for v in total]


# ------------------------------------------------------- per-channel statistics
# Batch normalisation's loops. Data is a batch in the channel-first layout
# (N, C*L): sample s, channel c is the run data[s*C*L + c*L : ... + L]. Each
# kernel gathers one channel's N runs into a list (C-speed slices), works on
# it with one list comprehension, and puts the result back in place.
def _channel(data, n, channels, length, c):
    """Channel c's N*L values, sample after sample."""
    if length == 1:
        return data[c::channels]
    if n == 1:
        return data[c * length : c * length + length]
    size = channels * length
    return list(chain.from_iterable(data[s : s + length] for s in range(c * length, n * size, size)))


def _put_channel(out, values, n, channels, length, c):
    """The inverse of :func:`_channel`: write channel c's values into ``out``."""
    if length == 1:
        out[c::channels] = values
        return
    size = channels * length
    k = 0
    for s in range(c * length, n * size, size):
        out[s : s + length] = values[k : k + length]
        k += length


def channel_sums(data, n, channels, length):
    """Per channel c, the sum of its N*L values (a list of C floats)."""
    return [sum(_channel(data, n, channels, length, c)) for c in range(channels)]


def channel_dots(a, b, n, channels, length):
    """Per channel c, ``sum a[i] * b[i]`` over its N*L positions (a list of C floats)."""
    return [dot(_channel(a, n, channels, length, c), _channel(b, n, channels, length, c)) for c in range(channels)]


def channel_affine(data, n, channels, length, scale, shift):
    """``out[s, c, l] = data[s, c, l] * scale[c] + shift[c]`` (a new list)."""
    out = [0.0] * len(data)
    for c in range(channels):
        k, b = scale[c], shift[c]
        _put_channel(out, [v * k + b for v in _channel(data, n, channels, length, c)], n, channels, length, c)
    return out


def channel_combine(a, b, n, channels, length, scale_a, scale_b, shift):
    """``out[s, c, l] = a[s, c, l] * scale_a[c] + b[s, c, l] * scale_b[c] + shift[c]`` (a new list)."""
    out = [0.0] * len(a)
    for c in range(channels):
        ka, kb, t = scale_a[c], scale_b[c], shift[c]
        pairs = zip(_channel(a, n, channels, length, c), _channel(b, n, channels, length, c))
        _put_channel(out, [u * ka + v * kb + t for u, v in pairs], n, channels, length, c)
    return out


#: Patches up to this long are rebuilt for each filter rather than kept (see conv_relu_pool).
_SHORT_PATCH = 16


class _ConvPoolCache(NamedTuple):
    """What :func:`conv_relu_pool_grad` needs of a :func:`conv_relu_pool` (or ``_bytes``) batch."""

    n: int
    taps: list  # K sequences the weight gradient reads: each tap's input, by position or by lane
    tap_unit: float  # what the taps' values are in (255.0: bytes, pixel = byte / 255)
    pool_taps: list
    ink: list  # per window (N*Q): whether it pooled any patch with ink
    ink_windows: list  # the M windows with ink
    values_all: list  # per filter, window taps x M conv outputs (bytes path: its lanes' integers)
    maxes_all: list  # per filter, the M windows' maxima
    pooled_all: list  # per filter, [relu(b)] + the M windows' outputs
    outs: list  # per filter, its N*Q outputs
    lanes: Optional[tuple]  # bytes path: (window taps, each lane's position in the map)
    map_size: int  # N*P, one filter's conv map


def conv_relu_pool(taps, w_rows, biases, pool_taps, n, live=None):
    """Conv2D -> ReLU -> MaxPool2D in one pass: ``relu(max_window(conv) + b)``.

    taps: K tuples of N*P values, the input each kernel tap sees at each conv
    output position (im2col, from ``Conv2D.gather_taps``); w_rows: F filter
    rows of K weights; biases: F floats; pool_taps: per pool-window tap, the
    N*Q positions it reads in one filter's (N*P) map; n: the batch size;
    live: optionally, whether each patch has a nonzero value (N*P truth
    values, e.g. from :func:`nonzero_near`), else the patches are tested.

    Returns ``(out, cache)``: out is the flat ``(N, F*Q)`` output, cache what
    :func:`conv_relu_pool_grad` needs. See :mod:`purenet.layers.fused` for
    why the bias and ReLU can come after the pooling.

    Blank input is skipped twice: only patches with some nonzero value get
    dot products (a blank one gives 0.0 before the bias), and only windows
    with such a patch are pooled; every other window ("background") pools
    four exact zeros, so its output is ``relu(b)``, one value per filter.
    """
    if live is None:
        live = list(map(any, zip(*taps)))
    live_taps = list(map(getter(list(compress(range(len(live)), live))), taps))  # K x L
    count = live.count(True)
    # Short patches (a first layer's 3x3) are zipped afresh for each filter:
    # keeping thousands of them would set off a cyclic-GC pass over every young
    # list each step. Long ones (C*KH*KW of a later layer) are zipped once.
    patches = None if len(taps) <= _SHORT_PATCH else list(zip(*live_taps))  # (L, K)
    # where each conv output will be: slot 0 holds 0.0 (a blank patch's),
    # slots 1..L the live patches' outputs, in order
    slot = list(map(operator.mul, accumulate(live), live))
    live_window = _any_of([gather(live, idx) for idx in pool_taps])
    ink_windows = list(compress(range(len(pool_taps[0])), live_window))  # the M windows with ink
    m = len(ink_windows)
    # one picker per window tap: conv outputs straight into live-window order
    pickers = [getter(gather(slot, gather(idx, ink_windows))) for idx in pool_taps]
    # each window's output: slot 0 the background value, 1..M the live windows' outputs
    expand = getter(list(map(operator.mul, accumulate(live_window), live_window)))
    values_all, maxes_all, pooled_all, outs = [], [], [], []
    for w, b in zip(w_rows, biases):
        z = [0.0]
        z += map(dot, repeat(w, count), patches or zip(*live_taps))  # this filter's live outputs
        values = [pick(z) for pick in pickers]  # window taps x M
        maxes = window_max(values)
        pooled = [b if b > 0.0 else 0.0]  # relu(0.0 + b), every background window's output
        pooled += [v if v > 0.0 else 0.0 for v in map(operator.add, maxes, repeat(b, m))]
        values_all.append(values)
        maxes_all.append(maxes)
        pooled_all.append(pooled)
        outs.append(expand(pooled))  # (N*Q,)
    data = _batch_major(outs, n)
    cache = _ConvPoolCache(
        n, taps, 1.0, pool_taps, live_window, ink_windows, values_all, maxes_all, pooled_all, outs, None, len(taps[0])
    )
    return data, cache


def conv_relu_pool_bytes(pixels, source, tap_index, w_rows, biases, pool_taps, n, lanes=None):
    """:func:`conv_relu_pool` for an input of 8-bit pixels, its dot products done as integer SIMD.

    pixels: the input as bytes, ``source[i] == pixels[i] / 255`` (from
    :func:`pixel_bytes`); source: the same input as floats; tap_index: K
    lists of N*P indices into both, the input each kernel tap sees at each
    conv output position (no padding); lanes: :func:`byte_lanes` of the
    same input if already made (a data-parallel worker makes them while it
    waits for weights); the rest as :func:`conv_relu_pool`, whose output and
    cache this returns (the same values within ~1e-15 of the filters' size,
    see below).

    Why: a first-layer 3x3 convolution is ~62,000 nine-term dot products per
    MNIST batch of 32 (8 filters), each bounded by the ~150 ns of a C call
    rather than by its 9 multiply-adds. Python's big integers are the one
    standard-library type whose single operations run long loops over
    arbitrary data, so the products are packed into them, thousands at once:

    - lanes: one conv output position per 64-bit lane of a Python int, and
      one such int per kernel tap t holding the pixel (0..255) that tap sees
      at each lane's position. Only the positions the pooling reads in the
      windows with ink get a lane, window after window, each window's taps
      in a row (about a third of all positions on MNIST; the other windows
      pool blank patches and output ``relu(b)``, as in :func:`conv_relu_pool`);
    - fixed point: filter f's weights become integers ``W_t = round(w_t *
      2**s)``, the power of two chosen so that ``255 * sum_t |W_t|`` stays
      below ``2**61`` (s is ~50: rounding moves a weight by at most
      ``2**-(s+1)``, which changes an output by ~1e-15 of the filter's size);
    - then ``acc = sum_t W_t * lanes_t`` is ONE multiplication and addition
      of long integers per tap, and each lane of ``acc`` is that position's
      dot product ``sum_t W_t * pixel_t``, exactly, as no lane overflows
      into the next. Negative lanes borrow from their neighbours; adding
      ``2**63`` to every lane first keeps each one in ``[0, 2**64)``, so the
      integer's 64-bit chunks are the lanes, and flipping each chunk's top
      bit (one XOR) leaves them as signed 64-bit values, which
      ``int.to_bytes`` and ``array('q')`` read back in one go;
    - max pooling compares the integers (the conv output is ``lane * 2**-s /
      255``: a positive scale keeps the order), so only the pooled maxima
      become floats. A window's winner is the first of its lanes holding the
      maximum: one ``list.index`` over its few lanes (the backward pass).

    Per filter that is 9 long multiplications instead of ~8,000 calls,
    about 2.5x less time (measured on real batches). The blank patches
    inside windows with ink give exactly 0, as in the float path; equal
    patches give equal integers, so ties stay ties (only two patches whose
    float dot products differ by less than ~1e-15 could be ordered
    differently).
    """
    if not all(math.isfinite(255.0 * sum(map(abs, w))) for w in w_rows):  # no fixed point for inf/NaN
        return conv_relu_pool([gather(source, idx) for idx in tap_index], w_rows, biases, pool_taps, n)
    ink, ink_windows, lane_positions, lanes, lane_pixels, offset = lanes or byte_lanes(pixels, tap_index, pool_taps)
    window_taps = len(pool_taps)
    size = 8 * len(lane_positions)
    expand = getter(list(map(operator.mul, accumulate(ink), ink)))
    values_all, maxes_all, pooled_all, outs = [], [], [], []
    for w, b in zip(w_rows, biases):
        z, scale = _lane_dots(lanes, w, offset, size)  # window after window: M * window_taps integers
        maxes = window_max([z[t::window_taps] for t in range(window_taps)])
        pooled = [b if b > 0.0 else 0.0]  # relu(0.0 + b), every background window's output
        pooled += [v if v > 0.0 else 0.0 for v in map(operator.add, map(operator.mul, repeat(scale), maxes), repeat(b))]
        values_all.append(z)
        maxes_all.append(maxes)
        pooled_all.append(pooled)
        outs.append(expand(pooled))  # (N*Q,)
    data = _batch_major(outs, n)
    cache = _ConvPoolCache(
        n, lane_pixels, 255.0, pool_taps, ink, ink_windows, values_all, maxes_all, pooled_all, outs,
        (window_taps, lane_positions), len(tap_index[0]),
    )
    return data, cache


def byte_lanes(pixels, tap_index, pool_taps):
    """The half of :func:`conv_relu_pool_bytes` that needs no weights, for ``lanes=``.

    Returns ``(ink, ink_windows, lane_positions, lanes, lane_pixels, offset)``:
    whether each pool window has ink, the indices of those that do, the conv
    positions given a lane (window after window), each kernel tap's pixels
    at them as one int of 64-bit lanes and as bytes, and the int with
    ``2**63`` in every lane.
    """
    ink = _ink_windows(pixels, tap_index, pool_taps)
    ink_windows = list(compress(range(len(ink)), ink))  # the M windows with ink
    pick = getter(ink_windows)
    lane_positions = list(chain.from_iterable(zip(*[pick(idx) for idx in pool_taps])))  # window after window
    lanes, lane_pixels = _pixel_lanes(pixels, tap_index, lane_positions)
    offset = int.from_bytes(_LANE_OFFSET * len(lane_positions), "little")  # 2**63 in every lane
    return ink, ink_windows, lane_positions, lanes, lane_pixels, offset


#: One 64-bit lane holding 2**63, little-endian (see conv_relu_pool_bytes).
_LANE_OFFSET = (1 << 63).to_bytes(8, "little")


def _ink_windows(pixels, tap_index, pool_taps):
    """Whether each pool window reads a nonzero pixel through any of its taps' patches (N*Q bools).

    Without padding, window tap t's patch starts a fixed distance after the
    window's first patch, and kernel tap k a fixed distance after the patch's
    start, so one bitset dilation over the window's whole input footprint
    answers it (see :func:`nonzero_near`).
    """
    origins = tap_index[0]
    first = pool_taps[0][0]
    window_offsets = [origins[idx[0]] - origins[first] for idx in pool_taps]
    kernel_offsets = [idx[first] - origins[first] for idx in tap_index]
    offsets = sorted({a + b for a in window_offsets for b in kernel_offsets})
    return list(map(bool, _near(pixels, offsets, gather(origins, pool_taps[0]))))  # ORed pixels: any byte


def _pixel_lanes(pixels, tap_index, positions):
    """For each kernel tap, its pixels at the conv ``positions``: one int of 64-bit lanes, and as bytes.

    Without padding, kernel tap k reads a fixed distance after tap 0, so one
    gather (of the patches' first pixels) serves every tap, applied to the
    pixels shifted by that distance.
    """
    origins = tap_index[0]
    at = getter(gather(origins, positions))  # each position's first pixel
    size = 8 * len(positions)
    lanes, values = [], []
    for idx in tap_index:
        values.append(bytes(at(pixels[idx[0] - origins[0] :])))
        buf = bytearray(size)
        buf[::8] = values[-1]  # each pixel in the low byte of its lane
        lanes.append(int.from_bytes(buf, "little"))
    return lanes, values


def _lane_dots(lanes, w, offset, size):
    """Every lane's ``dot(w, pixels)`` in fixed point: ``(z, scale)``, the exact integer dot
    products as a list and the float that turns them into the conv outputs (``scale * z``)."""
    s = 61 - math.frexp(255.0 * sum(map(abs, w)))[1]  # 255 * sum |W_t| < 2**61 (+ rounding)
    acc = offset
    for v, lane in zip(w, lanes):
        if v:
            acc += round(math.ldexp(v, s)) * lane
    z = array("q", (acc ^ offset).to_bytes(size, "little"))  # flip each lane's top bit: signed lanes
    if sys.byteorder == "big":
        z.byteswap()
    return z.tolist(), math.ldexp(1 / 255, -s)  # pixel = byte / 255


def _any_of(flags):
    """Elementwise ``any`` of K equal-length sequences of truth values, as a list."""
    return list(map(any, zip(*flags))) if len(flags) > 1 else list(map(bool, flags[0]))


def conv_relu_pool_grad(cache, grad, windows, overlapping, input_grad, passed=None):
    """Backward of :func:`conv_relu_pool` for the output gradient ``grad`` (flat ``(N, F*Q)``).

    windows: per pool window, the positions of its taps in a filter's map
    (the pool tables transposed); overlapping: whether windows share
    positions (their gradients then add up). Returns ``(dw, db, g_maps)``:
    the weight gradient (flat F*K), the bias gradient (F) and, with
    ``input_grad``, each filter's conv-output gradient (F lists of N*P) for
    the input gradient, else None.

    Only windows whose output passed the ReLU carry a gradient, each to its
    winner (the position of its max). The weight gradient needs only the
    windows with ink (a background window's winner reads zeros); the bias
    gradient and the input gradient need them all, the background ones
    sending theirs to their first tap (four tied zeros).

    passed: instead of ``grad`` (then unused), per filter the gradients of
    just the windows :func:`conv_relu_pool_ink` lists, in its order; the bias
    gradient then leaves out the background windows (the caller adds their
    share), and ``input_grad`` must be False.
    """
    n, taps, unit, pool_taps, live_window, ink_windows, values_all, maxes_all, pooled_all, outs, lanes, map_size = cache
    f_count = len(outs)
    q = len(outs[0]) // n
    fq = f_count * q
    pick_live = getter(ink_windows)
    if lanes is None:
        live_rows = gather(windows, ink_windows)  # (M, window taps): positions in the map
    background = None
    dw, db, g_maps = [], [], []
    for f in range(f_count):
        pooled = pooled_all[f]
        through = pooled[1:]  # truthy where the ReLU let a live window through
        if passed is None:
            gf = []
            for s in range(f * q, n * fq, fq):
                gf += grad[s : s + q]
            db.append(sum(compress(gf, outs[f])))
            gm = list(compress(pick_live(gf), through))
        else:
            gm = passed[f]
            db.append(sum(gm))
        maxes = compress(maxes_all[f], through)
        if lanes is None:  # the taps hold every position of the map: find each window's first maximum
            winner_tap = map(tuple.index, zip(*[compress(v, through) for v in values_all[f]]), maxes)
            winners = list(map(operator.getitem, compress(live_rows, through), winner_tap))  # in the (N*P) map
            at = winners
        else:  # the taps hold the lanes of conv_relu_pool_bytes, window after window
            window_taps, lane_positions = lanes
            z = values_all[f]
            ends = range(window_taps, len(z) + 1, window_taps)
            at = list(map(z.index, maxes, compress(range(0, len(z), window_taps), through), compress(ends, through)))
            winners = gather(lane_positions, at) if input_grad else None
        pick = getter(at)
        dw += [dot(gm, pick(tap)) / unit for tap in taps]
        if input_grad:
            gz = [0.0] * map_size
            add_into(gz, winners, gm)
            if pooled[0]:  # relu(b) > 0: the background windows pass too
                if background is None:  # the background windows, and their first taps' positions
                    dead = list(compress(range(len(gf)), map(operator.not_, live_window)))
                    background = (getter(dead), gather(pool_taps[0], dead))
                add_into(gz, background[1], background[0](gf))
            g_maps.append(gz)
    return dw, db, (g_maps if input_grad else None)


def conv_relu_pool_ink(cache):
    """The windows with ink of a :func:`conv_relu_pool` batch that passed the ReLU: ``(flags, samples, windows)``, or None.

    flags: N*Q truth values, one per window (the same for every filter): with
    ink or not; the other windows pooled only blank patches, so their output
    is exactly ``relu(b_f)``. samples, windows: per filter, for each window
    with ink whose output passed the ReLU, in order, its sample (0..N-1) and
    its window in that sample's map (0..Q-1): where the output gradient
    matters to :func:`conv_relu_pool_grad` (see its ``passed`` argument).
    """
    q = len(cache.ink) // cache.n
    ink_samples = [w // q for w in cache.ink_windows]
    ink_within = [w % q for w in cache.ink_windows]
    samples, windows = [], []
    for pooled in cache.pooled_all:
        passed = pooled[1:]
        samples.append(list(compress(ink_samples, passed)))
        windows.append(list(compress(ink_within, passed)))
    return cache.ink, samples, windows


def _batch_major(outs, n):
    """F lists of N*Q values (one per filter map) -> the flat ``(N, F*Q)`` layout."""
    q = len(outs[0]) // n  # pooled positions per filter map
    data = []
    for s in range(0, n * q, q):
        for out in outs:
            data += out[s : s + q]
    return data


def sgd_step(values, grads, lr):
    """The plain gradient step, in place: ``values[i] -= lr * grads[i]``."""
    values[:] = [w - lr * d for w, d in zip(values, grads)]


def momentum_step(buf, grads, mu):
    """A momentum buffer's update ``mu * buf + grads``, as a list (may be ``buf`` itself, updated)."""
    return [mu * b + d for b, d in zip(buf, grads)]


def adam_step(values, m, v, grads, b1, b2, step, inv_c2, eps):
    """One Adam update of ``values`` in place; returns the new moments ``(m, v)``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, then
    ``w -= step * m / (sqrt(v * inv_c2) + eps)`` where ``step`` and ``inv_c2``
    carry the bias corrections. The moments returned may be ``m`` and ``v``
    themselves, updated in place.
    """
    m = [b1 * a + (1.0 - b1) * d for a, d in zip(m, grads)]
    v = [b2 * a + (1.0 - b2) * d * d for a, d in zip(v, grads)]
    sqrt = math.sqrt
    values[:] = [w - step * a / (sqrt(b * inv_c2) + eps) for w, a, b in zip(values, m, v)]
    return m, v


if BACKEND == "pypy":  # pragma: no cover - PyPy only
    # the loop versions replace every kernel above: kernels_pypy.__all__ is the
    # same list of names as this module's (tests/test_kernels.py checks it)
    from .kernels_pypy import *  # noqa: F401,F403
