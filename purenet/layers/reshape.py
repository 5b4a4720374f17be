"""``Flatten``: turn ``(C, H, W)`` samples into ``(C*H*W,)`` feature vectors."""

from typing import Optional

from ..matrix import Matrix
from .base import Layer, Shape, shape_size

__all__ = ["Flatten"]


class Flatten(Layer):
    """Flatten each sample to one feature vector.

    Activations are already stored channel-first as ``(N, C*H*W)`` (the order
    of PyTorch's ``flatten`` on NCHW), so this layer only changes the declared
    sample shape: forward and backward return their argument unchanged.

    Shape:
        input ``(N, C*H*W)`` seen as ``(C, H, W)``, output ``(N, C*H*W)``.
    """

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (shape_size(input_shape),)

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        return x

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        return grad if input_grad else None
