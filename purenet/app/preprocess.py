"""The MNIST recipe the app and ``purenet predict`` use; it lives in the core,
:mod:`purenet.vision.preprocess`, and is re-exported here for older imports."""

from ..vision.preprocess import BOX, SIZE, paste_centred, preprocess, preprocess_to_matrix

__all__ = ["preprocess", "preprocess_to_matrix", "paste_centred", "BOX", "SIZE"]
