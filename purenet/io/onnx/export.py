"""ONNX export: a ``Sequential`` as an ONNX model that onnxruntime, Netron or any
other ONNX tool reads, written with the standard library alone.

    >>> import os, tempfile, purenet as pn
    >>> model = pn.Sequential([pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(),
    ...                        pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "digits.onnx")
    >>> pn.export_onnx(model, path)
    >>> open(path, "rb").read(2)  # the first field, ir_version (field 1, a varint): 7
    b'\\x08\\x07'

The graph computes what ``model.predict`` computes, final Softmax or Sigmoid
included, one layer at a time (ONNX operator set 13):

    purenet layer        ONNX
    Conv2D               Conv: kernel_shape, strides, pads [top, left, bottom, right]
                         (``padding="same"`` written out); weight (F, C, KH, KW), bias (F,)
    MaxPool2D            MaxPool: kernel_shape, strides (windows past the edge dropped)
    Flatten              Flatten, axis 1: (N, C, H, W) -> (N, C*H*W), NCHW order
    Dense                Gemm with transB=1: Y = X W^T + b, W (U, D) as purenet stores it
    ReLU, Sigmoid, Tanh  Relu, Sigmoid, Tanh
    BatchNorm1D/2D       BatchNormalization (inference): epsilon; weight, bias,
                         running_mean, running_var as its scale, B, mean, var
    AvgPool2D            AveragePool: kernel_shape, strides, pads, count_include_pad=1
    GlobalAvgPool2D      GlobalAveragePool, then Flatten: (N, C, H, W) -> (N, C)
    LeakyReLU            LeakyRelu: alpha = negative_slope
    Softmax, LogSoftmax  Softmax, LogSoftmax, axis 1; on image-shaped samples Flatten,
                         Softmax, Reshape back (purenet's softmax runs over all
                         C*H*W features of a sample, ONNX's over one axis)
    Dropout              Identity (dropout does nothing at inference)

Every tensor keeps its sample shape: an image is ``(N, C, H, W)``, a feature
vector ``(N, D)``, so a Dense layer always meets a 2-D input, as Gemm needs.
The input is called ``input``, shaped ``(N, *model.input_shape)`` with the
batch a named dimension ``N`` (any batch size), float32; the output is
``output``, ``(N, *model.output_shape)`` (``(N, classes)`` for a classifier),
whose rows flattened are ``model.predict``'s rows. Weights are stored as
float32 ``raw_data``, little-endian, under their ``state_dict`` names
(``0.weight``...); the model file's metadata (architecture JSON, classes,
history) goes into ``metadata_props``.

What this module is not: general: it knows the layers purenet ships and
refuses others (the operators are those of :mod:`.ops`, which the importer,
:mod:`.load`, reads back).
The protobuf encoding itself is :mod:`purenet.io.protobuf`; the field
numbers below are those of ONNX's ``onnx.proto``.
"""

import math
import struct
import sys
from array import array
from typing import Callable, Dict, List, Sequence, Tuple, Union

from ...layers import LAYERS, Conv2D, Dense, Dropout, Flatten, Layer, LogSoftmax, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh
from ...model import Sequential
from ..atomic import PathLike, write_atomic
from ..modelfile import FORMAT, check_saveable, model_metadata
from ..protobuf import bytes_field, int_field, key, message_field, string_field
from ..protobuf.reader import I32
from .ops import EXPORTED_AS

__all__ = ["export_onnx", "encode_onnx", "OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME"]

#: ONNX operator set and IR version written: opset 13 came with ONNX 1.8 (late
#: 2020), whose IR version is 7; every onnxruntime released since 2021 reads them.
OPSET = 13
IR_VERSION = 7
INPUT_NAME, OUTPUT_NAME, BATCH_DIM = "input", "output", "N"

# TensorProto.DataType and AttributeProto.AttributeType values used here
FLOAT, INT64 = 1, 7
ATTR_FLOAT, ATTR_INT, ATTR_INTS = 1, 2, 7

Dim = Union[int, str]


# ------------------------------------------------------------------ entry points
def export_onnx(model: Sequential, path: PathLike) -> None:
    """Write ``model`` to ``path`` as an ONNX model (opset 13), atomically.

    Args:
        model: a built :class:`purenet.Sequential` of purenet's own layers.
        path: the ``.onnx`` file to write (replaced if it exists).

    Raises:
        TypeError: ``model`` is not a Sequential.
        ValueError: the model is not built, has a layer ONNX export does not
            know, or a weight that is not finite in float32.
        OSError: the file cannot be written (the old file, if any, is kept).
    """
    write_atomic(path, encode_onnx(model))


def encode_onnx(model: Sequential) -> bytes:
    """The bytes of the ONNX file :func:`export_onnx` writes (a serialized ``ModelProto``)."""
    from ... import __version__  # here, not at import time: purenet/__init__ imports this module

    check_saveable(model)
    graph = _Graph()
    value = INPUT_NAME
    for i, layer in enumerate(model.layers):
        convert = _converter(layer)
        if convert is None:  # exact types: a subclass may compute something else
            raise ValueError(
                f"ONNX export: layer {i} is a {type(layer).__name__}; expected one of "
                f"{', '.join(sorted({c.__name__ for c in _CONVERTERS} | (set(_BY_NAME) & set(LAYERS))))}."
            )
        value = convert(graph, layer, str(i), value)
    graph.rename_output(value, OUTPUT_NAME)
    meta = model_metadata(model, FORMAT)
    props = [(k, meta[k]) for k in ("architecture", "classes", "history") if k in meta]
    graph_proto = graph.encode(
        name="purenet",
        inputs=[_value_info(INPUT_NAME, (BATCH_DIM,) + tuple(model.input_shape))],
        outputs=[_value_info(OUTPUT_NAME, (BATCH_DIM,) + tuple(model.output_shape))],
    )
    return b"".join([
        int_field(1, IR_VERSION),                                        # ModelProto.ir_version
        string_field(2, "purenet"),                                      # producer_name
        string_field(3, __version__),                                    # producer_version
        string_field(6, _describe(model)),                               # doc_string
        message_field(7, graph_proto),                                   # graph
        message_field(8, int_field(2, OPSET)),                           # opset_import: default domain, version
        *(message_field(14, string_field(1, k), string_field(2, v)) for k, v in props),  # metadata_props
    ])


def _describe(model: Sequential) -> str:
    return (f"A purenet Sequential, exported by purenet: input (N, {', '.join(map(str, model.input_shape))}) "
            f"float32 -> output (N, {', '.join(map(str, model.output_shape))}), as model.predict computes it.\n"
            + repr(model))


# ------------------------------------------------------------------ the graph
class _Graph:
    """Nodes and initializers collected layer by layer, then encoded as a ``GraphProto``."""

    def __init__(self):
        self.nodes: List[Tuple[str, List[str], List[str], str, List[bytes]]] = []
        self.initializers: List[bytes] = []

    def node(self, op_type: str, inputs: List[str], name: str, *attributes: bytes) -> str:
        """Add a node with one output (named like the node); returns the output's name."""
        self.nodes.append((op_type, inputs, [name], name, list(attributes)))
        return name

    def weight(self, name: str, dims: Sequence[int], values: Sequence[float]) -> str:
        """Add a float32 initializer; returns its name."""
        try:
            data = array("f", values)
        except OverflowError:  # some Pythons raise here, others round to inf
            data = None
        if data is None or not all(map(math.isfinite, data)):
            bad = next(i for i, v in enumerate(values) if not _fits_float32(v))
            raise ValueError(f"ONNX export: weights must be finite in float32; Received: {values[bad]!r} "
                             f"in {name!r} at flat index {bad}.")
        if sys.byteorder != "little":  # ONNX raw_data is little-endian
            data.byteswap()
        self.initializers.append(_tensor(name, dims, FLOAT, data.tobytes()))
        return name

    def shape(self, name: str, dims: Sequence[int]) -> str:
        """Add an int64 initializer holding a shape (for Reshape); returns its name."""
        data = array("q", dims)
        if sys.byteorder != "little":
            data.byteswap()
        self.initializers.append(_tensor(name, [len(dims)], INT64, data.tobytes()))
        return name

    def rename_output(self, old: str, new: str) -> None:
        """Give the graph's final value its public name (the last node produced it)."""
        op_type, inputs, outputs, name, attributes = self.nodes[-1]
        assert outputs == [old], (outputs, old)
        self.nodes[-1] = (op_type, inputs, [new], name, attributes)

    def encode(self, name: str, inputs: List[bytes], outputs: List[bytes]) -> bytes:
        parts = [message_field(1, _node(*n)) for n in self.nodes]     # GraphProto.node
        parts.append(string_field(2, name))                             # name
        parts += [message_field(5, t) for t in self.initializers]      # initializer
        parts += [message_field(11, v) for v in inputs]                # input
        parts += [message_field(12, v) for v in outputs]               # output
        return b"".join(parts)


def _fits_float32(value: float) -> bool:
    try:
        return math.isfinite(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return False


def _node(op_type: str, inputs: List[str], outputs: List[str], name: str, attributes: List[bytes]) -> bytes:
    """A ``NodeProto``."""
    return b"".join(
        [string_field(1, i) for i in inputs]            # input
        + [string_field(2, o) for o in outputs]         # output
        + [string_field(3, name), string_field(4, op_type)]  # name, op_type
        + [message_field(5, a) for a in attributes]     # attribute
    )


def _int(name: str, value: int) -> bytes:
    """An ``AttributeProto`` holding one int: name, i, type INT."""
    return string_field(1, name) + int_field(3, value) + int_field(20, ATTR_INT)


def _float(name: str, value: float) -> bytes:
    """An ``AttributeProto`` holding one float: name, f (field 2, a little-endian float32), type FLOAT."""
    return string_field(1, name) + key(2, I32) + struct.pack("<f", value) + int_field(20, ATTR_FLOAT)


def _ints(name: str, values: Sequence[int]) -> bytes:
    """An ``AttributeProto`` holding a list of ints: name, ints (one field each), type INTS."""
    return string_field(1, name) + b"".join(int_field(8, v) for v in values) + int_field(20, ATTR_INTS)


def _tensor(name: str, dims: Sequence[int], data_type: int, raw: bytes) -> bytes:
    """A ``TensorProto``: dims (one field each), data_type, name, raw_data."""
    return b"".join(
        [int_field(1, d) for d in dims] + [int_field(2, data_type), string_field(8, name), bytes_field(9, raw)]
    )


def _value_info(name: str, dims: Sequence[Dim]) -> bytes:
    """A float32 tensor ``ValueInfoProto``; a ``str`` dim is a named (dynamic) dimension."""
    shape = b"".join(
        message_field(1, string_field(2, d) if isinstance(d, str) else int_field(1, d))  # Dimension: dim_param | dim_value
        for d in dims
    )
    tensor_type = int_field(1, FLOAT) + message_field(2, shape)  # TypeProto.Tensor: elem_type, shape
    return string_field(1, name) + message_field(2, message_field(1, tensor_type))  # name, type.tensor_type


# ------------------------------------------------------------------ layers
# Each converter adds the nodes of one layer, reading input value ``x``, and
# returns the name of the value it produced. ``i`` is the layer's index,
# which prefixes every name it makes (its parameters are ``{i}.weight``...).
def _conv2d(graph: _Graph, layer: Conv2D, i: str, x: str) -> str:
    top, bottom, left, right = layer._pads()
    inputs = [x, graph.weight(f"{i}.weight", layer.weight.tensor_shape, layer.weight.data)]
    if layer.use_bias:
        inputs.append(graph.weight(f"{i}.bias", layer.bias.tensor_shape, layer.bias.data))
    return graph.node("Conv", inputs, f"{i}.Conv2D", _ints("kernel_shape", layer.kernel),
                      _ints("strides", layer.strides), _ints("pads", (top, left, bottom, right)))


def _maxpool2d(graph: _Graph, layer: MaxPool2D, i: str, x: str) -> str:
    return graph.node("MaxPool", [x], f"{i}.MaxPool2D", _ints("kernel_shape", layer.pool),
                      _ints("strides", layer.strides))


def _flatten(graph: _Graph, layer: Flatten, i: str, x: str) -> str:
    return graph.node("Flatten", [x], f"{i}.Flatten", _int("axis", 1))


def _dense(graph: _Graph, layer: Dense, i: str, x: str) -> str:
    inputs = [x, graph.weight(f"{i}.weight", layer.weight.tensor_shape, layer.weight.data)]
    if layer.use_bias:
        inputs.append(graph.weight(f"{i}.bias", layer.bias.tensor_shape, layer.bias.data))
    return graph.node("Gemm", inputs, f"{i}.Dense", _int("transB", 1))


def _softmax(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    op, kind = EXPORTED_AS[type(layer).__name__], type(layer).__name__
    if len(layer.input_shape) == 1:
        return graph.node(op, [x], f"{i}.{kind}", _int("axis", 1))
    flat = graph.node("Flatten", [x], f"{i}.{kind}.flat", _int("axis", 1))
    probs = graph.node(op, [flat], f"{i}.{kind}.probs", _int("axis", 1))
    shape = graph.shape(f"{i}.shape", (0,) + tuple(layer.input_shape))  # 0: keep the batch size
    return graph.node("Reshape", [probs, shape], f"{i}.{kind}")


def _elementwise(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    kind = type(layer).__name__
    return graph.node(EXPORTED_AS[kind], [x], f"{i}.{kind}")


def _batchnorm(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    """Inference: ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel."""
    tensors = dict(layer.named_parameters())
    tensors.update(layer.named_buffers())
    inputs = [x] + [graph.weight(f"{i}.{name}", tensors[name].tensor_shape, tensors[name].data)
                    for name in ("weight", "bias", "running_mean", "running_var")]
    return graph.node("BatchNormalization", inputs, f"{i}.{type(layer).__name__}", _float("epsilon", layer.eps))


def _avgpool2d(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    ph, pw = layer.pads
    return graph.node("AveragePool", [x], f"{i}.AvgPool2D", _ints("kernel_shape", layer.pool),
                      _ints("strides", layer.strides), _ints("pads", (ph, pw, ph, pw)), _int("count_include_pad", 1))


def _global_avgpool2d(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    pooled = graph.node("GlobalAveragePool", [x], f"{i}.GlobalAvgPool2D.pool")  # (N, C, 1, 1)
    return graph.node("Flatten", [pooled], f"{i}.GlobalAvgPool2D", _int("axis", 1))


def _leaky_relu(graph: _Graph, layer: Layer, i: str, x: str) -> str:
    return graph.node("LeakyRelu", [x], f"{i}.LeakyReLU", _float("alpha", layer.negative_slope))


# The layers some purenet versions have, by class name (purenet's own classes only).
_BY_NAME: Dict[str, Callable[[_Graph, Layer, str, str], str]] = {
    "BatchNorm1D": _batchnorm, "BatchNorm2D": _batchnorm, "AvgPool2D": _avgpool2d,
    "GlobalAvgPool2D": _global_avgpool2d, "LeakyReLU": _leaky_relu,
}


def _converter(layer: Layer):
    cls = type(layer)
    convert = _CONVERTERS.get(cls)
    if convert is None and LAYERS.get(cls.__name__) is cls and cls.__module__.startswith("purenet.layers"):
        convert = _BY_NAME.get(cls.__name__)
    return convert


_CONVERTERS: Dict[type, Callable[[_Graph, Layer, str, str], str]] = {
    Conv2D: _conv2d,
    MaxPool2D: _maxpool2d,
    Flatten: _flatten,
    Dense: _dense,
    Softmax: _softmax,
    LogSoftmax: _softmax,
    ReLU: _elementwise,
    Sigmoid: _elementwise,
    Tanh: _elementwise,
    Dropout: _elementwise,
}
