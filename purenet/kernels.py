"""The hot loops: dot products, matrix products, transposes, gathers.

Every number-crunching loop in purenet lives here, once, so the rest of the
library reads as math. The kernels work on plain Python lists of floats; a
"row list" is a list of sequences (lists or tuples), one per row.

Which dot product is fastest depends on the interpreter, so one is chosen at
import time (measured in ../shared/PERFORMANCE.md):

- CPython 3.12+: ``math.sumprod``, a C loop with extended-precision
  accumulation (about 130 M multiply-adds/s on a long inner dimension);
- older CPython: ``sum(map(operator.mul, a, b))`` (about 50 M/s);
- PyPy: a plain index loop, which its JIT compiles to machine code.

All products are arranged as ``A @ B.T`` (``matmul_nt``) so that each output
element is one dot product of two rows: the inner dimension is then the long
one and the data is read in storage order.

Not here: shapes, validation, autograd. Callers check their inputs.
"""

import math
import operator
import platform
from itertools import compress, repeat

__all__ = [
    "DOT_KERNEL",
    "dot",
    "matmul_nt",
    "matmul_sparse_rows",
    "matmul_nt_sparse_a",
    "matmul_nt_skip_zero",
    "transpose",
    "rows_of",
    "gather",
    "getter",
    "add_into",
]

_mul = operator.mul

if platform.python_implementation() == "PyPy":  # pragma: no cover - PyPy only

    def dot(a, b):
        """Dot product of two equal-length sequences (JIT-friendly loop)."""
        total = 0.0
        for i in range(len(a)):
            total += a[i] * b[i]
        return total

    DOT_KERNEL = "loop"
elif hasattr(math, "sumprod"):
    dot = math.sumprod
    DOT_KERNEL = "math.sumprod"
else:  # CPython 3.9-3.11

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
        nz = list(compress(range(len(a)), a))
        if len(nz) * 2 > len(a) or len(nz) < 2:
            extend(map(dot, repeat(a, n), b_rows))
            continue
        pick = getter(nz)
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


def add_into(target, indices, values):
    """Scatter-add: ``target[i] += v`` for each pair (repeated indices add up)."""
    for i, v in zip(indices, values):
        target[i] += v
