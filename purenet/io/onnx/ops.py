"""The one table of ONNX operators purenet reads and writes.

Each row is an ONNX operator (default domain), the purenet layers it
corresponds to, and what the reader accepts of it. Export writes each layer
as the operator of its row (:data:`EXPORTED_AS`); import turns each operator
into the layers of its row or folds it into the layer before it. The tests
check both sides against this table, so a layer can never be written as an
operator the reader refuses.
"""

from typing import Dict, NamedTuple, Tuple

__all__ = ["Op", "OPERATORS", "EXPORTED_AS", "DOMAINS", "MIN_OPSET"]


class Op(NamedTuple):
    onnx: str                 # the operator's op_type
    layers: Tuple[str, ...]   # the purenet layers it becomes (empty: folded or dropped)
    accepts: str              # what the reader accepts of it


OPERATORS: Dict[str, Op] = {op.onnx: op for op in [
    Op("Conv", ("Conv2D",), "2-D; any pads, strides, auto_pad; group 1, dilations 1; bias optional"),
    Op("MaxPool", ("MaxPool2D",), "2-D; strides; no pads, dilations 1, ceil_mode only where it changes nothing"),
    Op("AveragePool", ("AvgPool2D",), "2-D; strides, pads, count_include_pad"),
    Op("GlobalAveragePool", ("GlobalAvgPool2D",), "(N, C, H, W) -> (N, C, 1, 1); a Flatten after it is free"),
    Op("ReduceMean", ("GlobalAvgPool2D",), "over the spatial axes (2, 3) of (N, C, H, W)"),
    Op("BatchNormalization", ("BatchNorm2D", "BatchNorm1D"),
       "inference; folded into the Conv2D/Dense before it when the layers are absent"),
    Op("Gemm", ("Dense",), "data as A; B and C constant; transB, alpha, beta; transA after a Transpose"),
    Op("MatMul", ("Dense",), "(N, D) by a constant (D, U); an Add after it is the bias"),
    Op("Add", (), "a constant added to a Conv2D/Dense output: folded into its bias"),
    Op("Relu", ("ReLU",), ""),
    Op("LeakyRelu", ("LeakyReLU",), "alpha"),
    Op("Sigmoid", ("Sigmoid",), ""),
    Op("Tanh", ("Tanh",), ""),
    Op("Softmax", ("Softmax",), "over the features of a sample"),
    Op("LogSoftmax", ("LogSoftmax",), "over the features of a sample"),
    Op("Flatten", ("Flatten",), "axis 1"),
    Op("Reshape", ("Flatten",), "to (N, -1), or back to the shape before a Flatten"),
    Op("Dropout", (), "inference: the identity"),
    Op("Identity", (), ""),
    Op("Cast", (), "to a float type: the identity (purenet computes in float64)"),
    Op("Constant", (), "value, value_float(s), value_int(s)"),
    Op("Shape", (), "only feeding constant shape computations (Gather, Unsqueeze, Concat)"),
    Op("Gather", (), "constant inputs only"),
    Op("Unsqueeze", (), "constant inputs only"),
    Op("Squeeze", (), "constant inputs only"),
    Op("Concat", (), "constant inputs only"),
    Op("Transpose", (), "a constant 2-D matrix (a weight written transposed), or (N, D) data before a "
                        "Gemm with transA=1, which undoes it"),
]}

#: The operator each purenet layer is written as (Softmax over an image is
#: Flatten, Softmax, Reshape; Dropout is Identity).
EXPORTED_AS: Dict[str, str] = {
    "Conv2D": "Conv", "MaxPool2D": "MaxPool", "AvgPool2D": "AveragePool", "GlobalAvgPool2D": "GlobalAveragePool",
    "BatchNorm2D": "BatchNormalization", "BatchNorm1D": "BatchNormalization", "Dense": "Gemm",
    "Flatten": "Flatten", "ReLU": "Relu", "LeakyReLU": "LeakyRelu", "Sigmoid": "Sigmoid", "Tanh": "Tanh",
    "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "Dropout": "Identity",
}

#: Operator domains read: ONNX's default domain, under either of its names.
DOMAINS = ("", "ai.onnx")

#: The oldest operator set read (ONNX 1.1, 2018; what the first PyTorch exporter
#: wrote). Set 6 differs from 7 for these operators only in legacy attributes:
#: Add's ``broadcast``/``axis``, BatchNormalization's ``is_test``.
MIN_OPSET = 6
