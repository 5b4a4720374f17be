"""Files in and out: model files and checkpoints in safetensors format, images.

- :mod:`purenet.io.safetensors`: a strict safetensors reader and a writer (F32/F64).
- :mod:`purenet.io.modelfile`: ``save_model`` / ``load_model`` (``model.save``,
  ``pn.load``) and ``load_state_dict_file`` for weights written elsewhere.
- :mod:`purenet.io.checkpoint`: training checkpoints (model, optimizer state,
  epoch, generator states, history) for bit-identical resumes.
- :mod:`purenet.io.onnx`: ``export_onnx`` (``pn.export_onnx``) and ``load_onnx``
  (``pn.load_onnx``), models as ONNX files, through the small protobuf writer
  and bounded reader of :mod:`purenet.io.protobuf`.
- :mod:`purenet.io.atomic`: the temp-file-and-rename write they use.
- :mod:`purenet.io.image`, :mod:`purenet.io.png`, :mod:`purenet.io.jpeg`,
  :mod:`purenet.io.pgm`, :mod:`purenet.io.imagefile`: ``Image`` and
  ``read_image`` (PNG, JPEG, PGM/PPM; ``min_side`` reads large pictures
  reduced, ``gray`` in one channel).

The model-file readers raise :class:`purenet.ModelFileError` (the image
readers :class:`purenet.ImageError`) for a missing, malformed, truncated,
oversized or unknown file, and none can run code from a file.
"""

from .image import Image
from .imagefile import read_image
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .modelfile import load_model, load_state_dict_file, save_model
from .onnx import export_onnx, load_onnx
from .safetensors import read_safetensors, write_safetensors

__all__ = [
    "read_safetensors", "write_safetensors",
    "save_model", "load_model", "load_state_dict_file", "export_onnx", "load_onnx",
    "Checkpoint", "save_checkpoint", "load_checkpoint",
    "Image", "read_image",
]
