"""Protocol buffers, the wire format of ONNX files: a writer (:mod:`.writer`)
and a bounded reader (:mod:`.reader`), standard library only.

Neither is a schema compiler: both see field numbers and wire types only;
:mod:`purenet.io.onnx` knows which field of which message means what.
"""

from .reader import Limits, Message, signed64
from .writer import LEN, VARINT, bytes_field, int_field, key, message_field, string_field, varint

__all__ = ["VARINT", "LEN", "varint", "key", "int_field", "bytes_field", "string_field", "message_field",
           "Message", "Limits", "signed64"]
