"""The documented exceptions purenet raises for bad files and bad data.

Each is a ``ValueError`` subclass, so ``except ValueError`` catches all of
them; catch the specific class to tell a broken dataset from a broken model
file or image.
"""

__all__ = ["DatasetError", "ModelFileError", "ImageError"]


class DatasetError(ValueError):
    """A dataset file is missing, truncated, or its header does not match its contents."""


class ModelFileError(ValueError):
    """A model or checkpoint file is malformed, truncated, oversized or of an unknown kind."""


class ImageError(ValueError):
    """An image file cannot be decoded (unsupported format, truncated, corrupt)."""
