"""``Sequential``: a stack of layers, trained by backpropagation.

The model does four things and delegates the rest: it builds its layers from
an input shape, runs them forward and backward in order, cuts data into
mini-batches for ``fit`` / ``evaluate`` / ``predict``, and names its
parameters the way PyTorch's ``nn.Sequential`` does (``"0.weight"``, ...),
so its ``state_dict`` loads into the equivalent PyTorch model unchanged.

Every way of running the model (``forward``/``backward``, ``train_on_batch``,
``fit``, ``evaluate``, ``predict``) runs the same execution plan: the steps
of :func:`purenet.layers.fused.plan`, made from the current ``layers`` (made
again when the list changes) and matching exact layer types only.

Losses, optimizers and data checks live in their own modules. Saving to
files and the command line are elsewhere too; this module does no I/O
beyond what ``verbose`` prints.
"""

import contextlib
import math
import operator
import random
from collections import OrderedDict
from functools import partial
from numbers import Real
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .augment import Augment
from .callbacks import Callback, CallbackList, ProgressBar
from .inputs import as_inputs, as_targets
from .layers import Layer, Parameter, from_config, layer_name
from .layers.activations import Sigmoid, Softmax
from .layers import fused
from .layers.base import Buffer, run_backward, shape_size
from .layers.conv import Conv2D
from .layers.dense import Dense
from .layers.fused import ConvReLUPool
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError
from .matrix import Matrix
from .optimizers import Adam, Optimizer

__all__ = ["Sequential", "InputGradient"]

Shape = Tuple[int, ...]


def _check_shape(shape) -> Shape:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) not in (1, 3)
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise ValueError(f"input_shape must be (features,) or (C, H, W) with positive ints; Received: {shape!r}.")
    return tuple(shape)


def _check_positive_int(value, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; Received: {value!r}.")
    return value


class Sequential:
    """Layers applied one after another.

    Args:
        layers: the layers, in order.
        input_shape: the shape of one sample, ``(C, H, W)`` for images or
            ``(features,)``. Without it the model is built on the first data.
        seed: seeds the model's own ``random.Random``, which initialises the
            weights and then shuffles the batches and draws dropout masks:
            the same seed gives bit-identical training on one interpreter.

    Example:
        >>> import purenet as pn
        >>> model = pn.Sequential([pn.Dense(4), pn.ReLU(), pn.Dense(2), pn.Softmax()], input_shape=(3,), seed=0)
        >>> model.predict([[0.1, 0.2, 0.3]]).shape
        (1, 2)
    """

    def __init__(self, layers: Sequence[Layer], input_shape: Optional[Sequence[int]] = None, seed: int = 0):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer; Received an empty list.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential layer {i} must be a purenet Layer; Received: {type(layer).__name__}.")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("Sequential: the same layer object appears twice; create a new layer for each position.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int; Received: {seed!r}.")
        self.layers: List[Layer] = layers
        self._plan_layers: Optional[tuple] = None  # the layers the plan was made from (see _steps)
        self._plan_steps: list = []
        self._pending: Optional[Matrix] = None  # the output of a forward() whose backward() has not run
        self._no_backward = "Sequential.backward() needs a forward() first"  # why backward() cannot run now
        self._passes = 0  # forward passes run, so that a deferred input gradient knows it came too late
        self.seed = seed
        self.rng = random.Random(seed)
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None
        self.loss: Optional[Loss] = None
        self.optimizer: Optional[Optimizer] = None
        self.history: Dict[str, List[float]] = {}
        self.stop_training = False  # set by a callback to end fit after the current batch
        if input_shape is not None:
            self.build(input_shape)

    # ------------------------------------------------------------- building
    def build(self, input_shape: Sequence[int]) -> Shape:
        """Build every layer for samples of ``input_shape``; returns the output shape."""
        shape = _check_shape(input_shape)
        self.input_shape = shape
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.build(shape, self.rng)
            except ValueError as e:
                raise ValueError(f"layer {i} ({type(layer).__name__}): {e}") from None
        self.output_shape = shape
        self._plan_layers = None
        self._replan()
        return shape

    @property
    def _steps(self) -> list:
        """The execution plan of the current ``layers`` (:func:`purenet.layers.fused.plan`).

        Made again, cheaply, whenever ``layers`` no longer holds the same layer
        objects in the same order as when it was made (``model.layers[1] =
        pn.Tanh()``, ``model.layers.append(...)``, a new list): a layer added
        unbuilt is built for the shape it receives, with the model's
        generator, and so is a layer without weights that now receives
        another shape; a layer with weights built for another shape is
        refused (``ValueError``).
        """
        made_from, layers = self._plan_layers, self.layers
        if made_from is None or len(made_from) != len(layers) or not all(map(operator.is_, made_from, layers)):
            self._replan()
        return self._plan_steps

    def _replan(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer; Received: an empty model.layers.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential layer {i} must be a purenet Layer; Received: {type(layer).__name__}.")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("Sequential: the same layer object appears twice in model.layers; create a new layer for each position.")
        shape = self.input_shape
        for i, layer in enumerate(layers):
            misfit = layer.built and layer.input_shape is not None and tuple(layer.input_shape) != shape
            if misfit and (layer.parameters() or layer.buffers()):  # its weights were made for another shape
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) was built for samples of shape {tuple(layer.input_shape)} "
                    f"but receives {shape} in model.layers; give it a new, unbuilt layer. Received: {layer!r}."
                )
            if not layer.built or misfit:  # no weights: building again only sets its shapes
                try:
                    layer.build(shape, self.rng)
                except ValueError as e:
                    raise ValueError(f"layer {i} ({type(layer).__name__}): {e}") from None
            shape = tuple(layer.output_shape)
        self.output_shape = shape
        self._plan_steps = fused.plan(layers)
        self._plan_layers = layers
        self._forget_forward("model.layers changed since the last forward()")

    def _forget_forward(self, why: str) -> None:
        """The layers' saved values no longer belong to the last ``forward()``: its backward() must not run."""
        if self._pending is not None:
            self._no_backward = f"Sequential.backward() cannot run: {why}; call forward() again"
        self._pending = None

    @property
    def built(self) -> bool:
        return self.output_shape is not None

    def _require_built(self, x=None):
        if self.built:
            return
        if x is not None and hasattr(x, "image_shape"):
            self.build(x.image_shape)
        elif isinstance(x, Matrix):
            self.build((x.cols,))
        elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "__len__"):
            self.build((len(x[0]),))
        else:
            raise ValueError("the model is not built: give input_shape to Sequential(...) or call model.build(shape).")

    @property
    def in_features(self) -> int:
        return shape_size(self.input_shape)

    @property
    def out_features(self) -> int:
        return shape_size(self.output_shape)

    @property
    def architecture(self) -> dict:
        """Plain data that rebuilds this model (no weights): see :meth:`from_architecture`."""
        return {
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "layers": [{"class": layer_name(l) or type(l).__name__, "config": _jsonable(l.get_config())}
                       for l in self.layers],
        }

    @classmethod
    def from_architecture(cls, arch: dict, seed: int = 0) -> "Sequential":
        """Rebuild a model (fresh weights) from :attr:`architecture` data."""
        if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
            raise ValueError(f"architecture must be a dict with a 'layers' list; Received: {type(arch).__name__}.")
        layers = []
        for i, spec in enumerate(arch["layers"]):
            if not isinstance(spec, dict):
                raise ValueError(f"architecture layer {i} must be a dict; Received: {spec!r}.")
            layers.append(from_config(spec.get("class"), spec.get("config", {})))
        return cls(layers, input_shape=arch.get("input_shape"), seed=seed)

    # ---------------------------------------------------- the manual step API
    def forward(self, x, training: bool = False) -> Matrix:
        """The model's outputs for one batch, keeping what :meth:`backward` needs.

        Runs the model's plan, as ``fit`` and ``predict`` do (each
        Conv2D-ReLU-MaxPool2D run as one cheaper step with the same result).
        After Softmax (Sigmoid) the output is a
        :class:`~purenet.layers.activations.Probabilities` that keeps its
        logits, so ``CrossEntropy`` (``BinaryCrossEntropy``) computes the loss
        from them, exactly.

        Args:
            x: a Matrix ``(N, in_features)`` or anything :func:`purenet.inputs.as_inputs` takes.
            training: training mode (Dropout active).

        Shape:
            input ``(N, in_features)``, output ``(N, out_features)``.
        """
        self._require_built(x)
        x = self._batch(x)
        out = self._run(self._steps, x, training)
        self._pending, self._no_backward = out, "Sequential.backward() already ran for the last forward(); call forward() again"
        return out

    def _run(self, steps: list, x: Matrix, training: bool, after_first: Optional[Callable[[], None]] = None) -> Matrix:
        """``x`` through ``steps``; the layers' saved values then belong to this pass."""
        self._forget_forward("another pass (predict, evaluate, fit or train_on_batch) ran since the last forward()")
        self._passes += 1
        for i, step in enumerate(steps):
            x = step.forward(x, training)
            if i == 0 and after_first is not None:
                after_first()
        return x

    def _batch(self, x, what: str = "x") -> Matrix:
        """One batch as a checked Matrix (shape and finiteness; see :func:`as_inputs`)."""
        inputs = as_inputs(x, self.in_features, what)
        return inputs.range(0, len(inputs))

    def backward(self, grad: Matrix, input_grad: bool = True) -> Optional[Matrix]:
        """Backpropagate ``grad`` (d loss / d output of the last :meth:`forward`) through
        the model, adding every parameter's gradient into its ``.grad``.

        Returns d loss / d input, a Matrix: when the first layer with weights
        is a Conv2D, a Dense or a fused Conv2D-ReLU-MaxPool2D run, an
        :class:`InputGradient`, computed when its values are first read, so
        a training loop that never reads it does not pay for it (other first
        layers compute it now; with ``input_grad=False``: ``None``). Given
        the gradient of a cross-entropy of a Softmax's (Sigmoid's) output,
        the gradient w.r.t. the logits is the exact ``p - y``.

        Raises:
            RuntimeError: no :meth:`forward` since the last backward (or
                another pass, such as ``predict``, ran in between).
            ValueError: ``grad`` does not have the output's shape.

        Shape:
            grad ``(N, out_features)``, result ``(N, in_features)``.
        """
        self._require_built()
        steps = self._steps
        out = self._pending
        if out is None:
            raise RuntimeError(self._no_backward + ": run out = model.forward(x, training=True), the loss, then model.backward(loss.backward()).")
        if not isinstance(grad, Matrix) or grad.shape != out.shape:
            got = grad.shape if isinstance(grad, Matrix) else type(grad).__name__
            raise ValueError(f"Sequential.backward expects d loss / d output of shape {out.shape} (the last forward's output); Received: {got}.")
        self._pending, self._no_backward = None, "Sequential.backward() already ran for the last forward(); call forward() again"
        if not input_grad:
            return _backward(steps, grad, False)
        return self._backward_deferred(steps, grad)

    def _backward_deferred(self, steps: list, grad: Matrix) -> Matrix:
        """Parameter gradients now; the input gradient as an :class:`InputGradient`,
        deferred when the first step with parameters can defer its own (:data:`_DEFERS`)."""
        first = next((i for i, s in enumerate(steps) if s.parameters()), len(steps))
        if first == len(steps) or type(steps[first]) not in _DEFERS:
            return _backward(steps, grad, True)
        for i in range(len(steps) - 1, first, -1):
            grad = run_backward(steps[i], grad, True)
        compute = steps[first].backward_deferred(grad)
        before, passes = steps[:first], self._passes

        def input_gradient() -> List[float]:
            if before and self._passes != passes:  # the steps before it no longer hold this pass's values
                raise RuntimeError(
                    "the input gradient returned by Sequential.backward() is computed when first read, "
                    "from values that the next forward pass replaces: read it before the next forward().")
            g = compute()
            for step in reversed(before):
                g = run_backward(step, g, True)
            return g.data

        return InputGradient.deferred(input_gradient, grad.rows, shape_size(self.input_shape))

    def parameters(self) -> List[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> List[Tuple[str, Parameter]]:
        """``(name, parameter)`` pairs named as in PyTorch's ``nn.Sequential``."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.named_parameters()]

    def buffers(self) -> List[Buffer]:
        """The layers' non-trainable state (running statistics, counters): saved with
        the weights, never updated by an optimizer."""
        return [b for layer in self.layers for b in layer.buffers()]

    def named_buffers(self) -> List[Tuple[str, Buffer]]:
        """``(name, buffer)`` pairs named as in PyTorch's ``nn.Sequential`` (``"1.running_mean"``)."""
        return [(f"{i}.{name}", b) for i, layer in enumerate(self.layers) for name, b in layer.named_buffers()]

    def _named_state(self) -> List[Tuple[str, Matrix]]:
        """Parameters then buffers of each layer in turn, as PyTorch orders a ``state_dict``."""
        return [
            (f"{i}.{name}", t)
            for i, layer in enumerate(self.layers)
            for name, t in list(layer.named_parameters()) + list(layer.named_buffers())
        ]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def count_params(self) -> int:
        return sum(len(p.data) for p in self.parameters())

    # ------------------------------------------------------------ weights
    def state_dict(self) -> "OrderedDict[str, Matrix]":
        """``{name: Matrix}`` copies of the weights and buffers, with PyTorch's names
        and order (each layer's parameters, then its buffers)."""
        self._require_built()
        return OrderedDict((name, Matrix.from_flat(list(t.data), t.rows, t.cols)) for name, t in self._named_state())

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Load weights and buffers from ``{name: Matrix or nested lists}``.

        Each value may have purenet's 2-D shape or PyTorch's shape (conv
        weights 4-D, biases 1-D, a counter such as ``num_batches_tracked`` a
        plain number). Unknown or missing names raise ``ValueError`` (missing
        names are allowed with ``strict=False``).
        """
        self._require_built()
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict expects a dict of name -> values; Received: {type(state).__name__}.")
        params = OrderedDict(self._named_state())
        unknown = [k for k in state if k not in params]
        missing = [k for k in params if k not in state]
        if unknown or (strict and missing):
            raise ValueError(
                "load_state_dict: names do not match the model. "
                + (f"Unexpected: {unknown}. " if unknown else "")
                + (f"Missing: {missing}. " if strict and missing else "")
                + f"Expected: {list(params)}."
            )
        staged = []
        for name, value in state.items():
            p = params[name]
            flat = _flatten_value(value, p, name)
            staged.append((p, flat))
        for p, flat in staged:  # all checked before any is changed
            p.assign(flat)

    # -------------------------------------------------------------- files
    def save(self, path, dtype: str = "F32") -> None:
        """Write the model (architecture, weights, history) to a safetensors file, atomically.

        ``dtype`` is ``"F32"`` (what PyTorch uses) or ``"F64"`` (exact); see
        :func:`purenet.io.modelfile.save_model`. Reload with :func:`purenet.load`.
        """
        from .io.modelfile import save_model  # imported here: purenet.io builds on this module

        save_model(self, path, dtype)

    @classmethod
    def load(cls, path) -> "Sequential":
        """Read a model written by :meth:`save` (the same as :func:`purenet.load`)."""
        from .io.modelfile import load_model

        return load_model(path)

    # ------------------------------------------------------------ training
    def _default_loss(self) -> Loss:
        last = type(self.layers[-1])  # exact types: a subclass may compute something else
        if last is Softmax:
            return CrossEntropy()
        if last is Sigmoid:
            return BinaryCrossEntropy()
        return MeanSquaredError()

    def _loss_and_grad(self, x: Matrix, y, loss: Loss, training: bool, input_grad: bool = False, grad_scale: float = 1.0,
                       after_first: Optional[Callable[[], None]] = None):
        """Forward, loss, backward for one batch; returns (loss, outputs, input gradient).

        Runs the model's plan, as :meth:`forward` and :meth:`backward` do
        (each Conv2D-ReLU-MaxPool2D run fused, :mod:`purenet.layers.fused`).
        After Softmax (Sigmoid), CrossEntropy (BinaryCrossEntropy) takes the
        loss from the logits the output keeps, and the gradient ``p - y`` is
        exact even for confidently wrong predictions. The input gradient is
        computed only with ``input_grad`` (else None), right away.

        ``grad_scale`` multiplies the gradients (not the loss returned), by
        scaling the loss gradient before the backward pass: its ``N x outputs``
        values rather than every parameter's. :mod:`purenet.parallel` uses it
        to make a shard's gradients its share of the whole batch's mean; and
        ``after_first()``, called once the first step has run forward, to receive
        the other steps' weights only then.
        """
        steps = self._steps
        out = self._run(steps, x, training, after_first)
        value = loss.forward(out, y)
        grad = loss.backward()
        if grad_scale != 1.0:
            grad = grad * grad_scale  # a ProbabilityGradient scales its logits' gradient too
        return value, out, _backward(steps, grad, input_grad)

    def train_on_batch(self, x, y, loss: Optional[Loss] = None, optimizer: Optional[Optimizer] = None) -> float:
        """One optimisation step on one batch; returns the batch's loss before the step."""
        self._require_built(x)
        loss = loss or self.loss or self._default_loss()
        optimizer = optimizer or self.optimizer or Adam()
        self.loss, self.optimizer = loss, optimizer
        x = self._batch(x)
        self.zero_grad()
        value, _, _ = self._loss_and_grad(x, y, loss, training=True)
        optimizer.step(self.parameters())
        return value

    def fit(
        self,
        x,
        y,
        epochs: int = 1,
        batch_size: int = 32,
        loss: Optional[Loss] = None,
        optimizer: Optional[Optimizer] = None,
        validation_data=None,
        shuffle: bool = True,
        verbose: int = 0,
        workers: int = 1,
        callbacks: Optional[Sequence[Callback]] = None,
        initial_epoch: int = 0,
        augment=None,
    ) -> Dict[str, List[float]]:
        """Train with mini-batch gradient descent: the one training loop of purenet.

        Each epoch shuffles the samples with the model's seeded generator, takes
        one optimizer step per batch (none for a batch whose loss is not finite),
        then evaluates ``validation_data``; ``callbacks`` run at every step of the
        way (:mod:`purenet.callbacks`: Keras's hooks and call order).

        Args:
            x, y: training samples (image collection, Matrix or list of rows)
                and their targets (integer labels or target rows).
            epochs: the epoch to stop at: training runs epochs ``initial_epoch``
                to ``epochs - 1`` (counted from 0, as Keras does).
            batch_size: samples per gradient step.
            loss: defaults to CrossEntropy after Softmax, BinaryCrossEntropy
                after Sigmoid, MeanSquaredError otherwise.
            optimizer: defaults to ``Adam(1e-3)``; its state carries over
                between calls to ``fit``.
            validation_data: optional ``(x_val, y_val)`` evaluated after each epoch.
            shuffle: reshuffle the samples each epoch with the model's seeded generator.
            verbose: 1 adds a :class:`~purenet.callbacks.ProgressBar` (a live line on a
                terminal, one line per epoch on stderr).
            workers: processes that share each batch (data parallel, Linux and
                macOS; see :mod:`purenet.parallel`): the same history and weights
                as one process up to rounding (~1e-14), faster on a machine with
                that many idle cores. 1 (the default) trains in this process only.
            callbacks: :class:`~purenet.callbacks.Callback` objects, called in order.
            initial_epoch: the epoch to start at, e.g. a checkpoint's ``epoch`` to resume.
            augment: transforms every training batch before its step. An
                :class:`~purenet.augment.Augment` (works with ``workers``: each
                process transforms its shard as one process would) uses the images'
                shape (that of an image collection ``x``, else the model's
                ``input_shape`` when it is ``(C, H, W)``); any other callable gets the
                batch Matrix ``(N, in_features)`` and returns one of the same shape
                (``workers=1`` only). Validation data is never transformed.

        Returns:
            The history: ``{"loss": [...], "accuracy": [...]}`` with one value
            per epoch (and ``val_loss`` / ``val_accuracy`` with validation
            data) for this call; ``model.history`` accumulates every call's.

        Raises:
            FloatingPointError: a batch's loss was not finite (its step not
                taken) and no callback set ``model.stop_training``
                (:class:`~purenet.callbacks.TerminateOnNaN` does).
        """
        self._require_built(x)
        epochs = _check_positive_int(epochs, "epochs")
        batch_size = _check_positive_int(batch_size, "batch_size")
        workers = _check_positive_int(workers, "workers")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or not 0 <= initial_epoch <= epochs:
            raise ValueError(f"initial_epoch must be an int from 0 to epochs ({epochs}); Received: {initial_epoch!r}.")
        if loss is not None and not isinstance(loss, Loss):
            raise TypeError(f"loss must be a purenet Loss such as pn.CrossEntropy(); Received: {type(loss).__name__}.")
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a purenet Optimizer such as pn.Adam(); Received: {type(optimizer).__name__}.")
        inputs = as_inputs(x, self.in_features, "x")
        targets = as_targets(y, len(inputs), self.out_features, "y")
        transform = self._augmenter(augment, x, workers)
        val_inputs = val_targets = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                got = f"a {type(validation_data).__name__}" + (
                    f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""
                )
                raise ValueError(f"validation_data must be a pair (x_val, y_val); Received: {got}.")
            val_inputs = as_inputs(validation_data[0], self.in_features, "validation x")
            val_targets = as_targets(validation_data[1], len(val_inputs), self.out_features, "validation y")
        if isinstance(callbacks, Callback) or (callbacks is not None and not isinstance(callbacks, (list, tuple))):
            raise TypeError(f"callbacks must be a list of Callback objects, e.g. callbacks=[EarlyStopping()]; "
                            f"Received: {type(callbacks).__name__}.")
        callbacks = list(callbacks) if callbacks is not None else []
        if verbose:
            callbacks.append(ProgressBar())
        n = len(inputs)
        hooks = CallbackList(callbacks, self, {
            "epochs": epochs, "initial_epoch": initial_epoch, "steps": (n + batch_size - 1) // batch_size,
            "samples": n, "batch_size": batch_size, "workers": workers,
            "validation_samples": len(val_inputs) if val_inputs is not None else 0,
        })
        self.loss = loss = loss or self.loss or self._default_loss()
        self.optimizer = optimizer = optimizer or self.optimizer or Adam()
        params = self.parameters()

        def one_process(idx, upcoming):  # this process computes the whole batch (upcoming: for workers only)
            yb = targets.batch(idx)
            for p in params:
                p.zero_grad()
            xb = inputs.batch(idx)
            value, out, _ = self._loss_and_grad(transform(xb) if transform else xb, yb, loss, training=True)
            if math.isfinite(value):
                optimizer.step(params)
            return value, _count_correct(out, targets.classes(idx))

        pool = None
        if workers > 1:
            from .parallel import Workers  # imported here: only parallel training needs multiprocessing

            pool = Workers(self, loss, workers, inputs, targets, augment, image_shape=_image_shape(x, self))
        # one training step on the batch idx, the optimizer's step included unless the loss is not finite
        train_step = partial(pool.step, optimizer=optimizer) if pool is not None else one_process
        history: Dict[str, List[float]] = {}
        logs: Dict[str, float] = {}
        self.stop_training = False
        with pool if pool is not None else contextlib.nullcontext():
            hooks.on_train_begin()
            for epoch in range(initial_epoch, epochs):  # the epoch loop of purenet
                hooks.on_epoch_begin(epoch)
                order = list(range(n))
                if shuffle:
                    self.rng.shuffle(order)
                total, correct, seen = 0.0, 0, 0
                for b, s in enumerate(range(0, n, batch_size)):
                    hooks.on_batch_begin(b, {})
                    idx = order[s : s + batch_size]
                    value, hits = train_step(idx, order[s + batch_size : s + 2 * batch_size])
                    total += value * len(idx)
                    correct += hits
                    seen += len(idx)
                    logs = {"loss": total / seen, "accuracy": correct / seen}
                    hooks.on_batch_end(b, logs)
                    if not math.isfinite(value) and not self.stop_training:
                        raise FloatingPointError(
                            f"the loss became {value} at epoch {epoch + 1}, batch {b + 1}: training diverged "
                            "(try a smaller learning rate)."
                        )
                    if self.stop_training:
                        break
                logs = {"loss": total / seen, "accuracy": correct / seen}
                if val_inputs is not None:
                    hooks.on_test_begin()
                    val = self._evaluate(val_inputs, val_targets, loss, 64)
                    logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
                    hooks.on_test_end({"val_loss": val["loss"], "val_accuracy": val["accuracy"]})
                for k, v in logs.items():
                    history.setdefault(k, []).append(v)
                    self.history.setdefault(k, []).append(v)
                hooks.on_epoch_end(epoch, dict(logs))
                if self.stop_training:
                    break
            hooks.on_train_end(dict(logs))
        return history

    def _augmenter(self, augment, x, workers: int):
        """What transforms each batch in this process (None: nothing), from ``fit``'s ``augment``."""
        if augment is None:
            return None
        if isinstance(augment, Augment):
            shape = _image_shape(x, self)
            if shape is None:
                raise ValueError(
                    "augment: an Augment needs the images' shape (C, H, W): give x as an image collection "
                    f"(such as load_mnist's) or build the model with input_shape (C, H, W); Received: x of "
                    f"{type(x).__name__} and input_shape {self.input_shape}."
                )
            return partial(augment, image_shape=shape)
        if not callable(augment):
            raise TypeError(f"augment must be a purenet Augment or a function Matrix -> Matrix; "
                            f"Received: {type(augment).__name__}.")
        if workers > 1:
            raise ValueError("augment: with workers > 1 it must be a purenet Augment (each process then transforms "
                             f"its shard as one process would); Received: a {type(augment).__name__}.")
        features = self.in_features

        def transform(batch: Matrix) -> Matrix:
            out = augment(batch)
            if not isinstance(out, Matrix) or out.shape != (batch.rows, features):
                got = out.shape if isinstance(out, Matrix) else type(out).__name__
                raise ValueError(f"augment must return a Matrix of the batch's shape {(batch.rows, features)}; "
                                 f"Received: {got}.")
            return out

        return transform

    def evaluate(self, x, y, batch_size: int = 64, loss: Optional[Loss] = None) -> Dict[str, float]:
        """Mean loss and accuracy over ``(x, y)``: ``{"loss": ..., "accuracy": ...}``."""
        self._require_built(x)
        batch_size = _check_positive_int(batch_size, "batch_size")
        inputs = as_inputs(x, self.in_features, "x")
        targets = as_targets(y, len(inputs), self.out_features, "y")
        return self._evaluate(inputs, targets, loss or self.loss or self._default_loss(), batch_size)

    def _evaluate(self, inputs, targets, loss, batch_size) -> Dict[str, float]:
        n = len(inputs)
        steps = self._steps
        total, correct = 0.0, 0
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            out = self._run(steps, inputs.range(s, e), False)
            value = loss.forward(out, targets.range(s, e))  # from the logits after Softmax / Sigmoid
            total += value * (e - s)
            correct += _count_correct(out, targets.classes(range(s, e)))
        return {"loss": total / n, "accuracy": correct / n}

    def predict(self, x, batch_size: int = 64) -> Matrix:
        """The model's outputs for ``x`` (probabilities after Softmax), ``(N, out_features)``."""
        self._require_built(x)
        batch_size = _check_positive_int(batch_size, "batch_size")
        inputs = as_inputs(x, self.in_features, "x")
        n = len(inputs)
        steps = self._steps
        data = []
        for s in range(0, n, batch_size):
            data += self._run(steps, inputs.range(s, min(n, s + batch_size)), False).data
        return Matrix.from_flat(data, n, self.out_features)

    def predict_classes(self, x, batch_size: int = 64) -> List[int]:
        """The most likely class of each sample (``> 0.5`` for a single output)."""
        out = self.predict(x, batch_size)
        if out.cols == 1:
            return [int(v > 0.5) for v in out.data]
        return out.argmax(axis=1)

    # ------------------------------------------------------------- showing
    def summary(self, print_fn=print) -> None:
        """Print a table of layers, output shapes and parameter counts."""
        self._require_built()
        rows = [("#", "Layer", "Output shape", "Params")]
        shape = self.input_shape
        rows.append(("", "Input", str(shape), ""))
        for i, layer in enumerate(self.layers):
            rows.append((str(i), repr(layer), str(layer.output_shape), f"{sum(len(p.data) for p in layer.parameters()):,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "-" * (sum(widths) + 6)

        def fmt(r):
            return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"

        out = [fmt(rows[0]), line] + [fmt(r) for r in rows[1:]] + [line, f"Total parameters: {self.count_params():,}"]
        print_fn("\n".join(out))

    def __repr__(self) -> str:
        lines = [f"Sequential(input_shape={self.input_shape}"]
        for i, layer in enumerate(self.layers):
            shape = f"  -> {layer.output_shape}" if layer.output_shape else ""
            lines.append(f"  ({i}): {layer!r}{shape}")
        return "\n".join(lines) + "\n)"


def _backward(layers: list, grad: Matrix, input_grad: bool) -> Optional[Matrix]:
    """Backpropagate through ``layers`` (layers or fused steps). Without ``input_grad`` the walk stops at
    the first layer that has parameters, which computes only their gradients:
    nothing before it needs a gradient."""
    first = 0
    if not input_grad:
        first = next((i for i, l in enumerate(layers) if l.parameters()), len(layers))
    for i in range(len(layers) - 1, first - 1, -1):
        grad = run_backward(layers[i], grad, input_grad or i > first)
    return grad if input_grad else None


def _count_correct(out: Matrix, classes: List[int]) -> int:
    if out.cols == 1:  # one output: a probability, as predict_classes reads it
        return sum(int(v > 0.5) == c for v, c in zip(out.data, classes))
    return sum(p == c for p, c in zip(out.argmax(axis=1), classes))


def _image_shape(x, model: "Sequential") -> Optional[Shape]:
    """The shape ``(C, H, W)`` of one image of ``x``: an image collection's, else the model's input shape if 3-D."""
    shape = getattr(x, "image_shape", None)
    if shape is not None and len(shape) == 3:
        return tuple(shape)
    if model.input_shape is not None and len(model.input_shape) == 3:
        return tuple(model.input_shape)
    return None


# Plan steps whose backward can leave the input gradient for later (their backward_deferred); exact
# types, as a subclass may compute its gradients otherwise.
_DEFERS = (ConvReLUPool, Conv2D, Dense)

_DATA = Matrix.__dict__["data"]  # Matrix's own storage for .data (a slot), which InputGradient fills late


class InputGradient(Matrix):
    """d loss / d input as :meth:`Sequential.backward` returns it: a Matrix whose
    values are computed when first read (``.data`` and everything built on it).

    A training loop rarely reads it, and for a first layer that is a
    convolution it costs about as much as the rest of the backward pass. Its
    shape is known at once; its values are those ``backward`` would have
    computed then, even after an optimizer step, as long as they are read
    before the model's next forward pass (reading them later raises
    ``RuntimeError`` when a layer before the first weights is involved).

    Shape:
        ``(N, in_features)``.
    """

    __slots__ = ("_compute",)

    @classmethod
    def deferred(cls, compute: Callable[[], List[float]], rows: int, cols: int) -> "InputGradient":
        m = cls.__new__(cls)
        m.rows, m.cols, m._compute = rows, cols, compute
        return m

    @property
    def data(self) -> List[float]:
        compute = self._compute
        if compute is not None:
            _DATA.__set__(self, compute())
            self._compute = None
        return _DATA.__get__(self)

    @data.setter
    def data(self, values: List[float]) -> None:
        _DATA.__set__(self, values)
        self._compute = None


def _jsonable(config: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _nested_shape(value, name):
    shape = []
    v = value
    while isinstance(v, (list, tuple)):
        if not v:
            raise ValueError(f"load_state_dict: {name} contains an empty list.")
        shape.append(len(v))
        v = v[0]
    return tuple(shape)


def _flatten_value(value, p, name: str) -> List[float]:
    """The values of one ``state_dict`` entry for the parameter or buffer ``p``, checked, flat."""
    allowed = {p.shape, tuple(p.tensor_shape)}
    scalar = tuple(p.tensor_shape) == ()  # a 0-d tensor, as PyTorch's counters are: a plain number
    if scalar and isinstance(value, Real) and not isinstance(value, bool):
        shape, flat = (), [float(value)]
    elif isinstance(value, Matrix):
        shape, flat = value.shape, list(value.data)
        if len(flat) == len(p.data) and (p.rows == 1 or p.cols == 1) and 1 in shape:
            shape = p.shape  # a row or column vector of the right length
    elif isinstance(value, (list, tuple)):
        shape = _nested_shape(value, name)
        flat = []

        def walk(v, depth):
            if depth == len(shape):
                if isinstance(v, bool) or not isinstance(v, Real):
                    raise ValueError(f"load_state_dict: {name} must hold numbers; Received: {v!r}.")
                flat.append(float(v))
                return
            if not isinstance(v, (list, tuple)) or len(v) != shape[depth]:
                raise ValueError(f"load_state_dict: {name} is ragged (expected shape {shape}).")
            for item in v:
                walk(item, depth + 1)

        walk(value, 0)
    else:
        raise TypeError(
            f"load_state_dict: {name} must be a Matrix or nested lists{' or a number' if scalar else ''}; "
            f"Received: {type(value).__name__}."
        )
    if shape not in allowed:
        raise ValueError(
            f"load_state_dict: {name} must have shape {tuple(p.tensor_shape)} (or {p.shape}); Received: {shape}."
        )
    if not all(map(math.isfinite, flat)):
        raise ValueError(f"load_state_dict: {name} contains NaN or infinity.")
    if getattr(p, "dtype", None) == "I64" and not all(float(v).is_integer() for v in flat):
        raise ValueError(f"load_state_dict: {name} is a counter and holds whole numbers; Received: {_short_list(flat)}.")
    return [float(v) for v in flat]


def _short_list(values: list) -> str:
    return repr(values) if len(values) <= 8 else repr(values[:8])[:-1] + ", ...]"
