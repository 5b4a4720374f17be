"""Every kernel of both backends against a plain reference.

``purenet.kernels`` is the CPython backend on CPython; ``purenet.kernels_pypy``
(the loops PyPy runs) is plain Python, so it is imported and checked on every
interpreter. On PyPy the two are the same functions, checked once.

Inputs are random, sparse like the data the kernels see (blank image
background, gradients zeroed by ReLU and pooling), plus edge cases: empty
index lists, one index, all-zero rows, dimensions of size 1. Sums are compared
with a tolerance of 1e-12 relative to the sum of the terms' magnitudes (the
backends may add in a different order); everything else must be equal.
"""

import math
import platform
import random

import pytest

import purenet as pn
from purenet import kernels, kernels_pypy
from purenet.layers import MaxPool2D

BACKENDS = {"pypy": kernels_pypy}
if kernels.BACKEND == "cpython":
    BACKENDS["cpython"] = kernels


@pytest.fixture(params=sorted(BACKENDS))
def k(request):
    return BACKENDS[request.param]


# ------------------------------------------------------------ helpers
def sparse_values(rng, count, zero_fraction=0.6):
    return [0.0 if rng.random() < zero_fraction else rng.uniform(-2.0, 2.0) for _ in range(count)]


def sparse_rows(rng, rows, cols, zero_fraction=0.6):
    return [sparse_values(rng, cols, zero_fraction) for _ in range(rows)]


def close(got, want, scale):
    """|got - want| within 1e-12 of the sum of the terms' magnitudes (``scale``)."""
    return abs(got - want) <= 1e-12 * scale + 1e-300


def assert_sums(got, terms_list):
    """``got[i]`` equals ``sum(terms_list[i])`` up to summation order."""
    got = list(got)
    assert len(got) == len(terms_list)
    for i, (g, terms) in enumerate(zip(got, terms_list)):
        # (an empty sum may be the int 0: math.sumprod([], []) is 0)
        assert type(g) is float or (g == 0 and not terms), f"entry {i} is {type(g).__name__}"
        want = math.fsum(terms)
        assert close(g, want, math.fsum(map(abs, terms))), f"entry {i}: {g!r} != {want!r}"


def ref_nt_terms(a_rows, b_rows):
    return [[x * y for x, y in zip(a, b)] for a in a_rows for b in b_rows]


SHAPES = [(1, 1, 1), (1, 5, 1), (3, 1, 4), (2, 7, 3), (5, 40, 6), (4, 784, 3), (32, 10, 12)]


# ------------------------------------------------------------ backends
def test_backend_is_chosen_by_the_interpreter():
    expected = "pypy" if platform.python_implementation() == "PyPy" else "cpython"
    assert kernels.BACKEND == expected
    if expected == "pypy":
        for name in kernels_pypy.__all__:
            assert getattr(kernels, name) is getattr(kernels_pypy, name), name
    else:
        assert kernels.dot is not kernels_pypy.dot


def test_both_backends_offer_the_same_kernels():
    assert set(kernels.__all__) - {"BACKEND"} == set(kernels_pypy.__all__)
    for name in kernels_pypy.__all__:
        assert hasattr(kernels, name) and hasattr(kernels_pypy, name), name


# ------------------------------------------------------------ products
@pytest.mark.parametrize("length", [0, 1, 2, 9, 784])
def test_dot(k, length):
    rng = random.Random(length)
    a, b = sparse_values(rng, length), sparse_values(rng, length, 0.2)
    terms = [x * y for x, y in zip(a, b)]
    want, scale = math.fsum(terms), math.fsum(map(abs, terms))
    assert close(k.dot(a, b), want, scale)
    assert close(k.dot(tuple(a), tuple(b)), want, scale)


@pytest.mark.parametrize("m,kdim,n", SHAPES)
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.85, 1.0])
def test_matmul_nt_family(k, m, kdim, n, zeros):
    rng = random.Random(m * 1000 + kdim * 10 + n + int(zeros * 100))
    a_rows = sparse_rows(rng, m, kdim, zeros)
    b_rows = sparse_rows(rng, n, kdim, zeros)
    if m > 1:
        a_rows[0] = [0.0] * kdim  # an all-zero row
    if n > 2:
        b_rows[1] = [0.0] * kdim
    terms = ref_nt_terms(a_rows, b_rows)
    for kernel in (k.matmul_nt, k.matmul_nt_sparse_a, k.matmul_nt_skip_zero):
        assert_sums(kernel(a_rows, b_rows), terms)
        # rows may be tuples too (transposes give tuples on CPython)
        assert_sums(kernel([tuple(r) for r in a_rows], [tuple(r) for r in b_rows]), terms)


def test_matmul_nt_empty(k):
    for kernel in (k.matmul_nt, k.matmul_nt_sparse_a, k.matmul_nt_skip_zero):
        assert list(kernel([], [[1.0, 2.0]])) == []
        assert list(kernel([[1.0, 2.0]], [])) == []


def test_matmul_nt_skip_zero_all_zero_b(k):
    a_rows = [[1.0, 2.0], [3.0, -4.0]]
    b_rows = [[0.0, 0.0]] * 5
    assert list(k.matmul_nt_skip_zero(a_rows, b_rows)) == [0.0] * 10


@pytest.mark.parametrize("n,units,depth", [(1, 1, 1), (1, 3, 5), (4, 1, 7), (5, 6, 1), (9, 10, 40), (32, 12, 100)])
@pytest.mark.parametrize("x_zeros,g_zeros", [(0.0, 0.0), (0.5, 0.0), (0.8, 0.5), (1.0, 0.3), (0.3, 1.0)])
def test_dense_grad(k, n, units, depth, x_zeros, g_zeros):
    rng = random.Random(n * 7 + units * 11 + depth + int(10 * x_zeros) + int(100 * g_zeros))
    g_rows = sparse_rows(rng, n, units, g_zeros)
    x_rows = sparse_rows(rng, n, depth, x_zeros)
    w_rows = sparse_rows(rng, units, depth, 0.1)
    if n > 2:
        x_rows[1] = [0.0] * depth  # a blank sample
    dw_terms = [[g_rows[s][u] * x_rows[s][d] for s in range(n)] for u in range(units) for d in range(depth)]
    db_terms = [[g_rows[s][u] for s in range(n)] for u in range(units)]
    dx_terms = [[g_rows[s][u] * w_rows[u][d] for u in range(units)] for s in range(n) for d in range(depth)]
    dw, db, dx = k.dense_grad(g_rows, x_rows, w_rows, True)
    assert_sums(dw, dw_terms)
    assert_sums([float(v) for v in db], db_terms)
    assert_sums(dx, dx_terms)
    dw2, db2, dx2 = k.dense_grad(g_rows, x_rows, None, False)
    assert list(dw2) == list(dw) and db2 is None and dx2 is None
    # gated: dX only where X is nonzero (X came out of a ReLU), exactly 0.0 elsewhere
    dw3, _, dx3 = k.dense_grad(g_rows, x_rows, w_rows, True, gated=True)
    assert list(dw3) == list(dw)
    kept = [x_rows[s][d] != 0.0 for s in range(n) for d in range(depth)]
    assert_sums(dx3, [terms if keep else [] for terms, keep in zip(dx_terms, kept)])
    assert all(v == 0.0 for v, keep in zip(dx3, kept) if not keep)


@pytest.mark.parametrize("m,kdim,n", SHAPES)
@pytest.mark.parametrize("kept", [0.0, 0.4, 1.0])
def test_matmul_nt_where(k, m, kdim, n, kept):
    rng = random.Random(m * 31 + kdim * 7 + n + int(kept * 10))
    a_rows = sparse_rows(rng, m, kdim, 0.3)
    b_rows = sparse_rows(rng, n, kdim, 0.3)
    mask_rows = [[rng.random() if rng.random() < kept else 0.0 for _ in range(n)] for _ in range(m)]
    terms = ref_nt_terms(a_rows, b_rows)
    flat_mask = [v for row in mask_rows for v in row]
    got = list(k.matmul_nt_where(a_rows, [tuple(r) for r in b_rows], mask_rows))
    assert_sums(got, [t if keep else [] for t, keep in zip(terms, flat_mask)])


@pytest.mark.parametrize("f,kdim,m", [(1, 1, 1), (3, 9, 20), (8, 9, 300), (2, 1, 5), (4, 25, 1)])
def test_matmul_sparse_rows_and_taps(k, f, kdim, m):
    rng = random.Random(f * 100 + kdim + m)
    w_rows = [[rng.uniform(-1, 1) for _ in range(kdim)] for _ in range(f)]
    biases = [rng.uniform(-1, 1) for _ in range(f)]
    x_rows = [tuple(r) for r in sparse_rows(rng, m, kdim, 0.7)]
    x_rows[0] = (0.0,) * kdim  # an all-zero patch gives exactly the bias
    taps = [tuple(x[t] for x in x_rows) for t in range(kdim)]
    for got in (k.matmul_sparse_rows(w_rows, x_rows, biases), k.matmul_taps(w_rows, taps, biases)):
        assert len(got) == f
        for fi in range(f):
            row = list(got[fi])
            assert row[0] == biases[fi]
            assert_sums(row, [[biases[fi]] + [w * v for w, v in zip(w_rows[fi], x)] for x in x_rows])


def test_matmul_taps_accepts_lists(k):
    taps = [[0.0, 1.0, 2.0], [3.0, 0.0, -1.0]]
    got = k.matmul_taps([[1.0, 10.0]], taps, [0.5])
    assert [list(r) for r in got] == [[30.5, 1.5, -7.5]]


@pytest.mark.parametrize("f,kdim,p,size", [(1, 1, 1, 1), (3, 9, 40, 30), (8, 9, 200, 150), (2, 4, 10, 3)])
def test_add_taps_into(k, f, kdim, p, size):
    rng = random.Random(f + kdim + p + size)
    w_rows = [[rng.uniform(-1, 1) for _ in range(kdim)] for _ in range(f)]
    g_filters = sparse_rows(rng, f, p, 0.75)
    tap_index = [[rng.randrange(size) for _ in range(p)] for _ in range(kdim)]  # repeats add up
    start = [rng.uniform(-1, 1) for _ in range(size)]
    dx = list(start)
    k.add_taps_into(dx, tap_index, w_rows, g_filters)
    terms = [[v] for v in start]
    for t in range(kdim):
        for q in range(p):
            terms[tap_index[t][q]].extend(w_rows[fi][t] * g_filters[fi][q] for fi in range(f))
    assert_sums(dx, terms)


def test_add_taps_into_all_zero_gradient(k):
    dx = [1.0, 2.0, 3.0]
    k.add_taps_into(dx, [[0, 1], [2, 2]], [[5.0, 6.0]], [[0.0, 0.0]])
    assert dx == [1.0, 2.0, 3.0]


# ------------------------------------------------------- data movement
@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 5), (4, 1), (3, 7)])
def test_rows_of(k, rows, cols):
    data = [float(i) for i in range(rows * cols)]
    got = k.rows_of(data, rows, cols)
    assert [list(r) for r in got] == [data[i * cols : (i + 1) * cols] for i in range(rows)]


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 6), (5, 1), (4, 3), (32, 784)])
def test_transpose(k, rows, cols):
    rng = random.Random(rows * cols)
    m = sparse_rows(rng, rows, cols)
    got = k.transpose(m)
    assert [list(c) for c in got] == [[m[i][j] for i in range(rows)] for j in range(cols)]
    assert [list(c) for c in k.transpose([tuple(r) for r in m])] == [list(c) for c in got]
    ints = [[i * cols + j for j in range(cols)] for i in range(rows)]
    assert [list(c) for c in k.transpose(ints)] == [[i * cols + j for i in range(rows)] for j in range(cols)]


def test_transpose_empty(k):
    assert list(k.transpose([])) == []
    assert list(k.transpose([[], []])) == []


@pytest.mark.parametrize("indices", [[], [3], [0, 0], [5, 1, 4, 1], list(range(9))])
def test_gather_and_getter(k, indices):
    seq = [float(i) * 1.5 for i in range(9)]
    want = [seq[i] for i in indices]
    assert list(k.gather(seq, indices)) == want
    assert list(k.gather(tuple(seq), indices)) == want
    pick = k.getter(indices)
    assert list(pick(seq)) == want
    assert list(pick(seq[::-1])) == [seq[::-1][i] for i in indices]


@pytest.mark.parametrize("indices", [[], [2], [0, 0, 0], [4, 1, 4, 3, 1]])
def test_add_into(k, indices):
    values = [float(i) + 0.25 for i in range(len(indices))]
    want = [10.0] * 5
    for i, v in zip(indices, values):
        want[i] += v
    for vals in (values, iter(values), map(float, values)):
        target = [10.0] * 5
        k.add_into(target, indices, vals)
        assert target == want


@pytest.mark.parametrize("length", [0, 1, 7, 1000])
def test_add_lists_and_zeroed(k, length):
    rng = random.Random(length)
    a, b = sparse_values(rng, length), sparse_values(rng, length)
    want = [x + y for x, y in zip(a, b)]
    b_before = list(b)
    got = k.add_lists(a, b)  # may reuse a (PyPy does), never b
    assert isinstance(got, list) and got == want and b == b_before
    assert k.add_lists(tuple(want), b) == [x + y for x, y in zip(want, b)]
    z = k.zeroed(got)
    assert isinstance(z, list) and z == [0.0] * length and all(type(v) is float for v in z)
    assert k.zeroed(tuple(b)) == [0.0] * length


# ----------------------------------------------------------- optimizers
@pytest.mark.parametrize("length", [0, 1, 5, 300])
def test_optimizer_steps(k, length):
    """Same formulas as the reference, term for term: equal to the last bit."""
    rng = random.Random(length)
    w0, g = sparse_values(rng, length, 0.0), sparse_values(rng, length)
    w = list(w0)
    assert k.sgd_step(w, g, 0.1) is None
    assert w == [a - 0.1 * d for a, d in zip(w0, g)]

    buf = sparse_values(rng, length, 0.0)
    want = [0.9 * b + d for b, d in zip(buf, g)]
    assert list(k.momentum_step(list(buf), g, 0.9)) == want

    m, v = sparse_values(rng, length, 0.0), [abs(x) for x in sparse_values(rng, length, 0.0)]
    b1, b2, step, inv_c2, eps = 0.9, 0.999, 0.003, 1.7, 1e-8
    want_m = [b1 * a + (1.0 - b1) * d for a, d in zip(m, g)]
    want_v = [b2 * a + (1.0 - b2) * d * d for a, d in zip(v, g)]
    want_w = [a - step * c / (math.sqrt(b * inv_c2) + eps) for a, c, b in zip(w, want_m, want_v)]
    got_m, got_v = k.adam_step(w, list(m), list(v), g, b1, b2, step, inv_c2, eps)
    assert (list(got_m), list(got_v), w) == (want_m, want_v, want_w)


# ------------------------------------------------------------- pooling
@pytest.mark.parametrize("taps,count", [(1, 1), (1, 6), (4, 1), (4, 50), (9, 30)])
def test_window_max_and_winners(k, taps, count):
    rng = random.Random(taps * 100 + count)
    # few distinct values, so windows have ties (the first tap in order wins)
    values = [tuple(float(rng.randrange(-2, 3)) for _ in range(count)) for _ in range(taps)]
    windows = [[rng.randrange(1000) for _ in range(taps)] for _ in range(count)]
    maxes = k.window_max(values)
    assert list(maxes) == [max(v[w] for v in values) for w in range(count)]
    firsts = [next(t for t in range(taps) if values[t][w] == maxes[w]) for w in range(count)]
    assert list(k.window_winners(values, maxes, windows)) == [windows[w][firsts[w]] for w in range(count)]


@pytest.mark.parametrize("taps,count", [(1, 1), (1, 6), (4, 1), (4, 50), (9, 30)])
def test_window_mean(k, taps, count):
    rng = random.Random(taps * 10 + count)
    values = sparse_values(rng, 40)
    windows_taps = [[rng.randrange(40) for _ in range(count)] for _ in range(taps)]
    got = k.window_mean(values, windows_taps, 7)
    assert isinstance(got, list) and len(got) == count
    for w in range(count):
        terms = [values[idx[w]] for idx in windows_taps]
        assert close(got[w], math.fsum(terms) / 7, math.fsum(map(abs, terms))), w


# ------------------------------------------------- per-channel statistics
@pytest.mark.parametrize("n,channels,length", [(1, 1, 1), (3, 2, 1), (1, 3, 5), (4, 3, 6), (2, 1, 9)])
def test_channel_kernels(k, n, channels, length):
    rng = random.Random(n * 100 + channels * 10 + length)
    size = n * channels * length
    a, b = sparse_values(rng, size, 0.3), sparse_values(rng, size, 0.3)
    scale_a, scale_b, shift = ([rng.uniform(-2.0, 2.0) for _ in range(channels)] for _ in range(3))

    def channel_of(i):  # the channel of flat position i in the (N, C*L) layout
        return (i // length) % channels

    members = [[i for i in range(size) if channel_of(i) == c] for c in range(channels)]
    assert_sums(k.channel_sums(a, n, channels, length), [[a[i] for i in idx] for idx in members])
    assert_sums(k.channel_dots(a, b, n, channels, length), [[a[i] * b[i] for i in idx] for idx in members])
    affine = k.channel_affine(a, n, channels, length, scale_a, shift)
    assert affine == [a[i] * scale_a[channel_of(i)] + shift[channel_of(i)] for i in range(size)]
    combined = k.channel_combine(a, b, n, channels, length, scale_a, scale_b, shift)
    c = channel_of
    assert combined == [a[i] * scale_a[c(i)] + b[i] * scale_b[c(i)] + shift[c(i)] for i in range(size)]
    assert isinstance(affine, list) and isinstance(combined, list)


# ----------------------------------------------- fused conv -> ReLU -> pool
def ref_conv_relu_pool(taps, w_rows, biases, pool_taps, n):
    f_count, np_ = len(w_rows), len(taps[0])
    maps = [[math.fsum(w_rows[f][t] * taps[t][p] for t in range(len(taps))) for p in range(np_)] for f in range(f_count)]
    nq = len(pool_taps[0])
    q = nq // n
    out = [0.0] * (n * f_count * q)
    winners = []  # per filter, per window: (winner position, output index)
    for f in range(f_count):
        wf = []
        for w in range(nq):
            cands = [pool_taps[t][w] for t in range(len(pool_taps))]
            best = max(maps[f][i] for i in cands)
            pos = next(i for i in cands if maps[f][i] == best)
            s, j = divmod(w, q)
            o = s * f_count * q + f * q + j
            out[o] = max(best + biases[f], 0.0)
            wf.append((pos, o))
        winners.append(wf)
    return out, maps, winners


def conv_case(seed, n, channels, filters, size, pool, stride, zeros=0.75):
    """Random im2col taps over a (channels, size, size) input with 3x3 kernels, and
    pool tables from a real MaxPool2D over the (1, size-2, size-2) conv maps."""
    rng = random.Random(seed)
    kdim = channels * 9
    side = size - 2
    np_ = n * side * side
    taps = [tuple(sparse_values(rng, np_, zeros)) for _ in range(kdim)]
    w_rows = [[rng.uniform(-1, 1) for _ in range(kdim)] for _ in range(filters)]
    biases = [rng.uniform(-0.3, 0.5) for _ in range(filters)]
    mp = MaxPool2D(pool, stride)
    mp.build((1, side, side), random.Random(0))
    pool_taps, windows = mp._batch_taps(n)
    return taps, w_rows, biases, pool_taps, windows


CONV_CASES = [
    # seed, n, channels, filters, size, pool, stride
    (1, 1, 1, 1, 3, 1, None),  # 1x1 map, one window, one tap
    (2, 2, 1, 3, 6, 2, None),
    (3, 3, 2, 4, 7, 2, None),  # odd map: the last row/column is dropped
    (4, 2, 1, 2, 8, 3, 1),  # overlapping windows
    (5, 4, 1, 8, 12, 2, None),
    (6, 3, 1, 4, 10, 2, None, 0.97),  # mostly blank: many windows tie at 0
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv_relu_pool(k, case, input_grad):
    seed, n, channels, filters, size, pool, stride = case[:7]
    taps, w_rows, biases, pool_taps, windows = conv_case(*case)
    out, cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    want, maps, winners = ref_conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    scale = max(1.0, max(abs(v) for v in want))
    assert len(out) == len(want)
    assert all(close(a, b, 4 * scale) for a, b in zip(out, want))
    assert all((a > 0.0) == (b > 0.0) for a, b in zip(out, want))

    rng = random.Random(seed + 99)
    grad = [rng.uniform(-1, 1) for _ in range(len(out))]
    overlapping = stride is not None and stride < pool
    dw, db, g_maps = k.conv_relu_pool_grad(cache, grad, windows, overlapping, input_grad)
    kdim, np_ = len(taps), len(taps[0])
    dw_terms = [[] for _ in range(filters * kdim)]
    db_terms = [[] for _ in range(filters)]
    gz_terms = [[[] for _ in range(np_)] for _ in range(filters)]
    for f in range(filters):
        for pos, o in winners[f]:
            if want[o] > 0.0:
                g = grad[o]
                db_terms[f].append(g)
                gz_terms[f][pos].append(g)
                for t in range(kdim):
                    dw_terms[f * kdim + t].append(g * taps[t][pos])
    assert_sums(dw, dw_terms)
    assert_sums([float(v) for v in db], db_terms)
    if not input_grad:
        assert g_maps is None
        return
    assert len(g_maps) == filters
    for f in range(filters):
        assert_sums(g_maps[f], gz_terms[f])


def test_conv_relu_pool_blank_input_gives_relu_of_bias(k):
    taps, w_rows, _, pool_taps, windows = conv_case(7, 2, 1, 3, 6, 2, None)
    taps = [tuple(0.0 for _ in t) for t in taps]
    biases = [0.25, -0.5, 0.0]
    out, cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, 2)
    q = len(pool_taps[0]) // 2
    assert list(out) == ([0.25] * q + [0.0] * q + [0.0] * q) * 2
    dw, db, g_maps = k.conv_relu_pool_grad(cache, [1.0] * len(out), windows, False, True)
    assert list(dw) == [0.0] * len(dw)
    assert [float(v) for v in db] == [float(q * 2), 0.0, 0.0]
    # all taps tie at 0: every live window's gradient goes to its first tap (top-left)
    first = set(pool_taps[0])
    assert list(g_maps[0]) == [1.0 if i in first else 0.0 for i in range(len(g_maps[0]))]
    assert list(g_maps[1]) == list(g_maps[2]) == [0.0] * len(g_maps[0])


# ------------------------------------------- whole models on each backend
def swap_backend(monkeypatch, module):
    for name in kernels_pypy.__all__:
        monkeypatch.setattr(kernels, name, getattr(module, name))


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Conv2D(3, 3, padding=1), pn.ReLU(),
                 pn.MaxPool2D(2, stride=1), pn.Flatten(), pn.Dense(3), pn.Softmax()],
        lambda: [pn.Flatten(), pn.Dense(16), pn.ReLU(), pn.Dense(3), pn.Softmax()],
    ],
    ids=["cnn", "mlp"],
)
def test_training_steps_agree_across_backends(monkeypatch, layers):
    """The same model trained a few steps with each backend: same losses and weights
    (up to summation order), through fused and unfused layers."""
    rng = random.Random(5)
    x = [[0.0 if rng.random() < 0.6 else rng.random() for _ in range(100)] for _ in range(6)]
    y = [0, 1, 2, 1, 0, 2]
    results = {}
    for name, module in BACKENDS.items():
        with monkeypatch.context() as m:
            swap_backend(m, module)
            model = pn.Sequential(layers(), input_shape=(1, 10, 10), seed=3)
            losses = [model.train_on_batch(x, y, optimizer=opt) for opt in (pn.SGD(0.1), pn.SGD(0.1, momentum=0.9)) * 2]
            losses.append(model.train_on_batch(x, y, optimizer=pn.Adam(0.01)))
            manual = model.forward(x).data  # the unfused path, layer by layer
            results[name] = (losses, [v for p in model.parameters() for v in p.data], manual)
    ref = results["pypy"]
    for name, got in results.items():
        for a_list, b_list in zip(got, ref):
            assert len(a_list) == len(b_list)
            assert all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(a_list, b_list)), name


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_relu_pool_ink(k, case):
    """The windows with ink (some nonzero input in a tap of the window) and, per filter, those
    of them that passed the ReLU, or None on a backend that does not separate them. Their
    gradients alone, handed to conv_relu_pool_grad as ``passed``, give the weight gradient
    of the whole output gradient and its bias gradient without the blank windows."""
    n = case[1]
    taps, w_rows, biases, pool_taps, pool_windows = conv_case(*case)
    out, cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    ink = k.conv_relu_pool_ink(cache)
    if k is kernels_pypy:
        assert ink is None
        return
    flags, samples, windows = ink
    live = [any(t[p] for t in taps) for p in range(len(taps[0]))]
    want_flags = [any(live[idx[w]] for idx in pool_taps) for w in range(len(pool_taps[0]))]
    assert [bool(v) for v in flags] == want_flags
    q = len(pool_taps[0]) // n
    f_count = len(w_rows)
    for f in range(f_count):
        want = [(s, j) for s in range(n) for j in range(q) if want_flags[s * q + j] and out[(s * f_count + f) * q + j] > 0.0]
        assert list(zip(samples[f], windows[f])) == want
    rng = random.Random(case[0])
    grad = [rng.uniform(-1, 1) for _ in range(len(out))]
    ink_grad = [g if want_flags[(i // (f_count * q)) * q + i % q] else 0.0 for i, g in enumerate(grad)]
    passed = [[grad[(s * f_count + f) * q + j] for s, j in zip(samples[f], windows[f])] for f in range(f_count)]
    got = k.conv_relu_pool_grad(cache, None, pool_windows, False, False, passed)
    # the cache is left intact: a fresh one gives the same gradients
    _, fresh = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    want = k.conv_relu_pool_grad(fresh, ink_grad, pool_windows, False, False)
    assert got[0] == want[0] and got[2] is None
    assert all(close(a, b, sum(map(abs, grad))) for a, b in zip(got[1], want[1]))


def test_nonzero_near(k):
    rng = random.Random(11)
    data = [rng.choice([0.0, 0.0, 0.0, -0.5, 1.0, float("nan")]) for _ in range(200)]
    offsets = [0, 1, 2, 10, 11, 12]
    positions = [rng.randrange(0, 200 - 12) for _ in range(60)] + [0, 187]
    got = k.nonzero_near(data, offsets, positions)
    if k is kernels_pypy:  # None here; conv_relu_pool_bytes uses its own flags
        assert got is None
        got = k._near_flags(data, offsets, positions)
    assert list(got) == [int(any(data[p + o] for o in offsets)) for p in positions]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_relu_pool_with_live_patches_given(k, case):
    """The live flags a caller passes (from nonzero_near) give the same output as testing the patches."""
    n = case[1]
    taps, w_rows, biases, pool_taps, windows = conv_case(*case)
    live = tuple(int(any(t[p] for t in taps)) for p in range(len(taps[0])))
    out, cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n, live)
    want, want_cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    assert list(out) == list(want)
    grad = [1.0] * len(out)
    given = k.conv_relu_pool_grad(cache, grad, windows, False, True)
    assert given == k.conv_relu_pool_grad(want_cache, grad, windows, False, True)


# -------------------------------------- 8-bit pixels: the integer conv path
def test_pixel_bytes(k):
    rng = random.Random(12)
    pixels = bytes(rng.choice([0, 0, 0, 1, 37, 128, 254, 255]) for _ in range(300))
    data = [b / 255 for b in pixels]
    got = k.pixel_bytes(data)
    assert got == pixels
    assert k.pixel_bytes([b / 255 for b in range(256)]) == bytes(range(256))
    near = math.nextafter(37 / 255, 1.0)
    for odd in (0.5, 1.5, -1 / 255, float("nan"), float("inf"), near):  # not a byte / 255
        assert k.pixel_bytes(data[:10] + [odd] + data[10:]) is None


def pixel_case(seed, n, channels, filters, size, pool, stride, zeros=0.75):
    """8-bit images (as bytes and as byte / 255 floats), a real Conv2D's tap index
    lists (3x3, no padding) and pool tables over its (1, size-2, size-2) maps."""
    rng = random.Random(seed)
    pixels = bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(n * channels * size * size))
    conv = pn.Conv2D(filters, 3)
    conv.build((channels, size, size), random.Random(seed))
    biases = [rng.uniform(-0.3, 0.5) for _ in range(filters)]
    mp = MaxPool2D(pool, stride)
    mp.build((1, size - 2, size - 2), random.Random(0))
    pool_taps, windows = mp._batch_taps(n)
    return pixels, [b / 255 for b in pixels], conv._batch_taps(n), conv.weight.row_lists(), biases, pool_taps, windows


@pytest.mark.parametrize("case", CONV_CASES + [(8, 3, 1, 4, 10, 2, None, 1.0)])  # + all blank
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv_relu_pool_bytes_matches_the_float_kernel(k, case, input_grad):
    """The integer path gives the float path's outputs and gradients, within 1e-12 of their scale."""
    n = case[1]
    pixels, source, tap_index, w_rows, biases, pool_taps, windows = pixel_case(*case)
    out, cache = k.conv_relu_pool_bytes(pixels, source, tap_index, w_rows, biases, pool_taps, n)
    taps = [tuple(source[i] for i in idx) for idx in tap_index]
    want, want_cache = k.conv_relu_pool(taps, w_rows, biases, pool_taps, n)
    scale = max(1.0, max(abs(v) for v in want))
    assert len(out) == len(want)
    assert all(close(a, b, scale) for a, b in zip(out, want))
    assert [a > 0.0 for a in out] == [b > 0.0 for b in want]
    rng = random.Random(case[0] + 7)
    grad = [rng.uniform(-1, 1) for _ in range(len(out))]
    overlapping = case[6] is not None and case[6] < case[5]
    got = k.conv_relu_pool_grad(cache, grad, windows, overlapping, input_grad)
    ref = k.conv_relu_pool_grad(want_cache, grad, windows, overlapping, input_grad)
    g_scale = sum(map(abs, grad)) * scale
    assert all(close(a, b, g_scale) for a, b in zip(got[0], ref[0]))  # dw
    assert all(close(a, b, g_scale) for a, b in zip(got[1], ref[1]))  # db
    if input_grad:
        assert all(close(a, b, g_scale) for got_map, ref_map in zip(got[2], ref[2]) for a, b in zip(got_map, ref_map))
    else:
        assert got[2] is None
    if k is kernels:  # the windows with ink are found from the pixels alone
        assert k.conv_relu_pool_ink(cache)[0] == [bool(v) for v in k.conv_relu_pool_ink(want_cache)[0]]


def test_conv_relu_pool_bytes_with_weights_too_large_for_fixed_point(k):
    """Weights whose fixed-point form would overflow (or inf): the float path's results."""
    pixels, source, tap_index, w_rows, biases, pool_taps, _ = pixel_case(9, 2, 1, 3, 6, 2, None)
    taps = [tuple(source[i] for i in idx) for idx in tap_index]
    for big in (1e307, float("inf")):
        w = [list(row) for row in w_rows]
        w[1][4] = big
        out, _ = k.conv_relu_pool_bytes(pixels, source, tap_index, w, biases, pool_taps, 2)
        want, _ = k.conv_relu_pool(taps, w, biases, pool_taps, 2)
        assert repr(list(out)) == repr(list(want))


def test_training_on_8bit_images_matches_the_float_path(monkeypatch):
    """A model trained on byte / 255 images (the integer conv path on CPython) ends with
    the weights of the same training with that path turned off, within 1e-12."""
    rng = random.Random(21)
    x = [[0.0 if rng.random() < 0.7 else rng.randrange(1, 256) / 255 for _ in range(144)] for _ in range(6)]
    y = [0, 1, 2, 1, 0, 2]
    results = []
    for pixel_bytes in (kernels.pixel_bytes, lambda data: None):
        with monkeypatch.context() as m:
            m.setattr(kernels, "pixel_bytes", pixel_bytes)
            model = pn.Sequential([pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
                                  input_shape=(1, 12, 12), seed=3)
            losses = [model.train_on_batch(x, y, optimizer=pn.SGD(0.1)) for _ in range(4)]
            results.append(losses + [v for p in model.parameters() for v in p.data])
    assert len(results[0]) == len(results[1])
    assert all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(*results))
