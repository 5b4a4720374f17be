"""The layer contract: ``Layer`` and ``Parameter``.

A layer is a forward/backward pair. ``forward`` caches what ``backward``
needs; ``backward`` returns the gradient with respect to the layer's input
and *adds* the gradients of the layer's parameters into their ``.grad``.
Layers never see a learning rate: optimizers update parameters.

Shape legend used in every layer's docstring: N batch, C channels, H height,
W width, F filters, K kernel taps (C*KH*KW), D features. Activations are
always ``(N, D)`` matrices; an image batch is ``(N, C*H*W)``, channel-first.
"""

import inspect
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import kernels
from ..matrix import Matrix

__all__ = ["Layer", "Parameter", "Buffer", "shape_size", "run_backward"]

Shape = Tuple[int, ...]


def shape_size(shape: Sequence[int]) -> int:
    """Number of features in one sample of ``shape`` (the product of its sides)."""
    n = 1
    for s in shape:
        n *= s
    return n


class Parameter(Matrix):
    """A trainable Matrix that carries its gradient in ``.grad``.

    ``tensor_shape`` is the PyTorch shape of the same tensor (a conv weight is
    stored as ``(F, C*KH*KW)`` but is ``(F, C, KH, KW)`` in PyTorch; a bias is
    stored ``(1, F)`` and is ``(F,)`` there); model files use it.
    """

    __slots__ = ("grad", "tensor_shape")

    @classmethod
    def from_flat(cls, data, rows, cols, tensor_shape: Optional[Shape] = None) -> "Parameter":
        p = super().from_flat(data, rows, cols)
        p.grad = Matrix.zeros(rows, cols)
        p.tensor_shape = tuple(tensor_shape) if tensor_shape else (rows, cols)
        return p

    def zero_grad(self) -> None:
        self.grad.data = kernels.zeroed(self.grad.data)

    def accumulate(self, grad_data: List[float]) -> None:
        """Add a flat list of gradient values into ``.grad``."""
        g = self.grad
        # Right after zero_grad (one backward per step, the usual case) the sum is
        # a copy: testing for all zeros and copying costs ~1/10 of adding them.
        g.data = kernels.add_lists(g.data, grad_data) if any(g.data) else list(grad_data)

    def assign(self, values: List[float]) -> None:
        """Replace the values in place (same length), keeping the identity."""
        if len(values) != len(self.data):
            raise ValueError(f"expected {len(self.data)} values for shape {self.shape}; Received: {len(values)}.")
        self.data[:] = values

    def __repr__(self) -> str:
        return f"Parameter(shape={self.tensor_shape})"


class Buffer(Matrix):
    """Non-trainable state of a layer (BatchNorm's running statistics): saved,
    loaded and moved with the weights, never touched by an optimizer.

    ``tensor_shape`` is the PyTorch shape of the same tensor (``()`` for a
    scalar such as ``num_batches_tracked``); ``dtype`` is the safetensors
    dtype it is saved as (``"I64"`` for counters, else the file's float type).
    """

    __slots__ = ("tensor_shape", "dtype")

    @classmethod
    def from_flat(cls, data, rows, cols, tensor_shape: Optional[Shape] = None, dtype: Optional[str] = None) -> "Buffer":
        b = super().from_flat(data, rows, cols)
        b.tensor_shape = tuple(tensor_shape) if tensor_shape is not None else (rows, cols)
        b.dtype = dtype
        return b

    def assign(self, values: List[float]) -> None:
        """Replace the values in place (same length), keeping the identity."""
        if len(values) != len(self.data):
            raise ValueError(f"expected {len(self.data)} values for shape {self.shape}; Received: {len(values)}.")
        self.data[:] = values

    def __repr__(self) -> str:
        return f"Buffer(shape={self.tensor_shape})"


class Layer:
    """Base class of every layer.

    Subclasses store their configuration in ``__init__`` (reported back by
    :meth:`get_config`), create weights in :meth:`build` and implement
    :meth:`forward` and :meth:`backward`. Weights are :class:`Parameter`
    attributes and non-trainable state :class:`Buffer` attributes (found by
    :meth:`named_parameters` / :meth:`named_buffers`). A layer of your own
    is saved and loaded once its class is registered with
    :func:`purenet.register_layer` (docs/custom-layers.md).
    """

    #: True for layers whose output equals their input's layout (no weights).
    input_shape: Optional[Shape] = None
    output_shape: Optional[Shape] = None

    def build(self, input_shape: Shape, rng: random.Random) -> Shape:
        """Create the weights for samples of ``input_shape``; return the output shape."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    @property
    def built(self) -> bool:
        return self.output_shape is not None

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        raise NotImplementedError

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        """Gradient w.r.t. the input of the last ``forward``; parameter gradients
        are accumulated. With ``input_grad=False`` (a first layer) only the
        parameter gradients are computed and ``None`` is returned."""
        raise NotImplementedError

    def parameters(self) -> List[Parameter]:
        """The trainable tensors (by default those of :meth:`named_parameters`)."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> List[Tuple[str, Parameter]]:
        """``(name, parameter)`` pairs with PyTorch's names (``weight``, ``bias``): the
        ``state_dict`` and model files use these names. By default, as in PyTorch,
        the layer's attributes that hold a :class:`Parameter`, named after them, in
        the order they were set."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Parameter)]

    def named_buffers(self) -> List[Tuple[str, "Buffer"]]:
        """``(name, buffer)`` pairs of non-trainable state, with PyTorch's names
        (``running_mean``, ``running_var``, ``num_batches_tracked``); by default the
        attributes that hold a :class:`Buffer`, as for :meth:`named_parameters`."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Buffer)]

    def buffers(self) -> List["Buffer"]:
        return [b for _, b in self.named_buffers()]

    def get_config(self) -> Dict[str, Any]:
        return {}

    # helpers for subclasses ---------------------------------------------
    def _check_input(self, x: Matrix) -> None:
        if not isinstance(x, Matrix):
            raise TypeError(f"{type(self).__name__}.forward expects a Matrix; Received: {type(x).__name__}.")
        if self.input_shape is None:
            raise ValueError(f"{type(self).__name__} is not built: call build(input_shape, rng) or use it in a Sequential.")
        if x.cols != shape_size(self.input_shape):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (N, {shape_size(self.input_shape)}) "
                f"(samples of shape {self.input_shape}); Received: {x.shape}."
            )

    def _check_grad(self, grad: Matrix, rows: int) -> None:
        expected = (rows, shape_size(self.output_shape))
        if not isinstance(grad, Matrix) or grad.shape != expected:
            got = grad.shape if isinstance(grad, Matrix) else type(grad).__name__
            raise ValueError(f"{type(self).__name__}.backward expects a gradient of shape {expected}; Received: {got}.")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def run_backward(layer, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
    """Call ``layer.backward``: with ``input_grad`` when the layer's ``backward``
    takes that argument, else as ``backward(grad)`` (the input gradient it
    returns is then dropped when nobody needs it). A layer may implement
    ``backward(grad)`` alone; ``input_grad=False`` is only an optimisation."""
    if _takes_input_grad(type(layer)):
        return layer.backward(grad, input_grad=input_grad)
    result = layer.backward(grad)
    return result if input_grad else None


_TAKES_INPUT_GRAD: Dict[type, bool] = {}


def _takes_input_grad(cls: type) -> bool:
    known = _TAKES_INPUT_GRAD.get(cls)
    if known is None:
        try:
            params = inspect.signature(cls.backward).parameters
        except (TypeError, ValueError):
            params = {}
        known = "input_grad" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        _TAKES_INPUT_GRAD[cls] = known
    return known
