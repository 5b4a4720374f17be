"""ONNX import: a chain of ONNX operators as a purenet ``Sequential``.

    >>> import purenet as pn
    >>> model = pn.Sequential([pn.Conv2D(2, 3), pn.ReLU(), pn.Flatten(), pn.Dense(3), pn.LogSoftmax()],
    ...                       input_shape=(1, 6, 6), seed=0)
    >>> loaded = pn.load_onnx(pn.io.onnx.encode_onnx(model))
    >>> [type(layer).__name__ for layer in loaded.layers]
    ['Conv2D', 'ReLU', 'Flatten', 'Dense', 'LogSoftmax']

A graph is read if it is a chain: one data input, each node reading the value
the node before it produced (plus constants: initializers, ``Constant``
nodes and small shape computations on them), one output. Each operator of
:data:`purenet.io.onnx.ops.OPERATORS` becomes the layer of its row; what is
not one layer is folded into the layer before it: an ``Add`` of a constant
after a ``Conv``/``Gemm``/``MatMul`` is that layer's bias, and a
``BatchNormalization`` right after one is folded into its weights with
``fold_batchnorm=True`` (``y = (x - mean) / sqrt(var + eps) * scale + B`` is
linear; otherwise it is a ``BatchNorm2D``/``BatchNorm1D`` layer). ``Identity``, ``Dropout`` and float ``Cast`` do
nothing at inference and are dropped. Weights become Python floats
(float64), whatever their type in the file (float32, float64, float16).

Shapes: purenet keeps every sample flat in row-major order, as ONNX does,
so a ``Reshape`` or ``Flatten`` only changes how the next layers see a
sample. The reader follows two shapes: the ONNX tensor's, and the purenet
layer's; they differ after ``GlobalAveragePool`` (``(C, 1, 1)`` in ONNX,
``(C,)`` in purenet), which changes nothing a later layer reads.

Everything else raises :class:`purenet.ModelFileError` naming the node, its
operator and the attribute: branches, other operator domains, operator sets
older than 7, grouped or dilated convolutions, element types other than
float and int, files beyond the size limits.
"""

import math
import os
from typing import Dict, List, Optional, Tuple

from ...errors import ModelFileError
from ...layers import LAYERS
from ...model import Sequential
from ..modelfile import load_classes, load_history
from ..safetensors import DEFAULT_MAX_BYTES
from .constants import BATCH as _BATCH, evaluate
from .decode import Graph, Model, Node, Tensor, decode_model
from .ops import DOMAINS, MIN_OPSET, OPERATORS

__all__ = ["load_onnx", "is_onnx"]

Shape = Tuple[int, ...]
_WIDE_FLOATS = {1, 11}  # the casts of the data that change nothing in float64 (within float32 rounding)
_ELEMENTWISE = {"ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout"}


def _compact(pair):
    """``(a, a)`` as ``a``, as a person writes it (and as ``get_config`` gives it back)."""
    return pair[0] if pair[0] == pair[1] else tuple(pair)


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def is_onnx(path_or_bytes) -> bool:
    """Whether a file (or its bytes) looks like ONNX: a ``.onnx`` name, or a
    protobuf whose first field is ``ir_version`` (``08``) where a purenet model
    file begins with its 8-byte header length."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        head = bytes(path_or_bytes[:1])
    else:
        if str(os.fspath(path_or_bytes)).lower().endswith(".onnx"):
            return True
        try:
            with open(path_or_bytes, "rb") as f:
                head = f.read(1)
        except OSError:
            return False
    return head == b"\x08"


def load_onnx(source, max_bytes: int = DEFAULT_MAX_BYTES, fold_batchnorm: bool = False) -> Sequential:
    """Read an ONNX model as a built :class:`purenet.Sequential`.

    Args:
        source: a path to the ``.onnx`` file, or its bytes (then external
            data files cannot be read).
        max_bytes: the largest model file, and the most external data, read.
        fold_batchnorm: fold each ``BatchNormalization`` right after a ``Conv``
            or ``Gemm`` into that layer's weights and bias (one layer fewer to
            run; what ``torch.onnx.export`` does itself) instead of reading it
            as a ``BatchNorm2D``/``BatchNorm1D`` layer.

    Returns:
        The model, with the file's weights, ``input_shape`` the input's
        shape without its batch dimension; ``predict`` gives the graph's
        output, each sample's values in row-major order.

    Raises:
        ModelFileError: the file is missing, malformed, over the limits, or
            uses an operator, attribute or element type purenet does not
            read (the message names the node, operator and attribute).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, file, folder = bytes(source), "<bytes>", None
        if len(data) > max_bytes:
            raise ModelFileError(f"{file}: {len(data)} bytes; at most {max_bytes} are read.")
    else:
        try:
            path = os.fspath(source)
        except TypeError:
            raise TypeError(f"load_onnx expects a path or bytes; Received: {type(source).__name__}.") from None
        file, folder = os.path.basename(path), os.path.dirname(os.path.abspath(path))
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > max_bytes:
                    raise ModelFileError(f"{file}: {size} bytes; at most {max_bytes} are read.")
                data = f.read(size + 1)  # sized by the file, never by the limit: no huge buffer
        except OSError as e:
            raise ModelFileError(f"{file}: cannot read: {e.strerror or e}.") from None
        if len(data) > max_bytes:
            raise ModelFileError(f"{file}: larger than {max_bytes} bytes.")
    if not data:
        raise ModelFileError(f"{file}: empty file, not an ONNX model.")
    try:
        model = decode_model(data, file, folder, max_bytes)
    except ModelFileError as e:  # the protobuf reader's errors do not know the file's name
        if str(e).startswith(f"{file}: "):
            raise
        raise ModelFileError(f"{file}: {e}") from None
    return _Converter(model, file, fold_batchnorm).run()


class _Entry:
    """A purenet layer in the making: its class, constructor arguments and weights
    (flat, in PyTorch's order), so that folding can still change them."""

    def __init__(self, kind: str, config: dict, params: Optional[dict] = None, buffers: Optional[dict] = None,
                 input_shape: Shape = ()):
        self.kind, self.config = kind, config
        self.params, self.buffers = params or {}, buffers or {}
        self.input_shape = input_shape


class _Converter:
    def __init__(self, model: Model, file: str, fold_batchnorm: bool = False):
        self.model, self.file, self.graph = model, file, model.graph
        self.fold_batchnorm = fold_batchnorm
        self.opset = self._opset()
        self.consts: Dict[str, Tensor] = dict(self.graph.initializers)
        self.entries: List[_Entry] = []
        self.foldable = False  # the last entry is a Conv2D/Dense whose output nothing has changed yet
        self.transposed = False  # a Transpose of the data, waiting for the Gemm that undoes it

    # ---------------------------------------------------------------- errors
    def error(self, text: str, node: Optional[Node] = None) -> ModelFileError:
        where = f"node {node.name!r} ({node.op})" if node is not None else ""
        return ModelFileError(f"{self.file}: {where + ': ' if where else ''}{text}")

    def attr_error(self, node: Node, name: str, value, expected: str) -> ModelFileError:
        return self.error(f"attribute {name}={value!r} is not supported: expected {expected}.", node)

    def _opset(self) -> int:
        opsets = self.model.opsets
        version = opsets.get("", opsets.get("ai.onnx"))
        if version is None:
            raise self.error(f"no operator set of ONNX's default domain is imported; Received: {opsets}.")
        if version < MIN_OPSET:
            raise self.error(f"operator set {version} is older than {MIN_OPSET}, the oldest read.")
        return version

    # ---------------------------------------------------------------- the chain
    def run(self) -> Sequential:
        g: Graph = self.graph
        data_inputs = [i for i in g.inputs if i[0] not in self.consts]
        if len(data_inputs) != 1:
            raise self.error(f"expected one data input (a chain of layers); Received: {[i[0] for i in data_inputs]}.")
        name, dims, elem_type = data_inputs[0]
        if elem_type not in (1, 10, 11):
            raise self.error(f"input {name!r} must be a float tensor (float32, float16 or float64); "
                             f"Received: element type {elem_type}.")
        if dims is None or len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            raise self.error(f"input {name!r} must have a batch dimension and known sample dimensions; "
                             f"Received: shape {list(dims) if dims is not None else None}.")
        self.batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
        self.shape = tuple(dims[1:])
        # purenet's samples are flat vectors or (C, H, W) images: other shapes enter flat
        self.input_shape = self.pn_shape = self.shape if len(self.shape) in (1, 3) else (_size(self.shape),)
        self.current = name
        for node in g.nodes:
            self.step(node)
        if self.transposed:
            raise self.error("the graph ends with its data transposed, (D, N): not a batch of samples.")
        if len(g.outputs) != 1 or g.outputs[0] != self.current:
            raise self.error(f"expected one output, the last node's ({self.current!r}); Received: {g.outputs}.")
        return self.build()

    def step(self, node: Node) -> None:
        if node.domain not in DOMAINS:
            raise self.error(f"operator domain {node.domain!r} is not supported: only ONNX's default domain "
                             f"('' or 'ai.onnx') is read.", node)
        op = OPERATORS.get(node.op)
        if op is None:
            raise self.error(f"operator {node.op} is not supported; supported: {', '.join(sorted(OPERATORS))}.", node)
        reads_data = False
        for i, value in enumerate(node.inputs):
            if value == "" or value in self.consts:
                continue
            if value != self.current:
                raise self.error(f"input {i} is {value!r}, neither the value the node before produced "
                                 f"({self.current!r}) nor a constant: only chains of operators are read.", node)
            reads_data = True
        if not reads_data:
            self.constant(node)
            return
        handler = getattr(self, "op_" + node.op, None)
        if handler is None or (node.op in ("Constant",)):
            raise self.error(f"operator {node.op} is read on constant inputs only.", node)
        if node.op == "Shape":  # a constant: the data's shape, batch unknown
            handler(node)
            return
        if not node.outputs or not node.outputs[0]:
            raise self.error("the node has no output.", node)
        if self.transposed and node.op not in ("Gemm", "Identity", "Cast"):
            raise self.error("the data is transposed (N, D) -> (D, N); only a Gemm with transA=1 may read it.", node)
        handler(node)
        self.current = node.outputs[0]

    # ---------------------------------------------------------------- helpers
    def attr(self, node: Node, name: str, default=None):
        value = node.attrs.get(name, default)
        if type(value).__name__ == "_Unsupported":
            raise self.error(f"attribute {name} of type {value.kind} is not supported.", node)
        return value

    def const(self, node: Node, index: int, what: str) -> Optional[Tensor]:
        if index >= len(node.inputs) or node.inputs[index] == "":
            return None
        value = node.inputs[index]
        if value not in self.consts:
            raise self.error(f"input {index} ({what}) must be a constant (an initializer or a Constant node); "
                             f"Received: {value!r}, a computed value.", node)
        return self.consts[value]

    def data_index(self, node: Node) -> int:
        return node.inputs.index(self.current)

    def require_data_first(self, node: Node) -> None:
        if self.data_index(node) != 0:
            raise self.error(f"the data must be input 0; Received it as input {self.data_index(node)} "
                             f"(the other inputs constant).", node)

    def add(self, kind: str, config: dict, params: Optional[dict] = None, buffers: Optional[dict] = None,
            node: Optional[Node] = None) -> _Entry:
        if kind not in LAYERS:
            raise self.error(f"needs the layer {kind}, which this purenet does not have.", node)
        entry = _Entry(kind, config, params, buffers, self.pn_shape)
        entry.node = node
        self.entries.append(entry)
        self.foldable = kind in ("Conv2D", "Dense")
        return entry

    def image(self, node: Node) -> Tuple[int, int, int]:
        """The (C, H, W) sample shape, which this node needs in both views."""
        if len(self.shape) != 3 or self.pn_shape != self.shape:
            raise self.error(f"expected images (N, C, H, W); Received: samples of shape {self.shape} "
                             "(only 2-D images are read).", node)
        return self.shape

    def features(self, node: Node) -> int:
        """The feature count of a flat (N, D) input; a purenet Flatten is added if needed."""
        if len(self.shape) != 1:
            raise self.error(f"expected 2-D data (N, D); Received: samples of shape {self.shape}.", node)
        if len(self.pn_shape) != 1:
            self.add("Flatten", {}, node=node)
            self.pn_shape = self.shape
        return self.shape[0]

    def pads(self, node: Node, spatial: Shape, kernel: Shape, strides: Shape) -> Tuple[int, int, int, int]:
        """(top, left, bottom, right) from ``pads`` or ``auto_pad``."""
        auto = self.attr(node, "auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            pads = tuple(self.attr(node, "pads", [0, 0, 0, 0]))
            if len(pads) != 4 or min(pads) < 0:
                raise self.attr_error(node, "pads", list(pads), "4 non-negative ints [top, left, bottom, right]")
            return pads
        if auto == "VALID":
            return (0, 0, 0, 0)
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.attr_error(node, "auto_pad", auto, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
        before, after = [], []
        for size, k, s in zip(spatial, kernel, strides):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            small, big = total // 2, total - total // 2
            before.append(small if auto == "SAME_UPPER" else big)
            after.append(big if auto == "SAME_UPPER" else small)
        return (before[0], before[1], after[0], after[1])

    def window(self, node: Node, kernel_from=None) -> Tuple[Shape, Shape]:
        kernel = tuple(self.attr(node, "kernel_shape", kernel_from or []))
        if len(kernel) != 2 or min(kernel) < 1:
            raise self.attr_error(node, "kernel_shape", list(kernel), "2 positive ints (2-D windows)")
        strides = tuple(self.attr(node, "strides", [1, 1]))
        if len(strides) != 2 or min(strides) < 1:
            raise self.attr_error(node, "strides", list(strides), "2 positive ints")
        dilations = list(self.attr(node, "dilations", [1, 1]))
        if any(d != 1 for d in dilations):
            raise self.attr_error(node, "dilations", dilations, "[1, 1]")
        return kernel, strides

    # ---------------------------------------------------------------- operators on data
    def op_Conv(self, node: Node) -> None:
        self.require_data_first(node)
        c, h, w = self.image(node)
        weight = self.const(node, 1, "weight")
        if weight is None or len(weight.dims) != 4:
            raise self.error(f"expected a 4-D weight (F, C, KH, KW); Received: {weight.dims if weight else None}.", node)
        f, wc, kh, kw = weight.dims
        group = self.attr(node, "group", 1)
        if group != 1:
            raise self.attr_error(node, "group", group, "1 (grouped and depthwise convolutions are not read)")
        if wc != c:
            raise self.error(f"weight {list(weight.dims)} expects {wc} channels; Received: {c}.", node)
        kernel, strides = self.window(node, [kh, kw])
        if kernel != (kh, kw):
            raise self.attr_error(node, "kernel_shape", list(kernel), f"the weight's {[kh, kw]}")
        top, left, bottom, right = self.pads(node, (h, w), kernel, strides)
        oh = (h + top + bottom - kh) // strides[0] + 1
        ow = (w + left + right - kw) // strides[1] + 1
        if oh < 1 or ow < 1:
            raise self.error(f"the kernel does not fit the input {self.shape}.", node)
        bias = self.const(node, 2, "bias")
        if bias is not None and len(bias.values) != f:
            raise self.error(f"expected a bias of {f} values; Received: {list(bias.dims)}.", node)
        if top == bottom and left == right:
            padding = _compact((top, left))
        else:
            padding = ((top, bottom), (left, right))
        self.add("Conv2D", {"filters": f, "kernel_size": _compact((kh, kw)), "stride": _compact(strides),
                            "padding": padding, "use_bias": bias is not None},
                 {"weight": weight.values, "bias": bias.values if bias is not None else None}, node=node)
        self.shape = self.pn_shape = (f, oh, ow)

    def op_MaxPool(self, node: Node) -> None:
        c, h, w = self.image(node)
        kernel, strides = self.window(node)
        pads = self.pads(node, (h, w), kernel, strides)
        if any(pads):
            raise self.attr_error(node, "pads", list(pads), "no padding (MaxPool2D pads nothing)")
        oh, ow = (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1
        if self.attr(node, "ceil_mode", 0):
            ch, cw = -(-(h - kernel[0]) // strides[0]) + 1, -(-(w - kernel[1]) // strides[1]) + 1
            if (ch, cw) != (oh, ow):
                raise self.attr_error(node, "ceil_mode", 1, "0, or 1 where the windows fit exactly")
        if oh < 1 or ow < 1:
            raise self.error(f"the window {kernel} is larger than the input {self.shape}.", node)
        self.add("MaxPool2D", {"pool_size": _compact(kernel), "stride": None if strides == kernel else _compact(strides)},
                 node=node)
        self.shape = self.pn_shape = (c, oh, ow)

    def op_AveragePool(self, node: Node) -> None:
        c, h, w = self.image(node)
        kernel, strides = self.window(node)
        top, left, bottom, right = self.pads(node, (h, w), kernel, strides)
        if self.attr(node, "ceil_mode", 0):
            raise self.attr_error(node, "ceil_mode", 1, "0")
        if (top, left) != (bottom, right):
            raise self.attr_error(node, "pads", [top, left, bottom, right], "the same padding on both sides")
        if (top or left) and not self.attr(node, "count_include_pad", 0):
            raise self.attr_error(node, "count_include_pad", 0, "1 with padding (AvgPool2D divides every window "
                                  "by its full size, as PyTorch does by default)")
        if 2 * top > kernel[0] or 2 * left > kernel[1]:
            raise self.attr_error(node, "pads", [top, left, bottom, right], "at most half the window on each side")
        config = {"pool_size": _compact(kernel), "stride": None if strides == kernel else _compact(strides),
                  "padding": _compact((top, left))}
        oh, ow = (h + 2 * top - kernel[0]) // strides[0] + 1, (w + 2 * left - kernel[1]) // strides[1] + 1
        self.add("AvgPool2D", config, node=node)
        self.shape = self.pn_shape = (c, oh, ow)

    def op_GlobalAveragePool(self, node: Node) -> None:
        c, _, _ = self.image(node)
        self.add("GlobalAvgPool2D", {}, node=node)
        self.shape, self.pn_shape = (c, 1, 1), (c,)

    def op_ReduceMean(self, node: Node) -> None:
        if self.opset >= 18:
            axes_t = self.const(node, 1, "axes")
            axes = list(axes_t.values) if axes_t is not None else []
        else:
            axes = list(self.attr(node, "axes", []))
        rank = len(self.shape) + 1
        if sorted(a % rank if -rank <= a < rank else a for a in axes) != [2, 3] or rank != 4:
            raise self.attr_error(node, "axes", axes, "the spatial axes [2, 3] of (N, C, H, W)")
        c, _, _ = self.image(node)
        self.add("GlobalAvgPool2D", {}, node=node)
        self.shape = (c, 1, 1) if self.attr(node, "keepdims", 1) else (c,)
        self.pn_shape = (c,)

    def op_BatchNormalization(self, node: Node) -> None:
        self.require_data_first(node)
        scale, b, mean, var = (self.const(node, i, w) for i, w in enumerate(("scale", "B", "mean", "var"), 1))
        if any(t is None for t in (scale, b, mean, var)):
            raise self.error("expected inputs X, scale, B, input_mean, input_var.", node)
        eps = self.attr(node, "epsilon", 1e-5)
        if self.attr(node, "training_mode", 0):
            raise self.attr_error(node, "training_mode", 1, "0 (inference)")
        if self.opset < 7 and not self.attr(node, "is_test", 0):
            raise self.attr_error(node, "is_test", 0, "1 (inference)")
        if self.attr(node, "spatial", 1) != 1:
            raise self.attr_error(node, "spatial", 0, "1")
        channels = self.shape[0]
        if any(len(t.values) != channels for t in (scale, b, mean, var)):
            raise self.error(f"expected {channels} values in scale, B, mean and var.", node)
        kind = {3: "BatchNorm2D", 1: "BatchNorm1D"}.get(len(self.shape))
        if kind in LAYERS and self.pn_shape == self.shape and not (self.fold_batchnorm and self.foldable):
            self.add(kind, {"eps": eps}, {"weight": scale.values, "bias": b.values},
                     {"running_mean": mean.values, "running_var": var.values}, node=node)
            return
        if not self.foldable:
            if "BatchNorm2D" in LAYERS:
                raise self.error(f"expected images (N, C, H, W) or features (N, C) (BatchNorm2D, BatchNorm1D); "
                                 f"Received: samples of shape {self.shape}.", node)
            raise self.error("a BatchNormalization not right after a Conv or Gemm needs the BatchNorm "
                             f"layers, which this purenet does not have (input shape {self.shape}).", node)
        last = self.entries[-1]
        factor = [s / math.sqrt(v + eps) for s, v in zip(scale.values, var.values)]
        self.scale_outputs(last, factor)
        bias = last.params.get("bias") or [0.0] * channels
        last.params["bias"] = [(bb - m) * k + beta for bb, m, k, beta in zip(bias, mean.values, factor, b.values)]
        last.config["use_bias"] = True

    def scale_outputs(self, entry: _Entry, factor: List[float]) -> None:
        weight, per = entry.params["weight"], len(entry.params["weight"]) // len(factor)
        entry.params["weight"] = [v * factor[i // per] for i, v in enumerate(weight)]

    def op_Gemm(self, node: Node) -> None:
        if self.data_index(node) != 0:
            raise self.error("the data must be input A (the weights B and C constant).", node)
        if bool(self.attr(node, "transA", 0)) != self.transposed:
            if self.transposed:
                raise self.attr_error(node, "transA", 0, "1 after a Transpose of the data")
            raise self.attr_error(node, "transA", 1, "0, or 1 right after a Transpose of the data (the two "
                                  "cancel); on the data itself it would mix the samples of a batch")
        self.transposed = False
        d = self.features(node)
        b = self.const(node, 1, "B")
        if b is None or len(b.dims) != 2:
            raise self.error(f"expected a 2-D constant B; Received: {b.dims if b else None}.", node)
        alpha, beta = self.attr(node, "alpha", 1.0), self.attr(node, "beta", 1.0)
        rows, cols = b.dims
        if self.attr(node, "transB", 0):
            units, k, weight = rows, cols, list(b.values)
        else:
            units, k = cols, rows
            weight = [b.values[r * cols + u] for u in range(cols) for r in range(rows)]
        if k != d:
            raise self.error(f"B {list(b.dims)} expects {k} features; Received: {d}.", node)
        if alpha != 1.0:
            weight = [alpha * v for v in weight]
        c = self.const(node, 2, "C")
        bias = None
        if c is not None:
            bias = [beta * v for v in self.per_output(node, c, units, "C")]
        self.add("Dense", {"units": units, "use_bias": bias is not None}, {"weight": weight, "bias": bias}, node=node)
        self.shape = self.pn_shape = (units,)

    def op_MatMul(self, node: Node) -> None:
        self.require_data_first(node)
        d = self.features(node)
        b = self.const(node, 1, "B")
        if len(b.dims) != 2 or b.dims[0] != d:
            raise self.error(f"expected a constant B of shape ({d}, units); Received: {list(b.dims)}.", node)
        rows, cols = b.dims
        weight = [b.values[r * cols + u] for u in range(cols) for r in range(rows)]
        self.add("Dense", {"units": cols, "use_bias": False}, {"weight": weight, "bias": None}, node=node)
        self.shape = self.pn_shape = (cols,)

    def per_output(self, node: Node, t: Tensor, units: int, what: str) -> List[float]:
        """A constant broadcast over the outputs of a layer with ``units`` outputs (channels),
        as one value per output: a scalar, ``(units,)``, ``(1, units)`` or ``(units, 1, 1)``."""
        dims = list(t.dims)
        while dims and dims[0] == 1 and len(dims) > 1:
            dims.pop(0)
        image = len(self.shape) == 3
        if all(d == 1 for d in dims):
            return [t.values[0]] * units
        if (not image and dims == [units]) or (image and dims[:1] == [units] and all(d == 1 for d in dims[1:])
                                                 and len(dims) == 3):
            return list(t.values)
        raise self.error(f"{what} of shape {list(t.dims)} is not one value per output ({units} outputs) "
                         "or one for all: it would vary across the batch or the pixels.", node)

    def op_Add(self, node: Node) -> None:
        other = 1 - self.data_index(node)
        c = self.const(node, other, "addend")
        if c is None or not self.foldable:
            raise self.error("an Add is read only as the bias of the Conv, Gemm or MatMul right before it.", node)
        last = self.entries[-1]
        units = self.shape[0]
        if self.opset < 7 and self.attr(node, "broadcast", 0):  # legacy: c's dims line up from ``axis``
            rank = len(self.shape) + 1
            axis = self.attr(node, "axis", rank - len(c.dims)) % rank
            c = Tensor(c.name, (1,) * axis + tuple(c.dims) + (1,) * (rank - axis - len(c.dims)), c.dtype, c.values)
        values = self.per_output(node, c, units, "the addend")
        bias = last.params.get("bias") or [0.0] * units
        last.params["bias"] = [a + v for a, v in zip(bias, values)]
        last.config["use_bias"] = True

    def activation(self, node: Node, kind: str, config: Optional[dict] = None) -> None:
        self.require_data_first(node)
        self.add(kind, config or {}, node=node)

    def op_Relu(self, node):
        self.activation(node, "ReLU")

    def op_Sigmoid(self, node):
        self.activation(node, "Sigmoid")

    def op_Tanh(self, node):
        self.activation(node, "Tanh")

    def op_LeakyRelu(self, node):
        self.activation(node, "LeakyReLU", {"negative_slope": self.attr(node, "alpha", 0.01)})

    def op_Softmax(self, node):
        self.softmax(node, "Softmax")

    def op_LogSoftmax(self, node):
        self.softmax(node, "LogSoftmax")

    def softmax(self, node: Node, kind: str) -> None:
        rank = len(self.shape) + 1
        axis = self.attr(node, "axis", 1 if self.opset < 13 else -1)
        if not -rank <= axis < rank:
            raise self.attr_error(node, "axis", axis, f"an axis of the rank-{rank} input")
        axis %= rank
        over = set(range(axis, rank)) if self.opset < 13 else {axis}  # before 13: the input seen as 2-D
        others = [self.shape[i - 1] for i in range(1, rank) if i not in over]
        if axis == 0 or any(d != 1 for d in others):
            raise self.attr_error(node, "axis", self.attr(node, "axis", None),
                                  f"the features of each sample (input shape {('N',) + self.shape})")
        self.add(kind, {}, node=node)

    def op_Flatten(self, node: Node) -> None:
        rank = len(self.shape) + 1
        axis = self.attr(node, "axis", 1)
        axis = axis + rank if axis < 0 else axis
        if axis < 1 or any(d != 1 for d in self.shape[: axis - 1]):
            raise self.attr_error(node, "axis", self.attr(node, "axis", 1), "1 (keep the batch)")
        self.flatten(node)

    def flatten(self, node: Node) -> None:
        size = 1
        for d in self.shape:
            size *= d
        if len(self.pn_shape) != 1:
            self.add("Flatten", {}, node=node)
        self.shape = self.pn_shape = (size,)

    def op_Reshape(self, node: Node) -> None:
        self.require_data_first(node)
        target = self.const(node, 1, "shape")
        if target is None:
            raise self.error("expected a constant shape.", node)
        self.reshape(node, self.resolve(node, list(target.values), self.attr(node, "allowzero", 0)))

    def resolve(self, node: Node, target: list, allowzero: int = 0) -> Shape:
        """The sample shape a Reshape to ``target`` gives (its first entry must keep the batch)."""
        full = [_BATCH] + list(self.shape)
        out = []
        for i, t in enumerate(target):
            if t == 0 and not allowzero:
                t = full[i] if i < len(full) else 0
            out.append(t)
        size = 1
        for d in self.shape:
            size *= d
        if not out or not (out[0] is _BATCH or out[0] == -1 or (self.batch is not None and out[0] == self.batch)):
            raise self.error(f"a Reshape to {target} changes the batch dimension; only reshapes "
                             f"keeping it are read.", node)
        sample = out[1:]
        if sample.count(-1) > 1 or any(d is _BATCH or (d < 0 and d != -1) for d in sample):
            raise self.error(f"cannot read a Reshape to {target}.", node)
        known = 1
        for d in sample:
            known *= d if d != -1 else 1
        if -1 in sample:
            if known == 0 or size % known:
                raise self.error(f"a Reshape to {target} does not fit samples of shape {self.shape}.", node)
            sample[sample.index(-1)] = size // known
        elif out[0] == -1:
            if known == 0 or size % known or (size // known != 1 and self.batch is None):
                raise self.error(f"a Reshape to {target} changes the batch dimension.", node)
        if -1 not in out[1:] and known != size:
            raise self.error(f"a Reshape to {target} does not fit samples of shape {self.shape}.", node)
        return tuple(sample)

    def reshape(self, node: Node, sample: Shape) -> None:
        if sample == self.shape:
            return
        if len(sample) == 1:
            self.flatten(node)
            return
        # back to the shape before a Flatten, with only elementwise layers since: drop the Flatten
        for i in range(len(self.entries) - 1, -1, -1):
            e = self.entries[i]
            if e.kind == "Flatten" and e.input_shape == sample:
                del self.entries[i]
                self.foldable = False
                self.shape = self.pn_shape = sample
                return
            if e.kind not in _ELEMENTWISE:
                break
        self.shape = sample  # purenet's flat samples are unchanged; a later image layer will refuse

    def op_Squeeze(self, node: Node) -> None:
        axes = self.axes(node)
        rank = len(self.shape) + 1
        axes = sorted(a % rank for a in axes) if axes else [i for i in range(1, rank) if self.shape[i - 1] == 1]
        if 0 in axes or any(self.shape[a - 1] != 1 for a in axes):
            raise self.attr_error(node, "axes", axes, "axes of size 1 past the batch")
        self.reshape(node, tuple(d for i, d in enumerate(self.shape, 1) if i not in axes))

    def op_Unsqueeze(self, node: Node) -> None:
        axes = self.axes(node)
        rank = len(self.shape) + 1 + len(axes)
        axes = sorted(a % rank for a in axes)
        if 0 in axes:
            raise self.attr_error(node, "axes", axes, "axes past the batch")
        shape = list(self.shape)
        for a in axes:
            shape.insert(a - 1, 1)
        self.reshape(node, tuple(shape))

    def axes(self, node: Node) -> list:
        if self.opset >= 13:
            t = self.const(node, 1, "axes")
            return list(t.values) if t is not None else []
        return list(self.attr(node, "axes", []))

    def op_Transpose(self, node: Node) -> None:
        """(N, D) -> (D, N), read only when a Gemm with transA=1 transposes it back next."""
        if len(self.shape) != 1 or list(self.attr(node, "perm", [1, 0])) != [1, 0]:
            raise self.error(f"a Transpose of the data (samples of shape {self.shape}) is read only as "
                             "(N, D) -> (D, N) before a Gemm with transA=1.", node)
        self.transposed = True

    def op_Identity(self, node):
        pass

    def op_Dropout(self, node):
        self.require_data_first(node)
        mode = self.const(node, 2, "training_mode")
        if mode is not None and any(mode.values):
            raise self.error("training_mode is true: only inference is read.", node)

    def op_Cast(self, node):
        to = self.attr(node, "to", 1)
        if to not in _WIDE_FLOATS:
            raise self.attr_error(node, "to", to, "FLOAT (1) or DOUBLE (11): purenet computes in float64")

    def op_Shape(self, node: Node) -> None:
        dims = [_BATCH] + list(self.shape)
        start, end = self.attr(node, "start", 0), self.attr(node, "end", None)
        dims = dims[start:end]
        self.consts[node.outputs[0]] = Tensor(node.outputs[0], (len(dims),), "int64", dims)

    # ---------------------------------------------------------------- constants
    def constant(self, node: Node) -> None:
        """Evaluate a node whose inputs are all constants (small shape computations)."""
        if not node.outputs or not node.outputs[0]:
            raise self.error("the node has no output.", node)
        ins = [self.consts.get(v) for v in node.inputs]
        self.consts[node.outputs[0]] = evaluate(node, ins, lambda name, default: self.attr(node, name, default),
                                                lambda text: self.error(text, node))

    # ---------------------------------------------------------------- the model
    def build(self) -> Sequential:
        if not self.entries:  # a graph of Identity nodes
            self.entries.append(_Entry("Dropout", {"rate": 0.0}))
        layers = []
        for e in self.entries:
            try:
                layers.append(LAYERS[e.kind](**e.config))
            except ValueError as err:
                raise self.error(f"cannot be a {e.kind}: {err}", getattr(e, "node", None)) from None
        try:
            model = Sequential(layers, input_shape=self.input_shape, seed=0)
        except ValueError as err:
            raise self.error(f"the layers do not fit together: {err}") from None
        for entry, layer in zip(self.entries, layers):
            params = dict(layer.named_parameters())
            for name, values in entry.params.items():
                if values is not None:
                    params[name].assign([float(v) for v in values])
            buffers = dict(layer.named_buffers())
            for name, values in entry.buffers.items():
                buffers[name].assign([float(v) for v in values])
        meta = self.model.metadata
        try:
            model.classes = load_classes(meta, self.file)
            model.history = load_history(meta, self.file)
        except ModelFileError:  # someone else's metadata under the same names: not ours to read
            model.classes = None
        return model
