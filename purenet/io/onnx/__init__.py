"""ONNX in and out, standard library only.

- :mod:`.export`: ``export_onnx`` / ``encode_onnx``, a ``Sequential`` as an ONNX model.
- :mod:`.load`: ``load_onnx``, an ONNX chain of operators as a ``Sequential``.
- :mod:`.ops`: the one table of operators both use.
- :mod:`.decode`: the ONNX messages read with :mod:`purenet.io.protobuf`'s reader.

Both directions are described, operator by operator, in ``docs/onnx.md``.
"""

from .export import BATCH_DIM, INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, encode_onnx, export_onnx
from .load import is_onnx, load_onnx
from .ops import EXPORTED_AS, OPERATORS

__all__ = ["export_onnx", "encode_onnx", "load_onnx", "is_onnx", "OPERATORS", "EXPORTED_AS",
           "OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME", "BATCH_DIM"]
