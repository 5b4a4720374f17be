"""``Matrix``: a 2-D array of Python floats, stored flat in row-major order.

Every activation, gradient and weight in purenet is a Matrix. Activations are
``(N, features)`` with images flattened channel-first (``C*H*W`` per row, the
order of PyTorch's NCHW ``flatten``), so reshaping moves no data.

Storage is one flat ``list`` of floats plus ``rows`` and ``cols``: plain lists
are the fastest container for arithmetic on CPython (``array('d')`` is
1.6-2.5x slower, see docs/performance.md), and one flat list keeps
shapes explicit and ragged data impossible. The hot loops themselves live in
:mod:`purenet.kernels`.

Besides the primitives layers are built from (make, matmul, transpose,
elementwise ops, sums along an axis, argmax, reshape, row slicing) it has the
linear algebra a student expects: :meth:`Matrix.determinant`,
:meth:`Matrix.inverse` and :meth:`Matrix.solve`, all by LU decomposition with
partial pivoting.

>>> a = Matrix([[1, 2], [3, 4]])
>>> (a @ a.T).tolist()
[[5.0, 11.0], [11.0, 25.0]]
>>> Matrix([[2, 0], [1, 4]]).solve(Matrix([[2], [9]])).tolist()
[[1.0], [2.0]]
>>> a.determinant()
-2.0
"""

import math
import operator
from numbers import Real
from typing import Callable, List, Optional, Sequence, Tuple, Union

from . import kernels

__all__ = ["Matrix"]

Number = Union[int, float]
_FAST_TYPES = (float, int)


def _as_float(value, where):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"Matrix entries must be real numbers; Received: {value!r} "
            f"(type {type(value).__name__}) at {where}."
        )
    return float(value)


class Matrix:
    """A ``(rows, cols)`` matrix of floats.

    Build one from a list of rows, ``Matrix([[1, 2], [3, 4]])``, or from a
    flat row-major list with :meth:`Matrix.from_flat`.

    Arithmetic: ``@`` is the matrix product; ``+``, ``-``, ``*``, ``/`` work
    with a scalar, a matrix of the same shape, or a ``(1, cols)`` row vector
    broadcast over the rows.

    Shape:
        ``(rows, cols)``; :attr:`data` has ``rows * cols`` floats with element
        ``(i, j)`` at ``data[i * cols + j]``.
    """

    __slots__ = ("data", "rows", "cols")

    def __init__(self, rows: Sequence[Sequence[Number]]):
        if isinstance(rows, Matrix):
            self.data, self.rows, self.cols = list(rows.data), rows.rows, rows.cols
            return
        if isinstance(rows, (str, bytes)) or not isinstance(rows, (list, tuple)):
            raise TypeError(
                "Matrix() expects a list of rows (a list of lists of numbers); "
                f"Received: {type(rows).__name__}."
            )
        if not rows:
            raise ValueError("Matrix() expects at least one row; Received: an empty list.")
        first = rows[0]
        if isinstance(first, Real) and not isinstance(first, bool):
            raise ValueError(
                "Matrix() expects a list of rows; Received: a flat list of numbers. "
                "Use Matrix([values]) for a row vector or Matrix.from_flat(data, rows, cols)."
            )
        cols = len(first)
        if cols == 0:
            raise ValueError("Matrix() expects non-empty rows; Received: a row of length 0.")
        data = []
        for i, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
                raise TypeError(f"Matrix row {i} must be a sequence of numbers; Received: {row!r}.")
            if len(row) != cols:
                raise ValueError(
                    f"Matrix rows must all have the same length: expected {cols} "
                    f"(the length of row 0); Received: row {i} of length {len(row)}."
                )
            if not all(type(v) in _FAST_TYPES for v in row):
                for j, v in enumerate(row):
                    _as_float(v, f"row {i}, column {j}")
            data.extend(map(float, row))
        self.data: List[float] = data
        self.rows: int = len(rows)
        self.cols: int = cols

    # ------------------------------------------------------------------ make
    @classmethod
    def from_flat(cls, data: List[float], rows: int, cols: int) -> "Matrix":
        """Wrap a flat row-major list of floats (taken, not copied)."""
        if len(data) != rows * cols:
            raise ValueError(
                f"Matrix.from_flat: expected {rows}*{cols}={rows * cols} values for shape "
                f"({rows}, {cols}); Received: {len(data)}."
            )
        m = cls.__new__(cls)
        m.data, m.rows, m.cols = data, rows, cols
        return m

    @classmethod
    def zeros(cls, rows: int, cols: int) -> "Matrix":
        """A ``(rows, cols)`` matrix of zeros."""
        return cls.full(rows, cols, 0.0)

    @classmethod
    def full(cls, rows: int, cols: int, value: float) -> "Matrix":
        """A ``(rows, cols)`` matrix with every entry ``value``."""
        if not (isinstance(rows, int) and isinstance(cols, int)) or rows < 1 or cols < 1:
            raise ValueError(f"Matrix shape must be two positive ints; Received: ({rows!r}, {cols!r}).")
        return cls.from_flat([float(value)] * (rows * cols), rows, cols)

    @classmethod
    def identity(cls, n: int) -> "Matrix":
        """The ``(n, n)`` identity matrix."""
        m = cls.zeros(n, n)
        m.data[:: n + 1] = [1.0] * n
        return m

    # ---------------------------------------------------------------- access
    @property
    def shape(self) -> Tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    def __len__(self) -> int:
        return self.rows

    def tolist(self) -> List[List[float]]:
        """The rows as a list of lists of floats."""
        return [list(r) for r in self.row_lists()]

    def row_lists(self) -> List[List[float]]:
        """The rows as a list of flat lists (copies; the kernels' input format)."""
        return kernels.rows_of(self.data, self.rows, self.cols)

    def copy(self) -> "Matrix":
        return Matrix.from_flat(list(self.data), self.rows, self.cols)

    def __getitem__(self, key):
        """``m[i, j]`` is an element; ``m[i]`` a row as a list; ``m[a:b]`` a Matrix of rows."""
        if isinstance(key, tuple):
            i, j = key
            i, j = self._check_index(i, self.rows, "row"), self._check_index(j, self.cols, "column")
            return self.data[i * self.cols + j]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.rows)
            idx = range(start, stop, step)
            if len(idx) == 0:
                raise IndexError(f"row slice {key} of a matrix with {self.rows} rows is empty.")
            c = self.cols
            if step == 1:
                return Matrix.from_flat(self.data[start * c : stop * c], len(idx), c)
            data = []
            for i in idx:
                data.extend(self.data[i * c : (i + 1) * c])
            return Matrix.from_flat(data, len(idx), c)
        i = self._check_index(key, self.rows, "row")
        return self.data[i * self.cols : (i + 1) * self.cols]

    def __setitem__(self, key, value):
        i, j = key
        i, j = self._check_index(i, self.rows, "row"), self._check_index(j, self.cols, "column")
        self.data[i * self.cols + j] = _as_float(value, f"({i}, {j})")

    @staticmethod
    def _check_index(i, n, what):
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"{what} index must be an int; Received: {i!r}.")
        if i < -n or i >= n:
            raise IndexError(f"{what} index {i} is out of range for {n} {what}s.")
        return i % n

    def take_rows(self, indices: Sequence[int]) -> "Matrix":
        """The rows at ``indices``, in that order, as a new Matrix."""
        c, d, n = self.cols, self.data, self.rows
        data = []
        for i in indices:
            if not -n <= i < n:
                raise IndexError(f"take_rows: row index {i} is out of range for {n} rows.")
            i %= n
            data.extend(d[i * c : (i + 1) * c])
        return Matrix.from_flat(data, len(indices), c)

    def reshape(self, rows: int, cols: int) -> "Matrix":
        """The same data (copied) seen as ``(rows, cols)``; one side may be -1."""
        n = len(self.data)
        if rows == -1 and cols > 0 and n % cols == 0:
            rows = n // cols
        elif cols == -1 and rows > 0 and n % rows == 0:
            cols = n // rows
        if rows * cols != n or rows < 1 or cols < 1:
            raise ValueError(f"cannot reshape a matrix of shape {self.shape} ({n} values) into ({rows}, {cols}).")
        return Matrix.from_flat(list(self.data), rows, cols)

    # ---------------------------------------------------------------- linear
    @property
    def T(self) -> "Matrix":
        """The transpose, ``(cols, rows)``."""
        if self.rows == 1 or self.cols == 1:
            return Matrix.from_flat(list(self.data), self.cols, self.rows)
        data = []
        for col in zip(*self.row_lists()):
            data.extend(col)
        return Matrix.from_flat(data, self.cols, self.rows)

    def __matmul__(self, other: "Matrix") -> "Matrix":
        if not isinstance(other, Matrix):
            return NotImplemented
        if self.cols != other.rows:
            raise ValueError(
                f"cannot multiply ({self.rows}x{self.cols}) and ({other.rows}x{other.cols}): "
                f"the inner dimensions {self.cols} and {other.rows} differ."
            )
        b_cols = kernels.transpose(other.row_lists())  # (other.cols, K): rows of B.T
        return Matrix.from_flat(kernels.matmul_nt(self.row_lists(), b_cols), self.rows, other.cols)

    # ------------------------------------------------------------ elementwise
    def _binary(self, other, op, name):
        if isinstance(other, Matrix):
            if other.shape == self.shape:
                return Matrix.from_flat(list(map(op, self.data, other.data)), self.rows, self.cols)
            if other.rows == 1 and other.cols == self.cols:
                row = other.data
                data = []
                for r in self.row_lists():
                    data.extend(map(op, r, row))
                return Matrix.from_flat(data, self.rows, self.cols)
            raise ValueError(
                f"cannot apply '{name}' to shapes {self.shape} and {other.shape}: expected the same "
                f"shape or a (1, {self.cols}) row vector."
            )
        if isinstance(other, Real) and not isinstance(other, bool):
            v = float(other)
            return Matrix.from_flat([op(a, v) for a in self.data], self.rows, self.cols)
        return NotImplemented

    def __add__(self, other):
        return self._binary(other, operator.add, "+")

    def __sub__(self, other):
        return self._binary(other, operator.sub, "-")

    def __mul__(self, other):
        return self._binary(other, operator.mul, "*")

    def __truediv__(self, other):
        return self._binary(other, operator.truediv, "/")

    def __radd__(self, other):
        return self._binary(other, operator.add, "+")

    def __rmul__(self, other):
        return self._binary(other, operator.mul, "*")

    def __rsub__(self, other):
        if isinstance(other, Real) and not isinstance(other, bool):
            v = float(other)
            return Matrix.from_flat([v - a for a in self.data], self.rows, self.cols)
        return NotImplemented

    def __neg__(self):
        return Matrix.from_flat([-a for a in self.data], self.rows, self.cols)

    def __eq__(self, other):
        if not isinstance(other, Matrix):
            return NotImplemented
        return self.shape == other.shape and self.data == other.data

    __hash__ = None  # mutable

    def map(self, f: Callable[[float], float]) -> "Matrix":
        """Apply ``f`` to every entry."""
        return Matrix.from_flat(list(map(f, self.data)), self.rows, self.cols)

    def sum(self, axis: Optional[int] = None):
        """Sum of all entries (a float), of each column (``axis=0``, ``(1, cols)``)
        or of each row (``axis=1``, ``(rows, 1)``)."""
        if axis is None:
            return math.fsum(self.data)
        if axis == 0:
            return Matrix.from_flat([math.fsum(c) for c in zip(*self.row_lists())], 1, self.cols)
        if axis == 1:
            return Matrix.from_flat([math.fsum(r) for r in self.row_lists()], self.rows, 1)
        raise ValueError(f"axis must be None, 0 or 1; Received: {axis!r}.")

    def argmax(self, axis: int = 1) -> List[int]:
        """Index of the largest entry of each row (``axis=1``) or column (``axis=0``)."""
        if axis == 1:
            return [r.index(max(r)) for r in self.row_lists()]
        if axis == 0:
            return [c.index(max(c)) for c in zip(*self.row_lists())]
        raise ValueError(f"axis must be 0 or 1; Received: {axis!r}.")

    def allclose(self, other: "Matrix", rtol: float = 1e-9, atol: float = 0.0) -> bool:
        """True when shapes match and every entry is within ``atol + rtol*|other|``."""
        return self.shape == other.shape and all(
            abs(a - b) <= atol + rtol * abs(b) for a, b in zip(self.data, other.data)
        )

    def is_finite(self) -> bool:
        """True when no entry is NaN or infinite."""
        return all(map(math.isfinite, self.data))

    # ----------------------------------------------------------- linear algebra
    def _require_square(self, what):
        if self.rows != self.cols:
            raise ValueError(f"{what} needs a square matrix; Received: shape {self.shape}.")

    def lu(self, strict: bool = True) -> Tuple[List[List[float]], List[int], int]:
        """LU decomposition with partial pivoting: ``P A = L U``.

        Returns ``(lu, perm, sign)``: ``lu`` holds U on and above the diagonal
        and L's multipliers below it (L's unit diagonal implied), ``perm[i]``
        is the original row now at row ``i``, ``sign`` is the permutation's
        parity (+1 or -1).

        With ``strict`` a singular matrix raises ``ValueError``: a pivot counts
        as zero when it is within the rounding noise of its own computation.
        Each entry carries a bound on the size of the terms that were summed
        into it (``|a_ij| + sum |l_ik| |u_kj|``); a pivot no larger than
        ``64 n eps`` times that bound is elimination's crumbs of a true 0.
        So an exactly singular matrix is caught though elimination leaves
        ~1e-16 instead of a clean 0, while a matrix that is merely small
        (``[[1e-20, 0], [0, 1]]``) or badly scaled (``[[1, 1e14], [0, 1]]``,
        determinant 1) is not. Without ``strict`` only an exact 0 pivot
        (a column that is exactly zero below the diagonal) stops it.
        """
        self._require_square("LU decomposition")
        n = self.rows
        a = self.row_lists()
        perm = list(range(n))
        sign = 1
        noise = 64 * n * 2.220446049250313e-16 if strict else 0.0
        size = [list(map(abs, row)) for row in a]  # bound on the terms summed into each entry
        for k in range(n):
            p = max(range(k, n), key=lambda i: abs(a[i][k]))
            if abs(a[p][k]) <= noise * size[p][k] or a[p][k] == 0.0:
                raise ValueError(
                    f"matrix is singular (or nearly so): no usable pivot in column {k} of a "
                    f"{n}x{n} matrix."
                )
            if p != k:
                a[k], a[p] = a[p], a[k]
                size[k], size[p] = size[p], size[k]
                perm[k], perm[p] = perm[p], perm[k]
                sign = -sign
            pivot_row, pivot_size = a[k], size[k]
            inv = 1.0 / pivot_row[k]
            for i in range(k + 1, n):
                row = a[i]
                f = row[k] * inv
                if f:
                    row[k + 1 :] = [x - f * y for x, y in zip(row[k + 1 :], pivot_row[k + 1 :])]
                    g = abs(f)
                    size[i][k + 1 :] = [s + g * t for s, t in zip(size[i][k + 1 :], pivot_size[k + 1 :])]
                row[k] = f
        return a, perm, sign

    def determinant(self) -> float:
        """The determinant: the product of the LU pivots, with the permutation's sign.

        It is exactly 0.0 only when elimination meets a column that is exactly
        zero below the diagonal; a numerically singular matrix gives the tiny
        product its pivots have (as LAPACK-based libraries do), never a
        value rounded to 0 on purpose. Use :meth:`solve` or :meth:`inverse`
        to be told that a matrix is singular.
        """
        self._require_square("determinant")
        try:
            lu, _, sign = self.lu(strict=False)
        except ValueError:  # a column exactly zero from the diagonal down: the determinant is exactly 0
            return 0.0
        det = float(sign)
        for i in range(self.rows):
            det *= lu[i][i]
        return det

    def solve(self, b: "Matrix") -> "Matrix":
        """Solve ``A x = b`` for ``x``; ``b`` is ``(n, k)`` (k right-hand sides)
        or ``(1, n)`` / ``(n, 1)`` for one; the result has ``b``'s shape."""
        self._require_square("solve")
        if not isinstance(b, Matrix):
            b = Matrix(b)
        n = self.rows
        as_row = b.rows == 1 and b.cols == n and n != 1
        rhs = Matrix.from_flat(list(b.data), n, 1) if as_row else b
        if rhs.rows != n:
            raise ValueError(f"solve: A is {self.shape}, so b needs {n} rows; Received: b of shape {b.shape}.")
        lu, perm, _ = self.lu()
        cols = []
        for col in zip(*rhs.row_lists()):
            y = [col[p] for p in perm]
            for i in range(n):  # forward substitution, L has a unit diagonal
                y[i] -= kernels.dot(lu[i][:i], y[:i]) if i else 0.0
            for i in range(n - 1, -1, -1):  # back substitution
                y[i] = (y[i] - (kernels.dot(lu[i][i + 1 :], y[i + 1 :]) if i < n - 1 else 0.0)) / lu[i][i]
            cols.append(y)
        if as_row:
            return Matrix.from_flat(cols[0], 1, n)
        return Matrix.from_flat([v for row in zip(*cols) for v in row], n, rhs.cols)

    def inverse(self) -> "Matrix":
        """The inverse; a singular matrix raises ``ValueError``."""
        self._require_square("inverse")
        return self.solve(Matrix.identity(self.rows))

    # ------------------------------------------------------------------ show
    def __repr__(self) -> str:
        if self.rows * self.cols <= 64:
            body = ", ".join("[" + ", ".join(f"{v:.6g}" for v in r) + "]" for r in self.row_lists())
            return f"Matrix([{body}])"
        return f"Matrix(shape=({self.rows}, {self.cols}))"
