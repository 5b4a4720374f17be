"""Batch normalisation: ``BatchNorm1D`` and ``BatchNorm2D``, with PyTorch's semantics.

Both normalise each channel (feature) with statistics taken over every other
axis; they differ only in the sample shape they accept. Their running
statistics are buffers (:class:`purenet.layers.base.Buffer`): saved and
loaded with the weights, never changed by an optimizer.

What this module is not: layer or group normalisation, or a BatchNorm
without learnable ``weight``/``bias`` (PyTorch's ``affine=False``).
"""

import math
import random
from typing import List, Optional, Tuple

from .. import kernels
from ..matrix import Matrix
from .base import Buffer, Layer, Parameter, Shape

__all__ = ["BatchNorm1D", "BatchNorm2D"]


class _BatchNorm(Layer):
    """The shared math; a subclass says which sample shapes it takes (:meth:`_split`).

    A sample of shape ``(C, L...)`` is C channels of L values each, stored
    channel after channel; channel ``c`` of the batch is the N runs
    ``x[n, c*L : (c+1)*L]``, M = N*L values in all.
    """

    def __init__(self, momentum: Optional[float] = 0.1, eps: float = 1e-5):
        name = type(self).__name__
        if momentum is not None and (
            isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0
        ):
            raise ValueError(f"{name} momentum must be a number in [0, 1] or None; Received: {momentum!r}.")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0.0 or not math.isfinite(eps):
            raise ValueError(f"{name} eps must be a positive number; Received: {eps!r}.")
        self.momentum = None if momentum is None else float(momentum)
        self.eps = float(eps)
        self.weight: Optional[Parameter] = None
        self.bias: Optional[Parameter] = None
        self.running_mean: Optional[Buffer] = None
        self.running_var: Optional[Buffer] = None
        self.num_batches_tracked: Optional[Buffer] = None
        self._saved = None

    def _split(self, input_shape: Shape) -> Tuple[int, int]:
        """``(C, L)`` for samples of ``input_shape``, or ValueError."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._split(tuple(input_shape))
        return tuple(input_shape)

    def build(self, input_shape: Shape, rng: random.Random) -> Shape:
        out = super().build(input_shape, rng)
        c, self._length = self._split(self.input_shape)
        self.channels = c
        self.weight = Parameter.from_flat([1.0] * c, 1, c, (c,))
        self.bias = Parameter.from_flat([0.0] * c, 1, c, (c,))
        self.running_mean = Buffer.from_flat([0.0] * c, 1, c, (c,))
        self.running_var = Buffer.from_flat([1.0] * c, 1, c, (c,))
        self.num_batches_tracked = Buffer.from_flat([0.0], 1, 1, (), "I64")
        self._saved = None
        return out

    def parameters(self) -> List[Parameter]:
        return [self.weight, self.bias] if self.built else []

    def named_parameters(self):
        return [("weight", self.weight), ("bias", self.bias)] if self.built else []

    def named_buffers(self):
        if not self.built:
            return []
        return [
            ("running_mean", self.running_mean),
            ("running_var", self.running_var),
            ("num_batches_tracked", self.num_batches_tracked),
        ]

    def forward(self, x: Matrix, training: bool = False) -> Matrix:
        self._check_input(x)
        n, c, length = x.rows, self.channels, self._length
        m = n * length
        if training and m < 2:
            raise ValueError(
                f"{type(self).__name__} expects more than 1 value per channel when training (the variance of "
                f"one value is undefined); Received: input of shape {x.shape} (samples {self.input_shape}). "
                "Use batches of 2 or more samples."
            )
        gamma, beta, eps = self.weight.data, self.bias.data, self.eps
        running_mean, running_var = self.running_mean.data, self.running_var.data
        if not training:  # one pass: y = x * k + (beta - running_mean * k), k = gamma / sqrt(running_var + eps)
            inv = [1.0 / math.sqrt(v + eps) for v in running_var]
            k = [g * i for g, i in zip(gamma, inv)]
            shift = [b - mu * kc for b, mu, kc in zip(beta, running_mean, k)]
            self._saved = (n, x.data, inv, False)  # backward centres x itself, if it is ever called
            return Matrix.from_flat(kernels.channel_affine(x.data, n, c, length, k, shift), n, x.cols)
        mean = [t / m for t in kernels.channel_sums(x.data, n, c, length)]
        centred = kernels.channel_affine(x.data, n, c, length, [1.0] * c, [-mu for mu in mean])  # x - mean
        var = [t / m for t in kernels.channel_dots(centred, centred, n, c, length)]  # biased: what normalises
        inv = [1.0 / math.sqrt(v + eps) for v in var]
        y = kernels.channel_affine(centred, n, c, length, [g * i for g, i in zip(gamma, inv)], list(beta))
        self.num_batches_tracked.data[0] += 1.0
        factor = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.data[0]
        for ch in range(c):  # PyTorch's update, in its order; running_var gets the unbiased variance
            running_mean[ch] = factor * mean[ch] + (1.0 - factor) * running_mean[ch]
            running_var[ch] = factor * (var[ch] * m / (m - 1)) + (1.0 - factor) * running_var[ch]
        # what backward needs: x - mean (the batch's), 1/sqrt(var + eps) per channel, the mode
        self._saved = (n, centred, inv, True)
        return Matrix.from_flat(y, n, x.cols)

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward.")
        n, centred, inv, training = self._saved
        self._check_grad(grad, n)
        c, length = self.channels, self._length
        m = n * length
        if not training:  # the evaluation forward kept x: centre it on the running mean now
            centred = kernels.channel_affine(centred, n, c, length, [1.0] * c, [-mu for mu in self.running_mean.data])
        g = grad.data
        sum_g = kernels.channel_sums(g, n, c, length)
        sum_gd = kernels.channel_dots(g, centred, n, c, length)
        self.weight.accumulate([t * i for t, i in zip(sum_gd, inv)])
        self.bias.accumulate(sum_g)
        if not input_grad:
            return None
        k = [gm * i for gm, i in zip(self.weight.data, inv)]
        if training:  # the batch's mean and variance depend on x too
            slope = [-kc * i * i * t / m for kc, i, t in zip(k, inv, sum_gd)]
            shift = [-kc * t / m for kc, t in zip(k, sum_g)]
            dx = kernels.channel_combine(g, centred, n, c, length, k, slope, shift)
        else:
            dx = kernels.channel_affine(g, n, c, length, k, [0.0] * c)
        return Matrix.from_flat(dx, n, grad.cols)

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}


class BatchNorm1D(_BatchNorm):
    """Batch normalisation of each feature (PyTorch's ``nn.BatchNorm1d``).

    Forward, training (``training=True``): for each feature c, over the M
    values of the batch (M = N, or N*L for ``(C, L)`` samples),
    ``mean_c = sum x / M``, ``var_c = sum (x - mean_c)^2 / M`` (biased), and
    ``y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c``. The running
    statistics move towards the batch's:
    ``running_mean = momentum * mean_c + (1 - momentum) * running_mean`` and
    ``running_var = momentum * var_c * M / (M - 1) + (1 - momentum) * running_var``
    (the *unbiased* variance, as PyTorch), and ``num_batches_tracked += 1``.
    With ``momentum=None`` the factor is ``1 / num_batches_tracked``: a plain
    average of every batch's statistics.

    Forward, evaluation (``training=False``): the same formula with
    ``running_mean`` and ``running_var`` in place of the batch's.

    Backward, with ``xhat = (x - mean_c) / sqrt(var_c + eps)`` and sums over
    the M values of feature c: ``dweight_c = sum dy * xhat``,
    ``dbias_c = sum dy``; in training
    ``dx = weight_c / sqrt(var_c + eps) * (dy - sum dy / M - xhat * sum(dy * xhat) / M)``,
    in evaluation ``dx = weight_c / sqrt(running_var_c + eps) * dy``.

    Args:
        momentum: weight of the current batch in the running statistics
            (PyTorch's convention, the complement of Keras's), or None for a
            cumulative average.
        eps: added to the variance before the square root.

    Parameters ``weight`` (C,), initially 1, and ``bias`` (C,), initially 0;
    buffers ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and
    ``num_batches_tracked`` () = 0 (an integer count, saved as int64).

    Shape:
        input ``(N, C)`` for samples ``(C,)``, or ``(N, C*L)`` for samples
        ``(C, L)``; output the same. Training needs M = N*L >= 2.

    Example:
        >>> import random
        >>> bn = BatchNorm1D()
        >>> bn.build((2,), random.Random(0))
        (2,)
        >>> y = bn.forward(Matrix([[1.0, 5.0], [3.0, 5.0]]), training=True)
        >>> [round(v, 6) for v in y.data]
        [-0.999995, 0.0, 0.999995, 0.0]
        >>> [round(v, 6) for v in bn.running_mean.data + bn.running_var.data]
        [0.2, 0.5, 1.1, 0.9]
        >>> bn.num_batches_tracked.data
        [1.0]
    """

    def _split(self, input_shape):
        if len(input_shape) == 1:
            return input_shape[0], 1
        if len(input_shape) == 2:
            return input_shape[0], input_shape[1]
        raise ValueError(
            f"BatchNorm1D expects samples of shape (C,) or (C, L); Received: {tuple(input_shape)}. "
            "Use BatchNorm2D for (C, H, W) images."
        )


class BatchNorm2D(_BatchNorm):
    """Batch normalisation of each channel of images (PyTorch's ``nn.BatchNorm2d``).

    The math of :class:`BatchNorm1D`, with each channel's statistics taken
    over the M = N*H*W values of the batch in that channel:

    Forward, training: ``y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c``
    with the batch's ``mean_c`` and biased ``var_c``; then
    ``running_mean = momentum * mean_c + (1 - momentum) * running_mean``,
    ``running_var = momentum * var_c * M / (M - 1) + (1 - momentum) * running_var``,
    ``num_batches_tracked += 1``. Evaluation: ``running_mean``/``running_var``
    in place of the batch's statistics, nothing updated.

    Backward (xhat the normalised input, sums over channel c's M values):
    ``dweight_c = sum dy * xhat``, ``dbias_c = sum dy``; in training
    ``dx = weight_c / sqrt(var_c + eps) * (dy - sum dy / M - xhat * sum(dy * xhat) / M)``,
    in evaluation ``dx = weight_c / sqrt(running_var_c + eps) * dy``.

    Args:
        momentum: weight of the current batch in the running statistics, or
            None for a cumulative average.
        eps: added to the variance before the square root.

    Parameters ``weight`` (C,) = 1 and ``bias`` (C,) = 0; buffers
    ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and
    ``num_batches_tracked`` () = 0 (saved as int64).

    Shape:
        input ``(N, C*H*W)`` (samples ``(C, H, W)``, channel-first), output
        the same. Training needs N*H*W >= 2.

    Example:
        >>> import random
        >>> bn = BatchNorm2D(momentum=0.5)
        >>> bn.build((1, 1, 2), random.Random(0))
        (1, 1, 2)
        >>> y = bn.forward(Matrix([[0.0, 2.0], [4.0, 6.0]]), training=True)
        >>> [round(v, 6) for v in y.data]
        [-1.341639, -0.447213, 0.447213, 1.341639]
        >>> [name for name, _ in bn.named_buffers()]
        ['running_mean', 'running_var', 'num_batches_tracked']
        >>> bn.running_mean.data, round(bn.running_var.data[0], 6)
        ([1.5], 3.833333)
    """

    def _split(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"BatchNorm2D expects samples of shape (C, H, W); Received: {tuple(input_shape)}. "
                "Use BatchNorm1D for flat features."
            )
        c, h, w = input_shape
        return c, h * w
