"""The PyPy backend of :mod:`purenet.kernels`: the same kernels as plain loops.

:mod:`purenet.kernels` imports these in place of its own functions when it
runs on PyPy (``platform.python_implementation() == "PyPy"``); the layers
never know which backend they call.

Why PyPy needs its own code: the CPython kernels are fast because they push
every loop into C (``math.sumprod``, ``map`` over ``repeat()``,
``operator.itemgetter`` gathers, ``zip(*rows)`` transposes,
``itertools.compress``). To PyPy's tracing JIT those are opaque calls that
build many small tuples, and a tuple stores each float as a separate boxed
object: measured, they run about 5x slower than on CPython
(docs/performance.md, "Kernel facts"). What the JIT compiles to tight machine code is
the opposite style, used throughout this module:

- plain ``for i in range(n)`` index loops over flat lists, long inner loops
  rather than short ones (a loop of 9 pays its entry cost on every call);
- results are lists, never tuples: a list that only ever holds floats is
  stored unboxed (PyPy's float list strategy), so float lists are kept
  homogeneous (start from ``0.0``, never ``0``);
- several outputs per pass where the inner loop would otherwise be short
  or would reload and store its output every step (four taps of a
  convolution, four rows of a weight matrix): the additions into each
  output keep their order;
- sparse data is exploited explicitly: the positions and values of the
  nonzero entries are collected once, then only those are multiplied (MNIST
  images are about 80% blank, and after ReLU and max pooling most
  gradients are zero too);
- little weight-sized garbage: PyPy's GC pays dearly for new lists the
  size of a weight matrix every step (the mlp trained twice as fast with a
  16 MB nursery, ``PYPY_GC_NURSERY``, than with the default), so
  :func:`add_lists`, :func:`zeroed` and the optimizer steps update their
  arguments in place (their contracts allow it) rather than allocate. The
  SGD update alone, a comprehension building a new list, was 40% of an
  mlp training step.

Results equal the CPython kernels' except in harmless ways: sequences come
back as lists where CPython returns tuples (or an iterator, for
:func:`window_winners`); the kernels whose contract allows it return their
(updated) arguments instead of new lists; and sums may add their terms in
a different order or leave out terms that are exactly zero (a difference
of a few units in the last place; it could only matter for inf/NaN inputs,
which purenet rejects at the door).

Every function here is plain Python, so the test suite also checks them on
CPython (tests/test_kernels.py).
"""

import math

__all__ = [
    "DOT_KERNEL",
    "dot",
    "matmul_nt",
    "matmul_sparse_rows",
    "matmul_nt_sparse_a",
    "matmul_nt_skip_zero",
    "matmul_nt_where",
    "dense_grad",
    "matmul_taps",
    "add_taps_into",
    "transpose",
    "rows_of",
    "gather",
    "getter",
    "nonzero_near",
    "pixel_bytes",
    "add_into",
    "add_lists",
    "zeroed",
    "window_max",
    "window_winners",
    "window_mean",
    "channel_sums",
    "channel_dots",
    "channel_affine",
    "channel_combine",
    "conv_relu_pool",
    "conv_relu_pool_bytes",
    "byte_lanes",
    "conv_relu_pool_grad",
    "conv_relu_pool_ink",
    "sgd_step",
    "momentum_step",
    "adam_step",
]

DOT_KERNEL = "loop"


def _nonzeros(seq):
    """``(indices, values)`` of the nonzero entries of ``seq``, in order."""
    indices, values = [], []
    for i in range(len(seq)):
        v = seq[i]
        if v != 0.0:
            indices.append(i)
            values.append(v)
    return indices, values


# ------------------------------------------------------------ products
def dot(a, b):
    """Dot product of two equal-length sequences."""
    total = 0.0
    for i in range(len(a)):
        total += a[i] * b[i]
    return total


def matmul_nt(a_rows, b_rows):
    """``A @ B.T`` as a flat row-major list (``M*N`` products ``dot(a_i, b_j)``).

    With a short inner dimension K (say ``dY W`` with 10 classes) M*N dot
    products of length K would spend their time entering and leaving tiny
    loops, so then each output row is built as ``sum_k a_i[k] * B.T[k]``
    instead: K long loops over a row of N outputs (each output still adds
    its K terms in order, zero terms of A skipped).
    """
    m, n = len(a_rows), len(b_rows)
    out = [0.0] * (m * n)
    if m == 0 or n == 0:
        return out
    depth = len(b_rows[0])
    if depth < n and depth <= 64:
        b_cols = transpose(b_rows)  # (K, N)
        base = 0
        for a in a_rows:
            for k in range(depth):
                v = a[k]
                if v != 0.0:
                    col = b_cols[k]
                    for j in range(n):
                        out[base + j] += v * col[j]
            base += n
        return out
    o = 0
    for a in a_rows:
        for b in b_rows:
            total = 0.0
            for k in range(depth):
                total += a[k] * b[k]
            out[o] = total
            o += 1
    return out


def matmul_nt_sparse_a(a_rows, b_rows):
    """``A @ B.T`` like :func:`matmul_nt`, faster when rows of A are mostly zeros.

    Each mostly-zero row of A (an MNIST image is about 80% blank) is reduced
    to its nonzero positions and values once; every dot product with a row
    of B then reads only those positions.
    """
    n = len(b_rows)
    out = [0.0] * (len(a_rows) * n)
    o = 0
    for a in a_rows:
        size = len(a)
        if (size - a.count(0.0)) * 2 > size:  # dense row: a plain dot product is cheaper
            for b in b_rows:
                total = 0.0
                for k in range(size):
                    total += a[k] * b[k]
                out[o] = total
                o += 1
            continue
        idx, val = _nonzeros(a)
        count = len(idx)
        # unrolled by 4 (same order of additions): the JIT does not unroll
        # loops, and this one is short (an image has ~150 inked pixels)
        count4 = count - count % 4
        for b in b_rows:
            total = 0.0
            for k in range(0, count4, 4):
                total += val[k] * b[idx[k]]
                total += val[k + 1] * b[idx[k + 1]]
                total += val[k + 2] * b[idx[k + 2]]
                total += val[k + 3] * b[idx[k + 3]]
            for k in range(count4, count):
                total += val[k] * b[idx[k]]
            out[o] = total
            o += 1
    return out


def matmul_nt_skip_zero(a_rows, b_rows):
    """``A @ B.T`` like :func:`matmul_nt`, faster when B is mostly zeros.

    Meant for weight gradients ``dY^T X``, A = ``dY`` column by column
    ``(U, N)``, B = ``X`` column by column ``(D, N)`` (the CPython
    :func:`dense_grad` uses it; the one here needs no transposes). Rather
    than U*D dot products of length N, this walks the batch: for each k in N,
    the nonzero ``B[j, k]`` (the ink of image k) and the nonzero ``A[i, k]``
    (the units with a gradient) are found, and only their products are added
    to ``out[i, j]``, in the order of k as the dot product would.
    """
    m, n = len(a_rows), len(b_rows)
    out = [0.0] * (m * n)
    if m == 0 or n == 0:
        return out
    for k in range(len(a_rows[0])):
        cols, vals = [], []
        for j in range(n):
            v = b_rows[j][k]
            if v != 0.0:
                cols.append(j)
                vals.append(v)
        count = len(cols)
        if count == 0:
            continue
        base = 0
        for i in range(m):
            g = a_rows[i][k]
            if g != 0.0:
                for q in range(count):
                    out[base + cols[q]] += g * vals[q]
            base += n
    return out


def matmul_sparse_rows(w_rows, x_rows, biases):
    """``[[b_f + dot(w_f, x) for x in x_rows] for f]``, skipping all-zero rows of x.

    Returns F lists of M outputs; an all-zero x row gives exactly the bias.
    Only the nonzero entries of each x row are multiplied.
    """
    count = len(x_rows)
    out = [[b + 0.0] * count for b in biases]
    for p in range(count):
        idx, val = _nonzeros(x_rows[p])
        c = len(idx)
        if c == 0:
            continue
        for f in range(len(w_rows)):
            w = w_rows[f]
            total = 0.0
            for k in range(c):
                total += w[idx[k]] * val[k]
            out[f][p] = total + biases[f]
    return out


def matmul_nt_where(a_rows, b_rows, mask_rows):
    """``A @ B.T`` like :func:`matmul_nt`, but only where ``mask`` is nonzero (0.0 elsewhere)."""
    out = []
    n = len(b_rows)
    for r in range(len(a_rows)):
        a, mask = a_rows[r], mask_rows[r]
        k = len(a)
        for j in range(n):
            if mask[j] != 0.0:
                b = b_rows[j]
                total = 0.0
                for i in range(k):
                    total += a[i] * b[i]
                out.append(total)
            else:
                out.append(0.0)
    return out


def dense_grad(g_rows, x_rows, w_rows, use_bias, gated=False):
    """The gradients of a dense layer ``Y = X W^T + b``: ``(dW, db, dX)`` as the CPython kernel
    (``gated``: dX is 0.0 where X is 0.0; computed everywhere, then zeroed there, as
    the JIT runs the long row passes faster than it would skip entries).

    No transposes: both products are walked sample by sample, and every
    entry still sums its terms in order (over n for dW, over u for dX).

    ``dW = dY^T X``: when most products ``dY[n, u] * X[n, d]`` are zero (MNIST
    pixels into a first layer: ~80% blank, and the ReLU zeroes about half of
    dY), only the nonzero pairs are visited, four rows of dW per pass over a
    sample's nonzero inputs; otherwise row u of dW gets ``dY[n, u]`` times row
    n of X, four samples per pass. ``dX = dY W``: row n of dX gets
    ``dY[n, u]`` times row u of W, four rows of W per pass.
    """
    n = len(g_rows)
    units = len(g_rows[0]) if n else 0
    depth = len(x_rows[0]) if n else 0
    dw = [0.0] * (units * depth)
    x_nonzero = 0
    g_nonzero = 0
    for s in range(n):
        x_nonzero += depth - x_rows[s].count(0.0)
        g_nonzero += units - g_rows[s].count(0.0)
    if 4 * x_nonzero * g_nonzero > (n * depth) * (n * units):  # dense: a quarter or more of the products
        n4 = n - n % 4
        base = 0
        for i in range(units):
            for s in range(0, n4, 4):
                g0, g1, g2, g3 = g_rows[s][i], g_rows[s + 1][i], g_rows[s + 2][i], g_rows[s + 3][i]
                x0, x1, x2, x3 = x_rows[s], x_rows[s + 1], x_rows[s + 2], x_rows[s + 3]
                for j in range(depth):
                    v = dw[base + j]
                    v += g0 * x0[j]
                    v += g1 * x1[j]
                    v += g2 * x2[j]
                    v += g3 * x3[j]
                    dw[base + j] = v
            for s in range(n4, n):
                gi, x = g_rows[s][i], x_rows[s]
                for j in range(depth):
                    dw[base + j] += gi * x[j]
            base += depth
    else:
        for s in range(n):
            g = g_rows[s]
            cols, vals = _nonzeros(x_rows[s])
            count = len(cols)
            if count == 0:
                continue
            live = [i for i in range(units) if g[i] != 0.0]
            live4 = len(live) - len(live) % 4
            for r in range(0, live4, 4):  # four rows of dW per pass over the sample's ink
                i0, i1, i2, i3 = live[r], live[r + 1], live[r + 2], live[r + 3]
                g0, g1, g2, g3 = g[i0], g[i1], g[i2], g[i3]
                b0, b1, b2, b3 = i0 * depth, i1 * depth, i2 * depth, i3 * depth
                for q in range(count):
                    c, v = cols[q], vals[q]
                    dw[b0 + c] += g0 * v
                    dw[b1 + c] += g1 * v
                    dw[b2 + c] += g2 * v
                    dw[b3 + c] += g3 * v
            for r in range(live4, len(live)):
                gi, base = g[live[r]], live[r] * depth
                for q in range(count):
                    dw[base + cols[q]] += gi * vals[q]
    db = None
    if use_bias:
        db = [0.0] * units
        for s in range(n):
            g = g_rows[s]
            for i in range(units):
                db[i] += g[i]
    dx = None
    if w_rows is not None:
        dx = [0.0] * (n * depth)
        base = 0
        for s in range(n):
            g = g_rows[s]
            live = [i for i in range(units) if g[i] != 0.0]
            count = len(live)
            count4 = count - count % 4
            for q in range(0, count4, 4):  # four rows of W per pass over the row of dX
                i0, i1, i2, i3 = live[q], live[q + 1], live[q + 2], live[q + 3]
                g0, g1, g2, g3 = g[i0], g[i1], g[i2], g[i3]
                w0, w1, w2, w3 = w_rows[i0], w_rows[i1], w_rows[i2], w_rows[i3]
                for j in range(depth):
                    v = dx[base + j]
                    v += g0 * w0[j]
                    v += g1 * w1[j]
                    v += g2 * w2[j]
                    v += g3 * w3[j]
                    dx[base + j] = v
            for q in range(count4, count):
                gi, w = g[live[q]], w_rows[live[q]]
                for j in range(depth):
                    dx[base + j] += gi * w[j]
            if gated:  # the long row passes above beat skipping entries; zero them after
                x = x_rows[s]
                for j in range(depth):
                    if x[j] == 0.0:
                        dx[base + j] = 0.0
            base += depth
    return dw, db, dx


def _tap_products(w_rows, taps):
    """F lists: ``sum_t w[f][t] * taps[t][p]`` for every position p.

    Tap-major, so every inner loop is a long branch-free pass over the
    whole batch, and four taps per pass: each output is loaded and stored
    once per four multiply-adds (still added in tap order). Skipping the
    blank patches, as the CPython kernel does, measured slower here:
    finding them costs more than the multiplications it saves.
    """
    count = len(taps[0]) if taps else 0
    maps = [[0.0] * count for _ in w_rows]
    k = len(taps)
    k4 = k - k % 4
    for f in range(len(w_rows)):
        w, z = w_rows[f], maps[f]
        for t in range(0, k4, 4):
            c0, c1, c2, c3 = taps[t], taps[t + 1], taps[t + 2], taps[t + 3]
            w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
            for p in range(count):
                v = z[p]
                v += w0 * c0[p]
                v += w1 * c1[p]
                v += w2 * c2[p]
                v += w3 * c3[p]
                z[p] = v
        for t in range(k4, k):
            c0, w0 = taps[t], w[t]
            for p in range(count):
                z[p] += w0 * c0[p]
    return maps


def _source_products(w_rows, source, tap0, offsets, at):
    """:func:`_tap_products` of an unpadded convolution's input read in place, one map at a time.

    Tap t of position p is ``source[tap0[p] + offsets[t]]`` (no im2col copy:
    nine copies of an MNIST batch are 1.5 MB of lists that live until
    backward, and the PyPy GC's copying them cost more than the gathering).
    The same products, added in the same order, as :func:`_tap_products`
    of the gathered taps. Yields each filter's map in turn, in one list
    refilled for the next filter: read it before asking for the next (fewer
    large lists for the GC).
    """
    count = len(at)
    bases = [0] * count
    for j in range(count):
        bases[j] = tap0[at[j]]
    z = [0.0] * count
    k = len(offsets)
    k4 = k - k % 4
    for f in range(len(w_rows)):
        w = w_rows[f]
        if f:
            for j in range(count):
                z[j] = 0.0
        for t in range(0, k4, 4):
            o0, o1, o2, o3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
            w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
            for j in range(count):
                b = bases[j]
                v = z[j]
                v += w0 * source[b + o0]
                v += w1 * source[b + o1]
                v += w2 * source[b + o2]
                v += w3 * source[b + o3]
                z[j] = v
        for t in range(k4, k):
            o0, w0 = offsets[t], w[t]
            for j in range(count):
                z[j] += w0 * source[bases[j] + o0]
        yield z


def matmul_taps(w_rows, taps, biases):
    """Convolution outputs from im2col data: ``matmul_sparse_rows(w_rows, transpose(taps), biases)``.

    taps: K sequences (one per kernel tap) of M values, the input each tap
    sees at each output position. Returns F lists of M:
    ``b_f + sum_t w[f][t] * taps[t][p]``. Computed tap-major (see
    :func:`_tap_products`) instead of building M small patches.
    """
    maps = _tap_products(w_rows, taps)
    for f in range(len(maps)):
        z, b = maps[f], biases[f]
        for p in range(len(z)):
            z[p] = z[p] + b
    return maps


def add_taps_into(dx, tap_index, w_rows, g_filters):
    """Scatter a convolution's input gradient into ``dx``.

    For every tap t and position p: ``dx[tap_index[t][p]] += sum_f w_rows[f][t] * g_filters[f][p]``.
    Filter by filter, over the positions where that filter's gradient is
    nonzero (after max pooling, a few per window), one long loop per tap;
    each term is added on its own rather than summed over the filters first.
    """
    for f in range(len(g_filters)):
        pos, vals = _nonzeros(g_filters[f])
        count = len(pos)
        if count == 0:
            continue
        w_row = w_rows[f]
        for t in range(len(tap_index)):
            idx, w = tap_index[t], w_row[t]
            for k in range(count):
                dx[idx[pos[k]]] += w * vals[k]


# ------------------------------------------------------- data movement
def rows_of(data, rows, cols):
    """Split a flat row-major list into ``rows`` lists of ``cols`` items."""
    if rows == 1:
        return [data]
    return [data[i : i + cols] for i in range(0, rows * cols, cols)]


def transpose(row_list):
    """Transpose a row list: ``(R, C)`` rows -> ``(C, R)`` lists (as many as the shortest row).

    Row by row, so the inner loop is a long one over a row's values.
    """
    r = len(row_list)
    if r == 0:
        return []
    c = min([len(row) for row in row_list])
    first = row_list[0]
    out = [[first[j]] * r for j in range(c)]  # typed by the values: a float list stays unboxed
    for i in range(1, r):
        row = row_list[i]
        for j in range(c):
            out[j][i] = row[j]
    return out


def gather(seq, indices):
    """``[seq[i] for i in indices]`` (a list)."""
    return [seq[i] for i in indices]


def getter(indices):
    """A callable ``f(seq) -> [seq[i] for i in indices]``."""
    indices = list(indices)
    return lambda seq: [seq[i] for i in indices]


def nonzero_near(data, offsets, positions):
    """None: the loops here test the patches themselves (see the CPython kernel)."""
    return None


def _near_flags(data, offsets, positions):
    """For each p in positions: 1 if any ``data[p + o]`` (o in offsets, all >= 0) is nonzero, else 0.

    :func:`nonzero_near` for :func:`conv_relu_pool_bytes` (its 8-bit pixels): which
    patches of a convolution hold ink, from the ink alone: each nonzero
    value marks the patch starts that read it (``i - o``), then the starts
    are read at ``positions``. An MNIST batch has ~5k inked pixels, so this
    is ~45k marks instead of testing 9 taps at each of ~22k patches.
    Returns a bytearray.
    """
    ink = [i for i in range(len(data)) if data[i] != 0.0]
    near = bytearray(len(data))  # flags: a bytearray is one raw block the GC never scans
    for o in offsets:  # offset-major: long loops over the ink
        for i in ink:
            j = i - o
            if j >= 0:
                near[j] = 1
    out = bytearray(len(positions))
    for k in range(len(positions)):
        out[k] = near[positions[k]]
    return out


def pixel_bytes(data):
    """``bytes(v * 255 for v in data)`` if every value is exactly ``k / 255`` (k in 0..255), else None.

    The same contract as the CPython kernel, for a different reason: the
    bytes are not for integer arithmetic here but to take the path of
    :func:`conv_relu_pool_bytes`, which reads the image directly instead of
    an im2col copy of it. One pass of float arithmetic instead of the
    CPython kernel's dict lookups (the nearest byte, then checked exactly).
    """
    out = bytearray(len(data))
    for i in range(len(data)):
        v = data[i]
        if not 0.0 <= v <= 1.0:  # also NaN
            return None
        k = int(v * 255.0 + 0.5)
        if k / 255 != v:
            return None
        out[i] = k
    return bytes(out)


def add_into(target, indices, values):
    """Scatter-add: ``target[i] += v`` for each pair (repeated indices add up)."""
    if type(indices) is not list:
        indices = list(indices)
    if type(values) is not list:
        values = list(values)
    for k in range(min(len(indices), len(values))):
        target[indices[k]] += values[k]


def zeroed(values):
    """``values`` itself with every entry set to 0.0 (no new list: see :func:`add_lists`)."""
    if type(values) is not list:
        return [0.0] * len(values)
    for i in range(len(values)):
        values[i] = 0.0
    return values


def add_lists(a, b):
    """Elementwise sum of two equal-length sequences: ``a`` itself, updated in place.

    Allowed by the kernel's contract (see :func:`purenet.kernels.add_lists`)
    and worth it here: a new list of a weight matrix's size per call is
    garbage the PyPy GC pays for.
    """
    if type(a) is not list:
        a = list(a)
    for i in range(len(a)):
        a[i] += b[i]
    return a


# ------------------------------------------------------------- pooling
def window_max(values):
    """Each window's largest value: the elementwise max of K equal-length sequences."""
    best = list(values[0])
    for t in range(1, len(values)):
        col = values[t]
        for w in range(len(best)):
            v = col[w]
            if v > best[w]:
                best[w] = v
    return best


def window_winners(values, maxes, windows):
    """For each window w, ``windows[w][t]`` for the first tap t whose value is ``maxes[w]``.

    values: K sequences (one per window tap) of W values; windows: W
    sequences of K input indices. Returns the winners' input indices (a list).
    """
    taps = len(values)
    out = [0] * len(maxes)
    for w in range(len(maxes)):
        m = maxes[w]
        for t in range(taps):
            if values[t][w] == m:
                out[w] = windows[w][t]
                break
    return out


def window_mean(values, windows_taps, divisor):
    """``out[w] = sum_t values[windows_taps[t][w]] / divisor``: the mean of each window (a list)."""
    out = [0.0] * len(windows_taps[0])
    for t in range(len(windows_taps)):
        idx = windows_taps[t]
        for w in range(len(out)):
            out[w] += values[idx[w]]
    for w in range(len(out)):
        out[w] = out[w] / divisor
    return out


# ------------------------------------------------ per-channel statistics
# The layout is (N, C*L), channel-first: sample s, channel c is the run
# starting at s*C*L + c*L. Loops go in storage order.
def channel_sums(data, n, channels, length):
    """Per channel c, the sum of its N*L values (a list of C floats)."""
    out = [0.0] * channels
    size = channels * length
    for s in range(n):
        for c in range(channels):
            total = out[c]
            start = s * size + c * length
            for i in range(start, start + length):
                total += data[i]
            out[c] = total
    return out


def channel_dots(a, b, n, channels, length):
    """Per channel c, ``sum a[i] * b[i]`` over its N*L positions (a list of C floats)."""
    out = [0.0] * channels
    size = channels * length
    for s in range(n):
        for c in range(channels):
            total = out[c]
            start = s * size + c * length
            for i in range(start, start + length):
                total += a[i] * b[i]
            out[c] = total
    return out


def channel_affine(data, n, channels, length, scale, shift):
    """``out[s, c, l] = data[s, c, l] * scale[c] + shift[c]`` (a new list)."""
    out = [0.0] * len(data)
    size = channels * length
    for s in range(n):
        for c in range(channels):
            k = scale[c]
            b = shift[c]
            start = s * size + c * length
            for i in range(start, start + length):
                out[i] = data[i] * k + b
    return out


def channel_combine(a, b, n, channels, length, scale_a, scale_b, shift):
    """``out[s, c, l] = a[s, c, l] * scale_a[c] + b[s, c, l] * scale_b[c] + shift[c]`` (a new list)."""
    out = [0.0] * len(a)
    size = channels * length
    for s in range(n):
        for c in range(channels):
            ka = scale_a[c]
            kb = scale_b[c]
            t = shift[c]
            start = s * size + c * length
            for i in range(start, start + length):
                out[i] = a[i] * ka + b[i] * kb + t
    return out


def _pool_maps(maps, at, m):
    """Max pooling of the ink windows of each map: per map, the windows' maxima and winners.

    maps: F lists (or an iterator of them) of the conv outputs at ``at``,
    the positions the M ink windows read, tap after tap (``at[t*M + j]`` is
    tap t of window j; see :func:`_ink_windows_at`).
    Ties go to the first tap in window order (``>`` never replaces an equal).
    """
    maxes, winners = [], []
    for z in maps:
        best, win = z[:m], at[:m]
        for off in range(m, len(at), m or 1):  # (no ink windows: at is empty)
            for j in range(m):
                v = z[off + j]
                if v > best[j]:
                    best[j] = v
                    win[j] = at[off + j]
        maxes.append(best)
        winners.append(win)
    return maxes, winners


def _pool_whole_maps(maps, pool_taps):
    """Max pooling of each map: per map, the window maxima and the winners' positions.

    pool_taps: per window tap, the position in the map each window reads.
    Ties go to the first tap in window order (``>`` never replaces an equal).
    """
    first = pool_taps[0]
    maxes, winners = [], []
    for z in maps:
        win = list(first)
        best = [z[i] for i in first]
        for t in range(1, len(pool_taps)):
            idx = pool_taps[t]
            for w in range(len(best)):
                i = idx[w]
                v = z[i]
                if v > best[w]:
                    best[w] = v
                    win[w] = i
        maxes.append(best)
        winners.append(win)
    return maxes, winners


# ------------------------------------------- fused conv -> ReLU -> pool
def conv_relu_pool(taps, w_rows, biases, pool_taps, n, live=None):
    """Conv2D -> ReLU -> MaxPool2D in one pass: ``relu(max_window(conv) + b)``.

    Same arguments and output as the CPython kernel (see
    :mod:`purenet.layers.fused`; ``live`` is ignored, and this backend's
    :func:`nonzero_near` gives None: for a later layer's dense input,
    skipping blank patches measured slower; :func:`conv_relu_pool_bytes`
    does it, where it pays). The convolution is computed tap-major
    (:func:`_tap_products`), each map is pooled keeping its winners'
    positions, and the bias and ReLU are applied while writing the
    ``(N, F*Q)`` output. The cache keeps the taps and each window's winner
    position, or -1 where the ReLU stopped the window (no gradient).
    """
    maps = _tap_products(w_rows, taps)  # F x (N*P), without the bias
    maxes, winners = _pool_whole_maps(maps, pool_taps)
    f_count = len(maxes)
    q = len(maxes[0]) // n  # pooled positions per filter map
    fq = f_count * q
    data = [0.0] * (n * fq)
    for f in range(f_count):
        best, win, b = maxes[f], winners[f], biases[f]
        src = 0
        for dst in range(f * q, n * fq, fq):  # sample by sample
            for j in range(q):
                v = best[src + j] + b
                if v > 0.0:
                    data[dst + j] = v
                else:
                    win[src + j] = -1
            src += q
    return data, (n, taps, None, None, winners)


def _ink_windows_at(pool_taps, live):
    """The pool windows worth computing, and the positions they read.

    live: per position in a filter's map, whether its patch has ink (from
    :func:`_near_flags`). Returns ``(ink, at)``: the windows (indices into
    ``pool_taps[t]``, in order) with a live patch, and ``at[t*M + j]``, the
    position tap t of window ``ink[j]`` reads. A window of blank patches
    pools exact zeros (a blank patch gives ``0.0 + w * 0.0 = 0.0`` whatever
    the sign of w), so its output is ``relu(b)``: about half of an MNIST
    batch's windows. Testing each patch inside the products measured slower
    than multiplying them all; the flags come from the ink pixels alone.
    """
    windows = len(pool_taps[0])
    flags = bytearray(windows)
    for idx in pool_taps:
        for w in range(windows):
            if live[idx[w]]:
                flags[w] = 1
    ink = [w for w in range(windows) if flags[w]]
    m = len(ink)
    at = [0] * (len(pool_taps) * m)
    for t in range(len(pool_taps)):
        idx, base = pool_taps[t], t * m
        for j in range(m):
            at[base + j] = idx[ink[j]]
    return ink, at


def _pool_relu(maps, at, ink, biases, pool_taps, n):
    """Pool the ink windows' conv outputs ``maps`` (F lists over ``at``, or an iterator), add the bias, ReLU.

    Returns the flat ``(N, F*Q)`` output and, per filter, every window's
    winner position, or -1 where the ReLU stopped it. The other windows'
    output is ``relu(0.0 + b)``, their winner the first tap.
    """
    maxes, winners = _pool_maps(maps, at, len(ink))
    windows = len(pool_taps[0])
    q = windows // n  # pooled positions per filter map
    fq = len(maxes) * q
    out_at = [(w // q) * fq + w % q for w in ink]  # where ink window w's output goes, for filter 0
    data = [0.0] * (n * fq)
    all_winners = []
    for f in range(len(maxes)):
        best, win, b = maxes[f], winners[f], biases[f]
        if b > 0.0:  # the background windows pass too
            every = list(pool_taps[0])
            for dst in range(f * q, n * fq, fq):
                for j in range(q):
                    data[dst + j] = b
        else:
            every = [-1] * windows
        shift = f * q
        for k in range(len(ink)):
            v = best[k] + b
            if v > 0.0:
                data[out_at[k] + shift] = v
                every[ink[k]] = win[k]
            else:
                data[out_at[k] + shift] = 0.0
                every[ink[k]] = -1
        all_winners.append(every)
    return data, all_winners


def byte_lanes(pixels, tap_index, pool_taps):
    """None: nothing to prepare (see :func:`conv_relu_pool_bytes`)."""
    return None


def conv_relu_pool_bytes(pixels, source, tap_index, w_rows, biases, pool_taps, n, lanes=None):
    """:func:`conv_relu_pool` reading ``source`` in place, for an unpadded convolution.

    tap_index: per tap, the index in ``source`` it reads at each position;
    without padding, tap t reads at a fixed offset from tap 0 (which
    :mod:`purenet.layers.fused` guarantees on this path). ``pixels`` (the
    bytes of :func:`pixel_bytes`) only tell which patches have ink; the
    products are the float ones of :func:`conv_relu_pool`, exactly, without
    its im2col copy (:func:`_source_products`). ``lanes`` is unused.
    """
    tap0 = tap_index[0]
    offsets = [idx[0] - tap0[0] for idx in tap_index] if tap0 else [0] * len(tap_index)
    ink, at = _ink_windows_at(pool_taps, _near_flags(pixels, offsets, tap0))
    maps = _source_products(w_rows, source, tap0, offsets, at)
    data, winners = _pool_relu(maps, at, ink, biases, pool_taps, n)
    return data, (n, source, tap0, offsets, winners)


def conv_relu_pool_grad(cache, grad, windows, overlapping, input_grad, passed=None):
    """Backward of :func:`conv_relu_pool`: ``(dw, db, g_maps)`` as the CPython kernel.

    Only windows whose output passed the ReLU carry a gradient, to their
    winner alone. ``windows`` is unused: forward kept the winners. ``passed``
    must be None: it lists windows of :func:`conv_relu_pool_ink`, which
    returns None here.
    """
    if passed is not None:
        raise ValueError("conv_relu_pool_grad: expected passed=None on this backend; Received: a list.")
    n, taps, tap0, offsets, winners = cache  # taps is the input itself with tap0 (see conv_relu_pool_bytes)
    f_count = len(winners)
    q = len(winners[0]) // n
    p_total = len(taps[0]) if tap0 is None else len(tap0)
    fq = f_count * q
    dw, db, g_maps = [], [], []
    for f in range(f_count):
        win = winners[f]
        count = len(win) - win.count(-1)
        gm, pos = [0.0] * count, [0] * count  # the live windows' gradients and winner positions, in window order
        k = src = 0
        for dst in range(f * q, n * fq, fq):
            for j in range(q):
                i = win[src + j]
                if i >= 0:
                    gm[k] = grad[dst + j]
                    pos[k] = i
                    k += 1
            src += q
        if tap0 is None:
            for t in range(len(taps)):
                tap = taps[t]
                total = 0.0
                for k in range(count):
                    total += gm[k] * tap[pos[k]]
                dw.append(total)
        else:
            source, bases = taps, [0] * count
            for k in range(count):
                bases[k] = tap0[pos[k]]
            for t in range(len(offsets)):
                o = offsets[t]
                total = 0.0
                for k in range(count):
                    total += gm[k] * source[bases[k] + o]
                dw.append(total)
        total = 0.0
        for k in range(count):
            total += gm[k]
        db.append(total)
        if input_grad:
            gz = [0.0] * p_total
            if overlapping:
                for k in range(count):
                    gz[pos[k]] += gm[k]
            else:
                for k in range(count):
                    gz[pos[k]] = gm[k]
            g_maps.append(gz)
    return dw, db, (g_maps if input_grad else None)


def conv_relu_pool_ink(cache):
    """None: this backend does not tell blank windows apart (it multiplies
    every patch; its loops gain little from skipping them)."""
    return None


# ----------------------------------------------------------- optimizers

def sgd_step(values, grads, lr):
    """The plain gradient step, in place: ``values[i] -= lr * grads[i]``."""
    for i in range(len(values)):
        values[i] = values[i] - lr * grads[i]


def momentum_step(buf, grads, mu):
    """A momentum buffer's update ``mu * buf + grads``: ``buf`` itself, updated in place."""
    for i in range(len(buf)):
        buf[i] = mu * buf[i] + grads[i]
    return buf


def adam_step(values, m, v, grads, b1, b2, step, inv_c2, eps):
    """One Adam update of ``values`` in place; returns ``(m, v)``, updated in place.

    Same formulas, term for term, as the CPython kernel: one loop over the
    weights instead of three comprehensions and three new lists.
    """
    c1, c2 = 1.0 - b1, 1.0 - b2
    for i in range(len(values)):
        d = grads[i]
        a = b1 * m[i] + c1 * d
        b = b2 * v[i] + c2 * d * d
        m[i] = a
        v[i] = b
        values[i] = values[i] - step * a / (math.sqrt(b * inv_c2) + eps)
    return m, v
