"""Datasets: MNIST loading, the bundled MNIST subset, and IDX files.

    >>> from purenet.datasets import load_bundled
    >>> x_test, y_test = load_bundled("test")
    >>> x_test.shape
    (2000, 1, 28, 28)
    >>> batch = x_test[:32].to_matrix()   # doctest: +SKIP
    >>> batch.shape                       # doctest: +SKIP
    (32, 784)

Images stay compact (one byte per pixel, in an :class:`ImageSet`) and become
floats in [0, 1] one batch at a time. ``load_mnist`` downloads the original
MNIST files when they are not on disk (verified by SHA-256; disabled by
``download=False`` or ``PURENET_OFFLINE=1``); the downloader itself is
``purenet.datasets.download.download_file``. Importing this package does no
I/O. It is not a general data-loading framework: no augmentation, no
shuffling (the training loop owns its ``random.Random``).
"""

from purenet.datasets import download
from purenet.datasets.idx import read_idx, write_idx
from purenet.datasets.images import ImageSet
from purenet.datasets.mnist import MNISTNotFoundError, load_bundled, load_mnist, select_classes

__all__ = [
    "ImageSet",
    "MNISTNotFoundError",
    "load_bundled",
    "load_mnist",
    "read_idx",
    "select_classes",
    "write_idx",
]
