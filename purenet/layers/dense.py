"""``Dense``: the fully connected layer, ``y = x W^T + b``."""

import random
from typing import Callable, List, Optional, Tuple

from .. import init, kernels
from ..matrix import Matrix
from .base import Layer, Parameter, Shape

__all__ = ["Dense"]


class Dense(Layer):
    """Fully connected layer: every output is a weighted sum of every input.

    Forward:  ``y[n, u] = b[u] + sum_d x[n, d] * W[u, d]``   (``Y = X W^T + b``)

    Backward: ``dW = dY^T X``, ``db = sum_n dY[n]``, ``dX = dY W``.

    Args:
        units: number of outputs U.
        use_bias: add the bias ``b``.
        kernel_initializer: a name from :data:`purenet.init.INITIALIZERS`.

    Shape:
        input ``(N, D)``, output ``(N, U)``; ``weight`` is ``(U, D)`` (PyTorch's
        ``nn.Linear`` layout), ``bias`` is ``(1, U)``.

    Example:
        >>> import random
        >>> layer = Dense(3)
        >>> layer.build((4,), random.Random(0))
        (3,)
        >>> layer.forward(Matrix([[1.0, 2.0, 3.0, 4.0]])).shape
        (1, 3)
    """

    def __init__(self, units: int, use_bias: bool = True, kernel_initializer: str = "he_uniform"):
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"Dense units must be a positive int; Received: {units!r}.")
        init.get(kernel_initializer)
        self.units = units
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.weight: Optional[Parameter] = None
        self.bias: Optional[Parameter] = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense expects flat samples of shape (features,); Received: {tuple(input_shape)}. "
                "Put a Flatten() layer before it."
            )
        return (self.units,)

    def build(self, input_shape: Shape, rng: random.Random) -> Shape:
        out = super().build(input_shape, rng)
        d = input_shape[0]
        w = init.get(self.kernel_initializer)(d, self.units, self.units * d, rng)
        self.weight = Parameter.from_flat(w, self.units, d)
        if self.use_bias:
            self.bias = Parameter.from_flat([0.0] * self.units, 1, self.units, tensor_shape=(self.units,))
        return out

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        x_rows = x.row_lists()  # (N, D)
        y = kernels.matmul_nt_sparse_a(x_rows, self.weight.row_lists())  # (N, U)
        if self.use_bias:
            y = kernels.add_lists(y, self.bias.data * x.rows)
        self._x_rows = x_rows
        return Matrix.from_flat(y, x.rows, self.units)

    def backward(self, grad: Matrix, input_grad: bool = True, gated: bool = False) -> Optional[Matrix]:
        """See :class:`purenet.Layer`; ``gated``: the input came out of a ReLU, so
        its gradient is computed only where the input is nonzero (0 elsewhere:
        the ReLU's backward would zero it anyway)."""
        n = len(self._x_rows)
        self._check_grad(grad, n)
        w_rows = self.weight.row_lists() if input_grad else None  # (U, D)
        dw, db, dx = kernels.dense_grad(grad.row_lists(), self._x_rows, w_rows, self.use_bias, gated)
        self.weight.accumulate(dw)  # (U, D)
        if self.use_bias:
            self.bias.accumulate(db)
        if not input_grad:
            return None
        return Matrix.from_flat(dx, n, self.input_shape[0])

    def backward_deferred(self, grad: Matrix) -> Callable[[], Matrix]:
        """``backward(grad, input_grad=False)`` now, and a function that returns the
        input gradient ``backward(grad)`` would have returned, computed when called
        (from a copy of the weights: an optimizer step in between changes nothing;
        the call recomputes dW alongside, which it discards).
        :meth:`purenet.Sequential.backward` uses it for a first layer."""
        self.backward(grad, input_grad=False)
        g_rows, x_rows, w_rows = grad.row_lists(), self._x_rows, self.weight.row_lists()  # copies of dY, W

        def input_gradient() -> Matrix:
            _, _, dx = kernels.dense_grad(g_rows, x_rows, w_rows, self.use_bias)
            return Matrix.from_flat(dx, len(x_rows), self.input_shape[0])

        return input_gradient

    def parameters(self) -> List[Parameter]:
        return [p for p in (self.weight, self.bias) if p is not None]

    def named_parameters(self) -> List[Tuple[str, Parameter]]:
        return [(k, p) for k, p in (("weight", self.weight), ("bias", self.bias)) if p is not None]

    def get_config(self):
        cfg = {"units": self.units}
        if not self.use_bias:
            cfg["use_bias"] = False
        if self.kernel_initializer != "he_uniform":
            cfg["kernel_initializer"] = self.kernel_initializer
        return cfg
