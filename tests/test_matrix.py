"""Tests for purenet.Matrix: construction, access, arithmetic and linear algebra.

Linear algebra is compared with ``numpy.linalg`` (skipped where NumPy is
missing, unless PURENET_REQUIRE_ORACLES=1) and checked by its own residuals.
"""

import math
import operator
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require
from purenet import Matrix


@pytest.fixture
def np():
    return require("numpy")


def message(excinfo):
    return str(excinfo.value)


def assert_mentions(excinfo, *fragments):
    text = message(excinfo).lower()
    for f in fragments:
        assert f.lower() in text, f"{f!r} not in error message {message(excinfo)!r}"


# --------------------------------------------------------------- construction


def test_from_rows_converts_to_floats_row_major():
    m = Matrix([[1, 2, 3], [4, 5.5, 6]])
    assert m.shape == (2, 3)
    assert (m.rows, m.cols) == (2, 3)
    assert len(m) == 2
    assert m.data == [1.0, 2.0, 3.0, 4.0, 5.5, 6.0]
    assert all(type(v) is float for v in m.data)
    assert m.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.5, 6.0]]


def test_from_tuples_and_fraction_like_reals():
    from fractions import Fraction

    m = Matrix(((1, Fraction(1, 2)), (2.5, 3)))
    assert m.tolist() == [[1.0, 0.5], [2.5, 3.0]]


def test_copy_constructor_does_not_share_data():
    a = Matrix([[1, 2], [3, 4]])
    b = Matrix(a)
    b[0, 0] = 9
    assert a[0, 0] == 1.0 and b[0, 0] == 9.0


def test_ragged_rows_error_names_expected_and_received():
    with pytest.raises(ValueError) as e:
        Matrix([[1, 2], [3, 4, 5]])
    assert_mentions(e, "expected 2", "received", "row 1", "length 3")


def test_empty_list_error():
    with pytest.raises(ValueError) as e:
        Matrix([])
    assert_mentions(e, "at least one row", "received", "empty")


def test_empty_row_error():
    with pytest.raises(ValueError) as e:
        Matrix([[]])
    assert_mentions(e, "non-empty", "received", "length 0")


@pytest.mark.parametrize("bad", ["abc", b"abc", 3, None, {"a": 1}])
def test_non_list_argument_error_names_type(bad):
    with pytest.raises(TypeError) as e:
        Matrix(bad)
    assert_mentions(e, "list of rows", "received", type(bad).__name__)


def test_string_entry_error_names_value_and_position():
    with pytest.raises(TypeError) as e:
        Matrix([[1.0, "2"]])
    assert_mentions(e, "real numbers", "received", "'2'", "str", "row 0, column 1")


def test_string_rows_error():
    with pytest.raises(TypeError) as e:
        Matrix(["ab", "cd"])
    assert_mentions(e, "sequence of numbers", "received", "'ab'")


def test_bool_entry_is_rejected():
    with pytest.raises(TypeError) as e:
        Matrix([[1.0, True]])
    assert_mentions(e, "real numbers", "received", "True", "bool")


def test_flat_list_error_suggests_the_fix():
    with pytest.raises(ValueError) as e:
        Matrix([1.0, 2.0, 3.0])
    assert_mentions(e, "list of rows", "received", "flat list", "from_flat")


def test_non_sequence_row_error():
    with pytest.raises(TypeError) as e:
        Matrix([[1, 2], 3])
    assert_mentions(e, "row 1", "received", "3")


def test_from_flat_takes_the_list_and_checks_length():
    data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    m = Matrix.from_flat(data, 3, 2)
    assert m.shape == (3, 2)
    assert m.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert m.data is data  # documented: taken, not copied
    with pytest.raises(ValueError) as e:
        Matrix.from_flat([1.0, 2.0, 3.0], 2, 2)
    assert_mentions(e, "expected 2*2=4", "received: 3", "(2, 2)")


def test_zeros_full_identity():
    assert Matrix.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert Matrix.full(2, 2, 7).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert all(type(v) is float for v in Matrix.full(1, 2, 7).data)
    assert Matrix.identity(3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert Matrix.identity(1).tolist() == [[1.0]]
    for rows, cols in [(0, 2), (2, 0), (-1, 3), (2.0, 3)]:
        with pytest.raises(ValueError) as e:
            Matrix.zeros(rows, cols)
        assert_mentions(e, "positive ints", "received", repr(rows))


def test_tolist_returns_copies():
    m = Matrix([[1, 2], [3, 4]])
    rows = m.tolist()
    rows[0][0] = 99.0
    assert m[0, 0] == 1.0
    one = Matrix([[1, 2]])
    one.tolist()[0][0] = 99.0
    assert one.data == [1.0, 2.0]


# ------------------------------------------------------------------- indexing


def test_element_row_and_slice_indexing():
    m = Matrix([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert m[1, 2] == 6.0
    assert m[-1, -1] == 9.0
    assert m[-3, 0] == 1.0
    assert m[1] == [4.0, 5.0, 6.0]
    assert m[-1] == [7.0, 8.0, 9.0]
    assert m[0:2].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert m[1:].shape == (2, 3)
    assert m[::2].tolist() == [[1.0, 2.0, 3.0], [7.0, 8.0, 9.0]]
    assert m[::-1].tolist() == [[7.0, 8.0, 9.0], [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]]
    row = m[0]
    row[0] = 100.0
    assert m[0, 0] == 1.0  # a row is a copy
    part = m[0:1]
    part[0, 0] = 100.0
    assert m[0, 0] == 1.0  # so is a slice


def test_index_errors():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(IndexError) as e:
        m[2, 0]
    assert_mentions(e, "row index 2", "2 rows")
    with pytest.raises(IndexError) as e:
        m[0, -4]
    assert_mentions(e, "column index -4", "3 columns")
    with pytest.raises(IndexError):
        m[5]
    with pytest.raises(IndexError):
        m[2:2]
    with pytest.raises(TypeError) as e:
        m[0, 1.0]
    assert_mentions(e, "int", "received", "1.0")
    with pytest.raises(TypeError):
        m[True, 0]


def test_setitem():
    m = Matrix.zeros(2, 2)
    m[0, 1] = 3
    m[-1, 0] = 2.5
    assert m.tolist() == [[0.0, 3.0], [2.5, 0.0]]
    assert type(m[0, 1]) is float
    with pytest.raises(IndexError):
        m[2, 0] = 1.0
    with pytest.raises(TypeError):
        m[0, 0] = "x"
    with pytest.raises(TypeError):
        m[0, 0] = True
    assert m.tolist() == [[0.0, 3.0], [2.5, 0.0]]


def test_take_rows():
    m = Matrix([[1, 2], [3, 4], [5, 6]])
    assert m.take_rows([2, 0, 2]).tolist() == [[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]]
    assert m.take_rows(range(3)) == m
    taken = m.take_rows([0])
    taken[0, 0] = 9.0
    assert m[0, 0] == 1.0


def test_take_rows_negative_index_like_indexing():
    """take_rows must treat a negative index the way m[i] does (or reject it);
    today -1 fails with an unrelated from_flat error while -2 works."""
    m = Matrix([[1, 2], [3, 4], [5, 6]])
    assert m.take_rows([-2]).tolist() == [m[-2]]
    assert m.take_rows([-1]).tolist() == [m[-1]]


def test_take_rows_out_of_range_is_an_index_error():
    m = Matrix([[1, 2], [3, 4], [5, 6]])
    with pytest.raises(IndexError):
        m.take_rows([0, 3])


# ------------------------------------------------------------------ transpose


def test_transpose():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    assert m.T.shape == (3, 2)
    assert m.T.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert m.T.T == m
    assert Matrix([[1, 2, 3]]).T.tolist() == [[1.0], [2.0], [3.0]]
    assert Matrix([[1], [2]]).T.tolist() == [[1.0, 2.0]]
    row = Matrix([[1, 2, 3]])
    row.T[0, 0] = 9.0
    assert row[0, 0] == 1.0  # the transpose is a new matrix


# --------------------------------------------------------------------- matmul


def test_matmul_values():
    a = Matrix([[1, 2, 3], [4, 5, 6]])
    b = Matrix([[7, 8], [9, 10], [11, 12]])
    assert (a @ b).tolist() == [[58.0, 64.0], [139.0, 154.0]]
    assert (b @ a).shape == (3, 3)
    assert (Matrix([[2]]) @ Matrix([[3, 4]])).tolist() == [[6.0, 8.0]]
    assert (Matrix([[1, 2]]) @ Matrix([[3], [4]])).tolist() == [[11.0]]
    assert (a @ Matrix.identity(3)) == a


def test_matmul_shape_error_names_both_shapes():
    a = Matrix([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError) as e:
        a @ a
    assert "cannot multiply (2x3) and (2x3)" in message(e)
    with pytest.raises(ValueError) as e:
        Matrix([[1] * 100]) @ Matrix([[1] * 100])
    assert "cannot multiply (1x100) and (1x100)" in message(e)
    with pytest.raises(TypeError):
        a @ [[1], [2], [3]]


def test_matmul_matches_naive_on_random():
    rng = random.Random(3)
    for m_, k, n in [(1, 1, 1), (3, 5, 2), (7, 4, 6), (2, 9, 1)]:
        a = [[rng.uniform(-2, 2) for _ in range(k)] for _ in range(m_)]
        b = [[rng.uniform(-2, 2) for _ in range(n)] for _ in range(k)]
        got = (Matrix(a) @ Matrix(b)).tolist()
        for i in range(m_):
            for j in range(n):
                expected = math.fsum(a[i][t] * b[t][j] for t in range(k))
                assert got[i][j] == pytest.approx(expected, rel=1e-13, abs=1e-13)


# ----------------------------------------------------------------- elementwise


def test_arithmetic_with_scalars():
    m = Matrix([[1, -2], [3, 4]])
    assert (m + 1).tolist() == [[2.0, -1.0], [4.0, 5.0]]
    assert (1 + m).tolist() == [[2.0, -1.0], [4.0, 5.0]]
    assert (m - 1).tolist() == [[0.0, -3.0], [2.0, 3.0]]
    assert (10 - m).tolist() == [[9.0, 12.0], [7.0, 6.0]]
    assert (m * 2).tolist() == [[2.0, -4.0], [6.0, 8.0]]
    assert (2 * m).tolist() == [[2.0, -4.0], [6.0, 8.0]]
    assert (m / 2).tolist() == [[0.5, -1.0], [1.5, 2.0]]
    assert (-m).tolist() == [[-1.0, 2.0], [-3.0, -4.0]]
    assert m.tolist() == [[1.0, -2.0], [3.0, 4.0]]  # operands are untouched


def test_arithmetic_same_shape():
    a = Matrix([[1, 2], [3, 4]])
    b = Matrix([[10, 20], [30, 40]])
    assert (a + b).tolist() == [[11.0, 22.0], [33.0, 44.0]]
    assert (b - a).tolist() == [[9.0, 18.0], [27.0, 36.0]]
    assert (a * b).tolist() == [[10.0, 40.0], [90.0, 160.0]]
    assert (b / a).tolist() == [[10.0, 10.0], [10.0, 10.0]]


def test_row_vector_broadcast():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    r = Matrix([[10, 20, 30]])
    assert (m + r).tolist() == [[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]]
    assert (m - r).tolist() == [[-9.0, -18.0, -27.0], [-6.0, -15.0, -24.0]]
    assert (m * r).tolist() == [[10.0, 40.0, 90.0], [40.0, 100.0, 180.0]]
    assert (m / r).tolist() == [[0.1, 0.1, 0.1], [0.4, 0.25, 0.2]]


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_shape_mismatch_names_both_shapes(op):
    fn = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}[op]
    a = Matrix([[1, 2, 3], [4, 5, 6]])
    for b in (Matrix([[1, 2], [3, 4]]), Matrix([[1, 2]]), Matrix([[1], [2]])):
        with pytest.raises(ValueError) as e:
            fn(a, b)
        assert_mentions(e, f"'{op}'", "(2, 3)", str(b.shape), "(1, 3) row vector")


def test_arithmetic_rejects_non_numbers():
    m = Matrix([[1, 2]])
    for bad in ("1", [1, 2], True, None):
        with pytest.raises(TypeError):
            m + bad
        with pytest.raises(TypeError):
            m * bad


def test_map_and_equality():
    m = Matrix([[1, -2], [3, -4]])
    assert m.map(abs).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert m.map(lambda v: v * v) == Matrix([[1, 4], [9, 16]])
    assert m == Matrix([[1, -2], [3, -4]])
    assert m != Matrix([[1, -2, 3]])
    assert m != Matrix([[1, -2], [3, 4]])
    assert (m == "x") is False
    with pytest.raises(TypeError):
        hash(m)


def test_sum_along_axes():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    assert m.sum() == 21.0
    assert m.sum(axis=None) == 21.0
    assert m.sum(axis=0).shape == (1, 3)
    assert m.sum(axis=0).tolist() == [[5.0, 7.0, 9.0]]
    assert m.sum(axis=1).shape == (2, 1)
    assert m.sum(axis=1).tolist() == [[6.0], [15.0]]
    assert Matrix([[0.1] * 10]).sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError) as e:
        m.sum(axis=2)
    assert_mentions(e, "none, 0 or 1", "received: 2")


def test_argmax():
    m = Matrix([[1, 9, 3], [7, 5, 7], [-1, -2, -3]])
    assert m.argmax() == [1, 0, 0]
    assert m.argmax(axis=1) == [1, 0, 0]  # ties: the first
    assert m.argmax(axis=0) == [1, 0, 1]
    with pytest.raises(ValueError) as e:
        m.argmax(axis=2)
    assert_mentions(e, "0 or 1", "received: 2")


def test_reshape():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    assert m.reshape(3, 2).tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert m.reshape(1, -1).tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
    assert m.reshape(-1, 1).shape == (6, 1)
    assert m.reshape(-1, 3) == m
    r = m.reshape(6, 1)
    r[0, 0] = 100.0
    assert m[0, 0] == 1.0
    for rows, cols in [(4, 2), (-1, 4), (0, 6), (-1, -1), (7, -1)]:
        with pytest.raises(ValueError) as e:
            m.reshape(rows, cols)
        assert_mentions(e, "(2, 3)", "6 values", f"({rows}, {cols})")


def test_allclose_and_is_finite():
    a = Matrix([[1.0, 2.0]])
    assert a.allclose(Matrix([[1.0 + 1e-12, 2.0]]))
    assert not a.allclose(Matrix([[1.1, 2.0]]))
    assert not a.allclose(Matrix([[1.0], [2.0]]))
    assert a.is_finite()
    assert not Matrix([[1.0, float("nan")]]).is_finite()
    assert not Matrix([[float("inf"), 1.0]]).is_finite()
    assert not Matrix([[float("-inf"), float("inf")]]).is_finite()


def test_is_finite_with_huge_finite_values():
    """is_finite sums |values| with math.fsum, which raises OverflowError when the
    sum of finite values exceeds the float range."""
    assert Matrix([[1e308, 1e308]]).is_finite()
    assert not Matrix([[1e308, 1e308, float("nan")]]).is_finite()


def test_repr():
    assert repr(Matrix([[1, 2.5]])) == "Matrix([[1, 2.5]])"
    assert repr(Matrix.zeros(10, 10)) == "Matrix(shape=(10, 10))"


# -------------------------------------------------------------- linear algebra


def well_conditioned(np, n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) + n * np.eye(n)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_determinant_inverse_solve_match_numpy(np, n):
    for seed in range(3):
        a = well_conditioned(np, n, seed)
        b = np.random.default_rng(seed + 100).standard_normal((n, 3))
        m = Matrix(a.tolist())
        assert m.determinant() == pytest.approx(float(np.linalg.det(a)), rel=1e-9)
        np.testing.assert_allclose(np.array(m.inverse().tolist()), np.linalg.inv(a), rtol=1e-9, atol=1e-12)
        x = m.solve(Matrix(b.tolist()))
        assert x.shape == (n, 3)
        np.testing.assert_allclose(np.array(x.tolist()), np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)


def test_lu_reconstructs_pa(np):
    a = well_conditioned(np, 5, 7)
    a[[0, 3]] = a[[3, 0]] * 0.01  # force pivoting
    lu, perm, sign = Matrix(a.tolist()).lu()
    lu = np.array(lu)
    lower = np.tril(lu, -1) + np.eye(5)
    upper = np.triu(lu)
    np.testing.assert_allclose(lower @ upper, a[perm], rtol=1e-12, atol=1e-12)
    assert sorted(perm) == list(range(5))
    assert sign == round(np.linalg.det(np.eye(5)[perm]))


def test_solve_small_exact_and_shapes():
    a = Matrix([[2, 0], [0, 4]])
    assert a.solve(Matrix([[2], [8]])).tolist() == [[1.0], [2.0]]
    assert a.solve(Matrix([[2, 8]])).tolist() == [[1.0, 2.0]]  # a (1, n) row: result is a row
    assert a.solve([[2], [8]]).tolist() == [[1.0], [2.0]]  # nested lists accepted
    assert a.solve(Matrix([[2, 4, 6], [8, 4, 0]])).tolist() == [[1.0, 2.0, 3.0], [2.0, 1.0, 0.0]]
    assert Matrix([[4]]).solve(Matrix([[2]])).tolist() == [[0.5]]
    assert a.inverse().tolist() == [[0.5, 0.0], [0.0, 0.25]]
    assert Matrix([[0, 1], [1, 0]]).determinant() == -1.0  # pivoting flips the sign


def test_solve_several_right_hand_sides_residual():
    rng = random.Random(5)
    n, k = 6, 4
    a = Matrix([[rng.uniform(-1, 1) + (6 if i == j else 0) for j in range(n)] for i in range(n)])
    b = Matrix([[rng.uniform(-5, 5) for _ in range(k)] for _ in range(n)])
    x = a.solve(b)
    assert x.shape == (n, k)
    assert (a @ x).allclose(b, rtol=1e-12, atol=1e-12)
    for j in range(k):  # each column solved on its own gives the same answer
        col = a.solve(Matrix([[b[i, j]] for i in range(n)]))
        assert [col[i, 0] for i in range(n)] == pytest.approx([x[i, j] for i in range(n)], rel=1e-14, abs=1e-14)
    assert (a @ a.inverse()).allclose(Matrix.identity(n), rtol=0, atol=1e-13)


def test_solve_and_inverse_shape_errors():
    a = Matrix([[1, 2], [3, 4]])
    with pytest.raises(ValueError) as e:
        a.solve(Matrix([[1], [2], [3]]))
    assert_mentions(e, "2 rows", "received", "(3, 1)")
    rect = Matrix([[1, 2, 3], [4, 5, 6]])
    for method in (rect.inverse, rect.determinant, lambda: rect.solve(Matrix([[1], [2]]))):
        with pytest.raises(ValueError) as e:
            method()
        assert_mentions(e, "square", "received", "(2, 3)")


@pytest.mark.parametrize(
    "rows",
    [
        [[1, 2], [2, 4]],
        [[0, 0], [0, 0]],
        [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        [[1, 2, 3], [2, 4, 6], [0, 1, 1]],
        [[0.1, 0.2], [0.3, 0.6]],
        [[0.0]],
    ],
)
def test_singular_matrices(rows):
    m = Matrix(rows)
    # exactly 0, or the crumbs elimination leaves of it (NumPy gives 6.7e-16 for the 3x3 ramp)
    scale = math.prod(max(map(abs, r)) or 1.0 for r in m.row_lists())
    assert abs(m.determinant()) <= 64 * m.rows * 2.3e-16 * scale
    for call in (m.inverse, lambda: m.solve(Matrix([[1.0]] * m.rows))):
        with pytest.raises(ValueError) as e:
            call()
        assert_mentions(e, "singular")


def test_singular_matrix_hidden_by_roundoff_is_detected():
    """Row 3 = -row 0 - 2 row 1 + row 2 exactly (quarter-integer entries), yet
    elimination leaves a last pivot of ~1e-15, just above the n*eps*max|A|
    threshold: inverse() and solve() return entries of ~1e16 instead of raising.
    About 1% of exactly singular random 2..6-square matrices like this one slip
    through. (determinant() returning ~1e-15 here, as NumPy does, is fine.)"""
    m = Matrix([[-2.25, -2.0, 0.25, 1.5], [0.25, -2.5, -2.25, 0.25], [-2.5, -2.25, 0.25, 3.0], [-0.75, 4.75, 4.5, 1.0]])
    assert abs(m.determinant()) < 1e-12
    with pytest.raises(ValueError, match="singular"):
        m.inverse()
    with pytest.raises(ValueError, match="singular"):
        m.solve(Matrix([[1.0], [2.0], [3.0], [4.0]]))


def test_determinant_of_nonsingular_matrix_with_small_row():
    """diag(1e-20, 1) is not singular; its determinant is 1e-20 (NumPy agrees).
    The pivot threshold relative to the largest entry makes determinant() 0.0."""
    assert Matrix([[1e-20, 0.0], [0.0, 1.0]]).determinant() == 1e-20
    assert Matrix([[2.0, 0.0], [0.0, 3e-17]]).determinant() == pytest.approx(6e-17, rel=1e-12)


# hypothesis: exact dyadic entries, so singular matrices are exactly singular
entries = st.integers(-12, 12).map(lambda v: v / 4)


@st.composite
def square_matrices(draw, max_n=6):
    n = draw(st.integers(1, max_n))
    return [[draw(entries) for _ in range(n)] for _ in range(n)]


@settings(max_examples=60, deadline=None)
@given(square_matrices())
def test_determinant_matches_numpy_hypothesis(rows):
    np = require("numpy")
    a = np.array(rows)
    hadamard = float(np.prod([max(np.linalg.norm(r), 1.0) for r in a]))
    assert abs(Matrix(rows).determinant() - float(np.linalg.det(a))) <= 1e-9 * hadamard


@settings(max_examples=60, deadline=None)
@given(square_matrices(), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_inverse_and_solve_match_numpy_hypothesis(rows, k, seed):
    np = require("numpy")
    a = np.array(rows)
    n = len(rows)
    m = Matrix(rows)
    if np.linalg.matrix_rank(a) < n:
        # exactly singular: usually detected (see test_singular_matrices); when roundoff
        # hides it, the determinant must still be negligible next to the Hadamard bound
        hadamard = float(np.prod([max(np.linalg.norm(r), 1.0) for r in a]))
        try:
            m.inverse()
        except ValueError as e:
            assert "singular" in str(e)
        assert abs(m.determinant()) <= 1e-12 * hadamard
        return
    cond = np.linalg.cond(a)
    b = np.random.default_rng(seed).uniform(-3, 3, (n, k))
    x = np.array(m.solve(Matrix(b.tolist())).tolist())
    inv = np.array(m.inverse().tolist())
    tol = 1e-13 * cond * n
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=0, atol=tol * max(1.0, np.abs(x).max()))
    np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=0, atol=tol * max(1.0, np.abs(inv).max()))
    # backward stability: small residual, independent of NumPy
    residual = np.abs(a @ x - b).max()
    assert residual <= 1e-13 * n * max(1.0, np.abs(a).max()) * max(1.0, np.abs(x).max())


@pytest.mark.parametrize("big", [1e6, 1e14, 1e200])
def test_badly_scaled_matrices_are_not_singular(big):
    """A pivot is judged against the terms summed into it, not against the largest
    entry of its row: [[1, big], [0, 1]] has determinant 1 and an exact inverse."""
    m = Matrix([[1, big], [0, 1]])
    assert m.determinant() == 1.0
    assert m.inverse().tolist() == [[1.0, -big], [0.0, 1.0]]
    assert Matrix([[big, 1], [1, 0]]).determinant() == -1.0


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_row_scaling_scales_the_determinant(n, seed):
    """Scaling a row by 10^k (k up to 12) scales the determinant by 10^k and keeps it invertible."""
    rng = random.Random(seed)
    rows = [[rng.uniform(-1, 1) for _ in range(n)] for _ in range(n)]
    m = Matrix(rows)
    det = m.determinant()
    k = rng.randint(1, 12)
    scaled = Matrix([[v * 10.0**k for v in r] if i == 0 else r for i, r in enumerate(rows)])
    assert math.isclose(scaled.determinant(), det * 10.0**k, rel_tol=1e-6, abs_tol=1e-9 * 10.0**k)
    if abs(det) > 1e-3:  # inverse(D A) = inverse(A) inverse(D): column 0 divided by 10^k
        expected = [[v / 10.0**k if j == 0 else v for j, v in enumerate(r)] for r in m.inverse().row_lists()]
        assert scaled.inverse().allclose(Matrix(expected), rtol=1e-6, atol=1e-9 * max(map(abs, m.inverse().data)))
